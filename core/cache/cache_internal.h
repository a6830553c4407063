/* tokfs — the cache's internals, shared by its modules (core/cache/ only; its unit test may
 * include it too). One struct, one mutex, six modules:
 *
 *   layout.c   the cache dir: lock file, plan dir, leftovers of an interrupted run, scanning our
 *              own and other plans' shard files; tokfs_cache_open / _start / _close; the lock
 *              wrappers' owner tag
 *   catalog.c  plan-<id>/catalog.bin: token count and checksum of every shard ever made
 *   chunks.c   plan-<id>/chunks.bin: a checksum per fixed chunk of every shard's cache file,
 *              recorded when it is first made, so a re-make can serve each chunk as soon as it
 *              is written and equal to the first make's
 *   budget.c   the hard cap: disk accounting, reservations, eviction, the full-disk path; the
 *              backing references and the work deferred until the mutex is let go
 *   workers.c  the queues, single flight, waiters, prefetch, the worker threads, build_one,
 *              the build's progress (early reads); tokfs_cache_get / _read / _release /
 *              _known_size
 *   status.c   dataset_metadata.json and .tokfs/status.json (jansson)
 *
 * LOCKING
 *
 * One mutex, c->mu, taken only through cache_lock / cache_unlock / cache_wait below, which record
 * the owning thread so that TOKFS_CACHE_ASSERT_LOCKED (always on: one relaxed load and a compare)
 * can check, in every helper that needs the lock, that its caller holds it. Each field below
 * says what guards it:
 *   mu                 read and written only with c->mu held;
 *   open               set by tokfs_cache_open (or _start), read-only after: read without a lock;
 *   atomic             a C11 atomic, read and written anywhere;
 *   worker             owned by the one worker thread running the build, no lock.
 * tokfs_cache_open also writes fields marked mu (scan_own, the catalog, the startup trim) before
 * any other thread exists; it takes the lock only where it calls a helper that asserts it.
 * One other mutex, chunks_mu, serializes chunks.bin's appends (file I/O, rare: one per shard
 * made); it guards only the fields marked chunks_mu, is taken only by builds (never a FUSE
 * thread), before c->mu and never while holding it.
 *
 * What runs under c->mu is memory work (queues, counters, shard states, the LRU scan) plus one
 * system call: the unlink() of an evicted shard's name. It must stay before data_bytes is
 * credited: the cap is on what `du` counts, and du counts the name until it is gone, so crediting
 * first would let a concurrent reservation use room that du still sees taken. Everything else
 * that can block is done after the mutex is let go: fetching, tokenizing and writing (the
 * build), fsync, the catalog's and chunks.bin's pwrite + fdatasync, reading back and hashing a
 * build's chunks, linking into shards/, statvfs for the full-disk path, calling the readers'
 * callbacks (also those answered early, from the build thread's progress callback), log lines about evictions, and the close() of
 * the last descriptor of an evicted shard (it frees the file's blocks: 14-43 ms measured under
 * writeback pressure). Helpers that hold the lock queue that last work with cache_defer;
 * cache_unlock runs it right after releasing the mutex, and cache_wait runs it (and returns,
 * like a spurious wakeup) instead of sleeping with it pending, so the queue is empty whenever
 * the mutex is free and the thread that queued the work is the one that does it.
 *
 * THE LIFE OF A SHARD (shard.state; drawn as SQLite's pager.c draws its states)
 *
 *                     worker_main takes it from a queue (pick_job)
 *      +------------+ -------------------------------------------> +-----------------+
 *      |   REMOTE   |                                              |  MATERIALIZING  |
 *      |            | <------------------------------------------- |  build_one runs |
 *      +------------+   finish_failed                              |  without mu     |
 *        ^      |         hard (-EIO, -ENOSPC over the cap):       +-----------------+
 *        |      |           last_error set, waiters answered                |
 *        |      |         soft (-EAGAIN, a disk full that eviction          | finish_ok:
 *        |      |           can fix): back on demand_q                      | backing, tokens,
 *        |      |                                                           | waiters answered
 *        |      '-- queued, still REMOTE:                                   v
 *        |          tokfs_cache_get parks a waiter -> demand_q      +-----------------+
 *        |          queue_prefetch -> prefetch_q                    |     CACHED      |
 *        |                                                          +-----------------+
 *        |                                                            |           ^
 *        '------------------------------------------------------------'           |
 *           evict_shard: name unlinked, the shard's own backing              scan_own, at open
 *           reference dropped (readers holding it keep reading)              (the catalog
 *                                                                             vouches for it)
 *
 * EARLY READS. A MATERIALIZING shard whose chunk sums are recorded (shard.chunk_sums: it was made
 * before, and the catalog knows its size) has shard.building, a backing on the build's temp
 * file, and shard.verified: bytes [0, verified) of that file are written and each chunk in them
 * equals the first make's. A read waiter needing [.., need_end) with need_end <= verified is
 * answered at once (tokfs_cache_read) or by the build's progress callback, with a reference on
 * building; it reads the same bytes the cached shard will hold. A chunk that differs fails the
 * build (-EIO, "re-made differs", naming the chunk): the waiters left get EIO, and no byte past
 * verified was ever handed out. building is set (under mu) by build_one before the build runs
 * and cleared under mu when it ends: finish_ok moves its reference to shard.backing, a failed
 * build drops it (readers still holding it keep reading verified bytes until they let go).
 *
 * WRITTEN, NOT YET SYNCED. A build without chunk sums to check against (a first make; or a
 * re-make of a shard made before sums existed, once its whole-file checksum equals the
 * catalog's) publishes the finished file the moment its last byte is written and checked, before
 * the fsync, the chunk sums' read-back, the catalog record and the link into shards/ (together
 * 15-25 ms a shard on this machine, which every first reader of a shard used to wait for):
 * build_one sets building to the temp file and verified to its whole size and, for a first make,
 * the count, checksum and index size (so tokens >= 0 from then on: the shard's exact size), and
 * answers the waiters — reads of any bytes with a reference on building, size queries with the
 * size. Those bytes are the ones the cached shard will hold (the same file); only their
 * durability is still to come, and a crash before the link leaves no name, so the shard is made
 * again and compared with what readers saw (the count and checksum kept in memory, or the
 * catalog's once recorded). A step after the publish that fails (fsync, catalog, link) fails the
 * build as before: the waiters left get the error, readers holding the file keep their right
 * bytes, and the next build of the shard is compared with the published count and checksum.
 *
 * REMOTE has three faces in status.json: "remote" (never made), "evicted" (ever_cached) and
 * failed ("error": last_error, -EIO or -ENOSPC, shown as "EIO" / "ENOSPC"). last_error is
 * cleared when a reader parks a new waiter (the next read tries again) or the build succeeds;
 * a failed shard is not prefetched. Who makes each transition, always under mu:
 *   REMOTE -> MATERIALIZING    cache_worker_main after pick_job (workers.c); the only way in
 *   MATERIALIZING -> CACHED    finish_ok (workers.c)
 *   MATERIALIZING -> REMOTE    finish_failed (workers.c)
 *   CACHED -> REMOTE           evict_shard (budget.c), through cache_evict_one or
 *                              cache_evict_for_prefetch; the only way out
 *   (at open) -> CACHED        scan_own (layout.c), before any thread
 * Waiters hang only on a REMOTE or MATERIALIZING shard; tokfs_cache_close answers those left
 * with -EIO. Only a REMOTE shard is queued, and at most one build of a shard runs at a time
 * (single flight), so tokens and checksum are written by one thread at a time and the build
 * compares against the copy it took when it began (build_job.known_tokens). */
