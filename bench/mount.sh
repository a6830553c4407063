#!/usr/bin/env bash
# bench/mount.sh: tokfs against `rclone mount` of the same HTTP server. Run with --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/mount.sh [OPTIONS]

Serves a generated JSONL corpus with a private nginx on 127.0.0.1 (tests/lib/nginx.sh) and reads
it through two FUSE mounts of that server, one after the other, each with an empty cache:

  tokfs  @URL/list.txt, tokenizer=NAME: token shards (train/ + val/)
  rclone rclone mount :http: --http-url URL/data/ --vfs-cache-mode full
         --vfs-cache-max-size CAP --cache-dir TMP/...: the raw JSONL files

For each tool, with a roomy cap (--roomy-factor x corpus bytes; everything fits):
  cold     mount with an empty cache, read all data in sequence (tokfs: every shard, train
           then val, in name order; rclone: every file)
  warm     the same again on the same mount (the kernel's page cache of the FUSE files may
           answer: tokfs opens shards with keep_cache)
  remount  unmount, mount again over the same cache dir, read all again (the daemon answers
           from its disk cache)
  memmap   on a fresh mount over that cache: nanoGPT's get_batch loop; each step np.memmap()s
           a random file and reads --batch random windows of --block+1 uint16 items as x and y
and with a tight cap (corpus bytes / --tight-divisor; smaller than the data):
  cold     as above, with eviction
  memmap   on a fresh mount over what the cold read left cached: the loop under eviction
During every mount a sampler records, every 50 ms, the cache dir's disk use as du counts it
(allocated blocks, directories included), and the daemon's peak RSS (VmHWM). Bytes fetched
come from nginx's access log.

rclone serves bytes, not tokens: its memmap loop reads the raw JSONL files with the same
access pattern (same window size in bytes), so it measures I/O only, without tokenization.
tokfs's "cold" includes fetching, parsing, tokenizing and writing every shard.

Options:
  --build DIR          build dir holding tokfs (default: REPO/build); temp files go below it
  --tokfs PATH         tokfs binary (default: BUILD/tokfs)
  --tokenizer NAME     tokfs tokenizer (default: bytes)
  --shard-size N       tokfs shard_size (default: 10M)
  --tokfs-opts OPTS    extra tokfs -o options, comma-separated (default: none)
  --corpus-mb N        corpus size in MB (default: 300)
  --file-mb N          size of each JSONL file in MB (default: 10)
  --roomy-factor N     roomy cap = N x corpus bytes (default: 3; tokenizer=bytes shards are
                       twice the text as uint16)
  --tight-divisor N    tight cap = corpus bytes / N (default: 4)
  --steps N            memmap loop steps (default: 200)
  --batch N            windows per step (default: 12, nanoGPT's)
  --block N            window length in items (default: 1024, nanoGPT's)
  --rclone-opts OPTS   extra rclone mount flags, space-separated (default: none)
  --tools LIST         comma-separated subset of tokfs,rclone (default: both)
  --out FILE           also write the markdown result tables to FILE
  --keep               keep the temp dir (corpus, logs) instead of removing it
  -h, --help           this text

Needs: nginx-light, fuse3, python3-numpy (mount-scripts/install-deps.sh) and rclone (installed
with apt-get here if missing). Run as root (FUSE mounts). Everything it starts is stopped by
PID and unmounted on exit, and the temp dir is removed.
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build
TOKFS_BIN=
TOKENIZER=bytes
SHARD_SIZE=10M
TOKFS_OPTS=
CORPUS_MB=300
FILE_MB=10
ROOMY_FACTOR=3
TIGHT_DIVISOR=4
STEPS=200
BATCH=12
BLOCK=1024
TOOLS=tokfs,rclone
RCLONE_OPTS=
OUT=
KEEP=0

while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --tokfs) TOKFS_BIN=$2; shift 2 ;;
    --tokenizer) TOKENIZER=$2; shift 2 ;;
    --shard-size) SHARD_SIZE=$2; shift 2 ;;
    --tokfs-opts) TOKFS_OPTS=$2; shift 2 ;;
    --corpus-mb) CORPUS_MB=$2; shift 2 ;;
    --file-mb) FILE_MB=$2; shift 2 ;;
    --roomy-factor) ROOMY_FACTOR=$2; shift 2 ;;
    --tight-divisor) TIGHT_DIVISOR=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --block) BLOCK=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --rclone-opts) RCLONE_OPTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "mount.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
