#!/usr/bin/env bash
# passthrough=auto (the default) and 1 (docs/performance.md, "Warm path"; fs/passthrough.c): a
# cached shard's data file is handed to the kernel as a FUSE passthrough backing file, so its reads and mmaps never reach
# the daemon. Checked, counting requests in the daemon's FUSE debug log (-d):
# - every shard's bytes, by read() and by np.memmap, equal a passthrough=0 mount's;
# - a shard's first open (not cached yet) is in cached mode and reads through the daemon; once it
#   is cached, an open while that cached-mode open is live stays in cached mode (the kernel
#   refuses to mix the two on one inode), and the first open after it is closed is passthrough:
#   every open sends an OPEN, and a passthrough file sends no READ even with its page cache
#   dropped (POSIX_FADV_DONTNEED), where a cached-mode file sends READs again;
# - format=llmc and npy (headers in the cache file) are passthrough too, bytes right;
# - format=megatron (.bin and .idx share one cache file) is never passthrough, bytes right;
# - a shard held open in passthrough is not evicted while shards nobody holds can go; when every
#   cached shard is held, the least recently read goes, and its bytes stay right through the
#   open file and its mmap, and a new open of it while held too;
# - 6 threads opening, reading and mapping shards at random under that cap (opens of both modes,
#   evictions, re-makes): bytes right and no error (the kernel answers EIO to a mode mix-up);
# - passthrough=0: the kernel still opens files itself (one OPEN per mount, no RELEASE);
# - the default (auto) turns it on by itself as root (the main mount below gives no option);
# - passthrough=1 without CAP_SYS_ADMIN (mount.fuse3 -o drop_privileges): one warning line, bytes
#   right as with passthrough=0; the default there: one information line, bytes right;
# - passthrough=2 is refused.
# Skips (77) when the kernel does not offer passthrough or the daemon is not root.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup


corpus=$TK_TMP/corpus
mkdir -p "$corpus"
"$PY" - "$corpus" <<'PY'
import json, random, sys
rng = random.Random(37)
words = ["tokfs", "passthrough", "backing", "kernel", "shard", "read", "mmap", "the", "é", "日本"]
with open(sys.argv[1] + "/c.jsonl", "w") as f:
    for _ in range(400):
        f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 3000)))}) + "\n")
PY
opts="tokenizer=bytes,shard_size=200000,prefetch=0"
mnt=$TK_TMP/mnt
mkdir -p "$mnt"

out=$("$TOKFS" "$corpus/c.jsonl" "$mnt" -o "cache_size=64M,passthrough=2" 2>&1) &&
    tk_fail "passthrough=2 accepted"
grep -q "bad passthrough=2: give auto, 0 or 1" <<<"$out" || tk_fail "passthrough=2: $out"

tk_log "passthrough=0: the reference bytes, and opens as before (the kernel opens files itself)"
ref_mnt=$TK_TMP/ref-mnt
tk_mount_debug "$corpus/c.jsonl" "$ref_mnt" "cache_size=64M,cache_dir=$TK_TMP/cache-ref,$opts,passthrough=0" ref
tk_copy_shards "$ref_mnt" "$TK_TMP/ref"
tk_copy_shards "$ref_mnt" "$TK_TMP/ref2"
diff -r "$TK_TMP/ref" "$TK_TMP/ref2" >/dev/null || tk_fail "passthrough=0: two reads differ"
nshards=$(ls "$TK_TMP/ref/train" | wc -l)
[ "$nshards" -ge 4 ] || tk_fail "only $nshards train shards: the checks below need 4"
[ "$(tk_ops "$TK_TMP/ref.log" OPEN)" -le 1 ] || tk_fail "passthrough=0: the kernel asks at every open"
[ "$(tk_ops "$TK_TMP/ref.log" RELEASE)" -eq 0 ] || tk_fail "passthrough=0: RELEASE requests"
grep -q "passthrough" "$TK_TMP/ref.log" && tk_fail "passthrough=0 logged about passthrough"
tk_umount "$ref_mnt"

tk_log "the default (passthrough=auto): negotiated"
log=$TK_TMP/pt.log
tk_mount_debug "$corpus/c.jsonl" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,$opts" pt
if grep -q "passthrough (auto) not used" "$log"; then
    tk_skip "$(grep -o 'passthrough (auto) not used: .*' "$log" | head -n 1)"
