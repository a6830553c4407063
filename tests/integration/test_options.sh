#!/usr/bin/env bash
# Options and FUSE behaviour: shuffle_seed, max_shards, directory / single file / file:// /
# .ndjson sources, known counts surviving remount, single flight (many readers, one build), a
# reader waiting for a slow shard never holds up reads of a cached one, and the fstab path
# (mount -t fuse.tokfs through mount.fuse3, unmount with umount).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 6 --docs-per-file 400 --seed 5
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
base="cache_size=64M,cache_dir=$cache,shard_size=25000,prefetch=0,tokenizer=bytes"

tk_log "local directory SOURCE (every .jsonl/.txt below it, by path) gives the expected stream"
mkdir -p "$TK_TMP/dir/b" "$TK_TMP/dir/a"
# Path order: a/ before b/; list.txt is a .txt source too, so use a copy without it.
cp "$corpus"/part-00[0-2].jsonl "$TK_TMP/dir/a/"
cp "$corpus"/part-00[3-5].jsonl "$TK_TMP/dir/b/"
cp "$corpus/notes.txt" "$TK_TMP/dir/b/z-notes.txt"
mv "$TK_TMP/dir/b/part-005.jsonl" "$TK_TMP/dir/b/part-005.ndjson"
tk_mount "$TK_TMP/dir" "$mnt" "$base" dir
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected.u16"
tk_umount "$mnt"

tk_log "file:// URL of one file, val_shards=0"
tk_mount "file://$corpus/part-000.jsonl" "$mnt" "$base,val_shards=0" fileurl
[ -z "$(ls "$mnt/val")" ] || tk_fail "val_shards=0 still shows val shards"
"$PY" - "$mnt" "$corpus/part-000.jsonl" <<'PY'
import json, sys
import numpy as np
from glob import glob
got = np.concatenate([np.array(np.memmap(p, dtype=np.uint16, mode="r")) for p in sorted(glob(sys.argv[1] + "/train/*.bin"))])
exp = []
for line in open(sys.argv[2], "rb"):
    exp.extend(json.loads(line)["text"].encode()); exp.append(256)
assert got.tolist() == exp, "file:// mount differs"
PY
tk_umount "$mnt"

tk_log "shuffle_seed: a permutation of the pieces, the same for the same seed; max_shards: a prefix"
plain=$TK_TMP/plain.u16
tk_mount "$TK_TMP/dir" "$mnt" "$base" plain
"$PY" - "$mnt" "$TK_TMP/plain-shards.npz" <<'PY'
import sys, numpy as np
from glob import glob
shards = [np.array(np.memmap(p, dtype=np.uint16, mode="r")) for s in ("train", "val") for p in sorted(glob(sys.argv[1] + "/%s/*.bin" % s))]
np.savez(sys.argv[2], *shards)
PY
tk_umount "$mnt"
for run in 1 2; do
    tk_mount "$TK_TMP/dir" "$mnt" "$base,shuffle_seed=42" "shuffled$run"
    "$PY" - "$mnt" "$TK_TMP/plain-shards.npz" "$TK_TMP/shuffled$run.txt" <<'PY'
import sys, numpy as np
from glob import glob
plain = list(np.load(sys.argv[2]).values())
shuf = [np.array(np.memmap(p, dtype=np.uint16, mode="r")) for s in ("train", "val") for p in sorted(glob(sys.argv[1] + "/%s/*.bin" % s))]
key = lambda a: a.tobytes()
assert sorted(map(key, plain)) == sorted(map(key, shuf)), "shuffled shards are not a permutation of the plain ones"
order = [next(i for i, p in enumerate(plain) if np.array_equal(p, s)) for s in shuf]
assert order != list(range(len(order))), "shuffle_seed=42 left the order unchanged"
open(sys.argv[3], "w").write(" ".join(map(str, order)))
PY
    tk_umount "$mnt"
done
cmp -s "$TK_TMP/shuffled1.txt" "$TK_TMP/shuffled2.txt" || tk_fail "the same shuffle_seed gave different orders"
tk_mount "$TK_TMP/dir" "$mnt" "$base,max_shards=3" maxshards
[ "$(ls "$mnt/train" | wc -l)" -eq 3 ] || tk_fail "max_shards=3 shows $(ls "$mnt/train" | wc -l) train shards"
[ "$(ls "$mnt/val" | wc -l)" -eq 1 ] || tk_fail "max_shards changed the val split"
"$PY" - "$mnt" "$TK_TMP/plain-shards.npz" <<'PY'
import sys, numpy as np
from glob import glob
plain = list(np.load(sys.argv[2]).values())
got = [np.array(np.memmap(p, dtype=np.uint16, mode="r")) for p in sorted(glob(sys.argv[1] + "/train/*.bin"))]
assert all(np.array_equal(a, b) for a, b in zip(got, plain[:3])), "max_shards=3 is not the first 3 shards"
val = np.array(np.memmap(sys.argv[1] + "/val/shard_00000.bin", dtype=np.uint16, mode="r"))
assert np.array_equal(val, plain[-1]), "max_shards changed the val shard"
PY
tk_umount "$mnt"

