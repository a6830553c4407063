/* Unit test of core/decode/decompress.c: the streaming zstd / gzip decoder and the zstd seek table.
 *
 * Streams are written here with libzstd and zlib (the encoders, not our code): zstd frames with
 * and without checksum and content size, empty (0-byte) frames, skippable frames (empty and not),
 * raw (incompressible) blocks, a frame whose output is larger than the decoder's buffer; gzip
 * members with header name/comment/extra fields, empty members, stored members, zero padding.
 * Checked:
 *   - the output and every frame / member end offset, with the input fed whole, split at every
 *     possible byte boundary into two chunks, one byte at a time, and in random chunks;
 *   - a stream cut at any length is refused (-EIO "truncated") unless the cut falls exactly
 *     between frames / members (which is a valid shorter stream);
 *   - every single-byte corruption of checksummed frames / members is refused or harmless
 *     (output unchanged) — never wrong output; messages name the source and a byte offset;
 *   - trailing garbage after the last member / frame is refused, zero padding after a gzip
 *     member is skipped, leading zeros are refused; an empty stream is valid; a zstd frame
 *     needing a window over 128 MiB is refused with a message saying so;
 *   - a sink that stops (1) or fails (negative) stops the decoder with that value;
 *   - seek tables: parsed with and without checksums, from a short tail (-EAGAIN, need), and
 *     refused when inconsistent; a plain .zst has none; tokfs_seek_table_read on a local file. */
#include "check.h"
#include "common/endian.h"
#include "common/hash.h"
#include "decode/decompress.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (n && b->d && (const uint8_t *)p >= b->d && (const uint8_t *)p < b->d + b->cap) {
        uint8_t *copy = malloc(n); /* appending part of b to itself: realloc would move it */
        memcpy(copy, p, n);
        put(b, copy, n);
        free(copy);
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_le32(buf *b, uint32_t v)
{
    uint8_t p[4];
    tokfs_store_le32(p, v);
    put(b, p, 4);
}

static uint64_t rng = 0x6465636f6d70ull;
static uint64_t rnd(uint64_t n)
{
    return n ? tokfs_splitmix64(&rng) % n : 0;
}

static void text(buf *b, size_t n)
{
    static const char *words[] = {"the ", "token ", "shard ", "cache ", "{\"text\": ", "\n", "é ",
                                  "日本 "};
    while (n) {
        const char *w = words[rnd(8)];
        size_t k = strlen(w) < n ? strlen(w) : n;
        put(b, w, k);
        n -= k;
    }
}

static void random_bytes(buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)rnd(256);
        put(b, &c, 1);
    }
}

/* One zstd frame of data, appended to out. */
static void zstd_frame(buf *out, const uint8_t *data, size_t n, int checksum, int content_size)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, content_size);
    if (content_size)
        ZSTD_CCtx_setPledgedSrcSize(c, n);
    size_t cap = ZSTD_compressBound(n) + 64;
    uint8_t *tmp = malloc(cap);
    ZSTD_outBuffer o = {tmp, cap, 0};
    ZSTD_inBuffer in = {data, n, 0};
    size_t r;
    do
        r = ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
    while (r != 0 && !ZSTD_isError(r));
    CHECK(!ZSTD_isError(r));
    put(out, tmp, o.pos);
    free(tmp);
    ZSTD_freeCCtx(c);
}

static void skippable_frame(buf *out, unsigned variant, size_t payload)
{
    put_le32(out, 0x184D2A50u + variant);
    put_le32(out, (uint32_t)payload);
    random_bytes(out, payload);
}

