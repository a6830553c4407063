/* The shard cache (core/cache/) on its own: no FUSE, no network, no tokenizer at work. As zstd's
 * tests/poolTests.c drives its pool directly, this drives tokfs_cache_get / _release / _close from
 * many threads against a stub builder put in place of tokfs_build_shard (tokfs_cache_open_hooks).
 *
 * The plan is real: a temp dir of six .txt files of FILE_BYTES bytes each, tokenizer=bytes and
 * shard_size=FILE_BYTES, so every file is one piece (five train shards and one val shard). The
 * stub writes a chosen number of 2-byte ids (a function of shard and position) through
 * out->reserve and write(), and can be made to block until a gate opens (or until several
 * builds have begun), to fail with -EIO, or to pass on the reserve callback's refusal. At every
 * reserve it checks the hard cap, twice: the cache's own accounting (fixed + data <= cap) and
 * the disk itself (what du counts in cache_dir plus the allocated blocks of the temp files being
 * written, which have no name, <= cap), both measured under the cache's mutex so that no
 * eviction or reservation moves in between.
 *
 * Caps are counted in shards: a calibration run learns the metadata bytes (fixed) and one
 * shard's allocated size, and a cap of "n shards" is fixed + n shards + a build's two blocks of
 * slack + half a shard, so n shards fit cached while a build runs and n + 1 do not.
 *
 * Checked:
 *   - single flight: 16 threads get one shard at once; one build; every callback once, with
 *     the same size and a backing that reads the right bytes;
 *   - a failed build answers every waiter (-EIO) and status.json says so; the next read retries;
 *   - LRU: under a cap of 2 shards, the least recently *read* shard is evicted;
 *   - the hard cap at every reserve, with 4 threads hammering get/release on random shards;
 *   - a shard larger than the cap: -ENOSPC, and last_error names both sizes;
 *   - two builds that each need the other's room (cap of 1.5 shards) both finish: one steps back;
 *   - an evicted shard still held by a reader reads the same bytes through its backing;
 *   - prefetch never evicts (and a prefetch that outgrows its estimate gives up quietly);
 *   - close with parked waiters (one build blocked, one queued) answers them all -EIO;
 *   - the catalog survives reopen: sizes known without a build, cached shards served at once, a
 *     deleted file re-made, a re-made shard that differs refused with EIO;
 *   - format=megatron: whole and split sizes (.bin, .idx), the .idx size kept by the catalog
 *     across reopen, a plan dir of its own;
 *   - both JSON documents: keys and their order, types, a shuffle_seed of 2^64-1 exact.
 * TOKFS_TEST_OPS sets the hammer's operations per thread (default 150). */
#include "check.h"
#include "cache/cache_internal.h"
#include "common/hash.h"
#include "tokenize/tokenizer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NFILES 6          /* one shard each: 5 train, 1 val */
#define FILE_BYTES 6000   /* a shard of 6001 ids (the document and its end-of-text), 12002 bytes */
#define CHUNK_IDS 1024    /* ids per write, one reserve before each */
#define WAIT_MS 20000     /* longest wait for a callback before the check fails */
#include "cache_fixture.h"

/* ---- the stub builder --------------------------------------------------------------------- */

typedef struct stub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tokfs_cache *c;              /* set before tokfs_cache_start */
    /* with mu */
    int gate[NFILES];            /* 1: a build of this shard waits until it is 0 (or cancel) */
    int rendezvous;              /* builds wait until this many have begun, and again until
                                  * this many have written their first chunk */
    int started;                 /* builds begun */
    int first_chunks;            /* builds that wrote their first chunk */
    int builds[NFILES];          /* builds begun, per shard */
    int fail[NFILES];            /* a negative errno to fail with, or 0 */
    uint64_t ids[NFILES];        /* ids a build writes; 0: FILE_BYTES + 1 */
    unsigned salt[NFILES];       /* changes the content (a "changed source") */
    uint64_t tail_bytes;         /* bytes written after the ids (a megatron .idx stand-in) */
    int sync_gate[NFILES];       /* 1: the build waits before its fsync (hooks.before_sync) */
    int at_sync[NFILES];         /* builds of this shard that reached before_sync */
    int sync_fail[NFILES];       /* a negative errno before_sync returns, or 0 */
    /* atomic */
    _Atomic uint64_t inflight[NFILES]; /* allocated bytes of the temp file being written */
    atomic_int cap_violations;
    atomic_int reserves;
} stub;

static stub st;

static void stub_reset(void)
{
    pthread_mutex_lock(&st.mu);
    st.c = NULL;
    memset(st.gate, 0, sizeof st.gate);
    st.rendezvous = 0;
    st.started = 0;
    st.first_chunks = 0;
    memset(st.builds, 0, sizeof st.builds);
    memset(st.fail, 0, sizeof st.fail);
    memset(st.ids, 0, sizeof st.ids);
    memset(st.salt, 0, sizeof st.salt);
    st.tail_bytes = 0;
    memset(st.sync_gate, 0, sizeof st.sync_gate);
    memset(st.at_sync, 0, sizeof st.at_sync);
    memset(st.sync_fail, 0, sizeof st.sync_fail);
    for (int i = 0; i < NFILES; i++)
        atomic_store(&st.inflight[i], 0);
    atomic_store(&st.cap_violations, 0);
    atomic_store(&st.reserves, 0);
    pthread_mutex_unlock(&st.mu);
}

static void stub_set(int *field, int value)
{
    pthread_mutex_lock(&st.mu);
    *field = value;
    pthread_cond_broadcast(&st.cv);
    pthread_mutex_unlock(&st.mu);
}

static int stub_get(const int *field)
{
    pthread_mutex_lock(&st.mu);
    int v = *field;
    pthread_mutex_unlock(&st.mu);
    return v;
}

static uint16_t stub_id(uint32_t index, uint64_t k, unsigned salt)
{
    return (uint16_t)((index * 7919u + k * 31u + salt * 101u) % 257u);
}

/* The bytes a build of shard i writes (n ids). */
static uint8_t *expected_bytes(uint32_t i, uint64_t n, unsigned salt)
{
    uint8_t *b = malloc(n * 2 + 1);
    for (uint64_t k = 0; k < n; k++) {
        uint16_t id = stub_id(i, k, salt);
        b[2 * k] = (uint8_t)id;
        b[2 * k + 1] = (uint8_t)(id >> 8);
    }
    return b;
}

