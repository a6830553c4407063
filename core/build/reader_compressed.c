/* The decoding layer: the reader of .zst and .gz sources. Compressed bytes are fetched and fed to
 * a decoder (core/decode/decompress), whose output goes to the JSONL line logic or the .txt
 * document logic (reader_jsonl.c, reader_txt.c), which then count decompressed offsets. Owns what is
 * particular to compressed sources: a seekable .jsonl.zst cut at frame starts — decoding starts
 * at the last frame holding data before the cut (its last byte says whether the piece's first
 * byte starts a record: the b - 1 of plain JSONL), the piece's end becomes known at the frame
 * boundary of the next cut, and frame ends are checked against the plan's cuts while decoding. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decompress.h"

typedef struct compressed_reader {
    tokfs_build_reader base;
    tokfs_builder *b;

    /* The source being read. */
    const tokfs_source *src;
    char what[512];         /* its URL, redacted, for messages */
    int kind;               /* TOKFS_FORMAT_JSONL or TOKFS_FORMAT_TXT: where decoded bytes go */
    tokfs_build_lines lines;
    tokfs_build_txt txt;
    tokfs_decoder *dec;
    int stopped;            /* the record logic stopped the decoder (piece done, or too large) */

    /* A cut seekable .jsonl.zst. */
    int64_t cut_begin;      /* compressed offset where the piece's frames start (0: the start) */
    int64_t cut_end;        /* ... where the next piece's frames start (-1: the source's end) */
    int in_head;            /* decoding frames before cut_begin: only their last byte matters */
    int64_t head_pos;       /* decompressed offset of the next head byte */
    int64_t head_bytes;
    uint8_t head_last;
} compressed_reader;

