#!/usr/bin/env bash
# The hard cap: a corpus at least 5x cache_size, every shard read twice in random order while
# du of the cache dir is sampled continuously. du never exceeds cache_size; both passes give
# the expected stream; evictions happened; the second pass re-makes evicted shards identically.
# Also: cache_size smaller than one shard is a clear ENOSPC, not a hang.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 8 --docs-per-file 900 --seed 7
nginx_start "$corpus"
# The daemon under ASan keeps freed memory in a quarantine of 256 MB by default: 16 MB bounds what
# the memory check below must allow for it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
corpus_tokens=$(( $(stat -c %s "$corpus/expected.u16") / 2 ))
# ~2.5 MB of shards in all; cap ~1/6 of that, shards ~1/20.
cap=$(( corpus_tokens * 2 / 6 ))
shard_size=$(( corpus_tokens / 20 ))
tk_log "corpus $corpus_tokens tokens, cache_size $cap bytes, shard_size $shard_size tokens"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=$cap,cache_dir=$cache,shard_size=$shard_size,workers=2,prefetch=1,tokenizer=bytes"

"$PY" - "$mnt" "$cache" "$cap" "$corpus/expected.u16" "${TK_PIDS[$mnt]}" <<'PY'
import glob, os, random, subprocess, sys, threading, time
import numpy as np
mnt, cache, cap, expected_path, daemon = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def rss_kib():
    for line in open("/proc/%s/status" % daemon):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
expected = np.fromfile(expected_path, dtype=np.uint16)

peak = [0, 0]  # peak du, samples
stop = threading.Event()
def du(path, seen=None):
    """What du -sB1 counts: allocated blocks of every entry, the directory itself included,
    each inode once. A walk is not a snapshot: a shard renamed from tmp/ into shards/ while we
    walk would be seen twice, and one evicted from shards/ after we counted it could be counted
    together with a temp file that only grew after the eviction. So, like tokfs's own order of
    events (evict, then write into tmp/, then rename into shards/), walk tmp/ before the rest and
    count inodes once: the sum is then never more than what was on disk at one moment."""
    seen = set() if seen is None else seen
    st = os.lstat(path)
    total = st.st_blocks * 512
    seen.add((st.st_dev, st.st_ino))
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name != "tmp")
    except FileNotFoundError:
        return 0
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                total += du(e.path, seen)
                continue
            est = e.stat(follow_symlinks=False)
            if (est.st_dev, est.st_ino) not in seen:
                seen.add((est.st_dev, est.st_ino))
                total += est.st_blocks * 512
        except FileNotFoundError:
            pass  # evicted or renamed while we looked
    return total
def sample():
    # Continuous sampling (a few ms apart), and once with du itself to check du() agrees.
    while not stop.is_set():
        peak[0] = max(peak[0], du(cache))
        peak[1] += 1
        time.sleep(0.002)
# daemon=True: a failed assertion below must end the script, not wait forever on the sampler.
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()

names = [("train", f) for f in sorted(os.listdir(os.path.join(mnt, "train")))] + \
        [("val", f) for f in sorted(os.listdir(os.path.join(mnt, "val")))]
assert len(names) >= 15, names
def read_all(order):
    got = {}
    for i in order:
        split, f = names[i]
        got[i] = np.array(np.memmap(os.path.join(mnt, split, f), dtype=np.uint16, mode="r"))
    return np.concatenate([got[i] for i in range(len(names)) if len(got[i])])
rng = random.Random(3)
first = read_all(rng.sample(range(len(names)), len(names)))
rss_first = rss_kib()
second = read_all(rng.sample(range(len(names)), len(names)))
# Hold every shard open at once too: memory must not grow with open files either.
held = [open(os.path.join(mnt, split, f), "rb") for split, f in names for _ in range(4)]
for fh in held:
    fh.read(4096)
rss_second = rss_kib()
for fh in held:
    fh.close()
print("daemon RSS after pass 1: %d KiB, after pass 2 + %d open files: %d KiB" % (rss_first, len(held), rss_second))
# Under ASan (run-tests.sh's second pass) freed blocks wait in its quarantine, 16 MB here (set
# before the mount), before they are reused: RSS can grow by that much more without a leak.
bound = 8192 + (20480 if os.environ.get("TOKFS_SANITIZED") == "1" else 0)
assert rss_second <= rss_first + bound, "daemon memory grew by %d KiB (bound %d)" % (rss_second - rss_first, bound)
stop.set()
sampler.join()
assert np.array_equal(first, expected), "first pass differs from the expected stream"
assert np.array_equal(second, expected), "second pass differs from the expected stream"
print("du peak %d of cap %d over %d samples" % (peak[0], cap, peak[1]))
assert peak[1] >= 5, "too few du samples"
real = int(subprocess.run(["du", "-sB1", cache], capture_output=True, text=True).stdout.split()[0])
assert real == du(cache), "du() %d disagrees with du %d" % (du(cache), real)
assert peak[0] <= cap, "du %d exceeded cache_size %d" % (peak[0], cap)
PY
ev=$(tk_status "$mnt" evictions)
[ "$ev" -gt 0 ] || tk_fail "no evictions with a corpus 5x the cap"
used=$(tk_status "$mnt" cache_bytes_used)
[ "$used" -le "$cap" ] || tk_fail "status reports $used bytes used over cap $cap"
tk_log "evictions: $ev"
tk_umount "$mnt"
du_after=$(du -sB1 "$cache" | cut -f1)
[ "$du_after" -le "$cap" ] || tk_fail "du $du_after over cap after unmount"

tk_log "remount with a smaller cap trims the cache at start"
small=$(( cap / 2 ))
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=$small,cache_dir=$cache,shard_size=$shard_size,tokenizer=bytes"
du_now=$(du -sB1 "$cache" | cut -f1)
[ "$du_now" -le "$small" ] || tk_fail "du $du_now over the new cap $small after remount"
tk_umount "$mnt"

tk_log "cache_size smaller than one shard: ENOSPC naming both sizes, no hang"
rm -rf "$cache"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=40K,cache_dir=$cache,shard_size=$shard_size,tokenizer=bytes" tiny
if timeout 60 cat "$mnt/train/shard_00000.bin" >/dev/null 2>"$TK_TMP/cat.err"; then
    tk_fail "reading a shard larger than cache_size succeeded"
fi
grep -q "No space left on device" "$TK_TMP/cat.err" || tk_fail "expected ENOSPC, got: $(cat "$TK_TMP/cat.err")"
grep -q "cache_size is 40960" "$TK_TMP/tiny.log" || tk_fail "log does not name cache_size: $(cat "$TK_TMP/tiny.log")"
tk_umount "$mnt"
echo PASS