/* Allocated bytes of everything below path, the directory itself included (what du counts),
 * walked by libc's nftw: a measurement independent of the cache's own disk_use. Called only
 * under the cache's mutex, which also serializes du_total. */
static uint64_t du_total;
static int du_add(const char *path, const struct stat *s, int type, struct FTW *ftw)
{
    (void)path; (void)ftw;
    if (type != FTW_NS) /* vanished between readdir and stat */
        du_total += (uint64_t)s->st_blocks * 512;
    return 0;
}

static uint64_t du(const char *path)
{
    du_total = 0;
    nftw(path, du_add, 16, FTW_PHYS); /* a file evicted under the walk is simply not counted */
    return du_total;
}

/* The hard cap, measured under the cache's mutex (no eviction or reservation in between). */
static void check_cap(tokfs_cache *c)
{
    cache_lock(c);
    uint64_t used = c->fixed_bytes + c->data_bytes, cap = c->cap;
    uint64_t disk = du(c->root);
    for (int i = 0; i < NFILES; i++)
        disk += atomic_load(&st.inflight[i]);
    cache_unlock(c);
    if (used > cap || disk > cap) {
        fprintf(stderr, "hard cap broken: accounted %" PRIu64 ", on disk %" PRIu64 ", cap %" PRIu64
                        "\n", used, disk, cap);
        atomic_fetch_add(&st.cap_violations, 1);
    }
}

/* Wait on the stub's condition (st.mu held) for at most 5 ms: the caller loops. */
static void stub_wait_a_little(void)
{
    cond_wait_ms(&st.cv, &st.mu, 5);
}

static int stub_build(void *ctx, uint32_t i, const tokfs_build_output *out,
                      tokfs_build_stats *stats, tokfs_err *err)
{
    (void)ctx;
    pthread_mutex_lock(&st.mu);
    st.builds[i]++;
    st.started++;
    pthread_cond_broadcast(&st.cv);
    while ((st.gate[i] || st.started < st.rendezvous) && !cancelled(out))
        stub_wait_a_little();
    int fail = st.fail[i];
    uint64_t n = st.ids[i] ? st.ids[i] : FILE_BYTES + 1;
    unsigned salt = st.salt[i];
    uint64_t tail = st.tail_bytes;
    tokfs_cache *c = st.c;
    pthread_mutex_unlock(&st.mu);
    if (cancelled(out))
        return -ECANCELED;
    if (fail)
        return tokfs_err_set(err, -fail, "stub: shard %u fails", i);

    uint8_t *bytes = expected_bytes(i, n, salt);
    uint64_t written = 0, total = n * 2;
    int rc = 0;
    while (written < total) {
        uint64_t len = total - written < CHUNK_IDS * 2 ? total - written : CHUNK_IDS * 2;
        rc = out->reserve(out->reserve_ctx, written + len);
        atomic_fetch_add(&st.reserves, 1);
        if (rc)
            break;
        if (write(out->fd, bytes + written, len) != (ssize_t)len) {
            rc = tokfs_err_set(err, EIO, "stub: write: %s", strerror(errno));
            break;
        }
        written += len;
        struct stat s;
        if (fstat(out->fd, &s) == 0)
            atomic_store(&st.inflight[i], (uint64_t)s.st_blocks * 512);
        check_cap(c);
        if (written == len) { /* the first chunk: it holds some room now */
            pthread_mutex_lock(&st.mu);
            st.first_chunks++;
            pthread_cond_broadcast(&st.cv);
            while (st.first_chunks < st.rendezvous && !cancelled(out))
                stub_wait_a_little();
            pthread_mutex_unlock(&st.mu);
        }
    }
    if (rc == 0 && tail) {
        uint8_t *zeros = calloc(1, tail);
        if (!zeros || (rc = out->reserve(out->reserve_ctx, written + tail)) != 0 ||
            write(out->fd, zeros, tail) != (ssize_t)tail)
            rc = rc ? rc : tokfs_err_set(err, EIO, "stub: tail: %s", strerror(errno));
        free(zeros);
    }
    atomic_store(&st.inflight[i], 0);
    if (rc == 0) {
        memset(stats, 0, sizeof *stats);
        stats->tokens = n;
        stats->checksum = tokfs_hash64(bytes, total, 0);
        stats->documents = 1;
    }
    free(bytes);
    return rc;
}

/* hooks.before_sync: the build's file is written and published; hold it here while the gate
 * is closed, then fail it if asked. */
static int stub_before_sync(void *ctx, uint32_t i)
{
    (void)ctx;
    pthread_mutex_lock(&st.mu);
    st.at_sync[i]++;
    pthread_cond_broadcast(&st.cv);
    while (st.sync_gate[i] && !(st.c && atomic_load(&st.c->stopping)))
        stub_wait_a_little();
    int fail = st.sync_fail[i];
    pthread_mutex_unlock(&st.mu);
    return fail;
}

