#include "shard_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "jsonl.h"
#include "tokpool.h"
#include "utf8.h"

#define WRITE_BUFFER_BYTES (1u << 20)
#define LOOKAHEAD_BYTES (64u << 10)   /* first fetch past a cut, to finish its last record */
#define SHRINK_ABOVE_BYTES (4u << 20) /* give back buffers grown for one large document */

/* A growable byte buffer capped by the caller. */
typedef struct byte_buf {
    uint8_t *data;
    size_t len, cap;
} byte_buf;

static int buf_reserve(byte_buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < need)
        cap *= 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown)
        return -ENOMEM;
    b->data = grown;
    b->cap = cap;
    return 0;
}

static void buf_shrink(byte_buf *b)
{
    if (b->cap > SHRINK_ABOVE_BYTES) {
        free(b->data);
        memset(b, 0, sizeof *b);
    }
}

typedef struct builder {
    const tokfs_tokenizer *tok;
    const tokfs_config *cfg;
    const tokfs_build_output *out;
    tokfs_tokpool *pool;  /* text tokenizers: documents are encoded on cfg->workers threads */
    tokfs_build_stats *stats;
    tokfs_err *err;
    unsigned id_bytes;

    /* Output: ids packed little-endian, flushed in WRITE_BUFFER_BYTES blocks. */
    uint8_t *wbuf;
    size_t wlen;
    uint64_t written;
    tokfs_hash hash;

    /* Documents. */
    byte_buf line;      /* JSONL: the current line */
    byte_buf doc;       /* decoded document / repaired text */
    byte_buf repaired;  /* UTF-8 repair output for text tokenizers */
    int line_oversize;  /* the current line passed max_doc_bytes: skip to its end */

    /* JSONL segment walk. */
    const char *url;
    int64_t pos;            /* source offset of the next byte the callback receives */
    int64_t line_start;     /* source offset where the current line starts */
    int64_t seg_end;        /* records starting at or after this belong to the next piece */
    int skipping_head;      /* discarding up to the first newline (we started at begin - 1) */
    int segment_done;       /* the first record at or after seg_end has been reached */

    /* TXT streaming. */
    int txt_failed;
} builder;

static int flush_output(builder *b)
{
    if (!b->wlen)
        return 0;
    if (b->out->reserve) {
        int rc = b->out->reserve(b->out->reserve_ctx, b->written + b->wlen);
        if (rc)
            return rc;
    }
    tokfs_hash_update(&b->hash, b->wbuf, b->wlen);
    size_t off = 0;
    while (off < b->wlen) {
        ssize_t n = write(b->out->fd, b->wbuf + off, b->wlen - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return tokfs_err_set(b->err, e, "cannot write shard: %s", strerror(e));
        }
        off += (size_t)n;
    }
    b->written += b->wlen;
    b->wlen = 0;
    return 0;
}

static int put_ids(void *ctx, const uint32_t *ids, size_t n)
{
    builder *b = ctx;
    for (size_t i = 0; i < n; i++) {
        if (b->wlen + 4 > WRITE_BUFFER_BYTES) {
            int rc = flush_output(b);
            if (rc)
                return rc;
        }
        uint32_t id = ids[i];
        uint8_t *p = b->wbuf + b->wlen;
        p[0] = (uint8_t)id;
        p[1] = (uint8_t)(id >> 8);
        if (b->id_bytes == 4) {
            p[2] = (uint8_t)(id >> 16);
            p[3] = (uint8_t)(id >> 24);
        }
        b->wlen += b->id_bytes;
    }
    b->stats->tokens += n;
    return 0;
}

static void note_skip(builder *b, const char *why)
{
    b->stats->skipped_records++;
    if (!b->stats->first_skip[0]) {
        char redacted[512];
        tokfs_url_redact(b->url, redacted, sizeof redacted);
        snprintf(b->stats->first_skip, sizeof b->stats->first_skip, "%s (%s at byte %lld)", why,
                 redacted, (long long)b->line_start);
    }
}

/* Encode text (a whole document or, for streamable tokenizers, part of one). */
static int encode_text(builder *b, const uint8_t *text, size_t len)
{
    tokfs_id_sink sink = {put_ids, b};
    if (!b->tok->text_based)
        return b->tok->encode(b->tok, text, len, &sink);
    if (tokfs_utf8_valid(text, len))
        return b->tok->encode(b->tok, text, len, &sink);
    tokfs_utf8_state st = {0};
    if (buf_reserve(&b->repaired, TOKFS_UTF8_OUT_MAX(len)))
        return -ENOMEM;
    size_t n = tokfs_utf8_repair(&st, text, len, b->repaired.data, 1);
    int rc = b->tok->encode(b->tok, b->repaired.data, n, &sink);
    buf_shrink(&b->repaired);
    return rc;
}

