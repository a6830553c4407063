#!/usr/bin/env bash
# Prefetch in a sequential sweep (docs/design.md "The cache", docs/performance.md "Prefetch"):
# a reader goes through train/shard_00000 .. shard_N-1 in order, reading each whole and then
# spending a little time on it (a trainer consuming it), with prefetch=1 and a cache_size that
# holds about three shards of a corpus of ten. Before it opens shard k+1, status.json must
# already show k+1 "materializing" or "cached": its build started while k was read (an
# ordering, not a timing: the consume time is many times a shard's build). Under the cap this
# needs a prefetch that evicts shards read before (the old rule, "a prefetch never evicts",
# left k+1 unmade here). Also: every shard made exactly once (materializations = N: none made
# twice, none evicted before it was read), evictions happened, the cap held (du), and the
# sweep's bytes equal the expected stream.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 10 --docs-per-file 400 --seed 21
nginx_start "$corpus"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
corpus_tokens=$(( $(stat -c %s "$corpus/expected.u16") / 2 ))
shard_size=$(( corpus_tokens / 11 ))   # ten train shards and one val shard, about
cap=$(( 128 * 1024 + shard_size * 2 * 7 / 2 ))  # metadata + about 3.5 shards
tk_log "corpus $corpus_tokens tokens, shard_size $shard_size, cache_size $cap"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=$cap,cache_dir=$cache,shard_size=$shard_size,workers=2,prefetch=1,tokenizer=bytes"

"$PY" - "$mnt" "$cache" "$cap" "$corpus/expected.u16" <<'PY' || tk_fail "sweep"
import glob, json, os, subprocess, sys, time
import numpy as np
mnt, cache, cap, expected_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def status():
    return json.load(open(mnt + "/.tokfs/status.json"))
names = sorted(os.listdir(mnt + "/train"))
n = len(names)
assert n >= 8, names
got = []
for k, name in enumerate(names):
    if k > 0:
        s = status()["shards"][k]
        print("before reading %s: %s" % (name, s["state"]))
        assert s["state"] in ("materializing", "cached"), \
            "shard %d was not started before its first read: %s" % (k, s)
    a = np.array(np.memmap(os.path.join(mnt, "train", name), dtype=np.uint16, mode="r"))
    got.append(a)
    # the trainer's own time with it: long next to a build of a shard this small
    time.sleep(0.5)
    du = int(subprocess.check_output(["du", "-sB1", cache]).split()[0])
    assert du <= cap, "du %d over the cap %d" % (du, cap)
doc = status()
print("materializations", doc["materializations"], "evictions", doc["evictions"],
      "failures", doc["failures"])
assert doc["failures"] == 0, doc["last_error"]
assert doc["evictions"] >= n - 4, doc["evictions"]
# each train shard made once (prefetch stays within its split: nothing past the last)
assert doc["materializations"] == n, doc["materializations"]
expected = np.fromfile(expected_path, dtype=np.uint16)
stream = np.concatenate(got)
assert np.array_equal(stream, expected[: len(stream)]), "the sweep's ids differ"
PY
tk_umount "$mnt"
tk_done
