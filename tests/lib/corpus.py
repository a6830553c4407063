#!/usr/bin/python3
"""Test corpora for tokfs and the token stream they must give.

  corpus.py make DIR [--files N] [--docs-per-file N] [--seed S] [--bad]
      Writes DIR/part-NNN.jsonl (plus DIR/notes.txt), DIR/list.txt naming them, and
      DIR/expected.u16: the concatenation, in source order, of every document's bytes
      followed by 256 (tokenizer=bytes). With --bad, some lines are malformed or lack the
      field; they are left out of expected.u16 and counted in DIR/expected_skipped.
      DIR/expected_docs.json: the documents as text tokenizers see them (a JSON array of
      strings, in source order): invalid UTF-8 decoded with errors='replace', lone surrogates
      as U+FFFD. tests/tokref/encode_docs.js turns it into the expected ids of a BPE tokenizer.

  corpus.py verify MOUNT EXPECTED.u16
      Reads every train shard then every val shard of MOUNT with numpy.memmap (as trainers
      do), concatenates them and compares with EXPECTED. Exit 0 when equal.

Runs with Debian's /usr/bin/python3 and python3-numpy only."""
import glob
import json
import os
import random
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


def make(root, files, docs_per_file, seed, bad):
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    expected = []
    docs = []
    skipped = 0
    names = []
    for f in range(files):
        name = "part-%03d.jsonl" % f
        names.append(name)
        lines = []
        for d in range(rng.randint(docs_per_file // 2, docs_per_file)):
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
        with open(os.path.join(root, name), "wb") as out:
            out.write(data)
    # A .txt source is one document, bytes kept as they are (invalid UTF-8 included).
    notes = b"notes: plain text file\nwith two lines and invalid \xff\xfe bytes\n"
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
            if os.path.getsize(path) == 0:
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
        make(root, opts["--files"], opts["--docs-per-file"], opts["--seed"], bad)
        return 0
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
