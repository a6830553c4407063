#!/usr/bin/python3
"""Generate core/tokenize/unicode_norm_data.c: the Unicode tables of tokfs's Hugging Face normalizers
(core/tokenize/normalize.c), from the Unicode Character Database in Debian's unicode-data package
(/usr/share/unicode, Unicode 15.0 on bookworm).

Each table is cut to the Unicode version the reference (npm tokenizers 0.23.2) really uses for it,
which the probe core/tokenize/gen/unicode_norm_probe.js established by running every code point
through the reference's normalizers:
  - NFC/NFD/NFKC/NFKD, StripAccents (crate unicode-normalization-alignments): Unicode 9.0. Characters
    added later have no decomposition, combining class 0, and compose with nothing.
  - BertNormalizer's control test and Mn test (crate unicode_categories): Unicode 8.0 (Cc Cf Co Cs;
    unassigned code points are not "other").
  - Lowercase (Rust char::to_lowercase): the newest; UnicodeData.txt's simple lowercase, U+0130's
    two-character mapping (SpecialCasing.txt, unconditional), plus the mappings the reference has
    beyond Unicode 15.0, listed in core/tokenize/gen/unicode_norm_lower_overlay.txt.
  - White_Space (Rust char::is_whitespace): PropList.txt (stable).
  - Grapheme clusters (crate unicode-segmentation, Precompiled): GraphemeBreakProperty.txt and
    emoji-data.txt's Extended_Pictographic, with the newer values listed in
    core/tokenize/gen/unicode_norm_gcb_overlay.txt.
The two overlays are made by core/tokenize/gen/unicode_norm_probe.js.

Run: /usr/bin/python3 core/tokenize/gen/unicode_norm_gen.py [UCD_DIR] > core/tokenize/unicode_norm_data.c

Unicode data: Copyright (c) Unicode, Inc., Unicode License v3 (see /usr/share/doc/unicode-data)."""
import os
import sys

UCD = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
HERE = os.path.dirname(os.path.abspath(__file__))
N = 0x110000
NORM_AGE = (9, 0)
CATEGORY_AGE = (8, 0)


def ranges(path):
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            lo, _, hi = fields[0].partition("..")
            lo = int(lo, 16)
            yield lo, (int(hi, 16) if hi else lo), fields[1:]


age = {}
for lo, hi, f in ranges(f"{UCD}/DerivedAge.txt"):
    a = tuple(int(x) for x in f[0].split("."))
    for c in range(lo, hi + 1):
        age[c] = a

gc = {}
ccc = {}
decomp = {}  # cp -> (is_compat, [cps])
lower = {}
with open(f"{UCD}/UnicodeData.txt") as f:
    first = None
    for line in f:
        fl = line.split(";")
        cp = int(fl[0], 16)
        if fl[1].endswith(", First>"):
            first = cp
            continue
        if fl[1].endswith(", Last>"):
            for c in range(first, cp + 1):
                gc[c] = fl[2]
            continue
        gc[cp] = fl[2]
        if int(fl[3]):
            ccc[cp] = int(fl[3])
        if fl[5]:
            parts = fl[5].split()
            compat = parts[0].startswith("<")
            if compat:
                parts = parts[1:]
            decomp[cp] = (compat, [int(x, 16) for x in parts])
        if fl[13]:
            lower[cp] = [int(fl[13], 16)]
lower[0x130] = [0x69, 0x307]  # SpecialCasing.txt, unconditional
with open(os.path.join(HERE, "unicode_norm_lower_overlay.txt")) as f:
    lower_overlay = 0
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        parts = [int(x, 16) for x in line.split()]
        lower[parts[0]] = parts[1:]
        lower_overlay += 1


def old(c, limit):
    return age.get(c, (99, 0)) <= limit


ccc = {c: v for c, v in ccc.items() if old(c, NORM_AGE)}
decomp = {c: v for c, v in decomp.items() if old(c, NORM_AGE)}
exclusions = set()
for lo, hi, _ in ranges(f"{UCD}/CompositionExclusions.txt"):
    exclusions.update(range(lo, hi + 1))

