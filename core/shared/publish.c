/* Publishing shards into DEST (shared.h): building one (temp file, fsync, rename), its record,
 * checking one already there against its record, and assembling manifest.json from the
 * records. */
#include "shared/shared_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"

#define VERIFY_CHUNK (1u << 20)

/* ---- records --------------------------------------------------------------------------------- */

static json_t *record_json(const tokfs_shard_set *s, uint32_t i, const tokfs_set_record *r)
{
    char name[64], sum[20];
    tokfs_shard_set_name(s->plan, &s->layout, i, name, sizeof name);
    snprintf(sum, sizeof sum, "%016" PRIx64, r->checksum);
    return json_pack("{s:I, s:s, s:I, s:s, s:I, s:I}", "index", (json_int_t)i, "name", name,
                     "tokens", (json_int_t)r->tokens, "checksum", sum,
                     "bytes", (json_int_t)r->bytes, "index_bytes", (json_int_t)r->index_bytes);
}

int shared_record_read(const tokfs_shard_set *s, uint32_t i, tokfs_set_record *r)
{
    char path[PATH_MAX];
    if (shared_path(s, path, sizeof path, "records/%06u.json", i))
        return -ENAMETOOLONG;
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    if (!o && access(path, F_OK) != 0)
        return -ENOENT;
    if (!o) {
        tokfs_log(TOKFS_LOG_WARN, "%s is not valid JSON (%s): ignored", path, jerr.text);
        return -EIO;
    }
    const char *sum = json_string_value(json_object_get(o, "checksum"));
    json_t *tokens = json_object_get(o, "tokens"), *bytes = json_object_get(o, "bytes"),
           *index_bytes = json_object_get(o, "index_bytes"), *index = json_object_get(o, "index");
    int rc = 0;
    char *end = NULL;
    if (!sum || strlen(sum) != 16 || !json_is_integer(tokens) || !json_is_integer(bytes) ||
        !json_is_integer(index_bytes) || json_integer_value(index) != (json_int_t)i ||
        json_integer_value(tokens) < 0 || json_integer_value(bytes) < 0)
        rc = -EIO;
    if (rc == 0) {
        r->checksum = strtoull(sum, &end, 16);
        r->tokens = (uint64_t)json_integer_value(tokens);
        r->bytes = (uint64_t)json_integer_value(bytes);
        r->index_bytes = (uint64_t)json_integer_value(index_bytes);
        if (*end || r->bytes != tokfs_layout_data_bytes(&s->layout, r->tokens) + r->index_bytes)
            rc = -EIO;
    }
    json_decref(o);
    if (rc)
        tokfs_log(TOKFS_LOG_WARN, "%s is not a valid shard record: ignored", path);
    return rc;
}

int shared_record_write(const tokfs_shard_set *s, uint32_t i, const tokfs_set_record *r,
                        tokfs_err *err)
{
    char path[PATH_MAX];
    if (shared_path(s, path, sizeof path, "records/%06u.json", i))
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long: %s", s->dest);
    json_t *o = record_json(s, i, r);
    char *text = o ? json_dumps(o, JSON_SORT_KEYS) : NULL;
    json_decref(o);
    int rc = text ? shared_write_text(s, path, text, 0, err)
                  : tokfs_err_set(err, ENOMEM, "out of memory");
    free(text);
    return rc;
}

/* ---- a shard already there ------------------------------------------------------------------- */

/* The writer's checksum of the file at path (every byte after the header), and its size. */
static int file_checksum(const char *path, uint32_t header, uint64_t *sum, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < header) {
        close(fd);
        return -EIO;
    }
    *size = (uint64_t)st.st_size;
    uint8_t *buf = malloc(VERIFY_CHUNK);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    tokfs_hash h;
    tokfs_hash_init(&h, 0);
    off_t off = header;
    int rc = 0;
    while ((uint64_t)off < *size) {
        ssize_t n = pread(fd, buf, VERIFY_CHUNK, off);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        tokfs_hash_update(&h, buf, (size_t)n);
        off += n;
    }
    free(buf);
    close(fd);
    *sum = tokfs_hash_final(&h);
    return rc;
}

