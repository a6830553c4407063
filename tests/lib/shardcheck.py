#!/usr/bin/python3
"""Shard-level checks for tokfs's reliability tests (Debian python3 + python3-numpy only).

  shardcheck.py counts MOUNT OUT.json
      Saves the token count of every shard, in plan order (train shards, then val shards), from
      MOUNT/dataset_metadata.json; fails unless every count is known (read every shard first).
  shardcheck.py check CACHE_DIR COUNTS.json EXPECTED.u16 [MOUNT]
      Checks a quiescent cache dir (no build in flight) against the expected stream: nothing in
      tmp/, every file in shards/ has the exact content of its shard, every valid catalog record
      holds the right token count, and (with MOUNT) status.json agrees with the files on disk.
      Prints the problems and exits 1 when there are any.

As a module: Reference (expected slice of each shard), read_plan, read_catalog, check_cache."""
import glob
import json
import time
import os
import struct
import sys

import numpy as np

CATALOG_HEADER = 64
CATALOG_RECORD = 32


class Reference:
    """The expected ids of each shard, by plan index, from the expected stream and the counts."""

    def __init__(self, expected_path, counts):
        self.stream = np.fromfile(expected_path, dtype=np.uint16)
        self.counts = list(counts)
        self.offsets = [0]
        for n in self.counts:
            self.offsets.append(self.offsets[-1] + n)
        if self.offsets[-1] != len(self.stream):
            raise ValueError("shard counts add up to %d tokens, the expected stream has %d"
                             % (self.offsets[-1], len(self.stream)))

    def __len__(self):
        return len(self.counts)

    def shard(self, i):
        return self.stream[self.offsets[i]:self.offsets[i + 1]]

    def bytes(self, i):
        return self.shard(i).astype("<u2").tobytes()


def counts_from_mount(mount):
    with open(os.path.join(mount, "dataset_metadata.json")) as f:
        meta = json.load(f)
    counts = meta["splits"]["train"]["shard_tokens"] + meta["splits"]["val"]["shard_tokens"]
    if any(c is None for c in counts):
        raise ValueError("not every shard's size is known yet")
    return counts


def plan_dir(cache_dir):
    dirs = glob.glob(os.path.join(cache_dir, "plan-*"))
    if len(dirs) != 1:
        raise ValueError("expected one plan dir in %s, found %s" % (cache_dir, dirs))
    return dirs[0]


def read_plan(pdir):
    """(sources, pieces, ntrain): sources as dicts (url, size, etag), pieces as dicts
    (first, last, begin, end)."""
    sources, pieces, ntrain = [], [], None
    with open(os.path.join(pdir, "plan.tsv")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "source":
                sources.append({"format": int(fields[1]), "size": int(fields[2]),
                                "etag": fields[4], "url": fields[6]})
            elif fields[0] == "piece":
                pieces.append({"first": int(fields[1]), "last": int(fields[2]),
                               "begin": int(fields[3]), "end": int(fields[4])})
            elif fields[0] == "split":
                ntrain = int(fields[1])
    return sources, pieces, ntrain


def read_catalog(pdir):
    """{plan index: tokens} for every valid record of catalog.bin."""
    out = {}
    with open(os.path.join(pdir, "catalog.bin"), "rb") as f:
        data = f.read()
    n = (len(data) - CATALOG_HEADER) // CATALOG_RECORD
    for i in range(n):
        at = CATALOG_HEADER + i * CATALOG_RECORD
        tokens, _checksum, _reserved, valid, _check = struct.unpack_from("<QQQII", data, at)
        if valid == 1:
            out[i] = tokens
    return out


def shard_name(i, ntrain):
    return "train/shard_%05d.bin" % i if i < ntrain else "val/shard_%05d.bin" % (i - ntrain)


def check_cache(cache_dir, ref, mount=None):
    """Problems found (a list of strings; empty when all is well)."""
    problems = []
    if mount:
        # A read of a shard being re-made can be answered before the build ends (early reads,
        # issue 13): the build may still be naming its file. Let builds in flight finish (no
        # new one starts once the readers stop, with prefetch=0) before comparing the files
        # with status.json.
        for _ in range(200):
            with open(os.path.join(mount, ".tokfs", "status.json")) as f:
                if not any(s["state"] == "materializing" for s in json.load(f)["shards"]):
                    break
            time.sleep(0.05)
    pdir = plan_dir(cache_dir)
    _, pieces, ntrain = read_plan(pdir)
    if len(pieces) != len(ref):
        problems.append("plan has %d pieces, reference %d shards" % (len(pieces), len(ref)))
        return problems
    leftovers = os.listdir(os.path.join(pdir, "tmp"))
    if leftovers:
        problems.append("temp files left: %s" % leftovers)
    on_disk = set()
    for path in sorted(glob.glob(os.path.join(pdir, "shards", "*"))):
        base = os.path.basename(path)
        try:
            i = int(base.split(".")[0])
        except ValueError:
            problems.append("unexpected file %s" % path)
            continue
        on_disk.add(i)
        with open(path, "rb") as f:
            got = f.read()
        if got != ref.bytes(i):
            problems.append("cached %s (%s) differs from the source: %d bytes, expected %d"
                            % (shard_name(i, ntrain), base, len(got), len(ref.bytes(i))))
    for i, tokens in read_catalog(pdir).items():
        if i >= len(ref) or tokens != ref.counts[i]:
            problems.append("catalog says %s has %d tokens, the source gives %s"
                            % (shard_name(i, ntrain), tokens,
                               ref.counts[i] if i < len(ref) else "no such shard"))
    if mount:
        with open(os.path.join(mount, ".tokfs", "status.json")) as f:
            status = json.load(f)
        for i, s in enumerate(status["shards"]):
            cached = s["state"] == "cached"
            if cached != (i in on_disk):
                problems.append("status says %s is %s, but its file is %s" % (
                    s["name"], s["state"], "there" if i in on_disk else "not there"))
            if s["tokens"] is not None and s["tokens"] != ref.counts[i]:
                problems.append("status says %s has %d tokens, expected %d"
                                % (s["name"], s["tokens"], ref.counts[i]))
        if status["cache_bytes_used"] > status["cache_bytes_cap"]:
            problems.append("status: %d bytes used over the cap %d"
                            % (status["cache_bytes_used"], status["cache_bytes_cap"]))
    return problems


def main(argv):
    if len(argv) == 4 and argv[1] == "counts":
        counts = counts_from_mount(argv[2])
        with open(argv[3], "w") as f:
            json.dump(counts, f)
        print("shardcheck: %d shards, %d tokens" % (len(counts), sum(counts)))
        return 0
    if len(argv) in (5, 6) and argv[1] == "check":
        with open(argv[3]) as f:
            ref = Reference(argv[4], json.load(f))
        problems = check_cache(argv[2], ref, argv[5] if len(argv) == 6 else None)
        for p in problems:
            print("shardcheck: %s" % p, file=sys.stderr)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
