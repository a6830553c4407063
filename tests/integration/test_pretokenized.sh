#!/usr/bin/env bash
# Pre-tokenized sources (docs/pretokenized.md): a real nginx serves llm.c shards (uint16 v1 and
# uint32 v7), a raw .bin (src_dtype=uint16), a .npy and a .zst of an llm.c shard, all written by
# tests/lib/tokens_corpus.py. Mounted with a small shard_size in several output layouts, every
# shard read as its consumer reads it (numpy memmap, an llm.c-style loader checking magic,
# version and size, np.load, a Megatron .idx reader) gives exactly the sources' id stream; after
# a remount (the saved plan) too. Laziness: mounting fetches only the 1024-byte headers, and
# reading one output shard fetches exactly its own ids' byte ranges (nginx's access log). An id
# at or above the vocabulary is EIO with a log line naming the source and offset. Refused: a
# mount mixing text and token sources, a .bin without llm.c's header and without src_dtype=,
# doc_sep=none. The same shards mount from an emulated Hugging Face hub through hf://.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
command -v zstd >/dev/null || tk_skip "the zstd CLI is needed to write the .zst source"
corpus=$TK_TMP/corpus
TC="$TOKFS_SOURCE_DIR/tests/lib/tokens_corpus.py"
"$PY" "$TC" make "$corpus"
# A Hugging Face hub on the same nginx (the API's revision and tree answers as files, the
# files themselves at their resolve URLs): the karpathy-style llm.c shards of lazy/ under
# tokens/, mounted through hf://.
REPO=tokfs-test/fineweb-tokens
SHA=$("$PY" - "$corpus" "$REPO" <<'PY'
import hashlib, json, os, shutil, sys
root, repo = sys.argv[1:3]
sha = hashlib.sha1(b"tokfs-test tokens").hexdigest()
entries = []
for i in (1, 2, 3):
    name = "fineweb_train_%06d.bin" % i
    dst = os.path.join(root, "datasets", repo, "resolve", sha, "tokens", name)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(os.path.join(root, "lazy", name), dst)
    data = open(dst, "rb").read()
    entries.append({"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data),
                    "path": "tokens/" + name})
rev = os.path.join(root, "api", "datasets", repo, "revision")
os.makedirs(rev)
json.dump({"id": repo, "sha": sha}, open(os.path.join(rev, "main"), "w"))
tree = os.path.join(root, "hfapi", "api", "datasets", repo, "tree", sha, "tokens")
os.makedirs(tree)
json.dump(entries, open(os.path.join(tree, "recursive.json"), "w"))
print(sha)
PY
)
# shellcheck disable=SC2016  # nginx variables, not shell ones
NGINX_EXTRA_CONF='
location /api/datasets/tokfs-test/fineweb-tokens/tree/ {
    default_type application/json;
    if ($arg_recursive != "true") { return 404; }
    try_files /hfapi$uri/recursive.json =404;
}
location /api/ { default_type application/json; }
'
nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
base="cache_size=64M,cache_dir=$cache,shard_size=20000,src_dtype=uint16,prefetch=0"

# check FORMAT DTYPE OPTS: mount the mixed token corpus, compare every shard with the sources.
check() {
    local fmt=$1 dtype=$2 opts=$3
    tk_log "format=$fmt dtype=$dtype$opts: the sources' ids exactly"
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$base$opts" "$fmt-$dtype"
    "$PY" "$TC" check "$mnt" "$corpus/expected.u32" "$dtype" "$fmt"
    tk_umount "$mnt"
}
check raw uint16 ""
gets=$(tk_gets)
check raw uint16 "" # again: the saved plan and the cached shards, without a request
[ "$(tk_gets)" -eq "$gets" ] || tk_fail "the remount fetched again: $(tail -n 5 "$NGINX_ACCESS_LOG")"
check raw uint32 ",dtype=uint32"
check llmc uint16 ",format=llmc"
check npy uint32 ",format=npy,dtype=uint32"
check megatron uint16 ",format=megatron,doc_sep=prepend"

tk_log "laziness: the mount reads headers only; one shard fetches its own byte ranges"
lazy_start=$(wc -l <"$NGINX_ACCESS_LOG")
tk_mount "@$NGINX_URL/lazy/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/lazycache,shard_size=30000,prefetch=0" lazy
mount_lines=$(tail -n +"$((lazy_start + 1))" "$NGINX_ACCESS_LOG")
# planning: list.txt, then per shard a HEAD and one 1024-byte ranged GET of its header
echo "$mount_lines" | grep '^GET /lazy/fineweb' | grep -vq 'range=bytes=0-1023 status=206 bytes=1024 ' &&
    tk_fail "the mount fetched more than headers: $mount_lines"
[ "$(echo "$mount_lines" | grep -c '^GET /lazy/fineweb.*range=bytes=0-1023 ')" -eq 3 ] ||
    tk_fail "expected one header read per source: $mount_lines"
