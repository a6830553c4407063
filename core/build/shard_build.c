/* The shard build: read one piece's source bytes (fetch), decode them into documents (JSONL,
 * .txt, compressed, Parquet), tokenize them on the pool and write the ids to the output fd with
 * the budget reserved ahead of every write. Owns the builder's state for one build. */
#include "build/shard_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode/decompress.h"
#include "common/hash.h"
#include "decode/jsonl.h"
#include "decode/parquet.h"
#include "decode/pq_source.h"
#include "tokenize/tokpool.h"
#include "common/utf8.h"

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
    tokfs_tokpool *pool;  /* every document is encoded there, on cfg->workers threads */
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
    byte_buf doc;       /* a decoded document (a line too long for the pool to decode) */
    int line_oversize;  /* the current line passed max_doc_bytes: skip to its end */

    /* JSONL segment walk. */
    const tokfs_source *src; /* the source being read (records in the pool point to it) */
    const tokfs_source *first_skip_src; /* where stats->first_skip is (NULL: none yet) */
    int64_t first_skip_offset;
    const char *url;
    int64_t pos;            /* source offset of the next byte the callback receives */
    int64_t line_start;     /* source offset where the current line starts */
    int64_t seg_end;        /* records starting at or after this belong to the next piece */
    int skipping_head;      /* discarding up to the first newline (we started at begin - 1) */
    int segment_done;       /* the first record at or after seg_end has been reached */

    /* TXT streaming. */
    int txt_failed;

    /* Compressed sources: the decoder sits between the fetch and the record logic above, which
     * then works in decompressed offsets (pos, line_start, seg_end). */
    int kind;               /* TOKFS_FORMAT_JSONL or TOKFS_FORMAT_TXT */
    tokfs_decoder *dec;
    tokfs_err dec_err;      /* corrupt or truncated data, or frames not where the plan cut */
    int dec_failed;         /* dec_err holds the reason of the failure */
    int dec_stopped;        /* the record logic stopped the decoder (done, or too large) */
    int64_t cut_begin;      /* seekable .jsonl.zst: compressed offset where the piece's frames
                             * start (0: the source's start) */
    int64_t cut_end;        /* ... where the next piece's frames start (-1: the source's end) */
    int in_head;            /* decoding frames before cut_begin: only their last byte matters */
    int64_t head_bytes;
    uint8_t head_last;

    /* Parquet sources: one row group's text column chunk streamed through pq_rg. */
    tokfs_filter filter; /* filter= (column NULL: none), parsed once per build */
    tokfs_pq_rg *pq_rg;
    tokfs_err pq_err;       /* the reader's message (corrupt or unsupported data) */
    int pq_value_rc;        /* an error of the document path (reserve, encode), returned as is */
    byte_buf filter_chunk;  /* the filter column's chunk of the current row group */
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

/* Count `count` skipped records of src at offset (a decompressed byte offset for compressed
 * sources, a row group for Parquet) and keep the message of the first one in source order.
 * Records decoded on pool threads are noted when their batch is written, after skips the
 * builder noted itself: the order kept is the plan's (source, then offset), not the calls'. */
static void note_skips(builder *b, uint64_t count, const char *why, const tokfs_source *src,
                       int64_t offset)
{
    if (!count)
        return;
    b->stats->skipped_records += count;
    if (b->first_skip_src && (src > b->first_skip_src ||
                              (src == b->first_skip_src && offset >= b->first_skip_offset)))
        return;
    b->first_skip_src = src;
    b->first_skip_offset = offset;
    char redacted[512];
    tokfs_url_redact(src->url, redacted, sizeof redacted);
    if (tokfs_format_kind(src->format) == TOKFS_FORMAT_PARQUET)
        snprintf(b->stats->first_skip, sizeof b->stats->first_skip, "%s (%s, row group %lld)",
                 why, redacted, (long long)offset);
    else
        snprintf(b->stats->first_skip, sizeof b->stats->first_skip, "%s (%s at %sbyte %lld)",
                 why, redacted, tokfs_format_codec(src->format) ? "decompressed " : "",
                 (long long)offset);
}