/* One gzip member; with_header: name, comment and extra fields in the header. */
static void gzip_member(buf *out, const uint8_t *data, size_t n, int level, int with_header)
{
    z_stream z = {0};
    CHECK(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    gz_header h = {0};
    static uint8_t extra[] = "xtra-field-bytes";
    if (with_header) {
        h.name = (Bytef *)"member-name.jsonl";
        h.comment = (Bytef *)"a comment";
        h.extra = extra;
        h.extra_len = sizeof extra - 1;
        h.hcrc = 1;
        deflateSetHeader(&z, &h);
    }
    size_t cap = deflateBound(&z, n) + 128;
    uint8_t *tmp = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = tmp;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    put(out, tmp, cap - z.avail_out);
    deflateEnd(&z);
    free(tmp);
}

/* A sink collecting output and frame ends. */
typedef struct collect {
    buf out;
    int64_t ends[64];
    int nends;
    int stop_after;   /* > 0: return 1 after this many data calls; < 0: return it (an error) */
    int calls;
} collect;

static int collect_data(void *ctx, const uint8_t *d, size_t n)
{
    collect *c = ctx;
    put(&c->out, d, n);
    c->calls++;
    if (c->stop_after > 0 && c->calls >= c->stop_after)
        return 1;
    if (c->stop_after < 0)
        return c->stop_after;
    return 0;
}

static int collect_end(void *ctx, int64_t end)
{
    collect *c = ctx;
    if (c->nends < 64)
        c->ends[c->nends] = end;
    c->nends++;
    return 0;
}

/* Decode stream (as if it started at compressed offset base) fed in the given chunk sizes
 * (cuts: sorted split points). Returns feed/finish's result; c gets the output. */
static int decode_cuts(int codec, const buf *stream, const size_t *cuts, size_t ncuts,
                       int64_t base, collect *c, tokfs_err *err)
{
    memset(c, 0, sizeof *c);
    tokfs_decoder_sink sink = {collect_data, collect_end, c};
    tokfs_decoder *d;
    CHECK_EQ_INT(tokfs_decoder_new(codec, base, "src.zst", &sink, &d), 0);
    size_t pos = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t stop = i < ncuts ? cuts[i] : stream->n;
        rc = tokfs_decoder_feed(d, stream->d + pos, stop - pos, err);
        if (rc == 0)
            CHECK_EQ_INT(tokfs_decoder_offset(d), base + (int64_t)stop);
        pos = stop;
    }
    if (rc == 0)
        rc = tokfs_decoder_finish(d, err);
    tokfs_decoder_free(d);
    return rc;
}

static int decode_all(int codec, const buf *stream, collect *c, tokfs_err *err)
{
    return decode_cuts(codec, stream, NULL, 0, 0, c, err);
}

static void check_ends(const collect *c, const int64_t *ends, int nends, int64_t base)
{
    CHECK_EQ_INT(c->nends, nends);
    for (int i = 0; i < nends && i < c->nends; i++)
        CHECK_EQ_INT(c->ends[i], ends[i] + base);
}

/* The stream's every split point, one byte at a time, random chunks: same output and ends. */
static void check_every_split(int codec, const buf *stream, const buf *expect, const int64_t *ends,
                              int nends)
{
    tokfs_err err = {""};
    collect c;
    for (size_t p = 0; p <= stream->n; p++) {
        size_t cuts[1] = {p};
        int rc = decode_cuts(codec, stream, cuts, 1, 1000, &c, &err);
        if (rc != 0 || c.out.n != expect->n || memcmp(c.out.d, expect->d, expect->n) != 0) {
            fprintf(stderr, "split at %zu: rc %d (%s), %zu bytes out of %zu\n", p, rc, err.msg,
                    c.out.n, expect->n);
            check_failures++;
            free(c.out.d);
            return;
        }
        check_ends(&c, ends, nends, 1000);
        free(c.out.d);
    }
    size_t *cuts = malloc(stream->n * sizeof *cuts);
    for (size_t i = 0; i < stream->n; i++)
        cuts[i] = i;
    CHECK_EQ_INT(decode_cuts(codec, stream, cuts, stream->n, 0, &c, &err), 0);
    CHECK_MEM(c.out.d, c.out.n, expect->d, expect->n);
    check_ends(&c, ends, nends, 0);
    free(c.out.d);
    for (int round = 0; round < 50; round++) {
        size_t n = 0, p = 0;
        while (1) {
            p += 1 + rnd(round < 25 ? 40 : 3000);
            if (p >= stream->n)
                break;
            cuts[n++] = p;
        }
        CHECK_EQ_INT(decode_cuts(codec, stream, cuts, n, 0, &c, &err), 0);
        CHECK_MEM(c.out.d, c.out.n, expect->d, expect->n);
        check_ends(&c, ends, nends, 0);
        free(c.out.d);
    }
    free(cuts);
}

