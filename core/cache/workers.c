/* Making shards on demand: the two queues (a reader's shard before any prefetch), single
 * flight (one build per shard; every request for it is a waiter answered by that build),
 * prefetch, the worker threads, and build_one (unnamed temp file → build → fsync → compare with
 * the catalog → record → give it its name in shards/), with the build's progress callback that
 * checks a re-made shard chunk by chunk and answers the reads whose bytes are ready (EARLY
 * READS in cache_internal.h). Owns tokfs_cache_get, _read, _release and _known_size, the entry
 * points the FUSE threads call. */
#include "cache/cache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source/fetch_config.h"

/* ---- queues ----------------------------------------------------------------------------- */

static int queue_push(id_queue *q, uint32_t id)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        uint32_t *items = malloc(cap * sizeof *items);
        if (!items)
            return -ENOMEM;
        for (size_t k = 0; k < q->count; k++)
            items[k] = q->items[(q->head + k) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = id;
    q->count++;
    return 0;
}

/* 1 with *id the oldest entry, 0 when empty. */
static int queue_pop(id_queue *q, uint32_t *id)
{
    if (!q->count)
        return 0;
    *id = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return 1;
}

/* Put shard i on demand_q (a reader waits for it) and wake a worker. mu held. */
static int queue_demand(tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    int rc = queue_push(&c->demand_q, i);
    if (rc == 0) {
        c->shards[i].queued = QUEUED_DEMAND;
        pthread_cond_signal(&c->work_cv);
    }
    return rc;
}

/* Queue the next `prefetch` shards of the same split behind shard i, each allowed to evict
 * only shards read before this read of i (budget.c, cache_evict_for_prefetch). mu held. */
static void queue_prefetch(tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t split_end = i < c->plan.ntrain ? c->exposed_train : c->plan.npieces;
    for (uint32_t k = 1; k <= c->cfg->prefetch && i + k < split_end; k++) {
        shard *s = &c->shards[i + k];
        if (s->state == SHARD_REMOTE && s->queued == QUEUED_NONE && !s->last_error &&
            queue_push(&c->prefetch_q, i + k) == 0) {
            s->queued = QUEUED_PREFETCH;
            s->prefetch_floor = c->shards[i].last_read;
            s->prefetch_from = i;
            pthread_cond_signal(&c->work_cv);
        }
    }
}

/* The next shard to build: a reader's first; then a prefetch, only when its estimated size fits
 * in free budget plus what it may evict (shards read before the read that queued it). 1 with
 * *out, or 0 when there is nothing to do. mu held. */
static int pick_job(tokfs_cache *c, uint32_t *out)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t i;
    while (queue_pop(&c->demand_q, &i))
        if (c->shards[i].queued == QUEUED_DEMAND) {
            *out = i;
            return 1;
        }
    while (queue_pop(&c->prefetch_q, &i)) {
        shard *s = &c->shards[i];
        if (s->queued != QUEUED_PREFETCH)
            continue;
        s->queued = QUEUED_NONE;
        if (s->state != SHARD_REMOTE)
            continue;
        uint64_t want = cache_round_up(cache_estimated_bytes(c, i), c->block) + 2 * c->block;
        if (c->fixed_bytes + c->data_bytes + want > c->cap + cache_prefetch_evictable(c, i))
            continue;
        *out = i;
        return 1;
    }
    return 0;
}

/* ---- waiters ---------------------------------------------------------------------------- */

waiter *cache_take_waiters(tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[i];
    waiter *list = s->waiters;
    s->waiters = NULL;
    for (waiter *w = list; w; w = w->next) {
        w->backing = NULL;
        if (w->want_backing && s->state == SHARD_CACHED) {
            atomic_fetch_add_explicit(&s->backing->refs, 1, memory_order_relaxed);
            w->backing = s->backing;
        }
    }
    return list;
}

/* Take shard i's read waiters whose bytes are below `verified` in its build's file, each with a
 * reference on it (EARLY READS), and, once its size is known (WRITTEN, NOT YET SYNCED: a first
 * make's waiters), its size queries. Counted as early reads when count_early. mu held. */
