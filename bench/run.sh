#!/usr/bin/env bash
# bench/run.sh: every case of issue 13's table in one run, written to docs/benchmarks.md with
# plots. Run with --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bash bench/run.sh [--quick] [OPTIONS]

Generates (once; cached in --work DIR) a JSONL corpus of prose-like text, serves it with a
private nginx on 127.0.0.1 (tests/lib/nginx.sh), and measures, each case a ratio of contenders
timed in the same run, rounds alternating the contenders, medians over the rounds:

  warm        sequential read (1 MiB read() calls) of train shards already made, on the same
              mount (the kernel's page cache): tokfs vs the same bytes in local files (copies in
              the temp dir, also in the page cache) vs `rclone mount --vfs-cache-mode full` of
              those copies served by the same nginx (rclone's cache filled by one read first).
              Target tokfs/local >= 0.95 (MB/s).
  getbatch    nanoGPT's get_batch, 1000 batches, a new np.memmap of a random shard per batch,
              12 windows of 1024+1 ids: same three contenders, same seed. Target >= 0.9.
  cold        cold materialization, MB/s of JSONL source: a fresh mount of the first --cold-mb
              MB of the corpus read whole (every shard, prefetch=0) with workers=1 and workers=2,
              vs bench/tokpool_bench (build/tokpool_bench: the tokenizing alone, on the same
              documents decoded in memory beforehand) with 1 thread, and two 1-thread
              tokpool_bench processes at once (not pinned): the machine's 2-process
              ceiling = 2 x source bytes / the slower one's time. Targets: workers=1 >= 0.8x the
              1-thread tokenizing; workers=2 >= 0.9x the ceiling.
  sweep       a sweep over 20 train shards in order, cold cache, by a reader that sleeps a fixed
              time per MB read (calibrated so that consume = make): prefetch=1 vs prefetch=0 vs
              max(make, consume), make = the same sweep without sleeping (prefetch=0), consume =
              the sleeping reader over the same bytes already in the page cache. Target
              prefetch=1 <= 1.1 x max.
  evict       first batch after an eviction, size known: train shard 0 made, its cache file
              deleted while unmounted (the catalog keeps the size), remounted; time to read the
              first 12 x 1024 + 1 ids (llm.c's loader: a batch from the start) vs reading the
              whole shard after the same deletion. Target <= 0.2x.
  rss         daemon peak RSS (VmHWM) while 4 shards are made (4 readers at once on shards 0-3
              of the whole corpus; workers=4 and workers=2). Target <= 64 MB.
  shard_size  time to make one shard (first read of train shard 0, fresh cache) vs shard_size;
              plot with a linear fit and R^2 (reported "linear" when R^2 >= 0.98).

Modes:
  (default)   full: a 1100 MB corpus (1.1e9 bytes) of 32 MB files, 3 rounds; about 10 min on
              2 cores (2026-12-05, a busy host), plus 1-2 min to generate the corpus once
  --quick     development: a 100 MB corpus, 1 round, smaller shards; 1-2 minutes. Its numbers
              are not the issue's (small shards, one round); the report says so.

Options:
  --build DIR          build dir with tokfs and tokpool_bench (default: REPO/build; built there
                       with cmake if missing)
  --work DIR           keeps the generated corpus between runs (default: /var/tmp/tokfs-bench)
  --tokfs-opts OPTS    extra tokfs -o options for every mount, comma-separated (e.g.
                       read_ahead_kb=4096); a case's own options (workers=, prefetch=,
                       shard_size=, max_shards=) come after them and win
  --rclone-opts OPTS   extra `rclone mount` flags, space-separated
  --no-rclone          skip the rclone contender
  --no-passthrough-off skip the second mount with passthrough=0 in the warm case (the first is
                       the default, passthrough=auto: FUSE passthrough when root; the report
                       says which mode it got)
  --tokenizer NAME     tokenizer= of every mount and of tokpool_bench (default: gpt2)
  --runs N             rounds per case (default: 3; --quick: 1)
  --corpus-mb N        corpus size in MB (default 1100; --quick 60)
  --cases LIST         comma-separated subset of warm,cold,sweep,evict,rss,shard_size
                       (warm covers getbatch)
  --out FILE           the markdown file to update between its markers (default: REPO/
                       docs/benchmarks.md; --quick: WORK/quick/benchmarks.md); plots go to
                       the dir plots/ next to it ... for docs/benchmarks.md: docs/plots/
  --no-doc             only print the report
  --keep               keep the temp dir (logs, raw results) instead of removing it
  -h, --help           this text

Run as root (FUSE mounts). Installs what it needs from Debian (rclone, gnuplot-nox; nginx,
fuse3, numpy via mount-scripts/install-deps.sh when missing). Everything it starts is stopped by
PID and unmounted in an EXIT trap; its temp dir (under --work) is removed, the corpus kept.
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build
WORK=/var/tmp/tokfs-bench
QUICK=0
TOKFS_OPTS=
RCLONE_OPTS=
RCLONE=1 PASSTHROUGH_OFF=1
TOKENIZER=gpt2
RUNS=
CORPUS_MB=
CASES=
OUT=
NODOC=0
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; shift ;;
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --tokfs-opts) TOKFS_OPTS=$2; shift 2 ;;
    --rclone-opts) RCLONE_OPTS=$2; shift 2 ;;
    --no-rclone) RCLONE=0; shift ;;
    --no-passthrough-off) PASSTHROUGH_OFF=0; shift ;;
    --tokenizer) TOKENIZER=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --corpus-mb) CORPUS_MB=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-doc) NODOC=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
