#!/usr/bin/python3
"""Text corpora for tests/integration/test_bigtext.sh.

  bigtext.py make OUT MB SEED   prose-like UTF-8 text of MB megabytes (10^6 bytes): words of
                                several scripts, punctuation, digits, contractions, runs of
                                spaces and tabs, CRLF, single and blank lines, whitespace-only
                                lines and a few long lines; deterministic for a seed
  bigtext.py docs IN MODE OUT   the documents of txt_doc=MODE (line | paragraph) of file IN, one
                                per output record: 4-byte little-endian length, then the bytes.
                                Written from the rule in docs/text.md, independently of tokfs:
                                lines split at '\\n'; a line is blank when it holds only ' ',
                                '\\t', '\\r', '\\v', '\\f'; a document is a non-blank line (line) or
                                a run of non-blank lines joined by '\\n' (paragraph), less a final
                                '\\r'.
  bigtext.py concat MNT OUT     every shard of the mount (train/ then val/, in name order) into
                                one file of little-endian uint16 ids, read with numpy.memmap
"""
import os
import struct
import sys

import numpy as np

WORDS = ("the of and to in is that for it as was with be by on not he I this are or his from at "
         "which but have an they you were her she there been one all we their has would when if "
         "so no will can more other time could these two may first then do any like my now "
         "over such our man me even most made after also did many before must through back "
         "years where much your way well down should because each just those people Mr how "
         "too little state good very make world still own see men work long get here between "
         "both life being under never day same another know while last might us great old "
         "year off come since against go came right used take three don't it's we're I'll "
         "they've tokfs naïve café über Straße 東京 中文字 日本語 русский язык العربية हिन्दी "
         "😀 👍🏽 λόγος 2026 3.14159 1,000,000 0x7f (see) [note] {x} e.g. i.e. -- — … \"quoted\" "
         "'single' foo_bar camelCase snake_case https://example.com/a?b=c #tag @user").split()
SEPS = [" "] * 30 + [", ", ". ", "; ", ": ", "! ", "? ", "  ", "\t", " - ", ".\n", ".\n", "\n",
                      ".\r\n", "\n\n", ".\n\n", "\n \t\n", "\n\n\n"]


def make(out, mb, seed):
    rng = np.random.default_rng(seed)
    words = np.array(WORDS, dtype=object)
    seps = np.array(SEPS, dtype=object)
    want = mb * 1000 * 1000
    done = 0
    with open(out, "wb") as f:
        while done < want:
            n = 200000
            w = words[rng.integers(0, len(words), n)]
            s = seps[rng.integers(0, len(seps), n)]
            parts = np.empty(2 * n, dtype=object)
            parts[0::2] = w
            parts[1::2] = s
            block = "".join(parts.tolist())
            if rng.integers(0, 4) == 0:  # a long line now and then
                block += "x" * int(rng.integers(1000, 5000)) + "\n"
            data = block.encode("utf-8")[: want - done]
            # never end a block inside a UTF-8 sequence
            while data and (data[-1] & 0xC0) == 0x80 or data and data[-1] >= 0xC0:
                data = data[:-1]
            f.write(data)
            done += len(data)


def is_blank(line):
    return len(line.strip(b" \t\r\v\f")) == 0


def docs(path, mode, out):
    with open(path, "rb") as f:
        text = f.read()
    lines = text.split(b"\n")
    found = []
    run = []
    for line in lines:
        if is_blank(line):
            if run:
                found.append(b"\n".join(run))
                run = []
            continue
        if mode == "line":
            found.append(line)
        else:
            run.append(line)
    if run:
        found.append(b"\n".join(run))
    with open(out, "wb") as f:
        for d in found:
            if d.endswith(b"\r"):
                d = d[:-1]
            f.write(struct.pack("<I", len(d)))
            f.write(d)
    print(len(found))


def concat(mnt, out):
    with open(out, "wb") as f:
        for split in ("train", "val"):
            d = os.path.join(mnt, split)
            for name in sorted(os.listdir(d)):
                p = os.path.join(d, name)
                if os.path.getsize(p) == 0:
                    continue
                f.write(np.memmap(p, dtype=np.uint16, mode="r").tobytes())


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "docs":
        docs(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "concat":
        concat(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: bigtext.py make|docs|concat ...")
