/* Reads before a shard is finished, and prefetch that evicts (core/cache/chunks.c, workers.c,
 * budget.c; core/build/writer.c's header-first and progress). As tests/unit/test_cache.c, this
 * drives the cache directly with a stub build (tokfs_cache_open_hooks), on a real plan of six
 * local .txt files (tokenizer=bytes, one file a shard), with chunks of CHUNK bytes so a shard of
 * SHARD_BYTES has several. The stub writes a shard's bytes WRITE bytes at a time, calls
 * out->progress after each write, and can stop after PAUSE bytes until a gate opens; from a
 * chosen byte on it can write other bytes (a source that changed upstream where its pin cannot
 * see).
 *
 * Checked:
 *   - the chunk sums: recorded at the first make (each the hash of its chunk), reloaded at open,
 *     a torn record (bad check) dropped with everything after it, a record the catalog does not
 *     vouch for (other checksum) ignored, a dead-heavy file compacted; the file made only by
 *     the first record, its blocks counted as metadata;
 *   - an early read: a shard evicted (its file removed while unmounted) and read again answers a
 *     read of its first bytes while the build is stopped halfway (state "materializing"), with
 *     the right bytes from the build's file; a read past where it stopped waits, and is answered
 *     by the build's progress before it ends; early_reads counts both;
 *   - a re-make that differs from byte D on: reads below the chunk holding D get the right
 *     bytes, reads at or past it get EIO, last_error names the chunk;
 *   - no chunk sums (a shard made before them): reads wait for the whole build, and the sums are
 *     recorded by that build;
 *   - the writer: with the expected id count, an llm.c header is written first and progress
 *     reports final bytes from the start; a different count rewrites the header; without it
 *     nothing is final until finish;
 *   - prefetch evicts a shard read before the read that queued it, never one a reader holds.
 * Every wait is for a state (a callback, a paused build), never a duration. */
#include "check.h"
#include "build/build_internal.h"
#include "cache/cache_internal.h"
#include "common/hash.h"
#include "tokenize/tokenizer.h"

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

#define NFILES 6
#define FILE_BYTES 6000                   /* 6001 ids a shard: 12002 bytes */
#define SHARD_BYTES ((FILE_BYTES + 1) * 2)
#define CHUNK 1024u                       /* 12 chunks a shard, the last one partial */
#define NCHUNKS ((SHARD_BYTES + CHUNK - 1) / CHUNK)
#define WRITE 512                         /* bytes per write */
#define WAIT_MS 20000                     /* longest wait for a callback before the check fails */
#include "cache_fixture.h"

/* ---- the stub builder --------------------------------------------------------------------- */

typedef struct stub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* with mu */
    int gate;                    /* 1: a build stops once it has written pause_at bytes */
    uint64_t pause_at;
    int paused;                  /* a build is stopped at the gate */
    int64_t differ_from[NFILES]; /* -1, or the byte from which shard i's bytes change */
    int builds[NFILES];
} stub;

static stub st;

static uint8_t byte_at(uint32_t i, uint64_t j, int64_t differ_from)
{
    uint8_t v = (uint8_t)(i * 31 + j * 7 + (j >> 9));
    return differ_from >= 0 && j >= (uint64_t)differ_from ? (uint8_t)(v ^ 0x5a) : v;
}

static uint8_t *shard_bytes(uint32_t i, int64_t differ_from)
{
    uint8_t *b = malloc(SHARD_BYTES);
    for (uint64_t j = 0; b && j < SHARD_BYTES; j++)
        b[j] = byte_at(i, j, differ_from);
    return b;
}

static void wait_a_little(void) /* st.mu held: at most 5 ms (the caller loops) */
{
    cond_wait_ms(&st.cv, &st.mu, 5);
}

