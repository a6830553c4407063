/* The shard cache. One mutex (c->mu) guards every field below that changes after open; file I/O
 * that can take long (fetching, tokenizing, writing) runs without it. Reading order:
 *   layout and catalog → disk budget and eviction → workers and single flight → status JSON. */
#include "cache/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "source/hf.h"
#include "common/log.h"
#include "build/shard_build.h"

enum shard_state { SHARD_REMOTE, SHARD_MATERIALIZING, SHARD_CACHED };
enum queued_in { QUEUED_NONE, QUEUED_DEMAND, QUEUED_PREFETCH };

struct tokfs_backing {
    int fd;
    int refs; /* the shard's own reference while cached, plus one per reader holding it */
};

typedef struct waiter {
    tokfs_ready_fn fn;
    void *arg;
    int want_backing;
    struct waiter *next;
} waiter;

typedef struct shard {
    int state;            /* enum shard_state */
    int queued;           /* enum queued_in */
    int demand;           /* a reader waits: the build may evict others to fit */
    int ever_cached;      /* to tell "evicted" from "remote" in status */
    int64_t tokens;       /* from the catalog; -1 unknown */
    uint64_t checksum;
    tokfs_backing *backing;
    uint64_t disk_bytes;  /* allocated blocks of the cached file */
    uint64_t last_read;   /* LRU clock value of the last read */
    waiter *waiters;
    uint64_t fetched_bytes;
    uint64_t skipped_records;
    int last_error;
} shard;

/* A shard file of another plan in the same cache dir: evicted before any of ours. */
typedef struct foreign_file {
    char *path;
    uint64_t bytes;
} foreign_file;

typedef struct id_queue {
    uint32_t *items;
    size_t head, count, cap;
} id_queue;

struct tokfs_cache {
    const tokfs_config *cfg;
    const tokfs_tokenizer *tok;
    tokfs_plan plan;
    unsigned id_bytes;
    uint32_t exposed_train;

    char root[PATH_MAX];        /* cfg->cache_dir */
    char dir[PATH_MAX];         /* root/plan-<id> */
    int lock_fd;
    int catalog_fd;
    int shards_dir_fd;

    shard *shards;
    foreign_file *foreign;
    size_t nforeign;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;     /* a job was queued, or stop */
    pthread_cond_t space_cv;    /* budget was released or a build ended */
    id_queue demand_q, prefetch_q;

    /* The budget: fixed_bytes + data_bytes <= cap at all times. */
    uint64_t cap;
    uint64_t fixed_bytes;       /* metadata: dirs (with room to grow), plan, catalog */
    uint64_t data_bytes;        /* cached shards + foreign shards + reservations of builds */
    uint64_t block;             /* filesystem allocation unit */

    uint64_t clock;
    unsigned active_builds, blocked_builds;
    uint64_t builds_done;
    atomic_int stopping;        /* set once by close (under mu); read anywhere */
    pthread_t *threads;
    unsigned nthreads;

    /* Counters for status.json. */
    uint64_t hits, misses, evictions, fetched_bytes, skipped_records, builds, failures;
    char last_failure[TOKFS_ERR_MSG_MAX]; /* the log line of the last failed build ("" none) */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *split_name(const tokfs_cache *c, uint32_t i, uint32_t *n)
{
    if (i < c->plan.ntrain) {
        *n = i;
        return "train";
    }
    *n = i - c->plan.ntrain;
    return "val";
}

void tokfs_cache_shard_name(const tokfs_cache *c, uint32_t i, char *out, size_t size)
{
    uint32_t n;
    const char *split = split_name(c, i, &n);
    snprintf(out, size, "%s/shard_%05u.bin", split, n);
}

static void shard_path(const tokfs_cache *c, uint32_t i, char *out, size_t size)
{
    snprintf(out, size, "%s/shards/%06u.bin", c->dir, i);
}

static uint64_t round_up(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

static uint64_t allocated_bytes(const struct stat *st) { return (uint64_t)st->st_blocks * 512; }

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

static int queue_pop(id_queue *q, uint32_t *id)
{
    if (!q->count)
        return 0;
    *id = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return 1;
}

static int make_dir(const char *path, tokfs_err *err)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return tokfs_err_set(err, ENOTDIR, "cache path %s exists and is not a directory", path);
    }
    return tokfs_err_set(err, errno, "cannot create cache directory %s: %s", path,
                         strerror(errno));
}