/* Every prefix: valid exactly when it ends between frames (the output then is those frames'). */
static void check_truncations(int codec, const buf *stream, const buf *expect, const int64_t *ends,
                              const size_t *out_at_end, int nends)
{
    tokfs_err err = {""};
    collect c;
    for (size_t len = 0; len < stream->n; len++) {
        buf prefix = {stream->d, len, len};
        int rc = decode_all(codec, &prefix, &c, &err);
        int boundary = len == 0;
        size_t out_len = 0;
        for (int i = 0; i < nends; i++)
            if ((size_t)ends[i] == len) {
                boundary = 1;
                out_len = out_at_end[i];
            }
        if (boundary) {
            if (rc != 0 || c.out.n != out_len || (out_len && memcmp(c.out.d, expect->d, out_len))) {
                fprintf(stderr, "prefix of %zu bytes (a boundary): rc %d (%s)\n", len, rc, err.msg);
                check_failures++;
            }
        } else if (rc != -EIO || !strstr(err.msg, "src.zst") || !strstr(err.msg, "byte")) {
            fprintf(stderr, "prefix of %zu bytes: rc %d (%s), expected -EIO\n", len, rc, err.msg);
            check_failures++;
        } else if (!strstr(err.msg, "truncated") && !strstr(err.msg, "corrupt")) {
            fprintf(stderr, "prefix of %zu bytes: message %s\n", len, err.msg);
            check_failures++;
        }
        free(c.out.d);
        err.msg[0] = '\0';
    }
}

/* Flip bytes in [from, to): every result is an error or the unchanged output. */
static int check_corruptions(int codec, const buf *stream, const buf *expect, size_t from,
                             size_t to)
{
    int refused = 0;
    buf copy = {0};
    put(&copy, stream->d, stream->n);
    for (size_t i = from; i < to; i++) {
        for (int m = 0; m < 2; m++) {
            uint8_t mask = m ? 0xff : (uint8_t)(1u << rnd(8));
            copy.d[i] ^= mask;
            tokfs_err err = {""};
            collect c;
            int rc = decode_all(codec, &copy, &c, &err);
            if (rc == 0 && (c.out.n != expect->n || memcmp(c.out.d, expect->d, expect->n) != 0)) {
                fprintf(stderr, "flip 0x%02x at byte %zu: wrong output accepted\n", mask, i);
                check_failures++;
            } else if (rc != 0 && (rc != -EIO || !strstr(err.msg, "src.zst") ||
                                   !strstr(err.msg, "compressed byte"))) {
                fprintf(stderr, "flip at byte %zu: rc %d, message %s\n", i, rc, err.msg);
                check_failures++;
            }
            refused += rc != 0;
            free(c.out.d);
            copy.d[i] ^= mask;
        }
    }
    free(copy.d);
    return refused;
}

/* ---- zstd ----------------------------------------------------------------------------------- */

