#!/usr/bin/env bash
# Parquet sources end to end: nginx serves six Parquet files written at test time by parquet-wasm
# (arrow-rs) and hyparquet-writer (tests/parquet/make_mount_corpus.mjs: columns id, repo_name,
# language, content and a large incompressible blob, content about a third of each file; codecs
# SNAPPY, ZSTD, GZIP, LZ4_RAW, UNCOMPRESSED mixed across files and columns; pages v1 and v2; row
# groups of 4 to 333 rows; one footer longer than the first 64 KiB tail read), mounted by @LIST
# with text_field=content. Shows:
#   - laziness: after mount and ls -R, nginx saw only range requests inside each file's last
#     64 KiB or its footer (one file needs a second request for the rest of its footer);
#   - exact content: the whole stream (numpy memmap) equals every non-null content value + 256,
#     in file and row order (tokenizer=bytes), and tiktoken's gpt2 ids (default tokenizer);
#     null values are counted in records_skipped;
#   - column projection: every GET of a full read lies inside a content column chunk or a footer
#     (byte ranges from hyparquet's parse of the footers), and the bytes fetched are at most the
#     content chunks + footers + 5% (nginx's $body_bytes_sent, equal to status bytes_fetched);
#   - filter=language=Python|Go: exactly the rows of those languages; only the content and
#     language chunks (and footers) are fetched;
#   - a corrupt column chunk: EIO for that shard only, logged with the file and the row group,
#     nothing cached; other shards served;
#   - offline remount (nginx stopped) serves the cache; filter= on a non-Parquet source and a
#     missing text column are refused at mount with a message.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"
tk_setup
command -v node >/dev/null && command -v npm >/dev/null || tk_fail "node and npm are needed (bash mount-scripts/install-deps.sh)"
npm_dir=$TOKFS_BUILD_DIR/npm-parquet
bash "$TOKFS_SOURCE_DIR/tests/lib/npm_install.sh" "$TOKFS_SOURCE_DIR/tests/parquet" "$npm_dir" >/dev/null
cp "$TOKFS_SOURCE_DIR/tests/parquet/make_mount_corpus.mjs" "$npm_dir/"
corpus=$TK_TMP/corpus
node "$npm_dir/make_mount_corpus.mjs" "$corpus" >&2
"$PY" - "$corpus" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
for src, dst in (("docs.json", "expected.u16"), ("docs_filtered.json", "expected_filtered.u16")):
    ids = []
    for doc in json.load(open(f"{d}/{src}")):
        ids.extend(doc.encode("utf-8"))
        ids.append(256)
    np.array(ids, dtype=np.uint16).tofile(f"{d}/{dst}")
PY
nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
opts="cache_size=64M,cache_dir=$cache,shard_size=300000,prefetch=0,tokenizer=bytes,text_field=content"

# check_gets FROM_LINE MODE: every GET in the access log after line FROM_LINE is a 206 whose
# range lies inside an allowed region of its file. MODE: tail (the file's last 64 KiB or its
# footer), text (content chunks or the footer), filter (content or language chunks, footer).
# Prints the sum of the GETs' body bytes.
check_gets() {
    tail -n +"$(($1 + 1))" "$NGINX_ACCESS_LOG" | "$PY" -c '
import json, re, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
mode = sys.argv[2]
total = 0
for line in sys.stdin:
    if not line.startswith("GET "):
        continue
    m = re.match(r"GET /(\S+) range=(\S+) status=(\d+) bytes=(\d+) ", line)
    assert m, "unexpected log line: " + line
    name, rng, status, nbytes = m.group(1), m.group(2), m.group(3), int(m.group(4))
    total += nbytes
    if name == "list.txt":
        continue
    f = layout[name]
    r = re.fullmatch(r"bytes=(\d+)-(\d+)", rng)
    assert r and status == "206", "not a range request: " + line
    a, b = int(r.group(1)), int(r.group(2)) + 1
    regions = [(f["size"] - f["footer"], f["size"])]
    if mode == "tail":
        regions.append((max(0, f["size"] - 65536), f["size"]))
    else:
        regions += [tuple(g["content"]) for g in f["row_groups"]]
        if mode == "filter":
            regions += [tuple(g["language"]) for g in f["row_groups"]]
    assert any(lo <= a and b <= hi for lo, hi in regions), \
        "%s: bytes %d-%d are outside the %s regions" % (name, a, b, mode)
print(total)
' "$corpus" "$2"
}
# piece_of CACHE FILE_INDEX ROW_GROUP: the shard index whose piece holds that row group
piece_of() {
    "$PY" - "$@" <<'PY'
import glob, sys
plan, = glob.glob(sys.argv[1] + "/plan-*/plan.tsv")
src, rg = int(sys.argv[2]), int(sys.argv[3])
groups = {int(l.split("\t")[1]): int(l.split("\t")[2]) for l in open(plan) if l.startswith("parquet\t")}
pieces = [l.split("\t") for l in open(plan) if l.startswith("piece\t")]
for i, p in enumerate(pieces):
    first, last, begin, end = map(int, p[1:5])
    lo = begin if first == src else 0
    hi = end if last == src else groups[src]
    if first <= src <= last and lo <= rg < hi:
        print(i)
PY
}
shard_status() {
    "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/.tokfs/status.json")); print([x for x in s["shards"] if x["name"]==sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3"
}
nulls=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["nulls"])' "$corpus/counts.json")
filtered_nulls=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["filtered_nulls"])' "$corpus/counts.json")