static waiter *take_ready_waiters(tokfs_cache *c, uint32_t i, uint64_t verified, int count_early)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[i];
    waiter *ready = NULL, **link = &s->waiters;
    while (*link) {
        waiter *w = *link;
        int ready_size = !w->want_backing && s->tokens >= 0;
        int ready_read = w->want_backing && w->need_end <= verified && s->building;
        if (!ready_size && !ready_read) {
            link = &w->next;
            continue;
        }
        *link = w->next;
        w->backing = NULL;
        if (ready_read) {
            atomic_fetch_add_explicit(&s->building->refs, 1, memory_order_relaxed);
            w->backing = s->building;
            if (count_early)
                c->early_reads++;
        }
        w->next = ready;
        ready = w;
    }
    return ready;
}

void cache_answer_waiters(waiter *list, int status, uint64_t size)
{
    while (list) {
        waiter *next = list->next;
        list->fn(list->arg, status, status == 0 ? size : 0, list->backing);
        free(list);
        list = next;
    }
}

/* ---- building one shard ----------------------------------------------------------------- */

tokfs_fetcher *cache_new_fetcher(const tokfs_config *cfg)
{
    return tokfs_fetcher_for_config(cfg);
}

/* A worker thread: its cache and its own HTTP client (curl handles are per thread). */
typedef struct worker {
    tokfs_cache *c;
    tokfs_fetcher *fetcher;
    tokfs_fetcher *shared_fetcher; /* the shared tier's (an S3 DEST), NULL for a directory */
    int from_shared;               /* the last build was a copy from the shared tier */
} worker;

/* Copy shard index out of the shared tier into out, when DEST had it at mount. 0 (copied, stats
 * filled as a build's would be), or a negative errno: not there, or a copy that failed its
 * checksum or size (logged) — the file is emptied and the caller builds from the sources. */
static int copy_from_shared(worker *w, uint32_t index, const tokfs_build_output *out,
                            tokfs_build_stats *stats)
{
    tokfs_cache *c = w->c;
    if (!c->shared || !c->shared_present[index])
        return -ENOENT;
    const tokfs_set_record *rec = &c->shared_recs[index];
    tokfs_err err = {{0}};
    int rc = tokfs_shard_set_copy(c->shared, w->shared_fetcher, index, rec, out, &err);
    if (rc == 0 && out->progress)
        rc = out->progress(out->progress_ctx, rec->bytes);
    if (rc == 0) {
        memset(stats, 0, sizeof *stats);
        stats->tokens = rec->tokens;
        stats->checksum = rec->checksum;
        return 0;
    }
    if (rc == -ECANCELED || rc == -ENOSPC || rc == -EDQUOT)
        return rc; /* the cache's own reasons stand */
    char name[64];
    tokfs_cache_shard_name(c, index, name, sizeof name);
    tokfs_log(TOKFS_LOG_WARN, "%s: not taken from the shared tier (%s): made from the sources",
              name, err.msg);
    if (ftruncate(out->fd, 0) != 0 || lseek(out->fd, 0, SEEK_SET) != 0)
        return -errno;
    return -EAGAIN;
}

/* The default tokfs_cache_build_fn: from the shared tier when it has the shard, else the real
 * builder, through this worker's fetcher. */
static int build_with_fetcher(void *ctx, uint32_t index, const tokfs_build_output *out,
                              tokfs_build_stats *stats, tokfs_err *err)
{
    worker *w = ctx;
    w->from_shared = 0;
    int rc = copy_from_shared(w, index, out, stats);
    if (rc == 0) {
        w->from_shared = 1;
        return 0;
    }
    if (rc == -ECANCELED || rc == -ENOSPC || rc == -EDQUOT)
        return tokfs_err_set(err, -rc, "copying from the shared tier: %s", strerror(-rc));
    if (!w->fetcher)
        return tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    return tokfs_build_shard(&w->c->plan, index, w->c->tok, w->c->cfg, w->fetcher, out, stats,
                             err);
}

/* shared_write=1: publish shard i, just made here from the sources, to the shared tier. Called
 * without mu; takes its own reference on the shard's file. Failures are logged only: the shard
 * is cached and served whatever the shared tier says. */
