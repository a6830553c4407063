/* Chunk sums, plan-<id>/chunks.bin: for every shard made, a checksum of each fixed chunk of its
 * cache file (TOKFS_CACHE_CHUNK_BYTES; the last chunk is what is left), recorded the first time
 * it is made. A re-make (after eviction) is then checked chunk by chunk as it is written, so a
 * reader waiting for bytes [a, b) is answered once the chunks covering them are written and
 * equal to the first make's, not when the whole shard is done (workers.c, EARLY READS in
 * cache_internal.h).
 *
 * The file: a 64-byte header (magic, version, chunk size, piece count, plan id) and records
 * appended one after another, each
 *     u32 magic, u32 shard index, u64 file bytes, u64 whole-file checksum (the catalog's),
 *     u32 chunk count, u32 zero, u64 sum[count], u64 check (a hash of all of the above)
 * written with pwrite + fdatasync and never rewritten. The records are read in order at open and
 * the first that is not whole (wrong magic, bad check: a torn append) ends them; later records of
 * a shard replace earlier ones. A record is used only when the catalog vouches for the shard with
 * the same size and checksum, so a record left by a build whose catalog entry never got written,
 * or by an older make of other bytes, is never believed. The file is metadata in the budget:
 * made at the first append (a cache that never records sums has none), its blocks counted in
 * fixed_bytes (measured at open; each append that needs a new block adds it first, only if it
 * fits under the cap, and allocates it: a record never evicts a shard; without room the shard
 * simply has no sums, and its re-makes are served whole, as before chunk sums). About 56 bytes
 * a shard plus 8 a MiB. At open, a file more than a quarter dead (replaced, unvouched or torn
 * records) is rewritten with its live records only and truncated. */
#include "cache/cache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"

#define CHUNKS_MAGIC "TOKFSCHK"
#define CHUNKS_HEADER_BYTES 64
#define RECORD_MAGIC 0x4b484354u /* "TCHK" little-endian */
#define RECORD_HEAD_BYTES 32
#define CHECK_SEED 0xC4C5C6C7ull

