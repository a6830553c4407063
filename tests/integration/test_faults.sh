#!/usr/bin/env bash
# Faults from the network, at mount level. tokfs reads a corpus from our own misbehaving HTTP
# server (tests/lib/faultserver.py: ranges, ETags, If-Match) with timeout=1s, retries=2 and
# small shards. For each fault — 500/503, a reset mid-body, a stall past the timeout, a body
# shorter or longer than its Content-Length, Range ignored, the file changed (content and ETag)
# between two requests of one shard — it checks:
#   - a fault that outlasts the retries: exactly 1 + retries attempts, spaced by exponential
#     backoff, then EIO for the reader and a log line naming the shard and the URL;
#   - a fault that does not: the reader never notices (byte-exact data);
#   - the daemon keeps serving other shards meanwhile (during a stall, too);
#   - once the fault clears, the same shard materializes byte-exact;
#   - a changed file is never mixed into a shard: EIO and "source changed upstream";
#   - after every fault: no temp file, no catalog record, no cached shard and no status.json
#     entry that disagrees with the source (tests/lib/shardcheck.py).
# Then rounds of random faults (seeded) while 4 readers read every shard: each read is EIO or
# byte-exact, never anything else, and all shards are exact once the faults stop.
# TOKFS_FAULT_ROUNDS: random-fault rounds (default 2; the full form is 20);
# TOKFS_FAULT_SEED: their seed (default 1).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
rounds=${TOKFS_FAULT_ROUNDS:-2}
seed=${TOKFS_FAULT_SEED:-1}
root=$TK_TMP/root
# Two corpora in one served tree: big files (cut at byte offsets: ranged GETs) and many small
# ones (several to a shard: one whole-file GET each).
"$PY" "$CORPUS_PY" make "$root/big" --files 2 --docs-per-file 600 --seed 21 >/dev/null
"$PY" "$CORPUS_PY" make "$root/small" --files 48 --docs-per-file 30 --seed 22 >/dev/null
"$PY" - "$root" <<'PY'
import os, sys
import numpy as np
root = sys.argv[1]
names = []
for sub in ("big", "small"):
    for line in open(os.path.join(root, sub, "list.txt")):
        line = line.strip()
        if line and not line.startswith("#"):
            names.append("%s/%s" % (sub, line))
open(os.path.join(root, "list.txt"), "w").write("\n".join(names) + "\n")
np.concatenate([np.fromfile(os.path.join(root, sub, "expected.u16"), dtype=np.uint16)
                for sub in ("big", "small")]).tofile(os.path.join(root, "expected.u16"))
PY

FS="$TOKFS_SOURCE_DIR/tests/lib/faultserver.py"
"$PY" "$FS" serve "$root" "$TK_TMP/fs.port" "$TK_TMP/faultserver.log" &
TK_PIDS[faultserver]=$!
for _ in $(seq 100); do [ -s "$TK_TMP/fs.port" ] && break; sleep 0.05; done
[ -s "$TK_TMP/fs.port" ] || tk_fail "faultserver did not start"
fs_url=http://127.0.0.1:$(cat "$TK_TMP/fs.port")
mnt=$TK_TMP/mnt
common="tokenizer=bytes,shard_size=20000,timeout=1s,retries=2,prefetch=0,workers=2"

tk_log "reference pass (no faults): every shard's size and the whole stream"
tk_mount "@$fs_url/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache-ref,$common" ref
"$PY" "$CORPUS_PY" verify "$mnt" "$root/expected.u16"
"$PY" "$TOKFS_SOURCE_DIR/tests/lib/shardcheck.py" counts "$mnt" "$TK_TMP/counts.json"
tk_umount "$mnt"

# A fresh cache dir: no catalog records, so only HTTP validators (If-Match, the ETag of each
# reply) stand between a changed file and a shard. The cap (about 40% of the corpus) makes the
# random rounds re-make evicted shards.
corpus_bytes=$(stat -c %s "$root/expected.u16")
cap=$(( corpus_bytes * 2 / 5 ))
cache=$TK_TMP/cache
tk_mount "@$fs_url/list.txt" "$mnt" "cache_size=$cap,cache_dir=$cache,$common" faults
cmp -s "$TK_TMP"/cache-ref/plan-*/plan.tsv "$cache"/plan-*/plan.tsv || tk_fail "the plan differs between two mounts of the same corpus"

