/* The cache dir and the cache's life: CACHE_DIR (0700) and its lock file (one mount per cache
 * dir), the plan dir plan-<id>/ with plan.tsv, shards/ and tmp/, removing the leftovers of an
 * interrupted run, finding our own cached shards (kept only when the catalog vouches for them)
 * and other plans' shard files (evicted first); tokfs_cache_open (which opens the catalog and
 * the chunk sums: catalog.c, chunks.c) / _start / _close and the read-only accessors. Also
 * defines the lock wrappers' owner tag (cache_internal.h). */
#include "cache/cache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/hash.h"

_Thread_local char cache_thread_tag;

void cache_lock_violation(const char *func, const char *file, int line, const char *what)
{
    tokfs_log(TOKFS_LOG_ERROR, "%s:%d: %s: %s (a cache locking bug)", file, line, func, what);
    fprintf(stderr, "%s:%d: %s: %s (a cache locking bug)\n", file, line, func, what);
    abort();
}

/* ---- names ------------------------------------------------------------------------------ */

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
    snprintf(out, size, "%s/shard_%05u%s", split, n, tokfs_layout_ext(&c->layout));
}

void cache_shard_path(const tokfs_cache *c, uint32_t i, char *out, size_t size)
{
    snprintf(out, size, "%s/shards/%06u.bin", c->dir, i);
}

/* ---- directories ------------------------------------------------------------------------ */

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

/* Only one mount may use a cache dir: its budget and LRU are in this process's memory. */
static int lock_cache_dir(tokfs_cache *c, tokfs_err *err)
{
    char lock_path[PATH_MAX + 8];
    snprintf(lock_path, sizeof lock_path, "%s/lock", c->root);
    c->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->lock_fd < 0)
        return tokfs_err_set(err, errno, "cannot open %s: %s", lock_path, strerror(errno));
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return tokfs_err_set(err, EBUSY,
                             "cache_dir %s is in use by another tokfs mount: unmount it or "
                             "give this mount another cache_dir",
                             c->root);
    return 0;
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

/* ---- the plan --------------------------------------------------------------------------- */

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
    tokfs_fetcher *fetcher = cache_new_fetcher(c->cfg);
    if (!fetcher)
        return tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    rc = tokfs_plan_build(c->cfg, c->tok->bytes_per_token, fetcher, &c->plan, err);
    tokfs_fetcher_free(fetcher);
    if (rc)
        return rc;
    return tokfs_plan_save(&c->plan, plan_path, err);
}