static uint64_t record_bytes(uint32_t n)
{
    return RECORD_HEAD_BYTES + 8 * (uint64_t)n + 8;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The record for these sums, in a malloc'd buffer of record_bytes(n) bytes (NULL: no memory). */
static uint8_t *make_record(uint32_t index, uint64_t file_bytes, uint64_t checksum,
                            const uint64_t *sums, uint32_t n)
{
    uint64_t len = record_bytes(n);
    uint8_t *r = calloc(1, len);
    if (!r)
        return NULL;
    put32(r, RECORD_MAGIC);
    put32(r + 4, index);
    put64(r + 8, file_bytes);
    put64(r + 16, checksum);
    put32(r + 24, n);
    for (uint32_t k = 0; k < n; k++)
        put64(r + RECORD_HEAD_BYTES + 8 * (uint64_t)k, sums[k]);
    put64(r + len - 8, tokfs_hash64(r, len - 8, CHECK_SEED));
    return r;
}

static void make_header(const tokfs_cache *c, uint8_t *header)
{
    memset(header, 0, CHUNKS_HEADER_BYTES);
    memcpy(header, CHUNKS_MAGIC, 8);
    put32(header + 8, 1); /* version */
    put32(header + 12, c->chunk_bytes);
    put32(header + 16, c->plan.npieces);
    put64(header + 24, c->plan.id);
}

/* Read the records in buf (the file after its header, len bytes): set the sums of the shards
 * they match. Returns the bytes of whole records (where the next append goes); *live: bytes of
 * the records in use. */
static uint64_t load_records(tokfs_cache *c, const uint8_t *buf, uint64_t len, uint64_t *live)
{
    uint64_t at = 0;
    uint64_t *used_bytes = calloc(c->plan.npieces ? c->plan.npieces : 1, sizeof *used_bytes);
    *live = 0;
    while (len - at >= RECORD_HEAD_BYTES + 8) {
        const uint8_t *r = buf + at;
        uint32_t n = get32(r + 24);
        if (get32(r) != RECORD_MAGIC || n > (len - at - RECORD_HEAD_BYTES - 8) / 8)
            break;
        uint64_t rlen = record_bytes(n);
        if (get64(r + rlen - 8) != tokfs_hash64(r, rlen - 8, CHECK_SEED))
            break; /* torn: this and everything after it is not believed */
        at += rlen;
        uint32_t i = get32(r + 4);
        uint64_t file_bytes = get64(r + 8), checksum = get64(r + 16);
        if (i >= c->plan.npieces || n != cache_chunk_count(c, file_bytes))
            continue;
        shard *s = &c->shards[i];
        if (s->tokens < 0 || cache_shard_bytes(c, s) != file_bytes || s->checksum != checksum)
            continue; /* not what the catalog vouches for */
        uint64_t *sums = malloc((n ? n : 1) * sizeof *sums);
        if (!sums)
            continue; /* no sums: served whole, never wrong */
        for (uint32_t k = 0; k < n; k++)
            sums[k] = get64(r + RECORD_HEAD_BYTES + 8 * (uint64_t)k);
        free(s->chunk_sums);
        s->chunk_sums = sums;
        s->nchunks = n;
        if (used_bytes)
            used_bytes[i] = rlen;
    }
    for (uint32_t i = 0; used_bytes && i < c->plan.npieces; i++)
        *live += used_bytes[i];
    free(used_bytes);
    return at;
}

/* Rewrite the records after the header with the live ones only, and give back the blocks past
 * them. A crash halfway leaves a torn record where the rewrite stopped: the sums after it are
 * lost (those shards are served whole until re-made), none is wrong. At open. 0 or -errno. */
static int compact(tokfs_cache *c)
{
    uint64_t at = CHUNKS_HEADER_BYTES;
    for (uint32_t i = 0; i < c->plan.npieces; i++) {
        shard *s = &c->shards[i];
        if (!s->chunk_sums)
            continue;
        uint8_t *r = make_record(i, cache_shard_bytes(c, s), s->checksum, s->chunk_sums,
                                 s->nchunks);
        if (!r)
            return -ENOMEM;
        uint64_t len = record_bytes(s->nchunks);
        ssize_t n = pwrite(c->chunks_fd, r, len, (off_t)at);
        free(r);
        if (n != (ssize_t)len)
            return n < 0 ? -errno : -EIO;
        at += len;
    }
    if (ftruncate(c->chunks_fd, (off_t)at) != 0 || fdatasync(c->chunks_fd) != 0)
        return -errno;
    struct stat st;
    if (fstat(c->chunks_fd, &st) != 0)
        return -errno;
    c->chunks_end = at;
    c->chunks_alloc = cache_allocated_bytes(&st);
    return 0;
}

int cache_chunks_open(tokfs_cache *c, tokfs_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/chunks.bin", c->dir);
    c->chunks_end = c->chunks_alloc = 0;
    c->chunks_fd = open(path, O_RDWR | O_CLOEXEC);
    if (c->chunks_fd < 0) {
        if (errno == ENOENT)
            return 0; /* made by the first record */
        return tokfs_err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
    }
    uint8_t header[CHUNKS_HEADER_BYTES], seen[CHUNKS_HEADER_BYTES];
    make_header(c, header);
    struct stat st;
    if (fstat(c->chunks_fd, &st) != 0)
        return tokfs_err_set(err, errno, "cannot stat %s: %s", path, strerror(errno));
    if (st.st_size >= CHUNKS_HEADER_BYTES &&
        pread(c->chunks_fd, seen, sizeof seen, 0) == (ssize_t)sizeof seen &&
        memcmp(seen, header, sizeof header) == 0) {
        uint64_t len = (uint64_t)st.st_size - CHUNKS_HEADER_BYTES, live = 0, whole = 0;
        uint8_t *buf = malloc(len ? len : 1);
        if (buf && pread(c->chunks_fd, buf, len, CHUNKS_HEADER_BYTES) == (ssize_t)len)
            whole = load_records(c, buf, len, &live);
        free(buf);
        c->chunks_end = CHUNKS_HEADER_BYTES + whole;
        c->chunks_alloc = cache_allocated_bytes(&st);
        /* Dead: records replaced or not vouched for (what follows a torn one is written over
         * by the next appends). */
        if (whole - live > whole / 4 && compact(c) != 0)
            tokfs_log(TOKFS_LOG_WARN, "cannot compact %s: chunk sums start over", path);
        else
            return 0;
    }
    /* Made for something else (or not compacted): start empty. Until sums are recorded again,
     * re-makes are served whole. */
    for (uint32_t i = 0; i < c->plan.npieces; i++) {
        free(c->shards[i].chunk_sums);
        c->shards[i].chunk_sums = NULL;
        c->shards[i].nchunks = 0;
    }
    if (ftruncate(c->chunks_fd, 0) != 0)
        return tokfs_err_set(err, errno, "cannot truncate %s: %s", path, strerror(errno));
    c->chunks_end = c->chunks_alloc = 0;
    return 0;
}

/* Make room for the file to hold `end` bytes: its new blocks are counted in fixed_bytes, under
 * the cap, then allocated. chunks_mu held. 0, -ENOSPC (no room under the cap), or -errno. */
static int grow_to(tokfs_cache *c, uint64_t end)
{
    uint64_t want = cache_round_up(end, c->block);
    if (want <= c->chunks_alloc)
        return 0;
    uint64_t more = want - c->chunks_alloc;
    cache_lock(c);
    int fits = c->fixed_bytes + c->data_bytes + more <= c->cap;
    if (fits)
        c->fixed_bytes += more;
    cache_unlock(c);
    if (!fits)
        return -ENOSPC;
    /* Counted before it exists, so du never sees more than the budget does. If the allocation
     * fails the count stays: an overestimate, never over the cap. */
    c->chunks_alloc = want;
    int rc = posix_fallocate(c->chunks_fd, 0, (off_t)want);
    return rc == 0 || rc == EOPNOTSUPP || rc == EINVAL ? 0 : -rc;
}

int cache_chunks_store(tokfs_cache *c, uint32_t index, uint64_t file_bytes, uint64_t checksum,
                       const uint64_t *sums, uint32_t n)
{
    TOKFS_CACHE_ASSERT_UNLOCKED(c); /* file I/O and a flush: never under mu */
    uint64_t len = record_bytes(n);
    uint8_t *r = make_record(index, file_bytes, checksum, sums, n);
    if (!r)
        return -ENOMEM;
    pthread_mutex_lock(&c->chunks_mu);
    int rc = 0;
    if (c->chunks_fd < 0) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/chunks.bin", c->dir);
        c->chunks_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (c->chunks_fd < 0)
            rc = -errno;
    }
    uint64_t at = c->chunks_end ? c->chunks_end : CHUNKS_HEADER_BYTES;
    if (rc == 0)
        rc = grow_to(c, at + len);
    if (rc == 0 && c->chunks_end == 0) {
        uint8_t header[CHUNKS_HEADER_BYTES];
        make_header(c, header);
        ssize_t w = pwrite(c->chunks_fd, header, sizeof header, 0);
        rc = w == (ssize_t)sizeof header ? 0 : w < 0 ? -errno : -EIO;
    }
    if (rc == 0) {
        ssize_t w = pwrite(c->chunks_fd, r, len, (off_t)at);
        rc = w == (ssize_t)len ? 0 : w < 0 ? -errno : -EIO;
    }
    if (rc == 0 && fdatasync(c->chunks_fd) != 0)
        rc = -errno;
    /* A failed write may leave a torn record at `at`: the next append goes over it. */
    if (rc == 0)
        c->chunks_end = at + len;
    pthread_mutex_unlock(&c->chunks_mu);
    free(r);
    return rc;
}

int cache_chunk_sum(const tokfs_cache *c, int fd, uint32_t k, uint64_t file_bytes, uint64_t *sum)
{
    TOKFS_CACHE_ASSERT_UNLOCKED(c); /* reads a chunk: never under mu */
    uint64_t begin = (uint64_t)k * c->chunk_bytes;
    uint64_t end = begin + c->chunk_bytes < file_bytes ? begin + c->chunk_bytes : file_bytes;
    uint8_t buf[64 << 10];
    tokfs_hash h;
    tokfs_hash_init(&h, 0);
    while (begin < end) {
        size_t want = end - begin < sizeof buf ? (size_t)(end - begin) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)begin);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        tokfs_hash_update(&h, buf, (size_t)n);
        begin += (uint64_t)n;
    }
    *sum = tokfs_hash_final(&h);
    return 0;
}