static void publish_to_shared(worker *w, uint32_t i)
{
    tokfs_cache *c = w->c;
    cache_lock(c);
    shard *s = &c->shards[i];
    tokfs_backing *b = s->state == SHARD_CACHED ? s->backing : NULL;
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    tokfs_set_record rec = {.tokens = (uint64_t)s->tokens, .checksum = s->checksum,
                            .bytes = b ? cache_shard_bytes(c, s) : 0,
                            .index_bytes = s->index_bytes};
    cache_unlock(c);
    if (!b)
        return; /* evicted already */
    tokfs_err err = {{0}};
    int rc = tokfs_shard_set_publish_fd(c->shared, w->shared_fetcher, i, tokfs_backing_fd(b),
                                        &rec, &err);
    tokfs_cache_release(c, b);
    char name[64];
    tokfs_cache_shard_name(c, i, name, sizeof name);
    if (rc) {
        tokfs_log(TOKFS_LOG_WARN, "%s: not published to the shared tier: %s", name, err.msg);
        return;
    }
    cache_lock(c);
    c->shared_published++;
    cache_unlock(c);
}

/* Give the unnamed temp file fd its name in shards/ (a stale file of that name, which nothing
 * serves, is replaced). 0 or a negative errno. */
static int link_into_place(tokfs_cache *c, int fd, uint32_t i)
{
    char name[32], proc[64];
    snprintf(name, sizeof name, "%06u.bin", i);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (linkat(AT_FDCWD, proc, c->shards_dir_fd, name, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno == ENOENT && linkat(fd, "", c->shards_dir_fd, name, AT_EMPTY_PATH) == 0)
            return 0; /* no /proc: needs CAP_DAC_READ_SEARCH */
        if (errno != EEXIST || unlinkat(c->shards_dir_fd, name, 0) != 0)
            return -errno;
    }
    return -EEXIST;
}

/* The temp file a build writes into. It has no name (O_TMPFILE) until it is complete: `du` of
 * the cache dir never sees it twice (in tmp/, then renamed into shards/ while du walks the
 * tree) and a kill -9 leaves nothing behind. Without O_TMPFILE: a named temp file in tmp/,
 * renamed at the end (*anonymous = 0). path: its name for messages. fd or a negative errno. */
