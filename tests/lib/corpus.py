#!/usr/bin/python3
"""Test corpora for tokfs and the token stream they must give.

  corpus.py make DIR [--files N] [--docs-per-file N] [--seed S] [--bad] [--compressed] [--big]
      Writes DIR/part-NNN.jsonl (plus DIR/notes.txt), DIR/list.txt naming them, and
      DIR/expected.u16: the concatenation, in source order, of every document's bytes
      followed by 256 (tokenizer=bytes). With --bad, some lines are malformed or lack the
      field; they are left out of expected.u16 and counted in DIR/expected_skipped.
      DIR/expected_docs.json: the documents as text tokenizers see them (a JSON array of
      strings, in source order): invalid UTF-8 decoded with errors='replace', lone surrogates
      as U+FFFD. tests/tokref/encode_docs.js turns it into the expected ids of a BPE tokenizer.
      With --compressed, the same documents (so the same expected files) go into compressed
      containers, by file index modulo 6: 0 plain part-000.jsonl; 1 part-001.jsonl.zst of
      several frames cut inside lines, plus a 0-byte frame and a skippable frame (no seek
      table); 2 part-002.json.gz of several members cut inside lines plus an empty member;
      3 part-003.jsonl.zst in zstd's seekable format (frames of about 6 KB, seek table at the
      end); 4 part-004.ndjson.gz; 5 part-005.jsonl.zst, one frame; notes.txt.gz of two members.
      zstd frames are written by the zstd CLI (Debian package zstd), gzip members by Python's
      gzip module. DIR/frames.json lists each .zst file's frame offsets.
      With --big, the last part file also holds three documents of about 1.2 MB (words,
      Unicode, CR/LF, one with raw invalid UTF-8 and a lone surrogate escape every so often,
      one with no space at all): longer than a tokenizing batch, so tokfs cuts them to encode
      their parts on several threads.

  corpus.py verify MOUNT EXPECTED.u16
      Reads every train shard then every val shard of MOUNT with numpy.memmap (as trainers
      do), concatenates them and compares with EXPECTED. Exit 0 when equal.

Runs with Debian's /usr/bin/python3 and python3-numpy only."""
import glob
import gzip
import json
import os
import random
import struct
import subprocess
import sys

import numpy as np

WORDS = ("the of and to in is was for on that with as by at from it be this are an or which "
         "tokenizer shard memmap corpus cache budget eviction lazily token stream range request "
         "kernel page daemon reader trainer batch window").split()
UNICODE = ["naïve café", "日本語のテキスト", "中文文本", "한국어", "Ελληνικά", "русский текст",
           "العربية", "हिन्दी", "emoji 😀🚀", "family 👨‍👩‍👧", "e\u0301 combining",
           "tab\there", "quote \" and backslash \\", "line\nbreak", "cr\r\nlf", "\u0085nel",
           "<|endoftext|> literal"]


def make_doc(rng):
    n = rng.choice([0, 1, 3, 10, 40, 120, 400])
    parts = []
    for _ in range(n):
        parts.append(rng.choice(UNICODE) if rng.random() < 0.08 else rng.choice(WORDS))
    return " ".join(parts)


