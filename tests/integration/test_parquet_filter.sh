#!/usr/bin/env bash
# filter= on Parquet makes shards of about shard_size kept tokens, and no mount shows a size-0
# shard (issue 12; docs/parquet-filter.md). nginx serves seven github-code-like files
# (tests/parquet/make_filter_corpus.mjs: 30 languages, rows clustered repo by repo, Python about
# 13% of rows, one file without Python, one all Python; arrow-rs and hyparquet-writer), mounted
# with text_field=content,filter=language=Python,tokenizer=bytes. Shows:
#   - what planning costs: every GET at mount is a footer read or exactly one `language` column
#     chunk, each chunk at most once; the bytes are printed against the `content` chunks (the
#     number docs/parquet-filter.md quotes) and must stay under 2% of them;
#   - the shards: no listed shard has size 0, every shard but the plan's last holds between 0.5
#     and 1.5 x shard_size tokens, the shard count is about the kept tokens / shard_size, and the
#     whole stream is exactly the kept rows' content (+ end-of-text each, in file and row order);
#   - without filter=, the same corpus gives no size-0 shard either;
#   - a filter that keeps nothing is refused at mount with a message; a corrupt filter chunk
#     does not refuse the mount (a warning; the row group weighs all its rows) and fails only
#     its shard, with EIO;
#   - a shard that still turns out empty (a JSONL record longer than several pieces leaves the
#     pieces inside it without a record start) is hidden once made: stat and open say ENOENT,
#     readdir stops listing it, and a remount (token counts known) never lists it; the listed
#     shards give exactly the corpus.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
command -v node >/dev/null && command -v npm >/dev/null || tk_fail "node and npm are needed (bash mount-scripts/install-deps.sh)"
npm_dir=$TOKFS_BUILD_DIR/npm-parquet
bash "$TOKFS_SOURCE_DIR/tests/lib/npm_install.sh" "$TOKFS_SOURCE_DIR/tests/parquet" "$npm_dir" >/dev/null
cp "$TOKFS_SOURCE_DIR/tests/parquet/make_filter_corpus.mjs" "$npm_dir/"
corpus=$TK_TMP/corpus
node "$npm_dir/make_filter_corpus.mjs" "$corpus" >&2
"$PY" - "$corpus" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
ids = []
for doc in json.load(open(f"{d}/kept.json")):
    ids.extend(doc.encode("utf-8"))
    ids.append(256)
np.array(ids, dtype=np.uint16).tofile(f"{d}/expected.u16")
PY
nginx_start "$corpus"
shard=250000

