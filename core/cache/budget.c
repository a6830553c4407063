/* The hard cap: fixed_bytes + data_bytes <= cap at every moment. Owns the disk accounting
 * (measured at open, du-style), the builds' reservations (grown before every write, settled to
 * the real allocation after fsync), eviction (least recently read first, other plans' files
 * before ours; a prefetch only of shards read before the read that queued it), the full-disk path (the filesystem says ENOSPC below the cap), the backing
 * references that let a reader keep an evicted shard's bytes, and the work deferred until
 * c->mu is let go (closing an evicted file's last descriptor, eviction log lines). */
#include "cache/cache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- measuring -------------------------------------------------------------------------- */

/* Allocated bytes of everything below path, the directory itself included (what du counts). */
static uint64_t disk_use(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    uint64_t total = cache_allocated_bytes(&st);
    if (!S_ISDIR(st.st_mode))
        return total;
    DIR *dir = opendir(path);
    if (!dir)
        return total;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child)
            total += disk_use(child);
    }
    closedir(dir);
    return total;
}

uint64_t cache_estimated_bytes(const tokfs_cache *c, uint32_t i)
{
    TOKFS_CACHE_ASSERT_LOCKED(c); /* tokens */
    if (c->shards[i].tokens >= 0)
        return cache_shard_bytes(c, &c->shards[i]);
    /* The .idx of a megatron shard is not counted: about 20 bytes per document, within the
     * estimate's own error. */
    return c->layout.header_bytes +
           (uint64_t)((double)c->plan.pieces[i].source_bytes / c->tok->bytes_per_token *
                      c->id_bytes);
}

uint64_t cache_disk_free_bytes(const tokfs_cache *c)
{
    struct statvfs vfs;
    return statvfs(c->root, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
}

int cache_budget_open(tokfs_cache *c, tokfs_err *err)
{
    struct statvfs vfs;
    c->block = statvfs(c->root, &vfs) == 0 && vfs.f_bsize ? vfs.f_bsize : 4096;
    uint64_t cached = 0;
    for (uint32_t i = 0; i < c->plan.npieces; i++)
        cached += c->shards[i].disk_bytes;
    for (size_t k = 0; k < c->nforeign; k++)
        cached += c->foreign[k].bytes;
    uint64_t total = disk_use(c->root);
    /* Directories grow as shard and temp files are named in them, and never shrink: keep room
     * for a full shards/ dir (about 32 bytes an entry) and the temp dir. */
    uint64_t dir_room = cache_round_up((uint64_t)c->plan.npieces * 32, c->block) + 2 * c->block;
    c->fixed_bytes = (total > cached ? total - cached : 0) + dir_room;
    c->data_bytes = cached;
    if (c->fixed_bytes >= c->cap)
        return tokfs_err_set(err, ENOSPC,
                             "cache_size %" PRIu64 " is smaller than the cache's own metadata "
                             "(%" PRIu64 " bytes): raise cache_size",
                             c->cap, c->fixed_bytes);
    /* Shards kept from an earlier run with a larger cap: trim down to this cap now. */
    cache_lock(c);
    while (c->fixed_bytes + c->data_bytes > c->cap && cache_evict_one(c, UINT32_MAX))
        ;
    cache_unlock(c);
    return 0;
}

/* ---- backing references ----------------------------------------------------------------- */

tokfs_backing *cache_backing_new(int fd)
{
    tokfs_backing *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    b->fd = fd;
    atomic_init(&b->refs, 1);
    return b;
}

int cache_backing_unref(tokfs_backing *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return -1;
    int fd = b->fd;
    free(b);
    return fd;
}

/* ---- work for after unlock -------------------------------------------------------------- */

void cache_defer(tokfs_cache *c, int fd, enum tokfs_log_level level, const char *fmt, ...)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    char line[TOKFS_ERR_MSG_MAX + 64] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
    }
    size_t len = strlen(line);
    cache_deferred *d = malloc(sizeof *d + len + 1);
    if (!d) {
        /* Out of memory: do it now, under the lock. Slower for everyone, never wrong. */
        if (fd >= 0)
            close(fd);
        if (len)
            tokfs_log(level, "%s", line);
        return;
    }
    d->next = NULL;
    d->fd = fd;
    d->level = level;
    memcpy(d->line, line, len + 1);
    *c->deferred_tail = d;
    c->deferred_tail = &d->next;
}

void cache_run_deferred(cache_deferred *list)
{
    while (list) {
        cache_deferred *next = list->next;
        if (list->fd >= 0)
            close(list->fd);
        if (list->line[0])
            tokfs_log(list->level, "%s", list->line);
        free(list);
        list = next;
    }
}

/* ---- eviction --------------------------------------------------------------------------- */

/* Another plan's file. Opened before the unlink so that its blocks are freed by our close after
 * unlock, not by the unlink under the lock (a file with no open descriptor is truncated by the
 * unlink itself). */
