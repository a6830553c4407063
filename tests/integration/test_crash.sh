#!/usr/bin/env bash
# kill -9 during materialization, then remount and verify: rounds of (mount, read several shards
# in the background, kill -9 the daemon at a random moment, clear the dead mount, remount with the
# same options). After every remount: no temp file is left, shards cached before the kill are
# still cached (the cache persists), and the whole mount equals the expected stream.
# TOKFS_CRASH_ROUNDS sets the number of rounds (default 6; the full form is 20 or more).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
rounds=${TOKFS_CRASH_ROUNDS:-6}
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 500 --seed 11
# Slow responses (100 KB/s per connection after the first socket buffer, so a shard of ~300 KB
# takes a few seconds) so that builds are in flight when the kill lands.
NGINX_EXTRA_CONF='limit_rate 100k;' nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
opts="cache_size=64M,cache_dir=$cache,shard_size=150000,workers=2,prefetch=2,tokenizer=bytes"

cached_shards() {
    "$PY" -c 'import json,sys; print(" ".join(s["name"] for s in json.load(open(sys.argv[1]))["shards"] if s["state"]=="cached"))' "$1/.tokfs/status.json"
}

for round in $(seq 1 "$rounds"); do
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" "round$round"
    before=$(cached_shards "$mnt")
    # Readers in the background: they will see the mount die under them.
    ( for f in $(ls "$mnt/train" | shuf --random-source=<(yes $round)); do
          cat "$mnt/train/$f" >/dev/null 2>&1 || true
      done ) &
    reader=$!
    sleep "$(( RANDOM % 3 )).$(( 2 + RANDOM % 8 ))"
    now=$(cached_shards "$mnt" 2>/dev/null || echo "$before")
    tk_kill9 "$mnt"
    kill "$reader" 2>/dev/null || true
    wait "$reader" 2>/dev/null || true
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" "round$round-after"
    leftovers=$(ls "$cache"/plan-*/tmp)
    [ -z "$leftovers" ] || tk_fail "round $round: temp files left after restart: $leftovers"
    after=$(cached_shards "$mnt")
    for s in $now; do
        case " $after " in *" $s "*) ;; *) tk_fail "round $round: $s was cached before kill -9 but not after restart";; esac
    done
    tk_log "round $round: cached before kill: $(echo $now | wc -w), after restart: $(echo $after | wc -w)"
    if [ $(( round % 10 )) -eq 0 ] || [ "$round" -eq "$rounds" ]; then
        "$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
    fi
    tk_umount "$mnt"
done
echo PASS