/* ---- shard files found at open (before any thread: no lock) ----------------------------- */

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
                rc = add_foreign(c, path, cache_allocated_bytes(&st));
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
                   (uint64_t)st.st_size == cache_shard_bytes(c, &c->shards[index]);
        if (!keep) {
            if (unlink(path) == 0)
                tokfs_log(TOKFS_LOG_INFO, "removed unvouched shard file %s", path);
            continue;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        tokfs_backing *b = fd >= 0 ? cache_backing_new(fd) : NULL;
        found_shard *grown = b ? realloc(found, (nfound + 1) * sizeof *grown) : NULL;
        if (!grown) {
            if (b)
                close(cache_backing_unref(b));
            else if (fd >= 0)
                close(fd);
            continue;
        }
        found = grown;
        shard *s = &c->shards[index];
        s->state = SHARD_CACHED;
        s->ever_cached = 1;
        s->backing = b;
        s->disk_bytes = cache_allocated_bytes(&st);
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

/* ---- open, start, close ----------------------------------------------------------------- */

/* shared=DEST (docs/shared.md): attach to the set there — refused, saying what differs, when it
 * is another plan, tokenizer or layout; with shared_write=1 and no set yet, one is created — and
 * learn every shard it has, so their sizes are known at once. A shard the catalog knows with
 * another count or checksum is not taken from DEST (the catalog's first make stands). Before
 * any thread: no lock needed, but the helpers' assertions want it held where they check. */
static int attach_shared(tokfs_cache *c, tokfs_err *err)
{
    const tokfs_config *cfg = c->cfg;
    int rc = tokfs_shard_set_attach(cfg->shared, cfg, c->tok, &c->layout, &c->plan, &c->shared,
                                    err);
    if (rc == -ENOENT && cfg->shared_write) {
        /* Nobody built this set yet: this mount starts it with its own plan. */
        tokfs_plan copy; /* set_open may swap its plan for DEST's: give it a copy of ours */
        char plan_path[PATH_MAX + 16];
        snprintf(plan_path, sizeof plan_path, "%s/plan.tsv", c->dir);
        tokfs_err_clear(err);
        if ((rc = tokfs_plan_load(&copy, plan_path, c->plan.id, err)) == 0) {
            tokfs_shard_set *made = NULL;
            rc = tokfs_shard_set_open(cfg->shared, cfg, c->tok, &c->layout, &copy, &made, err);
            tokfs_shard_set_close(made);
            tokfs_plan_free(&copy);
        }
        if (rc == 0)
            rc = tokfs_shard_set_attach(cfg->shared, cfg, c->tok, &c->layout, &c->plan,
                                        &c->shared, err);
    }
    if (rc)
        return rc;
    uint32_t n = c->plan.npieces;
    c->shared_recs = calloc(n ? n : 1, sizeof *c->shared_recs);
    c->shared_present = calloc(n ? n : 1, 1);
    if (!c->shared_recs || !c->shared_present)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    int found = tokfs_shard_set_records(c->shared, c->shared_recs, c->shared_present);
    uint32_t disagree = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!c->shared_present[i])
            continue;
        shard *s = &c->shards[i];
        const tokfs_set_record *r = &c->shared_recs[i];
        if (s->tokens >= 0 && ((uint64_t)s->tokens != r->tokens || s->checksum != r->checksum ||
                               s->index_bytes != r->index_bytes)) {
            c->shared_present[i] = 0;
            disagree++;
            continue;
        }
        if (s->tokens < 0) {
            s->tokens = (int64_t)r->tokens;
            s->checksum = r->checksum;
            s->index_bytes = r->index_bytes;
        }
    }
    if (disagree)
        tokfs_log(TOKFS_LOG_WARN, "shared=%s: %u shard(s) there differ from what this cache made "
                                  "before: those are not taken from it", cfg->shared, disagree);
    tokfs_log(TOKFS_LOG_INFO, "shared=%s: %d of %u shards there%s", cfg->shared,
              found - (int)disagree, n, cfg->shared_write ? "; shards made here are published" : "");
    return 0;
}

/* plan-<id>/ with its plan, shards/ and tmp/, and the shards array. */
static int open_plan_dir(tokfs_cache *c, tokfs_err *err)
{
    int rc = make_dir(c->dir, err);
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
    for (uint32_t i = 0; rc == 0 && i < c->plan.npieces; i++)
        c->shards[i].tokens = -1;
    return rc;
}

