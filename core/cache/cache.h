/* tokfs — the shard cache: a directory under a hard disk budget, the catalog of known token
 * counts, and the workers that materialize shards on demand.
 *
 * Shards are numbered 0..npieces-1 in plan order (train pieces, then val pieces). A caller asks
 * for a shard with tokfs_cache_get; the answer comes through a callback, at once when the shard
 * is cached, or later from the worker that materializes it. Every waiter of a shard is answered
 * by the one build of that shard (single flight). The internals (one struct, its lock rules, the
 * shard's life, the modules) are described in cache_internal.h. */
#ifndef TOKFS_CACHE_H
#define TOKFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "build/out_format.h"
#include "common/config.h"
#include "common/error.h"
#include "plan/plan.h"
#include "tokenize/tokenizer.h"

typedef struct tokfs_cache tokfs_cache;

/* A reference to a cached shard's open file. While a caller holds it the descriptor stays
 * valid, even if the shard is evicted meanwhile (its name is gone, its bytes are identical). */
typedef struct tokfs_backing tokfs_backing;
int tokfs_backing_fd(const tokfs_backing *b);

/* Answer to tokfs_cache_get. status: 0, -EIO (source or checksum failure), -ENOSPC (shard larger
 * than the cap). size: the shard's exact size in bytes (when status is 0). backing: a reference
 * the callee must give back with tokfs_cache_release (NULL unless want_backing, or on error). */
typedef void (*tokfs_ready_fn)(void *arg, int status, uint64_t size, tokfs_backing *backing);

/* Open the cache dir: lock it against other mounts, load the saved plan for this SOURCE and
 * options (or list the sources and plan them, then save the plan), create the layout, remove
 * leftovers of an interrupted run, load the catalog, and measure disk use. No threads yet
 * (tokfs_cache_start runs them: call it after daemonizing). cfg and tok must outlive the cache. */
int tokfs_cache_open(const tokfs_config *cfg, const tokfs_tokenizer *tok, tokfs_cache **out,
                     tokfs_err *err);
int tokfs_cache_start(tokfs_cache *c, tokfs_err *err);
/* Stop the workers (a build in progress is abandoned, its temp file removed) and free. */
void tokfs_cache_close(tokfs_cache *c);

const tokfs_plan *tokfs_cache_plan(const tokfs_cache *c);
/* Exposed shard counts (max_shards applies to train). */
uint32_t tokfs_cache_train_shards(const tokfs_cache *c);
uint32_t tokfs_cache_val_shards(const tokfs_cache *c);
/* Plan index of split shard n (split 0 train, 1 val), or -1 when it is not exposed. */
int64_t tokfs_cache_shard_index(const tokfs_cache *c, int split, uint32_t n);

/* Exact size in bytes of shard i's cache file if known (from the catalog), without doing any
 * work. Returns 0 or -ENODATA. For megatron the file is the .bin then the .idx. */
int tokfs_cache_known_size(tokfs_cache *c, uint32_t shard, uint64_t *size);
/* The same, split into the served data file (.bin/.npy, header included) and the .idx (0 unless
 * megatron). Always known once a tokfs_cache_get of the shard answered 0. 0 or -ENODATA. */
int tokfs_cache_known_parts(tokfs_cache *c, uint32_t shard, uint64_t *data, uint64_t *index);
/* The output layout the mount serves (out_format.h). */
const tokfs_layout *tokfs_cache_layout(const tokfs_cache *c);

/* Get shard i ready. is_read = 1 for data reads (counts hits/misses, moves the shard to the
 * front of the LRU, triggers prefetch); 0 for lookups that only need the size. fn is called
 * exactly once: before this returns when the shard is cached, else from a worker. */
void tokfs_cache_get(tokfs_cache *c, uint32_t shard, int is_read, int want_backing,
                     tokfs_ready_fn fn, void *arg);
/* A read of bytes below `end` of shard i's cache file (end <= its size; UINT64_MAX when the
 * size is not known): tokfs_cache_get(c, i, 1, 1, fn, arg), except that while the shard is
 * being re-made (evicted before; its size and chunk sums known from the first make), fn may be
 * called before the build ends, as soon as every chunk below `end` is written and equal to the
 * first make's, with a reference on the build's file (bytes below `end` are final: the same the
 * cached shard will hold). size is then the shard's size. Bytes at or past `end` of that
 * reference must not be read. If the re-made shard differs, fn gets -EIO. */
void tokfs_cache_read(tokfs_cache *c, uint32_t shard, uint64_t end, tokfs_ready_fn fn,
                      void *arg);
/* Give back a backing reference. Takes no lock; the last reference of an evicted shard closes
 * its file here (that close frees the file's blocks). */
void tokfs_cache_release(tokfs_cache *c, tokfs_backing *b);

/* Bytes the cache occupies on disk now (metadata included) and its cap. */
void tokfs_cache_usage(tokfs_cache *c, uint64_t *used, uint64_t *cap);

/* JSON documents served at the mount root and in .tokfs/; malloc'd, caller frees. */
char *tokfs_cache_render_metadata(tokfs_cache *c, size_t *len);
char *tokfs_cache_render_status(tokfs_cache *c, size_t *len);

/* Name of shard i for messages: "train/shard_00003.bin" (".npy" for npy). */
void tokfs_cache_shard_name(const tokfs_cache *c, uint32_t shard, char *out, size_t size);

#endif
