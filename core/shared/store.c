/* Where a shard set lives (shared_internal.h, "store"): a directory (local, NFS, Lustre) or an
 * S3 prefix (s3://BUCKET/PREFIX). The rest of core/shared/ names objects by their path inside
 * DEST ("set.json", "shards/000003.bin") and goes through these calls, which publish the same
 * way in both: a directory through a temp file in DEST/tmp, fsync and rename (or link for
 * create-if-absent); S3 through one complete PUT per object (an object appears whole or not at
 * all), staged in a local temp file when it is built. */
#include "shared/shared_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "source/fetch_config.h"
#include "source/hf.h"
#include "source/s3.h"

#define TEXT_MAX (64u << 20) /* set.json, plan.tsv, a record, the manifest */

int store_init(tokfs_shard_set *s, const char *dest, tokfs_err *err)
{
    if (strlen(dest) + 32 >= sizeof s->dest)
        return tokfs_err_set(err, ENAMETOOLONG, "DEST too long: %s", dest);
    snprintf(s->dest, sizeof s->dest, "%s", dest);
    if (!tokfs_s3_is_source(dest))
        return 0;
    s->s3 = 1;
    tokfs_s3_ref ref;
    int rc = tokfs_s3_parse(dest, &ref, err);
    if (rc)
        return rc;
    if (tokfs_hf_has_glob(ref.pattern))
        return tokfs_err_set(err, EINVAL, "DEST %s: a prefix, not a glob", dest);
    snprintf(s->bucket, sizeof s->bucket, "%s", ref.bucket);
    size_t n = strlen(ref.pattern);
    snprintf(s->prefix, sizeof s->prefix, "%s%s", ref.pattern,
             n && ref.pattern[n - 1] != '/' ? "/" : "");
    char bucket_url[600], qprefix[3 * sizeof s->prefix];
    tokfs_err uerr = {{0}};
    if ((rc = tokfs_s3_bucket_url(s->cfg, ref.bucket, bucket_url, sizeof bucket_url, &uerr)))
        return tokfs_err_set(err, -rc, "DEST %s: %s", dest, uerr.msg);
    if (tokfs_url_quote(s->prefix, 1, qprefix, sizeof qprefix) ||
        snprintf(s->base_url, sizeof s->base_url, "%s/%s", bucket_url, qprefix) >=
            (int)sizeof s->base_url)
        return tokfs_err_set(err, ENAMETOOLONG, "DEST %s: too long", dest);
    return 0;
}

tokfs_fetcher *tokfs_shard_set_fetcher(const tokfs_shard_set *s)
{
    if (!s->s3)
        return NULL;
    tokfs_config cfg = *s->cfg;
    cfg.source = (char *)s->dest; /* sign for DEST's bucket (a copy: nothing is freed) */
    return tokfs_fetcher_for_config(&cfg);
}

/* DEST's URL of rel (s3), percent-encoded as SigV4 wants. */
static int object_url(const tokfs_shard_set *s, const char *rel, char *out, size_t size)
{
    char q[2048];
    if (tokfs_url_quote(rel, 1, q, sizeof q))
        return -ENAMETOOLONG;
    return snprintf(out, size, "%s%s", s->base_url, q) >= (int)size ? -ENAMETOOLONG : 0;
}

int store_name(const tokfs_shard_set *s, const char *rel, char *out, size_t size)
{
    if (s->s3)
        return snprintf(out, size, "s3://%s/%s%s", s->bucket, s->prefix, rel) >= (int)size
                   ? -ENAMETOOLONG : 0;
    return snprintf(out, size, "%s/%s", s->dest, rel) >= (int)size ? -ENAMETOOLONG : 0;
}

static int need_fetcher(const tokfs_shard_set *s, tokfs_fetcher *f, tokfs_err *err)
{
    if (s->s3 && !f)
        return tokfs_err_set(err, EINVAL, "no HTTP client for DEST %s", s->dest);
    return 0;
}

