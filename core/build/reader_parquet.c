/* The reader of Parquet sources: a piece's row groups [begin, end) of a file. Fetches the footer
 * (exactly its bytes, whose offset the plan saved, through pq_source), checks that it still lists
 * the plan's row groups, then per row group: with filter=, the filter column's chunk (whole) and
 * the skip of a row group where no row is kept; the text column's chunk streamed through the row
 * group reader (core/decode/parquet), each kept non-null value one document. Owns the parsed
 * filter, the filter chunk's buffer and the row group reader. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/filter.h"
#include "decode/parquet.h"
#include "decode/pq_source.h"

typedef struct parquet_reader {
    tokfs_build_reader base;
    tokfs_builder *b;
    tokfs_filter filter;    /* filter= (column NULL: none), parsed once per build */
    tokfs_buf filter_chunk; /* the filter column's chunk of the current row group */
    tokfs_pq_rg *rg;        /* the current row group's reader */
    char what[1024];        /* the source's URL, redacted, for messages */
} parquet_reader;

/* A page decompresses to at most this (the reader's page cap); a filter chunk, held whole, too. */
static size_t page_cap(const tokfs_config *cfg)
{
    uint64_t cap = 2 * cfg->max_doc_bytes;
    if (cap < TOKFS_PQ_MAX_PAGE_DEFAULT)
        cap = TOKFS_PQ_MAX_PAGE_DEFAULT;
    return cap > TOKFS_PQ_MAX_PAGE_HARD ? TOKFS_PQ_MAX_PAGE_HARD : (size_t)cap;
}

/* The Parquet reader failed (corrupt or unsupported data: pq_err says what and where): EIO naming
 * the file. When the failure is the document path's coming back (the value callback's), that
 * error stands. */
static int pq_fail(parquet_reader *p, int rc, const tokfs_err *pq_err)
{
    if (p->b->rc)
        return p->b->rc;
    return tokfs_builder_fail(p->b, -EIO, "%s: %s", p->what,
                              pq_err->msg[0] ? pq_err->msg : strerror(-rc));
}

/* Each non-null (kept) text value is one document. */
static int pq_value(void *ctx, const uint8_t *s, size_t len)
{
    parquet_reader *p = ctx;
    return tokfs_builder_document(p->b, s, len);
}

static int pq_text_chunk(void *ctx, const uint8_t *data, size_t len)
{
    parquet_reader *p = ctx;
    int rc = tokfs_builder_cancelled(p->b);
    if (rc)
        return rc;
    tokfs_err pq_err = {""};
    rc = tokfs_pq_rg_feed(p->rg, data, len, &pq_err);
    return rc < 0 ? pq_fail(p, rc, &pq_err) : 0;
}

static int pq_filter_chunk(void *ctx, const uint8_t *data, size_t len)
{
    parquet_reader *p = ctx;
    int rc = tokfs_builder_cancelled(p->b);
    if (rc)
        return rc;
    if (len > p->filter_chunk.cap - p->filter_chunk.len)
        return tokfs_builder_fail(p->b, -EIO, "%s: more bytes than a Parquet column chunk holds",
                                  p->what);
    memcpy(p->filter_chunk.data + p->filter_chunk.len, data, len);
    p->filter_chunk.len += len;
    return 0;
}

/* 1 when some row of row group g passes the filter, 0 when none does (its text chunk need not be
 * fetched), or the build's error (a corrupt filter chunk). */
static int pq_filter_any(parquet_reader *p, const tokfs_pq_meta *m, size_t g,
                         const tokfs_pq_limits *lim)
{
    tokfs_pq_col *c = NULL;
    tokfs_err pq_err = {""};
    int rc = tokfs_pq_col_open(&c, &m->filter, &m->row_groups[g].filter, p->filter_chunk.data,
                               p->filter_chunk.len, lim, &pq_err);
    const uint8_t *s;
    size_t len;
    while (rc == 0) {
        rc = tokfs_pq_col_next(c, &s, &len, &pq_err);
        if (rc == 1 && s && tokfs_filter_match(&p->filter, s, len))
            break;
        rc = rc == 1 ? 0 : rc == 0 ? -ENODATA : rc;
    }
    tokfs_pq_col_free(c);
    return rc == 1 ? 1 : rc == -ENODATA ? 0 : pq_fail(p, rc, &pq_err);
}

/* The filter column's chunk of row group g into filter_chunk, whole. 0 or the build's error. */
static int fetch_filter_chunk(parquet_reader *p, const tokfs_source *src,
                              const tokfs_pq_meta *m, size_t g, size_t cap)
{
    const tokfs_pq_chunk *fc = &m->row_groups[g].filter;
    uint64_t flen = fc->end - fc->start;
    if (flen > cap)
        return tokfs_builder_fail(p->b, -EIO,
                                  "%s: Parquet column '%s', row group %zu: a chunk of %llu bytes, "
                                  "over the limit of %zu for a filter column",
                                  p->what, m->filter.name, g, (unsigned long long)flen, cap);
    tokfs_buf_clear(&p->filter_chunk);
    if (tokfs_buf_reserve(&p->filter_chunk, flen ? (size_t)flen : 1))
        return tokfs_builder_fail(p->b, -ENOMEM, "out of memory");
    int rc = tokfs_builder_fetch(p->b, src, (int64_t)fc->start, (int64_t)fc->end,
                                 pq_filter_chunk, p);
    if (rc == 0 && p->filter_chunk.len != flen)
        rc = tokfs_builder_fail(p->b, -EIO, "%s: short read of a Parquet column chunk", p->what);
    return rc;
}