static void evict_foreign(tokfs_cache *c)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    foreign_file *f = &c->foreign[--c->nforeign];
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (unlink(f->path) == 0 || errno == ENOENT) {
        c->data_bytes -= f->bytes;
        c->evictions++;
        cache_defer(c, fd, TOKFS_LOG_INFO, "evicted %s (another plan's shard)", f->path);
    } else if (fd >= 0) {
        cache_defer(c, fd, TOKFS_LOG_INFO, NULL);
    }
    free(f->path);
}

/* Evict our cached shard `victim`. mu held. */
static void evict_shard(tokfs_cache *c, uint32_t victim)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[victim];
    char path[PATH_MAX + 32], name[64];
    cache_shard_path(c, (uint32_t)victim, path, sizeof path);
    tokfs_cache_shard_name(c, (uint32_t)victim, name, sizeof name);
    /* The unlink stays here, before data_bytes is credited: du counts the name until it is
     * gone, and the cap is on what du counts. The shard's descriptor is still open, so this only
     * removes the name; the blocks go with the last close. */
    if (unlink(path) != 0 && errno != ENOENT)
        cache_defer(c, -1, TOKFS_LOG_ERROR, "cannot remove %s: %s", path, strerror(errno));
    /* Readers holding the backing keep reading the same bytes until they let go; when none does,
     * the close (which frees the blocks) is ours, after unlock. */
    int fd = cache_backing_unref(s->backing);
    s->backing = NULL;
    s->state = SHARD_REMOTE;
    c->data_bytes -= s->disk_bytes;
    s->disk_bytes = 0;
    c->evictions++;
    cache_defer(c, fd, TOKFS_LOG_DEBUG, "evicted %s", name);
}

int cache_evict_one(tokfs_cache *c, uint32_t except)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    if (c->nforeign) {
        evict_foreign(c);
        return 1;
    }
    /* The least recently read shard that no reader holds; only when every cached shard is held
     * (a passthrough open holds its shard until closed, fs/passthrough.c) the least recently
     * read of those: its name goes now, its blocks with the last close (evict_shard), so the
     * disk is then over the cap by the held shards until they are closed (docs/performance.md,
     * "Warm path"). */
    int64_t victim = -1;
    int victim_held = 1;
    for (uint32_t i = 0; i < c->plan.npieces; i++) {
        shard *s = &c->shards[i];
        if (s->state != SHARD_CACHED || i == except)
            continue;
        int held = atomic_load_explicit(&s->backing->refs, memory_order_relaxed) > 1;
        if (victim < 0 || held < victim_held ||
            (held == victim_held && s->last_read < c->shards[victim].last_read)) {
            victim = i;
            victim_held = held;
        }
    }
    if (victim < 0)
        return 0;
    evict_shard(c, (uint32_t)victim);
    return 1;
}

/* May a prefetch of shard `index` evict cached shard k? Only one read before the read that
 * queued the prefetch, outside [from, from + prefetch] (the shard being read and the window made
 * for it), and held by no reader: refs counts the shard's own reference plus one per reader
 * holding it, raised only under mu, so 1 here means nobody reads it now. mu held. */
static int prefetch_may_evict(tokfs_cache *c, const shard *p, uint32_t k)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    const shard *s = &c->shards[k];
    return s->state == SHARD_CACHED && s->last_read < p->prefetch_floor &&
           !(k >= p->prefetch_from && k - p->prefetch_from <= c->cfg->prefetch) &&
           atomic_load_explicit(&s->backing->refs, memory_order_relaxed) == 1;
}

int cache_evict_for_prefetch(tokfs_cache *c, uint32_t index)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    if (c->nforeign) {
        evict_foreign(c);
        return 1;
    }
    const shard *p = &c->shards[index];
    int64_t victim = -1;
    for (uint32_t k = 0; k < c->plan.npieces; k++)
        if (k != index && prefetch_may_evict(c, p, k) &&
            (victim < 0 || c->shards[k].last_read < c->shards[victim].last_read))
            victim = k;
    if (victim < 0)
        return 0;
    evict_shard(c, (uint32_t)victim);
    return 1;
}

uint64_t cache_prefetch_evictable(tokfs_cache *c, uint32_t index)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    uint64_t total = 0;
    for (size_t k = 0; k < c->nforeign; k++)
        total += c->foreign[k].bytes;
    const shard *p = &c->shards[index];
    for (uint32_t k = 0; k < c->plan.npieces; k++)
        if (k != index && prefetch_may_evict(c, p, k))
            total += c->shards[k].disk_bytes;
    return total;
}

/* ---- reservations ----------------------------------------------------------------------- */

/* Grow job's reservation to `want` bytes, evicting: any shard but this one when a reader
 * waits for it, else (a prefetch) only shards read before the read that queued it.
 * -EAGAIN: give up for now (a prefetch with nothing it may evict, or all builds stuck waiting
 * for each other); -ENOSPC: the shard alone cannot fit under the cap (job->err says so). */