def zstd_frame(data, level=3):
    """One zstd frame of data, written by the zstd CLI (checksum on, its default)."""
    return subprocess.run(["zstd", "-q", "-c", "-%d" % level], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def cut_points(crng, data, n):
    """n sorted cut offsets inside data (some mid-line, some at line starts)."""
    cuts = set()
    for _ in range(n):
        at = crng.randrange(1, max(2, len(data)))
        if crng.random() < 0.3:
            nl = data.find(b"\n", at)
            at = nl + 1 if nl >= 0 else at
        cuts.add(min(at, len(data)))
    return sorted(cuts)


def split_at(data, cuts):
    out, prev = [], 0
    for c in cuts + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return out


def compressed_variant(crng, f, name, data, frames_info):
    """(file name, bytes) of data in file f's container (see --compressed)."""
    kind = f % 6
    if kind == 1:
        frames = [zstd_frame(c) for c in split_at(data, cut_points(crng, data, 5))]
        frames.insert(2, zstd_frame(b""))  # a 0-byte frame
        frames.insert(1, struct.pack("<II", 0x184D2A53, 5) + b"skip!")  # a skippable frame
        out = name + ".zst"
    elif kind == 2:
        members = [gzip.compress(c, mtime=0) for c in split_at(data, cut_points(crng, data, 3))]
        members.insert(1, gzip.compress(b"", mtime=0))  # an empty member
        return name[:-len(".jsonl")] + ".json.gz", b"".join(members)
    elif kind == 3:
        # zstd seekable format: frames, then a skippable frame holding the seek table.
        chunks = split_at(data, list(range(6000, len(data), 6000)))
        frames = [zstd_frame(c) for c in chunks]
        table = b"".join(struct.pack("<II", len(fr), len(c)) for fr, c in zip(frames, chunks))
        table += struct.pack("<IB", len(frames), 0) + struct.pack("<I", 0x8F92EAB1)
        frames.append(struct.pack("<II", 0x184D2A5E, len(table)) + table)
        out = name + ".zst"
    elif kind == 4:
        return name[:-len(".jsonl")] + ".ndjson.gz", gzip.compress(data, mtime=0)
    elif kind == 5:
        frames = [zstd_frame(data, 19)]
        out = name + ".zst"
    else:
        return name, data
    offsets, pos = [], 0
    for fr in frames:
        offsets.append(pos)
        pos += len(fr)
    frames_info[out] = offsets
    return out, b"".join(frames)


def big_doc_lines(rng):
    """(JSONL line, document bytes) of the --big documents."""
    out = []
    words = " ".join(make_doc(rng) for _ in range(4000))
    while len(words) < 1200000:
        words += " " + make_doc(rng)
    out.append((json.dumps({"text": words}, ensure_ascii=False).encode("utf-8"),
                words.encode("utf-8")))
    body, text = b"", b""
    while len(text) < 1200000:
        chunk = make_doc(rng) + " "
        esc = json.dumps(chunk, ensure_ascii=False)[1:-1].encode("utf-8")
        body += esc + b"\xff bad \xe2\x82 \\ud800 "
        text += chunk.encode("utf-8") + b"\xff bad \xe2\x82 \xef\xbf\xbd "
    out.append((b'{"text": "' + body + b'"}', text))
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEF0123456789+/="
    blob = "".join(rng.choice(alphabet) for _ in range(1100000))
    out.append((json.dumps({"text": blob}).encode(), blob.encode()))
    return out


def make(root, files, docs_per_file, seed, bad, compressed=False, big=False):
    rng = random.Random(seed)
    crng = random.Random(seed * 7919 + 17)  # containers only: documents stay the same
    frames_info = {}
    os.makedirs(root, exist_ok=True)
    expected = []
    docs = []
    skipped = 0
    names = []
    for f in range(files):
        name = "part-%03d.jsonl" % f
        names.append(name)
        lines = []
        bigs = big_doc_lines(random.Random(seed + 99)) if big and f == files - 1 else []
        for d in range(rng.randint(docs_per_file // 2, docs_per_file)):
            if bigs and d % 5 == 1:  # small documents before, between and after them
                line, text_bytes = bigs.pop(0)
                lines.append(line)
                expected.extend(text_bytes)
                expected.append(256)
                docs.append(text_bytes.decode("utf-8", "replace"))
            doc = make_doc(rng)
            roll = rng.random()
            if bad and roll < 0.01:
                lines.append(b'{"text": "unterminated')
                skipped += 1
                continue
            if bad and roll < 0.02:
                lines.append(json.dumps({"meta": doc}).encode())
                skipped += 1
                continue
            if roll > 0.995 and f > 0:  # part-000 stays plain JSON (tests parse it with json)
                # raw invalid UTF-8 inside the string, and a lone surrogate escape
                raw = b"bad \xff\xfe \xed\xa0\x80 bytes \xe2\x82 end"
                lines.append(b'{"text": "' + raw + b' \\ud800 lone"}')
                text_bytes = raw + b" \xef\xbf\xbd lone"  # the escape decodes to U+FFFD
                expected.extend(text_bytes)
                expected.append(256)
                docs.append(text_bytes.decode("utf-8", "replace"))
                continue
            record = {"id": "%d-%d" % (f, d), "text": doc, "meta": {"text": "nested, not the field"}}
            lines.append(json.dumps(record, ensure_ascii=rng.random() < 0.5).encode("utf-8"))
            expected.extend(doc.encode("utf-8"))
            expected.append(256)
            docs.append(doc)
        data = b"\n".join(lines)
        if f % 2 == 0:
            data += b"\n"  # odd files end without a newline: the last line still counts
        if compressed:
            names[-1], data = compressed_variant(crng, f, name, data, frames_info)
            name = names[-1]
        with open(os.path.join(root, name), "wb") as out:
            out.write(data)
    # A .txt source is one document, bytes kept as they are (invalid UTF-8 included).
    notes = b"notes: plain text file\nwith two lines and invalid \xff\xfe bytes\n"
    if compressed:
        with open(os.path.join(root, "notes.txt.gz"), "wb") as out:
            out.write(gzip.compress(notes[:20], mtime=0) + gzip.compress(notes[20:], mtime=0))
        names.append("notes.txt.gz")
        with open(os.path.join(root, "frames.json"), "w") as out:
            json.dump(frames_info, out)
    else:
        with open(os.path.join(root, "notes.txt"), "wb") as out:
            out.write(notes)
        names.append("notes.txt")
    expected.extend(notes)
    expected.append(256)
    docs.append(notes.decode("utf-8", "replace"))
    with open(os.path.join(root, "list.txt"), "w") as out:
        out.write("# tokfs test corpus\n\n" + "\n".join(names) + "\n")
    np.array(expected, dtype=np.uint16).tofile(os.path.join(root, "expected.u16"))
    with open(os.path.join(root, "expected_docs.json"), "w") as out:
        json.dump(docs, out, ensure_ascii=True)
    with open(os.path.join(root, "expected_skipped"), "w") as out:
        out.write("%d\n" % skipped)
    print("corpus: %d files, %d tokens, %d bad lines" % (len(names), len(expected), skipped))


def read_mount(mount):
    parts = []
    for split in ("train", "val"):
        for path in sorted(glob.glob(os.path.join(mount, split, "shard_*.bin"))):
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                continue  # listed before it was made, then hidden: it holds no token
            if size == 0:
                continue
            parts.append(np.array(np.memmap(path, dtype=np.uint16, mode="r")))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


def verify(mount, expected_path):
    expected = np.fromfile(expected_path, dtype=np.uint16)
    got = read_mount(mount)
    if got.shape == expected.shape and np.array_equal(got, expected):
        print("verify: %d tokens identical" % len(got))
        return 0
    n = min(len(got), len(expected))
    diff = np.nonzero(got[:n] != expected[:n])[0]
    where = int(diff[0]) if len(diff) else n
    print("verify: MISMATCH: got %d tokens, expected %d, first difference at %d"
          % (len(got), len(expected), where), file=sys.stderr)
    return 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "make":
        args = argv[2:]
        root = args[0]
        opts = {"--files": 6, "--docs-per-file": 300, "--seed": 1}
        bad = "--bad" in args
        for i, a in enumerate(args):
            if a in opts:
                opts[a] = int(args[i + 1])
        make(root, opts["--files"], opts["--docs-per-file"], opts["--seed"], bad,
             "--compressed" in args, "--big" in args)
        return 0
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
