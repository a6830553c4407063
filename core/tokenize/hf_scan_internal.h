/* tokfs — the tokenizer.json vocabulary scanner (tok_hf_scan.c).
 *
 * A tokenizer.json is mostly its model's vocab and merges: Gemma-3's 33 MB file holds 262k
 * tokens and 515k merges. Parsed into a jansson tree that is about 10^6 allocations and 2 s, paid
 * at every mount, longer than tokenizing 16 MB of text. This scanner reads model.vocab and
 * model.merges straight from the file's bytes into flat arrays (strings without escapes point
 * into the file, no copy), and hands back the file with those two values cut to an empty
 * container so that jansson parses only the small rest (normalizer, pre-tokenizer, added tokens,
 * the model's flags). serde_json's rules apply, as Hugging Face reads the file with it: strict
 * JSON, valid UTF-8, a lone surrogate escape is an error, "\u0000" is allowed. */
#ifndef TOKFS_HF_SCAN_INTERNAL_H
#define TOKFS_HF_SCAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize/bpe_internal.h"

/* One vocabulary entry. Object vocab (BPE, WordPiece): "string": id. Array vocab (Unigram):
 * ["string", score], id = its index. */
typedef struct tokfs_hf_entry {
    const uint8_t *s; /* into the file, or into the scan's arena when it had escapes */
    uint32_t len;
    uint32_t id;
} tokfs_hf_entry; /* 16 bytes: Gemma-3 has 262k of them */

/* One merge: "a b" or ["a", "b"] — in the BPE's own rule form, so that a character-level
 * model hands the scanned array to tokfs_bpe_add_merges as it is. left == NULL: a string that
 * is not two parts around one space. */
typedef tokfs_bpe_merge_rule tokfs_hf_merge;

enum tokfs_hf_vocab_kind { TOKFS_HF_VOCAB_NONE, TOKFS_HF_VOCAB_OBJECT, TOKFS_HF_VOCAB_ARRAY };

typedef struct tokfs_hf_scan {
    enum tokfs_hf_vocab_kind vocab_kind; /* NONE: model.vocab absent or not a container */
    tokfs_hf_entry *vocab;
    size_t nvocab;
    double *scores; /* array vocab (Unigram): vocab[k]'s score, strtod of the file's digits
                     * (serde_json's rounding is the caller's); NULL for an object vocab */
    int has_merges; /* model.merges is an array (read into merges[]) */
    tokfs_hf_merge *merges;
    size_t nmerges;
    char *rest; /* the file with model.vocab and model.merges cut out; rest_len bytes */
    size_t rest_len;
    size_t cut_at[2], cut_len[2]; /* the cut values' places in the file, in file order */
    size_t ncuts;
    uint8_t *arena; /* decoded strings that had escapes */
} tokfs_hf_scan;

/* Scan data[0..len). On success (0) *s holds the vocabulary, the merges and the rest of the
 * file for jansson. The file must outlive *s (entries point into it).
 *
 * Returns 0; -EINVAL with msg (a phrase, without the file name) when model.vocab or
 * model.merges is malformed, or when the file is not a JSON object whose structure the scanner
 * can follow — the caller then asks jansson about the whole file for a line number; -ENOMEM. */
int tokfs_hf_scan_file(const uint8_t *data, size_t len, tokfs_hf_scan *s, char *msg,
                       size_t msgcap);

/* Make s->rest from data[0..len) and the cuts in s (cut_at, cut_len, ncuts: as a scan of the
 * same bytes found them, e.g. kept in a BPE image). 0; -EINVAL when the cuts do not fit the
 * bytes; -ENOMEM. */
int tokfs_hf_scan_cut(const uint8_t *data, size_t len, tokfs_hf_scan *s);

/* The file offset of byte rest_offset of the rest (for an error jansson found there). */
size_t tokfs_hf_scan_file_offset(const tokfs_hf_scan *s, size_t rest_offset);

void tokfs_hf_scan_free(tokfs_hf_scan *s);

#endif