BUILD=$(cd "$BUILD" && pwd)
: "${TOKFS_BIN:=$BUILD/tokfs}"
PY=/usr/bin/python3
[[ ,$TOOLS, == *,tokfs,* ]] && { [ -x "$TOKFS_BIN" ] || { echo "mount.sh: no tokfs at $TOKFS_BIN: build first" >&2; exit 1; }; }
[ "$(id -u)" = 0 ] || { echo "mount.sh: run as root (FUSE mounts)" >&2; exit 1; }
if [[ ,$TOOLS, == *,rclone,* ]] && ! command -v rclone >/dev/null; then
    echo "mount.sh: installing rclone (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends rclone >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends rclone >/dev/null; }
fi

source "$REPO/tests/lib/nginx.sh"

TMP=$(mktemp -d "$BUILD/bench-mount.XXXXXX")
MOUNTS=()
PIDS=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? m p
    set +e
    for m in "${MOUNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null; }
    done
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && { kill -TERM "$p" 2>/dev/null; sleep 0.5; kill -0 "$p" 2>/dev/null && kill -KILL "$p"; }
        wait "$p" 2>/dev/null
    done
    nginx_stop
    if [ "$KEEP" = 1 ]; then echo "mount.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }

# ---- the Python side: corpus generator, readers, sampler -------------------------------------
cat >"$TMP/helper.py" <<'PYEOF'
import glob, json, os, random, signal, sys, time
import numpy as np

def gen(root, total_mb, file_mb, seed):
    """JSONL files of about file_mb MB, total about total_mb MB: prose-like documents from a
    Zipf-distributed vocabulary, some non-ASCII, lengths from 50 bytes to 30 KB."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    syll = ["ka", "to", "ri", "mo", "se", "an", "el", "qu", "st", "ion", "ing", "er", "th", "ou",
            "pr", "ve", "la", "ne", "ci", "da"]
    base = ("the of and to in is was for on that with as by at from it be this are an or which "
            "model data token shard memory cache disk read write train batch window corpus text "
            "language network kernel page file system process thread time value result").split()
    words = base + ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4)))
                    for _ in range(20000)]
    words += ["naïve", "café", "日本語", "中文", "한국어", "Ελληνικά", "русский", "emoji😀"]
    words = np.array(words, dtype=object)
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    names, total, f = [], 0, 0
    target = total_mb * 1000000
    while total < target:
        name = "data/part-%04d.jsonl" % f
        lines, size = [], 0
        while size < file_mb * 1000000 and total + size < target:
            n = int(min(max(nrng.lognormal(5.5, 1.0), 8), 5000))
            idx = np.minimum(nrng.zipf(1.3, n) - 1, len(words) - 1)
            ws = words[idx]
            text = " ".join(ws.tolist())
            if rng.random() < 0.3:
                text = text.replace(" the ", ". The ", 3) + "\n\n" + text[: len(text) // 3]
            line = json.dumps({"id": f * 1000000 + len(lines), "text": text},
                              ensure_ascii=False).encode() + b"\n"
            lines.append(line)
            size += len(line)
        with open(os.path.join(root, name), "wb") as out:
            out.write(b"".join(lines))
        names.append(name)
        total += size
        f += 1
    with open(os.path.join(root, "list.txt"), "w") as out:
        out.write("".join(n + "\n" for n in names))
    print(json.dumps({"files": len(names), "bytes": total}))

def files_of(kind, mount):
    if kind == "tokfs":
        return (sorted(glob.glob(os.path.join(mount, "train", "shard_*.bin"))) +
                sorted(glob.glob(os.path.join(mount, "val", "shard_*.bin"))))
    return sorted(glob.glob(os.path.join(mount, "*.jsonl")))

def seqread(kind, mount):
    buf = bytearray(1 << 20)
    total = 0
    t0 = time.perf_counter()
    files = files_of(kind, mount)
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                total += n
    print(json.dumps({"files": len(files), "bytes": total, "seconds": time.perf_counter() - t0}))

def memmap_loop(kind, mount, steps, batch, block, seed):
    """nanoGPT's get_batch, re-opening a random file every step."""
    t0 = time.perf_counter()
    if kind == "tokfs":
        meta = json.load(open(os.path.join(mount, "dataset_metadata.json")))
        dtype = np.uint16 if meta["dtype"] == "uint16" else np.uint32
        files = sorted(glob.glob(os.path.join(mount, "train", "shard_*.bin")))
    else:
        dtype = np.uint16  # raw JSONL bytes read as if they were uint16 tokens: same I/O
        files = files_of(kind, mount)
    item = np.dtype(dtype).itemsize
    rng = np.random.default_rng(seed)
    windows = 0
    for _ in range(steps):
        path = files[rng.integers(len(files))]
        n = os.path.getsize(path) // item
        if n <= block + 1:
            continue
        data = np.memmap(path, dtype=dtype, mode="r", shape=(n,))
        ix = rng.integers(n - block - 1, size=batch)
        x = np.stack([data[i:i + block].astype(np.int64) for i in ix])
        y = np.stack([data[i + 1:i + 1 + block].astype(np.int64) for i in ix])
        assert x.shape == y.shape == (batch, block)
        windows += batch
        del data
    dt = time.perf_counter() - t0
    print(json.dumps({"steps": steps, "windows": windows, "bytes": windows * (block + 1) * item,
                      "seconds": dt}))

