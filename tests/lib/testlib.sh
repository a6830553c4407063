# tokfs integration-test helpers. Source after setting nothing; uses $TOKFS (the binary) and
# $TOKFS_SOURCE_DIR, which ctest sets. Every test:
#   source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
#   tk_setup                       # temp dir $TK_TMP, cleanup trap on EXIT
#   tk_mount SOURCE MNT OPTS       # foreground daemon in the background; waits until mounted
#   tk_umount MNT
# Cleanup runs even when the test fails: unmounts what it mounted, kills the daemons it started
# (by PID, never by name), stops nginx, removes the temp dir.

set -euo pipefail
: "${TOKFS_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TOKFS_BUILD_DIR:=$TOKFS_SOURCE_DIR/build}"
: "${TOKFS:=$TOKFS_BUILD_DIR/tokfs}"
PY=/usr/bin/python3
# The default cache_dir and tokenizer_cache (cache_dir/tokenizers) of every tokfs the tests run
# without those options: inside the build dir, never the user's home.
export XDG_CACHE_HOME="$TOKFS_BUILD_DIR/test-xdg-cache"
CORPUS_PY="$TOKFS_SOURCE_DIR/tests/lib/corpus.py"
source "$TOKFS_SOURCE_DIR/tests/lib/nginx.sh"

TK_MOUNTS=()
declare -A TK_PIDS=()

