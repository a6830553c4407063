/* tokfs — BPE: a vocabulary of byte strings, merge priorities, and the merge loop; byte-level by
 * default, or over UTF-8 characters (tokfs_bpe_set_chars: SentencePiece-style / non-byte-level
 * Hugging Face BPE, with byte fallback, unk, continuing-subword prefix and end-of-word suffix).
 *
 * Two rule sets, one engine:
 *   TOKFS_BPE_RANKS  (tiktoken): two adjacent parts merge when their concatenation is a token;
 *                    its id is its rank, lower merges first. Whole-piece lookup comes first.
 *   TOKFS_BPE_MERGES (Hugging Face): (left id, right id) pairs from the merges list, priority =
 *                    position in the list, result = the id of the concatenation. Whole-piece
 *                    lookup first only with ignore_merges.
 * Either way the lowest-priority pair merges first, the leftmost on ties, until no pair merges:
 * small pieces with a scan of the pair array, long ones with a heap (O(n log n)).
 *
 * Encoding is thread-safe: a per-thread cache of recent pieces sits in front of the merge loop. */
#ifndef TOKFS_BPE_H
#define TOKFS_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct tokfs_bpe tokfs_bpe;

typedef enum tokfs_bpe_rules { TOKFS_BPE_RANKS, TOKFS_BPE_MERGES } tokfs_bpe_rules;

/* A growing array of ids, the output of encoding. */
typedef struct tokfs_ids {
    uint32_t *ids;
    size_t len, cap;
} tokfs_ids;

int tokfs_ids_reserve(tokfs_ids *v, size_t more);
void tokfs_ids_free(tokfs_ids *v);

/* A new, empty vocabulary; expected_tokens sizes the tables (0 is fine). NULL on ENOMEM. */
tokfs_bpe *tokfs_bpe_create(tokfs_bpe_rules rules, size_t expected_tokens);
void tokfs_bpe_destroy(tokfs_bpe *b);

/* Character mode (Hugging Face BPE without ByteLevel, models/bpe/model.rs merge_word): a piece's
 * initial parts are its UTF-8 characters, each written with the continuing_subword_prefix unless
 * it is the first and with the end_of_word_suffix when it is the last. A part not in the vocabulary
 * becomes, with byte_fallback, one <0xNN> token per byte of that written form (all of them or none);
 * otherwise the unk token (consecutive unknowns fused into one with fuse_unk) or, with no unk,
 * nothing. Then merges apply by priority as in byte mode. Requires TOKFS_BPE_MERGES. */
typedef struct tokfs_bpe_chars {
    int byte_fallback;      /* a char not in the vocab → its bytes as <0xNN> tokens */
    int64_t unk_id;         /* -1: none (an unknown character is dropped, as Hugging Face does) */
    int fuse_unk;
    const char *prefix;     /* continuing_subword_prefix, or NULL */
    const char *suffix;     /* end_of_word_suffix, or NULL */
} tokfs_bpe_chars;

/* Switch b to character mode. Call after create, before adding tokens/merges. -EINVAL (message)
 * for TOKFS_BPE_RANKS or a prefix/suffix longer than 64 bytes; -ENOMEM. The unk id, when given,
 * must be a token by finish (Hugging Face fails every encode that needs a missing unk). */
int tokfs_bpe_set_chars(tokfs_bpe *b, const tokfs_bpe_chars *opts, tokfs_err *err);

/* Add token bytes[0..len) with this id. -EEXIST (message) when the bytes or the id are already
 * there, -EINVAL for an empty token or an id above 2^31. */
int tokfs_bpe_add_token(tokfs_bpe *b, const uint8_t *bytes, size_t len, uint32_t id,
                        tokfs_err *err);

/* TOKFS_BPE_MERGES only: the merge of the tokens `left` and `right` (given as bytes, as written in
 * the merges list), with this priority (lower first). The merged token is left + right, minus the
 * first strlen(prefix) bytes of right in character mode with a continuing_subword_prefix (Hugging
 * Face strips that many bytes whatever they are); it must be a token. A pair given again takes
 * the later priority: Hugging Face collects the list into a hash map, the last insert wins. */
/* Room for n merges before adding them (a tokenizer.json says how many): the pair table is sized
 * once instead of doubling through every size. 0 or -ENOMEM. */
int tokfs_bpe_reserve_merges(tokfs_bpe *b, size_t n);

/* One merge rule as the file writes it: the two parts' bytes (in the model's own form). */
typedef struct tokfs_bpe_merge_rule {
    const uint8_t *left, *right;
    uint32_t llen, rlen;
} tokfs_bpe_merge_rule;

/* tokfs_bpe_add_merge for rules[0..n), priorities first, first + 1, ... — the same result and
 * the same errors (*failed: the index of the rule that failed), faster: loading 515k merges is
 * three hash lookups each, every one a cache miss in an 8 MB table plus one in the 16 MB pair
 * table, so the work is a software pipeline that computes each hash once and prefetches the
 * slots several rules ahead, overlapping the misses. */