#ifndef TOKFS_CACHE_INTERNAL_H
#define TOKFS_CACHE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "build/out_format.h"
#include "build/shard_build.h"
#include "cache/cache.h"
#include "common/log.h"
#include "shared/shared.h"

enum shard_state { SHARD_REMOTE, SHARD_MATERIALIZING, SHARD_CACHED };
enum queued_in { QUEUED_NONE, QUEUED_DEMAND, QUEUED_PREFETCH };

/* A cached shard's open file. refs is the shard's own reference while it is CACHED plus one per
 * reader holding it (tokfs_cache_get with want_backing); it is only ever raised from >= 1, under
 * mu, through shard.backing, so whoever drops it to 0 (cache_backing_unref) owns the close. */
struct tokfs_backing {
    int fd;                     /* set when made, read-only after */
    atomic_int refs;            /* atomic */
};

/* A request parked on a shard that is not ready, answered by the shard's one build. Every
 * field: mu while on shard.waiters; once taken (cache_take_waiters), owned by the thread that
 * answers it, without the lock. */
typedef struct waiter {
    tokfs_ready_fn fn;
    void *arg;
    int want_backing;
    uint64_t need_end;          /* a read of bytes below this (UINT64_MAX: the whole shard) */
    tokfs_backing *backing;     /* the reference handed to fn (set by cache_take_waiters) */
    struct waiter *next;
} waiter;