static int open_temp(tokfs_cache *c, uint32_t i, char *path, size_t size, int *anonymous)
{
    *anonymous = 1;
    snprintf(path, size, "%s/tmp", c->dir);
    int fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        snprintf(path, size, "%s/tmp/(unnamed %06u)", c->dir, i);
        return fd;
    }
    *anonymous = 0;
    snprintf(path, size, "%s/tmp/%06u.XXXXXX", c->dir, i);
    fd = mkostemp(path, O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

/* "<name> re-made differs from the first time <what>: a source changed upstream (<url>)...",
 * the one message of a re-make that does not match the first (job->err). */
static int set_differs(build_job *job, const char *what)
{
    tokfs_cache *c = job->c;
    const tokfs_piece *piece = &c->plan.pieces[job->shard];
    char name[64], first_url[512];
    tokfs_cache_shard_name(c, job->shard, name, sizeof name);
    tokfs_url_redact(c->plan.sources[piece->first_source].url, first_url, sizeof first_url);
    return tokfs_err_set(&job->err, EIO,
                         "%s re-made differs from the first time %s: a source changed upstream "
                         "(%s%s); not served",
                         name, what, first_url,
                         piece->last_source > piece->first_source ? " ..." : "");
}

/* The build's tokfs_build_output.progress: bytes [0, done) of the temp file are final. With
 * chunk sums from the first make, check every chunk now complete against its sum (a read of
 * the page cache just written) and answer the reads whose bytes are all checked, from this
 * (the build's) thread, without mu. A chunk that differs stops the build: -EIO, job->err says
 * which byte range, and nothing at or after it was handed to any reader. */
static int build_progress(void *ctx, uint64_t done)
{
    build_job *job = ctx;
    tokfs_cache *c = job->c;
    if (!job->sums)
        return 0;
    uint64_t before = job->checked;
    while (job->checked < job->expect_bytes) {
        uint32_t k = (uint32_t)(job->checked / c->chunk_bytes);
        uint64_t end = (uint64_t)(k + 1) * c->chunk_bytes;
        if (end > job->expect_bytes)
            end = job->expect_bytes;
        if (done < end)
            break;
        uint64_t sum;
        int rc = cache_chunk_sum(c, tokfs_backing_fd(job->backing), k, job->expect_bytes, &sum);
        if (rc)
            return rc;
        if (sum != job->sums[k]) {
            char what[128];
            snprintf(what, sizeof what, "in bytes %" PRIu64 "-%" PRIu64 " (chunk %u of %u)",
                     job->checked, end, k + 1, job->nsums);
            cache_lock(c); /* job->err is under mu while building */
            set_differs(job, what);
            cache_unlock(c);
            return -EIO;
        }
        job->checked = end;
    }
    if (job->checked == before)
        return 0;
    cache_lock(c);
    c->shards[job->shard].verified = job->checked;
    waiter *ready = take_ready_waiters(c, job->shard, job->checked, 1);
    cache_unlock(c);
    cache_answer_waiters(ready, 0, job->expect_bytes);
    return 0;
}

/* Sums of every chunk of the made file (file_bytes), recorded in chunks.bin, kept in
 * job->new_sums for finish_ok. A failure is not the build's: the shard is right, only its
 * re-makes are served whole (logged). Without mu. */
static void record_chunk_sums(build_job *job, int fd, uint64_t file_bytes, uint64_t checksum,
                              const char *name)
{
    tokfs_cache *c = job->c;
    uint32_t n = cache_chunk_count(c, file_bytes);
    uint64_t *sums = malloc((n ? n : 1) * sizeof *sums);
    int rc = sums ? 0 : -ENOMEM;
    for (uint32_t k = 0; rc == 0 && k < n; k++)
        rc = cache_chunk_sum(c, fd, k, file_bytes, &sums[k]);
    if (rc == 0)
        rc = cache_chunks_store(c, job->shard, file_bytes, checksum, sums, n);
    if (rc == -ENOSPC) /* a cache full to its cap: common, and harmless */
        tokfs_log(TOKFS_LOG_DEBUG, "%s: no room under cache_size to record its chunk sums: "
                  "after a remount its re-makes will be served whole", name);
    else if (rc)
        tokfs_log(TOKFS_LOG_WARN, "%s: cannot record chunk sums (%s): its re-makes will be "
                  "served whole", name, strerror(-rc));
    /* Sums not written to disk are still right for this mount (the file's own bytes). */
    if (rc == 0 || rc == -ENOSPC) {
        job->new_sums = sums;
        job->new_nsums = n;
    } else {
        free(sums);
    }
}

/* The build's file is written (file_bytes) and, for a re-make, equal to the catalog's record:
 * serve it before it is synced and named (WRITTEN, NOT YET SYNCED in cache_internal.h). A first
 * make's count, checksum and index size become the shard's. Without mu. */
static void publish_written(build_job *job, const tokfs_build_stats *stats, uint64_t file_bytes)
{
    tokfs_cache *c = job->c;
    cache_lock(c);
    shard *s = &c->shards[job->shard];
    if (s->tokens < 0) {
        s->tokens = (int64_t)stats->tokens;
        s->checksum = stats->checksum;
        s->index_bytes = job->index_bytes;
    }
    s->building = job->backing;
    s->verified = file_bytes;
    /* Its place in the LRU is taken now, as finish_ok would: a read answered later (another
     * shard's hit while this one syncs) must stay more recent than this make. */
    s->last_read = ++c->clock;
    job->published = 1;
    waiter *ready = take_ready_waiters(c, job->shard, file_bytes, 0);
    uint64_t size = cache_shard_bytes(c, s);
    cache_unlock(c);
    cache_answer_waiters(ready, 0, size);
}

/* Make shard job->shard, without c->mu: temp file, build, fsync, settle the reservation,
 * compare with the catalog (or record it there, and its chunk sums), name it in shards/.
 * job->backing is the temp file from the moment it exists (early readers may hold it); it is
 * left in the job either way: on success it becomes the cached shard's, on failure the caller
 * drops it after clearing shard.building under mu. Returns 0 with *disk_out, or a negative
 * errno with job->err naming the shard. */
static int build_one(build_job *job, tokfs_cache_build_fn build, void *build_ctx,
                     uint64_t *disk_out, tokfs_build_stats *stats)
{
    tokfs_cache *c = job->c;
    uint32_t i = job->shard;
    char name[64], tmp_path[PATH_MAX + 64], final_path[PATH_MAX + 32];
    tokfs_cache_shard_name(c, i, name, sizeof name);
    cache_shard_path(c, i, final_path, sizeof final_path);

    int anonymous;
    int fd = open_temp(c, i, tmp_path, sizeof tmp_path, &anonymous);
    if (fd < 0)
        return tokfs_err_set(&job->err, fd == -ENOSPC || fd == -EDQUOT ? -fd : EIO,
                             "%s: cannot create temp file %s: %s", name, tmp_path,
                             strerror(-fd));
    fchmod(fd, 0600);
    if (!(job->backing = cache_backing_new(fd))) {
        if (!anonymous)
            unlink(tmp_path);
        close(fd);
        return tokfs_err_set(&job->err, ENOMEM, "%s: out of memory", name);
    }
    if (job->sums) {
        /* Reads of this shard may be answered from this file as its chunks check out. */
        cache_lock(c);
        c->shards[i].building = job->backing;
        c->shards[i].verified = 0;
        cache_unlock(c);
    }
    tokfs_build_output out = {.fd = fd, .reserve = cache_reserve_for_build, .reserve_ctx = job,
                              .cancel = &c->stopping,
                              .has_expected_ids = job->known_tokens >= 0,
                              .expected_ids = job->known_tokens >= 0
                                                  ? (uint64_t)job->known_tokens : 0,
                              .progress = build_progress, .progress_ctx = job};
    tokfs_err err = {{0}}; /* what went wrong, without the shard's name (added at the end) */
    int rc = build(build_ctx, i, &out, stats, &err);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = tokfs_err_set(&err, errno, "cannot stat %s: %s", tmp_path, strerror(errno));
    /* What follows the data file is the .idx (megatron; nothing for the other layouts). */
    uint64_t data_bytes = rc == 0 ? tokfs_layout_data_bytes(&c->layout, stats->tokens) : 0;
    if (rc == 0 && (uint64_t)st.st_size < data_bytes)
        rc = tokfs_err_set(&err, EIO, "%s holds %lld bytes, fewer than %" PRIu64 " ids make",
                           tmp_path, (long long)st.st_size, stats->tokens);
    if (rc == 0)
        job->index_bytes = (uint64_t)st.st_size - data_bytes;
    if (rc == 0 && job->known_tokens >= 0 &&
        ((uint64_t)job->known_tokens != stats->tokens || job->known_checksum != stats->checksum)) {
        char what[160];
        snprintf(what, sizeof what, "(%" PRIu64 " tokens, checksum %016" PRIx64 "; recorded %"
                 PRId64 ", %016" PRIx64 ")", stats->tokens, stats->checksum, job->known_tokens,
                 job->known_checksum);
        rc = set_differs(job, what);
    }
    /* Every byte is written and (a re-make) equal to the record: readers need not wait for the
     * sync and the naming. (With chunk sums the progress callback has served them already.) */
    if (rc == 0 && !job->sums)
        publish_written(job, stats, (uint64_t)st.st_size);
    if (rc == 0 && c->hooks.before_sync)
        rc = c->hooks.before_sync(c->hooks.ctx, i);
    if (rc == 0 && fsync(fd) != 0)
        rc = tokfs_err_set(&err, errno, "cannot sync %s: %s", tmp_path, strerror(errno));
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = tokfs_err_set(&err, errno, "cannot stat %s: %s", tmp_path, strerror(errno));
    if (rc == 0) {
        *disk_out = cache_allocated_bytes(&st);
        rc = cache_settle_reservation(job, *disk_out);
    }
    /* First made, or made before chunk sums existed: record them (before the catalog record,
     * so a crash in between leaves sums the catalog does not vouch for: ignored). */
    if (rc == 0 && !job->sums)
        record_chunk_sums(job, fd, (uint64_t)st.st_size, stats->checksum, name);
    if (rc == 0 && !job->cataloged) {
        /* first made here (its count may have come from the shared tier's manifest) */
        int crc = cache_catalog_store(c, i, stats->tokens, stats->checksum, job->index_bytes);
        if (crc)
            rc = tokfs_err_set(&err, -crc, "cannot record %s in the catalog: %s", name,
                               strerror(-crc));
    }
    if (rc == 0) {
        int lrc = anonymous ? link_into_place(c, fd, i)
                            : rename(tmp_path, final_path) == 0 ? 0 : -errno;
        if (lrc == 0 && fsync(c->shards_dir_fd) != 0)
            lrc = -errno;
        if (lrc)
            rc = tokfs_err_set(&err, -lrc, "cannot move %s into place: %s", tmp_path,
                               strerror(-lrc));
    }
    if (rc) {
        if (!anonymous)
            unlink(tmp_path);
        /* The reserve or progress callback or the checks above may have said it all already,
         * naming the shard; else the builder's or the file's message, prefixed with the
         * shard's name. */
        if (!job->err.msg[0])
            tokfs_err_set(&job->err, -rc, "%s: %s", name, err.msg[0] ? err.msg : strerror(-rc));
        return rc;
    }
    return 0;
}

/* ---- after a build (mu held; each may let go of it to answer waiters) ------------------- */

/* Shard i is made: cache it (the build's reference on its file becomes the shard's own, and its
 * new chunk sums the shard's) and answer its waiters. */
static void finish_ok(tokfs_cache *c, build_job *job, uint64_t disk,
                      const tokfs_build_stats *stats)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t i = job->shard;
    shard *s = &c->shards[i];
    c->builds++;
    s->state = SHARD_CACHED;
    s->ever_cached = 1;
    s->backing = job->backing;
    job->backing = NULL;
    if (job->new_sums) {
        free(s->chunk_sums);
        s->chunk_sums = job->new_sums;
        s->nchunks = job->new_nsums;
        job->new_sums = NULL;
    }
    s->disk_bytes = disk;
    s->cataloged = 1; /* a made shard always has its catalog record (build_one) */
    s->tokens = (int64_t)stats->tokens;
    s->checksum = stats->checksum;
    s->index_bytes = job->index_bytes;
    if (!job->published)
        s->last_read = ++c->clock;
    s->skipped_records = stats->skipped_records;
    s->last_error = 0;
    s->demand = 0;
    c->skipped_records += stats->skipped_records;
    /* The reservation becomes the cached file's share of data_bytes. */
    job->reserved = 0;
    pthread_cond_broadcast(&c->space_cv);
    waiter *list = cache_take_waiters(c, i);
    uint64_t size = cache_shard_bytes(c, s);
    cache_unlock(c);
    if (stats->skipped_records) {
        char name[64];
        tokfs_cache_shard_name(c, i, name, sizeof name);
        tokfs_log(TOKFS_LOG_WARN, "%s: skipped %" PRIu64 " record(s); first: %s", name,
                  stats->skipped_records, stats->first_skip);
    }
    cache_answer_waiters(list, 0, size);
    cache_lock(c);
}