int tokfs_cache_open_hooks(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                           const tokfs_cache_hooks *hooks, tokfs_cache **out, tokfs_err *err)
{
    tokfs_cache *c = calloc(1, sizeof *c);
    if (!c)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    c->cfg = cfg;
    c->tok = tok;
    if (hooks)
        c->hooks = *hooks;
    int rc = tokfs_layout_resolve(cfg, tok, &c->layout, err);
    if (rc) {
        free(c);
        return rc;
    }
    c->id_bytes = c->layout.id_bytes;
    c->cap = cfg->cache_size;
    c->lock_fd = c->catalog_fd = c->shards_dir_fd = c->chunks_fd = -1;
    c->chunk_bytes = c->hooks.chunk_bytes ? c->hooks.chunk_bytes : TOKFS_CACHE_CHUNK_BYTES;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->chunks_mu, NULL);
    atomic_init(&c->mu_owner, 0);
    atomic_init(&c->stopping, 0);
    pthread_cond_init(&c->work_cv, NULL);
    pthread_cond_init(&c->space_cv, NULL);
    c->deferred_tail = &c->deferred;
    snprintf(c->root, sizeof c->root, "%s", cfg->cache_dir);
    /* The directory also depends on the tokenizer's fingerprint (its vocabulary, pattern and
     * end-of-text), so a tokenizer file changed under the same path never serves old shards. */
    /* And on the layout, unless it is the one there was before layouts (raw ids of the
     * vocabulary's width, appended end-of-text), so those caches stay valid: a shard made in
     * one layout is never served as another. The same identity names a shard set in the
     * shared tier (core/shared/). */
    uint64_t dir_id = tokfs_shard_set_id(cfg, tok, &c->layout);
    snprintf(c->dir, sizeof c->dir, "%s/plan-%016" PRIx64, c->root, dir_id);

    rc = make_dirs(c->root, err);
    if (rc == 0)
        rc = lock_cache_dir(c, err);
    if (rc == 0)
        rc = open_plan_dir(c, err);
    if (rc == 0)
        rc = cache_catalog_open(c, err);
    if (rc == 0)
        rc = cache_chunks_open(c, err);
    if (rc == 0) {
        scan_own(c);
        if (scan_foreign(c))
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
    }
    if (rc == 0 && cfg->shared)
        rc = attach_shared(c, err);
    if (rc == 0) {
        c->exposed_train = cfg->max_shards && cfg->max_shards < c->plan.ntrain ? cfg->max_shards
                                                                                : c->plan.ntrain;
        rc = cache_budget_open(c, err);
    }
    if (rc) {
        tokfs_cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int tokfs_cache_open(const tokfs_config *cfg, const tokfs_tokenizer *tok, tokfs_cache **out,
                     tokfs_err *err)
{
    return tokfs_cache_open_hooks(cfg, tok, NULL, out, err);
}

int tokfs_cache_start(tokfs_cache *c, tokfs_err *err)
{
    c->threads = calloc(c->cfg->workers, sizeof *c->threads);
    if (!c->threads)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    for (unsigned k = 0; k < c->cfg->workers; k++) {
        int rc = pthread_create(&c->threads[k], NULL, cache_worker_main, c);
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
    cache_lock(c);
    atomic_store(&c->stopping, 1);
    pthread_cond_broadcast(&c->work_cv);
    pthread_cond_broadcast(&c->space_cv);
    cache_unlock(c);
    for (unsigned k = 0; k < c->nthreads; k++)
        pthread_join(c->threads[k], NULL);
    free(c->threads);

    /* The workers are gone: answer whoever still waits (a build abandoned, or never begun). */
    waiter *parked = NULL;
    cache_lock(c);
    for (uint32_t i = 0; c->shards && i < c->plan.npieces; i++) {
        waiter *list = cache_take_waiters(c, i);
        while (list) {
            waiter *next = list->next;
            list->next = parked;
            parked = list;
            list = next;
        }
    }
    cache_unlock(c);
    cache_answer_waiters(parked, -EIO, 0);

    for (uint32_t i = 0; c->shards && i < c->plan.npieces; i++) {
        if (c->shards[i].backing) {
            int fd = cache_backing_unref(c->shards[i].backing);
            if (fd >= 0)
                close(fd);
        }
        free(c->shards[i].chunk_sums);
    }
    tokfs_shard_set_close(c->shared);
    free(c->shared_recs);
    free(c->shared_present);
    for (size_t k = 0; k < c->nforeign; k++)
        free(c->foreign[k].path);
    free(c->foreign);
    free(c->shards);
    free(c->demand_q.items);
    free(c->prefetch_q.items);
    if (c->catalog_fd >= 0)
        close(c->catalog_fd);
    if (c->chunks_fd >= 0)
        close(c->chunks_fd);
    if (c->shards_dir_fd >= 0)
        close(c->shards_dir_fd);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    tokfs_plan_free(&c->plan);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->chunks_mu);
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