typedef struct shard {
    int state;                  /* mu: enum shard_state */
    int queued;                 /* mu: enum queued_in */
    int demand;                 /* mu: a reader waits, so the build may evict others to fit */
    int ever_cached;            /* mu: tells "evicted" from "remote" in status.json */
    int cataloged;              /* mu: the catalog holds its record (tokens may also come from
                                 * the shared tier's manifest, which the catalog does not) */
    int64_t tokens;             /* mu: from the catalog or the last build; -1 unknown. The build
                                 * compares with the copy it took at start (build_job) */
    uint64_t checksum;          /* mu: with tokens */
    uint64_t index_bytes;       /* mu: with tokens: the megatron .idx after the ids (else 0) */
    tokfs_backing *backing;     /* mu: the pointer (non-NULL exactly when CACHED); refs atomic */
    uint64_t disk_bytes;        /* mu: allocated bytes of the cached file (0 unless CACHED) */
    uint64_t last_read;         /* mu: LRU clock value of the last read */
    waiter *waiters;            /* mu: parked requests, newest first */
    uint64_t fetched_bytes;     /* mu: source bytes fetched by its builds */
    uint64_t skipped_records;   /* mu: records its last build skipped */
    int last_error;             /* mu: 0, or -EIO / -ENOSPC: how its last build failed */
    uint64_t *chunk_sums;       /* mu: one per chunk of the cache file (chunks.c), NULL when
                                 * none are recorded; replaced only by the shard's one build */
    uint32_t nchunks;           /* mu: with chunk_sums */
    tokfs_backing *building;    /* mu: the build's temp file while it is MATERIALIZING with
                                 * chunk_sums (see EARLY READS) or once its bytes are all
                                 * written (WRITTEN, NOT YET SYNCED), else NULL; its reference
                                 * is the build's (build_job.backing) */
    uint64_t verified;          /* mu: with building: bytes [0, verified) are final and checked */
    uint64_t prefetch_floor;    /* mu: while queued or built as a prefetch, the LRU clock of the
                                 * read that queued it: it may evict only shards read before */
    uint32_t prefetch_from;     /* mu: with prefetch_floor: the shard whose read queued it */
} shard;

/* A shard file of another plan in the same cache dir: evicted before any of ours. */
typedef struct foreign_file {
    char *path;
    uint64_t bytes;
} foreign_file;

/* A FIFO of shard indexes (a ring that doubles). */
typedef struct id_queue {
    uint32_t *items;
    size_t head, count, cap;
} id_queue;

/* Work queued under mu and done right after it is let go (see LOCKING). */
typedef struct cache_deferred {
    struct cache_deferred *next;
    int fd;                     /* close this descriptor, or -1 */
    enum tokfs_log_level level; /* of line */
    char line[];                /* log this line, unless "" */
} cache_deferred;

/* Makes shard `index` into out, as tokfs_build_shard does (the same contract: calls
 * out->reserve before the file grows, out->progress after it writes (may be skipped: reads then
 * wait for the whole build), stops on *out->cancel or a refusal from either, fills stats; 0 or a
 * negative errno with err naming the source). */
typedef int (*tokfs_cache_build_fn)(void *ctx, uint32_t index, const tokfs_build_output *out,
                                    tokfs_build_stats *stats, tokfs_err *err);