/* Wait until a build of shard i has reached before_sync n times. 0 or -ETIMEDOUT. */
static int wait_at_sync(uint32_t i, int n)
{
    pthread_mutex_lock(&st.mu);
    for (int ms = 0; st.at_sync[i] < n && ms < WAIT_MS; ms += 5)
        stub_wait_a_little();
    int ok = st.at_sync[i] >= n;
    pthread_mutex_unlock(&st.mu);
    return ok ? 0 : -ETIMEDOUT;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* Get shard i and wait for the answer. Returns the status; *b the backing (when wanted). */
static int get_sync(tokfs_cache *c, uint32_t i, int is_read, int want_backing, uint64_t *size,
                    tokfs_backing **b)
{
    req r;
    req_init(&r);
    tokfs_cache_get(c, i, is_read, want_backing, req_ready, &r);
    int rc = req_wait(&r);
    CHECK_EQ_INT(rc, 0);
    int status = rc ? rc : r.status;
    if (size)
        *size = r.size;
    if (b)
        *b = r.backing;
    else if (r.backing)
        tokfs_cache_release(c, r.backing);
    req_destroy(&r);
    return status;
}

/* 1 when the backing's bytes at [off, off + len) are those shard i's stub writes. */
static int backing_matches(tokfs_backing *b, uint32_t i, uint64_t n, unsigned salt,
                           uint64_t off, uint64_t len)
{
    uint8_t *want = expected_bytes(i, n, salt);
    uint8_t *got = malloc(len + 1);
    int ok = pread(tokfs_backing_fd(b), got, len, (off_t)off) == (ssize_t)len &&
             memcmp(got, want + off, len) == 0;
    free(got);
    free(want);
    return ok;
}

/* Check that the reference a successful get gave for shard i reads the whole shard its stub
 * wrote, then give it back. */
static void check_whole_and_release(tokfs_cache *c, tokfs_backing *b, uint32_t i)
{
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(backing_matches(b, i, FILE_BYTES + 1, 0, 0, (FILE_BYTES + 1) * 2));
    tokfs_cache_release(c, b);
}

/* ---- the environment ---------------------------------------------------------------------- */

typedef struct env {
    char root[PATH_MAX];
    char src[PATH_MAX + 16];
    tokfs_tokenizer *tok;
    unsigned ncache;             /* cache dirs made so far */
    int format;                  /* format= of the caches opened (enum tokfs_out_format) */
    uint64_t fixed, block, shard_alloc; /* from the calibration */
} env;

static env ev;

/* One open cache and the config it keeps pointing at. */
typedef struct handle {
    tokfs_config cfg;
    tokfs_cache *c;
} handle;

static uint64_t cap_of(double shards)
{
    return ev.fixed + (uint64_t)(shards * (double)ev.shard_alloc) + 2 * ev.block;
}

/* Open a cache in cache dir `dir` (NULL: a new one). 0, or the error counted as a check failure
 * (the case then returns: it cannot run, and that fails the test). */
static int open_cache(handle *h, const char *dir, uint64_t cap, unsigned workers, unsigned prefetch,
                      int start)
{
    tokfs_err err = {""};
    memset(h, 0, sizeof *h);
    if (tokfs_config_init(&h->cfg, NULL, "/nonexistent-home", &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        check_failures++; /* the case cannot run: a failure, never a silent pass */
        return -EINVAL;
    }
    char cache_dir[PATH_MAX + 32];
    if (dir)
        snprintf(cache_dir, sizeof cache_dir, "%s", dir);
    else
        snprintf(cache_dir, sizeof cache_dir, "%s/cache-%u", ev.root, ev.ncache++);
    set_str(&h->cfg.source, ev.src);
    set_str(&h->cfg.cache_dir, cache_dir);
    set_str(&h->cfg.tokenizer, "bytes");
    h->cfg.shard_size = FILE_BYTES;
    h->cfg.val_shards = 1;
    h->cfg.cache_size = cap;
    h->cfg.workers = workers;
    h->cfg.prefetch = prefetch;
    h->cfg.format = ev.format;
    stub_reset();
    tokfs_cache_hooks hooks = {.build = stub_build, .ctx = &st, .before_sync = stub_before_sync};
    int rc = tokfs_cache_open_hooks(&h->cfg, ev.tok, &hooks, &h->c, &err);
    if (rc) {
        fprintf(stderr, "open %s: %d (%s)\n", cache_dir, rc, err.msg);
        check_failures++;
        tokfs_config_free(&h->cfg);
        return rc;
    }
    st.c = h->c; /* before the workers exist */
    if (start && (rc = tokfs_cache_start(h->c, &err)) != 0) {
        fprintf(stderr, "start: %d (%s)\n", rc, err.msg);
        check_failures++;
    }
    return rc;
}

/* Close, and check that no reservation of this case ever saw the cache over its cap. */
static void close_cache(handle *h)
{
    CHECK_EQ_INT(atomic_load(&st.cap_violations), 0);
    tokfs_cache_close(h->c);
    h->c = NULL;
    tokfs_config_free(&h->cfg);
}

static const char *shard_state(json_t *status, uint32_t i)
{
    json_t *s = json_array_get(json_object_get(status, "shards"), i);
    const char *v = json_string_value(json_object_get(s, "state"));
    return v ? v : "(none)";
}

static const char *shard_error(json_t *status, uint32_t i)
{
    json_t *s = json_array_get(json_object_get(status, "shards"), i);
    const char *v = json_string_value(json_object_get(s, "error"));
    return v ? v : "null";
}

static int64_t status_int(json_t *status, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(status, key));
}

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *check_sa_ = (a), *check_sb_ = (b);                                        \
        if (strcmp(check_sa_, check_sb_) != 0) {                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,   \
                    __LINE__, #a, #b, check_sa_, check_sb_);                                   \
            check_failures++;                                                                 \
        }                                                                                     \
    } while (0)

/* ---- the cases ---------------------------------------------------------------------------- */

/* Learn the metadata bytes and one shard's allocated size. */
static void calibrate(void)
{
    handle h;
    ev.fixed = 0;
    ev.shard_alloc = 1 << 20;
    if (open_cache(&h, NULL, 1ull << 30, 1, 0, 1) != 0) {
        CHECK(!"calibration: cannot open");
        exit(1);
    }
    CHECK_EQ_INT(h.c->plan.npieces, NFILES);
    CHECK_EQ_INT(h.c->plan.nval, 1);
    ev.fixed = h.c->fixed_bytes;
    ev.block = h.c->block;
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    wait_idle(h.c); /* answered once written; its disk size is settled after the sync */
    cache_lock(h.c);
    ev.shard_alloc = h.c->shards[0].disk_bytes;
    cache_unlock(h.c);
    close_cache(&h);
    printf("calibration: metadata %" PRIu64 " bytes, a shard %" PRIu64 " bytes on disk, block %"
           PRIu64 "\n", ev.fixed, ev.shard_alloc, ev.block);
    CHECK(ev.shard_alloc >= (FILE_BYTES + 1) * 2);
}

typedef struct getter {
    tokfs_cache *c;
    uint32_t shard;
    pthread_barrier_t *start;
    req r;
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    pthread_barrier_wait(g->start);
    tokfs_cache_get(g->c, g->shard, 1, 1, req_ready, &g->r);
    return NULL;
}