/* A record of the current source, starting at line_start, is skipped. */
static void note_skip(builder *b, const char *why)
{
    note_skips(b, 1, why, b->src, b->line_start);
}

/* ---- JSONL ------------------------------------------------------------------------------ */

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
    builder *b = ctx;
    const tokfs_source *src = src_ptr;
    if (what == LINE_DOCUMENT)
        b->stats->documents++;
    else if (what != LINE_BLANK)
        note_skips(b, 1, LINE_SKIP_WHY[what], src, line_start);
    return 0;
}

static int handle_line(builder *b, const uint8_t *line, size_t len)
{
    /* A line is decoded on a pool thread — unless it is longer than a batch: decoded here, its
     * document can be cut across the threads. */
    if (len <= TOKFS_TOKPOOL_BATCH)
        return tokfs_tokpool_add_record(b->pool, line, len, b->line_start, b->src);
    if (buf_reserve(&b->doc, len + 1))
        return -ENOMEM;
    size_t doc_len = 0;
    int what = decode_line(b->cfg->text_field, line, len, b->doc.data, &doc_len);
    if (what != LINE_DOCUMENT) {
        if (what != LINE_BLANK)
            note_skip(b, LINE_SKIP_WHY[what]);
        return 0;
    }
    b->stats->documents++;
    int rc = tokfs_tokpool_add(b->pool, b->doc.data, doc_len);
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
    return b->out->cancel && atomic_load_explicit(b->out->cancel, memory_order_relaxed);
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
    b->src = src;
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

/* The document gathered by txt_buffer_chunk (after a fetch that returned rc). */
static int finish_txt(builder *b, int rc)
{
    if (rc == 0 && b->txt_failed)
        note_skip(b, "document larger than max_doc_bytes");
    else if (rc == 0) {
        b->stats->documents++;
        rc = tokfs_tokpool_add(b->pool, b->doc.data, b->doc.len);
    }
    b->doc.len = 0;
    buf_shrink(&b->doc);
    return rc;
}

static int build_txt(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src)
{
    b->src = src;
    b->url = src->url;
    b->line_start = 0;
    if (src->info.size >= 0 && (uint64_t)src->info.size > b->cfg->max_doc_bytes) {
        note_skip(b, "document larger than max_doc_bytes");
        return 0;
    }
    b->doc.len = 0;
    b->txt_failed = 0;
    int rc = tokfs_fetch_range(fetcher, src->url, &src->info, 0, -1, txt_buffer_chunk, b,
                               &b->stats->fetched_bytes, b->err);
    return finish_txt(b, rc);
}

/* ---- compressed sources ----------------------------------------------------------------- */

static int boundary_error(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int boundary_error(builder *b, const char *fmt, ...)
{
    char redacted[512], what[256];
    tokfs_url_redact(b->url, redacted, sizeof redacted);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    b->dec_failed = 1;
    return tokfs_err_set(&b->dec_err, EIO, "%s: %s; the plan does not match the file", redacted,
                         what);
}

/* Decompressed bytes, in order. */
static int decoded_data(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (b->in_head) {
        b->head_bytes += (int64_t)len;
        b->head_last = data[len - 1];
        b->pos += (int64_t)len;
        return 0;
    }
    return b->kind == TOKFS_FORMAT_JSONL ? jsonl_chunk(b, data, len)
                                         : txt_buffer_chunk(b, data, len);
}

/* A frame (or gzip member) ended at compressed offset end, its output delivered. For a cut
 * .jsonl.zst, the frames before cut_begin only tell whether the piece's first decompressed byte
 * starts a record (the byte before it is a newline), as begin - 1 does for plain JSONL; at
 * cut_end the decompressed offset of the cut becomes known (seg_end). */
static int decoded_frame_end(void *ctx, int64_t end)
{
    builder *b = ctx;
    if (b->in_head) {
        if (end < b->cut_begin)
            return 0;
        if (end > b->cut_begin)
            return boundary_error(b, "a frame ends at compressed byte %lld, across the cut at %lld",
                                  (long long)end, (long long)b->cut_begin);
        if (b->head_bytes == 0)
            return boundary_error(b, "the frames before compressed byte %lld hold no data, unlike "
                                  "the seek table says", (long long)end);
        b->in_head = 0;
        b->skipping_head = b->head_last != '\n';
        b->line_start = b->pos;
        return 0;
    }
    if (b->cut_end >= 0 && b->seg_end == INT64_MAX) {
        if (end < b->cut_end)
            return 0;
        if (end > b->cut_end)
            return boundary_error(b, "a frame ends at compressed byte %lld, across the cut at %lld",
                                  (long long)end, (long long)b->cut_end);
        b->seg_end = b->pos;
        if (!b->skipping_head && b->line_start >= b->seg_end) {
            b->segment_done = 1;
            return 1; /* the next record belongs to the next piece */
        }
    }
    return 0;
}

static int compressed_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    int rc = tokfs_decoder_feed(b->dec, data, len, &b->dec_err);
    if (rc < 0 && b->dec_err.msg[0])
        b->dec_failed = 1;
    if (rc == 1)
        b->dec_stopped = 1;
    return rc;
}

/* Where a cut .jsonl.zst piece starting at compressed offset begin must start decoding: the last
 * frame before it that holds data (its last byte says whether a record starts at begin). */
static int find_head(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src, int64_t begin,
                     int64_t *from)
{
    tokfs_seek_table t;
    int rc = tokfs_seek_table_read(fetcher, src->url, &src->info, &t, &b->stats->fetched_bytes,
                                   b->err);
    if (rc == -EINVAL)
        return boundary_error(b, "%s", b->err->msg);
    if (rc)
        return rc;
    uint32_t i = 1;
    while (i < t.nframes && t.c_start[i] < begin)
        i++;
    if (i >= t.nframes || t.c_start[i] != begin) {
        tokfs_seek_table_free(&t);
        return boundary_error(b, "no frame starts at compressed byte %lld in the seek table",
                              (long long)begin);
    }
    int64_t k = (int64_t)i - 1;
    while (k >= 0 && t.d_start[k + 1] == t.d_start[k])
        k--;
    *from = begin;
    b->pos = t.d_start[i];
    if (k >= 0) {
        *from = t.c_start[k];
        b->pos = t.d_start[k];
        b->in_head = 1;
    }
    b->line_start = b->pos;
    tokfs_seek_table_free(&t);
    return 0;
}

/* A .zst or .gz source: decompressed while fetched (fixed buffers), records as for plain files.
 * Whole (begin 0, end -1), or for a seekable .jsonl.zst the records starting in the frames
 * [begin, end). */
static int build_compressed(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src,
                            int64_t begin, int64_t end)
{
    int kind = tokfs_format_kind(src->format), codec = tokfs_format_codec(src->format);
    int64_t size = src->info.size;
    if (end >= 0 && size >= 0 && end >= size)
        end = -1;
    b->src = src;
    b->url = src->url;
    char what[512];
    tokfs_url_redact(src->url, what, sizeof what);
    if ((begin > 0 || end >= 0) && !(kind == TOKFS_FORMAT_JSONL && codec == TOKFS_CODEC_ZSTD))
        return tokfs_err_set(b->err, EINVAL,
                             "%s: the plan cuts this compressed source at bytes %lld-%lld, but "
                             "only a seekable .jsonl.zst can be cut",
                             what, (long long)begin, (long long)end);
    b->kind = kind;
    b->pos = b->line_start = 0;
    b->seg_end = end >= 0 ? INT64_MAX : -1; /* known at the frame boundary end */
    b->skipping_head = b->segment_done = 0;
    b->line.len = 0;
    b->line_oversize = 0;
    b->doc.len = 0;
    b->txt_failed = 0;
    b->cut_begin = begin;
    b->cut_end = end;
    b->in_head = 0;
    b->head_bytes = 0;
    b->dec_failed = b->dec_stopped = 0;
    tokfs_err_clear(&b->dec_err);

    int64_t from = 0;
    int rc = begin > 0 ? find_head(b, fetcher, src, begin, &from) : 0;
    tokfs_decoder_sink sink = {decoded_data, decoded_frame_end, b};
    if (rc == 0 && (rc = tokfs_decoder_new(codec, from, what, &sink, &b->dec)))
        rc = tokfs_err_set(b->err, -rc, "%s: cannot start the decoder: %s", what, strerror(-rc));
    /* As for plain JSONL: past a cut, fetch a little, then growing windows until the record that
     * started before the cut ends. */
    int64_t window_end = end < 0 ? -1 : end + LOOKAHEAD_BYTES, grow = 1 << 20, cpos = from;
    while (rc == 0) {
        if (window_end >= 0 && size >= 0 && window_end >= size)
            window_end = -1;
        rc = tokfs_fetch_range(fetcher, src->url, &src->info, cpos, window_end, compressed_chunk,
                               b, &b->stats->fetched_bytes, b->err);
        if (rc || b->dec_stopped)
            break;
        cpos = tokfs_decoder_offset(b->dec);
        if (window_end < 0 || cpos < window_end)
            break; /* reached the end of the source */
        window_end += grow;
        grow *= 2;
    }
    if (rc == 0 && !b->dec_stopped) {
        /* End of the source: it must not end inside a frame or member. */
        rc = tokfs_decoder_finish(b->dec, &b->dec_err);
        if (rc)
            b->dec_failed = 1;
        else if (b->in_head || b->seg_end == INT64_MAX)
            rc = boundary_error(b, "the file ends at compressed byte %lld, before the cut at %lld",
                                (long long)tokfs_decoder_offset(b->dec),
                                (long long)(b->in_head ? begin : end));
    }
    tokfs_decoder_free(b->dec);
    b->dec = NULL;
    if (rc && b->dec_failed) /* the fetcher only knows that its consumer stopped */
        rc = tokfs_err_set(b->err, EIO, "%s", b->dec_err.msg);
    if (kind == TOKFS_FORMAT_TXT)
        return finish_txt(b, rc);
    if (rc)
        return rc;
    /* End of source: a last line without a newline still counts. */
    if (!b->segment_done && !b->skipping_head && (b->line.len || b->line_oversize) &&
        (b->seg_end < 0 || b->line_start < b->seg_end))
        return finish_line(b);
    return 0;
}

/* ---- Parquet ---------------------------------------------------------------------------- */

/* A page decompresses to at most this (the reader's page cap); a filter chunk, held whole, too. */
static size_t pq_page_cap(const tokfs_config *cfg)
{
    uint64_t cap = 2 * cfg->max_doc_bytes;
    if (cap < TOKFS_PQ_MAX_PAGE_DEFAULT)
        cap = TOKFS_PQ_MAX_PAGE_DEFAULT;
    return cap > TOKFS_PQ_MAX_PAGE_HARD ? TOKFS_PQ_MAX_PAGE_HARD : (size_t)cap;
}

/* Each non-null (kept) text value is one document. */
static int pq_value(void *ctx, const uint8_t *s, size_t len)
{
    builder *b = ctx;
    b->stats->documents++;
    int rc = tokfs_tokpool_add(b->pool, s, len);
    if (rc)
        b->pq_value_rc = rc;
    return rc;
}

static int pq_text_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    return tokfs_pq_rg_feed(b->pq_rg, data, len, &b->pq_err);
}

