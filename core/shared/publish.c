/* Publishing shards into DEST (shared.h): building one (a staged temp file, published whole),
 * its record, checking one already there against its record, and assembling manifest.json from
 * the records. Where objects go is store.c's. */
#include "shared/shared_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"

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

int shared_record_read(const tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                       tokfs_set_record *r)
{
    char rel[32], where[PATH_MAX], *text = NULL;
    size_t len = 0;
    snprintf(rel, sizeof rel, "records/%06u.json", i);
    store_name(s, rel, where, sizeof where);
    tokfs_err gerr = {{0}};
    int rc = store_get_text(s, f, rel, &text, &len, &gerr);
    if (rc == -ENOENT)
        return -ENOENT;
    if (rc) {
        tokfs_log(TOKFS_LOG_WARN, "%s: %s: ignored", where, gerr.msg);
        return -EIO;
    }
    json_error_t jerr;
    json_t *o = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!o) {
        tokfs_log(TOKFS_LOG_WARN, "%s is not valid JSON (%s): ignored", where, jerr.text);
        return -EIO;
    }
    const char *sum = json_string_value(json_object_get(o, "checksum"));
    json_t *tokens = json_object_get(o, "tokens"), *bytes = json_object_get(o, "bytes"),
           *index_bytes = json_object_get(o, "index_bytes"), *index = json_object_get(o, "index");
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
        tokfs_log(TOKFS_LOG_WARN, "%s is not a valid shard record: ignored", where);
    return rc;
}

int shared_record_write(const tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                        const tokfs_set_record *r, tokfs_err *err)
{
    char rel[32];
    snprintf(rel, sizeof rel, "records/%06u.json", i);
    json_t *o = record_json(s, i, r);
    char *text = o ? json_dumps(o, JSON_SORT_KEYS) : NULL;
    json_decref(o);
    int rc = text ? store_put_text(s, f, rel, text, 0, err)
                  : tokfs_err_set(err, ENOMEM, "out of memory");
    free(text);
    return rc;
}

/* ---- a shard already there ------------------------------------------------------------------- */

typedef struct hashing {
    tokfs_hash h;
    uint64_t seen, header;
} hashing;

static int hash_chunk(void *ctx, const uint8_t *data, size_t len)
{
    hashing *x = ctx;
    if (x->seen + len > x->header) {
        size_t skip = x->seen >= x->header ? 0 : (size_t)(x->header - x->seen);
        tokfs_hash_update(&x->h, data + skip, len - skip);
    }
    x->seen += len;
    return 0;
}

int tokfs_shard_set_has(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i, tokfs_set_record *rec)
{
    if (shared_record_read(s, f, i, rec) != 0)
        return 0;
    char rel[32], where[PATH_MAX];
    snprintf(rel, sizeof rel, "shards/%06u.bin", i);
    store_name(s, rel, where, sizeof where);
    uint64_t size = 0;
    if (store_size(s, f, rel, &size) != 0)
        return 0;
    if (size != rec->bytes) {
        tokfs_log(TOKFS_LOG_WARN, "%s: %" PRIu64 " bytes; its record says %" PRIu64
                                  ": ignored (made again)", where, size, rec->bytes);
        return 0;
    }
    /* A directory's shard is read back: a file on a shared filesystem can be damaged or cut
     * behind our back. An object in S3 was PUT whole and its record after it: its size is
     * checked, its bytes are not fetched again (that would double a resume's traffic). */
    if (s->s3)
        return 1;
    hashing x = {.header = s->layout.header_bytes};
    tokfs_hash_init(&x.h, 0);
    tokfs_err rerr = {{0}};
    if (store_read(s, f, rel, size, hash_chunk, &x, &rerr) != 0)
        return 0;
    uint64_t sum = tokfs_hash_final(&x.h);
    if (sum != rec->checksum) {
        tokfs_log(TOKFS_LOG_WARN, "%s: checksum %016" PRIx64 "; its record says %016" PRIx64
                                  ": ignored (made again)", where, sum, rec->checksum);
        return 0;
    }
    return 1;
}

/* ---- building one ------------------------------------------------------------------------------ */