tk_log "mount: planning reads only footers"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts"
ls -R "$mnt" >/dev/null
cat "$mnt/dataset_metadata.json" "$mnt/.tokfs/status.json" >/dev/null
[ "$(tk_status "$mnt" materializations)" -eq 0 ] || tk_fail "ls -R materialized a shard"
check_gets 0 tail >/dev/null || tk_fail "planning fetched more than footers: $(cat "$NGINX_ACCESS_LOG")"
[ "$(nginx_log_count '^GET /part-003.parquet ')" -eq 2 ] || tk_fail "the long footer of part-003 was not read in two requests: $(grep part-003 "$NGINX_ACCESS_LOG")"
for f in part-000 part-001 part-002 part-004 part-005; do
    [ "$(nginx_log_count "^GET /$f.parquet ")" -eq 1 ] || tk_fail "$f: expected one footer request"
done
ntrain=$(ls "$mnt/train" | wc -l)
[ "$ntrain" -ge 8 ] || tk_fail "expected several train shards, got $ntrain"
grep -q $'^parquet\t3\t150\t' "$cache"/plan-*/plan.tsv || tk_fail "plan.tsv lacks part-003's row groups"

tk_log "full read equals the expected stream; only content chunks and footers are fetched"
mark=$(wc -l <"$NGINX_ACCESS_LOG")
start=$SECONDS
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_log "read $(du -sb "$corpus/expected.u16" | cut -f1) bytes of tokens in $((SECONDS - start)) s"
[ "$(tk_status "$mnt" records_skipped)" -eq "$nulls" ] || tk_fail "records_skipped $(tk_status "$mnt" records_skipped) != null contents $nulls"
[ "$(tk_status "$mnt" failures)" -eq 0 ] || tk_fail "failures in a good corpus"
read_bytes=$(check_gets "$mark" text) || tk_fail "a full read fetched bytes outside the content chunks and footers"
mount_bytes=$(head -n "$mark" "$NGINX_ACCESS_LOG" | grep '^GET ' | sed 's/.* bytes=\([0-9]*\) .*/\1/' | paste -sd+ | bc)
[ "$read_bytes" -eq "$(tk_status "$mnt" bytes_fetched)" ] || tk_fail "nginx sent $read_bytes bytes, status says $(tk_status "$mnt" bytes_fetched)"
"$PY" - "$corpus" "$read_bytes" "$mount_bytes" <<'PY' || tk_fail "bandwidth over budget"
import json, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
read, mount = int(sys.argv[2]), int(sys.argv[3])
text = sum(g["content"][1] - g["content"][0] for f in layout.values() for g in f["row_groups"])
footers = sum(f["footer"] for f in layout.values())
files = sum(f["size"] for f in layout.values())
budget = (text + footers) * 1.05
print("bandwidth: files %d bytes, content chunks %d (%.1f%%), footers %d; full read fetched %d "
      "= %.4f x (content + footers); with the mount's tail reads (%d): %.4f x"
      % (files, text, 100.0 * text / files, footers, read, read / (text + footers), mount,
         (read + mount) / (text + footers)), file=sys.stderr)