static int end_document(builder *b)
{
    uint32_t eot = b->tok->eot_id;
    b->stats->documents++;
    return put_ids(b, &eot, 1);
}

/* ---- JSONL ------------------------------------------------------------------------------ */

static int handle_line(builder *b, const uint8_t *line, size_t len)
{
    if (buf_reserve(&b->doc, len + 1))
        return -ENOMEM;
    size_t doc_len = 0;
    int rc = tokfs_jsonl_field(line, len, b->cfg->text_field, strlen(b->cfg->text_field),
                               b->doc.data, &doc_len);
    if (rc == -ENODATA)
        return 0; /* blank line: not a record */
    if (rc == -ENOENT) {
        note_skip(b, "record without the text_field member");
        return 0;
    }
    if (rc == -EDOM) {
        note_skip(b, "text_field member is not a string");
        return 0;
    }
    if (rc) {
        note_skip(b, "malformed JSON line");
        return 0;
    }
    if (b->pool) {
        b->stats->documents++;
        rc = tokfs_tokpool_add(b->pool, b->doc.data, doc_len);
    } else {
        rc = encode_text(b, b->doc.data, doc_len);
        if (rc == 0)
            rc = end_document(b);
    }
    buf_shrink(&b->doc);
    return rc;
}

/* A complete line [line_start, pos) is in b->line (unless it overflowed). */
static int finish_line(builder *b)
{
    int rc = 0;
    if (b->line_oversize)
        note_skip(b, "record larger than max_doc_bytes");
    else
        rc = handle_line(b, b->line.data, b->line.len);
    b->line.len = 0;
    b->line_oversize = 0;
    buf_shrink(&b->line);
    return rc;
}

static int append_line_bytes(builder *b, const uint8_t *data, size_t len)
{
    if (!len || b->line_oversize) /* memcpy into a never-grown (NULL) buffer is UB even for 0 */
        return 0;
    if (b->line.len + len > b->cfg->max_doc_bytes) {
        b->line_oversize = 1;
        b->line.len = 0;
        return 0;
    }
    if (buf_reserve(&b->line, b->line.len + len))
        return -ENOMEM;
    memcpy(b->line.data + b->line.len, data, len);
    b->line.len += len;
    return 0;
}

static int cancelled(const builder *b)
{
    return b->out->cancel && *b->out->cancel;
}

static int jsonl_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    while (len) {
        const uint8_t *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) + 1 : len;
        if (b->skipping_head) {
            if (nl) {
                b->skipping_head = 0;
                b->line_start = b->pos + (int64_t)take;
            }
        } else {
            int rc = append_line_bytes(b, data, nl ? take - 1 : take);
            if (rc)
                return rc;
            if (nl) {
                rc = finish_line(b);
                if (rc)
                    return rc;
                b->line_start = b->pos + (int64_t)take;
            }
        }
        b->pos += (int64_t)take;
        data += take;
        len -= take;
        if (nl && !b->skipping_head && b->seg_end >= 0 && b->line_start >= b->seg_end) {
            b->segment_done = 1;
            return 1; /* the next record belongs to the next piece */
        }
    }
    return 0;
}

/* Read the records of src that start in [begin, end) (end = -1: to the end). */
static int build_jsonl_segment(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src,
                               int64_t begin, int64_t end)
{
    int64_t size = src->info.size;
    if (end >= 0 && size >= 0 && end >= size)
        end = -1; /* through the end of the source */
    b->url = src->url;
    b->pos = begin > 0 ? begin - 1 : 0;
    b->line_start = begin;
    b->seg_end = end;
    b->skipping_head = begin > 0;
    b->segment_done = 0;
    b->line.len = 0;
    b->line_oversize = 0;

    /* A record that starts before `end` may finish after it: fetch a little past the cut first,
     * then in growing windows until the record ends. */
    int64_t window_end = end < 0 ? -1 : end + LOOKAHEAD_BYTES;
    int64_t grow = 1 << 20;
    for (;;) {
        if (window_end >= 0 && size >= 0 && window_end >= size)
            window_end = -1;
        int rc = tokfs_fetch_range(fetcher, src->url, &src->info, b->pos, window_end, jsonl_chunk,
                                   b, &b->stats->fetched_bytes, b->err);
        if (rc)
            return rc;
        if (b->segment_done)
            return 0;
        if (window_end < 0 || b->pos < window_end)
            break; /* reached the end of the source */
        window_end += grow;
        grow *= 2;
    }
    /* End of source: a last line without a newline still counts. */
    if (!b->skipping_head && (b->line.len || b->line_oversize) &&
        (b->seg_end < 0 || b->line_start < b->seg_end))
        return finish_line(b);
    return 0;
}

