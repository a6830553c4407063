/* tokfs — Hugging Face tokenizers' normalizers (the tokenizer.json "normalizer" value) and the
 * SentencePiece precompiled charsmap, reproducing npm tokenizers 0.23.2 byte for byte.
 *
 * Supported: NFC NFD NFKC NFKD, Lowercase, Strip, StripAccents, Prepend, Replace (String or
 * Regex: PCRE2 with Oniguruma's \s \h \w and line anchors), Nmt, Precompiled, BertNormalizer,
 * ByteLevel, Sequence (also empty). Anything else is refused (-ENOTSUP, naming the type).
 *
 * The reference's Unicode versions differ per normalizer and are reproduced (see
 * core/tokenize/gen/unicode_norm_gen.py): normalization forms use Unicode 9.0 data (the crate
 * unicode-normalization-alignments), BertNormalizer's category tests Unicode 8.0, Lowercase the
 * newest (Rust's char::to_lowercase, per character: Σ always becomes σ, no final-sigma rule),
 * Precompiled's grapheme clusters Unicode 17.0.
 *
 * Costs: every normalizer first runs a read-only check over the text (ASCII 8 bytes at a time
 * where ASCII cannot change, other characters one or two table lookups); a normalizer that would
 * leave the text as it is costs that scan only and tokfs_norm_apply then returns `in` itself.
 * Otherwise the result is written once into the caller's scratch buffer (a Sequence alternates
 * between it and one buffer of its own, allocated once per call); unchanged spans are copied in
 * one piece. No allocation per character: the normalization forms keep the current run of
 * combining characters in a stack array (the heap only past 64 code points in one run).
 * Measured on a loaded 2-core machine (1 MB of prose, code, CJK and other scripts; 0.5 MB of
 * English prose): NFC 70 MB/s (prose, already NFC: 330 MB/s), NFKC 65, NFD 100, Lowercase 130,
 * Precompiled (T5's nmt_nfkc charsmap) 95, BertNormalizer (five passes) 22-26 MB/s. */
#ifndef TOKFS_NORMALIZE_INTERNAL_H
#define TOKFS_NORMALIZE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef struct tokfs_norm tokfs_norm;

/* spec: the tokenizer.json "normalizer" value. NULL or JSON null → *out = NULL (identity).
 * path names the tokenizer in error messages. */
int tokfs_norm_from_json(const char *path, json_t *spec, tokfs_norm **out, tokfs_err *err);
/* Normalize in[0..len). On return *res, *res_len is the result: either `in` itself (text
 * unchanged — the fast path, nothing appended) or bytes appended to `scratch` (cleared
 * first). 0 or -ENOMEM. n may be NULL (identity). Thread-safe on a const n. */
int tokfs_norm_apply(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *scratch,
                     const uint8_t **res, size_t *res_len);
void tokfs_norm_free(tokfs_norm *n);

/* SentencePiece precompiled charsmap (the blob of a Precompiled normalizer / a .model's
 * normalizer_spec.precompiled_charsmap): u32 little-endian trie size in bytes, the darts-clone
 * double-array trie (u32 units), then the NUL-separated replacement strings. The blob is
 * copied. */
typedef struct tokfs_charsmap tokfs_charsmap;
int tokfs_charsmap_open(const uint8_t *blob, size_t len, tokfs_charsmap **out, tokfs_err *err);
/* Longest prefix of s[0..n) the charsmap rewrites (SentencePiece's rule): returns its length
 * (0: none) and the replacement in *repl, *repl_len (may be empty). */
size_t tokfs_charsmap_longest(const tokfs_charsmap *cm, const uint8_t *s, size_t n,
                              const uint8_t **repl, size_t *repl_len);
/* Shortest such prefix (Hugging Face's rule, crate spm_precompiled): its length or 0. */
size_t tokfs_charsmap_shortest(const tokfs_charsmap *cm, const uint8_t *s, size_t n,
                               const uint8_t **repl, size_t *repl_len);
void tokfs_charsmap_free(tokfs_charsmap *cm);

/* Length of the extended grapheme cluster (UAX #29) starting at s[0..n) (n >= 1, valid UTF-8). */
size_t tokfs_grapheme_len(const uint8_t *s, size_t n);

/* The generated tables (core/tokenize/unicode_norm_data.c), two-stage: value of cp is
 * NAME_s2[NAME_s1[cp >> 8]][cp & 0xFF]. */
enum {
    TOKFS_UN_NFD = 1,    /* has a canonical decomposition */
    TOKFS_UN_NFKD = 2,   /* has any decomposition */
    TOKFS_UN_NFC = 4,    /* NFC quick check No or Maybe */
    TOKFS_UN_NFKC = 8,   /* NFKC quick check No or Maybe */
    TOKFS_UN_OTHER = 16, /* Cc Cf Co Cs, Unicode 8.0 */
    TOKFS_UN_MN = 32,    /* Mn, Unicode 8.0 */
    TOKFS_UN_MARK = 64,  /* Mn Mc Me, Unicode 9.0 */
    TOKFS_UN_WS = 128,   /* White_Space */
};
enum { /* Grapheme_Cluster_Break, as tokfs_un_gcb holds it (bit 0x10: Extended_Pictographic) */
    TOKFS_GCB_OTHER, TOKFS_GCB_CR, TOKFS_GCB_LF, TOKFS_GCB_CONTROL, TOKFS_GCB_EXTEND,
    TOKFS_GCB_ZWJ, TOKFS_GCB_RI, TOKFS_GCB_PREPEND, TOKFS_GCB_SPACINGMARK, TOKFS_GCB_L,
    TOKFS_GCB_V, TOKFS_GCB_T, TOKFS_GCB_LV, TOKFS_GCB_LVT,
    TOKFS_GCB_EXTPICT = 0x10,
};
extern const uint8_t tokfs_un_ccc_s1[4352], tokfs_un_flags_s1[4352], tokfs_un_gcb_s1[4352];
extern const uint8_t tokfs_un_canon_s1[4352], tokfs_un_compat_s1[4352], tokfs_un_lower_s1[4352];
extern const uint8_t tokfs_un_ccc_s2[][256], tokfs_un_flags_s2[][256], tokfs_un_gcb_s2[][256];
extern const uint16_t tokfs_un_canon_s2[][256], tokfs_un_compat_s2[][256], tokfs_un_lower_s2[][256];
/* Sequences: at index i (> 0), the length, then the code points. */
extern const uint32_t tokfs_un_pool[];
/* Primary composites {first, second, composite}, sorted by (first, second). */
extern const size_t tokfs_un_ncompose;
extern const uint32_t tokfs_un_compose[][3];

#endif