static int stub_build(void *ctx, uint32_t i, const tokfs_build_output *out,
                      tokfs_build_stats *stats, tokfs_err *err)
{
    (void)ctx;
    pthread_mutex_lock(&st.mu);
    st.builds[i]++;
    int64_t differ = st.differ_from[i];
    pthread_mutex_unlock(&st.mu);
    uint8_t *bytes = shard_bytes(i, differ);
    if (!bytes)
        return tokfs_err_set(err, ENOMEM, "stub: out of memory");
    uint64_t written = 0;
    int rc = 0;
    while (rc == 0 && written < SHARD_BYTES) {
        uint64_t len = SHARD_BYTES - written < WRITE ? SHARD_BYTES - written : WRITE;
        if ((rc = out->reserve(out->reserve_ctx, written + len)) != 0)
            break;
        if (write(out->fd, bytes + written, len) != (ssize_t)len) {
            rc = tokfs_err_set(err, EIO, "stub: write: %s", strerror(errno));
            break;
        }
        written += len;
        if (out->progress && (rc = out->progress(out->progress_ctx, written)) != 0)
            break;
        pthread_mutex_lock(&st.mu);
        if (st.gate && written >= st.pause_at) {
            st.paused = 1;
            pthread_cond_broadcast(&st.cv);
            while (st.gate && !cancelled(out))
                wait_a_little();
            st.paused = 0;
        }
        pthread_mutex_unlock(&st.mu);
        if (cancelled(out))
            rc = -ECANCELED;
    }
    if (rc == 0) {
        memset(stats, 0, sizeof *stats);
        stats->tokens = SHARD_BYTES / 2;
        stats->checksum = tokfs_hash64(bytes, SHARD_BYTES, 0);
        stats->documents = 1;
    }
    free(bytes);
    return rc;
}

static void stub_reset(void)
{
    pthread_mutex_lock(&st.mu);
    st.gate = 0;
    st.pause_at = 0;
    st.paused = 0;
    for (int i = 0; i < NFILES; i++) {
        st.differ_from[i] = -1;
        st.builds[i] = 0;
    }
    pthread_mutex_unlock(&st.mu);
}

/* Stop builds once they have written `at` bytes (gate closed), or let them go on. */
static void gate_set(int closed, uint64_t at)
{
    pthread_mutex_lock(&st.mu);
    st.gate = closed;
    st.pause_at = at;
    pthread_cond_broadcast(&st.cv);
    pthread_mutex_unlock(&st.mu);
}

/* Wait until a build stops at the gate. 0, or -ETIMEDOUT. */
static int wait_paused(void)
{
    pthread_mutex_lock(&st.mu);
    for (int k = 0; k < WAIT_MS / 5 && !st.paused; k++)
        wait_a_little();
    int paused = st.paused;
    pthread_mutex_unlock(&st.mu);
    return paused ? 0 : -ETIMEDOUT;
}