/* Put shard i back on demand_q for the readers still waiting, unless a build of it is already
 * queued or running (while this worker waited, a new read or a prefetch may have queued it).
 * 0 or -ENOMEM. mu held. */
static int requeue_for_waiters(tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[i];
    if (s->state != SHARD_REMOTE || s->queued == QUEUED_DEMAND)
        return 0;
    return queue_demand(c, i);
}

/* Shard i's build failed with rc. Room problems are retried while a reader waits: a full disk
 * that eviction can fix, or -EAGAIN (a build that stepped back); anything else fails the
 * waiters. free_bytes: the disk's free space, measured after the failure without mu.
 * seen_done: builds_done counting this one. */
static void finish_failed(tokfs_cache *c, build_job *job, int rc, uint64_t free_bytes,
                          uint64_t seen_done)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t i = job->shard;
    shard *s = &c->shards[i];
    char name[64];
    tokfs_cache_shard_name(c, i, name, sizeof name);
    uint64_t written = job->reserved; /* about as much as was written before it failed */
    cache_release_reservation_locked(job);
    s->state = SHARD_REMOTE;
    int stopping = atomic_load(&c->stopping);
    if ((rc == -ENOSPC || rc == -EDQUOT) && !job->over_cap && !stopping) {
        /* The disk filled up below cache_size (other files on it, or a disk smaller than the
         * cap): make room by evicting, as if the cap were lower, when that can help. */
        if (!s->waiters)
            return; /* a prefetch: drop it quietly */
        tokfs_err_clear(&job->err);
        if (!cache_disk_full_make_room(c, i, written, free_bytes, &job->err))
            rc = -ENOSPC;
        else if (requeue_for_waiters(c, i) == 0)
            return;
        else
            rc = tokfs_err_set(&job->err, ENOMEM, "%s: out of memory", name);
    } else if ((rc == -EAGAIN || rc == -ECANCELED) && !stopping) {
        if (!s->waiters)
            return;
        /* Someone needs it: retry once another build has finished and freed room. */
        while (!atomic_load(&c->stopping) && c->active_builds > 0 && c->builds_done == seen_done)
            cache_wait(c, &c->space_cv);
        if (requeue_for_waiters(c, i) == 0)
            return;
        rc = tokfs_err_set(&job->err, ENOMEM, "%s: out of memory", name);
    }
    c->failures++;
    s->last_error = rc == -ENOSPC ? -ENOSPC : -EIO;
    s->demand = 0;
    if (!stopping)
        snprintf(c->last_failure, sizeof c->last_failure, "%s", job->err.msg);
    waiter *list = cache_take_waiters(c, i);
    int status = s->last_error;
    cache_unlock(c);
    if (!stopping)
        tokfs_log(TOKFS_LOG_ERROR, "%s", job->err.msg);
    cache_answer_waiters(list, status, 0);
    cache_lock(c);
}

