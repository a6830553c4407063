#!/usr/bin/python3
"""SentencePiece references for tokfs's exactness test (tokenizer=PATH/NAME.model).

    spm_ref.py train OUTDIR --corpus CORPUS_DIR
        Trains the models of MODELS below with the sentencepiece library itself (Debian's
        python3-sentencepiece) on a deterministic slice of the test corpus, writing
        OUTDIR/NAME.model, OUTDIR/NAME.pieces.json (the piece of every id, for diff_ids.js
        --pieces), OUTDIR/LIST ("NAME<TAB>what it covers" per line) and OUTDIR/nmt_nfkc.charsmap
        (the precompiled_charsmap of the nmt_nfkc models, for make_hf_fixtures.js's Precompiled
        normalizer).
    spm_ref.py encode MODEL -o OUTDIR FILE...
        For each FILE: its bytes decoded as UTF-8 with U+FFFD for each maximal invalid subpart
        (errors='replace', as ref_encode.js), SentencePieceProcessor.encode_as_ids(text) (no BOS or
        EOS: that is the library's default), written as `tokfs encode` prints ids to
        OUTDIR/BASENAME.ids.
"""
import json
import os
import sys
import tempfile

try:
    import sentencepiece as spm
except ImportError:
    sys.stderr.write("spm_ref.py: the python module sentencepiece is missing: "
                     "apt-get install python3-sentencepiece (mount-scripts/install-deps.sh)\n")
    sys.exit(2)

# (file, characters) slices of the corpus the models are trained on.
TRAIN_SLICES = [
    ("prose.txt", 600000), ("code_py.py", 100000), ("code_c.c", 60000), ("contractions.txt", 50000),
    ("digits.txt", 30000), ("scripts.txt", 40000), ("cjk.txt", 20000), ("combining.txt", 10000),
    ("emoji.txt", 5000), ("whitespace.txt", 20000),
]

# name -> (what it covers, trainer options beyond the common ones)
MODELS = {
    "spm-bpe": ("BPE, byte_fallback, split_digits, nmt_nfkc, add_dummy_prefix, remove_extra_whitespaces "
                "(Llama-2 style)",
                dict(model_type="bpe", byte_fallback=True, split_digits=True,
                     normalization_rule_name="nmt_nfkc", add_dummy_prefix=True,
                     remove_extra_whitespaces=True, allow_whitespace_only_pieces=True)),
    "spm-bpe-unk": ("BPE with unk (no byte_fallback), nmt_nfkc, no dummy prefix, remove_extra_whitespaces",
                    dict(model_type="bpe", byte_fallback=False, normalization_rule_name="nmt_nfkc",
                         add_dummy_prefix=False, remove_extra_whitespaces=True)),
    "spm-unigram": ("Unigram, byte_fallback, nmt_nfkc, no dummy prefix, extra whitespace kept",
                    dict(model_type="unigram", byte_fallback=True, normalization_rule_name="nmt_nfkc",
                         add_dummy_prefix=False, remove_extra_whitespaces=False)),
    "spm-unigram-id": ("Unigram with unk, identity normalization, add_dummy_prefix, extra whitespace kept",
                       dict(model_type="unigram", byte_fallback=False, normalization_rule_name="identity",
                            add_dummy_prefix=True, remove_extra_whitespaces=False)),
}


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def train_text(corpus):
    parts = []
    for name, n in TRAIN_SLICES:
        parts.append(read_text(os.path.join(corpus, name))[:n])
    # SentencePiece trains on lines (sentences); skip the empty ones and the very long ones it
    # would drop anyway (max_sentence_length).
    lines = [l for l in "\n".join(parts).split("\n") if l.strip() and len(l.encode()) < 4000]
    return "\n".join(lines) + "\n"


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def proto_fields(b):
    """(field number, wire type, value) of one protobuf message; value is bytes for wire type 2."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        yield num, wt, v


def precompiled_charsmap(model_bytes):
    # ModelProto.normalizer_spec = 3; NormalizerSpec.precompiled_charsmap = 2
    for num, wt, v in proto_fields(model_bytes):
        if num == 3 and wt == 2:
            for n2, w2, v2 in proto_fields(v):
                if n2 == 2 and w2 == 2:
                    return v2
    raise ValueError("no precompiled_charsmap in the model")


def train(out, corpus):
    os.makedirs(out, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", dir=out, delete=False) as f:
        f.write(train_text(corpus))
        text_file = f.name
    try:
        listing = []
        for name, (what, opts) in MODELS.items():
            spm.SentencePieceTrainer.train(
                input=text_file, model_prefix=os.path.join(out, name), vocab_size=8000,
                character_coverage=0.995, hard_vocab_limit=False, num_threads=1,
                minloglevel=2, **opts)
            os.unlink(os.path.join(out, name + ".vocab"))
            sp = spm.SentencePieceProcessor(model_file=os.path.join(out, name + ".model"))
            pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
            with open(os.path.join(out, name + ".pieces.json"), "w", encoding="utf-8") as pf:
                json.dump(pieces, pf, ensure_ascii=False)
            listing.append("%s\t%s" % (name, what))
            sys.stderr.write("spm_ref.py: %s: %d pieces\n" % (name, len(pieces)))
        with open(os.path.join(out, "spm-bpe.model"), "rb") as mf:
            cm = precompiled_charsmap(mf.read())
        with open(os.path.join(out, "nmt_nfkc.charsmap"), "wb") as cf:
            cf.write(cm)
        with open(os.path.join(out, "LIST"), "w", encoding="utf-8") as lf:
            lf.write("\n".join(listing) + "\n")
    finally:
        os.unlink(text_file)


def encode(model, out, files):
    sp = spm.SentencePieceProcessor(model_file=model)
    os.makedirs(out, exist_ok=True)
    for path in files:
        ids = sp.encode_as_ids(read_text(path))
        with open(os.path.join(out, os.path.basename(path) + ".ids"), "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")


def main(argv):
    usage = "usage: spm_ref.py train OUTDIR --corpus CORPUS_DIR | spm_ref.py encode MODEL -o OUTDIR FILE...\n"
    if len(argv) >= 4 and argv[0] == "train" and argv[2] == "--corpus":
        train(argv[1], argv[3])
    elif len(argv) >= 5 and argv[0] == "encode" and argv[2] == "-o":
        encode(argv[1], argv[3], argv[4:])
    else:
        sys.stderr.write(usage)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