static void test_single_flight(void)
{
    enum { N = 16 };
    handle h;
    if (open_cache(&h, NULL, cap_of(4), 2, 0, 1))
        return;
    stub_set(&st.gate[2], 1);
    getter g[N];
    pthread_t t[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int k = 0; k < N; k++) {
        g[k] = (getter){.c = h.c, .shard = 2, .start = &start};
        req_init(&g[k].r);
        pthread_create(&t[k], NULL, getter_main, &g[k]);
    }
    for (int k = 0; k < N; k++)
        pthread_join(t[k], NULL);
    /* every request is parked: nothing answered while the one build waits at the gate */
    for (int ms = 0; ms < WAIT_MS && stub_get(&st.builds[2]) == 0; ms++)
        usleep(1000);
    usleep(20000);
    for (int k = 0; k < N; k++)
        CHECK_EQ_INT(req_calls(&g[k].r), 0);
    stub_set(&st.gate[2], 0);
    for (int k = 0; k < N; k++) {
        CHECK_EQ_INT(req_wait(&g[k].r), 0);
        CHECK_EQ_INT(g[k].r.status, 0);
        CHECK_EQ_INT(g[k].r.size, (FILE_BYTES + 1) * 2);
        CHECK(g[k].r.backing != NULL);
        check_whole_and_release(h.c, g[k].r.backing, 2);
    }
    wait_idle(h.c);
    CHECK_EQ_INT(stub_get(&st.builds[2]), 1);
    for (int k = 0; k < N; k++) {
        CHECK_EQ_INT(req_calls(&g[k].r), 1);
        req_destroy(&g[k].r);
    }
    json_t *s = status_of(h.c);
    CHECK_EQ_INT(status_int(s, "misses"), N);
    CHECK_EQ_INT(status_int(s, "materializations"), 1);
    CHECK_STR(shard_state(s, 2), "cached");
    json_decref(s);
    pthread_barrier_destroy(&start);
    close_cache(&h);
}

static void test_failure_answers_waiters(void)
{
    enum { N = 6 };
    handle h;
    if (open_cache(&h, NULL, cap_of(4), 2, 0, 1))
        return;
    stub_set(&st.gate[1], 1);
    stub_set(&st.fail[1], -EIO);
    req r[N];
    for (int k = 0; k < N; k++) {
        req_init(&r[k]);
        /* reads with and without a backing, and size lookups */
        tokfs_cache_get(h.c, 1, k % 3 != 2, k % 2, req_ready, &r[k]);
    }
    stub_set(&st.gate[1], 0);
    for (int k = 0; k < N; k++) {
        CHECK_EQ_INT(req_wait(&r[k]), 0);
        CHECK_EQ_INT(r[k].status, -EIO);
        CHECK(r[k].backing == NULL);
    }
    wait_idle(h.c);
    for (int k = 0; k < N; k++) {
        CHECK_EQ_INT(req_calls(&r[k]), 1);
        req_destroy(&r[k]);
    }
    CHECK_EQ_INT(stub_get(&st.builds[1]), 1);
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 1), "remote");
    CHECK_STR(shard_error(s, 1), "EIO");
    CHECK_EQ_INT(status_int(s, "failures"), 1);
    CHECK_STR(json_string_value(json_object_get(s, "last_error")),
              "train/shard_00001.bin: stub: shard 1 fails");
    json_decref(s);
    uint64_t size;
    CHECK_EQ_INT(tokfs_cache_known_size(h.c, 1, &size), -ENODATA);
    /* the next read tries again */
    stub_set(&st.fail[1], 0);
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 0, &size, NULL), 0);
    CHECK_EQ_INT(size, (FILE_BYTES + 1) * 2);
    CHECK_EQ_INT(stub_get(&st.builds[1]), 2);
    wait_idle(h.c); /* answered once written: cached after its sync */
    s = status_of(h.c);
    CHECK_STR(shard_error(s, 1), "null");
    CHECK_STR(shard_state(s, 1), "cached");
    json_decref(s);
    close_cache(&h);
}

static void test_lru_order(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(2.5), 1, 0, 1))
        return;
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 0, NULL, NULL), 0);
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0); /* a hit: 1 is now the oldest read */
    CHECK_EQ_INT(get_sync(h.c, 2, 1, 0, NULL, NULL), 0);
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 1), "evicted");
    CHECK_STR(shard_state(s, 2), "cached");
    CHECK_EQ_INT(status_int(s, "evictions"), 1);
    CHECK_EQ_INT(status_int(s, "hits"), 1);
    json_decref(s);
    char path[PATH_MAX + 64];
    cache_shard_path(h.c, 1, path, sizeof path);
    CHECK(access(path, F_OK) != 0);
    /* a size lookup is not a read: it does not move 2 ahead of 0 */
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    CHECK_EQ_INT(get_sync(h.c, 2, 0, 0, NULL, NULL), 0);
    CHECK_EQ_INT(get_sync(h.c, 3, 1, 0, NULL, NULL), 0);
    wait_idle(h.c);
    s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 2), "evicted");
    CHECK_STR(shard_state(s, 3), "cached");
    json_decref(s);
    close_cache(&h);
}

typedef struct hammer {
    tokfs_cache *c;
    unsigned ops;
    uint64_t rng;
    int errors;
} hammer;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *hammer_main(void *arg)
{
    hammer *hm = arg;
    for (unsigned op = 0; op < hm->ops; op++) {
        uint32_t i = (uint32_t)(next_rand(&hm->rng) % NFILES);
        unsigned kind = (unsigned)(next_rand(&hm->rng) % 8);
        if (kind == 0) { /* what FUSE's statfs and the status file do meanwhile */
            uint64_t used, cap;
            tokfs_cache_usage(hm->c, &used, &cap);
            if (used > cap)
                hm->errors++;
            size_t len;
            free(tokfs_cache_render_status(hm->c, &len));
            continue;
        }
        uint64_t size = 0;
        tokfs_backing *b = NULL;
        int want = kind != 1;
        int rc = get_sync(hm->c, i, kind != 1, want, &size, &b);
        if (rc != 0 || size != (FILE_BYTES + 1) * 2 || (want && !b)) {
            fprintf(stderr, "hammer: shard %u: status %d, size %" PRIu64 "\n", i, rc, size);
            hm->errors++;
        }
        if (b) {
            uint64_t off = next_rand(&hm->rng) % size, len = 1 + next_rand(&hm->rng) % 4096;
            if (off + len > size)
                len = size - off;
            if (!backing_matches(b, i, FILE_BYTES + 1, 0, off, len)) {
                fprintf(stderr, "hammer: shard %u: bytes at %" PRIu64 " differ\n", i, off);
                hm->errors++;
            }
            if (next_rand(&hm->rng) % 4 == 0)
                usleep(200); /* hold it a little: eviction meanwhile must not matter */
            tokfs_cache_release(hm->c, b);
        }
    }
    return NULL;
}

