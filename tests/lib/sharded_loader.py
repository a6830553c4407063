#!/usr/bin/python3
"""The sharded loader of issue 12, as a trainer has it (it knows nothing of tokfs): every batch
picks a random shard of DATA_DIR/SPLIT/shard_*.bin, maps it with
np.memmap(shard, dtype=np.uint32, mode='r') and takes BATCH windows of BLOCK + 1 ids at random
offsets (x = the first BLOCK, y = the next-token targets).

    sharded_loader.py DATA_DIR EXPECTED.u32 [BATCHES]

The check (this file's main, not the loader): EXPECTED.u32 is the whole corpus's expected id
stream; the shards of train/ then val/, in name order, are consecutive runs of it, so every
window the loader returns must equal EXPECTED at its shard's start plus its offset. Exit 0 when
every window of every batch does."""
import glob
import os
import random
import sys

import numpy as np

BLOCK = 256
BATCH = 8


# ---- the loader, unmodified -------------------------------------------------------------------

def get_batch(data_dir, split, rng):
    shards = sorted(glob.glob(os.path.join(data_dir, split, "shard_*.bin")))
    shard = shards[rng.randrange(len(shards))]
    data = np.memmap(shard, dtype=np.uint32, mode="r")
    ix = [rng.randrange(len(data) - BLOCK) for _ in range(BATCH)]
    x = np.stack([np.asarray(data[i:i + BLOCK], dtype=np.int64) for i in ix])
    y = np.stack([np.asarray(data[i + 1:i + 1 + BLOCK], dtype=np.int64) for i in ix])
    return x, y, shard, ix


# ---- the check --------------------------------------------------------------------------------

def main(argv):
    data_dir, expected_path = argv[1], argv[2]
    batches = int(argv[3]) if len(argv) > 3 else 50
    expected = np.fromfile(expected_path, dtype="<u4")
    starts, at = {}, 0
    for split in ("train", "val"):
        for p in sorted(glob.glob(os.path.join(data_dir, split, "shard_*.bin"))):
            starts[p] = at
            at += os.path.getsize(p) // 4
    if at != len(expected):
        sys.exit("sharded_loader: the shards hold %d ids, the corpus %d" % (at, len(expected)))
    rng = random.Random(12)
    for b in range(batches):
        x, y, shard, ix = get_batch(data_dir, "train" if b % 5 else "val", rng)
        for row, i in enumerate(ix):
            base = starts[shard] + i
            if not (np.array_equal(x[row], expected[base:base + BLOCK]) and
                    np.array_equal(y[row], expected[base + 1:base + 1 + BLOCK])):
                sys.exit("sharded_loader: batch %d, %s at %d differs from the corpus"
                         % (b, shard, i))
    print("sharded_loader: %d batches of %d windows, %d shards, all equal to the corpus"
          % (batches, BATCH, len(starts)))


if __name__ == "__main__":
    main(sys.argv)