/* Where rel is for a request: its URL (S3, which needs a fetcher) or its path (a directory). */
static int locate(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, char *where,
                  size_t size, tokfs_err *err)
{
    int rc = need_fetcher(s, f, err);
    if (rc)
        return rc;
    if (s->s3 ? object_url(s, rel, where, size) : store_name(s, rel, where, size))
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long");
    return 0;
}

int store_get_text(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, char **text,
                   size_t *len, tokfs_err *err)
{
    char where[PATH_MAX];
    *text = NULL;
    int rc = locate(s, f, rel, where, sizeof where, err);
    if (rc)
        return rc;
    if (s->s3)
        return tokfs_fetch_small(f, where, TEXT_MAX, text, len, err);
    FILE *in = fopen(where, "rb");
    if (!in)
        return tokfs_err_set(err, errno, "cannot open %s: %s", where, strerror(errno));
    tokfs_buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
        rc = b.len + n > TEXT_MAX ? -EFBIG : tokfs_buf_append(&b, chunk, n);
    if (rc == 0 && ferror(in))
        rc = -EIO;
    fclose(in);
    if (rc == 0)
        rc = tokfs_buf_reserve(&b, 1);
    if (rc) {
        tokfs_buf_free(&b);
        return tokfs_err_set(err, -rc, "cannot read %s: %s", where, strerror(-rc));
    }
    b.data[b.len] = '\0';
    *text = (char *)b.data;
    *len = b.len;
    return 0;
}

int store_put_text(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel,
                   const char *text, int exclusive, tokfs_err *err)
{
    char where[PATH_MAX];
    int rc = locate(s, f, rel, where, sizeof where, err);
    if (rc)
        return rc;
    if (s->s3) {
        if (exclusive) {
            /* S3 has no create-if-absent for every store: look first. Two first tasks racing
             * both write their text; for the same set it is the same bytes (docs/shared.md). */
            tokfs_object_info info;
            tokfs_err serr = {{0}};
            int src = tokfs_fetch_stat(f, where, &info, &serr);
            if (src == 0)
                return 0;
            if (src != -ENOENT) {
                *err = serr;
                return src;
            }
        }
        return tokfs_fetch_put(f, where, text, -1, strlen(text), err);
    }
    return shared_write_text(s, where, text, exclusive, err);
}