def du_bytes(top):
    total = 0
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            total += os.lstat(d).st_blocks * 512
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        total += st.st_blocks * 512
        except (FileNotFoundError, NotADirectoryError):
            pass
    return total

def hwm_kb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None

def sample(top, pid, out, interval):
    """Until SIGTERM: every interval, du of top and the daemon's VmHWM; then write the peaks."""
    state = {"peak_du": 0, "samples": 0, "hwm_kb": 0, "over_cap_samples": 0}
    cap = int(os.environ.get("BENCH_CAP", "0"))
    def finish(*_):
        with open(out, "w") as f:
            json.dump(state, f)
        sys.exit(0)
    signal.signal(signal.SIGTERM, finish)
    next_t = time.monotonic()
    while True:
        d = du_bytes(top)
        state["samples"] += 1
        state["peak_du"] = max(state["peak_du"], d)
        if cap and d > cap:
            state["over_cap_samples"] += 1
        h = hwm_kb(pid)
        if h:
            state["hwm_kb"] = max(state["hwm_kb"], h)
        next_t += interval
        time.sleep(max(0.0, next_t - time.monotonic()))

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "seqread":
        seqread(sys.argv[2], sys.argv[3])
    elif cmd == "memmap":
        memmap_loop(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]))
    elif cmd == "sample":
        sample(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
PYEOF

# ---- corpus and server ---------------------------------------------------------------------------
log "generating a ${CORPUS_MB} MB JSONL corpus in $TMP/www (${FILE_MB} MB files)"
GEN=$("$PY" "$TMP/helper.py" gen "$TMP/www" "$CORPUS_MB" "$FILE_MB" 1)
CORPUS_BYTES=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$GEN")
CORPUS_FILES=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["files"])' "$GEN")
log "corpus: $CORPUS_FILES files, $CORPUS_BYTES bytes"
# rclone's http backend lists directories from an HTML index.
NGINX_EXTRA_CONF='location /data/ { autoindex on; }'
TMPDIR=$TMP nginx_start "$TMP/www" # its config and logs under $TMP too
log "nginx on $NGINX_URL"

