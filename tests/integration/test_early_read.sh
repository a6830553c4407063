#!/usr/bin/env bash
# Reads that wait only for their bytes (core/cache/chunks.c, docs/design.md "Reads before a
# shard is finished"), through a real mount, format=llmc (its header is written first when the
# count is known, so the first chunk is final early):
#   1. a shard made once (its size and chunk sums recorded), its cache file removed while
#      unmounted (an eviction the catalog remembers), the source slowed down (nginx limit_rate):
#      the first 1 MiB read through the mount arrives while status.json still says the shard is
#      "materializing" (an ordering, not a timing: the build then still has most of its source
#      to fetch), with early_reads counted, and equal to the first make's bytes; then the whole
#      shard, once cached, equals the first make;
#   2. a local source changed where its pin cannot see (same size, mtime put back to the
#      nanosecond): after removing the cached file, reads of the chunks before the change give
#      the first make's bytes, a read of the chunk holding it (and after) gets EIO, and the log
#      says the shard was re-made differing, naming the bytes.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
data=$TK_TMP/data
mkdir -p "$data"
# About 7 MB of text: three pieces of 3M tokens (tokenizer=bytes: a token a byte), train 0, 1
# and val 0. A shard is 1024 header bytes + 2 bytes an id: about 6 MB, six 1 MiB chunks.
"$PY" - "$data/corpus.txt" <<'PY'
import random, sys
rng = random.Random(13)
words = ["tokfs", "shard", "chunk", "early", "read", "bytes", "verified", "the", "a", "of",
         "memmap", "trainer", "source", "pinned", "etag", "mtime", "deterministic"]
out, size = [], 0
while size < 7_000_000:
    line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 20))) + "\n"
    out.append(line)
    size += len(line)
open(sys.argv[1], "w").write("".join(out))
PY
opts_common="tokenizer=bytes,format=llmc,shard_size=3000000,prefetch=0,workers=2"

# ---- 1. early reads from a slow source ---------------------------------------------------
# 600 KB/s: shard 0's 3 MB of source take about 5 s; its first 1 MiB of ids needs about 0.5 MB.
NGINX_EXTRA_CONF='limit_rate 600k;'
nginx_start "$data"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
tk_mount "$NGINX_URL/corpus.txt" "$mnt" "cache_size=64M,cache_dir=$cache,$opts_common" first
cp "$mnt/train/shard_00000.bin" "$TK_TMP/first.bin"
size=$(stat -c %s "$TK_TMP/first.bin")
[ "$size" -gt $((4 << 20)) ] || tk_fail "shard 0 is $size bytes: expected several MiB"
tk_umount "$mnt"
shard_file=$(ls "$cache"/plan-*/shards/000000.bin)
rm -f "$shard_file"

tk_mount "$NGINX_URL/corpus.txt" "$mnt" "cache_size=64M,cache_dir=$cache,$opts_common" second
"$PY" - "$mnt" "$TK_TMP/first.bin" <<'PY' || tk_fail "early read"
import json, os, sys, time
mnt, first = sys.argv[1], sys.argv[2]
path = mnt + "/train/shard_00000.bin"
def status():
    return json.load(open(mnt + "/.tokfs/status.json"))
def state(doc):
    return doc["shards"][0]["state"]
before = status()
assert state(before) in ("remote", "evicted"), state(before)  # not cached: its file is gone
assert before["shards"][0]["bytes"] == os.path.getsize(first), "size known from the catalog"
fd = os.open(path, os.O_RDONLY)
# No read-ahead: the kernel asks for exactly the bytes read (a read-ahead window reaching the
# second MiB would make this read wait for it).
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
data = os.pread(fd, 1 << 20, 0)
after = status()
os.close(fd)
want = open(first, "rb").read()
assert len(data) == 1 << 20, len(data)
assert data == want[: 1 << 20], "first MiB differs from the first make"
print("first MiB read; shard 0 is then", state(after), "early_reads", after["early_reads"])
assert state(after) == "materializing", "the first MiB came only after the build ended"
assert after["early_reads"] >= 1, after["early_reads"]
deadline = time.time() + 120
while state(status()) != "cached":
    assert time.time() < deadline, "shard 0 never became cached"
    time.sleep(0.1)
whole = open(path, "rb").read()
assert whole == want, "the re-made shard differs from the first make"
PY
tk_umount "$mnt"
nginx_stop

# ---- 2. a source changed where its pin cannot see ------------------------------------------
local_src=$TK_TMP/local/corpus.txt
mkdir -p "$TK_TMP/local"
cp "$data/corpus.txt" "$local_src"
mnt2=$TK_TMP/mnt2
cache2=$TK_TMP/cache2
tk_mount "$local_src" "$mnt2" "cache_size=64M,cache_dir=$cache2,$opts_common" local1
cp "$mnt2/train/shard_00000.bin" "$TK_TMP/local_first.bin"
tk_umount "$mnt2"
rm -f "$(ls "$cache2"/plan-*/shards/000000.bin)"
# Change one byte of the source at 1.7 MB (shard byte 1024 + 2 + 2 x 1.7M: in chunk 4 of the
# shard, 0-based 3), same size, mtime put back.
"$PY" - "$local_src" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(1_700_000)
    b = f.read(1)
    f.seek(1_700_000)
    f.write(bytes([ord("Z") if b != b"Z" else ord("Y")]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
tk_mount "$local_src" "$mnt2" "cache_size=64M,cache_dir=$cache2,$opts_common" local2
"$PY" - "$mnt2" "$TK_TMP/local_first.bin" <<'PY' || tk_fail "changed source"
import errno, json, os, sys
mnt, first = sys.argv[1], sys.argv[2]
path = mnt + "/train/shard_00000.bin"
want = open(first, "rb").read()
change = 1024 + 2 + 2 * 1_700_000
chunk = 1 << 20
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
# the chunks before the change: the first make's bytes
good_end = change // chunk * chunk
for off in range(0, good_end, chunk):
    data = os.pread(fd, chunk, off)
    assert data == want[off : off + chunk], "bytes before the change differ at %d" % off
# the chunk holding it, and one after: EIO
for off in (good_end, good_end + chunk):
    try:
        os.pread(fd, 4096, off)
    except OSError as e:
        assert e.errno == errno.EIO, e
    else:
        raise AssertionError("a read at %d past the change was answered" % off)
os.close(fd)
doc = json.load(open(mnt + "/.tokfs/status.json"))
assert doc["shards"][0]["state"] != "cached", doc["shards"][0]
assert doc["shards"][0]["error"] == "EIO", doc["shards"][0]
print("before the change: right bytes; at and after: EIO;", doc["last_error"])
PY
tk_umount "$mnt2"
grep -q "train/shard_00000.bin re-made differs from the first time in bytes" "$TK_TMP/local2.log" ||
    tk_fail "no log line naming the re-made shard and its bytes"
tk_done