static int builds_of(uint32_t i)
{
    pthread_mutex_lock(&st.mu);
    int n = st.builds[i];
    pthread_mutex_unlock(&st.mu);
    return n;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* 1 when b's bytes [0, end) are shard i's (as the first make wrote them). */
static int backing_matches(tokfs_backing *b, uint32_t i, uint64_t end)
{
    uint8_t *want = shard_bytes(i, -1), *got = malloc(end ? end : 1);
    int ok = want && got && pread(tokfs_backing_fd(b), got, end, 0) == (ssize_t)end &&
             memcmp(got, want, end) == 0;
    free(want);
    free(got);
    return ok;
}

/* ---- the environment ---------------------------------------------------------------------- */

static char root[PATH_MAX], src_dir[PATH_MAX + 16];
static tokfs_tokenizer *tok;
static unsigned ncache;
static uint64_t fixed_bytes, shard_alloc, block_bytes;

typedef struct handle {
    tokfs_config cfg;
    tokfs_cache *c;
} handle;

static int open_cache(handle *h, const char *dir, uint64_t cap, unsigned workers,
                      unsigned prefetch)
{
    tokfs_err err = {""};
    memset(h, 0, sizeof *h);
    if (tokfs_config_init(&h->cfg, NULL, "/nonexistent-home", &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        check_failures++;
        return -EINVAL;
    }
    char cache_dir[PATH_MAX + 32];
    if (dir)
        snprintf(cache_dir, sizeof cache_dir, "%s", dir);
    else
        snprintf(cache_dir, sizeof cache_dir, "%s/cache-%u", root, ncache++);
    set_str(&h->cfg.source, src_dir);
    set_str(&h->cfg.cache_dir, cache_dir);
    set_str(&h->cfg.tokenizer, "bytes");
    h->cfg.shard_size = FILE_BYTES;
    h->cfg.val_shards = 1;
    h->cfg.cache_size = cap;
    h->cfg.workers = workers;
    h->cfg.prefetch = prefetch;
    stub_reset();
    tokfs_cache_hooks hooks = {.build = stub_build, .ctx = &st, .chunk_bytes = CHUNK};
    int rc = tokfs_cache_open_hooks(&h->cfg, tok, &hooks, &h->c, &err);
    if (rc == 0 && (rc = tokfs_cache_start(h->c, &err)) != 0)
        tokfs_cache_close(h->c);
    if (rc) {
        fprintf(stderr, "open %s: %d (%s)\n", cache_dir, rc, err.msg);
        check_failures++;
        tokfs_config_free(&h->cfg);
        return rc;
    }
    return 0;
}

static void close_cache(handle *h)
{
    gate_set(0, 0); /* a build stopped at the gate is cancelled by close anyway */
    tokfs_cache_close(h->c);
    h->c = NULL;
    tokfs_config_free(&h->cfg);
}

static const char *shard_state(tokfs_cache *c, uint32_t i)
{
    /* A copy of the state name: status.json is rendered and freed here. */
    static char state[32];
    json_t *s = status_of(c);
    const char *v = json_string_value(
        json_object_get(json_array_get(json_object_get(s, "shards"), i), "state"));
    snprintf(state, sizeof state, "%s", v ? v : "(none)");
    json_decref(s);
    return state;
}

static int64_t status_int(tokfs_cache *c, const char *key)
{
    json_t *s = status_of(c);
    int64_t v = (int64_t)json_integer_value(json_object_get(s, key));
    json_decref(s);
    return v;
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

/* Read bytes below `end` of shard i and wait for the answer; the status, *b the backing. */
static int read_sync(tokfs_cache *c, uint32_t i, uint64_t end, tokfs_backing **b)
{
    req r;
    req_init(&r);
    tokfs_cache_read(c, i, end, req_ready, &r);
    int rc = req_wait(&r);
    CHECK_EQ_INT(rc, 0);
    int status = rc ? rc : r.status;
    if (b)
        *b = r.backing;
    else if (r.backing)
        tokfs_cache_release(c, r.backing);
    req_destroy(&r);
    return status;
}

/* Make shards [0, n) in cache dir `dir` (a first make each), then close it. */
static void make_shards(const char *dir, uint32_t n)
{
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    for (uint32_t i = 0; i < n; i++)
        CHECK_EQ_INT(read_sync(h.c, i, UINT64_MAX, NULL), 0);
    close_cache(&h);
}

/* Remove shard i's cache file (an eviction while unmounted: the catalog keeps its size). */
static void remove_shard_file(const char *dir, uint32_t i)
{
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    char path[PATH_MAX + 64];
    cache_shard_path(h.c, i, path, sizeof path);
    close_cache(&h);
    CHECK_EQ_INT(unlink(path), 0);
}

/* The plan dir of the cache in `dir`. */
static void plan_dir_of(const char *dir, char *out, size_t size)
{
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    snprintf(out, size, "%s", h.c->dir);
    close_cache(&h);
}

/* ---- the cases ---------------------------------------------------------------------------- */

static void calibrate(void)
{
    handle h;
    if (open_cache(&h, NULL, 1ull << 30, 1, 0)) {
        CHECK(!"calibration: cannot open");
        exit(1);
    }
    CHECK_EQ_INT(h.c->plan.npieces, NFILES);
    fixed_bytes = h.c->fixed_bytes;
    block_bytes = h.c->block;
    CHECK_EQ_INT(read_sync(h.c, 0, UINT64_MAX, NULL), 0);
    cache_lock(h.c);
    shard_alloc = h.c->shards[0].disk_bytes;
    cache_unlock(h.c);
    close_cache(&h);
    CHECK(shard_alloc >= SHARD_BYTES);
}

static void check_sums_of(tokfs_cache *c, uint32_t i, int64_t differ_from)
{
    uint8_t *b = shard_bytes(i, differ_from);
    cache_lock(c);
    CHECK(c->shards[i].chunk_sums != NULL);
    CHECK_EQ_INT(c->shards[i].nchunks, NCHUNKS);
    for (uint32_t k = 0; b && c->shards[i].chunk_sums && k < c->shards[i].nchunks; k++) {
        uint64_t end = (k + 1) * CHUNK < SHARD_BYTES ? (k + 1) * CHUNK : SHARD_BYTES;
        CHECK(c->shards[i].chunk_sums[k] == tokfs_hash64(b + k * CHUNK, end - k * CHUNK, 0));
    }
    cache_unlock(c);
    free(b);
}

static int has_sums(tokfs_cache *c, uint32_t i)
{
    cache_lock(c);
    int v = c->shards[i].chunk_sums != NULL;
    cache_unlock(c);
    return v;
}

static void test_store(void)
{
    char dir[PATH_MAX + 32], plan[PATH_MAX], chunks[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/cache-store", root);
    make_shards(dir, 3);
    plan_dir_of(dir, plan, sizeof plan);
    snprintf(chunks, sizeof chunks, "%s/chunks.bin", plan);

    /* recorded at the first make and reloaded: each sum the hash of its chunk */
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    for (uint32_t i = 0; i < 3; i++)
        check_sums_of(h.c, i, -1);
    CHECK(!has_sums(h.c, 3));
    /* a record the catalog does not vouch for (other checksum) is appended: ignored at open */
    uint64_t fake[NCHUNKS] = {0};
    CHECK_EQ_INT(cache_chunks_store(h.c, 1, SHARD_BYTES, 12345, fake, NCHUNKS), 0);
    close_cache(&h);
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    check_sums_of(h.c, 1, -1);
    close_cache(&h);

    /* a torn record: the second one's check damaged; it and every record after it are
     * dropped, the first stays */
    int fd = open(chunks, O_RDWR);
    CHECK(fd >= 0);
    uint64_t rec = 32 + 8 * NCHUNKS + 8;
    uint8_t byte = 0;
    off_t at = (off_t)(64 + 2 * rec - 3); /* inside record 2's check */
    CHECK(pread(fd, &byte, 1, at) == 1);
    byte ^= 0xff;
    CHECK(pwrite(fd, &byte, 1, at) == 1);
    close(fd);
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    check_sums_of(h.c, 0, -1);
    CHECK(!has_sums(h.c, 1));
    CHECK(!has_sums(h.c, 2));
    /* appends go after the last whole record (over the torn one) */
    pthread_mutex_lock(&h.c->chunks_mu);
    CHECK_EQ_INT(h.c->chunks_end, 64 + rec);
    pthread_mutex_unlock(&h.c->chunks_mu);
    /* re-making 1 (its file removed below) records its sums again: a shard without sums gets
     * them from its next make */
    close_cache(&h);
    remove_shard_file(dir, 1);
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    CHECK(!has_sums(h.c, 1));
    CHECK_EQ_INT(read_sync(h.c, 1, UINT64_MAX, NULL), 0);
    check_sums_of(h.c, 1, -1);
    close_cache(&h);
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    check_sums_of(h.c, 0, -1);
    check_sums_of(h.c, 1, -1);
    close_cache(&h);

    /* a file mostly dead is compacted at open: the live records only, the same sums */
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    for (int k = 0; k < 40; k++)
        CHECK_EQ_INT(cache_chunks_store(h.c, 5, SHARD_BYTES, 1, fake, NCHUNKS), 0);
    close_cache(&h);
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    /* live: 0, 1 and 2 (2's record, after the torn one, was read again once 1's new record
     * covered the torn bytes: believed, as any record, only because the catalog vouches for it) */
    pthread_mutex_lock(&h.c->chunks_mu);
    CHECK_EQ_INT(h.c->chunks_end, 64 + 3 * rec);
    pthread_mutex_unlock(&h.c->chunks_mu);
    struct stat sb;
    CHECK_EQ_INT(stat(chunks, &sb), 0);
    CHECK_EQ_INT(sb.st_size, 64 + 3 * rec);
    check_sums_of(h.c, 0, -1);
    check_sums_of(h.c, 1, -1);
    check_sums_of(h.c, 2, -1);
    close_cache(&h);
}

/* chunks.bin is metadata under the cap: a fresh cache has none (no block), and the blocks of
 * the first record are counted in fixed_bytes (test_cache's hammer checks du against the cap at
 * every reserve, with records being appended). */
static void test_store_budget(void)
{
    handle h;
    if (open_cache(&h, NULL, 1ull << 30, 1, 0))
        return;
    char chunks[PATH_MAX + 16];
    snprintf(chunks, sizeof chunks, "%s/chunks.bin", h.c->dir);
    CHECK(access(chunks, F_OK) != 0);
    cache_lock(h.c);
    uint64_t fixed0 = h.c->fixed_bytes;
    cache_unlock(h.c);
    CHECK_EQ_INT(read_sync(h.c, 0, UINT64_MAX, NULL), 0);
    struct stat sb;
    CHECK_EQ_INT(stat(chunks, &sb), 0);
    cache_lock(h.c);
    CHECK_EQ_INT(h.c->fixed_bytes, fixed0 + (uint64_t)sb.st_blocks * 512);
    cache_unlock(h.c);
    close_cache(&h);
}

static void test_early_read(void)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/cache-early", root);
    make_shards(dir, 1);
    remove_shard_file(dir, 0);
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    uint64_t size = 0;
    CHECK_EQ_INT(tokfs_cache_known_size(h.c, 0, &size), 0);
    CHECK_EQ_INT(size, SHARD_BYTES);
    gate_set(1, 4 * CHUNK + WRITE); /* stops with chunks 1-4 written and one half more */

    /* the first bytes: answered while the build is stopped, from its file */
    req first;
    req_init(&first);
    tokfs_cache_read(h.c, 0, 2 * CHUNK, req_ready, &first);
    CHECK_EQ_INT(req_wait(&first), 0);
    CHECK_EQ_INT(first.status, 0);
    CHECK_EQ_INT(first.size, SHARD_BYTES);
    CHECK_EQ_INT(wait_paused(), 0);
    CHECK_STR(shard_state(h.c, 0), "materializing");
    CHECK(first.backing && backing_matches(first.backing, 0, 2 * CHUNK));
    /* up to what is checked, answered at once now */
    req at_once;
    req_init(&at_once);
    tokfs_cache_read(h.c, 0, 4 * CHUNK, req_ready, &at_once);
    CHECK_EQ_INT(req_calls(&at_once), 1);
    CHECK_EQ_INT(at_once.status, 0);
    CHECK(at_once.backing && backing_matches(at_once.backing, 0, 4 * CHUNK));
    /* past the half-written chunk: waits (the build is stopped: it cannot be answered) */
    req later;
    req_init(&later);
    tokfs_cache_read(h.c, 0, 4 * CHUNK + 1, req_ready, &later);
    CHECK_EQ_INT(wait_paused(), 0);
    CHECK_EQ_INT(req_calls(&later), 0);
    CHECK_STR(shard_state(h.c, 0), "materializing");
    gate_set(0, 0);
    CHECK_EQ_INT(req_wait(&later), 0);
    CHECK_EQ_INT(later.status, 0);
    CHECK(later.backing && backing_matches(later.backing, 0, 4 * CHUNK + 1));
    wait_idle(h.c);
    CHECK_STR(shard_state(h.c, 0), "cached");
    /* the early backing is the cached shard's file: the whole shard reads right through it */
    CHECK(first.backing && backing_matches(first.backing, 0, SHARD_BYTES));
    CHECK_EQ_INT(status_int(h.c, "early_reads"), 3);
    CHECK_EQ_INT(builds_of(0), 1);
    tokfs_cache_release(h.c, first.backing);
    tokfs_cache_release(h.c, at_once.backing);
    tokfs_cache_release(h.c, later.backing);
    req_destroy(&first);
    req_destroy(&at_once);
    req_destroy(&later);
    close_cache(&h);
}

static void test_differs(void)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/cache-differs", root);
    make_shards(dir, 1);
    remove_shard_file(dir, 0);
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    pthread_mutex_lock(&st.mu);
    st.differ_from[0] = 5 * CHUNK + 100; /* inside chunk 6 (bytes 5120-6144) */
    pthread_mutex_unlock(&st.mu);
    gate_set(1, 4 * CHUNK);
    tokfs_backing *b = NULL;
    CHECK_EQ_INT(read_sync(h.c, 0, 3 * CHUNK, &b), 0);
    CHECK(b && backing_matches(b, 0, 3 * CHUNK));
    CHECK_EQ_INT(wait_paused(), 0);
    req past, whole;
    req_init(&past);
    req_init(&whole);
    tokfs_cache_read(h.c, 0, 6 * CHUNK, req_ready, &past);
    tokfs_cache_get(h.c, 0, 1, 1, req_ready, &whole);
    gate_set(0, 0);
    CHECK_EQ_INT(req_wait(&past), 0);
    CHECK_EQ_INT(req_wait(&whole), 0);
    CHECK_EQ_INT(past.status, -EIO);
    CHECK_EQ_INT(whole.status, -EIO);
    CHECK(past.backing == NULL && whole.backing == NULL);
    /* what was handed out before is still the first make's bytes */
    CHECK(b && backing_matches(b, 0, 3 * CHUNK));
    tokfs_cache_release(h.c, b);
    wait_idle(h.c);
    json_t *s = status_of(h.c);
    const char *last = json_string_value(json_object_get(s, "last_error"));
    CHECK(last && strstr(last, "train/shard_00000.bin re-made differs from the first time in "
                               "bytes 5120-6144 (chunk 6 of 12)") == last);
    CHECK(last && strstr(last, "a source changed upstream") != NULL);
    json_decref(s);
    CHECK_STR(shard_state(h.c, 0), "remote");
    /* bytes before the change are still served (a new make, checked up to there); after, EIO */
    CHECK_EQ_INT(read_sync(h.c, 0, 5 * CHUNK, &b), 0);
    CHECK(b && backing_matches(b, 0, 5 * CHUNK));
    tokfs_cache_release(h.c, b);
    CHECK_EQ_INT(read_sync(h.c, 0, 5 * CHUNK + 1, NULL), -EIO);
    wait_idle(h.c);
    CHECK(builds_of(0) >= 2);
    req_destroy(&past);
    req_destroy(&whole);
    close_cache(&h);
}

static void test_no_sums(void)
{
    char dir[PATH_MAX + 32], plan[PATH_MAX], chunks[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/cache-nosums", root);
    make_shards(dir, 1);
    remove_shard_file(dir, 0);
    plan_dir_of(dir, plan, sizeof plan);
    snprintf(chunks, sizeof chunks, "%s/chunks.bin", plan);
    CHECK_EQ_INT(unlink(chunks), 0); /* as a cache made before chunk sums */
    handle h;
    if (open_cache(&h, dir, 1ull << 30, 1, 0))
        return;
    CHECK(!has_sums(h.c, 0));
    gate_set(1, 6 * CHUNK);
    req r;
    req_init(&r);
    tokfs_cache_read(h.c, 0, CHUNK, req_ready, &r);
    CHECK_EQ_INT(wait_paused(), 0);
    CHECK_EQ_INT(req_calls(&r), 0); /* stopped halfway: only a whole build answers */
    gate_set(0, 0);
    CHECK_EQ_INT(req_wait(&r), 0);
    CHECK_EQ_INT(r.status, 0);
    CHECK(r.backing && backing_matches(r.backing, 0, SHARD_BYTES));
    tokfs_cache_release(h.c, r.backing);
    req_destroy(&r);
    wait_idle(h.c);
    CHECK_EQ_INT(status_int(h.c, "early_reads"), 0);
    check_sums_of(h.c, 0, -1); /* recorded by that build */
    close_cache(&h);
}

/* ---- the writer: header first, progress --------------------------------------------------- */

typedef struct progress_log {
    uint64_t calls, first, last;
    int fd;
    int header_seen_first; /* at the first call, the file's header was already there */
} progress_log;

static int progress_cb(void *ctx, uint64_t done)
{
    progress_log *p = ctx;
    if (p->calls == 0) {
        p->first = done;
        uint8_t head[8];
        p->header_seen_first = pread(p->fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
                               head[0] != 0;
    }
    CHECK(done >= p->last);
    p->calls++;
    p->last = done;
    return 0;
}

/* n ids through a writer of the llm.c layout; expected: the count to announce, or -1. Returns
 * the file's bytes (malloc'd) and its length. */
static uint8_t *write_llmc(uint64_t n, int64_t expected, progress_log *p, size_t *len)
{
    char path[] = "/tmp/tokfs-early-writer-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    p->fd = fd;
    tokfs_build_output out = {.fd = fd, .has_expected_ids = expected >= 0,
                              .expected_ids = expected >= 0 ? (uint64_t)expected : 0,
                              .progress = progress_cb, .progress_ctx = p};
    tokfs_err err = {""};
    tokfs_build_stats stats = {0};
    tokfs_builder b = {.stats = &stats, .err = &err};
    tokfs_build_writer w;
    tokfs_layout l = tokfs_layout_raw(2, 50256);
    l.format = TOKFS_OUT_LLMC;
    l.header_bytes = TOKFS_LLMC_HEADER_BYTES;
    CHECK_EQ_INT(tokfs_build_writer_open(&w, &b, &out, &l), 0);
    uint32_t *ids = malloc(n * sizeof *ids);
    for (uint64_t k = 0; k < n; k++)
        ids[k] = (uint32_t)(k % 50000);
    CHECK_EQ_INT(tokfs_build_writer_put_verbatim(&w, ids, n), 0);
    CHECK_EQ_INT(tokfs_build_writer_finish(&w), 0);
    tokfs_build_writer_free(&w);
    free(ids);
    struct stat s;
    CHECK_EQ_INT(fstat(fd, &s), 0);
    *len = (size_t)s.st_size;
    uint8_t *bytes = malloc(*len);
    CHECK(pread(fd, bytes, *len, 0) == (ssize_t)*len);
    close(fd);
    return bytes;
}

static void test_writer(void)
{
    const uint64_t n = 1500000; /* 3 MB of ids: several 1 MiB blocks */
    progress_log hole = {0}, first = {0}, wrong = {0};
    size_t len_hole, len_first, len_wrong;
    uint8_t *a = write_llmc(n, -1, &hole, &len_hole);
    uint8_t *b = write_llmc(n, (int64_t)n, &first, &len_first);
    uint8_t *c = write_llmc(n, (int64_t)n + 7, &wrong, &len_wrong);
    /* the same file either way */
    CHECK_MEM(a, len_hole, b, len_first);
    CHECK_MEM(a, len_hole, c, len_wrong);
    /* with the header's hole, nothing is final until finish: one call, the whole file */
    CHECK_EQ_INT(hole.calls, 1);
    CHECK_EQ_INT(hole.first, len_hole);
    /* header first: final from the header on, growing block by block to the whole file */
    CHECK_EQ_INT(first.first, TOKFS_LLMC_HEADER_BYTES);
    CHECK(first.header_seen_first);
    CHECK(first.calls >= 4);
    CHECK_EQ_INT(first.last, len_first);
    /* the count announced was wrong: the header was rewritten with the real one */
    CHECK_EQ_INT(wrong.first, TOKFS_LLMC_HEADER_BYTES);
    CHECK_EQ_INT(wrong.last, len_wrong);
    free(a);
    free(b);
    free(c);
}

/* ---- prefetch that evicts ----------------------------------------------------------------- */

static uint64_t cap_of(double shards)
{
    return fixed_bytes + (uint64_t)(shards * (double)shard_alloc) + 2 * block_bytes;
}

static void test_prefetch_evicts(void)
{
    handle h;
    /* one worker: a prefetch is picked once the demand build before it has settled its room
     * (two builds' reservations at once would not fit this cap, and the prefetch is dropped) */
    if (open_cache(&h, NULL, cap_of(2.5), 1, 1))
        return;
    /* a sweep: reading k makes k + 1 ahead; under a cap of 2 shards, k + 1 evicts k - 1 */
    for (uint32_t k = 0; k < 4; k++) {
        CHECK_EQ_INT(read_sync(h.c, k, UINT64_MAX, NULL), 0);
        wait_idle(h.c);
        CHECK_STR(shard_state(h.c, k), "cached");
        CHECK_STR(shard_state(h.c, k + 1), "cached"); /* made before it is read */
        if (k >= 1)
            CHECK_STR(shard_state(h.c, k - 1), "evicted");
        CHECK_EQ_INT(builds_of(k + 1), 1);
    }
    CHECK_EQ_INT(status_int(h.c, "failures"), 0);
    close_cache(&h);

    /* never one a reader holds: 0 held while 1 is read, so 2 is not made; once 0 is let go, a
     * read of 1 makes 2, evicting 0 */
    if (open_cache(&h, NULL, cap_of(2.5), 1, 1))
        return;
    tokfs_backing *held = NULL;
    CHECK_EQ_INT(read_sync(h.c, 0, UINT64_MAX, &held), 0);
    wait_idle(h.c);
    CHECK_STR(shard_state(h.c, 1), "cached");
    CHECK_EQ_INT(read_sync(h.c, 1, UINT64_MAX, NULL), 0);
    wait_idle(h.c);
    CHECK_STR(shard_state(h.c, 0), "cached");
    CHECK_STR(shard_state(h.c, 2), "remote");
    CHECK_EQ_INT(builds_of(2), 0);
    tokfs_cache_release(h.c, held);
    CHECK_EQ_INT(read_sync(h.c, 1, UINT64_MAX, NULL), 0);
    wait_idle(h.c);
    CHECK_STR(shard_state(h.c, 0), "evicted");
    CHECK_STR(shard_state(h.c, 2), "cached");
    close_cache(&h);

    /* never the shard whose read queued it: with room for one shard, reading 0 does not make
     * 1 (one worker: 0's build runs first, then 1's prefetch finds only 0 to evict) */
    if (open_cache(&h, NULL, cap_of(1.5), 1, 1))
        return;
    CHECK_EQ_INT(read_sync(h.c, 0, UINT64_MAX, NULL), 0);
    wait_idle(h.c);
    /* one shard fits: 1 may not evict 0 (the shard whose read queued it) */
    CHECK_STR(shard_state(h.c, 0), "cached");
    CHECK_STR(shard_state(h.c, 1), "remote");
    close_cache(&h);
}

int main(void)
{
    alarm(300);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    if (make_corpus(root, "/tmp/tokfs-early-", src_dir, sizeof src_dir, NFILES, FILE_BYTES) != 0)
        return 1;
    tokfs_err err = {""};
    if (tokfs_tokenizer_open("bytes", NULL, NULL, &tok, &err) != 0) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    calibrate();
    test_store();
    test_store_budget();
    test_early_read();
    test_differs();
    test_no_sums();
    test_writer();
    test_prefetch_evicts();
    tokfs_tokenizer_close(tok);
    rm_tree(root);
    CHECK_DONE();
}