static void test_zstd(void)
{
    buf a = {0}, b = {0}, stream = {0}, expect = {0};
    text(&a, 3000);
    random_bytes(&b, 1500); /* incompressible: raw blocks */
    int64_t ends[8];
    size_t out_at[8];
    int n = 0;
#define MARK(outlen) (ends[n] = (int64_t)stream.n, out_at[n] = (outlen), n++)
    skippable_frame(&stream, 3, 0); /* an empty skippable frame first */
    MARK(0);
    zstd_frame(&stream, a.d, a.n, 1, 1); /* checksum, content size */
    put(&expect, a.d, a.n);
    size_t a_end = stream.n;
    MARK(expect.n);
    zstd_frame(&stream, NULL, 0, 1, 1); /* a 0-byte frame */
    MARK(expect.n);
    skippable_frame(&stream, 0xf, 21);
    MARK(expect.n);
    zstd_frame(&stream, NULL, 0, 0, 0); /* a 0-byte frame without content size */
    MARK(expect.n);
    zstd_frame(&stream, b.d, b.n, 0, 0); /* no checksum, no content size */
    put(&expect, b.d, b.n);
    MARK(expect.n);
    zstd_frame(&stream, a.d, 700, 1, 0);
    put(&expect, a.d, 700);
    MARK(expect.n);
#undef MARK
    tokfs_err err = {""};
    collect c;
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_ZSTD, &stream, &c, &err), 0);
    CHECK_MEM(c.out.d, c.out.n, expect.d, expect.n);
    check_ends(&c, ends, n, 0);
    free(c.out.d);

    check_every_split(TOKFS_CODEC_ZSTD, &stream, &expect, ends, n);
    check_truncations(TOKFS_CODEC_ZSTD, &stream, &expect, ends, out_at, n);
    /* the first data frame carries a checksum: every flip in it is caught or harmless */
    int refused = check_corruptions(TOKFS_CODEC_ZSTD, &stream, &expect, (size_t)ends[0], a_end);
    CHECK(refused > (int)(a_end - (size_t)ends[0])); /* most of the 2 flips per byte */

    /* trailing garbage after the last frame, and garbage in front */
    buf bad = {0};
    put(&bad, stream.d, stream.n);
    put(&bad, "garbage!", 8);
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_ZSTD, &bad, &c, &err), -EIO);
    CHECK(strstr(err.msg, "corrupt zstd data") && strstr(err.msg, "src.zst"));
    free(c.out.d);
    bad.n = 0;
    put(&bad, "\0\0\0\0", 4);
    put(&bad, stream.d, stream.n);
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_ZSTD, &bad, &c, &err), -EIO);
    free(c.out.d);
    free(bad.d);

    /* a frame asking for a window over libzstd's default limit (128 MiB) is refused */
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 30);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        uint8_t tmp[6000];
        ZSTD_outBuffer o = {tmp, sizeof tmp, 0};
        ZSTD_inBuffer in = {a.d, a.n, 0};
        /* streamed with no size known up front, so the window is not shrunk to the input */
        CHECK(!ZSTD_isError(ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue)));
        size_t r;
        do
            r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
        while (r != 0 && !ZSTD_isError(r));
        CHECK(!ZSTD_isError(r));
        ZSTD_freeCCtx(cc);
        buf wide = {tmp, o.pos, o.pos};
        CHECK_EQ_INT(decode_all(TOKFS_CODEC_ZSTD, &wide, &c, &err), -EIO);
        CHECK(strstr(err.msg, "window over 128 MiB") != NULL);
        free(c.out.d);
    }

    /* an empty stream is valid: no frames */
    buf empty = {0};
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_ZSTD, &empty, &c, &err), 0);
    CHECK_EQ_INT(c.out.n, 0);
    CHECK_EQ_INT(c.nends, 0);
    free(c.out.d);

    /* a frame with more output than the decoder's buffer, fed in odd chunks */
    buf big = {0}, zbig = {0};
    text(&big, 700000);
    zstd_frame(&zbig, big.d, big.n, 1, 1);
    zstd_frame(&zbig, big.d, 300000, 0, 0);
    put(&big, big.d, 300000);
    for (int round = 0; round < 4; round++) {
        size_t cuts[64], k = 0, p = 0;
        while (k < 64 && (p += 1 + rnd(round ? zbig.n / 8 : 5)) < zbig.n)
            cuts[k++] = p;
        CHECK_EQ_INT(decode_cuts(TOKFS_CODEC_ZSTD, &zbig, cuts, k, 0, &c, &err), 0);
        CHECK_MEM(c.out.d, c.out.n, big.d, big.n);
        CHECK_EQ_INT(c.nends, 2);
        free(c.out.d);
    }

    /* sinks that stop or fail */
    tokfs_decoder *d;
    memset(&c, 0, sizeof c);
    c.stop_after = 1;
    tokfs_decoder_sink sink = {collect_data, NULL, &c};
    CHECK_EQ_INT(tokfs_decoder_new(TOKFS_CODEC_ZSTD, 0, "x", &sink, &d), 0);
    CHECK_EQ_INT(tokfs_decoder_feed(d, zbig.d, zbig.n, &err), 1);
    CHECK_EQ_INT(c.calls, 1);
    tokfs_decoder_free(d);
    free(c.out.d);
    memset(&c, 0, sizeof c);
    c.stop_after = -ENOSPC;
    err.msg[0] = '\0';
    CHECK_EQ_INT(tokfs_decoder_new(TOKFS_CODEC_ZSTD, 0, "x", &sink, &d), 0);
    CHECK_EQ_INT(tokfs_decoder_feed(d, zbig.d, zbig.n, &err), -ENOSPC);
    CHECK_EQ_INT(err.msg[0], 0); /* the sink's error: no decoder message */
    tokfs_decoder_free(d);
    free(c.out.d);
    CHECK_EQ_INT(tokfs_decoder_new(99, 0, "x", &sink, &d), -EINVAL);

    free(a.d);
    free(b.d);
    free(stream.d);
    free(expect.d);
    free(big.d);
    free(zbig.d);
}