PY=/usr/bin/python3
log() { echo "[$(date +%T)] $*" >&2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (FUSE mounts)" >&2; exit 1; }

if [ "$QUICK" = 1 ]; then
    : "${RUNS:=1}" "${CORPUS_MB:=100}"
    FILE_MB=8
    CASE_ARGS=(--warm-shards 20 --warm-shard-size 1M --warm-seconds 0.3 --batches 1000 --rclone-batches 200
        --cold-mb 16 --cold-shard-size 1M --sweep-shard-size 250000
        --evict-shard-size 2M --rss-shard-size 1M --sizes "250000,500000,1M,2M" --min-cheap-runs 3)
    MODE=quick
else
    : "${RUNS:=3}" "${CORPUS_MB:=1100}"
    FILE_MB=32
    CASE_ARGS=(--warm-shards 16 --warm-shard-size 10M --warm-seconds 1 --batches 1000
        --cold-mb 200 --cold-shard-size 10M --sweep-shard-size 5M
        --evict-shard-size 10M --rss-shard-size 10M --sizes "1M,2M,5M,10M,20M,50M" --min-cheap-runs 5)
    MODE=full
fi
if [ -z "$OUT" ]; then
    if [ "$QUICK" = 1 ]; then OUT=$WORK/quick/benchmarks.md; else OUT=$REPO/docs/benchmarks.md; fi
fi

# ---- dependencies ------------------------------------------------------------------------------
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    log "installing $* (apt)"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
if ! { [ -x /usr/sbin/nginx ] && command -v fusermount3 >/dev/null && "$PY" -c 'import numpy' 2>/dev/null; }; then
    bash "$REPO/mount-scripts/install-deps.sh"
fi
command -v gnuplot >/dev/null || apt_install gnuplot-nox
[ "$RCLONE" = 0 ] || command -v rclone >/dev/null || apt_install rclone
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
if [ ! -x "$BUILD/tokfs" ] || [ ! -x "$BUILD/tokpool_bench" ]; then
    log "building tokfs and tokpool_bench in $BUILD"
    cmake -S "$REPO" -B "$BUILD" >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target tokfs tokpool_bench >/dev/null
fi

# ---- temp dir, trap ----------------------------------------------------------------------------
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
TMP=$(mktemp -d "$WORK/run.XXXXXX")
PIDS_FILE=$TMP/pids
: >"$PIDS_FILE"
CASES_PID=
# shellcheck source=tests/lib/nginx.sh
source "$REPO/tests/lib/nginx.sh"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? m p
    set +e
    if [ -n "$CASES_PID" ] && kill -0 "$CASES_PID" 2>/dev/null; then
        kill -TERM "$CASES_PID" 2>/dev/null
        sleep 0.5
        kill -0 "$CASES_PID" 2>/dev/null && kill -KILL "$CASES_PID" 2>/dev/null
        wait "$CASES_PID" 2>/dev/null
    fi
    # every mount of this run is below $TMP
    while read -r m; do
        fusermount3 -u "$m" 2>/dev/null || { sleep 0.5; fusermount3 -u "$m" 2>/dev/null; } ||
            fusermount3 -uz "$m" 2>/dev/null
    done < <(awk -v t="$TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    # every daemon it started (tokfs, rclone, tokpool_bench), by PID, if still ours
    while read -r p; do
        if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then continue; fi
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -e "$TMP" -e tokpool_bench || continue
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done <"$PIDS_FILE"
    nginx_stop
    if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- corpus ------------------------------------------------------------------------------------
CORPUS=$WORK/corpus-${CORPUS_MB}mb-${FILE_MB}-g1
if [ ! -f "$CORPUS/corpus.json" ]; then
    log "generating a ${CORPUS_MB} MB JSONL corpus in $CORPUS (cached for later runs)"
    rm -rf "$CORPUS"
    "$PY" "$REPO/bench/lib/gencorpus.py" "$CORPUS" "$CORPUS_MB" "$FILE_MB" 1 >/dev/null
fi
log "corpus $CORPUS: $("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["files"]), "files,", d["bytes"], "bytes")' "$CORPUS/corpus.json")"
mkdir -p "$TMP/www/shards"
ln -s "$CORPUS/data" "$TMP/www/data"
cp "$CORPUS/list.txt" "$TMP/www/list.txt"
# rclone's http backend lists directories from an HTML index
# shellcheck disable=SC2034 # read by nginx_start
NGINX_EXTRA_CONF='location /shards/ { autoindex on; }'
TMPDIR=$TMP nginx_start "$TMP/www"
echo "$NGINX_PID" >>"$PIDS_FILE"
log "nginx on $NGINX_URL (pid $NGINX_PID)"