assert 0.25 < text / files < 0.42, "content is not about a third of the files"
assert read <= budget, "fetched %d > %d" % (read, budget)
PY
tk_umount "$mnt"

tk_log "filter=language=Python|Go: exactly those rows, only content + language chunks fetched"
fmnt=$TK_TMP/fmnt
tk_mount "@$NGINX_URL/list.txt" "$fmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-f,shard_size=300000,prefetch=0,tokenizer=bytes,text_field=content,filter=language=Python|Go" filter
mark=$(wc -l <"$NGINX_ACCESS_LOG")
"$PY" "$CORPUS_PY" verify "$fmnt" "$corpus/expected_filtered.u16"
fread=$(check_gets "$mark" filter) || tk_fail "the filtered read fetched other columns"
"$PY" - "$corpus" "$fread" <<'PY' || tk_fail "filtered read over budget"
import json, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
cols = sum(g[c][1] - g[c][0] for f in layout.values() for g in f["row_groups"]
           for c in ("content", "language"))
footers = sum(f["footer"] for f in layout.values())
read = int(sys.argv[2])
print("filtered read fetched %d = %.4f x (content + language chunks + footers)"
      % (read, read / (cols + footers)), file=sys.stderr)
assert read <= (cols + footers) * 1.05
PY
[ "$(tk_status "$fmnt" records_skipped)" -eq "$filtered_nulls" ] || tk_fail "filtered records_skipped $(tk_status "$fmnt" records_skipped) != $filtered_nulls"
tk_umount "$fmnt"

tk_log "default tokenizer (gpt2) equals tiktoken's encode_ordinary of every value + 50256"
tokref_install
node "$TOKREF/encode_docs.js" gpt2 "$corpus/docs.json" "$corpus/expected_gpt2.u16" >&2
gmnt=$TK_TMP/gmnt
tk_mount "@$NGINX_URL/list.txt" "$gmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-g,shard_size=100000,text_field=content,workers=2" gpt2
"$PY" "$CORPUS_PY" verify "$gmnt" "$corpus/expected_gpt2.u16"
tk_umount "$gmnt"

tk_log "a corrupt column chunk: EIO for its shard only, logged with file and row group"
bcache=$TK_TMP/cache-bad
bopts="cache_size=64M,cache_dir=$bcache,shard_size=300000,prefetch=0,tokenizer=bytes,text_field=content,retries=0"
cp -p "$corpus/part-001.parquet" "$TK_TMP/part-001.orig"
"$PY" - "$corpus" <<'PY'
import json, sys
d = sys.argv[1]
start, end = json.load(open(d + "/layout.json"))["part-001.parquet"]["row_groups"][2]["content"]
data = bytearray(open(d + "/part-001.parquet", "rb").read())
data[start:start + 16] = b"\xff" * 16        # the chunk's first page header
open(d + "/part-001.parquet", "wb").write(data)
PY
touch -r "$TK_TMP/part-001.orig" "$corpus/part-001.parquet" # same size and mtime: same ETag
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$bopts" bad
bad_idx=$(piece_of "$bcache" 1 2)
bad=$(printf 'shard_%05d.bin' "$bad_idx")
split=train
[ "$bad_idx" -lt "$(ls "$mnt/train" | wc -l)" ] || { split=val; bad=shard_00000.bin; }
"$PY" - "$mnt/$split/$bad" <<'PY' || tk_fail "reading $bad did not fail with EIO"
import errno, sys
try:
    open(sys.argv[1], "rb").read()
except OSError as e:
    sys.exit(0 if e.errno == errno.EIO else "errno %d" % e.errno)
