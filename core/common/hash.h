/* tokfs — a small, fast, deterministic 64-bit hash for shard checksums and plan identities.
 * Not cryptographic: it detects a source that changed, it does not resist an attacker. */
#ifndef TOKFS_HASH_H
#define TOKFS_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokfs_hash {
    uint64_t state;
    uint64_t total;      /* bytes hashed so far */
    uint8_t tail[8];     /* bytes not yet forming a full 8-byte word */
    unsigned ntail;
} tokfs_hash;

void tokfs_hash_init(tokfs_hash *h, uint64_t seed);
void tokfs_hash_update(tokfs_hash *h, const void *data, size_t len);
uint64_t tokfs_hash_final(const tokfs_hash *h);

/* One-shot helper. */
uint64_t tokfs_hash64(const void *data, size_t len, uint64_t seed);

/* Another hash of the same strength for large blocks (tens of MB): four independent chains over
 * 32-byte stripes, about four times tokfs_hash64's speed. Its values differ from tokfs_hash64's:
 * use it only where nothing already stored depends on those (the tokenizer images). */
uint64_t tokfs_hash64_wide(const void *data, size_t len, uint64_t seed);

/* A 64-bit finalizer (SplitMix64's variant 13 constants): spreads a key's bits before it is used
 * as a hash-table index. The vocabulary tables of bpe.c, unigram.c and wordpiece.c use it (and
 * BPE images hold tables laid out by it: changing it needs a new image version). */
static inline uint64_t tokfs_mix64(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

/* SplitMix64 step: a seeded, portable PRNG for shuffles and jitter. */
uint64_t tokfs_splitmix64(uint64_t *state);

#endif