/* ---- gzip ----------------------------------------------------------------------------------- */

static void test_gzip(void)
{
    buf a = {0}, b = {0}, stream = {0}, expect = {0};
    text(&a, 2500);
    random_bytes(&b, 700);
    int64_t ends[8];
    size_t out_at[8];
    int n = 0;
#define MARK(outlen) (ends[n] = (int64_t)stream.n, out_at[n] = (outlen), n++)
    gzip_member(&stream, a.d, a.n, 6, 0);
    put(&expect, a.d, a.n);
    size_t a_end = stream.n;
    MARK(expect.n);
    gzip_member(&stream, NULL, 0, 6, 0); /* an empty member */
    MARK(expect.n);
    gzip_member(&stream, b.d, b.n, 0, 1); /* stored, with name/comment/extra/header crc */
    put(&expect, b.d, b.n);
    MARK(expect.n);
    gzip_member(&stream, a.d, 900, 9, 1);
    put(&expect, a.d, 900);
    MARK(expect.n);
#undef MARK
    tokfs_err err = {""};
    collect c;
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_GZIP, &stream, &c, &err), 0);
    CHECK_MEM(c.out.d, c.out.n, expect.d, expect.n);
    check_ends(&c, ends, n, 0);
    free(c.out.d);

    check_every_split(TOKFS_CODEC_GZIP, &stream, &expect, ends, n);
    check_truncations(TOKFS_CODEC_GZIP, &stream, &expect, ends, out_at, n);
    int refused = check_corruptions(TOKFS_CODEC_GZIP, &stream, &expect, 0, a_end);
    CHECK(refused > (int)a_end);

    /* zero padding after a member is skipped, also before another member (as Python's gzip) */
    buf padded = {0};
    put(&padded, stream.d, stream.n);
    put(&padded, "\0\0\0\0\0\0\0", 7);
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_GZIP, &padded, &c, &err), 0);
    CHECK_MEM(c.out.d, c.out.n, expect.d, expect.n);
    free(c.out.d);
    size_t cuts[3] = {stream.n + 2, stream.n + 3, stream.n + 7};
    gzip_member(&padded, a.d, 10, 6, 0);
    CHECK_EQ_INT(decode_cuts(TOKFS_CODEC_GZIP, &padded, cuts, 3, 0, &c, &err), 0);
    CHECK_EQ_INT(c.out.n, expect.n + 10);
    free(c.out.d);

    /* trailing garbage is refused: after the last member, after padding, one stray byte */
    const char *garbage[] = {"junk at the end", "\0\0junk", "\x1f", "\x1f\x8b", "\x01"};
    size_t glen[] = {15, 6, 1, 2, 1};
    for (int g = 0; g < 5; g++) {
        buf bad = {0};
        put(&bad, stream.d, stream.n);
        put(&bad, garbage[g], glen[g]);
        err.msg[0] = '\0';
        CHECK_EQ_INT(decode_all(TOKFS_CODEC_GZIP, &bad, &c, &err), -EIO);
        CHECK(strstr(err.msg, "src.zst") && strstr(err.msg, "compressed byte"));
        free(c.out.d);
        free(bad.d);
    }
    /* leading zeros are not padding */
    buf lead = {0};
    put(&lead, "\0\0", 2);
    put(&lead, stream.d, stream.n);
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_GZIP, &lead, &c, &err), -EIO);
    free(c.out.d);
    free(lead.d);

    buf empty = {0};
    CHECK_EQ_INT(decode_all(TOKFS_CODEC_GZIP, &empty, &c, &err), 0);
    CHECK_EQ_INT(c.out.n, 0);
    free(c.out.d);

    /* a member larger than the output buffer */
    buf big = {0}, gbig = {0};
    text(&big, 400000);
    gzip_member(&gbig, big.d, big.n, 1, 0);
    gzip_member(&gbig, big.d, big.n, 0, 0);
    put(&big, big.d, big.n);
    size_t bcuts[5] = {1, 10, 17, 5000, gbig.n / 2};
    CHECK_EQ_INT(decode_cuts(TOKFS_CODEC_GZIP, &gbig, bcuts, 5, 0, &c, &err), 0);
    CHECK_MEM(c.out.d, c.out.n, big.d, big.n);
    CHECK_EQ_INT(c.nends, 2);
    free(c.out.d);

    free(a.d);
    free(b.d);
    free(stream.d);
    free(expect.d);
    free(padded.d);
    free(big.d);
    free(gbig.d);
}

