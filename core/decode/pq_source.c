/* Parquet footers through the fetch API (a local path, HTTP, the hub alike), with a small
 * cache of recent footers so every shard of a file does not fetch its footer again; and the
 * kept-row count of a row group under filter= (its filter column chunk, fetched whole). */
#include "decode/pq_source.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recent footers ------------------------------------------------------------------------
 * The plan reads every footer once; each shard of a file needs it again. Keeping the bytes of
 * recent footers in memory (least recently used dropped past FOOTER_CACHE_BYTES) means a file's
 * footer is usually fetched once per process however many shards read it. The key includes the
 * validators, and the column chunks are still fetched with them (If-Match / size and mtime), so
 * a file changed upstream is caught as before. */
#define FOOTER_CACHE_BYTES (32u << 20)
#define FOOTER_CACHE_ENTRIES 256

typedef struct footer_entry {
    char *key;
    uint8_t *bytes;     /* [footer_start, size) of the file */
    size_t len;
    uint64_t used;      /* clock of the last use; 0 = empty slot */
} footer_entry;

static pthread_mutex_t footer_mu = PTHREAD_MUTEX_INITIALIZER;
static footer_entry footer_cache[FOOTER_CACHE_ENTRIES];
static size_t footer_cache_bytes;
static uint64_t footer_clock;

static char *footer_key(const char *url, const tokfs_object_info *info)
{
    char *key = NULL;
    if (asprintf(&key, "%s\n%" PRId64 "\n%s\n%s", url, info->size, info->etag,
                 info->last_modified) < 0)
        return NULL;
    return key;
}

/* A malloc'd copy of the cached footer bytes of key, or NULL. */
static uint8_t *footer_get(const char *key, size_t *len)
{
    uint8_t *copy = NULL;
    pthread_mutex_lock(&footer_mu);
    for (size_t i = 0; i < FOOTER_CACHE_ENTRIES; i++) {
        footer_entry *e = &footer_cache[i];
        if (e->used && strcmp(e->key, key) == 0) {
            if ((copy = malloc(e->len))) {
                memcpy(copy, e->bytes, e->len);
                *len = e->len;
                e->used = ++footer_clock;
            }
            break;
        }
    }
    pthread_mutex_unlock(&footer_mu);
    return copy;
}

static void footer_drop(footer_entry *e)
{
    footer_cache_bytes -= e->len;
    free(e->key);
    free(e->bytes);
    memset(e, 0, sizeof *e);
}

static void footer_put(const char *key, const uint8_t *bytes, size_t len)
{
    if (len > FOOTER_CACHE_BYTES / 4)
        return;
    char *k = strdup(key);
    uint8_t *b = malloc(len ? len : 1);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, bytes, len);
    pthread_mutex_lock(&footer_mu);
    for (size_t i = 0; i < FOOTER_CACHE_ENTRIES; i++) /* another thread's copy: replace it */
        if (footer_cache[i].used && strcmp(footer_cache[i].key, key) == 0)
            footer_drop(&footer_cache[i]);
    for (;;) {
        footer_entry *empty = NULL, *oldest = NULL;
        for (size_t i = 0; i < FOOTER_CACHE_ENTRIES; i++) {
            footer_entry *e = &footer_cache[i];
            if (!e->used)
                empty = empty ? empty : e;
            else if (!oldest || e->used < oldest->used)
                oldest = e;
        }
        if (empty && footer_cache_bytes + len <= FOOTER_CACHE_BYTES) {
            *empty = (footer_entry){.key = k, .bytes = b, .len = len, .used = ++footer_clock};
            footer_cache_bytes += len;
            break;
        }
        footer_drop(oldest); /* full: there is an oldest */
    }
    pthread_mutex_unlock(&footer_mu);
}

typedef struct tail_buf {
    uint8_t *data;   /* bytes [from, size) of the file */
    size_t len;      /* bytes received so far into [0, want) */
    size_t want;
} tail_buf;

static int tail_chunk(void *ctx, const uint8_t *data, size_t len)
{
    tail_buf *t = ctx;
    if (len > t->want - t->len)
        return -EIO; /* more than the range asked for: never the case with fetch_range */
    memcpy(t->data + t->len, data, len);
    t->len += len;
    return 0;
}