ROOMY_CAP=$((CORPUS_BYTES * ROOMY_FACTOR))
TIGHT_CAP=$((CORPUS_BYTES / TIGHT_DIVISOR))
RESULTS=$TMP/results.tsv # tool cap phase key value
: >"$RESULTS"
put() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
json_get() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
now() { date +%s.%N; }
nginx_bytes() { awk '{for(i=1;i<=NF;i++) if($i ~ /^bytes=/){sub("bytes=","",$i); s+=$i}} END{printf "%.0f\n", s}' "$NGINX_ACCESS_LOG"; }

DAEMON_PID=
SAMPLER_PID=
MNT=
CACHE=

# mount_tool TOOL CAPNAME CAP TAG: mount TOOL with cache dir cache-TOOL-CAPNAME (kept across the
# mounts of one CAPNAME: a remount finds what the previous mount cached) and start the sampler.
mount_tool() {
    local tool=$1 capname=$2 cap=$3 tag=$4
    MNT=$TMP/mnt-$tool-$capname
    CACHE=$TMP/cache-$tool-$capname
    mkdir -p "$MNT" "$CACHE"
    [[ " ${MOUNTS[*]} " == *" $MNT "* ]] || MOUNTS+=("$MNT")
    local t0; t0=$(now)
    if [ "$tool" = tokfs ]; then
        local opts="cache_size=$cap,cache_dir=$CACHE,tokenizer=$TOKENIZER,shard_size=$SHARD_SIZE"
        [ -n "$TOKFS_OPTS" ] && opts="$opts,$TOKFS_OPTS"
        "$TOKFS_BIN" "@$NGINX_URL/list.txt" "$MNT" -o "$opts" -f >>"$TMP/$tool-$capname-$tag.log" 2>&1 &
    else
        # shellcheck disable=SC2086 # RCLONE_OPTS is a list of flags
        rclone mount :http: "$MNT" --http-url "$NGINX_URL/data/" --read-only \
            --vfs-cache-mode full --vfs-cache-max-size "${cap}B" --cache-dir "$CACHE" \
            --log-file "$TMP/$tool-$capname-$tag.log" $RCLONE_OPTS &
    fi
    DAEMON_PID=$!
    PIDS+=("$DAEMON_PID")
    for _ in $(seq 1 600); do
        mountpoint -q "$MNT" && break
        kill -0 "$DAEMON_PID" 2>/dev/null || { tail -5 "$TMP/$tool-$capname-$tag.log" >&2; echo "mount.sh: $tool exited before mounting" >&2; exit 1; }
        sleep 0.05
    done
    mountpoint -q "$MNT" || { echo "mount.sh: $tool did not mount within 30 s" >&2; exit 1; }
    put "$tool" "$capname" "mount-$tag" seconds "$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')"
    BENCH_CAP=$cap "$PY" "$TMP/helper.py" sample "$CACHE" "$DAEMON_PID" "$TMP/sample-$tool-$capname-$tag.json" 0.05 &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
    FETCH0=$(nginx_bytes)
}

# unmount_tool TOOL CAPNAME CAP TAG: stop the sampler, unmount, record the mount's peaks.
unmount_tool() {
    local tool=$1 capname=$2 cap=$3 tag=$4
    if [ "$tool" = tokfs ]; then
        local st; st=$(cat "$MNT/.tokfs/status.json")
        put "$tool" "$capname" all evictions "$(json_get "$st" evictions)"
        put "$tool" "$capname" all materializations "$(json_get "$st" materializations)"
    fi
    kill -TERM "$SAMPLER_PID"
    wait "$SAMPLER_PID" || true
    fusermount3 -u "$MNT"
    for _ in $(seq 1 200); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$DAEMON_PID" 2>/dev/null && { echo "mount.sh: $tool did not exit after unmount" >&2; exit 1; }
    wait "$DAEMON_PID" || echo "mount.sh: warning: $tool exited with status $?" >&2
    PIDS=() # both reaped: nothing of this mount is left to stop
    local s; s=$(cat "$TMP/sample-$tool-$capname-$tag.json")
    put "$tool" "$capname" all cap "$cap"
    put "$tool" "$capname" all peak_du "$(json_get "$s" peak_du)"
    put "$tool" "$capname" all samples "$(json_get "$s" samples)"
    put "$tool" "$capname" all over_cap_samples "$(json_get "$s" over_cap_samples)"
    put "$tool" "$capname" all hwm_kb "$(json_get "$s" hwm_kb)"
    put "$tool" "$capname" all fetched "$(( $(nginx_bytes) - FETCH0 ))"
}