/* ---- seek tables ---------------------------------------------------------------------------- */

/* frames of sizes dsizes, then a seek table; fills c_start / d_start expectations. */
static void seekable(buf *out, const size_t *dsizes, int nframes, int checksums, buf *content)
{
    uint32_t csize[16];
    for (int f = 0; f < nframes; f++) {
        size_t before = out->n, start = content->n;
        text(content, dsizes[f]);
        zstd_frame(out, content->d + start, dsizes[f], 1, 1);
        csize[f] = (uint32_t)(out->n - before);
    }
    size_t entry = checksums ? 12 : 8;
    put_le32(out, 0x184D2A5Eu);
    put_le32(out, (uint32_t)(nframes * entry + 9));
    for (int f = 0; f < nframes; f++) {
        put_le32(out, csize[f]);
        put_le32(out, (uint32_t)dsizes[f]);
        if (checksums)
            put_le32(out, 0x12345678u);
    }
    put_le32(out, (uint32_t)nframes);
    uint8_t desc = checksums ? 0x80 : 0;
    put(out, &desc, 1);
    put_le32(out, 0x8F92EAB1u);
}

static void test_seek_table(void)
{
    size_t dsizes[5] = {1000, 0, 2500, 1, 40};
    for (int checksums = 0; checksums < 2; checksums++) {
        buf file = {0}, content = {0};
        seekable(&file, dsizes, 5, checksums, &content);
        tokfs_seek_table t;
        size_t need = 0;
        tokfs_err err = {""};
        CHECK_EQ_INT(tokfs_seek_table_parse(file.d, file.n, (int64_t)file.n, &t, &need, &err), 0);
        CHECK_EQ_INT(t.nframes, 5);
        int64_t d = 0;
        for (int f = 0; f < 5 && t.nframes == 5; f++) {
            CHECK_EQ_INT(t.d_start[f], d);
            d += (int64_t)dsizes[f];
            /* c_start[f] is where a frame starts: decoding from there gives frame f onward */
            if (f > 0)
                CHECK(t.c_start[f] > t.c_start[f - 1]);
        }
        if (t.nframes == 5) {
            CHECK_EQ_INT(t.d_start[5], d);
            CHECK_EQ_INT(t.c_start[0], 0);
            size_t table_bytes = 8 + 5 * (checksums ? 12 : 8) + 9;
            CHECK_EQ_INT(t.c_start[5], (int64_t)(file.n - table_bytes));
            /* decoding from frame 2's start gives frames 2.. */
            buf rest = {file.d + t.c_start[2], file.n - (size_t)t.c_start[2], 0};
            collect c;
            CHECK_EQ_INT(decode_cuts(TOKFS_CODEC_ZSTD, &rest, NULL, 0, t.c_start[2], &c, &err), 0);
            CHECK_MEM(c.out.d, c.out.n, content.d + 1000, content.n - 1000);
            CHECK_EQ_INT(c.nends, 4); /* frames 2, 3, 4 and the seek table's skippable frame */
            if (c.nends == 4) {
                CHECK_EQ_INT(c.ends[0], t.c_start[3]);
                CHECK_EQ_INT(c.ends[2], t.c_start[5]);
                CHECK_EQ_INT(c.ends[3], (int64_t)file.n);
            }
            free(c.out.d);
        }
        tokfs_seek_table_free(&t);

        /* a short tail asks for more */
        CHECK_EQ_INT(tokfs_seek_table_parse(file.d + file.n - 20, 20, (int64_t)file.n, &t, &need,
                                            &err),
                     -EAGAIN);
        CHECK_EQ_INT(need, 8 + 5 * (checksums ? 12 : 8) + 9);
        CHECK_EQ_INT(tokfs_seek_table_parse(file.d + file.n - need, need, (int64_t)file.n, &t,
                                            &need, &err),
                     0);
        CHECK_EQ_INT(t.nframes, 5);
        tokfs_seek_table_free(&t);

        /* read through the fetcher from a local file */
        char path[] = "/tmp/tokfs-seek-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0 && write(fd, file.d, file.n) == (ssize_t)file.n);
        close(fd);
        tokfs_fetcher *fetcher = tokfs_fetcher_new(NULL);
        tokfs_object_info info;
        CHECK_EQ_INT(tokfs_fetch_stat(fetcher, path, &info, &err), 0);
        uint64_t fetched = 0;
        CHECK_EQ_INT(tokfs_seek_table_read(fetcher, path, &info, &t, &fetched, &err), 0);
        CHECK_EQ_INT(t.nframes, 5);
        CHECK_EQ_INT(fetched, file.n); /* the file is under 64 KiB: its whole tail */
        tokfs_seek_table_free(&t);
        tokfs_fetcher_free(fetcher);
        unlink(path);

        /* inconsistencies */
        buf bad = {0};
        put(&bad, file.d, file.n);
        bad.d[bad.n - 5] |= 0x04; /* reserved descriptor bit */
        CHECK_EQ_INT(tokfs_seek_table_parse(bad.d, bad.n, (int64_t)bad.n, &t, &need, &err), -EINVAL);
        bad.n = 0;
        put(&bad, "x", 1); /* one byte more in front: sizes no longer add up */
        put(&bad, file.d, file.n);
        CHECK_EQ_INT(tokfs_seek_table_parse(bad.d, bad.n, (int64_t)bad.n, &t, &need, &err), -EINVAL);
        CHECK(strstr(err.msg, "add up") != NULL);
        bad.n = 0;
        put(&bad, file.d, file.n);
        memset(bad.d + bad.n - 9, 0, 4); /* 0 frames */
        CHECK_EQ_INT(tokfs_seek_table_parse(bad.d, bad.n, (int64_t)bad.n, &t, &need, &err), -EINVAL);
        bad.n = 0;
        put(&bad, file.d, file.n);
        bad.d[bad.n - 9] = 0xff; /* 255 frames: larger than the table */
        CHECK(tokfs_seek_table_parse(bad.d, bad.n, (int64_t)bad.n, &t, &need, &err) < 0);
        free(bad.d);
        free(file.d);
        free(content.d);
    }
    /* a plain .zst: no table */
    buf plain = {0}, content = {0};
    text(&content, 5000);
    zstd_frame(&plain, content.d, content.n, 1, 1);
    tokfs_seek_table t;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_seek_table_parse(plain.d, plain.n, (int64_t)plain.n, &t, NULL, &err), 0);
    CHECK_EQ_INT(t.nframes, 0);
    CHECK_EQ_INT(tokfs_seek_table_parse(plain.d, 3, 3, &t, NULL, &err), 0);
    CHECK_EQ_INT(t.nframes, 0);
    free(plain.d);
    free(content.d);
}

int main(void)
{
    test_zstd();
    test_gzip();
    test_seek_table();
    CHECK_DONE();
}