# shard_sizes MNT SHARD_SIZE LABEL: stat every listed shard (making each); fail on a size-0 one
# or, in plan order (train then val), one but the last outside [0.5, 1.5] x SHARD_SIZE tokens.
shard_sizes() {
    "$PY" - "$@" <<'PY'
import glob, os, sys
mnt, target, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
paths = sorted(glob.glob(mnt + "/train/shard_*.bin")) + sorted(glob.glob(mnt + "/val/shard_*.bin"))
tokens = [os.stat(p).st_size // 2 for p in paths]
print("%s: %d shards of %s tokens (shard_size %d)" % (label, len(tokens), tokens, target),
      file=sys.stderr)
assert tokens, "no shard"
assert all(t > 0 for t in tokens), "a shard of size 0 is listed"
bad = [(p, t) for p, t in zip(paths[:-1], tokens[:-1]) if not 0.5 * target <= t <= 1.5 * target]
assert not bad, "shards outside 0.5..1.5 x shard_size: %s" % bad
print(sum(tokens))
PY
}

tk_log "filter=language=Python: planning reads footers and each language chunk once"
mnt=$TK_TMP/mnt
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,shard_size=$shard,prefetch=0,tokenizer=bytes,text_field=content,filter=language=Python" filter
"$PY" - "$corpus" "$NGINX_ACCESS_LOG" <<'PY' || tk_fail "planning fetched more than footers and language chunks"
import json, re, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
seen = set()
footer_bytes = lang_bytes = 0
for line in open(sys.argv[2]):
    if not line.startswith("GET "):
        continue
    m = re.match(r"GET /(\S+) range=(\S+) status=(\d+) bytes=(\d+) ", line)
    assert m, "unexpected log line: " + line
    name, rng, nbytes = m.group(1), m.group(2), int(m.group(4))
    if name == "list.txt":
        continue
    f = layout[name]
    r = re.fullmatch(r"bytes=(\d+)-(\d+)", rng)
    assert r and m.group(3) == "206", "not a range request: " + line
    a, b = int(r.group(1)), int(r.group(2)) + 1
    if b == f["size"] and a >= min(f["size"] - f["footer"], max(0, f["size"] - 65536)):
        footer_bytes += nbytes
        continue
    g = [i for i, g in enumerate(f["row_groups"]) if [a, b] == g["language"]]
    assert g, "%s: bytes %d-%d are neither a footer nor a language chunk" % (name, a, b)
    assert (name, g[0]) not in seen, "%s row group %d: language chunk fetched twice" % (name, g[0])
    seen.add((name, g[0]))
    lang_bytes += nbytes
groups = sum(len(f["row_groups"]) for f in layout.values())
assert len(seen) == groups, "read %d language chunks of %d row groups" % (len(seen), groups)
content = sum(g["content"][1] - g["content"][0] for f in layout.values() for g in f["row_groups"])
files = sum(f["size"] for f in layout.values())
rows = sum(g["rows"] for f in layout.values() for g in f["row_groups"])
print("mount cost: %d bytes of language chunks (%d row groups, %d rows: %.2f bytes a row) + %d "
      "of footers; = %.3f%% of the content chunks (%d bytes), %.3f%% of the files (%d bytes)"
      % (lang_bytes, groups, rows, lang_bytes / rows, footer_bytes, 100.0 * lang_bytes / content,
         content, 100.0 * lang_bytes / files, files), file=sys.stderr)
assert lang_bytes < 0.02 * content
PY
grep -q "filter=language=Python: planning read [0-9]* bytes of 'language' column chunks" "$TK_TMP/filter.log" || tk_fail "no log line on what planning read: $(cat "$TK_TMP/filter.log")"

tk_log "shards near shard_size, none empty, exactly the kept rows"
total=$(shard_sizes "$mnt" "$shard" filtered) || tk_fail "filtered shard sizes"
"$PY" - "$corpus" "$shard" "$(ls "$mnt/train" "$mnt/val" | grep -c shard_)" <<'PY' || tk_fail "shard count far from kept tokens / shard_size"
import json, sys
layout = json.load(open(sys.argv[1] + "/layout.json"))
kept = sum(g["kept_text"] for f in layout.values() for g in f["row_groups"])
target, n = int(sys.argv[2]), int(sys.argv[3])
print("kept tokens %d / shard_size %d = %.2f; shards %d" % (kept, target, kept / target, n),
      file=sys.stderr)
assert abs(n - kept / target) <= 1 + 0.25 * kept / target
PY
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"

tk_log "without filter=: no size-0 shard either"
umnt=$TK_TMP/umnt
tk_mount "@$NGINX_URL/list.txt" "$umnt" "cache_size=64M,cache_dir=$TK_TMP/cache-u,shard_size=800000,prefetch=0,tokenizer=bytes,text_field=content" unfiltered
shard_sizes "$umnt" 800000 unfiltered >/dev/null || tk_fail "unfiltered shard sizes"
tk_umount "$umnt"

tk_log "a filter keeping nothing is refused at mount"
mkdir -p "$TK_TMP/m2"
if "$TOKFS" "@$NGINX_URL/list.txt" "$TK_TMP/m2" -o "cache_size=16M,cache_dir=$TK_TMP/cache-n,text_field=content,filter=language=COBOL" -f 2>"$TK_TMP/none.txt"; then
    tk_fail "a filter keeping no row mounted"
fi
grep -q "filter=language=COBOL keeps no row with text" "$TK_TMP/none.txt" || tk_fail "unclear message: $(cat "$TK_TMP/none.txt")"

tk_log "a corrupt language chunk: the mount still plans (a warning), its shard is EIO, the rest served"
bdir=$TK_TMP/bad
mkdir -p "$bdir"
cp "$corpus"/*.parquet "$bdir/"
"$PY" - "$corpus" "$bdir" <<'PY'
import json, sys
start, end = json.load(open(sys.argv[1] + "/layout.json"))["part-003.parquet"]["row_groups"][1]["language"]
path = sys.argv[2] + "/part-003.parquet"
data = bytearray(open(path, "rb").read())
data[start:start + 8] = b"\xff" * 8       # the chunk's first page header
open(path, "wb").write(data)
PY
bmnt=$TK_TMP/bmnt
tk_mount "$bdir" "$bmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-b,shard_size=$shard,prefetch=0,tokenizer=bytes,text_field=content,filter=language=Python" bad
grep "weighed by all its rows" "$TK_TMP/bad.log" | grep "part-003.parquet" | grep -q "row group 1" || tk_fail "no warning naming the file and row group: $(cat "$TK_TMP/bad.log")"
"$PY" - "$bmnt" <<'PY' || tk_fail "a corrupt filter chunk: not exactly its shard failing"
import errno, glob, os, sys
failed, sizes = [], []
for p in sorted(glob.glob(sys.argv[1] + "/train/shard_*.bin")) + sorted(glob.glob(sys.argv[1] + "/val/shard_*.bin")):
    try:
        sizes.append(os.stat(p).st_size)
    except OSError as e:
        assert e.errno == errno.EIO, "%s: %s" % (p, e)
        failed.append(p)
print("corrupt filter chunk: %d shard(s) EIO, %d served" % (len(failed), len(sizes)), file=sys.stderr)
assert len(failed) == 1 and sizes and all(s > 0 for s in sizes)
PY
tk_umount "$bmnt"

tk_log "a piece left empty is hidden once made, and after a remount"
jdir=$TK_TMP/jsonl
mkdir -p "$jdir"
"$PY" - "$jdir" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
docs = ["short one " * 20, "long " * 6000, "short two " * 20, "tail " * 700]
with open(d + "/c.jsonl", "w") as f:
    for doc in docs:
        f.write(json.dumps({"text": doc}) + "\n")
ids = []
for doc in docs:
    ids.extend(doc.encode())
    ids.append(256)
np.array(ids, dtype=np.uint16).tofile(d + "/expected.u16")
PY
jmnt=$TK_TMP/jmnt
jopts="cache_size=16M,cache_dir=$TK_TMP/cache-j,shard_size=4000,prefetch=0,tokenizer=bytes"
tk_mount "$jdir/c.jsonl" "$jmnt" "$jopts" jsonl
before=$(ls "$jmnt/train" | wc -l)
hidden=$("$PY" - "$jmnt" <<'PY'
import errno, glob, os, sys
import numpy as np
hidden = []
for p in sorted(glob.glob(sys.argv[1] + "/train/shard_*.bin")):
    try:
        size = os.stat(p).st_size  # makes the shard
    except FileNotFoundError:
        hidden.append(os.path.basename(p))
        continue
    assert size > 0, p + ": size 0"
    assert len(np.memmap(p, dtype=np.uint16, mode="r")) == size // 2
for name in hidden:  # and stays hidden: stat and open
    p = sys.argv[1] + "/train/" + name
    for f in (os.stat, open):
        try:
            f(p)
            sys.exit(name + " is visible again")
        except FileNotFoundError:
            pass
print(" ".join(hidden))
PY
) || tk_fail "reading the JSONL mount"
[ -n "$hidden" ] || tk_fail "the JSONL corpus made no empty piece: the hiding was not exercised"
after=$(ls "$jmnt/train" | wc -l)
[ "$after" -eq "$((before - $(wc -w <<<"$hidden")))" ] || tk_fail "readdir still lists hidden shards ($before listed, $after after, hidden: $hidden)"
for name in $hidden; do
    ls "$jmnt/train" | grep -qx "$name" && tk_fail "$name still listed"
done
"$PY" "$CORPUS_PY" verify "$jmnt" "$jdir/expected.u16"
tk_umount "$jmnt"
tk_mount "$jdir/c.jsonl" "$jmnt" "$jopts" jsonl2
[ "$(ls "$jmnt/train" | wc -l)" -eq "$after" ] || tk_fail "a remount lists the empty shards again"
for name in $hidden; do
    [ -e "$jmnt/train/$name" ] && tk_fail "$name exists after a remount"
done
"$PY" "$CORPUS_PY" verify "$jmnt" "$jdir/expected.u16"
"$PY" - "$jmnt/dataset_metadata.json" "$(wc -w <<<"$hidden")" <<'PY' || tk_fail "dataset_metadata.json does not count the hidden shards"
import json, sys
m = json.load(open(sys.argv[1]))
hidden = m["splits"]["train"]["empty_shards_hidden"]  # the hidden ones found above: train/
assert hidden == int(sys.argv[2]), (hidden, sys.argv[2])
assert m["splits"]["train"]["shard_tokens"].count(0) == hidden, m["splits"]["train"]
PY
tk_log "hidden (empty) shards: $hidden of $before"
tk_umount "$jmnt"
tk_done