/* What tests replace. build NULL: tokfs_build_shard with the worker thread's own fetcher. */
typedef struct tokfs_cache_hooks {
    tokfs_cache_build_fn build;
    void *ctx;                  /* build's first argument */
    uint32_t chunk_bytes;       /* 0: TOKFS_CACHE_CHUNK_BYTES (tests use small chunks) */
    /* Called by a build once its file is written and published (WRITTEN, NOT YET SYNCED), just
     * before its fsync, without mu; a test blocks here, or returns a negative errno to fail the
     * build as a failed fsync would. NULL: nothing. */
    int (*before_sync)(void *ctx, uint32_t shard);
} tokfs_cache_hooks;

struct tokfs_cache {
    const tokfs_config *cfg;    /* open */
    const tokfs_tokenizer *tok; /* open */
    tokfs_cache_hooks hooks;    /* open */
    tokfs_plan plan;            /* open */
    unsigned id_bytes;          /* open: bytes per stored id (2 or 4): layout.id_bytes */
    tokfs_layout layout;        /* open: format=, dtype=, doc_sep= against the tokenizer */
    uint32_t exposed_train;     /* open: train shards shown (max_shards) */

    char root[PATH_MAX];        /* open: cfg->cache_dir */
    char dir[PATH_MAX];         /* open: root/plan-<id> */
    int lock_fd;                /* open: flock'ed for the life of the mount */
    int catalog_fd;             /* open: records are pwrite'd by the builds, never under mu */
    int shards_dir_fd;          /* open */
    uint32_t chunk_bytes;       /* open: the chunk size (TOKFS_CACHE_CHUNK_BYTES, or a test's) */
    /* chunks.bin's appends (chunks.c): rare (one per shard made), and they do I/O (create,
     * fallocate, pwrite, fdatasync), so they are serialized by their own mutex, never c->mu
     * (taken inside it, briefly, to account the file's growth in fixed_bytes). Lock order:
     * chunks_mu, then mu. Fields below: chunks_mu (and written at open, before any thread). */
    pthread_mutex_t chunks_mu;
    int chunks_fd;              /* chunks_mu: -1 until the file exists (made at the first append,
                                 * so a cache that never records sums holds no block for it) */
    uint64_t chunks_end;        /* chunks_mu: where the next record goes (0: no header yet) */
    uint64_t chunks_alloc;      /* chunks_mu: bytes allocated to the file, counted in fixed_bytes */

    shard *shards;              /* open: the array (npieces); each field as marked in shard */
    foreign_file *foreign;      /* mu: evictable files of other plans, evicted from the end */
    size_t nforeign;            /* mu */

    pthread_mutex_t mu;         /* the lock (see LOCKING) */
    atomic_uintptr_t mu_owner;  /* atomic: cache_self() of the thread holding mu, 0 when free */
    pthread_cond_t work_cv;     /* with mu: a job was queued, or stop */
    pthread_cond_t space_cv;    /* with mu: budget was released or a build ended */
    id_queue demand_q;          /* mu: shards a reader waits for */
    id_queue prefetch_q;        /* mu: shards to make ahead, when they fit */
    cache_deferred *deferred;   /* mu: work for after unlock (empty whenever mu is free) */
    cache_deferred **deferred_tail; /* mu */

    /* The budget: fixed_bytes + data_bytes <= cap at all times. */
    uint64_t cap;               /* open: cache_size */
    uint64_t fixed_bytes;       /* mu: metadata (dirs with room to grow, plan, catalog, chunk
                                 * sums), measured at open; grown only by chunks.bin's appends */
    uint64_t block;             /* open: the filesystem's allocation unit */
    uint64_t data_bytes;        /* mu: cached shards + foreign shards + builds' reservations */

    uint64_t clock;             /* mu: LRU clock, bumped on every read */
    unsigned active_builds;     /* mu: builds running (MATERIALIZING shards) */
    unsigned blocked_builds;    /* mu: of those, waiting for room (reserve_locked, budget.c) */
    uint64_t builds_done;       /* mu: builds ended, either way (a retry waits for one more) */
    atomic_int stopping;        /* atomic: set once by close (under mu, so waiters see it) */
    pthread_t *threads;         /* open (tokfs_cache_start); joined by close */
    unsigned nthreads;          /* open (tokfs_cache_start) */