/* ---- TXT -------------------------------------------------------------------------------- */

static int txt_stream_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    tokfs_id_sink sink = {put_ids, b};
    return b->tok->encode(b->tok, data, len, &sink);
}

static int txt_buffer_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    if (b->doc.len + len > b->cfg->max_doc_bytes) {
        b->txt_failed = 1;
        return 1; /* too large: stop fetching, skip the document */
    }
    if (buf_reserve(&b->doc, b->doc.len + len))
        return -ENOMEM;
    memcpy(b->doc.data + b->doc.len, data, len);
    b->doc.len += len;
    return 0;
}

static int build_txt(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src)
{
    b->url = src->url;
    b->line_start = 0;
    if (src->info.size >= 0 && (uint64_t)src->info.size > b->cfg->max_doc_bytes) {
        note_skip(b, "document larger than max_doc_bytes");
        return 0;
    }
    int rc;
    if (b->tok->streamable && !b->tok->text_based) {
        rc = tokfs_fetch_range(fetcher, src->url, &src->info, 0, -1, txt_stream_chunk, b,
                               &b->stats->fetched_bytes, b->err);
        return rc ? rc : end_document(b);
    }
    b->doc.len = 0;
    b->txt_failed = 0;
    rc = tokfs_fetch_range(fetcher, src->url, &src->info, 0, -1, txt_buffer_chunk, b,
                           &b->stats->fetched_bytes, b->err);
    if (rc == 0 && b->txt_failed)
        note_skip(b, "document larger than max_doc_bytes");
    else if (rc == 0 && b->pool) {
        b->stats->documents++;
        rc = tokfs_tokpool_add(b->pool, b->doc.data, b->doc.len);
    } else if (rc == 0) {
        rc = encode_text(b, b->doc.data, b->doc.len);
        if (rc == 0)
            rc = end_document(b);
    }
    b->doc.len = 0;
    buf_shrink(&b->doc);
    return rc;
}

/* ---- the piece -------------------------------------------------------------------------- */

int tokfs_build_shard(const tokfs_plan *plan, uint32_t piece_index, const tokfs_tokenizer *tok,
                      const tokfs_config *cfg, tokfs_fetcher *fetcher,
                      const tokfs_build_output *out, tokfs_build_stats *stats, tokfs_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (piece_index >= plan->npieces)
        return tokfs_err_set(err, EINVAL, "no piece %u in the plan", piece_index);
    const tokfs_piece *piece = &plan->pieces[piece_index];
    builder b = {
        .tok = tok, .cfg = cfg, .out = out, .stats = stats, .err = err,
        .id_bytes = tokfs_tokenizer_id_bytes(tok),
    };
    tokfs_hash_init(&b.hash, 0);
    if (!(b.wbuf = malloc(WRITE_BUFFER_BYTES)))
        return tokfs_err_set(err, ENOMEM, "out of memory");

    int rc = 0;
    if (tok->text_based) {
        tokfs_id_sink sink = {put_ids, &b};
        rc = tokfs_tokpool_start(tok, cfg->workers, &sink, &b.pool);
    }
    for (uint32_t s = piece->first_source; rc == 0 && s <= piece->last_source; s++) {
        const tokfs_source *src = &plan->sources[s];
        int64_t begin = s == piece->first_source ? piece->begin : 0;
        int64_t end = s == piece->last_source ? piece->end : -1;
        if (src->format == TOKFS_FORMAT_JSONL)
            rc = build_jsonl_segment(&b, fetcher, src, begin, end);
        else
            rc = build_txt(&b, fetcher, src);
    }
    if (rc == 0 && b.pool)
        rc = tokfs_tokpool_finish(b.pool);
    tokfs_tokpool_free(b.pool);
    if (rc == 0)
        rc = flush_output(&b);
    stats->checksum = tokfs_hash_final(&b.hash);
    if (rc == -ENOMEM)
        tokfs_err_set(err, ENOMEM, "out of memory while building shard");
    free(b.wbuf);
    free(b.line.data);
    free(b.doc.data);
    free(b.repaired.data);
    return rc;
}