static void test_hammer(unsigned ops)
{
    enum { THREADS = 4 };
    handle h;
    if (open_cache(&h, NULL, cap_of(2.5), 2, 1, 1))
        return;
    hammer hm[THREADS];
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++) {
        hm[k] = (hammer){.c = h.c, .ops = ops, .rng = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1)};
        pthread_create(&t[k], NULL, hammer_main, &hm[k]);
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ_INT(hm[k].errors, 0);
    }
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    printf("hammer: %d threads x %u operations: %" PRId64 " builds, %" PRId64 " evictions, %d "
           "reserves checked\n", THREADS, ops, status_int(s, "materializations"),
           status_int(s, "evictions"), atomic_load(&st.reserves));
    CHECK(status_int(s, "evictions") > 0);
    CHECK_EQ_INT(status_int(s, "failures"), 0);
    CHECK(status_int(s, "cache_bytes_used") <= status_int(s, "cache_bytes_cap"));
    json_decref(s);
    CHECK_EQ_INT(atomic_load(&st.cap_violations), 0);
    /* every cached file holds its shard's bytes */
    for (uint32_t i = 0; i < NFILES; i++) {
        tokfs_backing *b = NULL;
        CHECK_EQ_INT(get_sync(h.c, i, 0, 1, NULL, &b), 0);
        check_whole_and_release(h.c, b, i);
    }
    close_cache(&h);
}

static void test_over_cap(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(2.5), 2, 0, 1))
        return;
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    pthread_mutex_lock(&st.mu);
    st.ids[3] = (uint64_t)(FILE_BYTES + 1) * 4; /* 2 shards' worth: more than the cap */
    pthread_mutex_unlock(&st.mu);
    req r[3];
    for (int k = 0; k < 3; k++) {
        req_init(&r[k]);
        tokfs_cache_get(h.c, 3, 1, k & 1, req_ready, &r[k]);
    }
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(req_wait(&r[k]), 0);
        CHECK_EQ_INT(r[k].status, -ENOSPC);
        CHECK(r[k].backing == NULL);
        req_destroy(&r[k]);
    }
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    const char *last = json_string_value(json_object_get(s, "last_error"));
    char cap_text[64];
    snprintf(cap_text, sizeof cap_text, "but cache_size is %" PRIu64 " (", cap_of(2.5));
    CHECK(last && strncmp(last, "train/shard_00003.bin needs more than ", 38) == 0);
    CHECK(last && strstr(last, cap_text) != NULL);
    uint64_t needed = last ? strtoull(last + 38, NULL, 10) : 0;
    /* the metadata now, chunks.bin's first block included (grown by shard 0's record) */
    CHECK(needed > cap_of(2.5) - (uint64_t)status_int(s, "cache_bytes_metadata"));
    CHECK_STR(shard_error(s, 3), "ENOSPC");
    CHECK_STR(shard_state(s, 3), "remote");
    json_decref(s);
    close_cache(&h);
}

static void test_no_deadlock(void)
{
    handle h;
    /* each shard fits alone, two do not: the two builds need each other's room */
    if (open_cache(&h, NULL, cap_of(1.5), 2, 0, 1))
        return;
    stub_set(&st.rendezvous, 2); /* both hold room before either goes on */
    req r[2];
    for (int k = 0; k < 2; k++) {
        req_init(&r[k]);
        tokfs_cache_get(h.c, (uint32_t)k, 1, 1, req_ready, &r[k]);
    }
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(req_wait(&r[k]), 0);
        CHECK_EQ_INT(r[k].status, 0);
        /* the first made may be evicted for the second: its reference still reads */
        check_whole_and_release(h.c, r[k].backing, (uint32_t)k);
        req_destroy(&r[k]);
    }
    wait_idle(h.c);
    int b0 = stub_get(&st.builds[0]), b1 = stub_get(&st.builds[1]);
    if (b0 + b1 != 3)
        fprintf(stderr, "no deadlock: %d and %d builds\n", b0, b1);
    CHECK(b0 + b1 == 3); /* one of them stepped back once */
    close_cache(&h);
}

static void test_evicted_held(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(2.5), 1, 0, 1))
        return;
    tokfs_backing *held = NULL, *held2 = NULL;
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 1, NULL, &held), 0);
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 0, NULL, NULL), 0);
    /* 0 is the least recently read, but held: 1, which nobody holds, goes instead */
    CHECK_EQ_INT(get_sync(h.c, 2, 1, 1, NULL, &held2), 0);
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 1), "evicted");
    json_decref(s);
    /* every cached shard held (0 and 2): the least recently read of them goes; its reader
     * keeps reading the same bytes */
    CHECK_EQ_INT(get_sync(h.c, 3, 1, 0, NULL, NULL), 0);
    s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "evicted");
    CHECK_STR(shard_state(s, 2), "cached");
    json_decref(s);
    char path[PATH_MAX + 64];
    cache_shard_path(h.c, 0, path, sizeof path);
    CHECK(access(path, F_OK) != 0);
    check_whole_and_release(h.c, held, 0);
    check_whole_and_release(h.c, held2, 2);
    /* read again: made again, the same bytes */
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 1, NULL, &held), 0);
    CHECK_EQ_INT(stub_get(&st.builds[0]), 2);
    check_whole_and_release(h.c, held, 0);
    close_cache(&h);
}

/* A shard's bytes are served once written, before its fsync and naming (WRITTEN, NOT YET
 * SYNCED in cache_internal.h): a size query and a read of any bytes are answered while the
 * build is held at before_sync, from the build's file, with the right bytes; the whole-shard
 * get (a passthrough probe) waits for the cached shard. A build that fails after that keeps the
 * published count and checksum: the next make is compared with them (equal: cached; another
 * content: EIO, never served). */