tk_log() { echo "[$(date +%T)] $*" >&2; }
tk_fail() { echo "FAIL: $*" >&2; exit 1; }
# A test that cannot do its check reports a skip, never a pass: exit 77 (ctest's
# SKIP_RETURN_CODE for every test, as libfuse's tests do). run-tests.sh then fails the run
# unless the test is allowed to skip (TOKFS_ALLOW_SKIP). A test that can still do part of its
# work calls tk_skip_later REASON and goes on; tk_done ends it as a skip if anything was noted.
TK_SKIPPED=()
tk_skip() { echo "SKIP: $*" >&2; exit 77; }
tk_skip_later() { tk_log "SKIPPED: $*"; TK_SKIPPED+=("$*"); }
tk_done() {
    if [ ${#TK_SKIPPED[@]} -gt 0 ]; then
        tk_skip "part of the test could not run: ${TK_SKIPPED[*]}"
    fi
    echo PASS
}

# Functions a test adds to run first at cleanup (e.g. slurm_stop), even when it fails.
TK_ON_EXIT=()

tk_cleanup() {
    local rc=$?
    set +e
    [ -n "${TK_WATCHDOG:-}" ] && kill "$TK_WATCHDOG" 2>/dev/null
    local hook
    for hook in "${TK_ON_EXIT[@]}"; do "$hook"; done
    local m
    for m in "${TK_MOUNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null; }
    done
    local pid
    for pid in "${TK_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    nginx_stop
    if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "${TK_TMP:-}" ]; then
        for f in "$TK_TMP"/*.log; do
            [ -f "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }
        done
    fi
    [ -n "${TK_TMP:-}" ] && rm -rf "$TK_TMP"
    exit $rc
}

# The children of process $1 (from /proc: procps may be missing on a fresh machine).
tk_children_of() {
    local d stat fields
    for d in /proc/[0-9]*; do
        stat=$(cat "$d/stat" 2>/dev/null) || continue
        read -r -a fields <<<"${stat##*) }" # after "pid (comm) ": state ppid ...
        [ "${fields[1]}" = "$1" ] && echo "${d#/proc/}"
    done
    return 0
}

# ctest ends a test past its TIMEOUT with SIGKILL, which no trap sees: the mounts, daemons and
# temp dir would stay behind and break the next run. So when ctest says the timeout
# (TOKFS_TEST_TIMEOUT, set in CMakeLists.txt), a watchdog ends the test 30 s before it: TERM to
# the script, and KILL to the script's children (bash runs its trap only once the command it
# waits for has returned: a hung reader, a daemon), then the EXIT trap cleans up as after any
# failure. tk_cleanup stops the watchdog (by its PID: it is not the script's child).
tk_watchdog() {
    set +e
    local main=$1 secs=$2 sleeper c # not main's child: main's children are the test's own
    sleep "$secs" </dev/null >/dev/null 2>&1 &
    sleeper=$!
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper"
    echo "[$(date +%T)] FAIL: still running ${secs} s after it started, 30 s before ctest's timeout: ended" >&2
    kill -TERM "$main" 2>/dev/null
    for c in $(tk_children_of "$main"); do
        kill -KILL "$c" 2>/dev/null
    done
    exit 0
}

# tk_setup [PARENT [NAME]]: the temp dir PARENT/NAME.XXXXXX (default /tmp/tokfs-test.XXXXXX).
tk_setup() {
    [ -x "$TOKFS" ] || tk_fail "tokfs binary not found at $TOKFS: build first"
    TK_TMP=$(mktemp -d "${1:-/tmp}/${2:-tokfs-test}.XXXXXX")
    trap tk_cleanup EXIT
    trap 'exit 130' INT TERM
    if [ "${TOKFS_TEST_TIMEOUT:-0}" -gt 30 ]; then
        # Started from a subshell that exits at once: the watchdog is then no job of the script,
        # so a bare `wait` or `jobs` in a test does not see it (a bare wait would wait for it).
        (tk_watchdog "$$" $((TOKFS_TEST_TIMEOUT - 30)) </dev/null & echo $! >"$TK_TMP/.watchdog")
        TK_WATCHDOG=$(cat "$TK_TMP/.watchdog")
    fi
}

# tk_mount SOURCE MNT OPTS [LOGNAME]: run tokfs -f in the background, wait until mounted.
tk_mount() { tk_mount_as -f "$@"; }
# tk_mount_debug SOURCE MNT OPTS [LOGNAME]: the same with -d: libfuse's log of every request the
# daemon gets goes to LOGNAME.log, where tk_ops counts them.
tk_mount_debug() { tk_mount_as -d "$@"; }
tk_mount_as() {
    local flag=$1 src=$2 mnt=$3 opts=$4 name=${5:-tokfs}
    mkdir -p "$mnt"
    TK_MOUNTS+=("$mnt")
    "$TOKFS" "$src" "$mnt" -o "$opts" "$flag" >>"$TK_TMP/$name.log" 2>&1 &
    local pid=$!
    TK_PIDS[$mnt]=$pid
    local i
    for i in $(seq 1 300); do
        mountpoint -q "$mnt" && return 0
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; tk_fail "tokfs exited before mounting (see $name.log): $(tail -n 3 "$TK_TMP/$name.log")"; }
        sleep 0.1
    done
    tk_fail "tokfs did not mount $mnt within 30 s"
}

# tk_ops LOG OPCODE [NODEID]: how many requests of that opcode (to that inode) a tk_mount_debug
# log records.
tk_ops() {
    local pat="opcode: $2 "
    [ $# -ge 3 ] && pat="opcode: $2 ([0-9]*), nodeid: $3,"
    grep -c "$pat" "$1" || true
}

tk_umount() {
    local mnt=$1
    fusermount3 -u "$mnt"
    local pid=${TK_PIDS[$mnt]:-}
    if [ -n "$pid" ]; then
        local i
        for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && tk_fail "tokfs (pid $pid) did not exit after unmount"
        wait "$pid" || tk_fail "tokfs exited with status $? after unmount"
        unset "TK_PIDS[$mnt]"
    fi
}

# Kill the daemon serving MNT with SIGKILL and clear the dead mount.
tk_kill9() {
    local mnt=$1 pid=${TK_PIDS[$1]}
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    unset "TK_PIDS[$mnt]"
    fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
}

# tk_copy_shards MNT DIR: copy every train/ and val/ shard of the mount to DIR/train, DIR/val (a
# reference to compare other mounts or shard sets with, name by name).
tk_copy_shards() {
    local f
    mkdir -p "$2"
    (cd "$1" && for f in train/shard_*.bin val/shard_*.bin; do
        mkdir -p "$2/$(dirname "$f")"; cp "$f" "$2/$f"; done)
}

# Value of a top-level number in MNT/.tokfs/status.json.
tk_status() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/.tokfs/status.json" "$2"
}

# tk_settle MNT: wait (up to 30 s) until no shard of the mount is "materializing". A read is
# answered as soon as its shard's bytes are written; the shard is cached (synced, named, counted
# in materializations) a few ms later: a check of status.json right after a read waits for that.
tk_settle() {
    "$PY" - "$1/.tokfs/status.json" <<'PY' || tk_fail "shards still being made after 30 s"
import json, sys, time
for _ in range(600):
    if not any(s["state"] == "materializing" for s in json.load(open(sys.argv[1]))["shards"]):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
}

# Count of GET requests in nginx's access log.
tk_gets() { nginx_log_count '^GET ' || true; }