ws = set()
for lo, hi, f in ranges(f"{UCD}/PropList.txt"):
    if f[0] == "White_Space":
        ws.update(range(lo, hi + 1))


def full(cp, compat):
    d = decomp.get(cp)
    if d is None or (d[0] and not compat):
        return [cp]
    out = []
    for x in d[1]:
        out.extend(full(x, compat))
    return out


# Primary composites: canonical pairs, not excluded, not singletons, not starting with a non-starter.
compose = {}
for cp, (compat, parts) in decomp.items():
    if compat or len(parts) != 2 or cp in exclusions or ccc.get(parts[0], 0):
        continue
    compose[(parts[0], parts[1])] = cp
seconds = {b for (_, b) in compose}

FLAG_NFD = 1        # has a canonical decomposition (NFD quick check No)
FLAG_NFKD = 2       # has any decomposition (NFKD quick check No)
FLAG_NFC = 4        # NFC quick check not Yes (No or Maybe)
FLAG_NFKC = 8       # NFKC quick check not Yes
FLAG_OTHER = 16     # Cc Cf Co Cs (Unicode 8.0): BertNormalizer's control test, minus \t \n \r
FLAG_MN = 32        # Mn (Unicode 8.0): BertNormalizer's strip_accents
FLAG_MARK = 64      # Mn Mc Me (Unicode 9.0): StripAccents
FLAG_WS = 128       # White_Space
flags = bytearray(N)
for cp, (compat, parts) in decomp.items():
    if compat:
        flags[cp] |= FLAG_NFKD | FLAG_NFKC
    else:
        flags[cp] |= FLAG_NFD | FLAG_NFKD
        if cp in exclusions or len(parts) == 1 or ccc.get(parts[0], 0):
            flags[cp] |= FLAG_NFC | FLAG_NFKC
    if full(cp, True) != full(cp, False):
        flags[cp] |= FLAG_NFKC  # e.g. U+1E9B: canonical, but a part of it has a compat mapping
for cp in seconds:
    flags[cp] |= FLAG_NFC | FLAG_NFKC
for cp in list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3)):
    flags[cp] |= FLAG_NFC | FLAG_NFKC  # Hangul V and T jamo combine with what precedes them
for cp in range(0xAC00, 0xAC00 + 11172):
    flags[cp] |= FLAG_NFD | FLAG_NFKD
# General categories that changed after the versions the reference uses (the probe found exactly
# these): their value in Unicode 8.0 and 9.0.
GC_8 = {0x1734: "Mn", 0x1885: "Lo", 0x1886: "Lo", 0xA9BD: "Mc", 0x111C9: "Po", 0x1CF2: "Mc",
        0x1CF3: "Mc"}
GC_9 = {0x1CF2: "Mc", 0x1CF3: "Mc", 0x111C9: "Po"}
for cp, g in gc.items():
    g8 = GC_8.get(cp, g)
    g9 = GC_9.get(cp, g)
    if g8 in ("Cc", "Cf", "Co", "Cs") and old(cp, CATEGORY_AGE):
        flags[cp] |= FLAG_OTHER
    if g8 == "Mn" and old(cp, CATEGORY_AGE):
        flags[cp] |= FLAG_MN
    if g9 in ("Mn", "Mc", "Me") and old(cp, NORM_AGE):
        flags[cp] |= FLAG_MARK
for cp in ws:
    flags[cp] |= FLAG_WS

# Grapheme_Cluster_Break values (the enum in core/tokenize/normalize_internal.h), bit 0x10 =
# Extended_Pictographic.
GCB = {"Other": 0, "CR": 1, "LF": 2, "Control": 3, "Extend": 4, "ZWJ": 5, "Regional_Indicator": 6,
       "Prepend": 7, "SpacingMark": 8, "L": 9, "V": 10, "T": 11, "LV": 12, "LVT": 13}
gcb = bytearray(N)
for lo, hi, f in ranges(f"{UCD}/auxiliary/GraphemeBreakProperty.txt"):
    for c in range(lo, hi + 1):
        gcb[c] = GCB[f[0]]
with open(os.path.join(HERE, "unicode_norm_gcb_overlay.txt")) as f:
    gcb_overlay = 0
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        cp, value = line.split()
        gcb[int(cp, 16)] = GCB[value]
        gcb_overlay += 1
