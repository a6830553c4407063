/* The catalog, plan-<id>/catalog.bin: the token count and checksum of every shard ever made, so
 * sizes are exact whenever reported (they survive eviction and remount) and a re-made shard can
 * be compared with the first. A 64-byte header (magic, version, piece count, plan id, id width)
 * and one fixed 32-byte record per piece (tokens, checksum, megatron .idx bytes), written with
 * pwrite + fdatasync when a shard is first made and never rewritten whole; a check hash makes a
 * torn record read as unknown. */
#include "cache/cache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"

#define CATALOG_MAGIC "TOKFSCAT"
#define CATALOG_HEADER_BYTES 64
#define CATALOG_RECORD_BYTES 32

typedef struct catalog_record {
    uint64_t tokens;
    uint64_t checksum;
    uint64_t index_bytes;  /* the .idx part of a megatron shard (0 otherwise, and in catalogs
                            * made before layouts, which were all raw) */
    uint32_t valid;
    uint32_t check; /* detects a torn or damaged record */
} catalog_record;

_Static_assert(sizeof(catalog_record) == CATALOG_RECORD_BYTES, "catalog record layout");

static uint32_t record_check(const catalog_record *r)
{
    return (uint32_t)tokfs_hash64(r, offsetof(catalog_record, check), 0xCA7A10Full);
}

/* Allocate every record's blocks now: a sparse catalog would grow a block at a time as records
 * are written, past the metadata size measured at start (breaking the cap), and a record could
 * then fail on a full disk. Filesystems without fallocate keep the sparse file. */
static int catalog_allocate(tokfs_cache *c, const char *path, off_t size, tokfs_err *err)
{
    int rc = posix_fallocate(c->catalog_fd, 0, size); /* a positive errno, not -1 + errno */
    if (rc == 0 || rc == EOPNOTSUPP || rc == EINVAL)
        return 0;
    return tokfs_err_set(err, rc, "cannot allocate %s (%lld bytes): %s", path, (long long)size,
                         strerror(rc));
}

int cache_catalog_open(tokfs_cache *c, tokfs_err *err)
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
                c->shards[i].index_bytes = r.index_bytes;
                c->shards[i].cataloged = 1;
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

int cache_catalog_store(tokfs_cache *c, uint32_t i, uint64_t tokens, uint64_t checksum,
                        uint64_t index_bytes)
{
    TOKFS_CACHE_ASSERT_UNLOCKED(c); /* a disk write and a flush: never under mu */
    catalog_record r = {.tokens = tokens, .checksum = checksum, .index_bytes = index_bytes,
                        .valid = 1};
    r.check = record_check(&r);
    off_t at = CATALOG_HEADER_BYTES + (off_t)i * CATALOG_RECORD_BYTES;
    ssize_t n = pwrite(c->catalog_fd, &r, sizeof r, at);
    if (n < 0)
        return -errno;
    if (n != (ssize_t)sizeof r)
        return -EIO; /* the blocks are allocated at open: a short write is not "disk full" */
    if (fdatasync(c->catalog_fd) != 0)
        return -errno;
    return 0;
}
