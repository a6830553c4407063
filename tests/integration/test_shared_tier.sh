#!/usr/bin/env bash
# The shared tier (docs/shared.md): shards made once by `tokfs build` into a directory DEST, read
# by mounts with shared=DEST before they fetch and tokenize anything themselves.
#   1. a mount with shared=DEST knows every shard's size at mount (ls -l makes nothing, fetches
#      nothing), and reading every shard copies it from DEST: status shows N shared-tier hits,
#      0 shards tokenized, 0 bytes fetched, nginx sees no request for a corpus file; the bytes
#      are DEST's, which equal a plain mount's
#   2. a shard damaged in DEST (same size, other bytes) is caught by its checksum and made from
#      the sources instead: right bytes, N-1 hits, 1 tokenized, a log line
#   3. shared_write=1 on an empty DEST: the mount starts the set, publishes the shards it makes;
#      a second mount (another cache) takes those from DEST and tokenizes only the others
#   4. a DEST of another plan (another shard_size) is refused at mount, saying so
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 300 --compressed >/dev/null
nginx_start "$corpus"
SOURCE="@$NGINX_URL/list.txt"
OPTS="shard_size=15000,val_shards=1"
mopts() { echo "cache_size=64M,cache_dir=$TK_TMP/cache-$1,$OPTS,prefetch=0${2:+,$2}"; }
corpus_gets() { nginx_log_count '^GET /part-|^GET /notes' || true; }

# The reference: a plain mount's shards, by name.
tk_mount "$SOURCE" "$TK_TMP/plain" "$(mopts plain)" plain
tk_copy_shards "$TK_TMP/plain" "$TK_TMP/ref"
tk_umount "$TK_TMP/plain"
N=$(find "$TK_TMP/ref" -name 'shard_*.bin' | wc -l)
[ "$N" -ge 6 ] || tk_fail "only $N shards: the test wants at least 6"

"$TOKFS" build "$SOURCE" "$TK_TMP/dest" -o "$OPTS" --progress none 2>"$TK_TMP/build.log" ||
    tk_fail "tokfs build: $(tail -n 3 "$TK_TMP/build.log")"

# same MNT: every shard equals the reference of its name.
same() {
    local f
    for f in $(cd "$TK_TMP/ref" && ls train/shard_*.bin val/shard_*.bin); do
        cmp -s "$1/$f" "$TK_TMP/ref/$f" || tk_fail "$1/$f differs from a plain mount's"
    done
}
st() { tk_status "$1" "$2"; }

# ---- 1. everything from DEST ------------------------------------------------------------------
tk_mount "$SOURCE" "$TK_TMP/a" "$(mopts a "shared=$TK_TMP/dest")" a
grep -q "shared=$TK_TMP/dest: $N of $N shards there" "$TK_TMP/a.log" || tk_fail "attach: $(cat "$TK_TMP/a.log")"
before=$(corpus_gets)
sizes=$(cd "$TK_TMP/a" && stat -c '%n %s' train/shard_*.bin val/shard_*.bin)
want_sizes=$(cd "$TK_TMP/ref" && stat -c '%n %s' train/shard_*.bin val/shard_*.bin)
[ "$sizes" = "$want_sizes" ] || tk_fail "sizes at mount differ: $sizes"
[ "$(st "$TK_TMP/a" materializations)" = 0 ] || tk_fail "ls -l made shards"
same "$TK_TMP/a"
[ "$(st "$TK_TMP/a" shared_hits)" = "$N" ] || tk_fail "shared_hits $(st "$TK_TMP/a" shared_hits), want $N"
[ "$(st "$TK_TMP/a" shards_tokenized)" = 0 ] || tk_fail "a shard was tokenized"
[ "$(st "$TK_TMP/a" bytes_fetched)" = 0 ] || tk_fail "bytes were fetched from the sources"
[ "$(corpus_gets)" = "$before" ] || tk_fail "corpus files were fetched: $((  $(corpus_gets) - before )) GETs"
"$TOKFS" status "$TK_TMP/a" | grep -q "shared     $N shard(s)" || tk_fail "tokfs status: $("$TOKFS" status "$TK_TMP/a")"
tk_umount "$TK_TMP/a"
tk_log "shared tier: $N shards copied from DEST, nothing fetched or tokenized"

# ---- 2. a damaged shard in DEST ------------------------------------------------------------------
printf 'XY' | dd of="$TK_TMP/dest/shards/000001.bin" bs=1 seek=6 conv=notrunc status=none
tk_mount "$SOURCE" "$TK_TMP/b" "$(mopts b "shared=$TK_TMP/dest")" b
same "$TK_TMP/b"
[ "$(st "$TK_TMP/b" shared_hits)" = "$((N - 1))" ] || tk_fail "damaged: shared_hits $(st "$TK_TMP/b" shared_hits)"
[ "$(st "$TK_TMP/b" shards_tokenized)" = 1 ] || tk_fail "damaged: shards_tokenized $(st "$TK_TMP/b" shards_tokenized)"
grep -q "000001.bin: checksum .*: ignored, the shard is made from the sources" "$TK_TMP/b.log" ||
    tk_fail "no log line for the damaged shard: $(grep -i shared "$TK_TMP/b.log")"
tk_umount "$TK_TMP/b"

# ---- 3. shared_write=1 starts a set and publishes; another mount takes what was published ------
tk_mount "$SOURCE" "$TK_TMP/c" "$(mopts c "shared=$TK_TMP/dest2,shared_write=1")" c
cat "$TK_TMP/c/train/shard_00000.bin" "$TK_TMP/c/train/shard_00001.bin" >/dev/null
for _ in $(seq 1 100); do [ "$(st "$TK_TMP/c" shared_published)" = 2 ] && break; sleep 0.1; done
[ "$(st "$TK_TMP/c" shared_published)" = 2 ] || tk_fail "published $(st "$TK_TMP/c" shared_published), want 2"
[ -s "$TK_TMP/dest2/set.json" ] && [ -s "$TK_TMP/dest2/records/000001.json" ] || tk_fail "DEST2 not written"
tk_umount "$TK_TMP/c"
tk_mount "$SOURCE" "$TK_TMP/d" "$(mopts d "shared=$TK_TMP/dest2")" d
same "$TK_TMP/d"
[ "$(st "$TK_TMP/d" shared_hits)" = 2 ] || tk_fail "second mount: shared_hits $(st "$TK_TMP/d" shared_hits), want 2"
[ "$(st "$TK_TMP/d" shards_tokenized)" = "$((N - 2))" ] || tk_fail "second mount tokenized $(st "$TK_TMP/d" shards_tokenized)"
tk_umount "$TK_TMP/d"

# ---- 4. another plan's DEST is refused ---------------------------------------------------------
mkdir -p "$TK_TMP/e"
if "$TOKFS" "$SOURCE" "$TK_TMP/e" -o "cache_size=64M,cache_dir=$TK_TMP/cache-e,shard_size=20000,shared=$TK_TMP/dest" \
    -f >"$TK_TMP/e.log" 2>&1; then
    fusermount3 -u "$TK_TMP/e" 2>/dev/null
    tk_fail "a mount of another plan used DEST"
fi
grep -q "holds shards of another plan" "$TK_TMP/e.log" || tk_fail "refusal: $(cat "$TK_TMP/e.log")"
tk_done