sys.exit("served")
PY
grep -iE "error" "$TK_TMP/bad.log" | grep "part-001.parquet" | grep -q "row group 2" || tk_fail "log does not name the file and the row group: $(cat "$TK_TMP/bad.log")"
[ "$(shard_status "$mnt" "$split/$bad" error)" = EIO ] || tk_fail "status.json: error is not EIO"
[ "$(shard_status "$mnt" "$split/$bad" state)" = remote ] || tk_fail "status.json: the bad shard is not remote"
[ ! -e "$(printf '%s/shards/%06d.bin' "$(echo "$bcache"/plan-*)" "$bad_idx")" ] || tk_fail "a shard of corrupt data was cached"
for f in "$mnt"/train/*.bin; do
    [ "$(basename "$f")" = "$bad" ] && [ "$split" = train ] && continue
    cat "$f" >/dev/null || tk_fail "$(basename "$f") not served after a corrupt shard"
done
tk_umount "$mnt"

tk_log "repaired (same ETag), remounted from the saved plan: the shard fetches exactly the footer and its content chunks"
cp -p "$TK_TMP/part-001.orig" "$corpus/part-001.parquet"
mark0=$(wc -l <"$NGINX_ACCESS_LOG")
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$bopts" bad2
mark=$(wc -l <"$NGINX_ACCESS_LOG")
[ "$mark" -eq "$mark0" ] || tk_fail "a remount with a saved plan made requests: $(tail -n +"$((mark0 + 1))" "$NGINX_ACCESS_LOG")"
cat "$mnt/$split/$bad" >/dev/null || tk_fail "the repaired file is not served"
tail -n +"$((mark + 1))" "$NGINX_ACCESS_LOG" >"$TK_TMP/remake.log"
"$PY" - "$corpus" "$TK_TMP/remake.log" <<'PY' || tk_fail "the re-made shard fetched more than footer + content chunks: $(cat "$TK_TMP/remake.log")"
import json, re, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
gets = [re.match(r"GET /(\S+) range=bytes=(\d+)-(\d+) status=206 ", l)
        for l in open(sys.argv[2]) if l.startswith("GET ")]
assert gets and all(gets), "unexpected requests"
for m in gets:
    f = layout[m.group(1)]
    a, b = int(m.group(2)), int(m.group(3)) + 1
    if b == f["size"]:
        assert a == f["size"] - f["footer"], "not exactly the footer: %s" % m.group(0)
    else:
        assert any([a, b] == g["content"] for g in f["row_groups"]), "not a content chunk: " + m.group(0)
assert sum(1 for m in gets if int(m.group(3)) + 1 == layout[m.group(1)]["size"]) >= 1, "no footer fetched"
PY
tk_umount "$mnt"

tk_log "offline remount (nginx stopped) serves the cache"
nginx_stop
tk_mount "@$NGINX_URL/list.txt" "$mnt" "$opts" offline
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"

tk_log "refused at mount: filter= on a non-Parquet source; a missing text column"
mkdir -p "$TK_TMP/mixed" "$TK_TMP/m2"
cp "$corpus/part-004.parquet" "$TK_TMP/mixed/"
echo '{"text": "x"}' >"$TK_TMP/mixed/notes.jsonl"
if "$TOKFS" "$TK_TMP/mixed" "$TK_TMP/m2" -o "cache_size=16M,cache_dir=$TK_TMP/cache-r,text_field=content,filter=language=Go" -f 2>"$TK_TMP/refuse.txt"; then
    tk_fail "filter= with a .jsonl source mounted"
fi
grep -q "notes.jsonl" "$TK_TMP/refuse.txt" && grep -q "not a Parquet file" "$TK_TMP/refuse.txt" || tk_fail "unclear message: $(cat "$TK_TMP/refuse.txt")"
rm "$TK_TMP/mixed/notes.jsonl"
if "$TOKFS" "$TK_TMP/mixed" "$TK_TMP/m2" -o "cache_size=16M,cache_dir=$TK_TMP/cache-r" -f 2>"$TK_TMP/refuse.txt"; then
    tk_fail "a Parquet file without column 'text' mounted"
fi
grep -q "no top-level column 'text'" "$TK_TMP/refuse.txt" && grep -q "content" "$TK_TMP/refuse.txt" || tk_fail "unclear message: $(cat "$TK_TMP/refuse.txt")"
mountpoint -q "$TK_TMP/m2" && tk_fail "mounted after an error"
echo PASS
