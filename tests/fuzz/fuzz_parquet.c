/* The Parquet reader on arbitrary files: footer (through the short-tail / NEED_MORE protocol,
 * with and without a filter column), then every row group whole, streamed in pieces, and through
 * the row cursor. Any error is fine; a crash, a leak, an out-of-bounds access, undefined
 * behaviour or an error without a message is not. Seeds: small files from the npm writers of
 * tests/parquet (node make_fixtures.mjs --seeds DIR). */
#include <stdlib.h>
#include <string.h>

#include "decode/parquet.h"

static volatile size_t keep; /* the values read go somewhere */

static int sink(void *ctx, const uint8_t *s, size_t len)
{
    size_t *total = ctx;
    if (len)
        *total += s[0] + s[len - 1]; /* touch both ends */
    return 0;
}

static void must_have_message(int rc, const tokfs_err *err)
{
    if (rc < 0 && !err->msg[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *f = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    memcpy(f, data, size);
    tokfs_pq_limits lim = {.max_page_bytes = 4u << 20, .max_value_bytes = 1u << 16};
    size_t total = 0;
    for (int with_filter = 0; with_filter <= 1; with_filter++) {
        tokfs_pq_meta *m = NULL;
        tokfs_err err = {{0}};
        uint64_t need = 0;
        const char *fcol = with_filter ? "lang" : NULL;
        size_t tail = size < 64 ? size : 64;
        int rc = tokfs_pq_meta_parse(f + size - tail, tail, size, "text", fcol, &m, &need, &err);
        if (rc == TOKFS_PQ_NEED_MORE) {
            if (need >= size)
                abort();
            rc = tokfs_pq_meta_parse(f + need, size - need, size, "text", fcol, &m, &need, &err);
            if (rc == TOKFS_PQ_NEED_MORE) /* the whole file is there: no more to ask for */
                abort();
        }
        must_have_message(rc, &err);
        if (rc != 0)
            continue;
        tokfs_filter flt = {0};
        char *vals[] = {"Python", ""};
        size_t lens[] = {6, 0};
        flt.column = "lang";
        flt.n_values = 2;
        flt.values = vals;
        flt.lens = lens;
        for (size_t g = 0; g < m->n_row_groups; g++) {
            const tokfs_pq_row_group *rg = &m->row_groups[g];
            if (rg->text.end > size || (with_filter && rg->filter.end > size))
                abort(); /* ranges are checked against the file */
            const uint8_t *tc = f + rg->text.start;
            size_t tl = rg->text.end - rg->text.start;
            const uint8_t *fc = with_filter ? f + rg->filter.start : NULL;
            size_t fl = with_filter ? rg->filter.end - rg->filter.start : 0;
            tokfs_pq_stats st;
            rc = tokfs_pq_read_row_group(m, g, tc, tl, with_filter ? &flt : NULL, fc, fl, &lim,
                                         sink, &total, &st, &err);
            must_have_message(rc, &err);
            if (with_filter)
                continue;
            tokfs_pq_rg *r;
            size_t piece = 1 + size % 61;
            if (tokfs_pq_rg_open(&r, m, g, NULL, NULL, 0, &lim, sink, &total, &err) == 0) {
                rc = 0;
                for (size_t p = 0; rc == 0 && p < tl; p += piece)
                    rc = tokfs_pq_rg_feed(r, tc + p, tl - p < piece ? tl - p : piece, &err);
                if (rc == 0)
                    rc = tokfs_pq_rg_finish(r, &st, &err);
                must_have_message(rc, &err);
                tokfs_pq_rg_free(r);
            }
            tokfs_pq_col *c;
            if (tokfs_pq_col_open(&c, &m->text, &rg->text, tc, tl, &lim, &err) == 0) {
                const uint8_t *s;
                size_t len;
                while ((rc = tokfs_pq_col_next(c, &s, &len, &err)) > 0)
                    if (s && len)
                        total += s[len - 1];
                must_have_message(rc, &err);
                tokfs_pq_col_free(c);
            }
        }
        tokfs_pq_meta_free(m);
    }
    free(f);
    keep += total;
    return 0;
}