/* The file's frames are not where the plan cut it. EIO, the build's error. */
static int boundary_error(compressed_reader *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int boundary_error(compressed_reader *c, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tokfs_builder_fail(c->b, -EIO, "%s: %s; the plan does not match the file", c->what,
                              what);
}

/* Decompressed bytes, in order. */
static int decoded_data(void *ctx, const uint8_t *data, size_t len)
{
    compressed_reader *c = ctx;
    if (c->in_head) {
        c->head_bytes += (int64_t)len;
        c->head_last = data[len - 1];
        c->head_pos += (int64_t)len;
        return 0;
    }
    return c->kind == TOKFS_FORMAT_JSONL ? tokfs_build_lines_feed(&c->lines, data, len)
                                         : tokfs_build_txt_feed(&c->txt, data, len);
}

/* A frame (or gzip member) ended at compressed offset end, its output delivered. For a cut
 * .jsonl.zst, the frames before cut_begin only tell whether the piece's first decompressed byte
 * starts a record (the byte before it is a newline), as begin - 1 does for plain JSONL; at
 * cut_end the decompressed offset of the cut becomes known. */
static int decoded_frame_end(void *ctx, int64_t end)
{
    compressed_reader *c = ctx;
    if (c->in_head) {
        if (end < c->cut_begin)
            return 0;
        if (end > c->cut_begin)
            return boundary_error(c, "a frame ends at compressed byte %lld, across the cut at %lld",
                                  (long long)end, (long long)c->cut_begin);
        if (c->head_bytes == 0)
            return boundary_error(c, "the frames before compressed byte %lld hold no data, unlike "
                                  "the seek table says", (long long)end);
        c->in_head = 0;
        tokfs_build_lines_start(&c->lines, c->b, c->src, c->head_pos,
                                c->cut_end >= 0 ? INT64_MAX : -1, c->head_last != '\n');
        return 0;
    }
    if (c->cut_end >= 0 && c->lines.seg_end == INT64_MAX) {
        if (end < c->cut_end)
            return 0;
        if (end > c->cut_end)
            return boundary_error(c, "a frame ends at compressed byte %lld, across the cut at %lld",
                                  (long long)end, (long long)c->cut_end);
        return tokfs_build_lines_cut(&c->lines);
    }
    return 0;
}

/* Compressed bytes from the fetcher. */
static int compressed_chunk(void *ctx, const uint8_t *data, size_t len)
{
    compressed_reader *c = ctx;
    int rc = tokfs_builder_cancelled(c->b);
    if (rc)
        return rc;
    tokfs_err dec_err = {""};
    rc = tokfs_decoder_feed(c->dec, data, len, &dec_err);
    if (rc == 1)
        c->stopped = 1;
    /* corrupt data (the decoder's message), or the record logic's error passed back */
    return rc < 0 ? tokfs_builder_fail(c->b, rc, "%s", dec_err.msg) : rc;
}

/* Where a cut .jsonl.zst piece starting at compressed offset begin must start decoding (*from):
 * the last frame before it that holds data, whose last byte says whether a record starts at
 * begin. Sets the decompressed offset there, and the head state. */
static int find_head(compressed_reader *c, int64_t begin, int64_t *from, int64_t *pos)
{
    tokfs_builder *b = c->b;
    tokfs_seek_table t;
    tokfs_err table_err = {""};
    int rc = tokfs_seek_table_read(b->fetcher, c->src->url, &c->src->info, &t,
                                   &b->stats->fetched_bytes, &table_err);
    if (rc == -EINVAL)
        return boundary_error(c, "%s", table_err.msg);
    if (rc)
        return tokfs_builder_fail(b, rc, "%s", table_err.msg);
    uint32_t i = 1;
    while (i < t.nframes && t.c_start[i] < begin)
        i++;
    if (i >= t.nframes || t.c_start[i] != begin) {
        tokfs_seek_table_free(&t);
        return boundary_error(c, "no frame starts at compressed byte %lld in the seek table",
                              (long long)begin);
    }
    int64_t k = (int64_t)i - 1;
    while (k >= 0 && t.d_start[k + 1] == t.d_start[k])
        k--;
    *from = begin;
    *pos = t.d_start[i];
    if (k >= 0) {
        *from = t.c_start[k];
        *pos = t.d_start[k];
        c->in_head = 1;
    }
    tokfs_seek_table_free(&t);
    return 0;
}

/* Decode from compressed offset from to the end of the source, or for a cut piece until the
 * record in progress at cut_end ends (a little past it, then growing windows, as for plain
 * JSONL). 0 or the build's error. */
static int decode(compressed_reader *c, int64_t from)
{
    const tokfs_source *src = c->src;
    int64_t size = src->info.size;
    tokfs_decoder_sink sink = {decoded_data, decoded_frame_end, c};
    int rc = tokfs_decoder_new(tokfs_format_codec(src->format), from, c->what, &sink, &c->dec);
    if (rc)
        return tokfs_builder_fail(c->b, rc, "%s: cannot start the decoder: %s", c->what,
                                  strerror(-rc));
    int64_t window_end = c->cut_end < 0 ? -1 : c->cut_end + TOKFS_BUILD_LOOKAHEAD_BYTES;
    int64_t grow = TOKFS_BUILD_LOOKAHEAD_GROW, cpos = from;
    for (;;) {
        if (window_end >= 0 && size >= 0 && window_end >= size)
            window_end = -1;
        if ((rc = tokfs_builder_fetch(c->b, src, cpos, window_end, compressed_chunk, c)))
            return rc;
        if (c->stopped)
            return 0;
        cpos = tokfs_decoder_offset(c->dec);
        if (window_end < 0 || cpos < window_end)
            break; /* reached the end of the source */
        window_end += grow;
        grow *= 2;
    }
    /* End of the source: it must not end inside a frame or member, nor before a cut. */
    tokfs_err dec_err = {""};
    if ((rc = tokfs_decoder_finish(c->dec, &dec_err)))
        return tokfs_builder_fail(c->b, rc, "%s", dec_err.msg);
    if (c->in_head || c->lines.seg_end == INT64_MAX)
        return boundary_error(c, "the file ends at compressed byte %lld, before the cut at %lld",
                              (long long)tokfs_decoder_offset(c->dec),
                              (long long)(c->in_head ? c->cut_begin : c->cut_end));
    return 0;
}

/* Whole (begin 0, end -1), or for a seekable .jsonl.zst the records starting in the frames
 * [begin, end). */
static int compressed_read(tokfs_build_reader *r, const tokfs_source *src, int64_t begin,
                           int64_t end)
{
    compressed_reader *c = (compressed_reader *)r;
    int kind = tokfs_format_kind(src->format), codec = tokfs_format_codec(src->format);
    int64_t size = src->info.size;
    if (end >= 0 && size >= 0 && end >= size)
        end = -1;
    c->src = src;
    tokfs_url_redact(src->url, c->what, sizeof c->what);
    if ((begin > 0 || end >= 0) && !(kind == TOKFS_FORMAT_JSONL && codec == TOKFS_CODEC_ZSTD))
        return tokfs_builder_fail(c->b, -EINVAL,
                                  "%s: the plan cuts this compressed source at bytes %lld-%lld, "
                                  "but only a seekable .jsonl.zst can be cut",
                                  c->what, (long long)begin, (long long)end);
    c->kind = kind;
    c->stopped = 0;
    c->cut_begin = begin;
    c->cut_end = end;
    c->in_head = 0;
    c->head_bytes = 0;

    int64_t from = 0, pos = 0;
    int rc = begin > 0 ? find_head(c, begin, &from, &pos) : 0;
    if (rc)
        return rc;
    /* The records start at pos, or once the head frames are decoded (decoded_frame_end). The
     * piece's end is known at the frame boundary end (INT64_MAX until then). */
    c->head_pos = pos;
    tokfs_build_lines_start(&c->lines, c->b, src, pos, end >= 0 ? INT64_MAX : -1, 0);
    /* a compressed .txt is read whole (only a seekable .jsonl.zst is cut): one span ending the
     * file, or every line or paragraph */
    tokfs_build_txt_start(&c->txt, c->b, src, 0, 1, -1, 0, 1);
    rc = decode(c, from);
    tokfs_decoder_free(c->dec);
    c->dec = NULL;
    if (rc)
        return rc;
    return kind == TOKFS_FORMAT_TXT ? tokfs_build_txt_finish(&c->txt)
                                    : tokfs_build_lines_finish(&c->lines);
}

static void compressed_free(tokfs_build_reader *r)
{
    free(r);
}

int tokfs_reader_compressed_new(tokfs_builder *b, tokfs_build_reader **out)
{
    compressed_reader *c = calloc(1, sizeof *c);
    if (!c)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    c->base = (tokfs_build_reader){"compressed", compressed_read, compressed_free};
    c->b = b;
    *out = &c->base;
    return 0;
}
