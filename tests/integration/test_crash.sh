#!/usr/bin/env bash
# kill -9 during materialization, then remount and verify, in rounds: mount, read shards in the
# background over a slow link (builds in flight), kill -9 the daemon at a random moment, clear
# the dead mount, remount with the same options. After every remount:
#   - no leftovers (temp files of interrupted builds have no name; named ones, on filesystems
#     without O_TMPFILE, are removed at start);
#   - every shard file the killed daemon left in shards/ is still cached (the cache persists),
#     and status.json agrees;
#   - every shard of the mount equals the expected stream, and every cached file, catalog record
#     and status entry agrees with the source (tests/lib/shardcheck.py).
# The cap holds about half the corpus, so every round evicts and re-makes shards.
# TOKFS_CRASH_ROUNDS sets the number of rounds (default 20, about 60 s).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
rounds=${TOKFS_CRASH_ROUNDS:-20}
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 500 --seed 11
# Slow responses (200 KB/s per connection, so a shard of ~250 KB takes over a second) so that
# builds are in flight when the kill lands; full speed while $TK_TMP/fast exists (verification).
# (nginx's rate limit skips range requests served with sendfile: hence sendfile off.)
NGINX_EXTRA_CONF="sendfile off; output_buffers 1 16k; set \$limit_rate 200k; if (-f $TK_TMP/fast) { set \$limit_rate 0; }" nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
SHARDCHECK="$TOKFS_SOURCE_DIR/tests/lib/shardcheck.py"
tokens=$(( $(stat -c %s "$corpus/expected.u16") / 2 ))
cap=$(( tokens ))  # bytes: about half of the shards (2 bytes a token)
opts="cache_size=$cap,cache_dir=$cache,shard_size=150000,workers=2,prefetch=2,tokenizer=bytes"

# Plan indexes of the cached shards, from status.json / from the files in shards/.
cached_status() {
    "$PY" -c 'import json,sys; print(" ".join(str(i) for i, s in enumerate(json.load(open(sys.argv[1]))["shards"]) if s["state"]=="cached"))' "$1/.tokfs/status.json"
}
cached_files() {
    ls "$cache"/plan-*/shards | sed 's/\.bin$//' | sed 's/^0*\([0-9]\)/\1/' | sort -n | tr '\n' ' ' | sed 's/ $//'
}

touch "$TK_TMP/fast"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" first
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
"$PY" "$SHARDCHECK" counts "$mnt" "$TK_TMP/counts.json"
tk_umount "$mnt"

killed_mid_build=0
kept_total=0
for round in $(seq 1 "$rounds"); do
    rm -f "$TK_TMP/fast"
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" "round$round"
    # Two readers in the background (two builds at once): they will see the mount die.
    shards=$(ls "$mnt/train")
    readers=()
    for r in 1 2; do
        ( for f in $(echo "$shards" | shuf --random-source=<(yes $round$r)); do
              cat "$mnt/train/$f" >/dev/null 2>&1 || true
          done ) &
        readers+=($!)
    done
    sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))"
    inflight=$(grep -c '"state": "materializing"' "$mnt/.tokfs/status.json" || true)
    tk_kill9 "$mnt"
    kill "${readers[@]}" 2>/dev/null || true
    wait "${readers[@]}" 2>/dev/null || true
    left=$(cached_files)
    [ "$inflight" -gt 0 ] && killed_mid_build=$(( killed_mid_build + 1 ))

    touch "$TK_TMP/fast"
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" "round$round-after"
    leftovers=$(ls "$cache"/plan-*/tmp)
    [ -z "$leftovers" ] || tk_fail "round $round: temp files left after restart: $leftovers"
    [ "$(cached_files)" = "$left" ] || tk_fail "round $round: shard files after the kill: [$left], after restart: [$(cached_files)]"
    [ "$(cached_status "$mnt")" = "$left" ] || tk_fail "round $round: status.json says cached [$(cached_status "$mnt")], files [$left]"
    "$PY" "$SHARDCHECK" check "$cache" "$TK_TMP/counts.json" "$corpus/expected.u16" "$mnt" || tk_fail "round $round: the cache disagrees with the source after restart"
    "$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16" >/dev/null || tk_fail "round $round: the mount differs from the expected stream"
    kept=$(echo $left | wc -w)
    kept_total=$(( kept_total + kept ))
    tk_log "round $round: killed with $inflight build(s) in flight; $kept cached shard(s) kept; all shards exact"
    tk_umount "$mnt"
done
tk_log "$rounds rounds: $killed_mid_build killed mid-build, $kept_total cached shards kept across kills"
[ "$rounds" -lt 5 ] || [ "$killed_mid_build" -gt 0 ] || tk_fail "no kill landed during a build"
echo PASS