/* mkdir -p for the cache root (mode 0700 for every directory we create). */
static int make_dirs(const char *path, tokfs_err *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return tokfs_err_set(err, errno, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    return make_dir(buf, err);
}

/* ---- catalog: token count and checksum of every shard ever made ------------------------- */

#define CATALOG_MAGIC "TOKFSCAT"
#define CATALOG_HEADER_BYTES 64
#define CATALOG_RECORD_BYTES 32

typedef struct catalog_record {
    uint64_t tokens;
    uint64_t checksum;
    uint64_t reserved;
    uint32_t valid;
    uint32_t check; /* detects a torn or damaged record */
} catalog_record;

static uint32_t record_check(const catalog_record *r)
{
    return (uint32_t)tokfs_hash64(r, offsetof(catalog_record, check), 0xCA7A10Full);
}

/* Allocate every record's blocks now: a sparse catalog would grow a block at a time as records
 * are written, past the metadata size measured at start (breaking the cap), and a record could
 * then fail on a full disk. Filesystems without fallocate keep the sparse file. */
static int catalog_allocate(tokfs_cache *c, const char *path, off_t size, tokfs_err *err)
{
    int rc = posix_fallocate(c->catalog_fd, 0, size);
    if (rc == 0 || rc == EOPNOTSUPP || rc == EINVAL)
        return 0;
    return tokfs_err_set(err, rc, "cannot allocate %s (%lld bytes): %s", path, (long long)size,
                         strerror(rc));
}

static int catalog_open(tokfs_cache *c, tokfs_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/catalog.bin", c->dir);
    c->catalog_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->catalog_fd < 0)
        return tokfs_err_set(err, errno, "cannot open %s: %s", path, strerror(errno));

    uint8_t header[CATALOG_HEADER_BYTES] = {0};
    memcpy(header, CATALOG_MAGIC, 8);
    uint32_t version = 1, npieces = c->plan.npieces;
    memcpy(header + 8, &version, 4);
    memcpy(header + 12, &npieces, 4);
    memcpy(header + 16, &c->plan.id, 8);
    memcpy(header + 24, &c->id_bytes, 4);

    off_t want_size = CATALOG_HEADER_BYTES + (off_t)npieces * CATALOG_RECORD_BYTES;
    uint8_t seen[CATALOG_HEADER_BYTES];
    struct stat st;
    if (fstat(c->catalog_fd, &st) == 0 && st.st_size == want_size &&
        pread(c->catalog_fd, seen, sizeof seen, 0) == (ssize_t)sizeof seen &&
        memcmp(seen, header, sizeof header) == 0) {
        for (uint32_t i = 0; i < npieces; i++) {
            catalog_record r;
            off_t at = CATALOG_HEADER_BYTES + (off_t)i * CATALOG_RECORD_BYTES;
            if (pread(c->catalog_fd, &r, sizeof r, at) != (ssize_t)sizeof r)
                break;
            if (r.valid == 1 && r.check == record_check(&r)) {
                c->shards[i].tokens = (int64_t)r.tokens;
                c->shards[i].checksum = r.checksum;
            }
        }
        return catalog_allocate(c, path, want_size, err);
    }
    /* New, or made for something else: start empty (counts are re-learned on demand). */
    if (ftruncate(c->catalog_fd, 0) != 0 || ftruncate(c->catalog_fd, want_size) != 0 ||
        pwrite(c->catalog_fd, header, sizeof header, 0) != (ssize_t)sizeof header ||
        fsync(c->catalog_fd) != 0)
        return tokfs_err_set(err, errno, "cannot write %s: %s", path, strerror(errno));
    return catalog_allocate(c, path, want_size, err);
}

static int catalog_store(tokfs_cache *c, uint32_t i, uint64_t tokens, uint64_t checksum)
{
    catalog_record r = {.tokens = tokens, .checksum = checksum, .valid = 1};
    r.check = record_check(&r);
    off_t at = CATALOG_HEADER_BYTES + (off_t)i * CATALOG_RECORD_BYTES;
    if (pwrite(c->catalog_fd, &r, sizeof r, at) != (ssize_t)sizeof r ||
        fdatasync(c->catalog_fd) != 0)
        return -errno;
    return 0;
}

/* ---- disk use ------------------------------------------------------------------------- */

/* Allocated bytes of everything below path, the directory itself included (what du counts). */
static uint64_t disk_use(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    uint64_t total = allocated_bytes(&st);
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

static void remove_all_in(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child &&
            unlink(child) == 0)
            tokfs_log(TOKFS_LOG_INFO, "removed leftover %s", child);
    }
    closedir(dir);
}

static int add_foreign(tokfs_cache *c, const char *path, uint64_t bytes)
{
    foreign_file *grown = realloc(c->foreign, (c->nforeign + 1) * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    c->foreign = grown;
    if (!(c->foreign[c->nforeign].path = strdup(path)))
        return -ENOMEM;
    c->foreign[c->nforeign++].bytes = bytes;
    return 0;
}

/* Shards of other plans sharing this cache dir: evictable, oldest first. Their leftovers from an
 * interrupted run are removed (we hold the cache lock, so no mount is using them). */
static int scan_foreign(tokfs_cache *c)
{
    DIR *dir = opendir(c->root);
    if (!dir)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dir))) {
        if (strncmp(e->d_name, "plan-", 5) != 0)
            continue;
        char plan_dir[PATH_MAX], sub[PATH_MAX + 16];
        snprintf(plan_dir, sizeof plan_dir, "%s/%s", c->root, e->d_name);
        if (strcmp(plan_dir, c->dir) == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/tmp", plan_dir);
        remove_all_in(sub);
        snprintf(sub, sizeof sub, "%s/shards", plan_dir);
        DIR *sd = opendir(sub);
        if (!sd)
            continue;
        struct dirent *f;
        while (rc == 0 && (f = readdir(sd))) {
            if (f->d_name[0] == '.')
                continue;
            char path[PATH_MAX * 2];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
                rc = add_foreign(c, path, allocated_bytes(&st));
        }
        closedir(sd);
    }
    closedir(dir);
    return rc;
}

/* Our own shard files: keep those the catalog vouches for (right size), delete the rest. */
static void scan_own(tokfs_cache *c)
{
    char tmp_dir[PATH_MAX + 8];
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp", c->dir);
    remove_all_in(tmp_dir);

    DIR *dir = fdopendir(dup(c->shards_dir_fd));
    if (!dir)
        return;
    /* Order by mtime so the LRU clock starts in the order shards were made. */
    typedef struct { uint32_t index; int64_t mtime_ns; } found_shard;
    found_shard *found = NULL;
    size_t nfound = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/shards/%s", c->dir, e->d_name);
        unsigned index;
        char tail[8];
        struct stat st;
        int keep = sscanf(e->d_name, "%6u.%7s", &index, tail) == 2 && strcmp(tail, "bin") == 0 &&
                   index < c->plan.npieces && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
                   c->shards[index].tokens >= 0 &&
                   (uint64_t)st.st_size == (uint64_t)c->shards[index].tokens * c->id_bytes;
        if (!keep) {
            if (unlink(path) == 0)
                tokfs_log(TOKFS_LOG_INFO, "removed unvouched shard file %s", path);
            continue;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        tokfs_backing *b = malloc(sizeof *b);
        found_shard *grown = realloc(found, (nfound + 1) * sizeof *grown);
        if (fd < 0 || !b || !grown) {
            if (fd >= 0)
                close(fd);
            free(b);
            if (grown)
                found = grown;
            continue;
        }
        found = grown;
        *b = (tokfs_backing){.fd = fd, .refs = 1};
        shard *s = &c->shards[index];
        s->state = SHARD_CACHED;
        s->ever_cached = 1;
        s->backing = b;
        s->disk_bytes = allocated_bytes(&st);
        found[nfound++] = (found_shard){index, (int64_t)st.st_mtim.tv_sec * 1000000000 +
                                                   st.st_mtim.tv_nsec};
    }
    closedir(dir);
    /* Insertion sort is fine: this runs once, over the shards that fit in the budget. */
    for (size_t i = 1; i < nfound; i++)
        for (size_t j = i; j > 0 && found[j - 1].mtime_ns > found[j].mtime_ns; j--) {
            found_shard t = found[j];
            found[j] = found[j - 1];
            found[j - 1] = t;
        }
    for (size_t i = 0; i < nfound; i++)
        c->shards[found[i].index].last_read = ++c->clock;
    free(found);
}