    /* Counters for status.json. */
    uint64_t hits, misses, evictions, fetched_bytes, skipped_records, builds, failures; /* mu */
    uint64_t early_reads;       /* mu: reads answered from a build in progress */
    uint64_t shared_hits;       /* mu: shards copied from the shared tier (shared=DEST) */
    uint64_t shared_bytes;      /* mu: bytes copied from it */
    uint64_t shared_published;  /* mu: shards this mount made and published (shared_write=1) */

    /* The shared tier (shared=DEST, docs/shared.md): the set attached at open, and the record of
     * every shard published there when the mount opened (present[i]). All open: read-only
     * after tokfs_cache_open; the set's calls take each worker's own fetcher. */
    tokfs_shard_set *shared;
    tokfs_set_record *shared_recs;
    uint8_t *shared_present;
    char last_failure[TOKFS_ERR_MSG_MAX]; /* mu: the last failed build's log line ("" none) */
};

/* One build in progress: owned by the worker thread running it ("worker"), except the fields
 * the reserve callback changes, which are under mu. */
typedef struct build_job {
    tokfs_cache *c;             /* worker: set when the build begins */
    uint32_t shard;             /* worker: set when the build begins */
    int64_t known_tokens;       /* worker: the shard's catalog count when the build began (-1) */
    int cataloged;              /* worker: the catalog held that count (else it came from the
                                 * shared tier's manifest, or is unknown) */
    uint64_t known_checksum;    /* worker */
    uint64_t index_bytes;       /* worker: the made file's .idx bytes (megatron), for finish_ok */
    uint64_t reserved;          /* mu: budget bytes held for this build's temp file */
    int over_cap;               /* mu: ENOSPC because the shard alone exceeds cache_size (not
                                 * because the disk is full) */
    tokfs_err err;              /* mu while building (the reserve and progress callbacks may
                                 * fill it), then worker: the failure's one message, naming
                                 * the shard */
    tokfs_backing *backing;     /* worker: the temp file, one reference, from its creation */
    uint64_t *sums;             /* worker: a copy of the shard's chunk_sums when it began (NULL:
                                 * none; nothing is served early) */
    uint32_t nsums;             /* worker */
    uint64_t expect_bytes;      /* worker: with sums: the cache file's size at the first make */
    uint64_t checked;           /* worker: bytes of the temp file verified against sums */
    int published;              /* worker: publish_written answered its readers (the shard's
                                 * read clock was taken then, not at finish_ok) */
    uint64_t *new_sums;         /* worker: sums computed at the end (first make, or a shard made
                                 * before chunk sums), recorded, then moved to the shard */
    uint32_t new_nsums;         /* worker */
} build_job;

/* ---- the lock --------------------------------------------------------------------------- */

/* One byte per thread: its address names the thread (never 0, unique among live threads). */
extern _Thread_local char cache_thread_tag;
static inline uintptr_t cache_self(void) { return (uintptr_t)&cache_thread_tag; }

/* Print what went wrong and abort (a lock rule was broken: a bug, never a user error). */
_Noreturn void cache_lock_violation(const char *func, const char *file, int line,
                                    const char *what);

/* Abort unless the calling thread holds c->mu. Only the owner ever stores its own tag, and it
 * clears it before unlocking, so a relaxed load cannot show a thread its own tag falsely. */
#define TOKFS_CACHE_ASSERT_LOCKED(c)                                                        \
    do {                                                                                    \
        if (atomic_load_explicit(&(c)->mu_owner, memory_order_relaxed) != cache_self())     \
            cache_lock_violation(__func__, __FILE__, __LINE__, "c->mu is not held");         \
    } while (0)

/* Abort if the calling thread holds c->mu (before calling out, or taking it again). */
#define TOKFS_CACHE_ASSERT_UNLOCKED(c)                                                      \
    do {                                                                                    \
        if (atomic_load_explicit(&(c)->mu_owner, memory_order_relaxed) == cache_self())     \
            cache_lock_violation(__func__, __FILE__, __LINE__,                               \
                                 "c->mu is held by this thread");                            \
    } while (0)