int tokfs_bpe_add_merges(tokfs_bpe *b, const tokfs_bpe_merge_rule *rules, size_t n,
                         uint32_t first, size_t *failed, tokfs_err *err);

int tokfs_bpe_add_merge(tokfs_bpe *b, const uint8_t *left, size_t llen, const uint8_t *right,
                        size_t rlen, uint32_t priority, tokfs_err *err);

/* Done adding. whole_piece_first: a piece that is a token encodes as that token without merging
 * (tiktoken always; Hugging Face's ignore_merges). In byte mode fails, naming the byte, if a single
 * byte is not a token (byte-level BPE needs all 256); in character mode fails if the unk id is not
 * a token. */
int tokfs_bpe_finish(tokfs_bpe *b, int whole_piece_first, tokfs_err *err);

/* The id of token bytes[0..len), or -1. */
int64_t tokfs_bpe_lookup(const tokfs_bpe *b, const uint8_t *bytes, size_t len);

/* The bytes of token id (NULL if no such id); its length in *len. */
const uint8_t *tokfs_bpe_token(const tokfs_bpe *b, uint32_t id, size_t *len);

/* Number of tokens, and the largest id + 1. */
size_t tokfs_bpe_count(const tokfs_bpe *b);
uint32_t tokfs_bpe_id_limit(const tokfs_bpe *b);

/* A thread's cache of recent pieces and pair lookups (a few MB), in front of the merge loop. */
typedef struct tokfs_bpe_cache tokfs_bpe_cache;

/* The calling thread's cache, ready for b (emptied when it last served another vocabulary);
 * made on first use and freed when the thread exits. NULL when out of memory: encoding then
 * works uncached. Fetch it once per text, not per piece, and use it on this thread only. */
tokfs_bpe_cache *tokfs_bpe_thread_cache(const tokfs_bpe *b);

/* Append the ids of one piece (pre-tokenizer output, len >= 1) to out, using cache (from
 * tokfs_bpe_thread_cache(b) on this thread, or NULL). 0 or -ENOMEM. In character mode with no
 * unk a piece of unknown characters appends nothing, as in Hugging Face. */
int tokfs_bpe_encode_piece(const tokfs_bpe *b, tokfs_bpe_cache *cache, const uint8_t *piece,
                           size_t len, tokfs_ids *out);

/* For tests: merge a piece with the array scan (large = 0; at most 128 bytes; in character
 * mode a piece of more than 128 initial parts takes the heap either way) or with the heap
 * (large = 1), with no whole-piece lookup and no cache. The two must always agree. */
int tokfs_bpe_merge_only(const tokfs_bpe *b, const uint8_t *piece, size_t len, int large,
                         tokfs_ids *out);

/* First i >= from (0 < i <= len) where the piece text[0..len) encodes exactly as text[0..i) then
 * text[i..len) (no merge can join parts across i), or len. For whole-text-as-one-word models
 * (Llama-2, Gemma: no pre-tokenizer) so that a document becomes short pieces that hit the piece
 * cache. Always len with whole_piece_first or a prefix/suffix (a cut would change the result).
 * In byte mode positions are bytes; in character mode character boundaries. Thread-safe. */
size_t tokfs_bpe_cut(const tokfs_bpe *b, const uint8_t *text, size_t len, size_t from);

/* Approximate heap bytes held by the vocabulary and merge tables. */
size_t tokfs_bpe_memory(const tokfs_bpe *b);

/* ---- images (bpe_image.c) -------------------------------------------------------------------
 * A finished BPE's tables saved to a file as they lie in memory and mapped back read-only:
 * Gemma-3's 33 MB tokenizer.json takes about 0.4 s to turn into tables, its image a few tens of
 * ms to map and verify. Images belong to this build (a format version and a self-check of the
 * tables refuse another's); the caller names and keys them. */

/* Write b (finished, not itself mapped) and extra[0..extra_len) (the caller's own facts, given
 * back by the load) to path, through a temp file renamed over it when whole. 0 or -errno. */
int tokfs_bpe_image_save(const tokfs_bpe *b, const void *extra, size_t extra_len,
                         const char *path);

/* Map the image at path into *out (destroy with tokfs_bpe_destroy, which unmaps it); *extra and
 * *extra_len: the extra bytes saved with it, inside the mapping (valid while *out lives; the
 * owner checks their shape, they are covered by the checksum). -ENOENT: no image; -EPERM: the file
 * is not the caller's own (another user's image is never mapped); -EINVAL: not an image of this
 * build, torn, damaged (checksum) or unsound (an index outside its table) — the caller should
 * remove it and build the tables from the source; -ENOMEM or another -errno. */
int tokfs_bpe_image_load(const char *path, tokfs_bpe **out, const void **extra,
                         size_t *extra_len);

#endif