fi
grep -q "passthrough: on" "$log" || tk_fail "no log line saying passthrough is on"

# check.py LOG MNT REF STEP: the checks of one step, counting READ and OPEN requests of an inode
# in the daemon's -d log (each request is logged before it is answered, so once a read(2)
# returns, its READs are in the log).
cat >"$TK_TMP/check.py" <<'PY'
import json, os, re, sys, time
import numpy as np
log, mnt, ref, step = sys.argv[1:5]

def count(op, ino):
    with open(log, errors="replace") as f:
        return len(re.findall(r"opcode: %s \(\d+\), nodeid: %d," % (op, ino), f.read()))

def read_fd(fd, drop=True):
    if drop:  # a cached-mode file must then ask the daemon again; a passthrough one never does
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    size = os.fstat(fd).st_size
    return os.pread(fd, size + 1, 0)

def expect(cond, msg):
    if not cond:
        print("FAIL:", msg, file=sys.stderr)
        sys.exit(1)

def want(rel):
    with open(os.path.join(ref, rel), "rb") as f:
        return f.read()

def status():
    with open(os.path.join(mnt, ".tokfs", "status.json")) as f:
        return json.load(f)

def shard_state(rel):
    return next(s["state"] for s in status()["shards"] if s["name"] == rel)

def settled(rel):
    """Wait while rel is still being made: a first read is answered once its bytes are written,
    and the shard is cached (synced, named, evictable) just after."""
    for _ in range(200):
        if shard_state(rel) != "materializing":
            return
        time.sleep(0.05)

def open_read(rel, drop=True):
    """Open, read the whole file with the page cache dropped, close: (bytes, READs, OPENs)."""
    path = os.path.join(mnt, rel)
    ino = os.stat(path).st_ino
    r0, o0 = count("READ", ino), count("OPEN", ino)
    fd = os.open(path, os.O_RDONLY)
    try:
        data = read_fd(fd, drop)
    finally:
        os.close(fd)
    return data, count("READ", ino) - r0, count("OPEN", ino) - o0

def open_read_until(rel, done, what):
    """open_read (page cache dropped) until done(reads): RELEASE is asynchronous, so the mode of
    an open that depends on earlier opens having been released may take a few tries. Every
    try's bytes must be right. Returns the last try's (READs, OPENs)."""
    for attempt in range(50):
        data, reads, opens = open_read(rel)
        expect(data == want(rel), what + ": wrong bytes")
        if done(reads):
            break
        time.sleep(0.05)
    return reads, opens

if step == "modes":
    rel = "train/shard_00002.bin"
    path = os.path.join(mnt, rel)
    expect(shard_state(rel) != "cached", "shard 2 cached before its first read")
    # First open: not cached yet (a stat would make it: no stat before), so cached mode; the
    # open starts the build, the read waits for it.
    fd1 = os.open(path, os.O_RDONLY)
    ino = os.fstat(fd1).st_ino
    r0 = count("READ", ino)
    expect(read_fd(fd1, drop=False) == want(rel), "shard 2, first read: wrong bytes")
    expect(count("READ", ino) > r0, "shard 2, first read: no READ")
    settled(rel)
    expect(shard_state(rel) == "cached", "shard 2 not cached after its first read")
    # Cached now, but a cached-mode open is live: the next one must be cached mode too.
    o0, r0 = count("OPEN", ino), count("READ", ino)
    fd2 = os.open(path, os.O_RDONLY)
    expect(count("OPEN", ino) == o0 + 1, "the second open sent no OPEN")
    expect(read_fd(fd2) == want(rel), "shard 2, second open: wrong bytes")
    expect(count("READ", ino) > r0,
           "an open while a cached-mode open is live read without READs (passthrough?)")
    os.close(fd2)
    os.close(fd1)
    # Nothing of it open: passthrough (once the cached-mode opens' RELEASEs have arrived).
    reads, opens = open_read_until(rel, lambda reads: reads == 0, "shard 2, third open")
    expect(opens == 1, "an open sent %d OPENs" % opens)
    expect(reads == 0, "opens after the cached-mode ones closed still read through the daemon")
    # Once more: passthrough, no READ; the open still counts as the shard's read (hits).
    hits = status()["hits"]
    data, reads, opens = open_read(rel)
    expect(data == want(rel) and reads == 0 and opens == 1, "fourth open: %d READs" % reads)
    expect(status()["hits"] > hits, "a passthrough open did not count as a hit")
    print("modes ok")

