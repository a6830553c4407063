/* Owns tokfs_cache_known_empty: the token count of a shard as the catalog knows it, reduced to
 * "known to be empty". Kept apart from workers.c so that the rule "a shard of 0 tokens is not
 * shown" (docs/parquet-filter.md) has one small place in the cache. */
#include "cache/known_empty.h"

#include "cache/cache_internal.h"

int tokfs_cache_known_empty(tokfs_cache *c, uint32_t i)
{
    cache_lock(c);
    int empty = i < c->plan.npieces && c->shards[i].tokens == 0;
    cache_unlock(c);
    return empty;
}
