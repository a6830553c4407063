#!/usr/bin/python3
"""bench/lib/gencorpus.py OUTDIR TOTAL_MB FILE_MB SEED

Writes OUTDIR/data/part-NNNN.jsonl (JSON lines {"text": ...}, about FILE_MB MB each, TOTAL_MB MB
in all; MB = 10^6 bytes) and OUTDIR/list.txt (the files in order), then OUTDIR/corpus.json
(files, bytes, parameters) last, so a half-written corpus is never taken as done.

Prose-like text, generated with numpy without a Python loop per word: words drawn from a
truncated Zipf law over a vocabulary of common English words, 20000 made-up words of syllables
and a few non-ASCII words (Latin-1, CJK, Cyrillic, Greek, emoji), separated by spaces and now and
then punctuation, newlines and blank lines; document lengths log-normal (a few words to ~100k
words). Deterministic for a seed. About 100-200 MB/s on one core.
"""
import json
import os
import sys

import numpy as np

COMMON = ("the of and to in is that for it as was with be by on not he I this are or his from at "
          "which but have an they you were her she there been one all we their has would when if "
          "so no will can more other time could these two may first then do any like my now over "
          "such our man me even most made after also did many before must through back years "
          "where much your way well down should because each just those people how too little "
          "state good very make world still own see men work long get here between both life "
          "being under never day same another know while last might us great old year off come "
          "since against go came right used take three model data token shard memory cache disk "
          "read write train batch window corpus text language network kernel page file system "
          "process thread value result").split()
EXOTIC = ["naïve", "café", "über", "Straße", "日本語", "中文", "한국어", "Ελληνικά", "русский",
          "emoji😀", "2026", "3.14", "x_1", "foo_bar", "camelCase", "(see)", "[1]"]
# separators, JSON-escaped as they appear in the file; the first is by far the most common
SEPS = [" "] * 40 + [", ", ". ", "; ", ": ", "? ", " - ", ".\\n", "\\n", ".\\n\\n", "\\n\\n"]


def vocabulary(rng):
    syll = ["ka", "to", "ri", "mo", "se", "an", "el", "qu", "st", "ion", "ing", "er", "th", "ou",
            "pr", "ve", "la", "ne", "ci", "da", "mi", "con", "ex", "re", "un"]
    made = set()
    while len(made) < 20000:
        made.add("".join(syll[i] for i in rng.integers(0, len(syll), rng.integers(1, 5))))
    words = COMMON + EXOTIC + sorted(made)
    return words


def table(entries):
    b = [e.encode() for e in entries]
    lens = np.array([len(x) for x in b], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    return np.frombuffer(b"".join(b), dtype=np.uint8), offs, lens


def main():
    out, total_mb, file_mb, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(seed)
    words = vocabulary(rng)
    nw = len(words)
    # truncated Zipf (s = 1.1) over ranks, sampled through a quantile table
    p = 1.0 / np.arange(1, nw + 1) ** 1.1
    cdf = np.cumsum(p / p.sum())
    qt = np.minimum(np.searchsorted(cdf, (np.arange(1 << 20) + 0.5) / (1 << 20)), nw - 1)
    seps = SEPS
    DOC = '"}\n{"text": "'
    entries = words + seps + [DOC]
    tb, toff, tlen = table(entries)
    sep0, doc_id = nw, nw + len(seps)
    avg = float((tlen[qt]).mean()) + 1.3
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    names, total, f = [], 0, 0
    target = total_mb * 1000000
    while total < target:
        want = min(file_mb * 1000000, target - total)
        name = "data/part-%04d.jsonl" % f
        path = os.path.join(out, name)
        size = 0
        with open(path + ".tmp", "wb") as fh:
            fh.write(b'{"text": "')
            size += 10
            while size < want:
                n = 1 << 20  # words per chunk (~6 MB)
                n = max(1000, min(n, int((want - size) / avg) + 1))
                w = qt[rng.integers(0, 1 << 20, n)]
                s = np.where(rng.random(n) < 0.85, sep0,
                             sep0 + rng.integers(0, len(seps), n))
                # document ends: log-normal lengths in words
                dl = np.clip(rng.lognormal(5.5, 1.2, n // 20 + 2), 5, 100000).astype(np.int64)
                ends = np.cumsum(dl)
                ends = ends[ends < n] - 1
                s[ends] = doc_id
                stream = np.empty(2 * n, dtype=np.int64)
                stream[0::2] = w
                stream[1::2] = s
                if size + int(tlen[stream].sum()) >= want:  # the file ends here: close the doc
                    stream[-1] = doc_id
                lens = tlen[stream]
                starts = np.cumsum(lens) - lens
                tot = int(lens.sum())
                src = np.arange(tot, dtype=np.int64) + np.repeat(toff[stream] - starts, lens)
                chunk = tb[src].tobytes()
                if stream[-1] == doc_id and size + tot >= want:
                    chunk = chunk[: -len(DOC.encode())] + b'"}\n'
                    fh.write(chunk)
                    size += len(chunk)
                    break
                fh.write(chunk)
                size += tot
        os.rename(path + ".tmp", path)
        names.append(name)
        total += size
        f += 1
    with open(os.path.join(out, "list.txt"), "w") as fh:
        fh.write("".join(n + "\n" for n in names))
    with open(os.path.join(out, "corpus.json"), "w") as fh:
        json.dump({"files": names, "bytes": total, "mb": total_mb, "file_mb": file_mb,
                   "seed": seed, "generator": 1}, fh)
    print(json.dumps({"files": len(names), "bytes": total}))


if __name__ == "__main__":
    main()
