#!/usr/bin/env bash
# The warm read path without FUSE passthrough (passthrough=0, pinned here: the default, auto, takes
# passthrough as root, which test_passthrough.sh checks; docs/performance.md, "Warm path"): once a
# shard has been read, opening and reading it again never reaches the daemon — no OPEN, FLUSH or
# RELEASE per open (the kernel opens files itself after the first OPEN's ENOSYS), no READ for cached
# pages — counted in the daemon's FUSE debug log (-d). Also: the bytes equal the documents' ids
# (tokenizer=bytes) cold and warm; status.json and dataset_metadata.json are fresh at every open
# while a file opened earlier keeps reading the text it was opened with; writes fail with EROFS; a
# shard found empty is ENOENT to stat and to open even though opens no longer ask the daemon; the
# tokenizer file at the root is served; read-ahead is what read_ahead_kb= asked (when root can write
# it).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup

corpus=$TK_TMP/corpus
mkdir -p "$corpus"
"$PY" - "$corpus" <<'PY'
import json, random, sys
import numpy as np
d = sys.argv[1]
rng = random.Random(13)
words = ["tokfs", "page", "cache", "kernel", "shard", "read", "warm", "the", "of", "é", "日本"]
ids = []
with open(d + "/c.jsonl", "w") as f:
    for _ in range(400):
        doc = " ".join(rng.choice(words) for _ in range(rng.randint(20, 3000)))
        f.write(json.dumps({"text": doc}) + "\n")
        ids.extend(doc.encode())
        ids.append(256)
np.array(ids, dtype=np.uint16).tofile(d + "/expected.u16")
PY

mnt=$TK_TMP/mnt
log=$TK_TMP/warm.log
mkdir -p "$mnt"
for bad in x -1 1048577 ""; do
    out=$("$TOKFS" "$corpus/c.jsonl" "$mnt" -o "cache_size=64M,read_ahead_kb=$bad" 2>&1) &&
        tk_fail "read_ahead_kb=$bad accepted"
    grep -q "bad read_ahead_kb=$bad: give KiB" <<<"$out" || tk_fail "read_ahead_kb=$bad: $out"
done
mountpoint -q "$mnt" && tk_fail "a refused option mounted"
tk_mount_debug "$corpus/c.jsonl" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,shard_size=400000,tokenizer=bytes,prefetch=0,read_ahead_kb=2016,passthrough=0" warm

tk_log "read-ahead as asked"
dev=$(awk -v m="$mnt" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
ra=/sys/class/bdi/$dev/read_ahead_kb
# The daemon sets it (and logs it) just after the mount appears: give it a moment.
for _ in $(seq 1 100); do
    grep -q "read-ahead 2016 KiB\|read_ahead_kb=2016 not set" "$log" && break
    sleep 0.05
done
if [ -w "$ra" ]; then
    [ "$(cat "$ra")" = 2016 ] || tk_fail "read_ahead_kb is $(cat "$ra"), asked 2016"
    grep -q "read-ahead 2016 KiB" "$log" || tk_fail "no log line for the read-ahead"
else
    grep -q "read_ahead_kb=2016 not set" "$log" || tk_fail "read-ahead not set and not logged"
fi

tk_log "status.json and dataset_metadata.json: fresh at every open, one text per open file"
"$PY" - "$mnt" <<'PY'
import json, os, sys
mnt = sys.argv[1]
status = os.path.join(mnt, ".tokfs", "status.json")
meta = os.path.join(mnt, "dataset_metadata.json")
held = open(status)           # opened before the change below
before = held.read()
st_before = json.loads(before)
held_meta = open(meta)
meta_before = json.loads(held_meta.read())
# unchanged document: the same inode (its cached pages stay good)
assert os.stat(status).st_ino == os.fstat(held.fileno()).st_ino
# make a shard nobody read yet: status (materializations, that shard's state) and metadata
# (its token count) change
n = len(os.listdir(os.path.join(mnt, "train")))
unread = [s for s in st_before["shards"] if s["state"] != "cached"]
assert unread, "every shard already made: nothing to change status with"
name = unread[0]["name"]
with open(os.path.join(mnt, name), "rb") as f:
    f.read(1)
# The read is answered once the shard is written; it is cached (synced, named) just after.
import time
for _ in range(200):
    after = json.load(open(status))
    if [s["state"] for s in after["shards"] if s["name"] == name] == ["cached"]:
        break
    time.sleep(0.05)
assert after["materializations"] == st_before["materializations"] + 1, (st_before["materializations"], after["materializations"])
assert [s["state"] for s in after["shards"] if s["name"] == name] == ["cached"], name
assert os.stat(status).st_ino != os.fstat(held.fileno()).st_ino, "a changed status.json kept its inode"
assert os.path.getsize(status) == len(open(status).read().encode())
held.seek(0)
assert held.read() == before, "an open status.json changed under its reader"
meta_after = json.load(open(meta))
assert meta_after != meta_before, "dataset_metadata.json did not change after a shard was made"
held_meta.seek(0)
assert json.loads(held_meta.read()) == meta_before
# many opens while nothing changes: each one parses, all equal
texts = {open(status).read() for _ in range(50)}
assert len(texts) == 1, len(texts)
PY

tk_log "cold then warm reads: the documents' ids, and the warm ones never reach the daemon"
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
shard=$mnt/train/shard_00001.bin
ino=$(stat -c %i "$shard")
cat "$shard" >/dev/null
[ "$(tk_ops "$log" READ "$ino")" -gt 0 ] || tk_fail "the first read sent no READ for inode $ino"
reads=$(tk_ops "$log" READ) opens=$(tk_ops "$log" OPEN) flushes=$(tk_ops "$log" FLUSH) releases=$(tk_ops "$log" RELEASE)
[ "$opens" -le 1 ] || tk_fail "$opens OPEN requests: the kernel asks at every open (ENOSYS not taken)"
"$PY" - "$mnt" "$corpus/expected.u16" <<'PY'
import glob, os, sys
import numpy as np
mnt, expected = sys.argv[1], np.fromfile(sys.argv[2], dtype=np.uint16)
paths = sorted(glob.glob(mnt + "/train/*.bin")) + sorted(glob.glob(mnt + "/val/*.bin"))
for _ in range(3):  # open, read whole, close: as a reader re-opening every epoch
    got = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in paths])
    assert np.array_equal(got, expected), "warm bytes differ from the documents' ids"