elif step == "all":
    rels = sorted("%s/%s" % (d, n) for d in ("train", "val") for n in os.listdir(os.path.join(ref, d)))
    for rel in rels:      # the first read of each: cached mode, makes it
        data, _, _ = open_read(rel, drop=False)
        expect(data == want(rel), rel + ": first read: wrong bytes")
    for rel in rels:      # every later open: passthrough, by read() and by mmap
        path = os.path.join(mnt, rel)
        ino = os.stat(path).st_ino
        reads, _ = open_read_until(rel, lambda reads: reads == 0, rel)
        expect(reads == 0, rel + ": a warm read sent READs")
        r0 = count("READ", ino)
        m = np.memmap(path, dtype=np.uint16, mode="r")
        expect(m.tobytes() == want(rel), rel + ": np.memmap: wrong bytes")
        k = np.random.default_rng(7).integers(0, max(1, len(m) - 1025), 12)
        w = np.frombuffer(want(rel), dtype=np.uint16)
        expect(all((m[i:i + 1025] == w[i:i + 1025]).all() for i in k), rel + ": windows")
        del m
        expect(count("READ", ino) == r0, rel + ": np.memmap sent READs")
    print("all ok: %d files" % len(rels))

elif step == "formats":  # llm.c / .npy: the header is in the cache file, passthrough too
    rels = sorted("train/" + n for n in os.listdir(os.path.join(ref, "train")))
    for rel in rels:
        data, _, _ = open_read(rel, drop=False)
        expect(data == want(rel), rel + ": first read: wrong bytes")
    for rel in rels:
        reads, _ = open_read_until(rel, lambda reads: reads == 0, rel)
        expect(reads == 0, rel + ": warm reads sent READs")
    print("formats ok: %d files" % len(rels))

elif step == "megatron":
    rels = sorted("train/" + n for n in os.listdir(os.path.join(ref, "train")))
    for rel in rels + rels:
        data, _, _ = open_read(rel)
        expect(data == want(rel), rel + ": wrong bytes")
        if rel.endswith(".bin"):
            m = np.memmap(os.path.join(mnt, rel), dtype=np.uint16, mode="r")
            expect(m.tobytes() == want(rel), rel + ": np.memmap: wrong bytes")
            del m
    print("megatron ok: %d files" % len(rels))

elif step == "evict":
    def hold(rel):                                     # a passthrough open, kept
        path = os.path.join(mnt, rel)
        for attempt in range(50):
            fd = os.open(path, os.O_RDONLY)
            ino, r0 = os.fstat(fd).st_ino, count("READ", os.fstat(fd).st_ino)
            if read_fd(fd) == want(rel) and count("READ", ino) == r0:
                return fd
            os.close(fd)
            time.sleep(0.05)
        expect(False, rel + ": never opened in passthrough")
    held = "train/shard_00000.bin"
    data, _, _ = open_read(held, drop=False)           # made; cached-mode open, closed
    expect(data == want(held), "held shard: first read")
    path = os.path.join(mnt, held)
    fd = hold(held)
    m = np.memmap(path, dtype=np.uint16, mode="r")
    others = sorted(n for n in os.listdir(os.path.join(ref, "train")) if n != "shard_00000.bin")
    for n in others:                                   # the cap holds two shards: evicts
        rel = "train/" + n
        data, _, _ = open_read(rel, drop=False)
        expect(data == want(rel), rel + ": wrong bytes under the cap")
        settled(rel)  # cached, so the next make can evict it rather than the held one
    # the held shard is the least recently read, but shards nobody holds go first
    expect(shard_state(held) == "cached", "a held shard was evicted while shards nobody holds could go")
    # hold the other cached shard too: the next build must evict a held one, the least
    # recently read (the first held), whose open file and mmap keep their bytes
    second = "train/" + others[-1]
    expect(shard_state(second) == "cached", second + " is not cached after its read")
    fd2 = hold(second)
    data, _, _ = open_read("train/" + others[0], drop=False)
    expect(data == want("train/" + others[0]), others[0] + ": wrong bytes with every cached shard held")
    settled("train/" + others[0])
    expect(shard_state(second) == "cached", "the more recently read held shard was evicted")
    os.close(fd2)
    st = status()
    expect(st["evictions"] >= len(others) - 1, "only %d evictions" % st["evictions"])
    expect(shard_state(held) != "cached", "with every cached shard held, the least recently read one was never evicted: the cap is too large for this check")
    expect(read_fd(fd) == want(held), "held shard after its eviction: wrong bytes")
    expect(m.tobytes() == want(held), "held shard's mmap after its eviction: wrong bytes")
    data, reads, opens = open_read(held)               # another open while held: same backing
    expect(data == want(held) and reads == 0, "a new open of the held, evicted shard")
    del m
    os.close(fd)
    # let go: made again on the next read
    reads, _ = open_read_until(held, lambda reads: reads > 0, "evicted shard, after it was let go")
    expect(reads > 0, "the evicted shard's backing was never let go")
    print("evict ok: %d evictions" % status()["evictions"])

