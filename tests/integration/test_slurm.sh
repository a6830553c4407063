#!/usr/bin/env bash
# tokfs build on a real one-node Slurm cluster (Debian's slurm-wlm and munge, started here as
# root: tests/lib/slurm.sh). A job array of 4 tasks (sbatch --array=0-3%2
# mount-scripts/tokfs-build.sbatch) builds a corpus served by nginx into a directory: every task
# ran, the manifest is complete, and every shard in DEST equals, byte for byte, the shard of the
# same name a mount of the same SOURCE and options serves. Then 6 tasks through
# mount-scripts/tokfs-build-submit on a cluster whose MaxArraySize is 4 (two arrays: 0-3 and 0-1
# with an offset of 4) into another DEST: complete and equal too. A re-run of one task skips
# what is there (resume), and a shard damaged in DEST is made again.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/slurm.sh"
tk_setup
for b in slurmctld slurmd sbatch squeue sinfo scontrol munged; do
    command -v "$b" >/dev/null || tk_skip "$b is missing: mount-scripts/install-deps.sh installs slurm-wlm and munge"
done
TK_ON_EXIT+=(slurm_stop)

corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 300 --compressed >/dev/null
nginx_start "$corpus"
SOURCE="@$NGINX_URL/list.txt"
OPTS="shard_size=15000,val_shards=2"

# The reference: what a mount serves, name by name.
tk_mount "$SOURCE" "$TK_TMP/mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,$OPTS,prefetch=0" mount
tk_copy_shards "$TK_TMP/mnt" "$TK_TMP/ref"
tk_umount "$TK_TMP/mnt"
nref=$(find "$TK_TMP/ref" -name 'shard_*.bin' | wc -l)
[ "$nref" -ge 8 ] || tk_fail "the corpus makes only $nref shards: the test wants at least 8"

# check DEST: the manifest is complete and every shard equals the mount's of the same name.
check_dest() {
    "$PY" - "$1" "$TK_TMP/ref" "$nref" <<'PY'
import json, os, sys
dest, ref, nref = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = json.load(open(os.path.join(dest, "manifest.json")))
assert m["format"] == "tokfs-shard-set" and m["complete"] is True, m.get("complete")
assert m["pieces"] == nref == len(m["shards"]), (m["pieces"], nref, len(m["shards"]))
for s in m["shards"]:
    got = open(os.path.join(dest, "shards", "%06d.bin" % s["index"]), "rb").read()
    want = open(os.path.join(ref, s["name"]), "rb").read()
    assert got == want, "%s differs from the mount's (%d vs %d bytes)" % (s["name"], len(got), len(want))
    assert len(got) == s["bytes"] and s["tokens"] * 2 == len(got), s
leftover = os.listdir(os.path.join(dest, "tmp"))
assert not leftover, "temp files left in DEST/tmp: %s" % leftover
print("DEST %s: %d shards, all equal to the mount's" % (dest, len(m["shards"])))
PY
}

slurm_start "$TK_TMP/slurm" 4 || tk_fail "cannot start the Slurm cluster"
tk_log "Slurm up: $(sinfo -h -o '%N %t %c')"
export TOKFS
cd "$TK_TMP"

# ---- 1. an array of 4 tasks, at most 2 at once ---------------------------------------------
job=$(sbatch --parsable --array=0-3%2 -o "$TK_TMP/task-%a.log" \
    "$TOKFS_SOURCE_DIR/mount-scripts/tokfs-build.sbatch" "$SOURCE" "$TK_TMP/dest1" "$OPTS") ||
    tk_fail "sbatch refused the array"
slurm_wait_job "$job" 300 || tk_fail "the array did not finish"
for a in 0 1 2 3; do
    [ -s "$TK_TMP/task-$a.log" ] || tk_fail "task $a left no output"
    grep -q "task $a of 4" "$TK_TMP/task-$a.log" || tk_fail "task $a: $(head -n 3 "$TK_TMP/task-$a.log")"
    grep -q "0 failed" "$TK_TMP/task-$a.log" || tk_fail "task $a failed: $(tail -n 5 "$TK_TMP/task-$a.log")"
done
check_dest "$TK_TMP/dest1" || tk_fail "DEST after the array of 4 is not what a mount serves"

# ---- 2. resume, and a damaged shard made again ------------------------------------------------
printf 'damage' | dd of="$TK_TMP/dest1/shards/000001.bin" bs=1 seek=10 conv=notrunc status=none
"$TOKFS" build "$SOURCE" "$TK_TMP/dest1" -o "$OPTS" --task 1/4 --progress lines \
    >"$TK_TMP/rerun.log" 2>&1 || tk_fail "re-run of task 1: $(tail -n 3 "$TK_TMP/rerun.log")"
grep -q "000001.bin: .*ignored (made again)" "$TK_TMP/rerun.log" ||
    tk_fail "the damaged shard was not noticed: $(cat "$TK_TMP/rerun.log")"
made=$(grep -c ' made: ' "$TK_TMP/rerun.log" || true)
skipped=$(grep -c 'already in DEST' "$TK_TMP/rerun.log" || true)
[ "$made" = 1 ] && [ "$skipped" -ge 1 ] || tk_fail "re-run: $made made, $skipped skipped (want 1 made)"
check_dest "$TK_TMP/dest1" || tk_fail "DEST after the re-run is not what a mount serves"

# ---- 3. more tasks than MaxArraySize (4): tokfs-build-submit splits the array -----------------
jobs=$(TOKFS_ARRAY_THROTTLE=2 "$TOKFS_SOURCE_DIR/mount-scripts/tokfs-build-submit" 6 "$SOURCE" \
    "$TK_TMP/dest2" "$OPTS" -- -o "$TK_TMP/sub-%A-%a.log") || tk_fail "tokfs-build-submit failed"
[ "$(echo "$jobs" | wc -l)" = 2 ] || tk_fail "6 tasks with MaxArraySize=4 should be 2 arrays: $jobs"
for j in $jobs; do slurm_wait_job "$j" 300 || tk_fail "array $j did not finish"; done
tasks=$(cat "$TK_TMP"/sub-*.log | grep -o 'task [0-9] of 6' | sort -u | wc -l)
[ "$tasks" = 6 ] || tk_fail "tasks seen: $(cat "$TK_TMP"/sub-*.log | grep -o 'task [0-9] of 6' | sort -u | tr '\n' ' ')"
check_dest "$TK_TMP/dest2" || tk_fail "DEST after 6 tasks in 2 arrays is not what a mount serves"
cd /
slurm_stop
tk_done
