/* Compressed sources: the streaming zstd / gzip decoder (fixed buffers) and the zstd seekable
 * format's seek table. */
#include "decode/decompress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/endian.h"

#define GZIP_OUT_BYTES (64u << 10)
#define TAIL_FIRST_BYTES (4u << 10) /* first read for a seek table: the last 4 KiB (340 frames) */

struct tokfs_decoder {
    int codec;
    tokfs_decoder_sink sink;
    char what[512];
    int64_t start;          /* compressed offset of the first byte fed */
    int64_t consumed;       /* bytes consumed since start */
    int64_t frame_start;    /* offset where the current (or next) frame / member starts */
    int in_frame;           /* inside a frame / member: the stream may not end here */
    int flush_pending;      /* the last call filled the output buffer: more output may wait */
    uint8_t *out;
    size_t out_cap;
    /* zstd */
    ZSTD_DStream *zs;
    /* gzip */
    z_stream z;
    int z_ready;            /* inflateInit2 succeeded */
    uint64_t members;       /* gzip members completed */
};

int tokfs_decoder_new(int codec, int64_t start, const char *what, const tokfs_decoder_sink *sink,
                      tokfs_decoder **out)
{
    *out = NULL;
    if (codec != TOKFS_CODEC_ZSTD && codec != TOKFS_CODEC_GZIP)
        return -EINVAL;
    tokfs_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->codec = codec;
    d->sink = *sink;
    d->start = d->frame_start = start;
    snprintf(d->what, sizeof d->what, "%s", what ? what : "source");
    if (codec == TOKFS_CODEC_ZSTD) {
        d->out_cap = ZSTD_DStreamOutSize();
        d->zs = ZSTD_createDStream();
        if (d->zs && ZSTD_isError(ZSTD_initDStream(d->zs))) {
            ZSTD_freeDStream(d->zs);
            d->zs = NULL;
        }
        if (!d->zs) {
            free(d);
            return -ENOMEM;
        }
    } else {
        d->out_cap = GZIP_OUT_BYTES;
        /* 15 + 32: the largest window, gzip or zlib header detected automatically. */
        if (inflateInit2(&d->z, 15 + 32) != Z_OK) {
            free(d);
            return -ENOMEM;
        }
        d->z_ready = 1;
    }
    if (!(d->out = malloc(d->out_cap))) {
        tokfs_decoder_free(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void tokfs_decoder_free(tokfs_decoder *d)
{
    if (!d)
        return;
    if (d->zs)
        ZSTD_freeDStream(d->zs);
    if (d->z_ready)
        inflateEnd(&d->z);
    free(d->out);
    free(d);
}

int64_t tokfs_decoder_offset(const tokfs_decoder *d)
{
    return d->start + d->consumed;
}

static int frame_done(tokfs_decoder *d)
{
    d->in_frame = 0;
    d->frame_start = d->start + d->consumed;
    return d->sink.frame_end ? d->sink.frame_end(d->sink.ctx, d->frame_start) : 0;
}

static int feed_zstd(tokfs_decoder *d, const uint8_t *data, size_t len, tokfs_err *err)
{
    ZSTD_inBuffer in = {data, len, 0};
    while (in.pos < in.size || d->flush_pending) {
        ZSTD_outBuffer out = {d->out, d->out_cap, 0};
        size_t before = in.pos;
        size_t r = ZSTD_decompressStream(d->zs, &out, &in);
        d->consumed += (int64_t)(in.pos - before);
        if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
            return tokfs_err_set(err, EIO,
                                 "%s: the zstd frame at compressed byte %lld needs a window over "
                                 "128 MiB (written with --long=31 or --ultra?): not supported",
                                 d->what, (long long)d->frame_start);
        if (ZSTD_isError(r)) /* in.pos may lag on error: name the end of the input given */
            return tokfs_err_set(err, EIO,
                                 "%s: corrupt zstd data in the frame at compressed byte %lld "
                                 "(noticed by byte %lld): %s",
                                 d->what, (long long)d->frame_start,
                                 (long long)(d->start + d->consumed + (int64_t)(in.size - in.pos)),
                                 ZSTD_getErrorName(r));
        int progress = in.pos > before || out.pos > 0;
        if (progress)
            d->in_frame = 1;
        d->flush_pending = out.pos == out.size && r != 0;
        if (out.pos > 0) {
            int rc = d->sink.data(d->sink.ctx, d->out, out.pos);
            if (rc)
                return rc;
        }
        if (r == 0 && d->in_frame) {
            int rc = frame_done(d);
            if (rc)
                return rc;
        }
        if (!progress && !d->flush_pending) {
            if (in.pos < in.size) /* never silently drop input */
                return tokfs_err_set(err, EIO, "%s: zstd decoder stuck at compressed byte %lld",
                                     d->what, (long long)(d->start + d->consumed));
            break;
        }
    }
    return 0;
}

static int feed_gzip(tokfs_decoder *d, const uint8_t *data, size_t len, tokfs_err *err)
{
    z_stream *z = &d->z;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    while (z->avail_in > 0 || d->flush_pending) {
        if (!d->in_frame && !d->flush_pending) {
            /* Between members: zero bytes after a member are padding (gzip(1) and Python's
             * gzip module skip them too); anything else must start the next member. */
            if (d->members > 0)
                while (z->avail_in > 0 && *z->next_in == 0) {
                    z->next_in++;
                    z->avail_in--;
                    d->consumed++;
                }
            if (z->avail_in == 0)
                break;
            d->frame_start = d->start + d->consumed;
            d->in_frame = 1;
        }
        z->next_out = d->out;
        z->avail_out = (uInt)d->out_cap;
        uInt before = z->avail_in;
        int r = inflate(z, Z_NO_FLUSH);
        d->consumed += (int64_t)(before - z->avail_in);
        size_t produced = d->out_cap - z->avail_out;
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
            return tokfs_err_set(err, EIO,
                                 "%s: corrupt gzip data in the member at compressed byte %lld "
                                 "(noticed by byte %lld): %s",
                                 d->what, (long long)d->frame_start,
                                 (long long)(d->start + d->consumed),
                                 r == Z_NEED_DICT ? "needs a preset dictionary"
                                 : z->msg         ? z->msg
                                 : r == Z_MEM_ERROR ? "out of memory"
                                                  : "invalid data");
        d->flush_pending = z->avail_out == 0 && r != Z_STREAM_END;
        if (produced > 0) {
            int rc = d->sink.data(d->sink.ctx, d->out, produced);
            if (rc)
                return rc;
        }
        if (r == Z_STREAM_END) {
            d->members++;
            if (inflateReset(z) != Z_OK)
                return tokfs_err_set(err, EIO, "%s: cannot reset the gzip decoder", d->what);
            int rc = frame_done(d);
            if (rc)
                return rc;
        } else if (r == Z_BUF_ERROR || (before == z->avail_in && produced == 0)) {
            if (z->avail_in > 0) /* never silently drop input */
                return tokfs_err_set(err, EIO, "%s: gzip decoder stuck at compressed byte %lld",
                                     d->what, (long long)(d->start + d->consumed));
            break; /* needs more input */
        }
    }
    return 0;
}

int tokfs_decoder_feed(tokfs_decoder *d, const uint8_t *data, size_t len, tokfs_err *err)
{
    while (len) {
        size_t n = len < (1u << 30) ? len : (1u << 30); /* zlib counts in 32 bits */
        int rc = d->codec == TOKFS_CODEC_ZSTD ? feed_zstd(d, data, n, err)
                                              : feed_gzip(d, data, n, err);
        if (rc)
            return rc;
        data += n;
        len -= n;
    }
    return 0;
}

int tokfs_decoder_finish(tokfs_decoder *d, tokfs_err *err)
{
    if (d->in_frame || d->flush_pending)
        return tokfs_err_set(err, EIO,
                             "%s: truncated %s data: the stream ends at compressed byte %lld, "
                             "inside the %s that starts at byte %lld",
                             d->what, d->codec == TOKFS_CODEC_ZSTD ? "zstd" : "gzip",
                             (long long)(d->start + d->consumed),
                             d->codec == TOKFS_CODEC_ZSTD ? "frame" : "member",
                             (long long)d->frame_start);
    return 0;
}

/* ---- zstd seekable format ------------------------------------------------------------------- */

#define SEEKABLE_MAGIC 0x8F92EAB1u
#define SKIPPABLE_SEEK_TABLE_MAGIC 0x184D2A5Eu
#define SEEK_FOOTER_BYTES 9
#define SKIPPABLE_HEADER_BYTES 8

void tokfs_seek_table_free(tokfs_seek_table *t)
{
    free(t->c_start);
    free(t->d_start);
    memset(t, 0, sizeof *t);
}

int tokfs_seek_table_parse(const uint8_t *tail, size_t len, int64_t file_size,
                           tokfs_seek_table *t, size_t *need, tokfs_err *err)
{
    memset(t, 0, sizeof *t);
    if (need)
        *need = 0;
    if (file_size < SKIPPABLE_HEADER_BYTES + SEEK_FOOTER_BYTES || len < SEEK_FOOTER_BYTES ||
        (int64_t)len > file_size)
        return 0;
    const uint8_t *footer = tail + len - SEEK_FOOTER_BYTES;
    if (tokfs_le32(footer + 5) != SEEKABLE_MAGIC)
        return 0; /* a plain .zst */
    uint32_t nframes = tokfs_le32(footer);
    uint8_t descriptor = footer[4];
    if (descriptor & 0x7c)
        return tokfs_err_set(err, EINVAL, "seek table descriptor has reserved bits set (0x%02x)",
                             descriptor);
    size_t entry = descriptor & 0x80 ? 12 : 8;
    if (nframes == 0 || nframes > TOKFS_SEEK_TABLE_MAX_FRAMES)
        return tokfs_err_set(err, EINVAL, "seek table lists %u frames (1 to %u supported)",
                             nframes, TOKFS_SEEK_TABLE_MAX_FRAMES);
    size_t table_frame = SKIPPABLE_HEADER_BYTES + (size_t)nframes * entry + SEEK_FOOTER_BYTES;
    if ((int64_t)table_frame > file_size)
        return tokfs_err_set(err, EINVAL,
                             "seek table of %u frames (%zu bytes) is larger than the file (%lld)",
                             nframes, table_frame, (long long)file_size);
    if (len < table_frame) {
        if (need)
            *need = table_frame;
        return -EAGAIN;
    }
    const uint8_t *frame = tail + len - table_frame;
    if (tokfs_le32(frame) != SKIPPABLE_SEEK_TABLE_MAGIC ||
        tokfs_le32(frame + 4) != table_frame - SKIPPABLE_HEADER_BYTES)
        return tokfs_err_set(err, EINVAL,
                             "seek table footer found but its skippable frame header is wrong");
    if (!(t->c_start = malloc(((size_t)nframes + 1) * sizeof *t->c_start)) ||
        !(t->d_start = malloc(((size_t)nframes + 1) * sizeof *t->d_start))) {
        tokfs_seek_table_free(t);
        return -ENOMEM;
    }
    int64_t c = 0, dsum = 0;
    const uint8_t *p = frame + SKIPPABLE_HEADER_BYTES;
    for (uint32_t f = 0; f < nframes; f++, p += entry) {
        uint32_t csize = tokfs_le32(p), dsize = tokfs_le32(p + 4);
        if (csize == 0) {
            tokfs_seek_table_free(t);
            return tokfs_err_set(err, EINVAL, "seek table entry %u has a compressed size of 0", f);
        }
        t->c_start[f] = c;
        t->d_start[f] = dsum;
        c += csize; /* at most 2^20 * 2^32: no overflow */
        dsum += dsize;
    }
    t->c_start[nframes] = c;
    t->d_start[nframes] = dsum;
    if (c != file_size - (int64_t)table_frame) {
        tokfs_seek_table_free(t);
        return tokfs_err_set(err, EINVAL,
                             "seek table frames add up to %lld compressed bytes, but %lld bytes "
                             "precede the table",
                             (long long)c, (long long)(file_size - (int64_t)table_frame));
    }
    t->nframes = nframes;
    return 0;
}

typedef struct tail_buf {
    uint8_t *data;
    size_t len, cap;
} tail_buf;

static int tail_collect(void *ctx, const uint8_t *data, size_t len)
{
    tail_buf *b = ctx;
    if (len > b->cap - b->len)
        return -EIO;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int read_tail(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                     size_t want, tail_buf *b, uint64_t *fetched, tokfs_err *err)
{
    free(b->data);
    b->len = 0;
    b->cap = want;
    if (!(b->data = malloc(want ? want : 1)))
        return tokfs_err_set(err, ENOMEM, "out of memory");
    int rc = tokfs_fetch_range(f, url, info, info->size - (int64_t)want, info->size, tail_collect,
                               b, fetched, err);
    if (rc == 0 && b->len != want)
        rc = tokfs_err_set(err, EIO, "short read of the end of the file");
    return rc;
}

int tokfs_seek_table_read(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                          tokfs_seek_table *t, uint64_t *fetched, tokfs_err *err)
{
    memset(t, 0, sizeof *t);
    if (info->size < SKIPPABLE_HEADER_BYTES + SEEK_FOOTER_BYTES)
        return 0;
    tail_buf b = {0};
    size_t want = info->size < TAIL_FIRST_BYTES ? (size_t)info->size : TAIL_FIRST_BYTES;
    int rc = read_tail(f, url, info, want, &b, fetched, err);
    size_t need = 0;
    if (rc == 0)
        rc = tokfs_seek_table_parse(b.data, b.len, info->size, t, &need, err);
    if (rc == -EAGAIN) {
        rc = read_tail(f, url, info, need, &b, fetched, err);
        if (rc == 0)
            rc = tokfs_seek_table_parse(b.data, b.len, info->size, t, &need, err);
        if (rc == -EAGAIN) /* the file changed between the two reads */
            rc = tokfs_err_set(err, EIO, "seek table changed while being read");
    }
    free(b.data);
    return rc;
}