elif step == "stress":  # threads opening, reading, mapping under evictions: both modes mix
    import random, threading
    rels = sorted("train/" + n for n in os.listdir(os.path.join(ref, "train")))
    wants = {rel: want(rel) for rel in rels}
    errors = []
    def worker(seed):
        rng = random.Random(seed)
        for _ in range(60):
            rel = rng.choice(rels)
            path, w = os.path.join(mnt, rel), wants[rel]
            off = rng.randrange(max(1, len(w) - 4096))
            try:
                k = rng.random()
                if k < 0.4:
                    with open(path, "rb") as f:
                        ok = f.read() == w
                elif k < 0.7:
                    m = np.memmap(path, dtype=np.uint8, mode="r")
                    ok = bytes(m[off:off + 4096]) == w[off:off + 4096]
                    del m
                else:
                    fd = os.open(path, os.O_RDONLY)
                    ok = os.pread(fd, 4096, off) == w[off:off + 4096]
                    os.close(fd)
                if not ok:
                    errors.append(rel + ": wrong bytes")
            except OSError as e:  # e.g. EIO if the kernel were handed mixed modes
                errors.append("%s: %s" % (rel, e))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not errors, "%d errors: %s" % (len(errors), errors[:5]))
    print("stress ok: %d evictions" % status()["evictions"])
PY

tk_log "cached mode first, passthrough once cached and no cached-mode open is live"
"$PY" "$TK_TMP/check.py" "$log" "$mnt" "$TK_TMP/ref" modes
tk_log "every shard, read() and np.memmap: the reference bytes; warm opens send OPEN, never READ"
"$PY" "$TK_TMP/check.py" "$log" "$mnt" "$TK_TMP/ref" all
opens=$(tk_ops "$log" OPEN)
releases=$(tk_ops "$log" RELEASE)
[ "$releases" -le "$opens" ] || tk_fail "$releases RELEASEs for $opens OPENs"
tk_umount "$mnt"
grep -q "passthrough: [1-9][0-9]* opens passthrough" "$log" || tk_fail "no passthrough open counted"

for fmt in llmc npy; do
    tk_log "format=$fmt: the header is in the cache file: passthrough, bytes right"
    fmnt=$TK_TMP/mnt-$fmt
    tk_mount "$corpus/c.jsonl" "$fmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-ref-$fmt,$opts,format=$fmt" "ref-$fmt"
    mkdir -p "$TK_TMP/ref-$fmt/train"
    cp "$fmnt"/train/shard_* "$TK_TMP/ref-$fmt/train/"
    tk_umount "$fmnt"
    tk_mount_debug "$corpus/c.jsonl" "$fmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-$fmt,$opts,format=$fmt,passthrough=1" "pt-$fmt"
    "$PY" "$TK_TMP/check.py" "$TK_TMP/pt-$fmt.log" "$fmnt" "$TK_TMP/ref-$fmt" formats
    tk_umount "$fmnt"
done