static void test_published_before_sync(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(4), 2, 0, 1))
        return;
    const uint64_t bytes = (FILE_BYTES + 1) * 2;
    stub_set(&st.sync_gate[0], 1);
    uint64_t size = 0;
    CHECK_EQ_INT(get_sync(h.c, 0, 0, 0, &size, NULL), 0); /* answered while held at the gate */
    CHECK_EQ_INT(size, bytes);
    CHECK_EQ_INT(wait_at_sync(0, 1), 0); /* answered before it got there: it is held there now */
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "materializing");
    json_decref(s);
    req r;
    req_init(&r);
    tokfs_cache_read(h.c, 0, bytes, req_ready, &r); /* any bytes of it: at once */
    CHECK_EQ_INT(req_calls(&r), 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.size, bytes);
    check_whole_and_release(h.c, r.backing, 0);
    req_destroy(&r);
    req whole;
    req_init(&whole);
    tokfs_cache_get(h.c, 0, 0, 1, req_ready, &whole); /* the cached shard's file: waits */
    usleep(20000);
    CHECK_EQ_INT(req_calls(&whole), 0);
    stub_set(&st.sync_gate[0], 0);
    CHECK_EQ_INT(req_wait(&whole), 0);
    CHECK_EQ_INT(whole.status, 0);
    check_whole_and_release(h.c, whole.backing, 0);
    req_destroy(&whole);
    wait_idle(h.c);
    s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    json_decref(s);

    /* published, then the sync fails: the error is the build's; the size stays known */
    stub_set(&st.sync_fail[1], -EIO);
    CHECK_EQ_INT(get_sync(h.c, 1, 0, 0, &size, NULL), 0);
    CHECK_EQ_INT(size, bytes);
    CHECK_EQ_INT(wait_at_sync(1, 1), 0);
    wait_idle(h.c);
    s = status_of(h.c);
    CHECK_STR(shard_state(s, 1), "remote");
    CHECK_STR(shard_error(s, 1), "EIO");
    json_decref(s);
    CHECK_EQ_INT(tokfs_cache_known_size(h.c, 1, &size), 0);
    CHECK_EQ_INT(size, bytes);
    /* the next read makes it again, equal to what was published: cached */
    stub_set(&st.sync_fail[1], 0);
    tokfs_backing *b = NULL;
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 1, NULL, &b), 0);
    check_whole_and_release(h.c, b, 1);
    CHECK_EQ_INT(stub_get(&st.builds[1]), 2);

    /* published, the sync fails, and the next make differs (a changed source): EIO */
    stub_set(&st.sync_fail[2], -EIO);
    CHECK_EQ_INT(get_sync(h.c, 2, 0, 0, &size, NULL), 0);
    CHECK_EQ_INT(wait_at_sync(2, 1), 0);
    wait_idle(h.c);
    stub_set(&st.sync_fail[2], 0);
    stub_set((int *)&st.salt[2], 1);
    CHECK_EQ_INT(get_sync(h.c, 2, 1, 1, NULL, &b), -EIO);
    CHECK(b == NULL);
    s = status_of(h.c);
    const char *last = json_string_value(json_object_get(s, "last_error"));
    CHECK(last && strstr(last, "re-made differs") != NULL);
    json_decref(s);
    close_cache(&h);
}

static void test_prefetch(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(2.5), 1, 3, 1))
        return;
    /* reading 0 queues 1, 2, 3; 1 fits, then 2 and 3 would need eviction: not made */
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 1), "cached");
    CHECK_STR(shard_state(s, 2), "remote");
    CHECK_STR(shard_state(s, 3), "remote");
    CHECK_EQ_INT(status_int(s, "evictions"), 0);
    json_decref(s);
    CHECK_EQ_INT(stub_get(&st.builds[2]), 0);
    close_cache(&h);

    /* a prefetch that outgrows its estimate (from the source bytes) gives up at the reserve that
     * would need eviction: quietly, nothing evicted, nothing failed */
    if (open_cache(&h, NULL, cap_of(2.5), 1, 1, 1))
        return;
    pthread_mutex_lock(&st.mu);
    st.ids[1] = (uint64_t)(FILE_BYTES + 1) * 2;
    pthread_mutex_unlock(&st.mu);
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    wait_idle(h.c);
    s = status_of(h.c);
    CHECK_EQ_INT(stub_get(&st.builds[1]), 1);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 1), "remote");
    CHECK_STR(shard_error(s, 1), "null");
    CHECK_EQ_INT(status_int(s, "evictions"), 0);
    CHECK_EQ_INT(status_int(s, "failures"), 0);
    CHECK_EQ_INT(status_int(s, "cache_bytes_used"),
                 status_int(s, "cache_bytes_metadata") + (int64_t)ev.shard_alloc);
    json_decref(s);
    close_cache(&h);
}

static void test_close_answers_waiters(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(4), 1, 0, 1))
        return;
    stub_set(&st.gate[0], 1); /* never opened: close cancels it */
    req r[4];
    for (int k = 0; k < 4; k++)
        req_init(&r[k]);
    tokfs_cache_get(h.c, 0, 1, 1, req_ready, &r[0]);
    tokfs_cache_get(h.c, 0, 0, 0, req_ready, &r[1]);
    for (int ms = 0; ms < WAIT_MS && stub_get(&st.builds[0]) == 0; ms++)
        usleep(1000);
    /* the one worker is busy: these stay queued */
    tokfs_cache_get(h.c, 4, 1, 1, req_ready, &r[2]);
    tokfs_cache_get(h.c, 5, 1, 0, req_ready, &r[3]);
    usleep(10000);
    for (int k = 0; k < 4; k++)
        CHECK_EQ_INT(req_calls(&r[k]), 0);
    close_cache(&h);
    for (int k = 0; k < 4; k++) {
        CHECK_EQ_INT(req_calls(&r[k]), 1);
        CHECK_EQ_INT(r[k].status, -EIO);
        CHECK(r[k].backing == NULL);
        req_destroy(&r[k]);
    }
    CHECK_EQ_INT(stub_get(&st.builds[4]), 0);
}