/* Row group g's text column chunk, streamed through the row group reader into the documents;
 * its null and oversized values counted as skipped. 0 or the build's error. */
static int read_row_group(parquet_reader *p, const tokfs_source *src, const tokfs_pq_meta *m,
                          size_t g, const tokfs_pq_limits *lim)
{
    const tokfs_pq_chunk *text = &m->row_groups[g].text;
    tokfs_err pq_err = {""};
    int rc = tokfs_pq_rg_open(&p->rg, m, g, p->filter.column ? &p->filter : NULL,
                              p->filter_chunk.data, p->filter_chunk.len, lim, pq_value, p,
                              &pq_err);
    if (rc)
        return pq_fail(p, rc, &pq_err);
    rc = tokfs_builder_fetch(p->b, src, (int64_t)text->start, (int64_t)text->end, pq_text_chunk,
                             p);
    tokfs_pq_stats st = {0};
    if (rc == 0 && (rc = tokfs_pq_rg_finish(p->rg, &st, &pq_err)))
        rc = pq_fail(p, rc, &pq_err);
    tokfs_pq_rg_free(p->rg);
    p->rg = NULL;
    if (rc)
        return rc;
    tokfs_builder_note_skips(p->b, st.nulls, "null text value", src, (int64_t)g);
    tokfs_builder_note_skips(p->b, st.too_large, "text value larger than max_doc_bytes", src,
                             (int64_t)g);
    return 0;
}

/* Row groups [begin, end) of a Parquet source (end -1: to the last). */
static int parquet_read(tokfs_build_reader *r, const tokfs_source *src, int64_t begin,
                        int64_t end)
{
    parquet_reader *p = (parquet_reader *)r;
    tokfs_builder *b = p->b;
    if (src->pq_row_groups == 0 || (end >= 0 && begin >= end))
        return 0; /* no row group of it in this piece: not even the footer is needed */
    tokfs_url_redact(src->url, p->what, sizeof p->what);
    tokfs_pq_meta *m = NULL;
    tokfs_err meta_err = {""};
    int rc = tokfs_pq_fetch_meta(b->fetcher, src->url, &src->info, src->pq_footer_start,
                                 b->cfg->text_field, p->filter.column, &m,
                                 &b->stats->fetched_bytes, &meta_err);
    if (rc)
        return tokfs_builder_fail(b, rc, "%s", meta_err.msg); /* it names the URL */
    if (m->n_row_groups != src->pq_row_groups) {
        rc = tokfs_builder_fail(b, -EIO,
                                "%s: the footer lists %zu row groups, the plan %u: the file "
                                "changed upstream; not served",
                                p->what, m->n_row_groups, src->pq_row_groups);
        tokfs_pq_meta_free(m);
        return rc;
    }
    size_t last = end < 0 || (uint64_t)end > m->n_row_groups ? m->n_row_groups : (size_t)end;
    size_t cap = page_cap(b->cfg);
    tokfs_pq_limits lim = {.max_page_bytes = cap, .max_value_bytes = b->cfg->max_doc_bytes};
    tokfs_pq_limits filter_lim = {.max_page_bytes = cap};
    for (size_t g = begin > 0 ? (size_t)begin : 0; rc == 0 && g < last; g++) {
        if (p->filter.column) {
            if ((rc = fetch_filter_chunk(p, src, m, g, cap)))
                break;
            int any = pq_filter_any(p, m, g, &filter_lim);
            if (any == 0)
                continue; /* no row kept: the text chunk is not fetched */
            if (any < 0) {
                rc = any;
                break;
            }
        }
        rc = read_row_group(p, src, m, g, &lim);
    }
    tokfs_buf_trim(&p->filter_chunk, TOKFS_BUILD_KEEP_BYTES);
    tokfs_pq_meta_free(m);
    return rc;
}

static void parquet_free(tokfs_build_reader *r)
{
    parquet_reader *p = (parquet_reader *)r;
    tokfs_pq_rg_free(p->rg);
    tokfs_buf_free(&p->filter_chunk);
    tokfs_filter_free(&p->filter);
    free(p);
}

int tokfs_reader_parquet_new(tokfs_builder *b, tokfs_build_reader **out)
{
    parquet_reader *p = calloc(1, sizeof *p);
    if (!p)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    p->base = (tokfs_build_reader){"parquet", parquet_read, parquet_free};
    p->b = b;
    tokfs_err filter_err = {""};
    int rc = b->cfg->filter ? tokfs_filter_parse(b->cfg->filter, &p->filter, &filter_err) : 0;
    if (rc) {
        parquet_free(&p->base);
        return tokfs_builder_fail(b, rc, "%s", filter_err.msg);
    }
    *out = &p->base;
    return 0;
}