int tokfs_shard_set_build(tokfs_shard_set *s, uint32_t i, tokfs_fetcher *source_fetcher,
                          tokfs_fetcher *dest_fetcher, tokfs_build_stats *stats, tokfs_err *err)
{
    char name[64], tmp[PATH_MAX], rel[32];
    tokfs_shard_set_name(s->plan, &s->layout, i, name, sizeof name);
    snprintf(rel, sizeof rel, "shards/%06u.bin", i);
    tokfs_err serr = {{0}};
    int fd = store_stage(s, "shard", tmp, sizeof tmp, &serr);
    if (fd < 0)
        return tokfs_err_set(err, -fd, "%s: %s", name, serr.msg);
    tokfs_build_output out = {.fd = fd};
    tokfs_err berr = {{0}};
    int rc = tokfs_build_shard(s->plan, i, s->tok, s->cfg, source_fetcher, &out, stats, &berr);
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
    /* the shard first, its record after: a record always names a complete shard */
    if (rc == 0) {
        rc = store_commit(s, dest_fetcher, tmp, fd, rel, rec.bytes, &serr);
        if (rc)
            tokfs_err_set(err, -rc, "%s: %s", name, serr.msg);
    } else {
        unlink(tmp);
    }
    close(fd);
    if (rc)
        return rc;
    rc = shared_record_write(s, dest_fetcher, i, &rec, &serr);
    return rc ? tokfs_err_set(err, -rc, "%s: %s", name, serr.msg) : 0;
}

/* ---- the manifest ------------------------------------------------------------------------------- */

typedef struct listed {
    uint8_t *present;
    uint32_t n;
} listed;

static int note_record(void *ctx, uint32_t index)
{
    listed *l = ctx;
    if (index < l->n)
        l->present[index] = 1;
    return 0;
}

int tokfs_shard_set_records(tokfs_shard_set *s, tokfs_set_record *recs, uint8_t *present)
{
    uint32_t n = s->plan->npieces, found = 0;
    memset(present, 0, n);
    /* Which records exist (one listing), then each one read: a DEST of many shards costs one
     * request per published shard, not per shard of the plan. */
    listed l = {present, n};
    tokfs_err lerr = {{0}};
    if (store_list_records(s, s->own, note_record, &l, &lerr) != 0) {
        tokfs_log(TOKFS_LOG_WARN, "%s: cannot list records (%s): none used", s->dest, lerr.msg);
        memset(present, 0, n);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (present[i])
            present[i] = shared_record_read(s, s->own, i, &recs[i]) == 0;
        found += present[i];
    }
    return (int)found;
}

/* One assembly of manifest.json from the records there now. */
static int write_manifest_once(tokfs_shard_set *s, uint32_t *present, tokfs_err *err)
{
    *present = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = store_get_text(s, s->own, "set.json", &text, &len, err);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *o = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!o)
        return tokfs_err_set(err, EIO, "%s: set.json is not valid JSON: %s", s->dest, jerr.text);
    uint32_t n = s->plan->npieces;
    tokfs_set_record *recs = calloc(n ? n : 1, sizeof *recs);
    uint8_t *have = calloc(n ? n : 1, 1);
    json_t *list = json_array();
    rc = recs && have && list ? 0 : -ENOMEM;
    uint64_t tokens = 0;
    if (rc == 0)
        tokfs_shard_set_records(s, recs, have);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (!have[i])
            continue;
        json_t *e = record_json(s, i, &recs[i]);
        if (!e || json_array_append_new(list, e) != 0)
            rc = -ENOMEM;
        tokens += recs[i].tokens;
        (*present)++;
    }
    if (rc == 0) {
        json_object_set_new(o, "shards", list);
        list = NULL;
        json_object_set_new(o, "shards_present", json_integer(*present));
        json_object_set_new(o, "complete", json_boolean(*present == n));
        json_object_set_new(o, "tokens_present", json_integer((json_int_t)tokens));
    }
    json_decref(list);
    free(recs);
    free(have);
    text = rc == 0 ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    rc = store_put_text(s, s->own, "manifest.json", text, 0, err);
    free(text);
    return rc;
}

static int count_record(void *ctx, uint32_t index)
{
    (void)index;
    (*(uint32_t *)ctx)++;
    return 0;
}

/* Records named in DEST now (valid or not), or UINT32_MAX when they cannot be listed. */
static uint32_t records_listed(tokfs_shard_set *s)
{
    uint32_t n = 0;
    tokfs_err e = {{0}};
    return store_list_records(s, s->own, count_record, &n, &e) == 0 ? n : UINT32_MAX;
}

int tokfs_shard_set_write_manifest(tokfs_shard_set *s, uint32_t *present, tokfs_err *err)
{
    /* Tasks ending together race: one may assemble before another's last record exists, then
     * rename its manifest over the other's complete one. So after writing, look again: a
     * record that appeared meanwhile means writing again. The last writer always looks after
     * every other task's records exist, so the manifest left is never older than the records
     * (records only ever appear). */
    int rc = 0;
    for (int round = 0; round < 16; round++) {
        uint32_t before = records_listed(s);
        if ((rc = write_manifest_once(s, present, err)) != 0)
            return rc;
        if (records_listed(s) == before)
            break;
    }
    return rc;
}