/* ---- budget and eviction (c->mu held) --------------------------------------------------- */

static void backing_unref(tokfs_backing *b)
{
    if (--b->refs == 0) {
        close(b->fd);
        free(b);
    }
}

/* Evict the least recently read cached shard other than `except` (foreign files first).
 * Returns 1 when something was freed. */
static int evict_one(tokfs_cache *c, uint32_t except)
{
    if (c->nforeign) {
        foreign_file *f = &c->foreign[--c->nforeign];
        if (unlink(f->path) == 0 || errno == ENOENT) {
            c->data_bytes -= f->bytes;
            c->evictions++;
            tokfs_log(TOKFS_LOG_INFO, "evicted %s (another plan's shard)", f->path);
        }
        free(f->path);
        return 1;
    }
    int64_t victim = -1;
    for (uint32_t i = 0; i < c->plan.npieces; i++) {
        shard *s = &c->shards[i];
        if (s->state == SHARD_CACHED && i != except &&
            (victim < 0 || s->last_read < c->shards[victim].last_read))
            victim = i;
    }
    if (victim < 0)
        return 0;
    shard *s = &c->shards[victim];
    char path[PATH_MAX + 32];
    shard_path(c, (uint32_t)victim, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        tokfs_log(TOKFS_LOG_ERROR, "cannot remove %s: %s", path, strerror(errno));
    /* Readers holding the backing keep reading the same bytes until they let go. */
    backing_unref(s->backing);
    s->backing = NULL;
    s->state = SHARD_REMOTE;
    c->data_bytes -= s->disk_bytes;
    s->disk_bytes = 0;
    c->evictions++;
    char name[64];
    tokfs_cache_shard_name(c, (uint32_t)victim, name, sizeof name);
    tokfs_log(TOKFS_LOG_DEBUG, "evicted %s", name);
    return 1;
}

typedef struct build_job {
    tokfs_cache *c;
    uint32_t shard;
    uint64_t reserved;   /* budget bytes held for this build's temp file */
    int over_cap;        /* the shard alone does not fit under cache_size (-ENOSPC from us, not
                          * from the disk) */
    char message[TOKFS_ERR_MSG_MAX];
} build_job;

/* Grow job's reservation to `want` bytes, evicting if the shard is wanted by a reader.
 * -EAGAIN: give up for now (prefetch that would need eviction, or all builds stuck waiting
 * for each other); -ENOSPC: the shard alone cannot fit under the cap. */
static int reserve_locked(build_job *job, uint64_t want)
{
    tokfs_cache *c = job->c;
    shard *s = &c->shards[job->shard];
    while (want > job->reserved) {
        uint64_t delta = want - job->reserved;
        if (c->fixed_bytes + c->data_bytes + delta <= c->cap) {
            c->data_bytes += delta;
            job->reserved += delta;
            break;
        }
        if (c->stopping)
            return -ECANCELED;
        if (!s->demand)
            return -EAGAIN; /* prefetch never evicts */
        if (evict_one(c, job->shard))
            continue;
        unsigned others = c->active_builds - 1;
        if (others == 0) {
            char name[64];
            tokfs_cache_shard_name(c, job->shard, name, sizeof name);
            snprintf(job->message, sizeof job->message,
                     "%s needs more than %" PRIu64 " bytes of disk but cache_size is %" PRIu64
                     " (%" PRIu64 " of it for metadata): raise cache_size or lower shard_size",
                     name, want, c->cap,
                     c->fixed_bytes);
            job->over_cap = 1;
            return -ENOSPC;
        }
        if (c->blocked_builds == others)
            return -EAGAIN; /* everyone else waits too: step back so they can finish */
        c->blocked_builds++;
        pthread_cond_wait(&c->space_cv, &c->mu);
        c->blocked_builds--;
    }
    return 0;
}

static int reserve_for_build(void *ctx, uint64_t new_size)
{
    build_job *job = ctx;
    /* Sequential writes allocate whole blocks; one more for extent metadata and delayed
     * allocation rounding keeps the estimate above what du will see. */
    uint64_t want = round_up(new_size, job->c->block) + 2 * job->c->block;
    pthread_mutex_lock(&job->c->mu);
    int rc = reserve_locked(job, want);
    pthread_mutex_unlock(&job->c->mu);
    return rc;
}

static void release_reservation_locked(build_job *job)
{
    job->c->data_bytes -= job->reserved;
    job->reserved = 0;
    pthread_cond_broadcast(&job->c->space_cv);
}

/* ---- building one shard ------------------------------------------------------------------ */

static tokfs_fetcher *worker_fetcher(const tokfs_config *cfg)
{
    tokfs_fetch_config fc = {
        .retries = (int)cfg->retries,
        .timeout_ms = (int)cfg->timeout_ms,
        .backoff_base_ms = 200,
        .insecure = cfg->insecure,
        /* HF_TOKEN goes to the hub's origin only (curl also drops it on redirects elsewhere) */
        .bearer_token = cfg->hf_token,
        .bearer_origin = cfg->hf_endpoint ? cfg->hf_endpoint : TOKFS_HF_DEFAULT_ENDPOINT,
    };
    return tokfs_fetcher_new(&fc);
}

/* Give the unnamed temp file fd its name in shards/ (a stale file of that name, which nothing
 * serves, is replaced). 0 or -1 with errno. */
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
            return -1;
    }
    return -1;
}

