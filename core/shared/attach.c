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
    int rc = strlen(dest) + 32 < sizeof s->dest ? 0
             : tokfs_err_set(err, ENAMETOOLONG, "shared=%s: path too long", dest);
    if (rc == 0)
        snprintf(s->dest, sizeof s->dest, "%s", dest);
    char path[PATH_MAX];
    tokfs_set_info want, have;
    tokfs_set_info_of(cfg, tok, layout, plan, &want);
    tokfs_err rerr = {{0}};
    if (rc == 0 && (rc = shared_path(s, path, sizeof path, "set.json")) == 0 &&
        (rc = tokfs_set_info_read(path, &have, &rerr)) != 0)
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
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int tokfs_shard_set_records(tokfs_shard_set *s, tokfs_set_record *recs, uint8_t *present)
{
    uint32_t found = 0;
    for (uint32_t i = 0; i < s->plan->npieces; i++) {
        present[i] = shared_record_read(s, i, &recs[i]) == 0;
        found += present[i];
    }
    return (int)found;
}

/* Copy DEST's shard i into out (an empty file, written from offset 0), checking its size and
 * checksum against rec as it goes. */
int tokfs_shard_set_copy(tokfs_shard_set *s, uint32_t i, const tokfs_set_record *rec,
                         const tokfs_build_output *out, tokfs_err *err)
{
    char path[PATH_MAX];
    if (shared_path(s, path, sizeof path, "shards/%06u.bin", i))
        return tokfs_err_set(err, ENAMETOOLONG, "shared path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tokfs_err_set(err, errno == ENOENT ? ENOENT : EIO, "cannot open %s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != rec->bytes) {
        close(fd);
        return tokfs_err_set(err, EIO, "%s is not the %" PRIu64 " bytes its record says", path,
                             rec->bytes);
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint8_t *buf = malloc(COPY_CHUNK);
    int rc = buf ? 0 : tokfs_err_set(err, ENOMEM, "out of memory");
    tokfs_hash h;
    tokfs_hash_init(&h, 0);
    uint64_t off = 0;
    while (rc == 0 && off < rec->bytes) {
        if (out->cancel && atomic_load_explicit(out->cancel, memory_order_relaxed)) {
            rc = tokfs_err_set(err, ECANCELED, "cancelled");
            break;
        }
        size_t want = rec->bytes - off < COPY_CHUNK ? (size_t)(rec->bytes - off) : COPY_CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            rc = tokfs_err_set(err, EIO, "cannot read %s: %s", path,
                               n < 0 ? strerror(errno) : "short file");
            break;
        }
        if (out->reserve && (rc = out->reserve(out->reserve_ctx, off + (uint64_t)n)) != 0) {
            tokfs_err_set(err, -rc, "no cache room for %s", path);
            break;
        }
        /* the checksum covers every byte after the layout's header */
        uint64_t hdr = s->layout.header_bytes;
        if (off + (uint64_t)n > hdr) {
            size_t skip = off >= hdr ? 0 : (size_t)(hdr - off);
            tokfs_hash_update(&h, buf + skip, (size_t)n - skip);
        }
        for (ssize_t done = 0; rc == 0 && done < n;) {
            ssize_t w = pwrite(out->fd, buf + done, (size_t)(n - done), (off_t)off + done);
            if (w < 0)
                rc = tokfs_err_set(err, errno, "cannot write the cache file: %s",
                                   strerror(errno));
            else
                done += w;
        }
        off += (uint64_t)n;
    }
    free(buf);
    close(fd);
    if (rc == 0 && tokfs_hash_final(&h) != rec->checksum) {
        tokfs_log(TOKFS_LOG_WARN, "%s: checksum %016" PRIx64 ", its record says %016" PRIx64
                                  ": ignored, the shard is made from the sources",
                  path, tokfs_hash_final(&h), rec->checksum);
        rc = tokfs_err_set(err, EIO, "%s fails its checksum", path);
    }
    return rc;
}

int tokfs_shard_set_publish_fd(tokfs_shard_set *s, uint32_t i, int fd,
                               const tokfs_set_record *rec, tokfs_err *err)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    static _Atomic unsigned serial;
    if (shared_path(s, tmp, sizeof tmp, "tmp/%06u.%ld.%u.bin", i, (long)getpid(), serial++) ||
        shared_path(s, final, sizeof final, "shards/%06u.bin", i))
        return tokfs_err_set(err, ENAMETOOLONG, "shared path too long");
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return tokfs_err_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
    uint8_t *buf = malloc(COPY_CHUNK);
    int rc = buf ? 0 : tokfs_err_set(err, ENOMEM, "out of memory");
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
        rc = shared_publish_file(tmp, final, out, err);
    close(out);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return shared_record_write(s, i, rec, err);
}
