#!/usr/bin/python3
"""bench/lib/cases.py: the cases of bench/run.sh (issue 13's table). Run by run.sh, which has
started nginx and owns the EXIT trap; this program mounts, measures, unmounts, and writes one
JSON file of raw results (every run of every contender), which report.py turns into markdown.

Every process this program starts is written to $TMP/pids (one PID a line) before anything else
happens, and every mountpoint is below $TMP, so run.sh's trap can stop and unmount what an
interrupted run leaves behind; on a normal run this program unmounts and reaps everything itself.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

MiB = 1 << 20
A = None  # parsed arguments
RESULTS = {"cases": {}, "log": []}


def log(msg):
    line = "[%s] %s" % (time.strftime("%H:%M:%S"), msg)
    print(line, file=sys.stderr, flush=True)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def save():
    tmp = A.results + ".tmp"
    with open(tmp, "w") as f:
        json.dump(RESULTS, f, indent=1)
    os.rename(tmp, A.results)


def record_pid(pid):
    with open(os.path.join(A.tmp, "pids"), "a") as f:
        f.write("%d\n" % pid)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == path:
                return True
    return False


def cpu_seconds(pid):
    """utime + stime of PID (all its threads), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---- mounts ----------------------------------------------------------------------------------

class Mount:
    n = 0

    def __init__(self, kind, mnt, pid, cache_dir=None, proc=None):
        self.kind, self.mnt, self.pid, self.cache_dir, self.proc = kind, mnt, pid, cache_dir, proc

    def status(self):
        with open(os.path.join(self.mnt, ".tokfs", "status.json")) as f:
            return json.load(f)

    def settle(self, timeout=30.0):
        """Wait until no shard is being made: a read is answered once its shard's bytes are
        written; the shard is cached (synced, named in plan-*/shards/) a few ms later."""
        end = time.time() + timeout
        while time.time() < end:
            if not any(s["state"] == "materializing" for s in self.status()["shards"]):
                return
            time.sleep(0.02)
        raise RuntimeError("shards still being made %.0f s after the reads" % timeout)

    def meta(self):
        with open(os.path.join(self.mnt, "dataset_metadata.json")) as f:
            return json.load(f)

    def shards(self, split="train"):
        return sorted(glob.glob(os.path.join(self.mnt, split, "shard_*.bin")))

    def unmount(self):
        if is_mounted(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
            if r.returncode != 0:
                time.sleep(0.5)
                subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)
        else:
            for _ in range(400):
                if not alive(self.pid):
                    break
                time.sleep(0.05)
            else:
                log("warning: %s (pid %d) still alive 20 s after unmount: TERM" % (self.kind, self.pid))
                os.kill(self.pid, signal.SIGTERM)


def fresh_dir(name):
    d = os.path.join(A.tmp, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def tokfs_mount(source, opts, cache_dir=None, tag="m"):
    """Mounts SOURCE with the extra options (--tokfs-opts) first and OPTS after them (later
    options win in tokfs's parser, so the option a case varies is the one it sets). A new cache
    dir unless CACHE_DIR is given (then reused: a remount)."""
    Mount.n += 1
    mnt = fresh_dir("mnt-%s-%d" % (tag, Mount.n))
    if cache_dir is None:
        cache_dir = fresh_dir("cache-%s-%d" % (tag, Mount.n))
    logf = os.path.join(A.tmp, "logs", "tokfs-%s-%d.log" % (tag, Mount.n))
    allopts = [o for o in A.tokfs_opts.split(",") if o]
    allopts += ["tokenizer=%s" % A.tokenizer, "cache_size=%s" % A.cache_size]
    allopts += ["%s=%s" % kv for kv in opts.items()]
    allopts += ["cache_dir=%s" % cache_dir, "log_file=%s" % logf]
    cmd = [A.tokfs, source, mnt, "-o", ",".join(allopts)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tokfs mount failed: %s (options %s)" % (r.stderr.strip() or (
            open(logf).read()[-1000:] if os.path.exists(logf) else "no message"), ",".join(allopts[:-2])))
    m = Mount("tokfs", mnt, 0, cache_dir)
    m.pid = int(m.status()["pid"])
    record_pid(m.pid)
    m.options = ",".join(allopts[:-2])
    m.log = logf
    return m