/* Make shard job->shard: temp file, build, verify, record, rename. Returns 0 with *backing_out
 * (one reference) and *disk_out, or a negative errno with job->message set. */
static int build_one(build_job *job, tokfs_fetcher *fetcher, tokfs_backing **backing_out,
                     uint64_t *disk_out, tokfs_build_stats *stats)
{
    tokfs_cache *c = job->c;
    uint32_t i = job->shard;
    char name[64], tmp_path[PATH_MAX + 64], final_path[PATH_MAX + 32];
    tokfs_cache_shard_name(c, i, name, sizeof name);
    shard_path(c, i, final_path, sizeof final_path);

    /* The temp file has no name (O_TMPFILE) until it is complete: `du` of the cache dir never
     * sees it twice (in tmp/, then renamed into shards/ while du walks the tree) and a kill -9
     * leaves nothing behind. Without O_TMPFILE: a named temp file in tmp/, renamed. */
    int anonymous = 1;
    snprintf(tmp_path, sizeof tmp_path, "%s/tmp", c->dir);
    int fd = open(tmp_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        anonymous = 0;
        snprintf(tmp_path, sizeof tmp_path, "%s/tmp/%06u.XXXXXX", c->dir, i);
        fd = mkostemp(tmp_path, O_CLOEXEC);
    } else {
        snprintf(tmp_path, sizeof tmp_path, "%s/tmp/(unnamed %06u)", c->dir, i);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(job->message, sizeof job->message, "%s: cannot create temp file %s: %s", name,
                 tmp_path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? -e : -EIO;
    }
    fchmod(fd, 0600);
    tokfs_build_output out = {.fd = fd, .reserve = reserve_for_build, .reserve_ctx = job,
                              .cancel = &c->stopping};
    tokfs_err err = {{0}};
    int rc = tokfs_build_shard(&c->plan, i, c->tok, c->cfg, fetcher, &out, stats, &err);
    if (rc == 0 && fsync(fd) != 0)
        rc = tokfs_err_set(&err, errno, "cannot sync %s: %s", tmp_path, strerror(errno));
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = tokfs_err_set(&err, errno, "cannot stat %s: %s", tmp_path, strerror(errno));
    if (rc == 0) {
        /* Settle the reservation to what the file really occupies. */
        pthread_mutex_lock(&c->mu);
        uint64_t actual = allocated_bytes(&st);
        if (actual > job->reserved)
            rc = reserve_locked(job, actual);
        if (rc == 0) {
            c->data_bytes -= job->reserved - actual;
            job->reserved = actual;
            pthread_cond_broadcast(&c->space_cv);
        }
        pthread_mutex_unlock(&c->mu);
        *disk_out = actual;
    }
    if (rc == 0) {
        shard *s = &c->shards[i]; /* tokens/checksum change only here, in the one build */
        if (s->tokens >= 0 && ((uint64_t)s->tokens != stats->tokens || s->checksum != stats->checksum)) {
            const tokfs_piece *piece = &c->plan.pieces[i];
            char first_url[512];
            tokfs_url_redact(c->plan.sources[piece->first_source].url, first_url,
                             sizeof first_url);
            rc = tokfs_err_set(&err, EIO,
                               "%s re-made differs from the first time (%" PRIu64 " tokens, "
                               "checksum %016" PRIx64 "; recorded %" PRId64 ", %016" PRIx64
                               "): a source changed upstream (%s%s); not served",
                               name, stats->tokens, stats->checksum, s->tokens, s->checksum,
                               first_url, piece->last_source > piece->first_source ? " ..." : "");
            snprintf(job->message, sizeof job->message, "%s", err.msg);
        } else if (s->tokens < 0) {
            int crc = catalog_store(c, i, stats->tokens, stats->checksum);
            if (crc)
                rc = tokfs_err_set(&err, -crc, "cannot record %s in the catalog: %s", name,
                                   strerror(-crc));
        }
    }
    if (rc == 0 && ((anonymous ? link_into_place(c, fd, i) : rename(tmp_path, final_path)) != 0 ||
                    fsync(c->shards_dir_fd) != 0))
        rc = tokfs_err_set(&err, errno, "cannot move %s into place: %s", tmp_path,
                           strerror(errno));
    if (rc) {
        if (!anonymous)
            unlink(tmp_path);
        close(fd);
        if (!job->message[0])
            snprintf(job->message, sizeof job->message, "%s: %s", name,
                     err.msg[0] ? err.msg : strerror(-rc));
        return rc;
    }
    tokfs_backing *b = malloc(sizeof *b);
    if (!b) {
        unlink(final_path);
        close(fd);
        snprintf(job->message, sizeof job->message, "%s: out of memory", name);
        return -ENOMEM;
    }
    *b = (tokfs_backing){.fd = fd, .refs = 1};
    *backing_out = b;
    return 0;
}

static void answer_waiters(waiter *list, int status, uint64_t size, tokfs_backing **refs)
{
    size_t k = 0;
    while (list) {
        waiter *next = list->next;
        list->fn(list->arg, status, size, list->want_backing && status == 0 ? refs[k++] : NULL);
        free(list);
        list = next;
    }
}

/* Take the waiters of shard i, and a backing reference for each that wants one (c->mu held). */
static waiter *take_waiters(tokfs_cache *c, uint32_t i, tokfs_backing ***refs_out)
{
    shard *s = &c->shards[i];
    waiter *list = s->waiters;
    s->waiters = NULL;
    size_t n = 0;
    for (waiter *w = list; w; w = w->next)
        n += w->want_backing;
    tokfs_backing **refs = NULL;
    if (n && s->backing && (refs = malloc(n * sizeof *refs))) {
        for (size_t k = 0; k < n; k++) {
            s->backing->refs++;
            refs[k] = s->backing;
        }
    }
    *refs_out = refs;
    return list;
}

static int pick_job(tokfs_cache *c, uint32_t *out)
{
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
        /* Prefetch only what fits without evicting anything. */
        uint64_t estimate = s->tokens >= 0 ? (uint64_t)s->tokens * c->id_bytes
                          : (uint64_t)((double)c->plan.pieces[i].source_bytes /
                                       c->tok->bytes_per_token * c->id_bytes);
        if (c->fixed_bytes + c->data_bytes + round_up(estimate, c->block) + 2 * c->block > c->cap)
            continue;
        *out = i;
        return 1;
    }
    return 0;
}

