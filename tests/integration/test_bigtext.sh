#!/usr/bin/env bash
# Large .txt sources (issue 12, docs/text.md). A real nginx serves a generated prose-like .txt of
# BIGTEXT_MB megabytes (default 200), mounted with the default GPT-2 tokenizer and a
# max_doc_bytes far under the file's size (1M):
#   - txt_doc=file: the file is cut into shards of about shard_size tokens by range requests;
#     the shards read with numpy.memmap, concatenated, are exactly npm tiktoken's
#     encode_ordinary ids of the whole file followed by one end-of-text (the cuts fall only where
#     GPT-2's cut places make the parts' ids the whole's); no shard is empty; no cut was forced;
#   - the daemon's peak memory (VmHWM) grows by at most 32 MiB (52 under ASan) from the idle daemon's
#     while every shard is made, also with three shards of ~65 MB of text each: neither the file
#     (which the reader used to gather whole, or skip) nor a shard's text is ever held (the
#     bound below says why);
#   - txt_doc=line and paragraph (on the first BIGTEXT_DOCS_MB, default 20, of the file): the
#     shards are exactly each document's tiktoken ids followed by end-of-text, the documents cut
#     out by tests/lib/bigtext.py from the rule in docs/text.md (not by tokfs).
# The text and the reference ids are made once per build dir and reused (keyed by the scripts
# that make them, the sizes and the npm lock). With 200 MB the first run takes 1.5 to 2.5 minutes
# here (npm tiktoken encodes ~2.3 MB/s; tokfs makes the shards in ~5 s), later ones ~15 s.
# BIGTEXT_MB=20 is a quick run, which ends as a skip: its shards are too small to show the
# memory bound.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"
tk_setup

MB=${BIGTEXT_MB:-200}
DOCS_MB=${BIGTEXT_DOCS_MB:-20}
[ "$DOCS_MB" -le "$MB" ] || DOCS_MB=$MB
BIGTEXT_PY=$TOKFS_SOURCE_DIR/tests/lib/bigtext.py
ENCODE_JS=$TOKFS_SOURCE_DIR/tests/tokref/encode_bin.js

tokref_install "$TOKFS_BUILD_DIR/tokref" ||
    tk_skip "npm tiktoken (the reference) cannot be installed: nothing to compare with"

# ---- data, made once per build dir ----------------------------------------------------------
key=$( (cat "$BIGTEXT_PY" "$ENCODE_JS" "$TOKREF/package-lock.json"; echo "data v2 seed 12") |
    sha256sum | cut -c1-16)
data=$TOKFS_BUILD_DIR/bigtext-data/$key-$MB-$DOCS_MB
if [ ! -e "$data/done" ]; then
    rm -rf "$data"
    mkdir -p "$data/docs" "$data/big"
    tk_log "making a $MB MB text and its reference ids (npm tiktoken), once for this build dir"
    "$PY" "$BIGTEXT_PY" make "$data/big/big.txt" "$MB" 12
    node "$ENCODE_JS" --tiktoken gpt2 "$data/big/big.txt" "$data/big.ref" --eot 50256
    head -c "$((DOCS_MB * 1000 * 1000))" "$data/big/big.txt" >"$data/docs/docs.txt"
    for mode in line paragraph; do
        "$PY" "$BIGTEXT_PY" docs "$data/docs/docs.txt" "$mode" "$data/$mode.docs" >"$data/$mode.count"
        node "$ENCODE_JS" --tiktoken gpt2 --docs "$data/$mode.docs" "$data/$mode.ref" --eot 50256
    done
    touch "$data/done"
fi
big_bytes=$(stat -c %s "$data/big/big.txt")

# The daemon under ASan (run-tests.sh's second pass) keeps freed memory in a quarantine of 256 MB
# by default, which would be counted as peak memory: a small one keeps the comparison about the
# reader's buffers (use-after-free detection keeps working with it).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"

cp -r "$data/big" "$TK_TMP/www"
cp "$data/docs/docs.txt" "$TK_TMP/www/"
nginx_start "$TK_TMP/www"

# shard_size: about 20 shards of the big file at GPT-2's planning estimate of 4 bytes a token.
shard_tokens=$((big_bytes / 4 / 20))
common="cache_size=4G,prefetch=0,workers=2,max_doc_bytes=1M"

# mount_read NAME URL OPTS: mount, read every shard into $TK_TMP/NAME.u16, record the daemon's
# peak memory (VmHWM, kB) once mounted and idle in $TK_TMP/NAME.hwm0 and after the reads in
# $TK_TMP/NAME.hwm, and the shard sizes in $TK_TMP/NAME.sizes; unmount.
mount_read() {
    local name=$1 url=$2 opts=$3 mnt=$TK_TMP/mnt-$1
    tk_mount "$url" "$mnt" "cache_dir=$TK_TMP/cache-$name,$common,$opts" "$name"
    local pid=${TK_PIDS[$mnt]}
    local t0=$SECONDS
    ls "$mnt/train" >/dev/null
    awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" >"$TK_TMP/$name.hwm0"
    "$PY" "$BIGTEXT_PY" concat "$mnt" "$TK_TMP/$name.u16"
    find "$mnt/train" "$mnt/val" -name 'shard_*' -printf '%s\n' >"$TK_TMP/$name.sizes"
    awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" >"$TK_TMP/$name.hwm"
    tk_log "$name: $(wc -l <"$TK_TMP/$name.sizes") shards read in $((SECONDS - t0)) s, peak memory $(cat "$TK_TMP/$name.hwm0") kB mounted, $(cat "$TK_TMP/$name.hwm") kB after"
    tk_umount "$mnt"
}