# dropped NAME OPTS: mount with mount.fuse3 -o drop_privileges (no CAP_SYS_ADMIN), log to
# NAME.log; every train shard must equal the passthrough=0 reference; unmount.
dropped() {
    local name=$1 extra=$2 dmnt=$TK_TMP/dmnt dpid f i
    mkdir -p "$dmnt"
    TK_MOUNTS+=("$dmnt")
    PATH=$(dirname "$TOKFS"):$PATH mount.fuse3 "tokfs#$corpus/c.jsonl" "$dmnt" -o \
        "drop_privileges,cache_size=64M,cache_dir=$TK_TMP/cache-$name,$opts,log_file=$TK_TMP/$name.log$extra" ||
        tk_fail "mount.fuse3 drop_privileges failed"
    TK_PIDS[$dmnt]=$(tk_status "$dmnt" pid)
    for f in "$TK_TMP"/ref/train/shard_*.bin; do
        cmp "$f" "$dmnt/train/$(basename "$f")" || tk_fail "$name, dropped privileges: $(basename "$f") differs"
    done
    # Not our child (mount.fuse3 started it): unmount and wait for the pid to go.
    dpid=${TK_PIDS[$dmnt]}
    fusermount3 -u "$dmnt"
    for i in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$dpid" 2>/dev/null && tk_fail "tokfs (pid $dpid) did not exit after unmount"
    unset "TK_PIDS[$dmnt]"
}
if command -v mount.fuse3 >/dev/null; then
    tk_log "passthrough=1 without CAP_SYS_ADMIN (mount.fuse3 drop_privileges): one warning, then as passthrough=0"
    dropped dropped ",passthrough=1"
    grep -q "warning: passthrough=1 not used: .*CAP_SYS_ADMIN" "$TK_TMP/dropped.log" ||
        tk_fail "no warning naming the missing capability: $(cat "$TK_TMP/dropped.log")"
    [ "$(grep -c passthrough "$TK_TMP/dropped.log")" -eq 1 ] || tk_fail "more than one passthrough line"
    tk_log "the default without CAP_SYS_ADMIN: one information line, then as passthrough=0"
    dropped dropped2 ""
    grep -q "info: passthrough (auto) not used: .*CAP_SYS_ADMIN" "$TK_TMP/dropped2.log" ||
        tk_fail "no information line naming the missing capability: $(cat "$TK_TMP/dropped2.log")"
    grep -q "warning" "$TK_TMP/dropped2.log" && tk_fail "the default warned: $(cat "$TK_TMP/dropped2.log")"
else
    tk_skip_later "mount.fuse3 missing: the no-CAP_SYS_ADMIN fallback not checked"
fi

tk_log "format=megatron: never passthrough (.idx shares the cache file), bytes right"
mmnt=$TK_TMP/mmnt
tk_mount "$corpus/c.jsonl" "$mmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-mref,$opts,format=megatron" mref
mkdir -p "$TK_TMP/mref/train"
cp "$mmnt"/train/shard_* "$TK_TMP/mref/train/"
tk_umount "$mmnt"
tk_mount_debug "$corpus/c.jsonl" "$mmnt" "cache_size=64M,cache_dir=$TK_TMP/cache-m,$opts,format=megatron,passthrough=1" megatron
"$PY" "$TK_TMP/check.py" "$TK_TMP/megatron.log" "$mmnt" "$TK_TMP/mref" megatron
tk_umount "$mmnt"
grep -q "passthrough: 0 opens passthrough" "$TK_TMP/megatron.log" ||
    tk_fail "megatron: $(grep 'opens passthrough' "$TK_TMP/megatron.log")"

tk_log "a shard held open in passthrough, evicted under the cap: still its bytes"
shard_bytes=$(stat -c %s "$TK_TMP/ref/train/shard_00000.bin")
cap=$(( shard_bytes * 5 / 2 + 65536 ))
emnt=$TK_TMP/emnt
tk_mount_debug "$corpus/c.jsonl" "$emnt" "cache_size=$cap,cache_dir=$TK_TMP/cache-e,$opts,passthrough=1" evict
"$PY" "$TK_TMP/check.py" "$TK_TMP/evict.log" "$emnt" "$TK_TMP/ref" evict
tk_log "6 threads opening, reading and mapping shards under that cap: bytes right, no error"
"$PY" "$TK_TMP/check.py" "$TK_TMP/evict.log" "$emnt" "$TK_TMP/ref" stress
tk_umount "$emnt"
tk_done