# A hang anywhere fails the test (the bound is generous: the CI form takes ~20 s).
timeout -k 5 $(( 120 + 30 * rounds )) "$PY" - "$TOKFS_SOURCE_DIR/tests/lib" "$mnt" "$cache" "$fs_url" "$TK_TMP/faultserver.log" \
    "$TK_TMP/faults.log" "$TK_TMP/counts.json" "$root/expected.u16" "$rounds" "$seed" <<'PY'
import errno, json, os, random, re, sys, threading, time, urllib.parse, urllib.request
lib, mnt, cache, fs_url, fs_log, tokfs_log, counts_path, expected, rounds, seed = sys.argv[1:]
rounds, seed = int(rounds), int(seed)
sys.path.insert(0, lib)
import shardcheck as sc

ref = sc.Reference(expected, json.load(open(counts_path)))
pdir = sc.plan_dir(cache)
sources, pieces, ntrain = sc.read_plan(pdir)
RETRIES = 2

def name(i):
    return sc.shard_name(i, ntrain)

def src_path(s):
    return urllib.parse.urlsplit(sources[s]["url"]).path.lstrip("/")

def ctl(cmd, **kw):
    q = urllib.parse.urlencode(kw)
    with urllib.request.urlopen("%s/__ctl/%s?%s" % (fs_url, cmd, q), timeout=10) as r:
        return json.loads(r.read())