static void test_reopen(void)
{
    handle h;
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/cache-reopen", ev.root);
    if (open_cache(&h, dir, cap_of(4), 2, 0, 1))
        return;
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ_INT(get_sync(h.c, i, 1, 0, NULL, NULL), 0);
    close_cache(&h);

    /* shard 1's file goes away (evicted by hand); its count stays in the catalog */
    char path[PATH_MAX + 64];
    if (open_cache(&h, dir, cap_of(4), 2, 0, 0))
        return;
    cache_shard_path(h.c, 1, path, sizeof path);
    close_cache(&h);
    CHECK_EQ_INT(unlink(path), 0);

    if (open_cache(&h, dir, cap_of(4), 2, 0, 1))
        return;
    for (uint32_t i = 0; i < NFILES; i++) {
        uint64_t size = 0;
        int rc = tokfs_cache_known_size(h.c, i, &size);
        CHECK_EQ_INT(rc, i < 3 ? 0 : -ENODATA);
        if (i < 3)
            CHECK_EQ_INT(size, (FILE_BYTES + 1) * 2);
    }
    json_t *s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached");
    CHECK_STR(shard_state(s, 1), "remote");
    CHECK_STR(shard_state(s, 2), "cached");
    json_decref(s);
    /* a cached shard is answered before tokfs_cache_get returns, with no build */
    req r;
    req_init(&r);
    tokfs_cache_get(h.c, 2, 1, 1, req_ready, &r);
    CHECK_EQ_INT(req_calls(&r), 1);
    CHECK_EQ_INT(r.status, 0);
    check_whole_and_release(h.c, r.backing, 2);
    req_destroy(&r);
    /* a size lookup of a known shard needs no build either */
    CHECK_EQ_INT(get_sync(h.c, 1, 0, 0, NULL, NULL), 0);
    CHECK_EQ_INT(stub_get(&st.started), 0);
    /* reading 1 (for its bytes, not its size) makes it again, and it matches the catalog */
    tokfs_backing *b = NULL;
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 1, NULL, &b), 0);
    check_whole_and_release(h.c, b, 1);
    CHECK_EQ_INT(stub_get(&st.builds[1]), 1);
    close_cache(&h);

    /* a source that changed: shard 1 re-made with other bytes is refused, nothing cached */
    if (open_cache(&h, dir, cap_of(4), 2, 0, 0))
        return;
    cache_shard_path(h.c, 1, path, sizeof path);
    close_cache(&h);
    CHECK_EQ_INT(unlink(path), 0);
    if (open_cache(&h, dir, cap_of(4), 2, 0, 1))
        return;
    pthread_mutex_lock(&st.mu);
    st.salt[1] = 1;
    pthread_mutex_unlock(&st.mu);
    CHECK_EQ_INT(get_sync(h.c, 1, 1, 1, NULL, NULL), -EIO);
    s = status_of(h.c);
    const char *last = json_string_value(json_object_get(s, "last_error"));
    CHECK(last && strstr(last, "train/shard_00001.bin re-made differs from the first time") == last);
    CHECK(last && strstr(last, "a source changed upstream") != NULL);
    CHECK_STR(shard_state(s, 1), "remote");
    json_decref(s);
    CHECK(access(path, F_OK) != 0);
    close_cache(&h);
}

/* format=megatron: a shard's cache file is the .bin then the .idx. Sizes are the whole file's,
 * split by tokfs_cache_known_parts; the .idx bytes survive reopen in the catalog (sizes known
 * and the file kept, without a build); status.json's bytes is the whole; the layout has its own
 * plan dir beside the raw one in the same cache dir. */
static void test_layout(void)
{
    char dir[PATH_MAX + 32], raw_dir[PATH_MAX], meg_dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/cache-layout", ev.root);
    handle h;
    if (open_cache(&h, dir, cap_of(4), 1, 0, 1))
        return;
    snprintf(raw_dir, sizeof raw_dir, "%s", h.c->dir);
    close_cache(&h);

    ev.format = TOKFS_OUT_MEGATRON;
    const uint64_t ids = (FILE_BYTES + 1) * 2, idx = 42 + 20; /* one sequence */
    if (open_cache(&h, dir, cap_of(4), 1, 0, 1)) {
        ev.format = TOKFS_OUT_RAW;
        return;
    }
    snprintf(meg_dir, sizeof meg_dir, "%s", h.c->dir);
    CHECK(strcmp(raw_dir, meg_dir) != 0);
    CHECK_EQ_INT(tokfs_cache_layout(h.c)->format, TOKFS_OUT_MEGATRON);
    pthread_mutex_lock(&st.mu);
    st.tail_bytes = idx;
    pthread_mutex_unlock(&st.mu);
    uint64_t size = 0, data = 0, index = 0;
    CHECK_EQ_INT(tokfs_cache_known_parts(h.c, 0, &data, &index), -ENODATA);
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, &size, NULL), 0);
    CHECK_EQ_INT(size, ids + idx);
    CHECK_EQ_INT(tokfs_cache_known_parts(h.c, 0, &data, &index), 0);
    CHECK_EQ_INT(data, ids);
    CHECK_EQ_INT(index, idx);
    json_t *s = status_of(h.c);
    json_t *first = json_array_get(json_object_get(s, "shards"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(first, "bytes")), ids + idx);
    json_decref(s);
    size_t len = 0;
    char *meta = tokfs_cache_render_metadata(h.c, &len);
    CHECK(meta && strstr(meta, "\"layout\": \"megatron\"") && strstr(meta, "\"index_extension\": \".idx\""));
    free(meta);
    close_cache(&h);

    if (open_cache(&h, dir, cap_of(4), 1, 0, 1)) {
        ev.format = TOKFS_OUT_RAW;
        return;
    }
    CHECK_EQ_INT(tokfs_cache_known_size(h.c, 0, &size), 0);
    CHECK_EQ_INT(size, ids + idx);
    CHECK_EQ_INT(tokfs_cache_known_parts(h.c, 0, &data, &index), 0);
    CHECK_EQ_INT(index, idx);
    s = status_of(h.c);
    CHECK_STR(shard_state(s, 0), "cached"); /* kept: its size is what the catalog says */
    json_decref(s);
    CHECK_EQ_INT(stub_get(&st.started), 0);
    close_cache(&h);
    ev.format = TOKFS_OUT_RAW;
}

/* Keys in order, with their JSON types. */
static void check_keys(json_t *obj, const char *const *keys, const json_type *types, size_t n,
                       const char *what)
{
    CHECK_EQ_INT(json_object_size(obj), n);
    size_t k = 0;
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        if (k < n && (strcmp(key, keys[k]) != 0 || json_typeof(value) != types[k])) {
            fprintf(stderr, "%s: key %zu is %s (type %d), want %s (type %d)\n", what, k, key,
                    json_typeof(value), keys[k], types[k]);
            check_failures++;
        }
        k++;
    }
}

