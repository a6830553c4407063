/* JSONL records: the line logic (which lines belong to the piece, lines over max_doc_bytes,
 * blank and malformed lines, a last line without a newline), the pool's half of it (lines of at
 * most a batch decoded on the pool threads, their outcome noted in line order), and the reader
 * of plain JSONL byte ranges: a piece [b, e) reads from b - 1, skips to the first newline, and
 * reads every record starting before e, finishing the last one in lookahead windows past e. The
 * decoding layer (reader_compressed.c) feeds the same line logic with decompressed bytes. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/jsonl.h"

/* ---- the pool's half ----------------------------------------------------------------------- */

/* What a JSONL line is: a document, or why it is not one. */
enum { LINE_DOCUMENT = 0, LINE_BLANK, LINE_NO_FIELD, LINE_NOT_STRING, LINE_MALFORMED };

static const char *const LINE_SKIP_WHY[] = {
    [LINE_NO_FIELD] = "record without the text_field member",
    [LINE_NOT_STRING] = "text_field member is not a string",
    [LINE_MALFORMED] = "malformed JSON line",
};

/* Decode a line's text member into out (room for len bytes): LINE_DOCUMENT or why not. Runs on
 * the builder's thread or, for lines handed to the pool as records, on a pool thread. */
static int decode_line(const void *ctx, const uint8_t *line, size_t len, uint8_t *out,
                       size_t *out_len)
{
    const char *field = ctx;
    int rc = tokfs_jsonl_field(line, len, field, strlen(field), out, out_len);
    switch (rc) {
    case 0: return LINE_DOCUMENT;
    case -ENODATA: return LINE_BLANK; /* not a record */
    case -ENOENT: return LINE_NO_FIELD;
    case -EDOM: return LINE_NOT_STRING;
    default: return LINE_MALFORMED;
    }
}

/* A line decoded on a pool thread, in line order. */
static int line_done(void *ctx, int what, int64_t line_start, const void *src_ptr)
{
    tokfs_builder *b = ctx;
    if (what == LINE_DOCUMENT)
        tokfs_builder_count_documents(b, 1);
    else if (what != LINE_BLANK)
        tokfs_builder_note_skips(b, 1, LINE_SKIP_WHY[what], src_ptr, line_start);
    return 0;
}

tokfs_tokpool_records tokfs_build_jsonl_records(tokfs_builder *b)
{
    return (tokfs_tokpool_records){decode_line, b->cfg->text_field, line_done, b};
}

/* ---- the line logic ------------------------------------------------------------------------ */

/* A complete line [line_start, pos) of at most max_doc_bytes. */
static int handle_line(tokfs_build_lines *l, const uint8_t *line, size_t len)
{
    tokfs_builder *b = l->b;
    /* A line is decoded on a pool thread — unless it is longer than a batch: decoded here, its
     * document can be cut across the threads. */
    if (len <= TOKFS_TOKPOOL_BATCH)
        return tokfs_builder_record(b, line, len, l->line_start, l->src);
    /* decoded straight into the feed's chunk (a decoded member is never longer than its line) */
    int rc = 0;
    uint8_t *doc = tokfs_builder_document_room(b, len, &rc);
    if (!doc)
        return rc;
    size_t doc_len = 0;
    int what = decode_line(b->cfg->text_field, line, len, doc, &doc_len);
    if (what == LINE_DOCUMENT)
        return tokfs_builder_document_commit(b, doc_len);
    if (what != LINE_BLANK)
        tokfs_builder_note_skips(b, 1, LINE_SKIP_WHY[what], l->src, l->line_start);
    return 0;
}

/* The current line ended (its bytes in b->line, unless it passed max_doc_bytes). */
static int finish_line(tokfs_build_lines *l)
{
    tokfs_builder *b = l->b;
    int rc = 0;
    if (l->oversize)
        tokfs_builder_note_skips(b, 1, "record larger than max_doc_bytes", l->src, l->line_start);
    else
        rc = handle_line(l, b->line.data, b->line.len);
    l->oversize = 0;
    /* Emptied, not trimmed: a line buffer given back after each long line is mapped and faulted
     * in again for the next (a third of the builder's time on a corpus of long documents). It
     * never holds more than max_doc_bytes, and the build frees it at its end. */
    tokfs_buf_clear(&b->line);
    return rc;
}