def read(i):
    """0 when shard i reads byte-exact, else the errno, or 'MISMATCH'."""
    # open, fstat (makes the shard when its size is unknown), read to the end: one build
    # attempt per call (Python's f.read() would ignore a failed fstat and try again in read).
    try:
        fd = os.open(os.path.join(mnt, name(i)), os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read through tokfs, not the page cache
            chunks, got = [], 0
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            data = b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as e:
        return e.errno
    if len(data) != size:
        return "MISMATCH"
    return 0 if data == ref.bytes(i) else "MISMATCH"

def mark():
    return os.path.getsize(fs_log), os.path.getsize(tokfs_log)

def server_lines(since):
    with open(fs_log) as f:
        f.seek(since[0])
        out = []
        for line in f:
            t, method, path, rng, status, fault, conn = line.split()
            out.append({"t": float(t), "method": method, "path": path.lstrip("/"),
                        "range": rng[6:], "status": int(status[7:]), "fault": fault[6:]})
        return out

def log_lines(since):
    with open(tokfs_log) as f:
        f.seek(since[1])
        return f.read().splitlines()

def consistent(label):
    problems = sc.check_cache(cache, ref, mnt)
    if problems:
        sys.exit("FAIL: %s: the cache disagrees with the source:\n  %s" % (label, "\n  ".join(problems)))

def status_of(i):
    with open(os.path.join(mnt, ".tokfs", "status.json")) as f:
        return json.load(f)["shards"][i]

# Shards by kind, each used by one case only.
small = {s for s in range(len(sources)) if src_path(s).startswith("small/part-")}
big = {s for s in range(len(sources)) if src_path(s).startswith("big/part-")}
multi = [i for i, p in enumerate(pieces[:ntrain])
         if p["last"] > p["first"] and all(s in small for s in range(p["first"], p["last"] + 1))]
cut = [i for i, p in enumerate(pieces[:ntrain])
       if p["first"] == p["last"] and p["first"] in big and p["begin"] > 0]
print("plan: %d shards, %d of several small files, %d cut from big files" % (len(pieces), len(multi), len(cut)))
assert len(multi) >= 8 and len(cut) >= 8, "corpus too small for the cases"
used = set()
def take(pool):
    for i in pool:
        if i not in used:
            used.add(i)
            return i
    sys.exit("FAIL: ran out of fresh shards")

cached_one = take(cut)  # a shard that stays readable while others fail
assert read(cached_one) == 0

def check_attempts(label, lines, path, want):
    gets = [l for l in lines if l["method"] == "GET" and l["path"] == path]
    if len(gets) != want:
        sys.exit("FAIL: %s: %d GETs of %s, expected %d (1 + retries): %s" % (label, len(gets), path, want, gets))
    # Exponential backoff with jitter in [0.5, 1.5): base 200 ms, then 400 ms (the first
    # attempt of a stall lasts the timeout on top).
    for k in range(1, len(gets)):
        gap = gets[k]["t"] - gets[k - 1]["t"]
        low = 0.5 * 0.2 * 2 ** (k - 1) - 0.01
        if gap < low:
            sys.exit("FAIL: %s: attempt %d came %.3f s after the previous one (backoff >= %.2f s)" % (label, k + 1, gap, low))
    return gets

def fault_gives_eio(label, fault, i, src, **rule):
    """The fault on every attempt: EIO, the log names shard and URL, others still served, then
    the same shard is exact once the fault clears."""
    path = src_path(src)
    since = mark()
    ctl("rule", path=path, fault=fault, count=RETRIES + 1, **rule)
    other = take(multi)
    result = {}
    def victim():
        t0 = time.monotonic()
        result["rc"] = read(i)
        result["dt"] = time.monotonic() - t0
    th = threading.Thread(target=victim, daemon=True)
    th.start()
    time.sleep(0.3)
    # The daemon keeps serving: a shard being made and a cached one, while i fails.
    t0 = time.monotonic()
    rc_other, rc_cached = read(other), read(cached_one)
    dt_other = time.monotonic() - t0
    th.join(60)
    if th.is_alive():
        sys.exit("FAIL: %s: the read of %s hung" % (label, name(i)))
    if result["rc"] != errno.EIO:
        sys.exit("FAIL: %s: reading %s gave %r, expected EIO" % (label, name(i), result["rc"]))
    if rc_other != 0 or rc_cached != 0:
        sys.exit("FAIL: %s: other shards were not served meanwhile (%r, %r)" % (label, rc_other, rc_cached))
    if fault == "stall" and dt_other > 2.5:
        sys.exit("FAIL: %s: another shard took %.1f s during the stall" % (label, dt_other))
    gets = check_attempts(label, server_lines(since), path, RETRIES + 1)
    logged = [l for l in log_lines(since) if " error: " in l and name(i) in l and path in l]
    if not logged:
        sys.exit("FAIL: %s: no error log line names %s and %s:\n%s" % (label, name(i), path, "\n".join(log_lines(since))))
    st = status_of(i)
    if st["state"] == "cached" or st["error"] != "EIO":
        sys.exit("FAIL: %s: status of %s after the failure: %s" % (label, name(i), st))
    consistent(label + " (failed)")
    ctl("clear")
    rc = read(i)
    if rc != 0:
        sys.exit("FAIL: %s: %s gave %r after the fault cleared" % (label, name(i), rc))
    consistent(label + " (cleared)")
    print("%-8s x%d: EIO after %.1f s, %d attempts; log: %s" % (fault, RETRIES + 1, result["dt"], len(gets), logged[0].split(": ", 1)[1][:150]))

def fault_survived(label, fault, i, srcs, count, check=None):
    """A fault the retries (or the fetcher) absorb: the reader gets exact data."""
    since = mark()
    for s in srcs:
        ctl("rule", path=src_path(s), fault=fault, count=count)
    rc = read(i)
    ctl("clear")
    lines = server_lines(since)
    hit = [l for l in lines if l["fault"] == fault]
    if not hit:
        sys.exit("FAIL: %s: the fault was never injected: %s" % (label, lines))
    if rc != 0:
        sys.exit("FAIL: %s: reading %s gave %r, expected exact data\n%s" % (label, name(i), rc, "\n".join(log_lines(since))))
    if check:
        check(lines)
    consistent(label)
    print("%-8s x%s: survived, exact (%d requests)" % (fault, count if count > 0 else "all", len(lines)))

def first_src(i):
    return pieces[i]["first"]

# -- faults that outlast the retries ----------------------------------------------------------
for fault, pool, rule in (("503", multi, {}), ("500", cut, {}), ("reset", multi, {}),
                          ("short", multi, {}), ("stall", multi, {"stall": 3})):
    i = take(pool)
    fault_gives_eio(fault, fault, i, first_src(i), **rule)

# -- faults the retries absorb -----------------------------------------------------------------
def resumed(lines):
    gets = [l for l in lines if l["method"] == "GET"]
    second = gets[1]["range"] if len(gets) > 1 else "-"
    m = re.match(r"bytes=(\d+)-", second)
    if not m or int(m.group(1)) == 0:
        sys.exit("FAIL: the retry after a cut body did not resume: %s" % gets)
i = take(multi); fault_survived("503 x2", "503", i, [first_src(i)], 2)
i = take(cut); fault_survived("500 x1", "500", i, [first_src(i)], 1)
i = take(multi); fault_survived("reset x1", "reset", i, [first_src(i)], 1, resumed)
i = take(multi); fault_survived("short x1", "short", i, [first_src(i)], 1, resumed)
i = take(multi); fault_survived("stall x1", "stall", i, [first_src(i)], 1)
# A body longer than its Content-Length: the extra bytes are never data. They poison the next
# request on that kept-alive connection (curl: "Received HTTP/0.9 when not allowed"), which
# core/source/fetch.c retries on a fresh connection: the reader never notices.
for attempt in range(2):
    i = take(multi)
    since = mark()
    for s in range(pieces[i]["first"], pieces[i]["last"] + 1):
        ctl("rule", path=src_path(s), fault="long", count=-1)
    rc = read(i)
    ctl("clear")
    if rc != 0:
        sys.exit("FAIL: long: reading %s gave %r\n%s" % (name(i), rc, "\n".join(log_lines(since))))
    consistent("long")
    print("long     xall: survived, exact (%d requests)" % len(server_lines(since)))
# Range ignored: a 200 with the whole file, of which the shard takes its own bytes.
def whole_file(lines):
    if not any(l["status"] == 200 and l["range"] != "-" for l in lines):
        sys.exit("FAIL: norange: no 200 answer to a ranged GET: %s" % lines)
i = take(cut); fault_survived("norange", "norange", i, [first_src(i)], -1, whole_file)

# -- a file that changes between two requests of one shard -------------------------------------
def changed_mid_shard(label, ifmatch):
    i = take(multi)
    s1, s2 = pieces[i]["first"], pieces[i]["first"] + 1
    p1, p2 = src_path(s1), src_path(s2)
    since = mark()
    ctl("ifmatch", on=int(ifmatch))
    ctl("rule", path=p1, fault="change", target=p2)
    rc = read(i)
    if rc != errno.EIO:
        sys.exit("FAIL: %s: a shard whose source changed while it was made gave %r" % (label, rc))
    logged = [l for l in log_lines(since) if " error: " in l and name(i) in l and p2 in l and "changed upstream" in l]
    if not logged:
        sys.exit("FAIL: %s: no log line says %s changed upstream:\n%s" % (label, p2, "\n".join(log_lines(since))))
    consistent(label + " (changed)")
    ctl("restore", path=p2)
    ctl("clear")
    rc = read(i)
    if rc != 0:
        sys.exit("FAIL: %s: %s gave %r once the file was restored" % (label, name(i), rc))
    consistent(label + " (restored)")
    print("change (%s): EIO; log: %s" % (label, logged[0].split(": ", 1)[1][:160]))
changed_mid_shard("If-Match honoured: 412", True)
changed_mid_shard("If-Match ignored: new ETag", False)

# -- random faults, seeded ---------------------------------------------------------------------
outcomes = {"exact": 0, "EIO": 0}
for r in range(rounds):
    ctl("random", rate=0.35, seed=seed * 1000 + r, stall=2,
        faults="500,503,429,reset,short,long,stall,norange")
    order = list(range(len(pieces)))
    random.Random(seed + r).shuffle(order)
    bad = []
    lock = threading.Lock()
    def reader(part):
        for i in part:
            rc = read(i)
            with lock:
                if rc == 0:
                    outcomes["exact"] += 1
                elif rc == errno.EIO:
                    outcomes["EIO"] += 1
                else:
                    bad.append((name(i), rc))
    threads = [threading.Thread(target=reader, args=(order[k::4],), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        if t.is_alive():
            sys.exit("FAIL: random round %d: a reader hung" % r)
    if bad:
        sys.exit("FAIL: random round %d: wrong answers (neither exact nor EIO): %s" % (r, bad))
    ctl("clear")
    consistent("random round %d" % r)
    for i in range(len(pieces)):
        rc = read(i)
        if rc != 0:
            sys.exit("FAIL: random round %d: %s gave %r after the faults stopped" % (r, name(i), rc))
    consistent("random round %d (cleared)" % r)
stats = ctl("stats")
print("random rounds: %d, reads exact %d, EIO %d" % (rounds, outcomes["exact"], outcomes["EIO"]))
print("faults injected in all: %d %s over %d requests" % (sum(stats["injected"].values()), stats["injected"], stats["requests"]))
PY

tk_umount "$mnt"
"$PY" "$TOKFS_SOURCE_DIR/tests/lib/shardcheck.py" check "$cache" "$TK_TMP/counts.json" "$root/expected.u16" || tk_fail "the cache disagrees with the source after unmount"
echo PASS
