/* tokfs — whether a shard is known to hold no token, the one question the FUSE layer asks to
 * keep size-0 shards away from trainers (np.memmap raises on an empty file; llm.c's loader and
 * Megatron's would read a header and no data). */
#ifndef TOKFS_KNOWN_EMPTY_H
#define TOKFS_KNOWN_EMPTY_H

#include <stdint.h>

#include "cache/cache.h"

/* 1 when the catalog (or a finished build) says shard i has 0 tokens, else 0 (not made yet, or
 * not empty, or no such shard). Does no work and takes the cache lock only briefly. */
int tokfs_cache_known_empty(tokfs_cache *c, uint32_t shard);

#endif