tk_log "known token counts survive remount: sizes without making anything"
tk_mount "$TK_TMP/dir" "$mnt" "$base" counts
"$PY" - "$mnt" <<'PY'
import json, os, sys
m = sys.argv[1]
meta = json.load(open(m + "/dataset_metadata.json"))
st = json.load(open(m + "/.tokfs/status.json"))
assert meta["splits"]["train"]["shards_with_known_size"] == meta["splits"]["train"]["shards"], meta
sizes = [os.stat(m + "/train/" + f).st_size for f in sorted(os.listdir(m + "/train"))]
assert sizes == [2 * t for t in meta["splits"]["train"]["shard_tokens"]], (sizes, meta)
st2 = json.load(open(m + "/.tokfs/status.json"))
assert st2["materializations"] == 0 and st2["bytes_fetched"] == 0, st2
PY
tk_umount "$mnt"

tk_log "single flight and no head-of-line blocking (slow HTTP source)"
NGINX_EXTRA_CONF='limit_rate 40k;' nginx_start "$corpus"
rm -rf "$cache"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$cache,shard_size=120000,workers=2,prefetch=0,tokenizer=bytes" flight
cat "$mnt/train/shard_00001.bin" >/dev/null
tk_settle "$mnt"                              # cached now
gets_before=$(grep -c '^GET /part' "$NGINX_ACCESS_LOG" || true)
pids=()
for i in 1 2 3 4 5 6; do cat "$mnt/train/shard_00000.bin" >"$TK_TMP/copy$i" & pids+=($!); done
sleep 0.5
# While six readers wait for shard 0, the cached shard 1 still reads at once.
start=$(date +%s%N)
cat "$mnt/train/shard_00001.bin" >/dev/null
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(tk_status "$mnt" materializations)" -eq 1 ] || tk_fail "shard 0 finished too fast to test blocking (raise the corpus size)"
for p in "${pids[@]}"; do wait "$p"; done
tk_settle "$mnt"
tk_log "cached read took $elapsed_ms ms while shard 0 was being made"
[ "$elapsed_ms" -lt 1500 ] || tk_fail "a read of a cached shard waited $elapsed_ms ms behind a build"
[ "$(tk_status "$mnt" materializations)" -eq 2 ] || tk_fail "six readers of one shard made $(tk_status "$mnt" materializations) builds in all, expected 2"
for i in 2 3 4 5 6; do cmp -s "$TK_TMP/copy1" "$TK_TMP/copy$i" || tk_fail "reader $i saw different bytes"; done
gets=$(( $(grep -c '^GET /part' "$NGINX_ACCESS_LOG") - gets_before ))
[ "$gets" -le 3 ] || tk_fail "one shard made $gets GET requests: builds were not shared"
tk_umount "$mnt"

tk_log "fstab path: mount.fuse3 (what mount -t fuse.tokfs runs), then umount"
# mount(8) resets PATH before running the helper, so fstab needs tokfs installed (cmake --install);
# here the helper is run the way mount(8) runs it, with the build dir on PATH.
PATH="$(dirname "$TOKFS"):$PATH" /sbin/mount.fuse3 "$NGINX_URL/part-000.jsonl" "$mnt" -t tokfs \
    -o "rw,cache_size=64M,cache_dir=$cache-fstab,val_shards=0,tokenizer=bytes,noatime,_netdev" \
    || tk_fail "mount.fuse3 -t tokfs failed"
TK_MOUNTS+=("$mnt")
mountpoint -q "$mnt" || tk_fail "mount.fuse3 returned but nothing is mounted"
grep " $mnt fuse.tokfs " /proc/mounts >/dev/null || tk_fail "not listed as fuse.tokfs in /proc/mounts"
pid=$(tk_status "$mnt" pid)
[ "$(ls "$mnt/train" | wc -l)" -ge 1 ] || tk_fail "no shards through the fstab path"
cat "$mnt/train/shard_00000.bin" >/dev/null
umount "$mnt"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && tk_fail "daemon still running after umount"
echo PASS