int tokfs_shard_set_has(tokfs_shard_set *s, uint32_t i, tokfs_set_record *rec)
{
    if (shared_record_read(s, i, rec) != 0)
        return 0;
    char path[PATH_MAX];
    uint64_t sum = 0, size = 0;
    if (shared_path(s, path, sizeof path, "shards/%06u.bin", i) ||
        file_checksum(path, s->layout.header_bytes, &sum, &size) != 0)
        return 0;
    if (size != rec->bytes || sum != rec->checksum) {
        tokfs_log(TOKFS_LOG_WARN, "%s: %" PRIu64 " bytes, checksum %016" PRIx64 "; its record "
                                  "says %" PRIu64 ", %016" PRIx64 ": ignored (made again)",
                  path, size, sum, rec->bytes, rec->checksum);
        return 0;
    }
    return 1;
}

/* ---- building one ------------------------------------------------------------------------------ */

int tokfs_shard_set_build(tokfs_shard_set *s, uint32_t i, tokfs_fetcher *fetcher,
                          tokfs_build_stats *stats, tokfs_err *err)
{
    char name[64], tmp[PATH_MAX], final[PATH_MAX];
    tokfs_shard_set_name(s->plan, &s->layout, i, name, sizeof name);
    if (shared_path(s, tmp, sizeof tmp, "tmp/%06u.%ld.bin", i, (long)getpid()) ||
        shared_path(s, final, sizeof final, "shards/%06u.bin", i))
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long: %s", s->dest);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return tokfs_err_set(err, errno, "%s: cannot create %s: %s", name, tmp, strerror(errno));
    tokfs_build_output out = {.fd = fd};
    tokfs_err berr = {{0}};
    int rc = tokfs_build_shard(s->plan, i, s->tok, s->cfg, fetcher, &out, stats, &berr);
    if (rc)
        tokfs_err_set(err, -rc, "%s: %s", name, berr.msg[0] ? berr.msg : strerror(-rc));
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = tokfs_err_set(err, errno, "%s: cannot stat %s: %s", name, tmp, strerror(errno));
    tokfs_set_record rec = {0};
    if (rc == 0) {
        rec.tokens = stats->tokens;
        rec.checksum = stats->checksum;
        rec.bytes = (uint64_t)st.st_size;
        uint64_t data = tokfs_layout_data_bytes(&s->layout, stats->tokens);
        if (rec.bytes < data)
            rc = tokfs_err_set(err, EIO, "%s: %s holds %" PRIu64 " bytes, fewer than its %" PRIu64
                               " ids make", name, tmp, rec.bytes, stats->tokens);
        rec.index_bytes = rec.bytes - data;
    }
    /* the shard first, its record after: a record always names a complete file */
    if (rc == 0)
        rc = shared_publish_file(tmp, final, fd, err);
    close(fd);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return shared_record_write(s, i, &rec, err);
}

/* ---- the manifest ------------------------------------------------------------------------------- */

int tokfs_shard_set_write_manifest(tokfs_shard_set *s, uint32_t *present, tokfs_err *err)
{
    char path[PATH_MAX];
    *present = 0;
    if (shared_path(s, path, sizeof path, "set.json"))
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long: %s", s->dest);
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    if (!o)
        return tokfs_err_set(err, EIO, "cannot read %s: %s", path, jerr.text);
    json_t *list = json_array();
    uint64_t tokens = 0;
    int rc = list ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < s->plan->npieces; i++) {
        tokfs_set_record r;
        if (shared_record_read(s, i, &r) != 0)
            continue;
        json_t *e = record_json(s, i, &r);
        if (!e || json_array_append_new(list, e) != 0)
            rc = -ENOMEM;
        tokens += r.tokens;
        (*present)++;
    }
    if (rc == 0) {
        json_object_set_new(o, "shards", list);
        list = NULL;
        json_object_set_new(o, "shards_present", json_integer(*present));
        json_object_set_new(o, "complete", json_boolean(*present == s->plan->npieces));
        json_object_set_new(o, "tokens_present", json_integer((json_int_t)tokens));
    }
    json_decref(list);
    char *text = rc == 0 ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    if (shared_path(s, path, sizeof path, "manifest.json"))
        rc = tokfs_err_set(err, ENAMETOOLONG, "DEST path too long: %s", s->dest);
    else
        rc = shared_write_text(s, path, text, 0, err);
    free(text);
    return rc;
}