/* Shard i's build failed because the disk is full (not the cap). Evict least recently read
 * shards until the disk should have room for it, if evicting can give enough: returns 1 (try
 * again). Else fills message (naming the free space, the shard's size and cache_size) and
 * returns 0. `written`: bytes it had written when the disk refused more. c->mu held. */
static int disk_full_make_room(tokfs_cache *c, uint32_t i, uint64_t written, char *message,
                               size_t message_size)
{
    shard *s = &c->shards[i];
    struct statvfs vfs;
    uint64_t free_bytes = statvfs(c->root, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    /* What it needs: its exact size when known, else at least what it had written (an estimate
     * from the source bytes is a target for evicting, not a reason to refuse). */
    uint64_t need = written + c->block, target = need;
    if (s->tokens >= 0)
        need = target = round_up((uint64_t)s->tokens * c->id_bytes, c->block) + 2 * c->block;
    else {
        uint64_t estimate = (uint64_t)((double)c->plan.pieces[i].source_bytes /
                                       c->tok->bytes_per_token * c->id_bytes);
        if (round_up(estimate, c->block) + 2 * c->block > target)
            target = round_up(estimate, c->block) + 2 * c->block;
    }
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
            if (!evict_one(c, i))
                break;
            free_bytes += before - c->data_bytes;
            evicted++;
        }
        if (evicted) {
            tokfs_log(TOKFS_LOG_WARN,
                      "%s: the disk holding cache_dir %s is full before cache_size (%" PRIu64
                      ") is reached: evicted %u shard(s) to make room, trying again",
                      name, c->root, c->cap, evicted);
            return 1;
        }
    }
    snprintf(message, message_size,
             "%s: the disk holding cache_dir %s is full: %" PRIu64 " bytes free (%" PRIu64
             " more in cached shards), the shard needs about %" PRIu64 " bytes, below "
             "cache_size %" PRIu64 ": free disk space or lower cache_size",
             name, c->root, free_bytes, evictable, need, c->cap);
    return 0;
}

