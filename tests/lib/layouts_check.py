#!/usr/bin/python3
"""Reads a tokfs mount the way each layout's consumer does and compares it with the expected
token stream, document boundaries included (tests/integration/test_layouts.sh).

    layouts_check.py MOUNT EXPECTED.u16 FORMAT DTYPE SEP

EXPECTED.u16 is corpus.py's stream for tokenizer=bytes: every document's bytes followed by 256.
Ids 0..255 are bytes, so splitting at 256 gives the documents, independently of tokfs. The
expected stream of the layout is then built from them here: SEP append (d + [256]), prepend
([256] + d) or none (d), concatenated over the documents in source order. Shards hold whole
documents (JSONL pieces), so each shard's stream is a run of whole documents too.

The readers are written from the layouts' own descriptions (docs/layouts.md), not from tokfs:
  raw       np.memmap(path, dtype, mode='r') of every shard_NNNNN.bin
  llmc      llm.c's loader: 256 int32 header, magic 20240520 version 1 (uint16) or magic
            20240801 version 7 (uint32), token count at [2], file size == 1024 + count * size
  megatron  the .idx parsed field by field (MMIDIDX\\0\\0, version, dtype code, sequence count,
            document count, int32 lengths, int64 pointers, int64 document indices); each
            sequence is read from the .bin at its pointer, and must be one whole document
  npy       np.load(path, mmap_mode='r'): 1-D, dtype <u2 / <u4
Sizes: every file's size as stat reports it must equal what its header or index implies, and
status.json's per-shard "bytes" the shard's files together. dataset_metadata.json must name the
layout, dtype, header bytes and separator. Exit 0 when all holds; else a message and 1."""
import glob
import json
import os
import struct
import sys

import numpy as np

EOT = 256


def fail(msg):
    sys.exit("layouts_check: " + msg)


def documents(expected_path):
    ids = np.fromfile(expected_path, dtype="<u2")
    cuts = np.flatnonzero(ids == EOT)
    docs, start = [], 0
    for c in cuts:
        docs.append(ids[start:c].astype(np.uint32))
        start = c + 1
    if start != len(ids):
        fail("expected stream does not end with an end-of-text id")
    return docs


def with_sep(doc, sep):
    e = np.array([EOT], dtype=np.uint32)
    return {"append": np.concatenate([doc, e]), "prepend": np.concatenate([e, doc]),
            "none": doc}[sep]


def shard_paths(mnt, ext):
    return [p for split in ("train", "val")
            for p in sorted(glob.glob(os.path.join(mnt, split, "shard_*" + ext)))]


def read_llmc(path, dtype):
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        magic, version, count = int(header[0]), int(header[1]), int(header[2])
        want = (20240520, 1, 2) if dtype == "uint16" else (20240801, 7, 4)
        if (magic, version) != want[:2]:
            fail("%s: magic %d version %d, expected %d %d" % (path, magic, version, *want[:2]))
        size = want[2]
        if os.path.getsize(path) != 1024 + count * size:
            fail("%s: size %d != 1024 + %d * %d (llm.c checks it)"
                 % (path, os.path.getsize(path), count, size))
        body = np.frombuffer(f.read(), dtype="<u2" if size == 2 else "<u4")
    if len(body) != count:
        fail("%s: header says %d tokens, file holds %d" % (path, count, len(body)))
    return body