# first_diff A B: the first differing uint16 index of two id files, with ids around it.
first_diff() {
    "$PY" - "$1" "$2" <<'PY'
import sys
import numpy as np
a = np.fromfile(sys.argv[1], dtype=np.uint16)
b = np.fromfile(sys.argv[2], dtype=np.uint16)
n = min(len(a), len(b))
d = np.nonzero(a[:n] != b[:n])[0]
i = int(d[0]) if len(d) else n
print("%d ids vs %d; first difference at id %d: got %s, want %s" % (
    len(a), len(b), i, a[max(0, i - 3):i + 5].tolist(), b[max(0, i - 3):i + 5].tolist()))
PY
}

tk_log "txt_doc=file: $MB MB .txt, max_doc_bytes=1M, shard_size=$shard_tokens"
mount_read big "$NGINX_URL/big.txt" "shard_size=$shard_tokens"
nshards=$(wc -l <"$TK_TMP/big.sizes")
[ "$nshards" -ge 10 ] || tk_fail "expected about 20 shards, got $nshards"
! grep -qx 0 "$TK_TMP/big.sizes" || tk_fail "an empty shard: $(tr '\n' ' ' <"$TK_TMP/big.sizes")"
cmp -s "$TK_TMP/big.u16" "$data/big.ref" ||
    tk_fail "the shards differ from npm tiktoken's ids of the whole file: $(first_diff "$TK_TMP/big.u16" "$data/big.ref")"
! grep -q "cut there anyway" "$TK_TMP/big.log" || tk_fail "a cut was forced: $(grep -m1 'cut there anyway' "$TK_TMP/big.log")"
gets=$(grep -c '^GET /big.txt ' "$NGINX_ACCESS_LOG" || true)
[ "$gets" -ge "$nshards" ] || tk_fail "only $gets range requests for $nshards shards"

# The bound. What a shard build holds does not depend on the file nor the shard (docs/design.md,
# "Memory"; docs/text.md): the pool's 2 x workers + 1 batches of ~256 KiB and their ids (~3 MiB),
# the part of the document not yet handed on (at most max(max_doc_bytes, 512 KiB) plus a fetch
# chunk), the 1 MiB write block, each of the 2 tokenizer threads' piece cache (5.4 MiB), fetch
# and FUSE buffers: about 16 MiB above the idle mounted daemon (GPT-2 tables, libfuse, libcurl),
# which 32 MiB bounds with room for allocator arenas. Under ASan (run-tests.sh's second pass) freed
# memory waits in its quarantine before reuse: 20 MiB more (the 16 MB quarantine set above and
# its per-thread parts; measured here: +33 MiB for the three shards against +10 MiB without ASan).
# Shards of ~65 MB of text each (three for 200 MB) put a shard's text, and the file, above it.
bound_kb=32768
[ "${TOKFS_SANITIZED:-0}" = 1 ] && bound_kb=$((bound_kb + 20480))
tk_log "peak memory while making three shards of the $MB MB file"
mount_read mem "$NGINX_URL/big.txt" "shard_size=$((big_bytes / 4 / 3))"
cmp -s "$TK_TMP/mem.u16" "$data/big.ref" || tk_fail "three shards differ from the reference ids"
for name in big mem; do
    hwm0=$(cat "$TK_TMP/$name.hwm0") hwm=$(cat "$TK_TMP/$name.hwm")
    [ "$hwm" -le $((hwm0 + bound_kb)) ] ||
        tk_fail "$name: peak memory grew from $hwm0 kB to $hwm kB while making shards (bound: $bound_kb kB more)"
done
piece_kb=$((big_bytes / 3 / 1024))
[ "$piece_kb" -gt "$bound_kb" ] ||
    tk_skip_later "with BIGTEXT_MB=$MB a shard's text ($piece_kb kB) is under the $bound_kb kB bound, so that it is never held is not shown (the default 200 shows it)"
tk_log "peak memory: +$(($(cat "$TK_TMP/mem.hwm") - $(cat "$TK_TMP/mem.hwm0"))) kB making ~$piece_kb kB shards (bound $bound_kb kB)"

for mode in line paragraph; do
    tk_log "txt_doc=$mode: $DOCS_MB MB, $(cat "$data/$mode.count") documents"
    mount_read "$mode" "$NGINX_URL/docs.txt" "shard_size=$((DOCS_MB * 1000 * 1000 / 4 / 12)),txt_doc=$mode"
    [ "$(wc -l <"$TK_TMP/$mode.sizes")" -ge 8 ] || tk_fail "txt_doc=$mode: expected about 12 shards"
    cmp -s "$TK_TMP/$mode.u16" "$data/$mode.ref" ||
        tk_fail "txt_doc=$mode: the shards differ from the documents' reference ids: $(first_diff "$TK_TMP/$mode.u16" "$data/$mode.ref")"
done
tk_done
