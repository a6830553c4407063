/* tokfs — little-endian loads and stores: the one reader of on-disk and on-wire integers
 * (Parquet, zstd frames, shard ids, the catalog, hash input, BPE keys). memcpy compiles to one
 * load on every target tokfs builds for; the byte order is fixed, the host's does not matter. */
#ifndef TOKFS_ENDIAN_H
#define TOKFS_ENDIAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t tokfs_le32(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

static inline uint64_t tokfs_le64(const uint8_t *p)
{
    return (uint64_t)tokfs_le32(p) | (uint64_t)tokfs_le32(p + 4) << 32;
}

static inline uint16_t tokfs_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* p[0..n) (n <= 8) as a little-endian integer, upper bytes 0: what a memcpy into a zeroed word
 * gives on a little-endian host, without a call to memcpy for a length the compiler does not
 * know. Two overlapping 4-byte loads (n >= 4), or three single bytes (n = 1..3: p[0], p[n/2],
 * p[n-1] cover every byte). For short keys built per piece (bpe.c's vocabulary and caches). */
static inline uint64_t tokfs_le_n(const uint8_t *p, size_t n)
{
    if (n >= 4)
        return tokfs_le32(p) | (uint64_t)tokfs_le32(p + n - 4) << (8 * (n - 4));
    if (n == 0)
        return 0;
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) |
           (uint64_t)p[n - 1] << (8 * (n - 1));
}

static inline void tokfs_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void tokfs_store_le64(uint8_t *p, uint64_t v)
{
    tokfs_store_le32(p, (uint32_t)v);
    tokfs_store_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
