/* .txt records: a whole source is one document, gathered in the builder's document buffer up
 * to max_doc_bytes (every document goes through the pool, so it is gathered whole; a longer one
 * is skipped and counted), and the reader of plain .txt files, which knows their size before
 * fetching and skips an oversized one without reading it. The decoding layer
 * (reader_compressed.c) feeds the same gathering with decompressed bytes. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdlib.h>

#define TOO_LARGE "document larger than max_doc_bytes"

void tokfs_build_txt_start(tokfs_build_txt *t, tokfs_builder *b, const tokfs_source *src)
{
    *t = (tokfs_build_txt){.b = b, .src = src};
    tokfs_buf_clear(&b->doc);
}

int tokfs_build_txt_feed(void *ctx, const uint8_t *data, size_t len)
{
    tokfs_build_txt *t = ctx;
    tokfs_buf *doc = &t->b->doc;
    int rc = tokfs_builder_cancelled(t->b);
    if (rc)
        return rc;
    if (doc->len + len > t->b->cfg->max_doc_bytes) {
        t->too_large = 1;
        return 1; /* stop fetching: the document is skipped */
    }
    if (tokfs_buf_append(doc, data, len))
        return tokfs_builder_fail(t->b, -ENOMEM, "out of memory");
    return 0;
}

int tokfs_build_txt_finish(tokfs_build_txt *t)
{
    tokfs_builder *b = t->b;
    int rc = 0;
    if (t->too_large)
        tokfs_builder_note_skips(b, 1, TOO_LARGE, t->src, 0);
    else
        rc = tokfs_builder_document(b, b->doc.data, b->doc.len);
    tokfs_buf_trim(&b->doc, TOKFS_BUILD_KEEP_BYTES);
    return rc;
}

/* ---- the reader of plain .txt -------------------------------------------------------------- */

typedef struct txt_reader {
    tokfs_build_reader base;
    tokfs_builder *b;
    tokfs_build_txt txt;
} txt_reader;

/* A .txt source is never cut: begin and end cover all of it. */
static int txt_read(tokfs_build_reader *r, const tokfs_source *src, int64_t begin, int64_t end)
{
    txt_reader *t = (txt_reader *)r;
    if (src->info.size >= 0 && (uint64_t)src->info.size > t->b->cfg->max_doc_bytes) {
        tokfs_builder_note_skips(t->b, 1, TOO_LARGE, src, 0);
        return 0;
    }
    tokfs_build_txt_start(&t->txt, t->b, src);
    int rc = tokfs_builder_fetch(t->b, src, 0, -1, tokfs_build_txt_feed, &t->txt);
    return rc ? rc : tokfs_build_txt_finish(&t->txt);
}

static void txt_free(tokfs_build_reader *r)
{
    free(r);
}

int tokfs_reader_txt_new(tokfs_builder *b, tokfs_build_reader **out)
{
    txt_reader *t = calloc(1, sizeof *t);
    if (!t)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    t->base = (tokfs_build_reader){"txt", txt_read, txt_free};
    t->b = b;
    *out = &t->base;
    return 0;
}