void cache_run_deferred(cache_deferred *list);

static inline void cache_lock(tokfs_cache *c)
{
    TOKFS_CACHE_ASSERT_UNLOCKED(c); /* would deadlock: say so instead */
    pthread_mutex_lock(&c->mu);
    atomic_store_explicit(&c->mu_owner, cache_self(), memory_order_relaxed);
}

static inline void cache_unlock(tokfs_cache *c)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    cache_deferred *todo = c->deferred;
    c->deferred = NULL;
    c->deferred_tail = &c->deferred;
    atomic_store_explicit(&c->mu_owner, 0, memory_order_relaxed);
    pthread_mutex_unlock(&c->mu);
    if (todo)
        cache_run_deferred(todo);
}

/* pthread_cond_wait on cv with c->mu, keeping the owner tag true across it. May return without
 * a signal (callers loop on their condition, as pthread_cond_wait allows): with deferred work
 * pending it lets go of the mutex, does the work and takes it again instead of sleeping. */
static inline void cache_wait(tokfs_cache *c, pthread_cond_t *cv)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    if (c->deferred) {
        cache_unlock(c);
        cache_lock(c);
        return;
    }
    atomic_store_explicit(&c->mu_owner, 0, memory_order_relaxed);
    pthread_cond_wait(cv, &c->mu);
    atomic_store_explicit(&c->mu_owner, cache_self(), memory_order_relaxed);
}

/* ---- layout.c --------------------------------------------------------------------------- */

/* Open with a replaced build function (tests); tokfs_cache_open is this with hooks NULL. */
int tokfs_cache_open_hooks(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                           const tokfs_cache_hooks *hooks, tokfs_cache **out, tokfs_err *err);
/* CACHE_DIR/plan-<id>/shards/NNNNNN.bin */
void cache_shard_path(const tokfs_cache *c, uint32_t index, char *out, size_t size);

/* Exact bytes of shard s's cache file (the layout's data file, then the .idx for megatron);
 * only when s->tokens >= 0. mu held (or at open). */
static inline uint64_t cache_shard_bytes(const tokfs_cache *c, const shard *s)
{
    return tokfs_layout_data_bytes(&c->layout, (uint64_t)s->tokens) + s->index_bytes;
}

/* ---- catalog.c -------------------------------------------------------------------------- */

/* Open (or create) the catalog and set the token count and checksum of every shard it vouches
 * for. At open, before any thread. */
int cache_catalog_open(tokfs_cache *c, tokfs_err *err);
/* Record shard `index` (pwrite + fdatasync; never under mu). 0 or a negative errno. */
int cache_catalog_store(tokfs_cache *c, uint32_t index, uint64_t tokens, uint64_t checksum,
                        uint64_t index_bytes);

/* ---- chunks.c --------------------------------------------------------------------------- */

/* The chunk size of chunks.bin: 256 KiB, the writer's block. A trainer's first batch after an
 * eviction is one READ of at most the kernel's first read-ahead window (128 KiB for a 24 KiB
 * read): it waits for one small chunk, not a MiB of output (docs/design.md). */
#define TOKFS_CACHE_CHUNK_BYTES (256u << 10)

static inline uint32_t cache_chunk_count(const tokfs_cache *c, uint64_t file_bytes)
{
    return (uint32_t)((file_bytes + c->chunk_bytes - 1) / c->chunk_bytes);
}
/* Open chunks.bin if there is one and set the chunk sums of every shard the catalog vouches
 * for whose record matches it (size and checksum); compact it when mostly dead. At open, after
 * the catalog, before the budget is measured (its blocks are metadata). */
int cache_chunks_open(tokfs_cache *c, tokfs_err *err);
/* Append shard `index`'s record (creating the file first; pwrite + fdatasync; never under mu).
 * Its new blocks are added to fixed_bytes first, only if they fit under the cap (a record never
 * evicts a shard). 0, -ENOSPC when they do not fit (the shard's re-makes are then served
 * whole), or a negative errno. */