def passthrough_on(m):
    """Whether the kernel took FUSE passthrough for mount M (its log says so at INIT)."""
    return os.path.exists(m.log) and "passthrough: on" in open(m.log).read()


def rclone_mount(url, tag="rclone"):
    Mount.n += 1
    mnt = fresh_dir("mnt-%s-%d" % (tag, Mount.n))
    cache = fresh_dir("cache-%s-%d" % (tag, Mount.n))
    logf = open(os.path.join(A.tmp, "logs", "rclone-%d.log" % Mount.n), "w")
    cmd = ["rclone", "mount", ":http:", mnt, "--http-url", url, "--vfs-cache-mode", "full",
           "--cache-dir", cache, "--read-only", "--vfs-cache-max-size", A.cache_size]
    cmd += A.rclone_opts.split()
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    record_pid(p.pid)
    m = Mount("rclone", mnt, p.pid, cache, proc=p)
    for _ in range(400):
        if p.poll() is not None:
            raise RuntimeError("rclone mount exited with %s (log %s)" % (p.returncode, logf.name))
        if is_mounted(mnt):
            return m
        time.sleep(0.05)
    m.unmount()
    raise RuntimeError("rclone mount did not come up in 20 s")


# ---- readers ---------------------------------------------------------------------------------

def seq_read(files, consume_s_per_byte=0.0, marks=None):
    """Reads FILES in order, 1 MiB read() calls into one buffer; returns (bytes, seconds).
    With CONSUME_S_PER_BYTE, sleeps that long per byte after each read (a trainer's compute).
    MARKS, a list, gets (file index, time of first byte, time of end) per file."""
    buf = bytearray(MiB)
    total = 0
    t0 = time.perf_counter()
    for k, path in enumerate(files):
        fd = os.open(path, os.O_RDONLY)
        first = None
        try:
            while True:
                n = os.readv(fd, [buf])
                if first is None:
                    first = time.perf_counter()
                if not n:
                    break
                total += n
                if consume_s_per_byte:
                    time.sleep(n * consume_s_per_byte)
        finally:
            os.close(fd)
        if marks is not None:
            marks.append((k, first - t0, time.perf_counter() - t0))
    return total, time.perf_counter() - t0


