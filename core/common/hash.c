/* Hashing for identities, checksums and tables (tokfs_hash64), and SplitMix64 for seeded
 * shuffles and jitter. */
#include "common/hash.h"

#include <string.h>

#include "common/endian.h"

/* Multiply-rotate over 8-byte little-endian words, finished with a SplitMix64-style avalanche.
 * Chunking does not change the result: the tail is carried between updates. */
#define HASH_PRIME1 0x9E3779B185EBCA87ull
#define HASH_PRIME2 0xC2B2AE3D27D4EB4Full

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t mix_word(uint64_t state, uint64_t word)
{
    return rotl64(state ^ (word * HASH_PRIME2), 31) * HASH_PRIME1;
}

void tokfs_hash_init(tokfs_hash *h, uint64_t seed)
{
    h->state = seed ^ HASH_PRIME1;
    h->total = 0;
    h->ntail = 0;
}

void tokfs_hash_update(tokfs_hash *h, const void *data, size_t len)
{
    if (!len)
        return; /* data may then be NULL (an empty table): memcpy must not see it */
    const uint8_t *p = data;
    h->total += len;
    if (h->ntail) {
        size_t take = 8 - h->ntail < len ? 8 - h->ntail : len;
        memcpy(h->tail + h->ntail, p, take);
        h->ntail += (unsigned)take;
        p += take;
        len -= take;
        if (h->ntail < 8)
            return;
        h->state = mix_word(h->state, tokfs_le64(h->tail));
        h->ntail = 0;
    }
    uint64_t state = h->state;
    for (; len >= 8; p += 8, len -= 8)
        state = mix_word(state, tokfs_le64(p));
    h->state = state;
    memcpy(h->tail, p, len);
    h->ntail = (unsigned)len;
}

uint64_t tokfs_hash_final(const tokfs_hash *h)
{
    uint8_t last[8] = {0};
    memcpy(last, h->tail, h->ntail);
    uint64_t x = mix_word(h->state, tokfs_le64(last)) ^ h->total;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

uint64_t tokfs_hash64(const void *data, size_t len, uint64_t seed)
{
    tokfs_hash h;
    tokfs_hash_init(&h, seed);
    tokfs_hash_update(&h, data, len);
    return tokfs_hash_final(&h);
}

uint64_t tokfs_hash64_wide(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t lane[4] = {seed ^ HASH_PRIME1, seed + HASH_PRIME2, seed ^ HASH_PRIME2,
                        seed - HASH_PRIME1};
    size_t n = len;
    for (; n >= 32; p += 32, n -= 32)
        for (int k = 0; k < 4; k++) /* four independent chains: four multiplies in flight */
            lane[k] = mix_word(lane[k], tokfs_le64(p + 8 * k));
    uint64_t folded = rotl64(lane[0], 1) + rotl64(lane[1], 7) + rotl64(lane[2], 12) +
                      rotl64(lane[3], 18);
    return tokfs_hash64(p, n, folded ^ (uint64_t)len); /* the tail, and the final avalanche */
}

uint64_t tokfs_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