rng = np.random.default_rng(0)
for i in range(200):  # nanoGPT's get_batch: a new memmap per batch
    p = paths[i % len(paths)]
    data = np.memmap(p, dtype=np.uint16, mode="r")
    start = sum(os.path.getsize(q) for q in paths[:paths.index(p)]) // 2
    for j in rng.integers(0, len(data) - 65, size=4):
        assert np.array_equal(data[j:j + 65], expected[start + j:start + j + 65]), (p, j)
    del data
PY
[ "$(tk_ops "$log" READ)" -eq "$reads" ] || tk_fail "warm reads sent $(( $(tk_ops "$log" READ) - reads )) READ requests"
[ "$(tk_ops "$log" OPEN)" -eq "$opens" ] || tk_fail "warm opens sent OPEN requests"
[ "$(tk_ops "$log" FLUSH)" -eq "$flushes" ] || tk_fail "warm closes sent FLUSH requests"
[ "$(tk_ops "$log" RELEASE)" -eq "$releases" ] || tk_fail "warm closes sent RELEASE requests"
[ "$releases" -eq 0 ] || tk_fail "$releases RELEASE requests: files opened by the kernel need none"

tk_log "writes: EROFS"
"$PY" - "$mnt" <<'PY'
import errno, os, sys
mnt = sys.argv[1]
targets = [(os.path.join(mnt, "train", "shard_00000.bin"), os.O_WRONLY),
           (os.path.join(mnt, "train", "shard_00000.bin"), os.O_RDWR),
           (os.path.join(mnt, "train", "shard_00000.bin"), os.O_RDONLY | os.O_TRUNC),
           (os.path.join(mnt, ".tokfs", "status.json"), os.O_WRONLY),
           (os.path.join(mnt, "train", "new.bin"), os.O_WRONLY | os.O_CREAT)]
for path, flags in targets:
    try:
        os.close(os.open(path, flags, 0o644))
        sys.exit("%s opened with flags %o" % (path, flags))
    except OSError as e:
        assert e.errno == errno.EROFS, (path, flags, e)
for f in (lambda: os.unlink(os.path.join(mnt, "train", "shard_00000.bin")),
          lambda: os.mkdir(os.path.join(mnt, "x")),
          lambda: os.truncate(os.path.join(mnt, "train", "shard_00000.bin"), 0)):
    try:
        f()
        sys.exit("a change to the tree succeeded")
    except OSError as e:
        assert e.errno == errno.EROFS, e
PY
tk_umount "$mnt"

tk_log "a shard found empty: ENOENT to stat and to open, with opens no longer asking"
jdir=$TK_TMP/jsonl
mkdir -p "$jdir"
"$PY" - "$jdir" <<'PY'
import json, sys
docs = ["short one " * 20, "long " * 6000, "short two " * 20, "tail " * 700]
with open(sys.argv[1] + "/c.jsonl", "w") as f:
    for doc in docs:
        f.write(json.dumps({"text": doc}) + "\n")
PY
jmnt=$TK_TMP/jmnt
# Both modes: passthrough=0 (the kernel opens files itself) and the default (auto: opens ask the
# daemon when passthrough is taken).
for pt in 0 auto; do
    tk_mount "$jdir/c.jsonl" "$jmnt" "cache_size=16M,cache_dir=$TK_TMP/cache-j-$pt,shard_size=4000,prefetch=0,tokenizer=bytes,passthrough=$pt" "jsonl-$pt"
"$PY" - "$jmnt" <<'PY'
import glob, os, sys
paths = sorted(glob.glob(sys.argv[1] + "/train/shard_*.bin"))
open(paths[0], "rb").read()  # passthrough=0: from now on the kernel opens files itself
hidden = 0
for p in paths[1:]:
    try:
        os.stat(p)  # makes the shard
        continue
    except FileNotFoundError:
        hidden += 1
    for f in (os.stat, lambda q: os.close(os.open(q, os.O_RDONLY)), open):
        try:
            f(p)
            sys.exit(p + " is empty yet opens")
        except FileNotFoundError:
            pass
assert hidden, "no empty piece: the case was not exercised"
PY
    tk_umount "$jmnt"
done

tk_log "the tokenizer file at the root (gpt2's tokenizer.json), read twice"
tmnt=$TK_TMP/tmnt
tk_mount "$jdir/c.jsonl" "$tmnt" "cache_size=16M,cache_dir=$TK_TMP/cache-t,shard_size=4000,prefetch=0" gpt2
"$PY" - "$tmnt" <<'PY'
import json, sys
mnt = sys.argv[1]
open(mnt + "/train/shard_00000.bin", "rb").read(1)
a = open(mnt + "/tokenizer.json", "rb").read()
b = open(mnt + "/tokenizer.json", "rb").read()
t = json.loads(a)
assert a == b and len(t["model"]["vocab"]) + len(t["added_tokens"]) == 50257
PY
tk_umount "$tmnt"
tk_done
