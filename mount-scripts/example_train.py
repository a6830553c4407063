#!/usr/bin/python3
"""A minimal nanoGPT-style data loop against a tokfs mount: the way unmodified trainers read.

Every step re-opens a random train shard with np.memmap (as nanoGPT's get_batch does), takes
random windows of block_size+1 tokens, and builds x/y batches. Prints tokens/s.

  example_train.py MOUNT [--steps N] [--batch B] [--block T]
"""
import glob
import json
import os
import sys
import time

import numpy as np


def main(argv):
    mount = argv[1]
    opts = {"--steps": 200, "--batch": 16, "--block": 256}
    for i, a in enumerate(argv):
        if a in opts:
            opts[a] = int(argv[i + 1])
    meta = json.load(open(os.path.join(mount, "dataset_metadata.json")))
    dtype = np.uint16 if meta["dtype"] == "uint16" else np.uint32
    shards = sorted(glob.glob(os.path.join(mount, "train", "shard_*.bin")))
    print("tokfs mount %s: tokenizer=%s vocab=%d eot=%d, %d train shards" % (
        mount, meta["tokenizer"], meta["vocab_size"], meta["eot_id"], len(shards)))
    rng = np.random.default_rng(0)
    block, batch = opts["--block"], opts["--batch"]
    tokens = 0
    start = time.perf_counter()
    for step in range(opts["--steps"]):
        path = shards[rng.integers(len(shards))]
        data = np.memmap(path, dtype=dtype, mode="r")  # re-opened every batch, as nanoGPT does
        if len(data) <= block + 1:
            continue
        ix = rng.integers(len(data) - block - 1, size=batch)
        x = np.stack([np.asarray(data[i:i + block], dtype=np.int64) for i in ix])
        y = np.stack([np.asarray(data[i + 1:i + 1 + block], dtype=np.int64) for i in ix])
        assert x.shape == y.shape == (batch, block)
        tokens += x.size
        if step == 0 and meta["tokenizer"] == "bytes":
            sample = bytes(int(t) for t in x[0][:120] if t < 256).decode("utf-8", "replace")
            print("first window: %r" % sample)
    elapsed = time.perf_counter() - start
    print("read %d tokens in %d steps: %.0f tokens/s" % (tokens, opts["--steps"], tokens / elapsed))
    status = json.load(open(os.path.join(mount, ".tokfs", "status.json")))
    print("cache: %d of %d bytes used, %d shards made, %d bytes fetched" % (
        status["cache_bytes_used"], status["cache_bytes_cap"], status["materializations"],
        status["bytes_fetched"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
