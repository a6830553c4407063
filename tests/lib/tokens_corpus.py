#!/usr/bin/env python3
"""Pre-tokenized test corpora (docs/pretokenized.md), written from scratch with numpy.

  tokens_corpus.py make DIR      llm.c shards (uint16 v1, and a uint32 v7 one), a raw .bin, a .npy
                                 and a .zst of an llm.c shard; DIR/list.txt names them in order,
                                 DIR/expected.u32 is the whole id stream in that order (what the
                                 mount must give back), DIR/lazy/ holds three plain llm.c shards
                                 for the laziness check (DIR/lazy/list.txt, expected.u32)
  tokens_corpus.py check MNT EXPECTED DTYPE FORMAT
                                 read every shard of a mount (train then val, in plan order) as
                                 FORMAT's consumer does and compare the concatenation with EXPECTED
                                 exactly

Documents are llm.c-style: the end-of-text id (50256) *before* each document, ids below it."""
import glob
import os
import subprocess
import sys

import numpy as np

EOT = 50256
rng = np.random.default_rng(12)


def stream(ndocs):
    parts = []
    for _ in range(ndocs):
        parts.append(np.array([EOT], dtype=np.uint32))
        parts.append(rng.integers(0, EOT, size=int(rng.integers(1, 400)), dtype=np.uint32))
    return np.concatenate(parts)


def write_llmc(path, ids, uint32=False):
    header = np.zeros(256, dtype="<i4")
    header[0], header[1], header[2] = (20240801, 7, len(ids)) if uint32 else (20240520, 1, len(ids))
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(ids.astype("<u4" if uint32 else "<u2").tobytes())


def make(d):
    os.makedirs(d, exist_ok=True)
    names, streams = [], []

    def add(name, ids):
        names.append(name)
        streams.append(ids)

    a, b, c = stream(150), stream(120), stream(90)
    write_llmc(os.path.join(d, "fineweb_train_000001.bin"), a)
    add("fineweb_train_000001.bin", a)
    write_llmc(os.path.join(d, "fineweb_train_000002.bin"), b)
    add("fineweb_train_000002.bin", b)
    write_llmc(os.path.join(d, "llama_v7.bin"), c, uint32=True)
    add("llama_v7.bin", c)
    raw = stream(60)
    raw.astype("<u2").tofile(os.path.join(d, "raw_ids.bin"))
    add("raw_ids.bin", raw)
    npy = stream(70)
    np.save(os.path.join(d, "ids.npy"), npy.astype("<u2"))
    add("ids.npy", npy)
    z = stream(80)
    write_llmc(os.path.join(d, "zipped.bin"), z)
    subprocess.run(["zstd", "-q", "-f", "--rm", os.path.join(d, "zipped.bin"), "-o",
                    os.path.join(d, "zipped.bin.zst")], check=True)
    add("zipped.bin.zst", z)
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    np.concatenate(streams).astype("<u4").tofile(os.path.join(d, "expected.u32"))

    lazy = os.path.join(d, "lazy")
    os.makedirs(lazy, exist_ok=True)
    ls = []
    with open(os.path.join(lazy, "list.txt"), "w") as f:
        for i in range(3):
            ids = stream(300)
            write_llmc(os.path.join(lazy, "fineweb_train_%06d.bin" % (i + 1)), ids)
            f.write("fineweb_train_%06d.bin\n" % (i + 1))
            ls.append(ids)
    np.concatenate(ls).astype("<u4").tofile(os.path.join(lazy, "expected.u32"))


def read_shard(path, dtype, fmt):
    size = os.path.getsize(path)
    if size == 0:
        raise SystemExit("FAIL: %s has size 0" % path)
    if fmt == "raw":
        return np.memmap(path, dtype=dtype, mode="r")
    if fmt == "llmc":
        header = np.fromfile(path, dtype="<i4", count=256)
        want = (20240520, 1) if dtype == np.uint16 else (20240801, 7)
        if (header[0], header[1]) != want:
            raise SystemExit("FAIL: %s: llm.c magic/version %s, want %s" % (path, header[:2], want))
        if size != 1024 + int(header[2]) * np.dtype(dtype).itemsize:
            raise SystemExit("FAIL: %s: size %d, header count %d" % (path, size, header[2]))
        return np.memmap(path, dtype=dtype, mode="r", offset=1024)
    if fmt == "npy":
        return np.load(path, mmap_mode="r")
    if fmt == "megatron":
        ids = np.memmap(path, dtype=dtype, mode="r")
        check_megatron_index(path[:-4] + ".idx", ids, dtype)
        return ids
    raise SystemExit("unknown format " + fmt)


def check_megatron_index(path, ids, dtype):
    """The .idx as Megatron-core's reader sees it, written from docs/layouts.md; with doc_sep=prepend
    each sequence begins at an end-of-text id (all but a shard's first, which may continue a
    document of the previous shard) and holds no other."""
    data = open(path, "rb").read()
    if data[:9] != b"MMIDIDX\x00\x00" or int.from_bytes(data[9:17], "little") != 1:
        raise SystemExit("FAIL: %s: bad magic or version" % path)
    code = data[17]
    if code != (8 if dtype == np.uint16 else 4):
        raise SystemExit("FAIL: %s: dtype code %d" % (path, code))
    n = int.from_bytes(data[18:26], "little")
    lens = np.frombuffer(data, dtype="<i4", count=n, offset=34)
    ptrs = np.frombuffer(data, dtype="<i8", count=n, offset=34 + 4 * n)
    if len(data) != 34 + 20 * n + 8 or int(lens.sum()) != len(ids):
        raise SystemExit("FAIL: %s: %d sequences do not cover the %d ids" % (path, n, len(ids)))
    itemsize = np.dtype(dtype).itemsize
    start = 0
    for i in range(n):
        if ptrs[i] != start * itemsize:
            raise SystemExit("FAIL: %s: pointer %d" % (path, i))
        seq = np.asarray(ids[start:start + lens[i]])
        if (i > 0 and seq[0] != EOT) or np.count_nonzero(seq[1:] == EOT):
            raise SystemExit("FAIL: %s: sequence %d is not one document with its eot in front" % (path, i))
        start += int(lens[i])


def check(mnt, expected, dtype_name, fmt):
    dtype = np.uint16 if dtype_name == "uint16" else np.uint32
    want = np.fromfile(expected, dtype="<u4")
    ext = ".npy" if fmt == "npy" else ".bin"
    got = []
    for split in ("train", "val"):
        for path in sorted(glob.glob(os.path.join(mnt, split, "shard_*" + ext))):
            got.append(np.asarray(read_shard(path, dtype, fmt)).astype(np.uint32))
    parts = got
    got = np.concatenate(got)
    if len(got) != len(want):
        raise SystemExit("FAIL: %d ids in the mount, %d in the sources" % (len(got), len(want)))
    bad = np.nonzero(got != want)[0]
    if len(bad):
        raise SystemExit("FAIL: id %d differs: %d, source has %d" % (bad[0], got[bad[0]], want[bad[0]]))
    print("ok: %d ids in %d shards, exactly the sources' (%s, %s)" % (len(got), len(parts), fmt, dtype_name))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check":
        check(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
