#!/usr/bin/env bash
# tokfs status MOUNTPOINT [--json] (fs/status_cmd.c): on a mount over nginx, before and after
# reading, the summary agrees with the mount's own status.json (cache use and cap, shards cached
# / known / total, hits and misses, bytes fetched) and the JSON form parses with the same numbers;
# a directory that is not a tokfs mount is an error naming it.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 4 --docs-per-file 200 >/dev/null
nginx_start "$corpus"
mnt=$TK_TMP/mnt
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,shard_size=20000,prefetch=0"

# check: tokfs status --json against status.json, field by field.
check() {
    "$TOKFS" status "$mnt" --json >"$TK_TMP/summary.json" || tk_fail "tokfs status --json failed"
    "$PY" - "$TK_TMP/summary.json" "$mnt/.tokfs/status.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); st = json.load(open(sys.argv[2])); want_cached = int(sys.argv[3])
shards = st["shards"]
assert s["pid"] == st["pid"], (s["pid"], st["pid"])
assert s["cache"]["cap"] == st["cache_bytes_cap"] and s["cache"]["used"] > 0, s["cache"]
assert s["shards"]["total"] == len(shards), s["shards"]
assert s["shards"]["cached"] == sum(x["state"] == "cached" for x in shards) == want_cached, (s["shards"], want_cached)
assert s["shards"]["known"] == sum(x["tokens"] is not None for x in shards), s["shards"]
assert s["shards"]["val"] == sum(x["name"].startswith("val/") for x in shards) == 1
assert s["reads"]["hits"] == st["hits"] and s["reads"]["misses"] == st["misses"]
assert s["bytes_fetched"] == st["bytes_fetched"], (s["bytes_fetched"], st["bytes_fetched"])
assert s["last_error"] is None
print("status agrees: %d of %d cached" % (want_cached, len(shards)))
PY
}
check 0
cat "$mnt/train/shard_00000.bin" "$mnt/train/shard_00001.bin" >/dev/null
tk_settle "$mnt"
check 2
"$TOKFS" status "$mnt" >"$TK_TMP/summary.txt" || tk_fail "tokfs status failed"
grep -q "shards     2 cached" "$TK_TMP/summary.txt" || tk_fail "text summary: $(cat "$TK_TMP/summary.txt")"
grep -q "hit rate" "$TK_TMP/summary.txt" || tk_fail "no hit rate: $(cat "$TK_TMP/summary.txt")"
grep -q "of 64.0 MiB" "$TK_TMP/summary.txt" || tk_fail "no cap: $(cat "$TK_TMP/summary.txt")"
tk_umount "$mnt"
if "$TOKFS" status "$TK_TMP" >/dev/null 2>"$TK_TMP/err.txt"; then
    tk_fail "tokfs status of a plain directory succeeded"
fi
grep -q "is $TK_TMP a tokfs mount" "$TK_TMP/err.txt" || tk_fail "error: $(cat "$TK_TMP/err.txt")"
tk_done
