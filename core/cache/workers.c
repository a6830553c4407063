/* Making shards on demand: the two queues (a reader's shard before any prefetch), single
 * flight (one build per shard; every request for it is a waiter answered by that build),
 * prefetch, the worker threads, and build_one (unnamed temp file → build → fsync → compare with
 * the catalog → record → give it its name in shards/). Owns tokfs_cache_get, _release and
 * _known_size, the entry points the FUSE threads call. */
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

/* Queue the next `prefetch` shards of the same split behind shard i. mu held. */
static void queue_prefetch(tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t split_end = i < c->plan.ntrain ? c->exposed_train : c->plan.npieces;
    for (uint32_t k = 1; k <= c->cfg->prefetch && i + k < split_end; k++) {
        shard *s = &c->shards[i + k];
        if (s->state == SHARD_REMOTE && s->queued == QUEUED_NONE && !s->last_error &&
            queue_push(&c->prefetch_q, i + k) == 0) {
            s->queued = QUEUED_PREFETCH;
            pthread_cond_signal(&c->work_cv);
        }
    }
}

/* The next shard to build: a reader's first; then a prefetch, only when its estimated size fits
 * in free budget (a prefetch never evicts). 1 with *out, or 0 when there is nothing to do.
 * mu held. */
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
        if (c->fixed_bytes + c->data_bytes + want > c->cap)
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
} worker;

/* The default tokfs_cache_build_fn: the real builder, through this worker's fetcher. */
static int build_with_fetcher(void *ctx, uint32_t index, const tokfs_build_output *out,
                              tokfs_build_stats *stats, tokfs_err *err)
{
    worker *w = ctx;
    if (!w->fetcher)
        return tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    return tokfs_build_shard(&w->c->plan, index, w->c->tok, w->c->cfg, w->fetcher, out, stats,
                             err);
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

/* Make shard job->shard, without c->mu: temp file, build, fsync, settle the reservation,
 * compare with the catalog (or record it there), name it in shards/. Returns 0 with *backing_out
 * (one reference) and *disk_out, or a negative errno with job->err naming the shard. */
static int build_one(build_job *job, tokfs_cache_build_fn build, void *build_ctx,
                     tokfs_backing **backing_out, uint64_t *disk_out, tokfs_build_stats *stats)
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
    tokfs_build_output out = {.fd = fd, .reserve = cache_reserve_for_build, .reserve_ctx = job,
                              .cancel = &c->stopping};
    tokfs_err err = {{0}}; /* what went wrong, without the shard's name (added at the end) */
    int rc = build(build_ctx, i, &out, stats, &err);
    if (rc == 0 && fsync(fd) != 0)
        rc = tokfs_err_set(&err, errno, "cannot sync %s: %s", tmp_path, strerror(errno));
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = tokfs_err_set(&err, errno, "cannot stat %s: %s", tmp_path, strerror(errno));
    if (rc == 0) {
        *disk_out = cache_allocated_bytes(&st);
        rc = cache_settle_reservation(job, *disk_out);
    }
    /* What follows the data file is the .idx (megatron; nothing for the other layouts). */
    uint64_t data_bytes = rc == 0 ? tokfs_layout_data_bytes(&c->layout, stats->tokens) : 0;
    if (rc == 0 && (uint64_t)st.st_size < data_bytes)
        rc = tokfs_err_set(&err, EIO, "%s holds %lld bytes, fewer than %" PRIu64 " ids make",
                           tmp_path, (long long)st.st_size, stats->tokens);
    if (rc == 0)
        job->index_bytes = (uint64_t)st.st_size - data_bytes;
    if (rc == 0 && job->known_tokens >= 0 &&
        ((uint64_t)job->known_tokens != stats->tokens || job->known_checksum != stats->checksum)) {
        const tokfs_piece *piece = &c->plan.pieces[i];
        char first_url[512];
        tokfs_url_redact(c->plan.sources[piece->first_source].url, first_url, sizeof first_url);
        rc = tokfs_err_set(&job->err, EIO,
                           "%s re-made differs from the first time (%" PRIu64 " tokens, "
                           "checksum %016" PRIx64 "; recorded %" PRId64 ", %016" PRIx64
                           "): a source changed upstream (%s%s); not served",
                           name, stats->tokens, stats->checksum, job->known_tokens,
                           job->known_checksum, first_url,
                           piece->last_source > piece->first_source ? " ..." : "");
    } else if (rc == 0 && job->known_tokens < 0) {
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
    tokfs_backing *b = NULL;
    if (rc == 0 && !(b = cache_backing_new(fd))) {
        unlink(final_path);
        rc = tokfs_err_set(&err, ENOMEM, "out of memory");
    }
    if (rc) {
        if (!anonymous)
            unlink(tmp_path);
        close(fd);
        /* The reserve callback or the checks above may have said it all already, naming the
         * shard; else the builder's or the file's message, prefixed with the shard's name. */
        if (!job->err.msg[0])
            tokfs_err_set(&job->err, -rc, "%s: %s", name, err.msg[0] ? err.msg : strerror(-rc));
        return rc;
    }
    *backing_out = b;
    return 0;
}

/* ---- after a build (mu held; each may let go of it to answer waiters) ------------------- */

/* Shard i is made: cache it and answer its waiters. */
static void finish_ok(tokfs_cache *c, build_job *job, tokfs_backing *backing, uint64_t disk,
                      const tokfs_build_stats *stats)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint32_t i = job->shard;
    shard *s = &c->shards[i];
    c->builds++;
    s->state = SHARD_CACHED;
    s->ever_cached = 1;
    s->backing = backing;
    s->disk_bytes = disk;
    s->tokens = (int64_t)stats->tokens;
    s->checksum = stats->checksum;
    s->index_bytes = job->index_bytes;
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
    worker self = {.c = c, .fetcher = c->hooks.build ? NULL : cache_new_fetcher(c->cfg)};
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
                         .known_checksum = s->checksum};
        cache_unlock(c);

        tokfs_backing *backing = NULL;
        uint64_t disk = 0;
        tokfs_build_stats stats = {0};
        int rc = build_one(&job, build, build_ctx, &backing, &disk, &stats);
        uint64_t free_bytes = rc == -ENOSPC || rc == -EDQUOT ? cache_disk_free_bytes(c) : 0;

        cache_lock(c);
        c->active_builds--;
        c->builds_done++;
        c->fetched_bytes += stats.fetched_bytes;
        s->fetched_bytes += stats.fetched_bytes;
        if (rc == 0)
            finish_ok(c, &job, backing, disk, &stats);
        else
            finish_failed(c, &job, rc, free_bytes, c->builds_done);
    }
    cache_unlock(c);
    tokfs_fetcher_free(self.fetcher);
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

void tokfs_cache_get(tokfs_cache *c, uint32_t i, int is_read, int want_backing,
                     tokfs_ready_fn fn, void *arg)
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
    waiter *w = malloc(sizeof *w);
    if (!w) {
        cache_unlock(c);
        fn(arg, -ENOMEM, 0, NULL);
        return;
    }
    *w = (waiter){.fn = fn, .arg = arg, .want_backing = want_backing, .next = s->waiters};
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
