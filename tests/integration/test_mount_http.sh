#!/usr/bin/env bash
# A real nginx serves a generated JSONL corpus; tokfs mounts it by @LIST URL; numpy memmap reads
# it. Shows: exact content, laziness (no content GET after mount and ls -R; one shard's read
# fetches only its own source), skipped records counted, read-only, offline remount serving the
# cache, and the background (daemon) mode returning once the mount is ready.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 400 --bad
nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
opts="cache_size=64M,cache_dir=$cache,shard_size=30000,prefetch=0,tokenizer=bytes"

tk_log "mount @LIST over HTTP"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts"
ls -R "$mnt" >/dev/null
cat "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" >/dev/null
[ "$(tk_gets | tail -n1)" -eq 1 ] || { cat "$NGINX_ACCESS_LOG"; tk_fail "content fetched at mount: only the list GET is allowed"; }
grep -q '^GET /list.txt ' "$NGINX_ACCESS_LOG" || tk_fail "list file not fetched"
ntrain=$(ls "$mnt/train" | wc -l)
[ "$ntrain" -ge 4 ] || tk_fail "expected several train shards, got $ntrain"
[ "$(tk_status "$mnt" materializations)" -eq 0 ] || tk_fail "ls -R materialized a shard"

tk_log "read one shard: only its source is fetched"
"$PY" -c 'import numpy as np,sys; a=np.memmap(sys.argv[1],dtype=np.uint16,mode="r"); assert len(a)>0 and a[-1]==256' "$mnt/train/shard_00000.bin"
bad=$(grep '^GET ' "$NGINX_ACCESS_LOG" | grep -v -e '^GET /list.txt ' -e '^GET /part-000.jsonl ' || true)
[ -z "$bad" ] || tk_fail "reading shard 0 fetched other sources: $bad"
fetched=$(tk_status "$mnt" bytes_fetched)
size0=$(stat -c %s "$corpus/part-000.jsonl")
[ "$fetched" -le "$size0" ] || tk_fail "shard 0 fetched $fetched bytes, more than its source ($size0)"

tk_log "whole mount equals the expected stream"
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
[ "$(tk_status "$mnt" records_skipped)" -eq "$(cat "$corpus/expected_skipped")" ] || tk_fail "records_skipped $(tk_status "$mnt" records_skipped) != $(cat "$corpus/expected_skipped")"
"$PY" - "$mnt" <<'PY'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "dataset_metadata.json")))
assert m["tokenizer"] == "bytes" and m["vocab_size"] == 257 and m["eot_id"] == 256, m
assert m["dtype"] == "uint16", m
for split in ("train", "val"):
    s = m["splits"][split]
    sizes = [os.path.getsize(os.path.join(sys.argv[1], split, f)) for f in sorted(os.listdir(os.path.join(sys.argv[1], split)))]
    assert s["shard_tokens"] == [b // 2 for b in sizes], (s, sizes)
PY

tk_log "read-only"
( echo x > "$mnt/train/shard_00000.bin" ) 2>/dev/null && tk_fail "write succeeded"
( touch "$mnt/newfile" ) 2>/dev/null && tk_fail "create succeeded"
( rm -f "$mnt/train/shard_00000.bin" ) 2>/dev/null && tk_fail "unlink succeeded"
tk_umount "$mnt"
[ -z "$(ls "$cache"/plan-*/tmp)" ] || tk_fail "temp files left after a clean unmount"

tk_log "offline remount (nginx stopped) serves the cache"
nginx_stop
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" offline
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"

tk_log "background mode: returns 0 once mounted, exits on fusermount3 -u"
"$TOKFS" "@$NGINX_URL/list.txt" "$mnt" -o "$opts"
TK_MOUNTS+=("$mnt")
mountpoint -q "$mnt" || tk_fail "not mounted when tokfs returned"
pid=$(tk_status "$mnt" pid)
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
fusermount3 -u "$mnt"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && tk_fail "daemon $pid still running after unmount"
echo "PASS"