def read_megatron(bin_path, dtype):
    idx_path = bin_path[:-4] + ".idx"
    with open(idx_path, "rb") as f:
        raw = f.read()
    if raw[:9] != b"MMIDIDX\x00\x00":
        fail("%s: bad magic %r" % (idx_path, raw[:9]))
    version, = struct.unpack_from("<Q", raw, 9)
    code, = struct.unpack_from("<B", raw, 17)
    nseq, ndoc = struct.unpack_from("<QQ", raw, 18)
    if version != 1:
        fail("%s: version %d" % (idx_path, version))
    want_code = 8 if dtype == "uint16" else 4
    if code != want_code:
        fail("%s: dtype code %d, expected %d" % (idx_path, code, want_code))
    at = 34
    lengths = np.frombuffer(raw, dtype="<i4", count=nseq, offset=at)
    at += 4 * nseq
    pointers = np.frombuffer(raw, dtype="<i8", count=nseq, offset=at)
    at += 8 * nseq
    doc_idx = np.frombuffer(raw, dtype="<i8", count=ndoc, offset=at)
    at += 8 * ndoc
    if at != len(raw) or at != os.path.getsize(idx_path):
        fail("%s: %d bytes, the header implies %d" % (idx_path, len(raw), at))
    if ndoc != nseq + 1 or not np.array_equal(doc_idx, np.arange(nseq + 1)):
        fail("%s: document indices are not 0..%d" % (idx_path, nseq))
    size = 2 if code == 8 else 4
    npdtype = "<u2" if size == 2 else "<i4"
    bin_size = os.path.getsize(bin_path)
    data = np.memmap(bin_path, dtype=npdtype, mode="r") if bin_size else np.zeros(0, npdtype)
    if int(lengths.sum()) * size != bin_size:
        fail("%s: sequences cover %d bytes, the .bin has %d"
             % (idx_path, int(lengths.sum()) * size, bin_size))
    seqs, pos = [], 0
    for length, pointer in zip(lengths, pointers):
        if pointer != pos:
            fail("%s: pointer %d, expected %d" % (idx_path, pointer, pos))
        seqs.append(np.asarray(data[pointer // size: pointer // size + length], dtype=np.uint32))
        pos += int(length) * size
    return seqs


def main(argv):
    mnt, expected_path, fmt, dtype, sep = argv[1:6]
    docs = documents(expected_path)
    want = np.concatenate([with_sep(d, sep) for d in docs])
    npdtype = "<u2" if dtype == "uint16" else "<u4"
    size = 2 if dtype == "uint16" else 4

    m = json.load(open(os.path.join(mnt, "dataset_metadata.json")))
    header = {"raw": 0, "llmc": 1024, "megatron": 0, "npy": 128}[fmt]
    got_meta = (m["layout"], m["dtype"], m["header_bytes"], m["doc_separator"], m["format"])
    if got_meta != (fmt, dtype, header, sep, "tokfs-" + fmt):
        fail("dataset_metadata.json says %r, expected %r"
             % (got_meta, (fmt, dtype, header, sep, "tokfs-" + fmt)))
    ext = ".npy" if fmt == "npy" else ".bin"
    if m["data_extension"] != ext or m["index_extension"] != (".idx" if fmt == "megatron" else None):
        fail("dataset_metadata.json extensions %r %r" % (m["data_extension"], m["index_extension"]))

    paths = shard_paths(mnt, ext)
    if len(paths) < 3:
        fail("expected several shards, found %d" % len(paths))
    listed = sorted(os.listdir(os.path.join(mnt, "train")))
    other = [n for n in listed if not n.endswith(ext) and not (fmt == "megatron" and n.endswith(".idx"))]
    if other:
        fail("unexpected names in train/: %r" % other[:3])

    # Sizes first, before reading anything: stat makes the shard when its size is not known.
    # For megatron the .idx of every other shard is stat'ed first: either file makes the shard.
    sizes = {}
    for k, p in enumerate(paths):
        if fmt == "megatron":
            idx = p[:-4] + ".idx"
            for q in ((idx, p) if k % 2 == 0 else (p, idx)):
                sizes[q] = os.path.getsize(q)
        else:
            sizes[p] = os.path.getsize(p)

    parts, seqs = [], []
    for p in paths:
        if fmt == "raw":
            if sizes[p] % size:
                fail("%s: size %d is not a multiple of %d" % (p, sizes[p], size))
            parts.append(np.memmap(p, dtype=npdtype, mode="r") if sizes[p] else np.zeros(0, npdtype))
        elif fmt == "llmc":
            parts.append(read_llmc(p, dtype))
        elif fmt == "npy":
            a = np.load(p, mmap_mode="r")
            if a.ndim != 1 or a.dtype != np.dtype(npdtype):
                fail("%s: np.load gives shape %r dtype %s" % (p, a.shape, a.dtype))
            if sizes[p] != 128 + a.size * size:
                fail("%s: size %d, expected 128 + %d * %d" % (p, sizes[p], a.size, size))
            parts.append(a)
        else:
            s = read_megatron(p, dtype)
            seqs.extend(s)
            parts.append(np.concatenate(s) if s else np.zeros(0, np.uint32))
    got = np.concatenate([np.asarray(x, dtype=np.uint32) for x in parts])
    if got.shape != want.shape or not np.array_equal(got, want):
        n = min(len(got), len(want))
        first = int(np.flatnonzero(got[:n] != want[:n])[0]) if np.any(got[:n] != want[:n]) else n
        fail("%s/%s/%s: %d ids, expected %d; first difference at %d"
             % (fmt, dtype, sep, len(got), len(want), first))
    if fmt == "megatron":
        if len(seqs) != len(docs):
            fail("megatron: %d sequences for %d documents" % (len(seqs), len(docs)))
        for k, (s, d) in enumerate(zip(seqs, docs)):
            if not np.array_equal(s, with_sep(d, sep)):
                fail("megatron: sequence %d is not document %d" % (k, k))

    status = json.load(open(os.path.join(mnt, ".tokfs", "status.json")))
    for sh in status["shards"]:
        p = os.path.join(mnt, sh["name"])
        total = sizes[p] + (sizes[p[:-4] + ".idx"] if fmt == "megatron" else 0)
        if sh["bytes"] != total:
            fail("status.json: %s bytes %r, the mount's files %d" % (sh["name"], sh["bytes"], total))
    print("layouts_check: %s %s %s: %d shards, %d documents, %d ids" %
          (fmt, dtype, sep, len(paths), len(docs), len(got)))


if __name__ == "__main__":
    main(sys.argv)