phase_read() { # TOOL CAPNAME PHASE
    local before; before=$(nginx_bytes)
    local r; r=$("$PY" "$TMP/helper.py" seqread "$1" "$MNT")
    put "$1" "$2" "$3" seconds "$(json_get "$r" seconds)"
    put "$1" "$2" "$3" bytes "$(json_get "$r" bytes)"
    put "$1" "$2" "$3" fetched "$(( $(nginx_bytes) - before ))"
    log "$1 $2 $3: $r"
}

phase_memmap() { # TOOL CAPNAME
    local before; before=$(nginx_bytes)
    local r; r=$("$PY" "$TMP/helper.py" memmap "$1" "$MNT" "$STEPS" "$BATCH" "$BLOCK" 7)
    put "$1" "$2" memmap seconds "$(json_get "$r" seconds)"
    put "$1" "$2" memmap bytes "$(json_get "$r" bytes)"
    put "$1" "$2" memmap windows "$(json_get "$r" windows)"
    put "$1" "$2" memmap fetched "$(( $(nginx_bytes) - before ))"
    log "$1 $2 memmap: $r"
}

# Each memmap loop and remount read runs on a fresh mount over the cache the previous mount left:
# on the mount that just read everything, the kernel's page cache of the FUSE files (kept across
# opens by tokfs's keep_cache) would answer and the daemon would not be measured.
for tool in ${TOOLS//,/ }; do
    log "$tool, roomy cap $ROOMY_CAP bytes"
    mount_tool "$tool" roomy "$ROOMY_CAP" 1
    phase_read "$tool" roomy cold
    phase_read "$tool" roomy warm
    unmount_tool "$tool" roomy "$ROOMY_CAP" 1
    mount_tool "$tool" roomy "$ROOMY_CAP" 2
    phase_read "$tool" roomy remount
    unmount_tool "$tool" roomy "$ROOMY_CAP" 2
    mount_tool "$tool" roomy "$ROOMY_CAP" 3
    phase_memmap "$tool" roomy
    unmount_tool "$tool" roomy "$ROOMY_CAP" 3
    log "$tool, tight cap $TIGHT_CAP bytes"
    mount_tool "$tool" tight "$TIGHT_CAP" 1
    phase_read "$tool" tight cold
    unmount_tool "$tool" tight "$TIGHT_CAP" 1
    mount_tool "$tool" tight "$TIGHT_CAP" 2
    phase_memmap "$tool" tight
    unmount_tool "$tool" tight "$TIGHT_CAP" 2
done

# ---- report ------------------------------------------------------------------------------------
REPORT=$("$PY" - "$RESULTS" "$CORPUS_BYTES" "$CORPUS_FILES" "$TOKENIZER" "$SHARD_SIZE" \
    "$STEPS" "$BATCH" "$BLOCK" "$ROOMY_CAP" "$TIGHT_CAP" <<'PYEOF'
import sys
from collections import defaultdict
res = defaultdict(dict)
for line in open(sys.argv[1]):
    tool, cap, phase, key, value = line.rstrip("\n").split("\t")
    d = res[(tool, cap, phase)]
    value = float(value)
    if phase == "all" and key in d:  # several mounts of one cap: peaks are maxima, counts sums
        value = max(d[key], value) if key in ("peak_du", "hwm_kb", "cap") else d[key] + value
    d[key] = value
corpus, nfiles, tok, ss = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
steps, batch, block, roomy, tight = map(int, sys.argv[6:11])
tools = [t for t in ("tokfs", "rclone") if (t, "roomy", "cold") in res]
MB = 1e6
def g(t, c, p, k):
    return res.get((t, c, p), {}).get(k)
def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"
out = []
out.append("Corpus: %d JSONL files, %.1f MB; tokfs tokenizer=%s, shard_size=%s; roomy cap %.1f MB, "
           "tight cap %.1f MB; memmap loop: %d steps x %d windows x %d+1 items."
           % (nfiles, corpus / MB, tok, ss, roomy / MB, tight / MB, steps, batch, block))
out.append("")
hdr = "| cap | sequential read of all data | " + " | ".join("%s s | %s MB/s of corpus | %s MB read" % (t, t, t) for t in tools)
if len(tools) == 2:
    hdr += " | time rclone/tokfs |"
else:
    hdr += " |"
out.append(hdr)
out.append("|" + "---|" * (hdr.count("|") - 1))
for cap in ("roomy", "tight"):
    for phase in ("cold", "warm", "remount"):
        if g(tools[0], cap, phase, "seconds") is None:
            continue
        row = "| %s | %s |" % (cap, {"cold": "cold: empty cache", "warm": "warm: again, same mount",
                                      "remount": "warm after remount"}[phase])
        for t in tools:
            s = g(t, cap, phase, "seconds")
            row += " %.2f | %.0f | %.0f |" % (s, corpus / MB / s, g(t, cap, phase, "bytes") / MB)
        if len(tools) == 2:
            row += " %s |" % ratio(g("rclone", cap, phase, "seconds"), g("tokfs", cap, phase, "seconds"))
        out.append(row)
out.append("")
hdr = "| cap | memmap loop | " + " | ".join("%s s | %s batches/s | %s MB fetched" % (t, t, t) for t in tools)
hdr += " | batches/s tokfs/rclone |" if len(tools) == 2 else " |"
out.append(hdr)
out.append("|" + "---|" * (hdr.count("|") - 1))
for cap in ("roomy", "tight"):
    row = "| %s | %d steps |" % (cap, steps)
    for t in tools:
        s = g(t, cap, "memmap", "seconds")
        row += " %.2f | %.1f | %.1f |" % (s, steps / s, g(t, cap, "memmap", "fetched") / MB)
    if len(tools) == 2:
        row += " %s |" % ratio(steps / g("tokfs", cap, "memmap", "seconds"),
                                steps / g("rclone", cap, "memmap", "seconds"))
    out.append(row)
out.append("")
hdr = "| cap | " + " | ".join("%s peak disk MB (x cap) | %s samples over cap | %s peak RSS MB | %s MB fetched" % (t, t, t, t) for t in tools)
hdr += " | peak RSS rclone/tokfs |" if len(tools) == 2 else " |"
out.append(hdr)
out.append("|" + "---|" * (hdr.count("|") - 1))
for cap in ("roomy", "tight"):
    capb = roomy if cap == "roomy" else tight
    row = "| %s (%.1f MB) |" % (cap, capb / MB)
    for t in tools:
        a = res[(t, cap, "all")]
        row += " %.1f (%.2f) | %d of %d | %.1f | %.1f |" % (
            a["peak_du"] / MB, a["peak_du"] / capb, a["over_cap_samples"], a["samples"],
            a["hwm_kb"] * 1024 / MB, a["fetched"] / MB)
    if len(tools) == 2:
        row += " %s |" % ratio(res[("rclone", cap, "all")]["hwm_kb"], res[("tokfs", cap, "all")]["hwm_kb"])
    out.append(row)
out.append("")
for t in tools:
    for cap in ("roomy", "tight"):
        m1, m2 = g(t, cap, "mount-1", "seconds"), g(t, cap, "mount-2", "seconds")
        extra = ""
        if t == "tokfs":
            a = res[(t, cap, "all")]
            extra = "; over all its mounts %d shards made, %d evictions" % (
                a["materializations"], a["evictions"])
        out.append("- %s %s cap: mount took %.2f s (empty cache), %.2f s (remount)%s"
                   % (t, cap, m1, m2, extra))
print("\n".join(out))
PYEOF
)
echo
echo "$REPORT"
[ -n "$OUT" ] && printf '%s\n' "$REPORT" >"$OUT"
exit 0