static int pq_filter_chunk(void *ctx, const uint8_t *data, size_t len)
{
    builder *b = ctx;
    if (cancelled(b))
        return -ECANCELED;
    if (len > b->filter_chunk.cap - b->filter_chunk.len)
        return -EIO;
    memcpy(b->filter_chunk.data + b->filter_chunk.len, data, len);
    b->filter_chunk.len += len;
    return 0;
}

/* 1 when some row of row group g passes the filter, 0 when none does (its text chunk need not be
 * fetched), or a negative errno (corrupt filter chunk, message in b->pq_err). */
static int pq_filter_any(builder *b, const tokfs_pq_meta *m, size_t g,
                         const tokfs_pq_limits *lim)
{
    tokfs_pq_col *c = NULL;
    int rc = tokfs_pq_col_open(&c, &m->filter, &m->row_groups[g].filter, b->filter_chunk.data,
                               b->filter_chunk.len, lim, &b->pq_err);
    const uint8_t *s;
    size_t len;
    while (rc == 0) {
        rc = tokfs_pq_col_next(c, &s, &len, &b->pq_err);
        if (rc == 1 && s && tokfs_filter_match(&b->filter, s, len))
            break;
        rc = rc == 1 ? 0 : rc == 0 ? -ENODATA : rc;
    }
    tokfs_pq_col_free(c);
    return rc == 1 ? 1 : rc == -ENODATA ? 0 : rc;
}