static void test_documents(void)
{
    handle h;
    if (open_cache(&h, NULL, cap_of(4), 1, 0, 1))
        return;
    CHECK_EQ_INT(get_sync(h.c, 0, 1, 0, NULL, NULL), 0);
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    static const char *const status_keys[] = {
        "pid", "cache_dir", "cache_bytes_used", "cache_bytes_cap", "cache_bytes_metadata", "hits",
        "misses", "early_reads", "evictions", "materializations", "failures", "bytes_fetched",
        "records_skipped", "shared", "shared_hits", "shared_bytes", "shared_published",
        "shards_tokenized", "last_error", "shards"};
    static const json_type status_types[] = {
        JSON_INTEGER, JSON_STRING, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER,
        JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER,
        JSON_INTEGER, JSON_NULL, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_INTEGER,
        JSON_NULL, JSON_ARRAY};
    check_keys(s, status_keys, status_types, 20, "status.json");
    static const char *const shard_keys[] = {"name", "state", "tokens", "bytes", "disk_bytes",
                                             "bytes_fetched", "records_skipped", "error"};
    static const json_type cached_types[] = {JSON_STRING, JSON_STRING, JSON_INTEGER, JSON_INTEGER,
                                             JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_NULL};
    static const json_type remote_types[] = {JSON_STRING, JSON_STRING, JSON_NULL, JSON_NULL,
                                             JSON_INTEGER, JSON_INTEGER, JSON_INTEGER, JSON_NULL};
    json_t *shards = json_object_get(s, "shards");
    CHECK_EQ_INT(json_array_size(shards), NFILES);
    check_keys(json_array_get(shards, 0), shard_keys, cached_types, 8, "status.json shard 0");
    check_keys(json_array_get(shards, 1), shard_keys, remote_types, 8, "status.json shard 1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(shards, 0), "name")),
              "train/shard_00000.bin");
    CHECK_STR(json_string_value(json_object_get(json_array_get(shards, 5), "name")),
              "val/shard_00000.bin");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(shards, 0), "tokens")),
                 FILE_BYTES + 1);
    CHECK_EQ_INT(status_int(s, "pid"), getpid());
    json_decref(s);

    /* the status text: one "state" per line, as test_crash greps it */
    size_t len;
    char *text = tokfs_cache_render_status(h.c, &len);
    CHECK(text && strstr(text, "\n      \"state\": \"cached\",\n") != NULL);
    free(text);

    text = tokfs_cache_render_metadata(h.c, &len);
    CHECK(text != NULL);
    json_t *m = text ? json_loadb(text, len, 0, NULL) : NULL;
    CHECK(m != NULL);
    static const char *const meta_keys[] = {
        "format", "version", "source", "tokenizer", "tokenizer_kind", "tokenizer_model",
        "tokenizer_file", "special_tokens", "pattern", "tokenizer_fingerprint", "vocab_size",
        "eot_id", "layout", "dtype", "byte_order", "header_bytes", "doc_separator",
        "data_extension", "index_extension", "shard_size_target", "shuffle_seed", "splits"};
    static const json_type meta_types[] = {
        JSON_STRING, JSON_INTEGER, JSON_STRING, JSON_STRING, JSON_STRING, JSON_STRING,
        JSON_NULL, JSON_STRING, JSON_NULL, JSON_STRING, JSON_INTEGER, JSON_INTEGER,
        JSON_STRING, JSON_STRING, JSON_STRING, JSON_INTEGER, JSON_STRING, JSON_STRING,
        JSON_NULL, JSON_INTEGER, JSON_NULL, JSON_OBJECT};
    if (m) {
        check_keys(m, meta_keys, meta_types, 22, "dataset_metadata.json");
        CHECK_STR(json_string_value(json_object_get(m, "format")), "tokfs-raw");
        CHECK_STR(json_string_value(json_object_get(m, "layout")), "raw");
        CHECK_STR(json_string_value(json_object_get(m, "doc_separator")), "append");
        CHECK_EQ_INT(json_integer_value(json_object_get(m, "header_bytes")), 0);
        CHECK_STR(json_string_value(json_object_get(m, "tokenizer_model")), "bytes");
        CHECK_STR(json_string_value(json_object_get(m, "special_tokens")), "text");
        CHECK_STR(json_string_value(json_object_get(m, "source")), ev.src);
        CHECK_STR(json_string_value(json_object_get(m, "dtype")), "uint16");
        json_t *train = json_object_get(json_object_get(m, "splits"), "train");
        static const char *const split_keys[] = {"shards", "shards_with_known_size",
                                                 "empty_shards_hidden", "tokens_known",
                                                 "shard_tokens"};
        static const json_type split_types[] = {JSON_INTEGER, JSON_INTEGER, JSON_INTEGER,
                                                JSON_INTEGER, JSON_ARRAY};
        check_keys(train, split_keys, split_types, 5, "splits.train");
        CHECK_EQ_INT(json_integer_value(json_object_get(train, "empty_shards_hidden")), 0);
        CHECK_EQ_INT(json_integer_value(json_object_get(train, "shards")), NFILES - 1);
        CHECK_EQ_INT(json_integer_value(json_object_get(train, "shards_with_known_size")), 1);
        CHECK_EQ_INT(json_integer_value(json_object_get(train, "tokens_known")), FILE_BYTES + 1);
        json_t *counts = json_object_get(train, "shard_tokens");
        CHECK_EQ_INT(json_integer_value(json_array_get(counts, 0)), FILE_BYTES + 1);
        CHECK(json_is_null(json_array_get(counts, 1)));
        CHECK_EQ_INT(json_integer_value(json_object_get(
                         json_object_get(json_object_get(m, "splits"), "val"), "shards")), 1);
        json_decref(m);
    }
    CHECK(text && text[len - 1] == '\n');
    free(text);
    close_cache(&h);

    /* a shuffle_seed above INT64_MAX (jansson's integers are signed) is written exactly */
    if (open_cache(&h, NULL, cap_of(4), 1, 0, 0))
        return;
    h.cfg.has_shuffle_seed = 1;
    h.cfg.shuffle_seed = UINT64_MAX;
    text = tokfs_cache_render_metadata(h.c, &len);
    CHECK(text && strstr(text, "\n  \"shuffle_seed\": 18446744073709551615,\n") != NULL);
    CHECK(text && strlen(text) == len);
    free(text);
    h.cfg.shuffle_seed = 42;
    text = tokfs_cache_render_metadata(h.c, &len);
    CHECK(text && strstr(text, "\n  \"shuffle_seed\": 42,\n") != NULL);
    free(text);
    close_cache(&h);
}

int main(void)
{
    alarm(300); /* a hang (a deadlock) fails the test instead of stalling the run */
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    if (make_corpus(ev.root, "/tmp/tokfs-cache-", ev.src, sizeof ev.src, NFILES, FILE_BYTES) != 0)
        return 1;
    tokfs_err err = {""};
    if (tokfs_tokenizer_open("bytes", NULL, NULL, &ev.tok, &err) != 0) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    const char *ops_env = getenv("TOKFS_TEST_OPS");
    unsigned ops = ops_env ? (unsigned)atoi(ops_env) : 150;

    calibrate();
    test_single_flight();
    test_failure_answers_waiters();
    test_lru_order();
    test_evicted_held();
    test_published_before_sync();
    test_over_cap();
    test_no_deadlock();
    test_prefetch();
    test_close_answers_waiters();
    test_reopen();
    test_layout();
    test_documents();
    test_hammer(ops);

    tokfs_tokenizer_close(ev.tok);
    rm_tree(ev.root);
    CHECK_DONE();
}