for lo, hi, f in ranges(f"{UCD}/emoji/emoji-data.txt"):
    if f[0] == "Extended_Pictographic":
        for c in range(lo, hi + 1):
            gcb[c] |= 0x10

# Sequence pool: entry = length, then the code points. Index 0 means "none".
pool = [0]
pool_index = {}


def intern(seq):
    key = tuple(seq)
    if key not in pool_index:
        pool_index[key] = len(pool)
        pool.append(len(seq))
        pool.extend(seq)
    return pool_index[key]


canon_idx = [0] * N
compat_idx = [0] * N
lower_idx = [0] * N
for cp in sorted(decomp):
    fc = full(cp, False)
    if fc != [cp]:
        canon_idx[cp] = intern(fc)
    fk = full(cp, True)
    if fk != [cp]:
        compat_idx[cp] = intern(fk)
for cp in sorted(lower):
    if lower[cp] != [cp]:
        lower_idx[cp] = intern(lower[cp])
assert len(pool) < 65536

BLOCK = 256


def two_stage(name, values, ctype):
    blocks, index, stage1 = [], {}, []
    for b in range(N // BLOCK):
        chunk = tuple(values[b * BLOCK:(b + 1) * BLOCK])
        if chunk not in index:
            index[chunk] = len(blocks)
            blocks.append(chunk)
        stage1.append(index[chunk])
    s1type = "uint8_t" if len(blocks) < 256 else "uint16_t"
    out.write(f"const {s1type} {name}_s1[{len(stage1)}] = {{\n")
    for i in range(0, len(stage1), 24):
        out.write("    " + ", ".join(str(x) for x in stage1[i:i + 24]) + ",\n")
    out.write("};\n")
    out.write(f"const {ctype} {name}_s2[{len(blocks)}][{BLOCK}] = {{\n")
    for blk in blocks:
        out.write("    {\n")
        for i in range(0, BLOCK, 24):
            out.write("        " + ", ".join(str(x) for x in blk[i:i + 24]) + ",\n")
        out.write("    },\n")
    out.write("};\n\n")
    sys.stderr.write(f"{name}: {len(blocks)} blocks\n")


out = sys.stdout
out.write("/* Generated by core/tokenize/gen/unicode_norm_gen.py from the Unicode Character Database\n"
          " * (Debian unicode-data, Unicode 15.0; normalization cut to Unicode 9.0 and the general\n"
          f" * categories to 8.0 as the reference has them; {lower_overlay} newer lowercase mappings and\n"
          f" * {gcb_overlay} grapheme break values from core/tokenize/gen/unicode_norm_*_overlay.txt).\n"
          " * Do not edit.\n"
          " * Unicode data: Copyright (c) Unicode, Inc., distributed under the Unicode License v3. */\n")
out.write('#include "tokenize/normalize_internal.h"\n\n')
two_stage("tokfs_un_ccc", [ccc.get(c, 0) for c in range(N)], "uint8_t")
two_stage("tokfs_un_flags", flags, "uint8_t")
two_stage("tokfs_un_gcb", gcb, "uint8_t")
two_stage("tokfs_un_canon", canon_idx, "uint16_t")
two_stage("tokfs_un_compat", compat_idx, "uint16_t")
two_stage("tokfs_un_lower", lower_idx, "uint16_t")
out.write(f"const uint32_t tokfs_un_pool[{len(pool)}] = {{\n")
for i in range(0, len(pool), 12):
    out.write("    " + ", ".join(str(x) for x in pool[i:i + 12]) + ",\n")
out.write("};\n\n")
pairs = sorted(compose.items())
out.write(f"const size_t tokfs_un_ncompose = {len(pairs)};\n")
out.write(f"const uint32_t tokfs_un_compose[{len(pairs)}][3] = {{\n")
for (a, b), c in pairs:
    out.write(f"    {{0x{a:X}, 0x{b:X}, 0x{c:X}}},\n")
out.write("};\n")
sys.stderr.write(f"pool {len(pool)} entries, {len(pairs)} composition pairs\n")
