/* tokfs — byte-level BPE: a vocabulary of byte strings, merge priorities, and the merge loop.
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

/* Add token bytes[0..len) with this id. -EEXIST (message) when the bytes or the id are already
 * there, -EINVAL for an empty token or an id above 2^31. */
int tokfs_bpe_add_token(tokfs_bpe *b, const uint8_t *bytes, size_t len, uint32_t id,
                        tokfs_err *err);

/* TOKFS_BPE_MERGES only: the merge of the tokens `left` and `right` (given as bytes), with this
 * priority (lower first). The concatenation must be a token. A pair already present keeps its
 * first (lowest) priority, as in Hugging Face. */
int tokfs_bpe_add_merge(tokfs_bpe *b, const uint8_t *left, size_t llen, const uint8_t *right,
                        size_t rlen, uint32_t priority, tokfs_err *err);

/* Done adding. whole_piece_first: a piece that is a token encodes as that token without merging
 * (tiktoken always; Hugging Face's ignore_merges). Fails, naming the byte, if a single byte is not
 * a token (byte-level BPE needs all 256). */
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
 * tokfs_bpe_thread_cache(b) on this thread, or NULL). 0 or -ENOMEM. */
int tokfs_bpe_encode_piece(const tokfs_bpe *b, tokfs_bpe_cache *cache, const uint8_t *piece,
                           size_t len, tokfs_ids *out);

/* For tests: merge a piece with the array scan (large = 0; at most 128 bytes) or with the heap
 * (large = 1), with no whole-piece lookup and no cache. The two must always agree. */
int tokfs_bpe_merge_only(const tokfs_bpe *b, const uint8_t *piece, size_t len, int large,
                         tokfs_ids *out);

/* Approximate heap bytes held by the vocabulary and merge tables. */
size_t tokfs_bpe_memory(const tokfs_bpe *b);

#endif