int tokfs_pq_fetch_meta(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                        int64_t footer_start, const char *text_column, const char *filter_column,
                        tokfs_pq_meta **out, uint64_t *fetched, tokfs_err *err)
{
    *out = NULL;
    char what[1024];
    tokfs_url_redact(url, what, sizeof what);
    int64_t size = info->size;
    if (size < 0)
        return tokfs_err_set(err, EINVAL,
                             "%s: the server does not say the file's size, which reading a "
                             "Parquet footer needs", what);
    if (size < 12)
        return tokfs_err_set(err, EBADMSG, "%s: not a Parquet file (%lld bytes, too small)", what,
                             (long long)size);
    char *key = footer_key(url, info);
    if (key) {
        size_t len = 0;
        uint8_t *cached = footer_get(key, &len);
        if (cached) {
            uint64_t need_from = 0;
            tokfs_err perr = {{0}};
            int prc = tokfs_pq_meta_parse(cached, len, (uint64_t)size, text_column,
                                          filter_column, out, &need_from, &perr);
            free(cached);
            if (prc <= 0) {
                free(key);
                return prc < 0 ? tokfs_err_set(err, -prc, "%s: %s", what, perr.msg) : 0;
            }
        }
    }
    int64_t from = footer_start > 0 && footer_start <= size - 8 ? footer_start
                 : size > TOKFS_PQ_TAIL_GUESS ? size - TOKFS_PQ_TAIL_GUESS : 0;
    uint8_t *have = NULL;     /* bytes [have_from, size) */
    int rc = 0;
    int64_t have_from = size;
    for (int round = 0; rc == 0 && round < 3; round++) {
        size_t add = (size_t)(have_from - from);
        size_t total = (size_t)(size - from);
        uint8_t *grown = malloc(total ? total : 1);
        if (!grown) {
            rc = tokfs_err_set(err, ENOMEM, "%s: out of memory for the Parquet footer", what);
            break;
        }
        if (have)
            memcpy(grown + add, have, (size_t)(size - have_from));
        free(have);
        have = grown;
        tail_buf t = {.data = have, .want = add};
        rc = tokfs_fetch_range(f, url, info, from, have_from, tail_chunk, &t, fetched, err);
        if (rc == 0 && t.len != add)
            rc = tokfs_err_set(err, EIO, "%s: short read of the Parquet footer (%zu of %zu bytes)",
                               what, t.len, add);
        if (rc)
            break;
        have_from = from;
        uint64_t need_from = 0;
        tokfs_err perr = {{0}};
        rc = tokfs_pq_meta_parse(have, total, (uint64_t)size, text_column, filter_column, out,
                                 &need_from, &perr);
        if (rc == 0) {
            if (key) {
                uint64_t fs = (*out)->footer_start;
                footer_put(key, have + (fs - (uint64_t)from), (size_t)((uint64_t)size - fs));
            }
            break;
        }
        if (rc < 0) {
            rc = tokfs_err_set(err, -rc, "%s: %s", what, perr.msg);
            break;
        }
        /* TOKFS_PQ_NEED_MORE: the footer starts before what we hold */
        if ((int64_t)need_from >= have_from) {
            rc = tokfs_err_set(err, EBADMSG, "%s: Parquet: inconsistent footer length", what);
            break;
        }
        from = (int64_t)need_from;
        rc = 0;
        if (round == 2)
            rc = tokfs_err_set(err, EBADMSG, "%s: Parquet: inconsistent footer length", what);
    }
    free(have);
    free(key);
    return rc;
}

int tokfs_pq_count_kept(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                        const tokfs_pq_meta *m, size_t rg, const tokfs_filter *filter,
                        size_t max_chunk, int64_t *kept, uint64_t *fetched, tokfs_err *err)
{
    *kept = 0;
    char what[1024];
    tokfs_url_redact(url, what, sizeof what);
    if (!m->has_filter || rg >= m->n_row_groups)
        return tokfs_err_set(err, EINVAL, "%s: no filter column chunk for row group %zu", what, rg);
    const tokfs_pq_chunk *fc = &m->row_groups[rg].filter;
    uint64_t len = fc->end - fc->start; /* the footer parser checked start <= end <= file */
    if (len > max_chunk)
        return tokfs_err_set(err, EFBIG,
                             "%s: Parquet column '%s', row group %zu: a chunk of %llu bytes, over "
                             "the limit of %zu for a filter column",
                             what, m->filter.name, rg, (unsigned long long)len, max_chunk);
    uint8_t *bytes = malloc(len ? (size_t)len : 1);
    if (!bytes)
        return tokfs_err_set(err, ENOMEM, "%s: out of memory for a filter column chunk", what);
    tail_buf t = {.data = bytes, .want = (size_t)len};
    int rc = tokfs_fetch_range(f, url, info, (int64_t)fc->start, (int64_t)fc->end, tail_chunk, &t,
                               fetched, err);
    if (rc == 0 && t.len != len)
        rc = tokfs_err_set(err, EIO, "%s: short read of a Parquet column chunk (%zu of %llu bytes)",
                           what, t.len, (unsigned long long)len);
    tokfs_pq_col *c = NULL;
    tokfs_err perr = {{0}};
    tokfs_pq_limits lim = {.max_page_bytes = max_chunk};
    /* the row cursor's messages name the column and offsets, not the row group: added here */
    if (rc == 0 && (rc = tokfs_pq_col_open(&c, &m->filter, fc, bytes, (size_t)len, &lim, &perr)))
        rc = tokfs_err_set(err, -rc, "%s: row group %zu: %s", what, rg, perr.msg);
    int64_t n = 0;
    while (rc == 0) {
        const uint8_t *s;
        size_t slen;
        int more = tokfs_pq_col_next(c, &s, &slen, &perr);
        if (more < 0)
            rc = tokfs_err_set(err, -more, "%s: row group %zu: %s", what, rg, perr.msg);
        else if (more == 0)
            break;
        else if (s && tokfs_filter_match(filter, s, slen))
            n++;
    }
    tokfs_pq_col_free(c);
    free(bytes);
    if (rc == 0)
        *kept = n;
    return rc;
}