/* Row groups [begin, end) of a Parquet source (end -1: to the last). Fetches the footer (exactly
 * its bytes, whose offset the plan saved), then per row group only the text column's chunk (and
 * the filter column's), streamed through the reader into the document path. */
static int build_parquet(builder *b, tokfs_fetcher *fetcher, const tokfs_source *src,
                         int64_t begin, int64_t end)
{
    b->src = src;
    b->url = src->url;
    if (src->pq_row_groups == 0 || (end >= 0 && begin >= end))
        return 0; /* no row group of it in this piece: not even the footer is needed */
    char what[1024];
    tokfs_url_redact(src->url, what, sizeof what);
    tokfs_pq_meta *m = NULL;
    int rc = tokfs_pq_fetch_meta(fetcher, src->url, &src->info, src->pq_footer_start,
                                 b->cfg->text_field, b->filter.column, &m,
                                 &b->stats->fetched_bytes, b->err);
    if (rc)
        return rc; /* err names the URL */
    if (m->n_row_groups != src->pq_row_groups) {
        tokfs_pq_meta_free(m);
        return tokfs_err_set(b->err, EIO,
                             "%s: the footer lists %zu row groups, the plan %u: the file changed "
                             "upstream; not served",
                             what, m->n_row_groups, src->pq_row_groups);
    }
    size_t last = end < 0 || (uint64_t)end > m->n_row_groups ? m->n_row_groups : (size_t)end;
    size_t cap = pq_page_cap(b->cfg);
    tokfs_pq_limits lim = {.max_page_bytes = cap, .max_value_bytes = b->cfg->max_doc_bytes};
    tokfs_pq_limits filter_lim = {.max_page_bytes = cap};
    for (size_t g = begin > 0 ? (size_t)begin : 0; rc == 0 && g < last; g++) {
        const tokfs_pq_row_group *rg = &m->row_groups[g];
        tokfs_err_clear(&b->pq_err);
        b->pq_value_rc = 0;
        int pq_failed = 0;
        if (b->filter.column) {
            uint64_t flen = rg->filter.end - rg->filter.start;
            if (flen > cap) {
                rc = tokfs_err_set(b->err, EIO,
                                   "%s: Parquet column '%s', row group %zu: a chunk of %llu bytes, "
                                   "over the limit of %zu for a filter column",
                                   what, m->filter.name, g, (unsigned long long)flen, cap);
                break;
            }
            b->filter_chunk.len = 0;
            if (buf_reserve(&b->filter_chunk, flen ? (size_t)flen : 1)) {
                rc = -ENOMEM;
                break;
            }
            rc = tokfs_fetch_range(fetcher, src->url, &src->info, (int64_t)rg->filter.start,
                                   (int64_t)rg->filter.end, pq_filter_chunk, b,
                                   &b->stats->fetched_bytes, b->err);
            if (rc == 0 && b->filter_chunk.len != flen)
                rc = tokfs_err_set(b->err, EIO, "%s: short read of a Parquet column chunk", what);
            if (rc)
                break;
            int any = pq_filter_any(b, m, g, &filter_lim);
            if (any == 0)
                continue; /* no row kept: the text chunk is not fetched */
            if (any < 0) {
                rc = any;
                pq_failed = 1;
            }
        }
        if (rc == 0) {
            rc = tokfs_pq_rg_open(&b->pq_rg, m, g, b->filter.column ? &b->filter : NULL,
                                  b->filter_chunk.data, b->filter_chunk.len, &lim, pq_value, b,
                                  &b->pq_err);
            pq_failed = rc != 0;
        }
        if (rc == 0) {
            rc = tokfs_fetch_range(fetcher, src->url, &src->info, (int64_t)rg->text.start,
                                   (int64_t)rg->text.end, pq_text_chunk, b,
                                   &b->stats->fetched_bytes, b->err);
            /* The reader's own failures (not the fetch's, nor the document path's) */
            pq_failed = rc < 0 && b->pq_err.msg[0] && !b->pq_value_rc && rc != -ECANCELED;
        }
        tokfs_pq_stats st = {0};
        if (rc == 0) {
            rc = tokfs_pq_rg_finish(b->pq_rg, &st, &b->pq_err);
            pq_failed = rc < 0 && !b->pq_value_rc;
        }
        tokfs_pq_rg_free(b->pq_rg);
        b->pq_rg = NULL;
        if (rc == 0) {
            note_skips(b, st.nulls, "null text value", src, (int64_t)g);
            note_skips(b, st.too_large, "text value larger than max_doc_bytes", src,
                       (int64_t)g);
        } else if (pq_failed) {
            rc = tokfs_err_set(b->err, EIO, "%s: %s", what,
                               b->pq_err.msg[0] ? b->pq_err.msg : strerror(-rc));
        }
    }
    buf_shrink(&b->filter_chunk);
    tokfs_pq_meta_free(m);
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
    if (cfg->filter && (rc = tokfs_filter_parse(cfg->filter, &b.filter, err))) {
        free(b.wbuf);
        return rc;
    }
    /* Every document goes through the pool (also tokenizer=bytes: one path, and its JSON
     * decoding runs on the threads too). */
    tokfs_id_sink sink = {put_ids, &b};
    tokfs_tokpool_records records = {decode_line, cfg->text_field, line_done, &b};
    if (rc == 0)
        rc = tokfs_tokpool_start(tok, cfg->workers, &sink, &records, &b.pool);
    for (uint32_t s = piece->first_source; rc == 0 && s <= piece->last_source; s++) {
        const tokfs_source *src = &plan->sources[s];
        int64_t begin = s == piece->first_source ? piece->begin : 0;
        int64_t end = s == piece->last_source ? piece->end : -1;
        if (tokfs_format_kind(src->format) == TOKFS_FORMAT_PARQUET)
            rc = build_parquet(&b, fetcher, src, begin, end);
        else if (tokfs_format_codec(src->format))
            rc = build_compressed(&b, fetcher, src, begin, end);
        else if (src->format == TOKFS_FORMAT_JSONL)
            rc = build_jsonl_segment(&b, fetcher, src, begin, end);
        else
            rc = build_txt(&b, fetcher, src);
    }
    if (rc == 0)
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
    free(b.filter_chunk.data);
    tokfs_filter_free(&b.filter);
    return rc;
}