void *cache_worker_main(void *arg)
{
    tokfs_cache *c = arg;
    worker self = {.c = c, .fetcher = c->hooks.build ? NULL : cache_new_fetcher(c->cfg),
                   .shared_fetcher = c->shared ? tokfs_shard_set_fetcher(c->shared) : NULL};
    tokfs_cache_build_fn build = c->hooks.build ? c->hooks.build : build_with_fetcher;
    void *build_ctx = c->hooks.build ? c->hooks.ctx : &self;
    cache_lock(c);
    while (!atomic_load(&c->stopping)) {
        uint32_t i;
        if (!pick_job(c, &i)) {
            cache_wait(c, &c->work_cv);
            continue;
        }
        shard *s = &c->shards[i];
        s->queued = QUEUED_NONE;
        s->state = SHARD_MATERIALIZING;
        c->active_builds++;
        build_job job = {.c = c, .shard = i, .known_tokens = s->tokens,
                         .known_checksum = s->checksum, .cataloged = s->cataloged};
        /* Early reads need the first make's chunk sums and its size (the catalog's). */
        if (s->chunk_sums && s->tokens >= 0 &&
            (job.sums = malloc(s->nchunks * sizeof *job.sums)) != NULL) {
            memcpy(job.sums, s->chunk_sums, s->nchunks * sizeof *job.sums);
            job.nsums = s->nchunks;
            job.expect_bytes = cache_shard_bytes(c, s);
        }
        cache_unlock(c);

        uint64_t disk = 0;
        tokfs_build_stats stats = {0};
        int rc = build_one(&job, build, build_ctx, &disk, &stats);
        uint64_t free_bytes = rc == -ENOSPC || rc == -EDQUOT ? cache_disk_free_bytes(c) : 0;

        cache_lock(c);
        c->active_builds--;
        c->builds_done++;
        c->fetched_bytes += stats.fetched_bytes;
        s->fetched_bytes += stats.fetched_bytes;
        /* No more early reads from this build's file; readers holding it keep their bytes. */
        s->building = NULL;
        s->verified = 0;
        int fd = rc != 0 && job.backing ? cache_backing_unref(job.backing) : -1;
        if (fd >= 0)
            cache_defer(c, fd, TOKFS_LOG_DEBUG, NULL); /* closed after unlock */
        int from_shared = rc == 0 && !c->hooks.build && self.from_shared;
        if (from_shared) {
            c->shared_hits++;
            c->shared_bytes += c->shared_recs[i].bytes;
        }
        if (rc == 0)
            finish_ok(c, &job, disk, &stats);
        else
            finish_failed(c, &job, rc, free_bytes, c->builds_done);
        free(job.sums);
        free(job.new_sums);
        /* shared_write=1: what was made here from the sources goes to the shared tier, after
         * the readers were answered */
        if (rc == 0 && !from_shared && c->shared && c->cfg->shared_write && !c->hooks.build) {
            cache_unlock(c);
            publish_to_shared(&self, i);
            cache_lock(c);
        }
    }
    cache_unlock(c);
    tokfs_fetcher_free(self.fetcher);
    tokfs_fetcher_free(self.shared_fetcher);
    return NULL;
}

