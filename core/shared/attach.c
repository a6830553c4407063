/* The read side of the shared tier (shared.h): a mount with shared=DEST attaches to the set in
 * DEST (set.json checked against its own plan, tokenizer and layout), learns every published
 * shard's record at once (manifest.json, then records/ for shards published since), copies a
 * shard out of DEST into its cache file while checking it against its record, and, with
 * shared_write=1, publishes a shard it made itself. */
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

#include "common/hash.h"

#define COPY_CHUNK (1u << 20)

int tokfs_shard_set_attach(const char *dest, const tokfs_config *cfg, const tokfs_tokenizer *tok,
                           const tokfs_layout *layout, const tokfs_plan *plan,
                           tokfs_shard_set **out, tokfs_err *err)
{
    tokfs_shard_set *s = calloc(1, sizeof *s);
    if (!s)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    s->cfg = cfg;
    s->tok = tok;
    s->layout = *layout;
    s->plan = plan;
    int rc = store_init(s, dest, err);
    if (rc == 0 && s->s3 && !(s->own = tokfs_shard_set_fetcher(s)))
        rc = tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    tokfs_set_info want, have;
    tokfs_set_info_of(cfg, tok, layout, plan, &want);
    tokfs_err rerr = {{0}};
    if (rc == 0 && (rc = shared_read_set_info(s, &have, &rerr)) != 0)
        rc = rc == -ENOENT ? tokfs_err_set(err, ENOENT, "shared=%s holds no shard set (no "
                                                        "set.json): make one with tokfs build",
                                           dest)
                           : tokfs_err_set(err, -rc, "shared=%s: %s", dest, rerr.msg);
    if (rc == 0)
        rc = tokfs_set_info_compare(&want, &have, dest, err);
    if (rc == 0 && (have.npieces != plan->npieces || have.ntrain != plan->ntrain))
        rc = tokfs_err_set(err, EINVAL,
                           "shared=%s was built from another listing of SOURCE (%u shards, %u "
                           "train; this mount's plan has %u, %u): the sources changed since",
                           dest, have.npieces, have.ntrain, plan->npieces, plan->ntrain);
    if (rc) {
        tokfs_shard_set_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Copying out of DEST: every byte into the cache file, hashed after the header. */
typedef struct copy_ctx {
    const tokfs_build_output *out;
    tokfs_hash h;
    uint64_t off, header;
    int failed;           /* a write or reserve error (negative errno) */
} copy_ctx;

static int copy_chunk(void *ctx, const uint8_t *data, size_t len)
{
    copy_ctx *c = ctx;
    const tokfs_build_output *out = c->out;
    if (out->cancel && atomic_load_explicit(out->cancel, memory_order_relaxed))
        return c->failed = -ECANCELED;
    if (out->reserve && (c->failed = out->reserve(out->reserve_ctx, c->off + len)) != 0)
        return c->failed;
    if (c->off + len > c->header) {
        size_t skip = c->off >= c->header ? 0 : (size_t)(c->header - c->off);
        tokfs_hash_update(&c->h, data + skip, len - skip);
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(out->fd, data + done, len - done, (off_t)(c->off + done));
        if (w < 0)
            return c->failed = -errno;
        done += (size_t)w;
    }
    c->off += len;
    return 0;
}

int tokfs_shard_set_copy(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                         const tokfs_set_record *rec, const tokfs_build_output *out,
                         tokfs_err *err)
{
    char rel[32], where[PATH_MAX];
    snprintf(rel, sizeof rel, "shards/%06u.bin", i);
    store_name(s, rel, where, sizeof where);
    copy_ctx c = {.out = out, .header = s->layout.header_bytes};
    tokfs_hash_init(&c.h, 0);
    tokfs_err rerr = {{0}};
    int rc = store_read(s, f, rel, rec->bytes, copy_chunk, &c, &rerr);
    if (c.failed)
        return tokfs_err_set(err, -c.failed, "copying %s into the cache: %s", where,
                             strerror(-c.failed));
    if (rc)
        return tokfs_err_set(err, -rc, "%s", rerr.msg);
    if (c.off != rec->bytes)
        return tokfs_err_set(err, EIO, "%s is not the %" PRIu64 " bytes its record says", where,
                             rec->bytes);
    uint64_t sum = tokfs_hash_final(&c.h);
    if (sum != rec->checksum) {
        tokfs_log(TOKFS_LOG_WARN, "%s: checksum %016" PRIx64 ", its record says %016" PRIx64
                                  ": ignored, the shard is made from the sources",
                  where, sum, rec->checksum);
        return tokfs_err_set(err, EIO, "%s fails its checksum", where);
    }
    return 0;
}

int tokfs_shard_set_publish_fd(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i, int fd,
                               const tokfs_set_record *rec, tokfs_err *err)
{
    char rel[32];
    snprintf(rel, sizeof rel, "shards/%06u.bin", i);
    int rc;
    if (s->s3) {
        rc = store_put_fd(s, f, fd, rel, rec->bytes, err); /* one PUT straight from the file */
    } else {
        char tmp[PATH_MAX];
        int out = store_stage(s, "publish", tmp, sizeof tmp, err);
        if (out < 0)
            return out;
        uint8_t *buf = malloc(COPY_CHUNK);
        rc = buf ? 0 : tokfs_err_set(err, ENOMEM, "out of memory");
        for (uint64_t off = 0; rc == 0 && off < rec->bytes;) {
            size_t want = rec->bytes - off < COPY_CHUNK ? (size_t)(rec->bytes - off) : COPY_CHUNK;
            ssize_t n = pread(fd, buf, want, (off_t)off);
            if (n <= 0) {
                rc = tokfs_err_set(err, EIO, "cannot read the cache file: %s",
                                   n < 0 ? strerror(errno) : "short file");
                break;
            }
            for (ssize_t done = 0; rc == 0 && done < n;) {
                ssize_t w = write(out, buf + done, (size_t)(n - done));
                if (w < 0)
                    rc = tokfs_err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
                else
                    done += w;
            }
            off += (uint64_t)n;
        }
        free(buf);
        if (rc == 0)
            rc = store_commit(s, f, tmp, out, rel, rec->bytes, err);
        else
            unlink(tmp);
        close(out);
    }
    if (rc)
        return rc;
    return shared_record_write(s, f, i, rec, err);
}