# ---- machine, version --------------------------------------------------------------------------
META=$("$PY" - "$REPO" "$BUILD" "$MODE" "$TOKENIZER" <<'PYEOF'
import json, os, platform, re, subprocess, sys
repo, build, mode, tok = sys.argv[1:5]
def sh(*c):
    try:
        return subprocess.run(c, capture_output=True, text=True, cwd=repo).stdout.strip()
    except OSError:
        return ""
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
btype = ""
try:  # CMakeLists.txt sets the default type outside the cache: the flags tell what it was
    m = re.search(r"^C_FLAGS = (.*)$", open(os.path.join(build, "CMakeFiles/tokfs.dir/flags.make")).read(), re.M)
    btype = " ".join(w for w in m.group(1).split() if w.startswith(("-O", "-g", "-march", "-DNDEBUG", "-fsanitize")))
except (OSError, AttributeError):
    pass
dirty = sh("git", "status", "--porcelain", "--untracked-files=no")
print(json.dumps({
    "mode": mode, "commit": sh("git", "rev-parse", "--short", "HEAD") + (" (+ working tree)" if dirty else ""),
    "code_commit": sh("git", "log", "-1", "--format=%h", "--", ".", ":(exclude)bench", ":(exclude)docs",
                      ":(exclude)README.md"),
    "build_type": btype, "kernel": platform.release(), "nproc": os.cpu_count(), "cpu": cpu,
    "mem_mib": mem, "debian": sh("cat", "/etc/debian_version"),
    "fuse3": sh("pkg-config", "--modversion", "fuse3"),
    "rclone": (sh("rclone", "version").splitlines() or [""])[0],
    "nginx": subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip(),
    "loadavg_start": open("/proc/loadavg").read().split()[:3],
}))
PYEOF
)

# ---- the cases ---------------------------------------------------------------------------------
RESULTS=$TMP/results.json
ARGS=(--tmp "$TMP" --url "$NGINX_URL" --corpus "$CORPUS" --results "$RESULTS"
    --tokfs "$BUILD/tokfs" --tokpool-bench "$BUILD/tokpool_bench" --tokenizer "$TOKENIZER"
    --tokfs-opts "$TOKFS_OPTS" --rclone-opts "$RCLONE_OPTS" --runs "$RUNS" --cases "$CASES"
    --meta "$META" "${CASE_ARGS[@]}")
[ "$RCLONE" = 1 ] || ARGS+=(--no-rclone)
[ "$PASSTHROUGH_OFF" = 1 ] || ARGS+=(--no-passthrough-off)
START=$(date +%s)
"$PY" "$REPO/bench/lib/cases.py" "${ARGS[@]}" &
CASES_PID=$!
wait "$CASES_PID" || { rc=$?; CASES_PID=; echo "run.sh: cases.py failed ($rc)" >&2; exit "$rc"; }
CASES_PID=
log "cases done in $(($(date +%s) - START)) s"

# ---- report ------------------------------------------------------------------------------------
REPORT_ARGS=(--results "$RESULTS" --tmp "$TMP" --elapsed "$(($(date +%s) - START))")
if [ "$NODOC" = 0 ]; then
    mkdir -p "$(dirname "$OUT")"
    REPORT_ARGS+=(--doc "$OUT" --plots "$(dirname "$OUT")/plots")
fi
[ "$KEEP" = 1 ] && cp "$RESULTS" "$WORK/last-results-$MODE.json"
cp "$RESULTS" "$WORK/last-results-$MODE.json"
"$PY" "$REPO/bench/lib/report.py" "${REPORT_ARGS[@]}"
[ "$NODOC" = 1 ] || log "wrote $OUT"