int cache_chunks_store(tokfs_cache *c, uint32_t index, uint64_t file_bytes, uint64_t checksum,
                       const uint64_t *sums, uint32_t n);
/* The sum of chunk k of fd's first file_bytes bytes (pread; never under mu). 0 or -errno. */
int cache_chunk_sum(const tokfs_cache *c, int fd, uint32_t k, uint64_t file_bytes,
                    uint64_t *sum);

/* ---- budget.c --------------------------------------------------------------------------- */

static inline uint64_t cache_round_up(uint64_t v, uint64_t unit)
{
    return (v + unit - 1) / unit * unit;
}
static inline uint64_t cache_allocated_bytes(const struct stat *st)
{
    return (uint64_t)st->st_blocks * 512;
}
/* A shard's estimated size in bytes: exact when its token count is known, else from its source
 * bytes and the tokenizer's bytes-per-token. mu held. */
uint64_t cache_estimated_bytes(const tokfs_cache *c, uint32_t index);

/* Measure the budget at open (block size, fixed bytes, data bytes of the cached files), refuse a
 * cap below the metadata, and evict down to the cap (a remount with a smaller cache_size). */
int cache_budget_open(tokfs_cache *c, tokfs_err *err);

/* A new backing with one reference, or NULL (out of memory). */
tokfs_backing *cache_backing_new(int fd);
/* Drop one reference: the descriptor when that was the last one (the struct is freed and the
 * caller must close it, after letting go of mu), else -1. */
int cache_backing_unref(tokfs_backing *b);

/* Queue a descriptor to close (fd >= 0) and/or a log line (fmt != NULL) for after unlock. */
void cache_defer(tokfs_cache *c, int fd, enum tokfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Evict the least recently read cached shard other than `except` (another plan's files first).
 * Returns 1 when something was freed, 0 when nothing is left. mu held. */
int cache_evict_one(tokfs_cache *c, uint32_t except);
/* For a prefetch build of shard `index`: evict, least recently read first, a shard read before
 * the read that queued it (shard.prefetch_floor), never that shard or the prefetch window after
 * it, never one a reader holds (a backing reference besides the shard's own); other plans'
 * files first. 1 when something was freed, 0 when nothing may go. mu held. */
int cache_evict_for_prefetch(tokfs_cache *c, uint32_t index);
/* Allocated bytes cache_evict_for_prefetch could free for shard `index`. mu held. */
uint64_t cache_prefetch_evictable(tokfs_cache *c, uint32_t index);

/* The build's tokfs_build_output.reserve: grow the job's reservation to cover new_size bytes. */
int cache_reserve_for_build(void *job, uint64_t new_size);
/* After fsync: make the reservation exactly the file's allocated bytes (evicting to grow it). */
int cache_settle_reservation(build_job *job, uint64_t actual);
/* Give back the job's whole reservation (a failed build). mu held. */
void cache_release_reservation_locked(build_job *job);
/* The disk holding cache_dir is full below the cap while shard `index` was built: evict until
 * free_bytes (measured after the failure, without mu) should do, if evicting can give enough:
 * returns 1 (build again). Else fills err naming the free space, the shard's size and
 * cache_size, and returns 0. written: bytes it had written when the disk refused more. mu held. */
int cache_disk_full_make_room(tokfs_cache *c, uint32_t index, uint64_t written,
                              uint64_t free_bytes, tokfs_err *err);
/* Free bytes on the filesystem holding cache_dir (0 when statvfs fails). */
uint64_t cache_disk_free_bytes(const tokfs_cache *c);

/* ---- workers.c -------------------------------------------------------------------------- */

/* A fetcher with the config's retries, timeouts and bearer token; NULL when out of memory. */
tokfs_fetcher *cache_new_fetcher(const tokfs_config *cfg);
/* The worker threads' body (arg: the cache). */
void *cache_worker_main(void *arg);
/* Take shard `index`'s waiters, each with a backing reference when it wants one and the shard is
 * cached. mu held. Answer them with cache_answer_waiters after unlocking. */
waiter *cache_take_waiters(tokfs_cache *c, uint32_t index);
void cache_answer_waiters(waiter *list, int status, uint64_t size);

#endif