static int append_line_bytes(tokfs_build_lines *l, const uint8_t *data, size_t len)
{
    tokfs_buf *line = &l->b->line;
    if (!len || l->oversize)
        return 0;
    if (line->len + len > l->b->cfg->max_doc_bytes) {
        l->oversize = 1; /* skipped to its end without being buffered whole */
        line->len = 0;
        return 0;
    }
    if (tokfs_buf_append(line, data, len))
        return tokfs_builder_fail(l->b, -ENOMEM, "out of memory");
    return 0;
}

void tokfs_build_lines_start(tokfs_build_lines *l, tokfs_builder *b, const tokfs_source *src,
                             int64_t pos, int64_t seg_end, int skip_head)
{
    *l = (tokfs_build_lines){
        .b = b, .src = src, .pos = pos, .line_start = pos, .seg_end = seg_end,
        .skipping_head = skip_head,
    };
    tokfs_buf_clear(&b->line);
}

int tokfs_build_lines_feed(void *ctx, const uint8_t *data, size_t len)
{
    tokfs_build_lines *l = ctx;
    int rc = tokfs_builder_cancelled(l->b);
    if (rc)
        return rc;
    while (len) {
        const uint8_t *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) + 1 : len;
        if (l->skipping_head) {
            if (nl) {
                l->skipping_head = 0;
                l->line_start = l->pos + (int64_t)take;
            }
        } else {
            if ((rc = append_line_bytes(l, data, nl ? take - 1 : take)))
                return rc;
            if (nl) {
                if ((rc = finish_line(l)))
                    return rc;
                l->line_start = l->pos + (int64_t)take;
            }
        }
        l->pos += (int64_t)take;
        data += take;
        len -= take;
        if (nl && !l->skipping_head && l->seg_end >= 0 && l->line_start >= l->seg_end) {
            l->done = 1;
            return 1; /* the next record belongs to the next piece */
        }
    }
    return 0;
}

int tokfs_build_lines_cut(tokfs_build_lines *l)
{
    l->seg_end = l->pos;
    if (!l->skipping_head && l->line_start >= l->seg_end) {
        l->done = 1;
        return 1; /* the next record belongs to the next piece */
    }
    return 0;
}

int tokfs_build_lines_finish(tokfs_build_lines *l)
{
    if (!l->done && !l->skipping_head && (l->b->line.len || l->oversize) &&
        (l->seg_end < 0 || l->line_start < l->seg_end))
        return finish_line(l);
    return 0;
}

/* ---- the reader of plain JSONL ------------------------------------------------------------- */

typedef struct jsonl_reader {
    tokfs_build_reader base;
    tokfs_builder *b;
    tokfs_build_lines lines;
} jsonl_reader;

/* The records of src that start in [begin, end) (end -1: to the end). */
static int jsonl_read(tokfs_build_reader *r, const tokfs_source *src, int64_t begin, int64_t end)
{
    jsonl_reader *j = (jsonl_reader *)r;
    tokfs_build_lines *l = &j->lines;
    int64_t size = src->info.size;
    if (end >= 0 && size >= 0 && end >= size)
        end = -1; /* through the end of the source */
    tokfs_build_lines_start(l, j->b, src, begin > 0 ? begin - 1 : 0, end, begin > 0);

    /* A record that starts before `end` may finish after it: fetch a little past the cut first,
     * then in growing windows until the record ends. */
    int64_t window_end = end < 0 ? -1 : end + TOKFS_BUILD_LOOKAHEAD_BYTES;
    int64_t grow = TOKFS_BUILD_LOOKAHEAD_GROW;
    for (;;) {
        if (window_end >= 0 && size >= 0 && window_end >= size)
            window_end = -1;
        int rc = tokfs_builder_fetch(j->b, src, l->pos, window_end, tokfs_build_lines_feed, l);
        if (rc)
            return rc;
        if (l->done)
            return 0;
        if (window_end < 0 || l->pos < window_end)
            break; /* reached the end of the source */
        window_end += grow;
        grow *= 2;
    }
    return tokfs_build_lines_finish(l);
}

static void jsonl_free(tokfs_build_reader *r)
{
    free(r);
}

int tokfs_reader_jsonl_new(tokfs_builder *b, tokfs_build_reader **out)
{
    jsonl_reader *j = calloc(1, sizeof *j);
    if (!j)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    j->base = (tokfs_build_reader){"jsonl", jsonl_read, jsonl_free};
    j->b = b;
    *out = &j->base;
    return 0;
}