static int reserve_locked(build_job *job, uint64_t want)
{
    tokfs_cache *c = job->c;
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[job->shard];
    while (want > job->reserved) {
        uint64_t delta = want - job->reserved;
        if (c->fixed_bytes + c->data_bytes + delta <= c->cap) {
            c->data_bytes += delta;
            job->reserved += delta;
            break;
        }
        if (atomic_load(&c->stopping))
            return -ECANCELED;
        if (!s->demand) {
            /* A prefetch evicts only what was read before the read that queued it. */
            if (cache_evict_for_prefetch(c, job->shard))
                continue;
            return -EAGAIN;
        }
        if (cache_evict_one(c, job->shard))
            continue;
        unsigned others = c->active_builds - 1;
        if (others == 0) {
            char name[64];
            tokfs_cache_shard_name(c, job->shard, name, sizeof name);
            job->over_cap = 1;
            return tokfs_err_set(&job->err, ENOSPC,
                                 "%s needs more than %" PRIu64 " bytes of disk but cache_size "
                                 "is %" PRIu64 " (%" PRIu64 " of it for metadata): raise "
                                 "cache_size or lower shard_size",
                                 name, want, c->cap, c->fixed_bytes);
        }
        if (c->blocked_builds == others)
            return -EAGAIN; /* everyone else waits too: step back so they can finish */
        c->blocked_builds++;
        cache_wait(c, &c->space_cv);
        c->blocked_builds--;
    }
    return 0;
}

int cache_reserve_for_build(void *ctx, uint64_t new_size)
{
    build_job *job = ctx;
    tokfs_cache *c = job->c;
    /* Sequential writes allocate whole blocks; one more for extent metadata and delayed
     * allocation rounding keeps the estimate above what du will see. */
    uint64_t want = cache_round_up(new_size, c->block) + 2 * c->block;
    cache_lock(c);
    int rc = reserve_locked(job, want);
    cache_unlock(c);
    return rc;
}

int cache_settle_reservation(build_job *job, uint64_t actual)
{
    tokfs_cache *c = job->c;
    cache_lock(c);
    int rc = actual > job->reserved ? reserve_locked(job, actual) : 0;
    if (rc == 0) {
        c->data_bytes -= job->reserved - actual;
        job->reserved = actual;
        pthread_cond_broadcast(&c->space_cv);
    }
    cache_unlock(c);
    return rc;
}

void cache_release_reservation_locked(build_job *job)
{
    TOKFS_CACHE_ASSERT_LOCKED(job->c);
    job->c->data_bytes -= job->reserved;
    job->reserved = 0;
    pthread_cond_broadcast(&job->c->space_cv);
}

/* ---- a full disk below the cap ---------------------------------------------------------- */

int cache_disk_full_make_room(tokfs_cache *c, uint32_t i, uint64_t written, uint64_t free_bytes,
                              tokfs_err *err)
{
    TOKFS_CACHE_ASSERT_LOCKED(c);
    shard *s = &c->shards[i];
    /* What it needs: its exact size when known, else at least what it had written (an estimate
     * from the source bytes is a target for evicting, not a reason to refuse). */
    uint64_t need = written + c->block, target = need;
    uint64_t estimate = cache_round_up(cache_estimated_bytes(c, i), c->block) + 2 * c->block;
    if (s->tokens >= 0)
        need = target = estimate;
    else if (estimate > target)
        target = estimate;
    uint64_t evictable = 0;
    for (size_t k = 0; k < c->nforeign; k++)
        evictable += c->foreign[k].bytes;
    for (uint32_t k = 0; k < c->plan.npieces; k++)
        if (k != i && c->shards[k].state == SHARD_CACHED)
            evictable += c->shards[k].disk_bytes;
    char name[64];
    tokfs_cache_shard_name(c, i, name, sizeof name);
    if (free_bytes + evictable >= need) {
        unsigned evicted = 0;
        while (free_bytes < target) {
            uint64_t before = c->data_bytes;
            if (!cache_evict_one(c, i))
                break;
            free_bytes += before - c->data_bytes;
            evicted++;
        }
        if (evicted) {
            cache_defer(c, -1, TOKFS_LOG_WARN,
                        "%s: the disk holding cache_dir %s is full before cache_size (%" PRIu64
                        ") is reached: evicted %u shard(s) to make room, trying again",
                        name, c->root, c->cap, evicted);
            return 1;
        }
    }
    tokfs_err_set(err, ENOSPC,
                  "%s: the disk holding cache_dir %s is full: %" PRIu64 " bytes free (%" PRIu64
                  " more in cached shards), the shard needs about %" PRIu64 " bytes, below "
                  "cache_size %" PRIu64 ": free disk space or lower cache_size",
                  name, c->root, free_bytes, evictable, need, c->cap);
    return 0;
}

void tokfs_cache_usage(tokfs_cache *c, uint64_t *used, uint64_t *cap)
{
    cache_lock(c);
    *used = c->fixed_bytes + c->data_bytes;
    *cap = c->cap;
    cache_unlock(c);
}
