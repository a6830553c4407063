/* tokfs — the BPE's tables (struct tokfs_bpe), shared by bpe.c, which builds and uses them, and
 * bpe_image.c, which saves a finished BPE to a file and maps it back. Nothing else includes it.
 *
 * Every field is written only while the BPE is built (create .. finish) and only read after, by
 * any number of encoding threads: no lock. A mapped BPE (tokfs_bpe_image_load) has its arrays in
 * a read-only mapping of the image file. */
#ifndef TOKFS_BPE_TABLES_INTERNAL_H
#define TOKFS_BPE_TABLES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/endian.h"
#include "common/hash.h"
#include "tokenize/bpe_internal.h"

#define CP_LIMIT 0x110000u /* code points: the char_tok bitmap's size in bits */

typedef struct tok_ent {
    uint32_t off; /* into bytes */
    uint32_t len;
    uint32_t id;
} tok_ent;

/* A vocabulary hash slot. key = vocab_key(bytes): a token of at most 7 bytes is its own key
 * (the bytes, and the length in the top byte), so most probes compare one word and touch nothing
 * else; a longer token's key is 0xFF in the top byte and 56 bits of its hash, confirmed with a
 * memcmp against the stored bytes. */
typedef struct vocab_slot {
    uint64_t key;
    uint32_t ent1; /* entry index + 1; 0 = empty */
    uint32_t id;
} vocab_slot;

typedef struct pair_slot {
    uint64_t key; /* left id << 32 | right id; 0 = empty (id pairs (0,0) are stored +1-shifted) */
    uint32_t priority;
    uint32_t merged;
} pair_slot;

struct tokfs_bpe {
    tokfs_bpe_rules rules;
    int whole_piece_first;
    uint64_t serial;         /* tells a thread's piece cache which vocabulary it belongs to */
    uint8_t *bytes;          /* all token bytes, back to back */
    size_t bytes_len, bytes_cap;
    tok_ent *ents;           /* tokens in insertion order */
    size_t count, ents_cap;
    vocab_slot *slots;       /* open addressing on vocab_key() */
    size_t nslots;           /* power of two */
    uint32_t *by_id;         /* id → entry index + 1 (0: no such id) */
    uint32_t id_limit;       /* largest id + 1 */
    uint32_t max_token_len;
    pair_slot *pairs;        /* TOKFS_BPE_MERGES: (left, right) → priority, merged id */
    size_t npairs, pair_slots;
    uint32_t byte_id[256];
    /* character mode (tokfs_bpe_set_chars) */
    int chars;
    int byte_fallback, fuse_unk;
    int64_t unk_id;
    uint8_t prefix[64], suffix[64];
    size_t plen, slen;
    int64_t fb_id[256];      /* id of "<0xNN>", or -1 */
    int64_t ascii_id[128];   /* id of the ASCII character alone, or -1 (the written form when
                              * there is no prefix or suffix at that place) */
    /* tokfs_bpe_cut: a bitmap over hashed pairs of adjacent units (bytes, or code points in
     * character mode) that occur inside some token; a set bit may be a collision (a cut missed,
     * never a wrong one). */
    uint64_t *cut_bits;
    uint64_t cut_mask;       /* bit count - 1 */
    int cut_ok;              /* cuts are exact for this configuration */
    int fb_inert;            /* character mode: every byte has its <0xNN> token and no merge
                              * rule uses one, so a character not in the vocabulary falls back
                              * to parts that never merge (Llama-2, Gemma) */
    uint64_t *char_tok;      /* character mode: bit per code point, set when the character
                              * alone is a token (0x110000 bits) */
    uint64_t ascii_cut[128][2]; /* character mode: bit b of row a: a cut between ASCII a and b
                                 * (the general rule, precomputed: prose is mostly ASCII) */
    void *image;             /* a mapped image (bpe_image.c): the arrays above point into it */
    size_t image_len;
};

/* A fresh serial (tokfs_bpe.serial) for a BPE made or mapped. */
uint64_t tokfs_bpe_next_serial(void);
/* bpe.c: the tables of a mapped image are sound (every index inside its array) and a sample of
 * tokens and merges is found where this build's code looks for them. 0 or -EINVAL. */
int tokfs_bpe_tables_check(const tokfs_bpe *b);

static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        h = (h ^ tokfs_le64(p)) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 27;
        p += 8;
        n -= 8;
    }
    return tokfs_mix64(h ^ tokfs_le_n(p, n));
}

static inline uint64_t vocab_key(const uint8_t *p, size_t n)
{
    if (n <= 7)
        return tokfs_le_n(p, n) | ((uint64_t)n << 56);
    return (hash_bytes(p, n) >> 8) | (0xFFull << 56);
}

#endif