static void *worker_main(void *arg)
{
    tokfs_cache *c = arg;
    tokfs_fetcher *fetcher = worker_fetcher(c->cfg);
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        uint32_t i;
        if (!pick_job(c, &i)) {
            pthread_cond_wait(&c->work_cv, &c->mu);
            continue;
        }
        shard *s = &c->shards[i];
        s->queued = QUEUED_NONE;
        s->state = SHARD_MATERIALIZING;
        c->active_builds++;
        pthread_mutex_unlock(&c->mu);

        build_job job = {.c = c, .shard = i};
        tokfs_backing *backing = NULL;
        uint64_t disk = 0;
        tokfs_build_stats stats = {0};
        int rc = fetcher ? build_one(&job, fetcher, &backing, &disk, &stats) : -ENOMEM;
        if (!fetcher)
            snprintf(job.message, sizeof job.message, "cannot start an HTTP client");

        pthread_mutex_lock(&c->mu);
        c->active_builds--;
        c->builds_done++;
        c->fetched_bytes += stats.fetched_bytes;
        s->fetched_bytes += stats.fetched_bytes;
        uint64_t seen_done = c->builds_done;
        if (rc == 0) {
            c->builds++;
            s->state = SHARD_CACHED;
            s->ever_cached = 1;
            s->backing = backing;
            s->disk_bytes = disk;
            s->tokens = (int64_t)stats.tokens;
            s->checksum = stats.checksum;
            s->last_read = ++c->clock;
            s->skipped_records = stats.skipped_records;
            s->last_error = 0;
            s->demand = 0;
            c->skipped_records += stats.skipped_records;
            /* The reservation becomes the cached file's share of data_bytes. */
            job.reserved = 0;
            pthread_cond_broadcast(&c->space_cv);
            tokfs_backing **refs;
            waiter *list = take_waiters(c, i, &refs);
            uint64_t size = stats.tokens * c->id_bytes;
            pthread_mutex_unlock(&c->mu);
            if (stats.skipped_records) {
                char name[64];
                tokfs_cache_shard_name(c, i, name, sizeof name);
                tokfs_log(TOKFS_LOG_WARN, "%s: skipped %" PRIu64 " record(s); first: %s", name,
                          stats.skipped_records, stats.first_skip);
            }
            answer_waiters(list, 0, size, refs);
            free(refs);
            pthread_mutex_lock(&c->mu);
            continue;
        }
        uint64_t written = job.reserved; /* about as much as was written before it failed */
        release_reservation_locked(&job);
        s->state = SHARD_REMOTE;
        if ((rc == -ENOSPC || rc == -EDQUOT) && !job.over_cap && !c->stopping) {
            /* The disk filled up below cache_size (other files on it, or a disk smaller than
             * the cap): make room by evicting, as if the cap were lower, when that can help. */
            if (!s->waiters)
                continue; /* a prefetch: drop it quietly */
            if (disk_full_make_room(c, i, written, job.message, sizeof job.message)) {
                s->queued = QUEUED_DEMAND;
                queue_push(&c->demand_q, i);
                pthread_cond_signal(&c->work_cv);
                continue;
            }
            rc = -ENOSPC;
        }
        if ((rc == -EAGAIN || rc == -ECANCELED) && !c->stopping) {
            if (s->waiters) {
                /* Someone needs it: retry once another build has finished and freed room. */
                while (!c->stopping && c->active_builds > 0 && c->builds_done == seen_done)
                    pthread_cond_wait(&c->space_cv, &c->mu);
                s->queued = QUEUED_DEMAND;
                queue_push(&c->demand_q, i);
                pthread_cond_signal(&c->work_cv);
            }
            continue;
        }
        c->failures++;
        s->last_error = rc == -ENOSPC ? ENOSPC : EIO;
        s->demand = 0;
        if (!c->stopping)
            snprintf(c->last_failure, sizeof c->last_failure, "%s", job.message);
        tokfs_backing **refs;
        waiter *list = take_waiters(c, i, &refs);
        pthread_mutex_unlock(&c->mu);
        if (!c->stopping)
            tokfs_log(TOKFS_LOG_ERROR, "%s", job.message);
        answer_waiters(list, rc == -ENOSPC ? -ENOSPC : -EIO, 0, refs);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    tokfs_fetcher_free(fetcher);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------- */

static int load_or_build_plan(tokfs_cache *c, tokfs_err *err)
{
    char plan_path[PATH_MAX + 16];
    snprintf(plan_path, sizeof plan_path, "%s/plan.tsv", c->dir);
    uint64_t id = tokfs_plan_identity(c->cfg);
    tokfs_err load_err = {{0}};
    int rc = tokfs_plan_load(&c->plan, plan_path, id, &load_err);
    if (rc == 0)
        return 0;
    if (rc != -ENOENT)
        tokfs_log(TOKFS_LOG_WARN, "%s", load_err.msg);
    tokfs_fetcher *fetcher = worker_fetcher(c->cfg);
    if (!fetcher)
        return tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    rc = tokfs_plan_build(c->cfg, c->tok->bytes_per_token, fetcher, &c->plan, err);
    tokfs_fetcher_free(fetcher);
    if (rc)
        return rc;
    return tokfs_plan_save(&c->plan, plan_path, err);
}

int tokfs_cache_open(const tokfs_config *cfg, const tokfs_tokenizer *tok, tokfs_cache **out,
                     tokfs_err *err)
{
    tokfs_cache *c = calloc(1, sizeof *c);
    if (!c)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    c->cfg = cfg;
    c->tok = tok;
    c->id_bytes = tokfs_tokenizer_id_bytes(tok);
    c->cap = cfg->cache_size;
    c->lock_fd = c->catalog_fd = c->shards_dir_fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work_cv, NULL);
    pthread_cond_init(&c->space_cv, NULL);
    snprintf(c->root, sizeof c->root, "%s", cfg->cache_dir);
    /* The directory also depends on the tokenizer's fingerprint (its vocabulary, pattern and
     * end-of-text), so a tokenizer file changed under the same path never serves old shards. */
    uint64_t plan_id = tokfs_plan_identity(cfg);
    uint64_t dir_id = tok->fingerprint ? tokfs_hash64(&tok->fingerprint, sizeof tok->fingerprint,
                                                      plan_id)
                                       : plan_id;
    snprintf(c->dir, sizeof c->dir, "%s/plan-%016" PRIx64, c->root, dir_id);

    int rc = make_dirs(c->root, err);
    if (rc == 0) {
        char lock_path[PATH_MAX + 8];
        snprintf(lock_path, sizeof lock_path, "%s/lock", c->root);
        c->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (c->lock_fd < 0)
            rc = tokfs_err_set(err, errno, "cannot open %s: %s", lock_path, strerror(errno));
        else if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0)
            rc = tokfs_err_set(err, EBUSY,
                               "cache_dir %s is in use by another tokfs mount: unmount it or "
                               "give this mount another cache_dir",
                               c->root);
    }
    if (rc == 0)
        rc = make_dir(c->dir, err);
    if (rc == 0)
        rc = load_or_build_plan(c, err);
    char sub[PATH_MAX + 16];
    if (rc == 0) {
        snprintf(sub, sizeof sub, "%s/shards", c->dir);
        rc = make_dir(sub, err);
        if (rc == 0 && (c->shards_dir_fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            rc = tokfs_err_set(err, errno, "cannot open %s: %s", sub, strerror(errno));
    }
    if (rc == 0) {
        snprintf(sub, sizeof sub, "%s/tmp", c->dir);
        rc = make_dir(sub, err);
    }
    if (rc == 0 && !(c->shards = calloc(c->plan.npieces, sizeof *c->shards)))
        rc = tokfs_err_set(err, ENOMEM, "out of memory");
    if (rc == 0) {
        for (uint32_t i = 0; i < c->plan.npieces; i++)
            c->shards[i].tokens = -1;
        rc = catalog_open(c, err);
    }
    if (rc == 0) {
        scan_own(c);
        if (scan_foreign(c))
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
    }
    if (rc == 0) {
        struct statvfs vfs;
        c->block = statvfs(c->root, &vfs) == 0 && vfs.f_bsize ? vfs.f_bsize : 4096;
        uint64_t cached = 0;
        for (uint32_t i = 0; i < c->plan.npieces; i++)
            cached += c->shards[i].disk_bytes;
        for (size_t k = 0; k < c->nforeign; k++)
            cached += c->foreign[k].bytes;
        uint64_t total = disk_use(c->root);
        /* Directories grow as shard and temp files are named in them, and never shrink: keep
         * room for a full shards/ dir (about 32 bytes an entry) and the temp dir. */
        uint64_t dir_room = round_up((uint64_t)c->plan.npieces * 32, c->block) + 2 * c->block;
        c->fixed_bytes = (total > cached ? total - cached : 0) + dir_room;
        c->data_bytes = cached;
        c->exposed_train = cfg->max_shards && cfg->max_shards < c->plan.ntrain ? cfg->max_shards
                                                                                : c->plan.ntrain;
        if (c->fixed_bytes >= c->cap)
            rc = tokfs_err_set(err, ENOSPC,
                               "cache_size %" PRIu64 " is smaller than the cache's own metadata "
                               "(%" PRIu64 " bytes): raise cache_size",
                               c->cap, c->fixed_bytes);
        /* Shards kept from an earlier run with a larger cap: trim down to this cap now. */
        while (rc == 0 && c->fixed_bytes + c->data_bytes > c->cap && evict_one(c, UINT32_MAX))
            ;
    }
    if (rc) {
        tokfs_cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int tokfs_cache_start(tokfs_cache *c, tokfs_err *err)
{
    c->threads = calloc(c->cfg->workers, sizeof *c->threads);
    if (!c->threads)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    for (unsigned k = 0; k < c->cfg->workers; k++) {
        int rc = pthread_create(&c->threads[k], NULL, worker_main, c);
        if (rc)
            return tokfs_err_set(err, rc, "cannot start worker thread: %s", strerror(rc));
        c->nthreads++;
    }
    return 0;
}

void tokfs_cache_close(tokfs_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->work_cv);
    pthread_cond_broadcast(&c->space_cv);
    pthread_mutex_unlock(&c->mu);
    for (unsigned k = 0; k < c->nthreads; k++)
        pthread_join(c->threads[k], NULL);
    free(c->threads);
    for (uint32_t i = 0; c->shards && i < c->plan.npieces; i++) {
        shard *s = &c->shards[i];
        if (s->waiters) {
            tokfs_backing **refs;
            waiter *list = take_waiters(c, i, &refs);
            answer_waiters(list, -EIO, 0, NULL);
            free(refs);
        }
        if (s->backing)
            backing_unref(s->backing);
    }
    for (size_t k = 0; k < c->nforeign; k++)
        free(c->foreign[k].path);
    free(c->foreign);
    free(c->shards);
    free(c->demand_q.items);
    free(c->prefetch_q.items);
    if (c->catalog_fd >= 0)
        close(c->catalog_fd);
    if (c->shards_dir_fd >= 0)
        close(c->shards_dir_fd);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    tokfs_plan_free(&c->plan);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->work_cv);
    pthread_cond_destroy(&c->space_cv);
    free(c);
}

const tokfs_plan *tokfs_cache_plan(const tokfs_cache *c) { return &c->plan; }
uint32_t tokfs_cache_train_shards(const tokfs_cache *c) { return c->exposed_train; }
uint32_t tokfs_cache_val_shards(const tokfs_cache *c) { return c->plan.nval; }

int64_t tokfs_cache_shard_index(const tokfs_cache *c, int split, uint32_t n)
{
    if (split == 0)
        return n < c->exposed_train ? (int64_t)n : -1;
    return n < c->plan.nval ? (int64_t)c->plan.ntrain + n : -1;
}

int tokfs_backing_fd(const tokfs_backing *b) { return b->fd; }

int tokfs_cache_known_size(tokfs_cache *c, uint32_t i, uint64_t *size)
{
    pthread_mutex_lock(&c->mu);
    int64_t tokens = i < c->plan.npieces ? c->shards[i].tokens : -1;
    pthread_mutex_unlock(&c->mu);
    if (tokens < 0)
        return -ENODATA;
    *size = (uint64_t)tokens * c->id_bytes;
    return 0;
}

/* Queue the next `prefetch` shards of the same split behind shard i (c->mu held). */
static void queue_prefetch(tokfs_cache *c, uint32_t i)
{
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

void tokfs_cache_get(tokfs_cache *c, uint32_t i, int is_read, int want_backing,
                     tokfs_ready_fn fn, void *arg)
{
    if (i >= c->plan.npieces) {
        fn(arg, -ENOENT, 0, NULL);
        return;
    }
    pthread_mutex_lock(&c->mu);
    shard *s = &c->shards[i];
    if (is_read)
        s->last_read = ++c->clock;
    if (s->state == SHARD_CACHED || (!want_backing && s->tokens >= 0)) {
        tokfs_backing *b = NULL;
        if (want_backing) {
            b = s->backing;
            b->refs++;
        }
        if (is_read) {
            c->hits++;
            queue_prefetch(c, i);
        }
        uint64_t size = (uint64_t)s->tokens * c->id_bytes;
        pthread_mutex_unlock(&c->mu);
        fn(arg, 0, size, b);
        return;
    }
    waiter *w = malloc(sizeof *w);
    if (!w) {
        pthread_mutex_unlock(&c->mu);
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
    if (s->state == SHARD_REMOTE && s->queued != QUEUED_DEMAND) {
        s->queued = QUEUED_DEMAND;
        if (queue_push(&c->demand_q, i) != 0) {
            s->queued = QUEUED_NONE;
            s->waiters = w->next;
            pthread_mutex_unlock(&c->mu);
            free(w);
            fn(arg, -ENOMEM, 0, NULL);
            return;
        }
        pthread_cond_signal(&c->work_cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void tokfs_cache_release(tokfs_cache *c, tokfs_backing *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&c->mu);
    backing_unref(b);
    pthread_mutex_unlock(&c->mu);
}

void tokfs_cache_usage(tokfs_cache *c, uint64_t *used, uint64_t *cap)
{
    pthread_mutex_lock(&c->mu);
    *used = c->fixed_bytes + c->data_bytes;
    *cap = c->cap;
    pthread_mutex_unlock(&c->mu);
}

/* ---- JSON documents --------------------------------------------------------------------- */

typedef struct text_out {
    char *data;
    size_t len, cap;
    int failed;
} text_out;

static void out_printf(text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(text_out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->data ? o->data + o->len : NULL, o->data ? o->cap - o->len : 0, fmt,
                          ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if (o->data && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (!grown) {
            o->failed = 1;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
}

/* A JSON string literal of s (escaping quotes, backslashes and control characters). */
static void out_json_string(text_out *o, const char *s)
{
    out_printf(o, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            out_printf(o, "\\%c", ch);
        else if (ch < 0x20)
            out_printf(o, "\\u%04x", ch);
        else
            out_printf(o, "%c", ch);
    }
    out_printf(o, "\"");
}

static char *out_finish(text_out *o, size_t *len)
{
    if (o->failed) {
        free(o->data);
        return NULL;
    }
    *len = o->len;
    return o->data;
}

static void render_split_counts(tokfs_cache *c, text_out *o, uint32_t first, uint32_t count)
{
    uint64_t known_tokens = 0;
    uint32_t known = 0;
    for (uint32_t k = 0; k < count; k++)
        if (c->shards[first + k].tokens >= 0) {
            known_tokens += (uint64_t)c->shards[first + k].tokens;
            known++;
        }
    out_printf(o, "{\"shards\": %u, \"shards_with_known_size\": %u, \"tokens_known\": %" PRIu64
                  ", \"shard_tokens\": [",
               count, known, known_tokens);
    for (uint32_t k = 0; k < count; k++) {
        int64_t t = c->shards[first + k].tokens;
        if (t >= 0)
            out_printf(o, "%s%" PRId64, k ? ", " : "", t);
        else
            out_printf(o, "%snull", k ? ", " : "");
    }
    out_printf(o, "]}");
}

char *tokfs_cache_render_metadata(tokfs_cache *c, size_t *len)
{
    text_out o = {0};
    char source[1024];
    tokfs_url_redact(c->cfg->source, source, sizeof source);
    pthread_mutex_lock(&c->mu);
    out_printf(&o, "{\n  \"format\": \"tokfs-raw\",\n  \"version\": 1,\n  \"source\": ");
    out_json_string(&o, source);
    out_printf(&o, ",\n  \"tokenizer\": ");
    out_json_string(&o, c->tok->name);
    out_printf(&o, ",\n  \"tokenizer_kind\": ");
    out_json_string(&o, c->tok->kind ? c->tok->kind : "unknown");
    out_printf(&o, ",\n  \"pattern\": ");
    if (c->cfg->pattern)
        out_json_string(&o, c->cfg->pattern);
    else
        out_printf(&o, "null");
    out_printf(&o, ",\n  \"tokenizer_fingerprint\": \"%016" PRIx64 "\"", c->tok->fingerprint);
    out_printf(&o,
               ",\n  \"vocab_size\": %u,\n  \"eot_id\": %u,\n  \"dtype\": \"%s\",\n"
               "  \"byte_order\": \"little\",\n  \"header_bytes\": 0,\n"
               "  \"doc_separator\": \"eot_id appended after every document\",\n"
               "  \"shard_size_target\": %" PRIu64 ",\n  \"shuffle_seed\": ",
               c->tok->vocab_size, c->tok->eot_id, c->id_bytes == 2 ? "uint16" : "uint32",
               c->cfg->shard_size);
    if (c->cfg->has_shuffle_seed)
        out_printf(&o, "%" PRIu64, c->cfg->shuffle_seed);
    else
        out_printf(&o, "null");
    out_printf(&o, ",\n  \"splits\": {\n    \"train\": ");
    render_split_counts(c, &o, 0, c->exposed_train);
    out_printf(&o, ",\n    \"val\": ");
    render_split_counts(c, &o, c->plan.ntrain, c->plan.nval);
    out_printf(&o, "\n  }\n}\n");
    pthread_mutex_unlock(&c->mu);
    return out_finish(&o, len);
}

char *tokfs_cache_render_status(tokfs_cache *c, size_t *len)
{
    static const char *const state_names[] = {"remote", "materializing", "cached"};
    text_out o = {0};
    pthread_mutex_lock(&c->mu);
    out_printf(&o,
               "{\n  \"pid\": %d,\n  \"cache_dir\": ", (int)getpid());
    out_json_string(&o, c->dir);
    out_printf(&o,
               ",\n  \"cache_bytes_used\": %" PRIu64 ",\n  \"cache_bytes_cap\": %" PRIu64
               ",\n  \"cache_bytes_metadata\": %" PRIu64 ",\n  \"hits\": %" PRIu64
               ",\n  \"misses\": %" PRIu64 ",\n  \"evictions\": %" PRIu64
               ",\n  \"materializations\": %" PRIu64 ",\n  \"failures\": %" PRIu64
               ",\n  \"bytes_fetched\": %" PRIu64 ",\n  \"records_skipped\": %" PRIu64
               ",\n  \"last_error\": ",
               c->fixed_bytes + c->data_bytes, c->cap, c->fixed_bytes, c->hits, c->misses,
               c->evictions, c->builds, c->failures, c->fetched_bytes, c->skipped_records);
    /* The last failed build's message (it names the shard, and the URL or the sizes). */
    if (c->last_failure[0])
        out_json_string(&o, c->last_failure);
    else
        out_printf(&o, "null");
    out_printf(&o, ",\n  \"shards\": [\n");
    uint32_t exposed = c->exposed_train + c->plan.nval;
    for (uint32_t k = 0; k < exposed; k++) {
        uint32_t i = k < c->exposed_train ? k : c->plan.ntrain + (k - c->exposed_train);
        shard *s = &c->shards[i];
        char name[64];
        tokfs_cache_shard_name(c, i, name, sizeof name);
        const char *state = s->state == SHARD_REMOTE && s->ever_cached ? "evicted"
                                                                         : state_names[s->state];
        out_printf(&o, "    {\"name\": \"%s\", \"state\": \"%s\", \"tokens\": ", name, state);
        if (s->tokens >= 0)
            out_printf(&o, "%" PRId64 ", \"bytes\": %" PRIu64, s->tokens,
                       (uint64_t)s->tokens * c->id_bytes);
        else
            out_printf(&o, "null, \"bytes\": null");
        out_printf(&o,
                   ", \"disk_bytes\": %" PRIu64 ", \"bytes_fetched\": %" PRIu64
                   ", \"records_skipped\": %" PRIu64 ", \"error\": %s}%s\n",
                   s->disk_bytes, s->fetched_bytes, s->skipped_records,
                   s->last_error == ENOSPC ? "\"ENOSPC\"" : s->last_error ? "\"EIO\"" : "null",
                   k + 1 < exposed ? "," : "");
    }
    out_printf(&o, "  ]\n}\n");
    pthread_mutex_unlock(&c->mu);
    return out_finish(&o, len);
}