read_start=$(wc -l <"$NGINX_ACCESS_LOG")
"$PY" - "$mnt" "$corpus/lazy/expected.u32" "$NGINX_ACCESS_LOG" "$read_start" "$corpus/lazy" <<'PY'
import os, re, sys
import numpy as np
mnt, expected, log, start, lazy = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
k = 2  # a shard spanning two source files
ids = np.array(np.memmap(os.path.join(mnt, "train", "shard_%05d.bin" % k), dtype=np.uint16, mode="r"))
want = np.fromfile(expected, dtype="<u4")[k * 30000:(k + 1) * 30000]
assert len(ids) == 30000 and (ids == want).all(), "shard %d is not ids [%d, %d) of the sources" % (k, k * 30000, (k + 1) * 30000)
lines = open(log).read().splitlines()[start:]
fetched = 0
sizes = [os.path.getsize(os.path.join(lazy, "fineweb_train_%06d.bin" % i)) for i in (1, 2, 3)]
for line in lines:
    m = re.match(r"GET /lazy/fineweb_train_(\d+)\.bin range=bytes=(\d+)-(\d+) status=206 bytes=(\d+) ", line)
    assert m, "unexpected request while reading one shard: " + line
    first, last, body = int(m.group(2)), int(m.group(3)), int(m.group(4))
    assert first >= 1024 and body == last - first + 1, line
    fetched += body
assert fetched == 2 * 30000, "reading one shard of 30000 ids fetched %d bytes (want 60000)" % fetched
print("ok: one shard, %d bytes fetched of %d in the sources" % (fetched, sum(sizes)))
PY
tk_umount "$mnt"

tk_log "hf://: llm.c shards on the hub, the same ids, one header request per shard at mount"
hub_start=$(wc -l <"$NGINX_ACCESS_LOG")
HF_ENDPOINT=$NGINX_URL tk_mount "hf://datasets/$REPO/tokens/fineweb_train_*.bin" "$mnt" \
    "cache_size=64M,cache_dir=$TK_TMP/hubcache,shard_size=30000,format=llmc" hub
hub_lines=$(tail -n +"$((hub_start + 1))" "$NGINX_ACCESS_LOG")
[ "$(echo "$hub_lines" | grep -c "^GET /datasets/$REPO/resolve/$SHA/tokens/fineweb_train_.*range=bytes=0-1023 status=206 bytes=1024 ")" -eq 3 ] ||
    tk_fail "the hub mount did not read exactly the three headers: $hub_lines"
"$PY" "$TC" check "$mnt" "$corpus/lazy/expected.u32" uint16 llmc
tk_umount "$mnt"

tk_log "an id at or above the vocabulary: EIO and a log line naming the source and offset"
tk_mount "@$NGINX_URL/lazy/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/vocabcache,shard_size=30000,prefetch=0,vocab_size=1000" vocab
"$PY" - "$mnt" <<'PY' || tk_fail "reading a shard with out-of-vocabulary ids did not give EIO"
import errno, os, sys
try:
    open(os.path.join(sys.argv[1], "train", "shard_00000.bin"), "rb").read()
except OSError as e:
    sys.exit(0 if e.errno == errno.EIO else 1)
sys.exit(1)
PY
grep -q "fineweb_train_000001.bin: id [0-9]* at id [0-9]* (byte [0-9]* of the file) is not below the vocabulary size 1000" "$TK_TMP/vocab.log" ||
    tk_fail "no log line naming the source and offset: $(tail -n 5 "$TK_TMP/vocab.log")"
tk_umount "$mnt"

tk_log "refused: text and tokens mixed, a raw .bin without src_dtype=, doc_sep=none"
printf 'hello world\n' >"$corpus/notes.txt"
printf 'notes.txt\nfineweb_train_000001.bin\n' >"$corpus/mixed.txt"
refuse() {
    local src=$1 opts=$2 msg=$3
    mkdir -p "$mnt"
    if timeout 20 "$TOKFS" "$src" "$mnt" -o "cache_size=64M,cache_dir=$TK_TMP/refcache$opts" -f >"$TK_TMP/refused.log" 2>&1; then
        tk_fail "tokfs accepted $src $opts"
    fi
    mountpoint -q "$mnt" && tk_fail "tokfs mounted $src $opts"
    grep -q -- "$msg" "$TK_TMP/refused.log" || tk_fail "no clear message for $src $opts: $(cat "$TK_TMP/refused.log")"
}
refuse "@$NGINX_URL/mixed.txt" "" "SOURCE mixes text and token ids: .*notes.txt is text to tokenize, .*fineweb_train_000001.bin holds token ids"
refuse "$NGINX_URL/raw_ids.bin" "" "raw_ids.bin has no llm.c header .*src_dtype=uint16"
refuse "@$NGINX_URL/list.txt" ",src_dtype=uint16,doc_sep=none" "doc_sep=none cannot apply to token sources"
tk_done