def get_batch_loop(files, dtype, batches, seed, B=12, T=1024):
    """nanoGPT's get_batch as in its train.py: every batch a new np.memmap of (here) a random
    shard, B random windows of T+1 ids as x and y (int64). Returns seconds."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(batches):
        path = files[int(rng.integers(len(files)))]
        data = np.memmap(path, dtype=dtype, mode="r")
        ix = rng.integers(len(data) - T, size=B)
        x = np.stack([data[i:i + T].astype(np.int64) for i in ix])
        y = np.stack([data[i + 1:i + 1 + T].astype(np.int64) for i in ix])
        del data
    return time.perf_counter() - t0


def read_prefix(path, nbytes):
    """Opens PATH and reads its first NBYTES (llm.c's loader: the first B*T+1 ids); seconds."""
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        got = 0
        while got < nbytes:
            b = os.pread(fd, nbytes - got, got)
            if not b:
                break
            got += len(b)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def dtype_of(m):
    meta = m.meta()
    if meta.get("layout", "raw") != "raw":
        raise RuntimeError("bench/run.sh reads raw shards: layout %s (format= in --tokfs-opts) "
                           "is not supported" % meta.get("layout"))
    return np.uint16 if meta["dtype"] == "uint16" else np.uint32


# ---- cases -----------------------------------------------------------------------------------

def case(name):
    def wrap(fn):
        def run():
            if A.cases and name not in A.cases:
                return
            log("case %s" % name)
            t0 = time.time()
            res = RESULTS["cases"].setdefault(name, {})
            res["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
            try:
                fn(res)
            except Exception as e:  # the case says it could not run; the others go on
                import traceback
                traceback.print_exc()
                res["error"] = "%s: %s" % (type(e).__name__, e)
                log("case %s could not run: %s" % (name, res["error"]))
            res["wall_seconds"] = time.time() - t0
            res["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            save()
        run.case_name = name
        return run
    return wrap


def copy_shards(m, dest):
    """Copies the mount's train shards to DEST/train (the local contender; nginx serves it to
    rclone as /shards/train/). Returns the list of local paths, in name order."""
    os.makedirs(os.path.join(dest, "train"), exist_ok=True)
    out = []
    for p in m.shards("train"):
        q = os.path.join(dest, "train", os.path.basename(p))
        with open(p, "rb") as src, open(q, "wb") as dst:
            shutil.copyfileobj(src, dst, MiB)
        out.append(q)
    return out


@case("warm")
def case_warm(res):
    """Warm sequential read and nanoGPT get_batch: tokfs (shards made, then read again on the
    same mount: the kernel's page cache) vs local copies vs rclone mount of the copies."""
    m = tokfs_mount("@%s/list.txt" % A.url, {"shard_size": A.warm_shard_size,
                                              "max_shards": A.warm_shards, "prefetch": 0}, tag="warm")
    rc = m2 = None
    try:
        files = m.shards("train")
        res["options"] = m.options
        t0 = time.perf_counter()
        nbytes, _ = seq_read(files)
        res["make_seconds"] = time.perf_counter() - t0
        res["bytes"] = nbytes
        res["files"] = len(files)
        dtype = dtype_of(m)
        local = copy_shards(m, os.path.join(A.tmp, "www", "shards"))
        contenders = {"tokfs": files, "local": local}
        # The mount as a user gets it (passthrough=auto unless --tokfs-opts says otherwise): say
        # which mode the kernel took.
        res["passthrough"] = passthrough_on(m)
        if A.passthrough_off:  # the same shards, a second mount, passthrough=0 (the page cache)
            try:
                m2 = tokfs_mount("@%s/list.txt" % A.url, {"shard_size": A.warm_shard_size,
                                                          "max_shards": A.warm_shards, "prefetch": 0,
                                                          "passthrough": 0}, tag="warm-off")
                files2 = m2.shards("train")
                seq_read(files2)  # made
                contenders["tokfs passthrough=0"] = files2
            except Exception as e:
                res["passthrough_off_error"] = str(e)
                log("passthrough=0: %s" % e)
        if A.rclone:
            try:
                rc = rclone_mount("%s/shards/train/" % A.url)
                rfiles = [os.path.join(rc.mnt, os.path.basename(p)) for p in local]
                seq_read(rfiles)  # fills rclone's cache: "warm"
                contenders["rclone"] = rfiles
            except Exception as e:
                res["rclone_error"] = str(e)
                log("rclone: %s" % e)
        # one untimed pass each: everything in the page cache; it also sets how many passes over
        # the files one timed sequential read makes (at least --warm-seconds long)
        passes = {}
        for name, fl in contenders.items():
            t = seq_read(fl)[1]
            passes[name] = max(1, min(200, int(A.warm_seconds / max(t, 1e-4)) + 1))
        res["passes"] = passes
        seq = {k: [] for k in contenders}
        gb = {k: [] for k in contenders}
        seq_cpu, gb_cpu = {}, {}  # the reader's own CPU time (user + system), less moved by other load
        reps = max(A.runs, A.min_cheap_runs)
        for r in range(reps):
            order = list(contenders) if r % 2 == 0 else list(reversed(list(contenders)))
            for name in order:
                c0 = cpu_seconds(m.pid) if name == "tokfs" else None
                p0 = time.process_time()
                b, s = seq_read(contenders[name] * passes[name])
                seq_cpu.setdefault(name, []).append((time.process_time() - p0) / passes[name])
                if c0 is not None:  # did the daemon answer the warm reads? its CPU time says
                    res.setdefault("daemon_cpu_per_pass", []).append((cpu_seconds(m.pid) - c0) / passes[name])
                assert b == nbytes * passes[name], (name, b, nbytes)
                seq[name].append(s / passes[name])  # seconds per pass
            for name in order:
                nb = A.rclone_batches if name == "rclone" else A.batches
                p0 = time.process_time()
                gb[name].append(get_batch_loop(contenders[name], dtype, nb, 1000 + r) * A.batches / nb)
                gb_cpu.setdefault(name, []).append((time.process_time() - p0) * A.batches / nb)
        res["seq_seconds"] = seq
        res["getbatch_seconds"] = gb
        res["seq_reader_cpu"] = seq_cpu
        res["getbatch_reader_cpu"] = gb_cpu
        res["batches"] = A.batches
        res["rclone_batches"] = A.rclone_batches
        res["runs"] = reps
    finally:
        if rc:
            rc.unmount()
        if m2:
            m2.unmount()
        m.unmount()


def tokpool_time(jsonl, threads=1, pin=None):
    cmd = [A.tokpool_bench, "--tokenizer", A.tokenizer, "--runs", "1", "--threads", str(threads), jsonl]
    if pin is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(pin)] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record_pid(p.pid)
    return p


def tokpool_seconds(p, threads=1):
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("tokpool_bench failed: %s" % err.strip())
    mt = re.search(r"threads=%d\s*\|\s*([0-9.]+)" % threads, out)
    if not mt:
        raise RuntimeError("tokpool_bench output not understood: %r" % out[-500:])
    return float(mt.group(1))


def cold_read(workers):
    """Fresh cache, the cold list mounted with WORKERS and prefetch=0; reads every shard (train
    then val) in order. Returns (seconds, source bytes fetched, shards, ids bytes)."""
    m = tokfs_mount("@%s/list-cold.txt" % A.url,
                    {"workers": workers, "prefetch": 0, "shard_size": A.cold_shard_size}, tag="cold")
    try:
        files = m.shards("train") + m.shards("val")
        nbytes, secs = seq_read(files)
        m.settle()  # the last shard's counters are added once it is cached, just after its read
        st = m.status()
        return secs, int(st["bytes_fetched"]), len(files), nbytes, m.options
    finally:
        m.unmount()
        shutil.rmtree(m.cache_dir, ignore_errors=True)


@case("cold")
def case_cold(res):
    """Cold materialization through the mount (workers=1, workers=2) vs tokpool_bench on the
    same documents (1 thread; and two 1-thread processes at once, not pinned)."""
    jsonl = os.path.join(A.tmp, "cold.jsonl")
    with open(jsonl, "wb") as out:
        for name in A.cold_files:
            with open(os.path.join(A.corpus, name), "rb") as f:
                shutil.copyfileobj(f, out, 8 * MiB)
    src = os.path.getsize(jsonl)
    res["source_bytes"] = src
    res["source_files"] = len(A.cold_files)
    runs = {k: [] for k in ("mount_w1", "mount_w2", "tokpool_1", "pair_max", "pair_a", "pair_b", "tokpool_2")}
    fetched = []
    for r in range(A.runs):
        # alternate the order of the contenders between rounds
        steps = ["tok1", "w1", "pair", "w2", "tok2"]
        if r % 2:
            steps.reverse()
        for s in steps:
            if s == "tok1":
                runs["tokpool_1"].append(tokpool_seconds(tokpool_time(jsonl, 1), 1))
            elif s == "tok2":
                runs["tokpool_2"].append(tokpool_seconds(tokpool_time(jsonl, 2), 2))
            elif s == "pair":
                # not pinned: on a machine shared with other work, pinning each to one CPU
                # measures the other work as much as the machine; the scheduler spreads them
                pa, pb = tokpool_time(jsonl, 1), tokpool_time(jsonl, 1)
                a, b = tokpool_seconds(pa, 1), tokpool_seconds(pb, 1)
                runs["pair_a"].append(a)
                runs["pair_b"].append(b)
                runs["pair_max"].append(max(a, b))
            else:
                w = 1 if s == "w1" else 2
                secs, f, nshards, ids, opts = cold_read(w)
                runs["mount_w%d" % w].append(secs)
                fetched.append(f)
                res["shards"] = nshards
                res["ids_bytes"] = ids
                res["options_w%d" % w] = opts
        log("cold round %d: %s" % (r + 1, {k: round(v[-1], 3) for k, v in runs.items() if v}))
    res["seconds"] = runs
    res["fetched_bytes"] = fetched


@case("sweep")
def case_sweep(res):
    """A sequential sweep over 20 train shards (cold cache each time) by a reader that spends a
    fixed time per MB (sleep: a trainer's step): prefetch=1 vs prefetch=0, vs max(make, consume),
    where make = the same sweep with no consume time and prefetch=0, and consume = the consume
    time alone over the same bytes (read from the page cache)."""
    n = A.sweep_shards
    opts = {"shard_size": A.sweep_shard_size, "max_shards": n}

    def sweep(prefetch, c, cap=None):
        o = dict(opts, prefetch=prefetch)
        if cap:
            o["cache_size"] = cap
        m = tokfs_mount("@%s/list.txt" % A.url, o, tag="sweep")
        try:
            files = m.shards("train")
            if len(files) < n:
                raise RuntimeError("the corpus gives only %d train shards of %s tokens (need %d)"
                                   % (len(files), A.sweep_shard_size, n))
            marks = []
            b, s = seq_read(files, c, marks)
            consume_alone = None
            if prefetch == 1 and not cap:  # the same bytes again, now in the page cache: the consume alone
                consume_alone = seq_read(files, c)[1]
            return b, s, marks, consume_alone, m.options
        finally:
            m.unmount()
            shutil.rmtree(m.cache_dir, ignore_errors=True)

    # calibration: the make time per byte read, from one sweep without consume time
    b, s, _, _, _ = sweep(0, 0.0)
    c = s / b
    res["calibration_seconds"] = s
    res["consume_s_per_mb"] = c * 1e6
    res["bytes"] = b
    # a cap of about 4 average shards (and the cache's metadata): the sweep under eviction
    cap = 4 * b // n + 4 * MiB
    res["tight_cap"] = cap
    runs = {"make": [], "p0": [], "p1": [], "consume": [], "p1cap": []}
    marks = {}
    for r in range(A.runs):
        order = ["make", "p0", "p1", "p1cap"] if r % 2 == 0 else ["p1cap", "p1", "p0", "make"]
        for k in order:
            if k == "p1cap":
                try:
                    _, s, mk, _, o = sweep(1, c, cap)
                except Exception as e:
                    res["p1cap_error"] = str(e)
                    s, mk = None, []
            elif k == "make":
                _, s, mk, _, o = sweep(0, 0.0)
            elif k == "p0":
                _, s, mk, _, o = sweep(0, c)
            else:
                _, s, mk, ca, o = sweep(1, c)
                runs["consume"].append(ca)
                res["options_p1"] = o
            runs[k].append(s)
            marks.setdefault(k, mk)
        log("sweep round %d: %s" % (r + 1, {k: round(v[-1], 2) for k, v in runs.items()}))
    res["seconds"] = runs
    res["marks"] = marks
    res["shards"] = n
    res["shard_size"] = A.sweep_shard_size


def cache_file(m, index):
    paths = glob.glob(os.path.join(m.cache_dir, "plan-*", "shards", "%06d.bin" % index))
    return paths[0] if paths else None


@case("evict")
def case_evict(res):
    """First batch after an eviction with the shard's size known vs making the whole shard:
    the shard is made once, then before each timed run the cache file of train shard 0 is
    deleted while unmounted (the catalog keeps its size) and the cache remounted."""
    opts = {"shard_size": A.evict_shard_size, "prefetch": 0}
    m = tokfs_mount("@%s/list.txt" % A.url, opts, tag="evict")
    cache_dir = m.cache_dir
    try:
        shard = m.shards("train")[0]
        seq_read([shard])
        m.settle()
        st = m.status()
        first = [s for s in st["shards"] if s["name"].endswith(os.path.basename(shard))][0]
        res["shard_bytes"] = first["bytes"]
        res["shard_tokens"] = first["tokens"]
        res["options"] = m.options
        path = cache_file(m, 0)
        if not path or os.path.getsize(path) != first["bytes"]:
            raise RuntimeError("cannot find the cache file of %s (plan-*/shards/000000.bin)" % shard)
    finally:
        m.unmount()
    batch_bytes = (A.batch * A.block + 1) * 2
    res["batch_bytes"] = batch_bytes
    runs = {"first_batch": [], "whole": [], "random_batch": []}
    states = []
    for r in range(A.runs):
        order = ["first_batch", "whole", "random_batch"]
        if r % 2:
            order.reverse()
        for k in order:
            for p in glob.glob(os.path.join(cache_dir, "plan-*", "shards", "000000.bin")):
                os.unlink(p)
            m = tokfs_mount("@%s/list.txt" % A.url, opts, cache_dir=cache_dir, tag="evict")
            try:
                s0 = m.status()["shards"][0]
                states.append((s0["state"], s0["tokens"]))
                if s0["tokens"] is None:
                    raise RuntimeError("after the remount the shard's size is not known (%s)" % s0)
                if dtype_of(m) != np.uint16:
                    batch_bytes = (A.batch * A.block + 1) * 4
                    res["batch_bytes"] = batch_bytes
                shard = m.shards("train")[0]
                if k == "first_batch":
                    runs[k].append(read_prefix(shard, batch_bytes))
                elif k == "random_batch":  # nanoGPT's: 12 random windows of the shard
                    runs[k].append(get_batch_loop([shard], dtype_of(m), 1, 77 + r, A.batch, A.block))
                else:
                    runs[k].append(seq_read([shard])[1])
            finally:
                m.unmount()
        log("evict round %d: %s" % (r + 1, {k: round(v[-1], 3) for k, v in runs.items()}))
    res["seconds"] = runs
    res["states_after_remount"] = states
    shutil.rmtree(cache_dir, ignore_errors=True)


@case("rss")
def case_rss(res):
    """Daemon peak RSS (VmHWM) while 4 shards are made at once: the whole corpus mounted, four
    readers start on train shards 0-3 together; with workers=4 (four builds at once) and with
    workers=2 (two at a time). VmHWM read before unmounting."""
    rows = []
    for workers in (4, 2):
        m = tokfs_mount("@%s/list.txt" % A.url,
                        {"workers": workers, "prefetch": 0, "shard_size": A.rss_shard_size},
                        tag="rss")
        try:
            files = m.shards("train")[:4]
            hwm_mount = vm_hwm_kb(m.pid)
            errs = []

            def rd(p):
                try:
                    seq_read([p])
                except Exception as e:
                    errs.append(str(e))
            th = [threading.Thread(target=rd, args=(p,)) for p in files]
            t0 = time.perf_counter()
            for t in th:
                t.start()
            for t in th:
                t.join()
            secs = time.perf_counter() - t0
            if errs:
                raise RuntimeError("; ".join(errs))
            m.settle()  # the builds' tails (sync, naming) count in the peak too
            st = m.status()
            rows.append({"workers": workers, "hwm_kb": vm_hwm_kb(m.pid), "hwm_after_mount_kb": hwm_mount,
                         "seconds": secs, "shards": len(files), "plan_shards": len(st["shards"]),
                         "options": m.options})
            log("rss workers=%d: %s kB" % (workers, rows[-1]["hwm_kb"]))
        finally:
            m.unmount()
            shutil.rmtree(m.cache_dir, ignore_errors=True)
    res["rows"] = rows
    res["corpus_bytes"] = A.corpus_bytes


@case("shard_size")
def case_shard_size(res):
    """Time to make one shard (first read of train shard 0, fresh cache, prefetch=0) for each
    shard_size; sizes alternate within each round."""
    sizes = A.sizes.split(",")
    runs = {s: [] for s in sizes}
    tokens = {}
    for r in range(A.runs):
        order = sizes if r % 2 == 0 else list(reversed(sizes))
        for s in order:
            m = tokfs_mount("@%s/list.txt" % A.url, {"shard_size": s, "prefetch": 0}, tag="size")
            try:
                shard = m.shards("train")[0]
                runs[s].append(seq_read([shard])[1])
                tokens[s] = m.status()["shards"][0]["tokens"]
                res["options"] = m.options
            finally:
                m.unmount()
                shutil.rmtree(m.cache_dir, ignore_errors=True)
        log("shard_size round %d: %s" % (r + 1, {k: round(v[-1], 3) for k, v in runs.items()}))
    res["seconds"] = runs
    res["tokens"] = tokens


CASES = [case_warm, case_cold, case_sweep, case_evict, case_rss, case_shard_size]


def main():
    global A
    p = argparse.ArgumentParser()
    p.add_argument("--tmp", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--tokfs", required=True)
    p.add_argument("--tokpool-bench", dest="tokpool_bench", required=True)
    p.add_argument("--tokfs-opts", dest="tokfs_opts", default="")
    p.add_argument("--rclone-opts", dest="rclone_opts", default="")
    p.add_argument("--no-rclone", dest="rclone", action="store_false")
    p.add_argument("--no-passthrough-off", dest="passthrough_off", action="store_false")
    p.add_argument("--tokenizer", default="gpt2")
    p.add_argument("--cache-size", dest="cache_size", default="20G")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--min-cheap-runs", dest="min_cheap_runs", type=int, default=3)
    p.add_argument("--cases", default="")
    p.add_argument("--warm-shards", dest="warm_shards", type=int, default=16)
    p.add_argument("--warm-shard-size", dest="warm_shard_size", default="10M")
    p.add_argument("--warm-seconds", dest="warm_seconds", type=float, default=0.5)
    p.add_argument("--cold-shard-size", dest="cold_shard_size", default="10M")
    p.add_argument("--batches", type=int, default=1000)
    p.add_argument("--rclone-batches", dest="rclone_batches", type=int, default=1000)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--block", type=int, default=1024)
    p.add_argument("--cold-mb", dest="cold_mb", type=int, default=200)
    p.add_argument("--sweep-shards", dest="sweep_shards", type=int, default=20)
    p.add_argument("--sweep-shard-size", dest="sweep_shard_size", default="5M")
    p.add_argument("--evict-shard-size", dest="evict_shard_size", default="10M")
    p.add_argument("--rss-shard-size", dest="rss_shard_size", default="10M")
    p.add_argument("--sizes", default="1M,2M,5M,10M,20M,50M")
    p.add_argument("--meta", default="{}")
    A = p.parse_args()
    A.cases = [c for c in A.cases.split(",") if c]
    os.makedirs(os.path.join(A.tmp, "logs"), exist_ok=True)
    corpus = json.load(open(os.path.join(A.corpus, "corpus.json")))
    A.corpus_bytes = corpus["bytes"]
    # the cold case's documents: the first files of the corpus, about --cold-mb MB
    cold, total = [], 0
    for name in corpus["files"]:
        if total >= A.cold_mb * 1000000:
            break
        cold.append(name)
        total += os.path.getsize(os.path.join(A.corpus, name))
    A.cold_files = cold
    with open(os.path.join(A.tmp, "www", "list-cold.txt"), "w") as f:
        f.write("".join(n + "\n" for n in cold))
    RESULTS["meta"] = json.loads(A.meta)
    RESULTS["meta"].update({"corpus_bytes": corpus["bytes"], "corpus_files": len(corpus["files"]),
                            "tokenizer": A.tokenizer, "runs": A.runs, "tokfs_opts": A.tokfs_opts,
                            "cache_size": A.cache_size, "batch": A.batch, "block": A.block,
                            "batches": A.batches, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    t0 = time.time()
    for c in CASES:
        c()
    RESULTS["meta"]["seconds"] = time.time() - t0
    save()


if __name__ == "__main__":
    main()