/* ---- the entry points ------------------------------------------------------------------- */

int tokfs_cache_known_size(tokfs_cache *c, uint32_t i, uint64_t *size)
{
    cache_lock(c);
    int64_t tokens = i < c->plan.npieces ? c->shards[i].tokens : -1;
    if (tokens >= 0)
        *size = cache_shard_bytes(c, &c->shards[i]);
    cache_unlock(c);
    return tokens < 0 ? -ENODATA : 0;
}

int tokfs_cache_known_parts(tokfs_cache *c, uint32_t i, uint64_t *data, uint64_t *index)
{
    cache_lock(c);
    int64_t tokens = i < c->plan.npieces ? c->shards[i].tokens : -1;
    if (tokens >= 0) {
        *data = tokfs_layout_data_bytes(&c->layout, (uint64_t)tokens);
        *index = c->shards[i].index_bytes;
    }
    cache_unlock(c);
    return tokens < 0 ? -ENODATA : 0;
}

const tokfs_layout *tokfs_cache_layout(const tokfs_cache *c)
{
    return &c->layout;
}

/* tokfs_cache_get, for reads of bytes below need_end (UINT64_MAX: the whole shard). */
static void get_shard(tokfs_cache *c, uint32_t i, int is_read, int want_backing,
                      uint64_t need_end, tokfs_ready_fn fn, void *arg)
{
    if (i >= c->plan.npieces) {
        fn(arg, -ENOENT, 0, NULL);
        return;
    }
    cache_lock(c);
    shard *s = &c->shards[i];
    if (is_read)
        s->last_read = ++c->clock;
    if (s->state == SHARD_CACHED || (!want_backing && s->tokens >= 0)) {
        tokfs_backing *b = NULL;
        if (want_backing) {
            b = s->backing;
            atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        }
        if (is_read) {
            c->hits++;
            queue_prefetch(c, i);
        }
        uint64_t size = cache_shard_bytes(c, s);
        cache_unlock(c);
        fn(arg, 0, size, b);
        return;
    }
    if (want_backing && s->building && need_end <= s->verified) {
        /* Being re-made, and these bytes are written and checked already. */
        tokfs_backing *b = s->building;
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        c->misses++;
        c->early_reads++;
        queue_prefetch(c, i);
        uint64_t size = cache_shard_bytes(c, s);
        cache_unlock(c);
        fn(arg, 0, size, b);
        return;
    }
    waiter *w = malloc(sizeof *w);
    if (!w) {
        cache_unlock(c);
        fn(arg, -ENOMEM, 0, NULL);
        return;
    }
    *w = (waiter){.fn = fn, .arg = arg, .want_backing = want_backing, .need_end = need_end,
                  .next = s->waiters};
    s->waiters = w;
    s->demand = 1;
    s->last_error = 0;
    if (is_read) {
        c->misses++;
        queue_prefetch(c, i);
    }
    if (s->state == SHARD_REMOTE && s->queued != QUEUED_DEMAND && queue_demand(c, i) != 0) {
        s->queued = QUEUED_NONE;
        s->waiters = w->next;
        cache_unlock(c);
        free(w);
        fn(arg, -ENOMEM, 0, NULL);
        return;
    }
    cache_unlock(c);
}

void tokfs_cache_get(tokfs_cache *c, uint32_t i, int is_read, int want_backing,
                     tokfs_ready_fn fn, void *arg)
{
    get_shard(c, i, is_read, want_backing, UINT64_MAX, fn, arg);
}

void tokfs_cache_read(tokfs_cache *c, uint32_t i, uint64_t end, tokfs_ready_fn fn, void *arg)
{
    get_shard(c, i, 1, 1, end, fn, arg);
}

int tokfs_backing_fd(const tokfs_backing *b) { return b->fd; }

/* No lock: the reference count is atomic, and whoever drops the last one closes the file. */
void tokfs_cache_release(tokfs_cache *c, tokfs_backing *b)
{
    TOKFS_CACHE_ASSERT_UNLOCKED(c);
    if (!b)
        return;
    int fd = cache_backing_unref(b);
    if (fd >= 0)
        close(fd);
}
