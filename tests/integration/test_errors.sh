#!/usr/bin/env bash
# Bad input gets a one-line message naming the thing, a non-zero exit, and nothing mounted.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 2 --docs-per-file 50
nginx_start "$corpus"
mnt=$TK_TMP/mnt
mkdir -p "$mnt"
TK_MOUNTS+=("$mnt")
cache=$TK_TMP/cache
ok_opts="cache_size=16M,cache_dir=$cache,tokenizer=bytes"

# expect_refusal "what" EXPECTED_TEXT tokfs-args...
expect_refusal() {
    local what=$1 text=$2
    shift 2
    local out rc=0
    out=$(timeout 60 "$TOKFS" "$@" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || tk_fail "$what: exit status 0"
    [ "$rc" -ne 124 ] || tk_fail "$what: hung"
    [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || tk_fail "$what: expected one line, got: $out"
    printf '%s' "$out" | grep -qF -- "$text" || tk_fail "$what: message lacks '$text': $out"
    mountpoint -q "$mnt" && tk_fail "$what: something got mounted"
    tk_log "$what: $out"
}

closed_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_refusal "unreachable SOURCE" "127.0.0.1:$closed_port" "http://127.0.0.1:$closed_port/x.jsonl" "$mnt" -o "$ok_opts,retries=1,timeout=2s"
expect_refusal "404 source" "missing.jsonl" "$NGINX_URL/missing.jsonl" "$mnt" -o "$ok_opts"
printf 'part-000.jsonl\nnope.jsonl\n' >"$corpus/list404.txt"
expect_refusal "404 in a list" "nope.jsonl" "@$NGINX_URL/list404.txt" "$mnt" -o "$ok_opts"
expect_refusal "missing list" "list-missing.txt" "@$NGINX_URL/list-missing.txt" "$mnt" -o "$ok_opts"
expect_refusal "missing local SOURCE" "/nonexistent/corpus" /nonexistent/corpus "$mnt" -o "$ok_opts"
expect_refusal "unsupported format" "unsupported source" "$NGINX_URL/expected.u16" "$mnt" -o "$ok_opts"
expect_refusal "missing mountpoint" "$TK_TMP/nope" "$NGINX_URL/part-000.jsonl" "$TK_TMP/nope" -o "$ok_opts"
mkdir -p "$TK_TMP/full" && touch "$TK_TMP/full/x"
expect_refusal "non-empty mountpoint" "not empty" "$NGINX_URL/part-000.jsonl" "$TK_TMP/full" -o "$ok_opts"
expect_refusal "unknown option" "unknown option frobnicate" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,frobnicate=1"
expect_refusal "bad cache_size" "bad cache_size=12Q" "$NGINX_URL/part-000.jsonl" "$mnt" -o "cache_size=12Q"
expect_refusal "missing cache_size" "missing cache_size" "$NGINX_URL/part-000.jsonl" "$mnt"
expect_refusal "bad shard_size" "bad shard_size=-5" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,shard_size=-5"
expect_refusal "bad workers" "bad workers=0" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,workers=0"
expect_refusal "bad timeout" "bad timeout=fast" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,timeout=fast"
expect_refusal "relative cache_dir" "bad cache_dir=rel" "$NGINX_URL/part-000.jsonl" "$mnt" -o "cache_size=1G,cache_dir=rel"
expect_refusal "unknown tokenizer" "unknown tokenizer=nope" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,tokenizer=nope"
expect_refusal "too many val shards" "val_shards=50" "$NGINX_URL/part-000.jsonl" "$mnt" -o "$ok_opts,val_shards=50"
expect_refusal "missing MOUNTPOINT" "missing MOUNTPOINT" "$NGINX_URL/part-000.jsonl"
expect_refusal "unknown flag" "unknown flag --frob" --frob

tk_log "--help and --version"
# captured first: `tokfs --help | grep -q` under pipefail fails whenever grep exits before the
# help (over 4 KiB, two writes) is written, and tokfs gets SIGPIPE
help=$("$TOKFS" --help) || tk_fail "--help failed"
grep -q "cache_size=SIZE" <<<"$help" || tk_fail "--help lacks options"
grep -q "txt_doc=" <<<"$help" || tk_fail "--help lacks txt_doc="
version=$("$TOKFS" --version) || tk_fail "--version failed"
grep -q "^tokfs " <<<"$version" || tk_fail "--version"

tk_log "a second mount on the same cache_dir is refused while the first runs"
tk_mount "$NGINX_URL/part-000.jsonl" "$mnt" "$ok_opts,val_shards=0"
mkdir -p "$TK_TMP/mnt2"
out=$("$TOKFS" "$NGINX_URL/part-001.jsonl" "$TK_TMP/mnt2" -o "$ok_opts" 2>&1) && tk_fail "second mount on a busy cache_dir succeeded"
printf '%s' "$out" | grep -q "in use by another tokfs mount" || tk_fail "busy cache_dir message: $out"

# changed_source_gives_eio LABEL KEEP_MTIME: change part-000.jsonl (same size), keeping its mtime
# (so nginx's ETag, made of mtime seconds and size, stays the same and only tokfs's checksum can
# notice) or not (the ETag changes: If-Match answers 412). Either way: EIO and a log line.
changed_source_gives_eio() {
    local label=$1 keep_mtime=$2
    tk_log "source changed upstream ($label): EIO and a log line, never wrong data"
    rm -rf "$cache"
    tk_mount "$NGINX_URL/part-000.jsonl" "$mnt" "$ok_opts,val_shards=0" "$label-first"
    cat "$mnt/train/shard_00000.bin" >/dev/null
    tk_umount "$mnt"
    rm -rf "$cache"/plan-*/shards/*  # forget the cached copy, keep the plan and the catalog
    cp -p "$corpus/part-000.jsonl" "$TK_TMP/orig.jsonl"
    "$PY" - "$corpus/part-000.jsonl" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
i = data.index(b'"text": "') + 9
data[i:i + 1] = b"Z" if data[i:i + 1] != b"Z" else b"Y"   # same size, new content
open(p, "wb").write(data)
PY
    if [ "$keep_mtime" = 1 ]; then touch -r "$TK_TMP/orig.jsonl" "$corpus/part-000.jsonl"; else touch -d '+5 seconds' "$corpus/part-000.jsonl"; fi
    tk_mount "$NGINX_URL/part-000.jsonl" "$mnt" "$ok_opts,val_shards=0" "$label"
    if cat "$mnt/train/shard_00000.bin" >/dev/null 2>"$TK_TMP/changed.err"; then
        tk_fail "$label: a changed source was served"
    fi
    grep -q "Input/output error" "$TK_TMP/changed.err" || tk_fail "$label: expected EIO: $(cat "$TK_TMP/changed.err")"
    grep "error" "$TK_TMP/$label.log" | grep -q "part-000.jsonl" || tk_fail "$label: log does not name the URL: $(cat "$TK_TMP/$label.log")"
    grep -qi "changed" "$TK_TMP/$label.log" || tk_fail "$label: log does not say the source changed: $(cat "$TK_TMP/$label.log")"
    [ -z "$(ls "$cache"/plan-*/shards)" ] || tk_fail "$label: a shard of changed content was cached"
    tk_umount "$mnt"
    cp -p "$TK_TMP/orig.jsonl" "$corpus/part-000.jsonl"
}
tk_umount "$mnt"
tk_log "HTTP error while making a shard: EIO, a log line naming shard and URL, other shards still served, recovery once the source is back"
rm -rf "$cache"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$ok_opts,shard_size=5000,retries=2,timeout=2s,val_shards=0" http404
# Shard 0 lies inside part-000; the last shard is made of later sources, which go away.
mv "$corpus/part-001.jsonl" "$TK_TMP/part-001.jsonl.away"
mv "$corpus/notes.txt" "$TK_TMP/notes.txt.away"
last=$(ls "$mnt/train" | tail -n1)
if cat "$mnt/train/$last" >/dev/null 2>"$TK_TMP/404.err"; then tk_fail "a shard whose source is gone was served"; fi
grep -q "Input/output error" "$TK_TMP/404.err" || tk_fail "expected EIO: $(cat "$TK_TMP/404.err")"
grep error "$TK_TMP/http404.log" | grep "train/$last" | grep -qE "part-001.jsonl|notes.txt" || tk_fail "log does not name shard and URL: $(cat "$TK_TMP/http404.log")"
cat "$mnt/train/shard_00000.bin" >/dev/null 2>"$TK_TMP/other.err" || tk_fail "the daemon stopped serving other shards after an error: $(cat "$TK_TMP/other.err")"
mv "$TK_TMP/part-001.jsonl.away" "$corpus/part-001.jsonl"
mv "$TK_TMP/notes.txt.away" "$corpus/notes.txt"
cat "$mnt/train/$last" >/dev/null || tk_fail "after the source came back the shard still fails"
tk_umount "$mnt"

changed_source_gives_eio checksum 1
changed_source_gives_eio etag 0
echo PASS