int store_stage(const tokfs_shard_set *s, const char *what, char *tmp, size_t size,
                tokfs_err *err)
{
    static _Atomic unsigned serial;
    int n;
    if (s->s3) {
        const char *dir = getenv("TMPDIR");
        n = snprintf(tmp, size, "%s/tokfs-stage-%s.XXXXXX", dir && *dir ? dir : "/tmp", what);
    } else {
        n = snprintf(tmp, size, "%s/tmp/%s.%ld.%u.XXXXXX", s->dest, what, (long)getpid(),
                     serial++);
    }
    if (n < 0 || (size_t)n >= size)
        return tokfs_err_set(err, ENAMETOOLONG, "temp path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return tokfs_err_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
    fchmod(fd, 0644);
    return fd;
}

int store_commit(const tokfs_shard_set *s, tokfs_fetcher *f, const char *tmp, int fd,
                 const char *rel, uint64_t size, tokfs_err *err)
{
    char where[PATH_MAX];
    int rc = locate(s, f, rel, where, sizeof where, err);
    if (rc == 0)
        rc = s->s3 ? tokfs_fetch_put(f, where, NULL, fd, size, err)
                   : shared_publish_file(tmp, where, fd, err);
    if (rc || s->s3)
        unlink(tmp);
    return rc;
}

int store_put_fd(const tokfs_shard_set *s, tokfs_fetcher *f, int fd, const char *rel,
                 uint64_t size, tokfs_err *err)
{
    char where[PATH_MAX];
    if (!s->s3)
        return tokfs_err_set(err, EINVAL, "store_put_fd is for S3");
    int rc = locate(s, f, rel, where, sizeof where, err);
    if (rc)
        return rc;
    return tokfs_fetch_put(f, where, NULL, fd, size, err);
}

int store_size(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, uint64_t *size)
{
    char where[PATH_MAX];
    tokfs_err e = {{0}};
    int rc = locate(s, f, rel, where, sizeof where, &e);
    if (rc)
        return rc;
    if (s->s3) {
        tokfs_object_info info;
        if ((rc = tokfs_fetch_stat(f, where, &info, &e)))
            return rc;
        if (info.size < 0)
            return -EIO;
        *size = (uint64_t)info.size;
        return 0;
    }
    struct stat st;
    if (stat(where, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

int store_read(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, uint64_t size,
               tokfs_fetch_cb cb, void *ctx, tokfs_err *err)
{
    char where[PATH_MAX];
    int rc = locate(s, f, rel, where, sizeof where, err);
    if (rc)
        return rc;
    if (s->s3) {
        tokfs_object_info expect = {.size = (int64_t)size, .accepts_ranges = 1};
        return tokfs_fetch_range(f, where, &expect, 0, (int64_t)size, cb, ctx, NULL, err);
    }
    int fd = open(where, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tokfs_err_set(err, errno == ENOENT ? ENOENT : EIO, "cannot open %s: %s", where,
                             strerror(errno));
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint8_t *buf = malloc(1u << 20);
    rc = buf ? 0 : tokfs_err_set(err, ENOMEM, "out of memory");
    for (uint64_t off = 0; rc == 0 && off < size;) {
        size_t want = size - off < (1u << 20) ? (size_t)(size - off) : (1u << 20);
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            rc = tokfs_err_set(err, EIO, "cannot read %s: %s", where,
                               n < 0 ? strerror(errno) : "shorter than expected");
            break;
        }
        int crc = cb(ctx, buf, (size_t)n);
        if (crc < 0)
            rc = crc;
        if (crc)
            break;
        off += (uint64_t)n;
    }
    free(buf);
    close(fd);
    return rc;
}

typedef struct record_keys {
    const tokfs_shard_set *s;
    int (*fn)(void *ctx, uint32_t index);
    void *ctx;
} record_keys;

/* A key "PREFIX/records/NNNNNN.json" -> fn(NNNNNN). */
static int on_record_key(void *ctx, const tokfs_s3_object *obj)
{
    record_keys *k = ctx;
    const char *name = obj->key + strlen(k->s->prefix) + strlen("records/");
    unsigned idx;
    char tail[8];
    if (strncmp(obj->key, k->s->prefix, strlen(k->s->prefix)) != 0 ||
        sscanf(name, "%6u%7s", &idx, tail) != 2 || strcmp(tail, ".json") != 0)
        return 0;
    return k->fn(k->ctx, idx);
}

int store_list_records(const tokfs_shard_set *s, tokfs_fetcher *f,
                       int (*fn)(void *ctx, uint32_t index), void *ctx, tokfs_err *err)
{
    int rc = need_fetcher(s, f, err);
    if (rc)
        return rc;
    if (s->s3) {
        char prefix[sizeof s->prefix + 16];
        snprintf(prefix, sizeof prefix, "%srecords/", s->prefix);
        record_keys k = {s, fn, ctx};
        return tokfs_s3_list_prefix(s->cfg, f, s->bucket, prefix, on_record_key, &k, NULL, err);
    }
    char where[PATH_MAX];
    if (store_name(s, "records", where, sizeof where))
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long");
    DIR *d = opendir(where);
    if (!d)
        return errno == ENOENT ? 0 : tokfs_err_set(err, errno, "cannot list %s: %s", where,
                                                   strerror(errno));
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        unsigned idx;
        char tail[8];
        if (sscanf(e->d_name, "%6u%7s", &idx, tail) == 2 && strcmp(tail, ".json") == 0 &&
            strlen(e->d_name) == 11)
            rc = fn(ctx, idx);
    }
    closedir(d);
    return rc;
}
