/* Unit tests for core/decode/parquet.c and core/decode/thrift_compact.c.
 *
 *   test_parquet                 hand-built files (a small Parquet writer below) and hostile
 *                                inputs: every case that no npm writer can produce, and errors
 *   test_parquet --fixtures DIR  also every fixture written by tests/parquet/make_fixtures.mjs
 *                                (parquet-wasm = arrow-rs, and hyparquet-writer): the text read
 *                                must equal the text the writer was given, row group by row
 *                                group, through every API (whole chunk, streamed in pieces,
 *                                row cursor, filter); then bit-flipped, truncated and corrupted
 *                                copies of them must fail cleanly (run under ASan/UBSan too).
 *                                TOKFS_PQ_MUTATIONS=N sets the mutations per fixture (default 60).
 *
 * Hand-built cases cover what the npm writers cannot produce: PLAIN_DICTIONARY data pages,
 * BIT_PACKED definition levels, LZ4 as a bare block, GZIP with a zlib header or several members,
 * v2 pages with is_compressed=false under a codec, index and unknown pages, thrift fields of every
 * wire type and the long field-id form, row groups before the schema in the footer. */
#include "check.h"
#include "common/hash.h"
#include "decode/parquet.h"
#include "decode/pq_source.h"
#include "decode/thrift_compact_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <lz4.h>
#include <snappy-c.h>
#include <stdint.h>
#include <zlib.h>
#include <zstd.h>
#include <unistd.h>

/* ------------------------------------------------------------ byte buffers ---- */

struct wb {
    uint8_t *p;
    size_t len, cap;
};

static void wb_put(struct wb *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void wb_u8(struct wb *b, uint8_t v) { wb_put(b, &v, 1); }
static void wb_le32(struct wb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wb_put(b, x, 4);
}
static void wb_be32(struct wb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wb_put(b, x, 4);
}
static void wb_varint(struct wb *b, uint64_t v)
{
    while (v >= 0x80) {
        wb_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    wb_u8(b, (uint8_t)v);
}
static void wb_zz(struct wb *b, int64_t v) { wb_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }
static void wb_free(struct wb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------ thrift compact writer ---- */

struct tw {
    struct wb *b;
    int16_t last[64];
    int depth;
};

static void tw_field(struct tw *t, int id, int type)
{
    int delta = id - t->last[t->depth];
    if (delta > 0 && delta <= 15) {
        wb_u8(t->b, (uint8_t)(delta << 4 | type));
    } else {
        wb_u8(t->b, (uint8_t)type);
        wb_zz(t->b, id);
    }
    t->last[t->depth] = (int16_t)id;
}
static void tw_i32(struct tw *t, int id, int64_t v)
{
    tw_field(t, id, TC_I32);
    wb_zz(t->b, v);
}
static void tw_i64(struct tw *t, int id, int64_t v)
{
    tw_field(t, id, TC_I64);
    wb_zz(t->b, v);
}
static void tw_bin(struct tw *t, int id, const void *s, size_t n)
{
    tw_field(t, id, TC_BINARY);
    wb_varint(t->b, n);
    wb_put(t->b, s, n);
}
static void tw_str(struct tw *t, int id, const char *s) { tw_bin(t, id, s, strlen(s)); }
static void tw_bool(struct tw *t, int id, int v) { tw_field(t, id, v ? TC_TRUE : TC_FALSE); }
static void tw_begin(struct tw *t) { t->last[++t->depth] = 0; } /* a struct's fields follow */
static void tw_struct(struct tw *t, int id)
{
    tw_field(t, id, TC_STRUCT);
    tw_begin(t);
}
static void tw_end(struct tw *t)
{
    wb_u8(t->b, 0);
    t->depth--;
}
static void tw_list(struct tw *t, int id, int et, uint64_t n)
{
    tw_field(t, id, TC_LIST);
    if (n < 15) {
        wb_u8(t->b, (uint8_t)(n << 4 | (uint64_t)et));
    } else {
        wb_u8(t->b, (uint8_t)(0xf0 | et));
        wb_varint(t->b, n);
    }
}

/* ------------------------------------------------------------- compression ---- */

static void pq_compress(int codec, const uint8_t *in, size_t n, struct wb *out, int variant)
{
    out->len = 0;
    switch (codec) {
    case TOKFS_PQ_UNCOMPRESSED:
        wb_put(out, in, n);
        return;
    case TOKFS_PQ_SNAPPY: {
        size_t cap = snappy_max_compressed_length(n);
        uint8_t *tmp = malloc(cap);
        if (snappy_compress((const char *)in, n, (char *)tmp, &cap) != SNAPPY_OK)
            abort();
        wb_put(out, tmp, cap);
        free(tmp);
        return;
    }
    case TOKFS_PQ_GZIP: {
        /* variant 0: gzip; 1: zlib header; 2: two gzip members (split in the middle) */
        int members = variant == 2 ? 2 : 1;
        for (int m = 0; m < members; m++) {
            const uint8_t *src = in + (m ? n / 2 : 0);
            size_t sn = members == 1 ? n : m ? n - n / 2 : n / 2;
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            if (deflateInit2(&zs, 6, Z_DEFLATED, variant == 1 ? 15 : 31, 8, Z_DEFAULT_STRATEGY))
                abort();
            uLong cap = deflateBound(&zs, (uLong)sn);
            uint8_t *tmp = malloc(cap);
            zs.next_in = (Bytef *)(uintptr_t)src;
            zs.avail_in = (uInt)sn;
            zs.next_out = tmp;
            zs.avail_out = (uInt)cap;
            if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
                abort();
            wb_put(out, tmp, cap - zs.avail_out);
            deflateEnd(&zs);
            free(tmp);
        }
        return;
    }
    case TOKFS_PQ_ZSTD: {
        size_t cap = ZSTD_compressBound(n);
        uint8_t *tmp = malloc(cap);
        size_t r = ZSTD_compress(tmp, cap, in, n, 3);
        if (ZSTD_isError(r))
            abort();
        wb_put(out, tmp, r);
        free(tmp);
        return;
    }
    case TOKFS_PQ_LZ4_RAW:
    case TOKFS_PQ_LZ4: {
        int cap = LZ4_compressBound((int)n);
        char *tmp = malloc((size_t)cap);
        int r = LZ4_compress_default((const char *)in, tmp, (int)n, cap);
        if (r <= 0 && n > 0)
            abort();
        if (codec == TOKFS_PQ_LZ4 && variant == 0) { /* Hadoop framing: one block */
            wb_be32(out, (uint32_t)n);
            wb_be32(out, (uint32_t)r);
        }
        wb_put(out, tmp, (size_t)r);
        free(tmp);
        return;
    }
    }
    abort();
}

/* -------------------------------------------------------------- page writer ---- */

/* Values: a NULL pointer is a null. */
struct vals {
    const char **s;
    size_t n;
};

static void enc_plain(struct wb *b, struct vals v)
{
    for (size_t i = 0; i < v.n; i++)
        if (v.s[i]) {
            wb_le32(b, (uint32_t)strlen(v.s[i]));
            wb_put(b, v.s[i], strlen(v.s[i]));
        }
}

/* RLE/bit-packed hybrid of values[0..n) with width w: runs of >= 8 equal values as RLE runs,
 * the rest as bit-packed groups of 8 (padded). */
static void enc_hybrid(struct wb *b, const uint32_t *v, size_t n, int w)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] == v[i])
            j++;
        if (j - i >= 8) {
            wb_varint(b, (uint64_t)(j - i) << 1);
            for (int k = 0; k < (w + 7) / 8; k++)
                wb_u8(b, (uint8_t)(v[i] >> (8 * k)));
            i = j;
            continue;
        }
        size_t groups = 1, cnt = 8; /* one group of 8 (padded with zeros past n) */
        wb_varint(b, (uint64_t)groups << 1 | 1);
        uint64_t acc = 0;
        int bits = 0;
        for (size_t k = 0; k < cnt; k++) {
            uint64_t x = i + k < n ? v[i + k] : 0;
            acc |= x << bits;
            bits += w;
            while (bits >= 8) {
                wb_u8(b, (uint8_t)acc);
                acc >>= 8;
                bits -= 8;
            }
        }
        if (bits)
            wb_u8(b, (uint8_t)acc);
        i += cnt < n - i ? cnt : n - i;
    }
}

static void def_levels(struct vals v, uint32_t *out)
{
    for (size_t i = 0; i < v.n; i++)
        out[i] = v.s[i] != NULL;
}

/* DELTA_BINARY_PACKED of v[0..n): block 128, 4 miniblocks of 32. */
static void enc_dbp(struct wb *b, const int64_t *v, size_t n)
{
    wb_varint(b, 128);
    wb_varint(b, 4);
    wb_varint(b, n);
    wb_zz(b, n ? v[0] : 0);
    size_t i = 1;
    while (i < n) {
        int64_t d[128];
        size_t cnt = n - i < 128 ? n - i : 128;
        int64_t mn = INT64_MAX;
        for (size_t k = 0; k < cnt; k++) {
            d[k] = v[i + k] - v[i + k - 1];
            if (d[k] < mn)
                mn = d[k];
        }
        wb_zz(b, mn);
        int width[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < cnt; k++) {
            uint64_t x = (uint64_t)(d[k] - mn);
            int w = 0;
            while (w < 64 && (x >> w))
                w++;
            if (w > width[k / 32])
                width[k / 32] = w;
        }
        for (int m = 0; m < 4; m++)
            wb_u8(b, (uint8_t)width[m]);
        for (int m = 0; m < 4 && (size_t)m * 32 < cnt; m++) {
            uint64_t acc = 0;
            int bits = 0;
            for (size_t k = (size_t)m * 32; k < (size_t)m * 32 + 32; k++) {
                uint64_t x = k < cnt ? (uint64_t)(d[k] - mn) : 0;
                for (int bit = 0; bit < width[m]; bit++) {
                    acc |= ((x >> bit) & 1) << bits;
                    if (++bits == 8) {
                        wb_u8(b, (uint8_t)acc);
                        acc = 0;
                        bits = 0;
                    }
                }
            }
        }
        i += cnt;
    }
}

static void enc_dlba(struct wb *b, struct vals v)
{
    int64_t *len = calloc(v.n + 1, sizeof *len);
    size_t m = 0;
    for (size_t i = 0; i < v.n; i++)
        if (v.s[i])
            len[m++] = (int64_t)strlen(v.s[i]);
    enc_dbp(b, len, m);
    for (size_t i = 0; i < v.n; i++)
        if (v.s[i])
            wb_put(b, v.s[i], strlen(v.s[i]));
    free(len);
}

static void enc_dba(struct wb *b, struct vals v)
{
    int64_t *pre = calloc(v.n + 1, sizeof *pre), *suf = calloc(v.n + 1, sizeof *suf);
    size_t m = 0;
    const char *prev = "";
    for (size_t i = 0; i < v.n; i++)
        if (v.s[i]) {
            size_t p = 0;
            while (prev[p] && v.s[i][p] == prev[p])
                p++;
            pre[m] = (int64_t)p;
            suf[m++] = (int64_t)(strlen(v.s[i]) - p);
            prev = v.s[i];
        }
    enc_dbp(b, pre, m);
    enc_dbp(b, suf, m);
    m = 0;
    for (size_t i = 0; i < v.n; i++)
        if (v.s[i]) {
            wb_put(b, v.s[i] + pre[m], (size_t)suf[m]);
            m++;
        }
    free(pre);
    free(suf);
}

enum { E_PLAIN = 0, E_PLAIN_DICT = 2, E_RLE = 3, E_BIT_PACKED = 4, E_DLBA = 6, E_DBA = 7,
       E_RLE_DICT = 8 };

/* The values section of a data page. dict: the dictionary (for *_DICT encodings). */
static void enc_values(struct wb *b, struct vals v, int enc, struct vals dict)
{
    switch (enc) {
    case E_PLAIN: enc_plain(b, v); return;
    case E_DLBA: enc_dlba(b, v); return;
    case E_DBA: enc_dba(b, v); return;
    case E_PLAIN_DICT:
    case E_RLE_DICT: {
        uint32_t *idx = calloc(v.n + 1, sizeof *idx);
        size_t m = 0;
        for (size_t i = 0; i < v.n; i++)
            if (v.s[i]) {
                size_t k = 0;
                while (k < dict.n && strcmp(dict.s[k], v.s[i]) != 0)
                    k++;
                if (k == dict.n)
                    abort();
                idx[m++] = (uint32_t)k;
            }
        int w = 0;
        while ((dict.n - 1) >> w && w < 32)
            w++;
        wb_u8(b, (uint8_t)w);
        enc_hybrid(b, idx, m, w);
        free(idx);
        return;
    }
    }
    abort();
}

struct page_opts {
    int codec;
    int version;         /* 1 or 2 */
    int enc;
    int optional;
    int def_enc;         /* v1: E_RLE (default) or E_BIT_PACKED */
    int gz_variant;      /* GZIP: 0 gzip, 1 zlib, 2 two members; LZ4: 1 bare block */
    int v2_uncompressed; /* v2: is_compressed = false */
    int v2_no_levels;    /* v2 optional without nulls: no definition levels */
};

static void write_page_header(struct wb *out, int type, size_t usize, size_t csize,
                              int32_t nvals, const struct page_opts *o, int32_t nnulls,
                              size_t def_len)
{
    struct tw t = {.b = out};
    tw_begin(&t);
    tw_i32(&t, 1, type);
    tw_i32(&t, 2, (int64_t)usize);
    tw_i32(&t, 3, (int64_t)csize);
    if (type == 0) {
        tw_struct(&t, 5);
        tw_i32(&t, 1, nvals);
        tw_i32(&t, 2, o->enc);
        tw_i32(&t, 3, o->def_enc ? o->def_enc : E_RLE);
        tw_i32(&t, 4, E_RLE);
        tw_end(&t);
    } else if (type == 2) {
        tw_struct(&t, 7);
        tw_i32(&t, 1, nvals);
        tw_i32(&t, 2, o->enc);
        tw_end(&t);
    } else if (type == 3) {
        tw_struct(&t, 8);
        tw_i32(&t, 1, nvals);
        tw_i32(&t, 2, nnulls);
        tw_i32(&t, 3, nvals);
        tw_i32(&t, 4, o->enc);
        tw_i32(&t, 5, (int64_t)def_len);
        tw_i32(&t, 6, 0);
        if (o->v2_uncompressed)
            tw_bool(&t, 7, 0);
        tw_end(&t);
    }
    tw_end(&t);
}

static void write_dict_page(struct wb *out, int codec, struct vals dict, int enc)
{
    struct wb raw = {0}, comp = {0};
    enc_plain(&raw, dict);
    pq_compress(codec, raw.p, raw.len, &comp, 0);
    struct page_opts o = {.codec = codec, .enc = enc};
    write_page_header(out, 2, raw.len, comp.len, (int32_t)dict.n, &o, 0, 0);
    wb_put(out, comp.p, comp.len);
    wb_free(&raw);
    wb_free(&comp);
}

static void write_data_page(struct wb *out, const struct page_opts *o, struct vals v,
                            struct vals dict)
{
    struct wb levels = {0}, values = {0}, comp = {0};
    int32_t nnulls = 0;
    for (size_t i = 0; i < v.n; i++)
        nnulls += v.s[i] == NULL;
    if (o->optional && !(o->version == 2 && o->v2_no_levels)) {
        uint32_t *lv = calloc(v.n + 1, sizeof *lv);
        def_levels(v, lv);
        if (o->version == 1 && o->def_enc == E_BIT_PACKED) {
            uint8_t byte = 0;
            for (size_t i = 0; i < v.n; i++) {
                byte |= (uint8_t)(lv[i] << (7 - i % 8));
                if (i % 8 == 7) {
                    wb_u8(&levels, byte);
                    byte = 0;
                }
            }
            if (v.n % 8)
                wb_u8(&levels, byte);
        } else {
            struct wb h = {0};
            enc_hybrid(&h, lv, v.n, 1);
            if (o->version == 1)
                wb_le32(&levels, (uint32_t)h.len);
            wb_put(&levels, h.p, h.len);
            wb_free(&h);
        }
        free(lv);
    }
    enc_values(&values, v, o->enc, dict);
    if (o->version == 1) {
        struct wb all = {0};
        wb_put(&all, levels.p, levels.len);
        wb_put(&all, values.p, values.len);
        pq_compress(o->codec, all.p, all.len, &comp, o->gz_variant);
        write_page_header(out, 0, all.len, comp.len, (int32_t)v.n, o, 0, 0);
        wb_put(out, comp.p, comp.len);
        wb_free(&all);
    } else {
        if (o->v2_uncompressed)
            pq_compress(TOKFS_PQ_UNCOMPRESSED, values.p, values.len, &comp, 0);
        else
            pq_compress(o->codec, values.p, values.len, &comp, o->gz_variant);
        write_page_header(out, 3, levels.len + values.len, levels.len + comp.len, (int32_t)v.n,
                          o, nnulls, levels.len);
        wb_put(out, levels.p, levels.len);
        wb_put(out, comp.p, comp.len);
    }
    wb_free(&levels);
    wb_free(&values);
    wb_free(&comp);
}

/* ------------------------------------------------------------- file writer ---- */

struct col_def {
    const char *name;
    int type;        /* 6 BYTE_ARRAY */
    int rep;         /* 0 REQUIRED 1 OPTIONAL 2 REPEATED */
    int converted;   /* -1 none */
    int logical;     /* -1 none, else the LogicalType union field id */
};

struct chunk_def {
    struct wb bytes;
    int codec;
    int64_t nvals;
    size_t dict_len;  /* bytes of a leading dictionary page (0: none) */
};

enum { FM_EXOTIC = 1, FM_RG_FIRST = 2 };

/* Unknown fields of every wire type (a reader must skip them). */
static void write_exotic(struct tw *t, int id0)
{
    static const uint8_t uuid[16] = {1, 2, 3};
    tw_field(t, id0, TC_DOUBLE);
    wb_put(t->b, "\0\0\0\0\0\0\xf0\x3f", 8);
    tw_field(t, id0 + 1, TC_UUID);
    wb_put(t->b, uuid, 16);
    tw_field(t, id0 + 2, TC_I8);
    wb_u8(t->b, 0xff);
    tw_field(t, id0 + 3, TC_I16);
    wb_zz(t->b, -300);
    tw_field(t, id0 + 4, TC_MAP); /* map<string, list<bool>> with one entry */
    wb_varint(t->b, 1);
    wb_u8(t->b, TC_BINARY << 4 | TC_LIST);
    wb_varint(t->b, 1);
    wb_u8(t->b, 'k');
    wb_u8(t->b, 3 << 4 | TC_TRUE);
    wb_u8(t->b, 1);
    wb_u8(t->b, 0);
    wb_u8(t->b, 1);
    tw_field(t, id0 + 5, TC_SET); /* set<struct{1: i32}> */
    wb_u8(t->b, 2 << 4 | TC_STRUCT);
    for (int i = 0; i < 2; i++) {
        tw_begin(t);
        tw_i32(t, 1, i);
        tw_end(t);
    }
    tw_field(t, id0 + 6, TC_MAP); /* an empty map */
    wb_varint(t->b, 0);
    tw_bool(t, 300, 1); /* long-form field id */
    tw_field(t, 301, TC_LIST); /* list<double> */
    wb_u8(t->b, 1 << 4 | TC_DOUBLE);
    wb_put(t->b, "\0\0\0\0\0\0\0\0", 8);
}

static void write_schema(struct tw *t, const struct col_def *cols, int ncols)
{
    tw_list(t, 2, TC_STRUCT, (uint64_t)ncols + 1);
    tw_begin(t);
    tw_str(t, 4, "schema");
    tw_i32(t, 5, ncols);
    tw_end(t);
    for (int i = 0; i < ncols; i++) {
        tw_begin(t);
        if (cols[i].type >= 0)
            tw_i32(t, 1, cols[i].type);
        tw_i32(t, 3, cols[i].rep);
        tw_str(t, 4, cols[i].name);
        if (cols[i].converted >= 0)
            tw_i32(t, 6, cols[i].converted);
        if (cols[i].logical >= 0) {
            tw_struct(t, 10);
            tw_struct(t, cols[i].logical);
            tw_end(t);
            tw_end(t);
        }
        tw_end(t);
    }
}

/* chunks[rg * ncols + c]; rows[rg]. */
static void write_file(struct wb *out, const struct col_def *cols, int ncols,
                       struct chunk_def *chunks, int nrg, const int64_t *rows, int flags)
{
    out->len = 0;
    wb_put(out, "PAR1", 4);
    int64_t *off = calloc((size_t)(nrg * ncols), sizeof *off);
    for (int i = 0; i < nrg * ncols; i++) {
        off[i] = (int64_t)out->len;
        wb_put(out, chunks[i].bytes.p, chunks[i].bytes.len);
    }
    struct wb f = {0};
    struct tw t = {.b = &f};
    tw_begin(&t);
    int64_t total = 0;
    for (int g = 0; g < nrg; g++)
        total += rows[g];
    for (int pass = 0; pass < 2; pass++) {
        int rg_now = (pass == 0) == !!(flags & FM_RG_FIRST);
        if (!rg_now) { /* field ids going down are written in the long form by tw_field */
            tw_i32(&t, 1, 1);
            write_schema(&t, cols, ncols);
            tw_i64(&t, 3, total);
            continue;
        }
        tw_list(&t, 4, TC_STRUCT, (uint64_t)nrg);
        for (int g = 0; g < nrg; g++) {
            tw_begin(&t);
            tw_list(&t, 1, TC_STRUCT, (uint64_t)ncols);
            for (int c = 0; c < ncols; c++) {
                struct chunk_def *ch = &chunks[g * ncols + c];
                int64_t o = off[g * ncols + c];
                tw_begin(&t);
                tw_i64(&t, 2, o);
                tw_struct(&t, 3);
                tw_i32(&t, 1, cols[c].type);
                tw_list(&t, 2, TC_I32, 2);
                wb_zz(&f, 0);
                wb_zz(&f, 3);
                tw_list(&t, 3, TC_BINARY, 1);
                wb_varint(&f, strlen(cols[c].name));
                wb_put(&f, cols[c].name, strlen(cols[c].name));
                tw_i32(&t, 4, ch->codec);
                tw_i64(&t, 5, ch->nvals);
                tw_i64(&t, 6, (int64_t)ch->bytes.len);
                tw_i64(&t, 7, (int64_t)ch->bytes.len);
                tw_i64(&t, 9, o + (int64_t)ch->dict_len);
                if (ch->dict_len)
                    tw_i64(&t, 11, o);
                if (flags & FM_EXOTIC)
                    write_exotic(&t, 100);
                tw_end(&t);
                tw_end(&t);
            }
            tw_i64(&t, 2, 0);
            tw_i64(&t, 3, rows[g]);
            tw_end(&t);
        }
        if (flags & FM_EXOTIC)
            write_exotic(&t, 40);
    }
    tw_str(&t, 6, "tokfs test writer");
    tw_end(&t);
    wb_put(out, f.p, f.len);
    wb_le32(out, (uint32_t)f.len);
    wb_put(out, "PAR1", 4);
    wb_free(&f);
    free(off);
}

/* --------------------------------------------------------------- reading ---- */

struct strs {
    char **s;   /* NULL entries are nulls (row cursor only) */
    size_t *len;
    size_t n, cap;
};

static void strs_push(struct strs *a, const uint8_t *s, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->s = realloc(a->s, a->cap * sizeof *a->s);
        a->len = realloc(a->len, a->cap * sizeof *a->len);
        if (!a->s || !a->len)
            abort();
    }
    if (s) {
        a->s[a->n] = malloc(len + 1);
        memcpy(a->s[a->n], s, len);
        a->s[a->n][len] = 0;
    } else {
        a->s[a->n] = NULL;
    }
    a->len[a->n++] = len;
}

static void strs_free(struct strs *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->s[i]);
    free(a->s);
    free(a->len);
    memset(a, 0, sizeof *a);
}

static int collect_cb(void *ctx, const uint8_t *s, size_t len)
{
    strs_push(ctx, s, len);
    return 0;
}

/* Parse the footer of a whole file in memory. */
static int meta_of(const uint8_t *f, size_t n, const char *text, const char *filter,
                   tokfs_pq_meta **m, tokfs_err *err)
{
    uint64_t need = 0;
    int rc = tokfs_pq_meta_parse(f, n, n, text, filter, m, &need, err);
    if (rc == TOKFS_PQ_NEED_MORE) {
        fprintf(stderr, "unexpected NEED_MORE with the whole file\n");
        return -EPROTO;
    }
    return rc;
}

/* Read every row group: whole chunks (piece == 0) or fed in pieces of `piece` bytes. */
static int read_file(const uint8_t *f, size_t n, const char *text, const tokfs_filter *flt,
                     const tokfs_pq_limits *lim, size_t piece, struct strs *out,
                     tokfs_pq_stats *total, tokfs_err *err)
{
    tokfs_pq_meta *m;
    int rc = meta_of(f, n, text, flt ? flt->column : NULL, &m, err);
    if (rc < 0)
        return rc;
    if (total)
        memset(total, 0, sizeof *total);
    for (size_t g = 0; g < m->n_row_groups && rc == 0; g++) {
        const tokfs_pq_row_group *rg = &m->row_groups[g];
        tokfs_pq_stats st;
        const uint8_t *fc = flt ? f + rg->filter.start : NULL;
        size_t fl = flt ? rg->filter.end - rg->filter.start : 0;
        if (piece == 0) {
            rc = tokfs_pq_read_row_group(m, g, f + rg->text.start, rg->text.end - rg->text.start,
                                         flt, fc, fl, lim, collect_cb, out, &st, err);
        } else {
            tokfs_pq_rg *r;
            rc = tokfs_pq_rg_open(&r, m, g, flt, fc, fl, lim, collect_cb, out, err);
            if (rc < 0)
                break;
            for (uint64_t p = rg->text.start; p < rg->text.end && rc == 0; p += piece) {
                size_t k = rg->text.end - p < piece ? (size_t)(rg->text.end - p) : piece;
                rc = tokfs_pq_rg_feed(r, f + p, k, err);
            }
            if (rc == 0)
                rc = tokfs_pq_rg_finish(r, &st, err);
            tokfs_pq_rg_free(r);
        }
        if (rc == 0 && total) {
            total->rows += st.rows;
            total->values += st.values;
            total->value_bytes += st.value_bytes;
            total->nulls += st.nulls;
            total->filtered += st.filtered;
            total->too_large += st.too_large;
            total->pages += st.pages;
            total->encodings |= st.encodings;
            total->page_types |= st.page_types;
        }
    }
    tokfs_pq_meta_free(m);
    return rc;
}

/* Rows (nulls included) of the text column through the row cursor. */
static int cursor_file(const uint8_t *f, size_t n, const char *text, struct strs *out,
                       tokfs_err *err)
{
    tokfs_pq_meta *m;
    int rc = meta_of(f, n, text, NULL, &m, err);
    if (rc < 0)
        return rc;
    for (size_t g = 0; g < m->n_row_groups && rc == 0; g++) {
        const tokfs_pq_row_group *rg = &m->row_groups[g];
        tokfs_pq_col *c;
        rc = tokfs_pq_col_open(&c, &m->text, &rg->text, f + rg->text.start,
                               rg->text.end - rg->text.start, NULL, err);
        if (rc < 0)
            break;
        const uint8_t *s;
        size_t len;
        int64_t rows = 0;
        while ((rc = tokfs_pq_col_next(c, &s, &len, err)) > 0) {
            strs_push(out, s, len);
            rows++;
        }
        if (rc == 0 && rows != rg->num_rows) {
            fprintf(stderr, "cursor: %lld rows, row group has %lld\n", (long long)rows,
                    (long long)rg->num_rows);
            rc = -EPROTO;
        }
        tokfs_pq_col_free(c);
    }
    tokfs_pq_meta_free(m);
    return rc;
}

static int strs_eq_vals(const struct strs *got, struct vals want, int keep_nulls,
                        const char *what)
{
    size_t j = 0;
    for (size_t i = 0; i < want.n; i++) {
        if (!want.s[i] && !keep_nulls)
            continue;
        if (j >= got->n) {
            fprintf(stderr, "%s: %zu values read, more expected\n", what, got->n);
            return 0;
        }
        int same = want.s[i] ? got->s[j] && got->len[j] == strlen(want.s[i]) &&
                                   memcmp(got->s[j], want.s[i], got->len[j]) == 0
                             : got->s[j] == NULL;
        if (!same) {
            fprintf(stderr, "%s: value %zu differs: got '%.40s' want '%.40s'\n", what, j,
                    got->s[j] ? got->s[j] : "(null)", want.s[i] ? want.s[i] : "(null)");
            return 0;
        }
        j++;
    }
    if (j != got->n) {
        fprintf(stderr, "%s: %zu values read, %zu expected\n", what, got->n, j);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------- hand-built files ---- */

/* One column 'text' (BYTE_ARRAY UTF8), v split into row groups of rg_rows rows, pages of
 * page_rows rows. Dictionary encodings get a dictionary page of the distinct values. */
static void build_simple(struct wb *file, struct vals v, const struct page_opts *o,
                         size_t page_rows, size_t rg_rows, int flags)
{
    struct col_def col = {"text", 6, o->optional ? 1 : 0, 0, 1};
    int dict_enc = o->enc == E_PLAIN_DICT || o->enc == E_RLE_DICT;
    size_t nrg = v.n ? (v.n + rg_rows - 1) / rg_rows : 0;
    struct chunk_def *ch = calloc(nrg + 1, sizeof *ch);
    int64_t *rows = calloc(nrg + 1, sizeof *rows);
    const char **distinct = calloc(v.n + 1, sizeof *distinct);
    for (size_t g = 0; g < nrg; g++) {
        size_t a = g * rg_rows, b = a + rg_rows < v.n ? a + rg_rows : v.n;
        struct vals d = {distinct, 0};
        if (dict_enc) {
            for (size_t i = a; i < b; i++) {
                if (!v.s[i])
                    continue;
                size_t k = 0;
                while (k < d.n && strcmp(d.s[k], v.s[i]) != 0)
                    k++;
                if (k == d.n)
                    distinct[d.n++] = v.s[i];
            }
            if (d.n == 0) /* a dictionary of one entry keeps widths sane */
                distinct[d.n++] = "unused";
            write_dict_page(&ch[g].bytes, o->codec, d,
                            o->enc == E_PLAIN_DICT ? E_PLAIN_DICT : E_PLAIN);
            ch[g].dict_len = ch[g].bytes.len;
        }
        for (size_t p = a; p < b; p += page_rows) {
            struct vals pv = {v.s + p, p + page_rows < b ? page_rows : b - p};
            write_data_page(&ch[g].bytes, o, pv, d);
        }
        ch[g].codec = o->codec;
        ch[g].nvals = (int64_t)(b - a);
        rows[g] = (int64_t)(b - a);
    }
    write_file(file, &col, 1, ch, (int)nrg, rows, flags);
    for (size_t g = 0; g < nrg; g++)
        wb_free(&ch[g].bytes);
    free(ch);
    free(rows);
    free(distinct);
}

static const char *sample_vals[] = {
    "hello", "", "héllo wörld", NULL, "東京", "hello", "hello there", "hello there!", NULL, NULL,
    "🙂🚀", "a\0b" /* stops at NUL: "a" */, "same", "same", "same", "same", "same", "same",
    "same", "same", "same", "different", "long long long long long long long long text", "x",
    NULL, "y", "z", "zz", "zzz", "zzzz", "", "",
};

static int check_roundtrip(const char *what, struct vals v, const struct page_opts *o,
                           size_t page_rows, size_t rg_rows, int flags)
{
    struct wb f = {0};
    build_simple(&f, v, o, page_rows, rg_rows, flags);
    int ok = 1;
    size_t pieces[] = {0, 1, 3, 100};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        struct strs got = {0};
        tokfs_err err = {{0}};
        tokfs_pq_stats st;
        int rc = read_file(f.p, f.len, "text", NULL, NULL, pieces[k], &got, &st, &err);
        if (rc != 0) {
            fprintf(stderr, "%s (piece %zu): rc %d: %s\n", what, pieces[k], rc, err.msg);
            ok = 0;
        } else if (!strs_eq_vals(&got, v, 0, what)) {
            ok = 0;
        } else {
            size_t nulls = 0;
            for (size_t i = 0; i < v.n; i++)
                nulls += v.s[i] == NULL;
            if (st.nulls != nulls || st.rows != v.n) {
                fprintf(stderr, "%s: stats rows %llu nulls %llu\n", what,
                        (unsigned long long)st.rows, (unsigned long long)st.nulls);
                ok = 0;
            }
        }
        strs_free(&got);
    }
    struct strs rows = {0};
    tokfs_err err = {{0}};
    int rc = cursor_file(f.p, f.len, "text", &rows, &err);
    if (rc != 0 || !strs_eq_vals(&rows, v, 1, what)) {
        fprintf(stderr, "%s: cursor rc %d %s\n", what, rc, err.msg);
        ok = 0;
    }
    strs_free(&rows);
    wb_free(&f);
    return ok;
}

static void test_handbuilt_matrix(void)
{
    static const int codecs[] = {TOKFS_PQ_UNCOMPRESSED, TOKFS_PQ_SNAPPY, TOKFS_PQ_GZIP,
                                 TOKFS_PQ_LZ4,          TOKFS_PQ_ZSTD,   TOKFS_PQ_LZ4_RAW};
    static const int encs[] = {E_PLAIN, E_PLAIN_DICT, E_RLE_DICT, E_DLBA, E_DBA};
    size_t n = sizeof sample_vals / sizeof sample_vals[0];
    const char *req[sizeof sample_vals / sizeof sample_vals[0]];
    size_t nreq = 0;
    for (size_t i = 0; i < n; i++)
        if (sample_vals[i])
            req[nreq++] = sample_vals[i];
    for (size_t c = 0; c < 6; c++)
        for (int ver = 1; ver <= 2; ver++)
            for (size_t e = 0; e < 5; e++)
                for (int opt = 0; opt <= 1; opt++) {
                    struct page_opts o = {.codec = codecs[c], .version = ver, .enc = encs[e],
                                          .optional = opt};
                    struct vals v = opt ? (struct vals){sample_vals, n} : (struct vals){req, nreq};
                    char what[96];
                    snprintf(what, sizeof what, "handbuilt codec %d v%d enc %d %s", codecs[c], ver,
                             encs[e], opt ? "opt" : "req");
                    CHECK(check_roundtrip(what, v, &o, 5, 13, 0));
                }
}

static void test_handbuilt_variants(void)
{
    size_t n = sizeof sample_vals / sizeof sample_vals[0];
    struct vals v = {sample_vals, n};
    struct page_opts o;
    /* GZIP with a zlib header, and in two members */
    o = (struct page_opts){.codec = TOKFS_PQ_GZIP, .version = 1, .enc = E_PLAIN, .optional = 1,
                           .gz_variant = 1};
    CHECK(check_roundtrip("gzip zlib header", v, &o, 7, 100, 0));
    o.gz_variant = 2;
    CHECK(check_roundtrip("gzip two members", v, &o, 7, 100, 0));
    /* LZ4 (deprecated codec) as a bare block, as old writers made */
    o = (struct page_opts){.codec = TOKFS_PQ_LZ4, .version = 1, .enc = E_DBA, .optional = 1,
                           .gz_variant = 1};
    CHECK(check_roundtrip("lz4 bare block", v, &o, 7, 100, 0));
    /* deprecated BIT_PACKED definition levels (v1) */
    o = (struct page_opts){.codec = TOKFS_PQ_SNAPPY, .version = 1, .enc = E_PLAIN_DICT,
                           .optional = 1, .def_enc = E_BIT_PACKED};
    CHECK(check_roundtrip("bit-packed levels", v, &o, 11, 100, 0));
    /* v2 page with is_compressed = false under a codec */
    o = (struct page_opts){.codec = TOKFS_PQ_ZSTD, .version = 2, .enc = E_DLBA, .optional = 1,
                           .v2_uncompressed = 1};
    CHECK(check_roundtrip("v2 not compressed", v, &o, 6, 100, 0));
    /* v2 OPTIONAL page without nulls and without definition levels */
    const char *nonull[] = {"a", "b", "", "c"};
    o = (struct page_opts){.codec = TOKFS_PQ_UNCOMPRESSED, .version = 2, .enc = E_PLAIN,
                           .optional = 1, .v2_no_levels = 1};
    CHECK(check_roundtrip("v2 no levels", (struct vals){nonull, 4}, &o, 4, 4, 0));
    /* footer with unknown fields of every wire type, row groups before the schema */
    o = (struct page_opts){.codec = TOKFS_PQ_SNAPPY, .version = 2, .enc = E_RLE_DICT,
                           .optional = 1};
    CHECK(check_roundtrip("exotic footer", v, &o, 9, 10, FM_EXOTIC | FM_RG_FIRST));
    /* DELTA edge cases: one value (no blocks), all-null pages, widths of 0, many blocks */
    const char *one[] = {"only"};
    o = (struct page_opts){.codec = TOKFS_PQ_UNCOMPRESSED, .version = 1, .enc = E_DLBA};
    CHECK(check_roundtrip("dlba one value", (struct vals){one, 1}, &o, 1, 1, 0));
    o.enc = E_DBA;
    CHECK(check_roundtrip("dba one value", (struct vals){one, 1}, &o, 1, 1, 0));
    const char *nulls[] = {NULL, NULL, NULL, "x", NULL};
    for (int e = 0; e < 3; e++) {
        o = (struct page_opts){.codec = TOKFS_PQ_SNAPPY, .version = 1 + e % 2,
                               .enc = e == 0 ? E_DLBA : e == 1 ? E_DBA : E_RLE_DICT,
                               .optional = 1};
        CHECK(check_roundtrip("all-null pages", (struct vals){nulls, 5}, &o, 3, 5, 0));
    }
    static char buf[1000][12];
    const char *many[1000];
    for (int i = 0; i < 1000; i++) {
        snprintf(buf[i], sizeof buf[i], i < 500 ? "k%07d" : "%d", i < 500 ? 1234567 : i * 7919);
        many[i] = buf[i];
    }
    for (int e = 0; e < 2; e++) {
        o = (struct page_opts){.codec = TOKFS_PQ_ZSTD, .version = 2, .enc = e ? E_DBA : E_DLBA};
        CHECK(check_roundtrip("many values", (struct vals){many, 1000}, &o, 700, 1000, 0));
    }
}

/* Index pages and unknown page types inside a chunk are skipped. */
static void test_skipped_pages(void)
{
    const char *vals[] = {"one", "two", "three"};
    struct page_opts o = {.codec = TOKFS_PQ_UNCOMPRESSED, .version = 1, .enc = E_PLAIN};
    struct col_def col = {"text", 6, 0, 0, -1};
    struct chunk_def ch = {.codec = 0, .nvals = 3};
    write_data_page(&ch.bytes, &o, (struct vals){vals, 1}, (struct vals){0});
    for (int type = 1; type <= 9; type += 8) { /* INDEX_PAGE, and an unknown type 9 */
        struct tw t = {.b = &ch.bytes};
        tw_begin(&t);
        tw_i32(&t, 1, type);
        tw_i32(&t, 2, 5);
        tw_i32(&t, 3, 5);
        tw_end(&t);
        wb_put(&ch.bytes, "junk!", 5);
    }
    write_data_page(&ch.bytes, &o, (struct vals){vals + 1, 2}, (struct vals){0});
    int64_t rows = 3;
    struct wb f = {0};
    write_file(&f, &col, 1, &ch, 1, &rows, 0);
    struct strs got = {0};
    tokfs_err err = {{0}};
    tokfs_pq_stats st;
    CHECK_EQ_INT(read_file(f.p, f.len, "text", NULL, NULL, 0, &got, &st, &err), 0);
    CHECK(strs_eq_vals(&got, (struct vals){vals, 3}, 0, "skipped pages"));
    CHECK(st.page_types == (1u << 0 | 1u << 1 | 1u << 9));
    strs_free(&got);
    wb_free(&f);
    wb_free(&ch.bytes);
}

/* A two-column file: text and lang; filter on lang. */
static void test_filter(void)
{
    const char *text[] = {"t0", "t1", NULL, "t3", "t4", "t5", "t6", "t7"};
    const char *lang[] = {"Python", "C", "Python", NULL, "Go", "", "Python ", "python"};
    struct col_def cols[2] = {{"text", 6, 1, 0, 1}, {"lang", 6, 1, 0, 1}};
    struct page_opts o = {.codec = TOKFS_PQ_SNAPPY, .version = 1, .enc = E_PLAIN, .optional = 1};
    struct chunk_def ch[2] = {{.codec = 1, .nvals = 8}, {.codec = 1, .nvals = 8}};
    write_data_page(&ch[0].bytes, &o, (struct vals){text, 5}, (struct vals){0});
    write_data_page(&ch[0].bytes, &o, (struct vals){text + 5, 3}, (struct vals){0});
    write_data_page(&ch[1].bytes, &o, (struct vals){lang, 3}, (struct vals){0});
    write_data_page(&ch[1].bytes, &o, (struct vals){lang + 3, 5}, (struct vals){0});
    int64_t rows = 8;
    struct wb f = {0};
    write_file(&f, cols, 2, ch, 1, &rows, 0);

    tokfs_filter flt;
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_filter_parse("lang=Python|Go|", &flt, &err), 0);
    CHECK(flt.n_values == 3 && strcmp(flt.column, "lang") == 0 && flt.lens[2] == 0);
    for (size_t piece = 0; piece <= 2; piece++) {
        struct strs got = {0};
        tokfs_pq_stats st;
        CHECK_EQ_INT(read_file(f.p, f.len, "text", &flt, NULL, piece, &got, &st, &err), 0);
        const char *want[] = {"t0", "t4", "t5"};
        CHECK(strs_eq_vals(&got, (struct vals){want, 3}, 0, "filter"));
        CHECK_EQ_INT(st.rows, 8);
        CHECK_EQ_INT(st.filtered, 4); /* C, NULL, "Python ", "python" */
        CHECK_EQ_INT(st.nulls, 1);    /* row 2: Python but null text */
        strs_free(&got);
    }
    tokfs_filter_free(&flt);
    CHECK_EQ_INT(tokfs_filter_parse("=x", &flt, &err), -EINVAL);
    CHECK_EQ_INT(tokfs_filter_parse("lang", &flt, &err), -EINVAL);
    CHECK_EQ_INT(tokfs_filter_parse("lang=", &flt, &err), 0);
    CHECK(flt.n_values == 1 && flt.lens[0] == 0);
    /* the filter column must have been named to the footer parser */
    tokfs_pq_meta *m;
    CHECK_EQ_INT(meta_of(f.p, f.len, "text", NULL, &m, &err), 0);
    tokfs_pq_rg *r;
    CHECK_EQ_INT(tokfs_pq_rg_open(&r, m, 0, &flt, f.p, 1, NULL, collect_cb, NULL, &err), -EINVAL);
    tokfs_pq_meta_free(m);
    /* filter chunk of the wrong length; filter column with fewer rows than the text column */
    CHECK_EQ_INT(meta_of(f.p, f.len, "text", "lang", &m, &err), 0);
    CHECK_EQ_INT(tokfs_pq_rg_open(&r, m, 0, &flt, f.p, 1, NULL, collect_cb, NULL, &err), -EINVAL);
    tokfs_filter_free(&flt);
    tokfs_pq_meta_free(m);
    wb_free(&f);
    wb_free(&ch[0].bytes);
    wb_free(&ch[1].bytes);
}

/* ------------------------------------------------------------------ errors ---- */

#define CHECK_ERR(expr, eno, err, substr)                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_ != -(eno) || !strstr((err).msg, (substr))) {                                 \
            fprintf(stderr, "%s:%d: %s: rc %d (want %d), msg '%s' (want '%s')\n", __FILE__,   \
                    __LINE__, #expr, rc_, -(eno), (err).msg, (substr));                       \
            check_failures++;                                                                \
        }                                                                                    \
    } while (0)

/* A file around a hand-written footer. */
static void wrap_footer(struct wb *file, const struct wb *footer)
{
    file->len = 0;
    wb_put(file, "PAR1", 4);
    wb_put(file, footer->p, footer->len);
    wb_le32(file, (uint32_t)footer->len);
    wb_put(file, "PAR1", 4);
}

static int parse_whole(const struct wb *file, const char *text, const char *filter,
                       tokfs_err *err)
{
    tokfs_pq_meta *m = NULL;
    int rc = meta_of(file->p, file->len, text, filter, &m, err);
    tokfs_pq_meta_free(m);
    return rc;
}

static void file_with_col(struct wb *f, struct col_def col, int codec)
{
    const char *vals[] = {"a"};
    struct page_opts o = {.codec = codec == TOKFS_PQ_BROTLI ? 0 : codec, .version = 1,
                          .enc = E_PLAIN, .optional = col.rep == 1};
    struct chunk_def ch = {.codec = codec, .nvals = 1};
    write_data_page(&ch.bytes, &o, (struct vals){vals, 1}, (struct vals){0});
    struct col_def cols[2] = {{"id", 2, 0, -1, -1}, col};
    struct chunk_def chs[2] = {{.codec = 0, .nvals = 1}, ch};
    wb_put(&chs[0].bytes, "\0\0\0\0\0\0\0\0", 8);
    int64_t rows = 1;
    write_file(f, cols, 2, chs, 1, &rows, 0);
    wb_free(&chs[0].bytes);
    wb_free(&ch.bytes);
}

static void test_meta_errors(void)
{
    tokfs_err err = {{0}};
    struct wb f = {0};
    tokfs_pq_meta *m = NULL;
    uint64_t need = 0;

    /* schema refusals, named */
    file_with_col(&f, (struct col_def){"text", 6, 0, 0, 1}, 0);
    CHECK_EQ_INT(parse_whole(&f, "text", NULL, &err), 0);
    CHECK_ERR(parse_whole(&f, "content", NULL, &err), EINVAL, err, "columns: id, text");
    CHECK_ERR(parse_whole(&f, "text", "nope", &err), EINVAL, err, "'nope' (the filter column)");
    CHECK_ERR(parse_whole(&f, "text", "text", &err), EINVAL, err, "differ");
    CHECK_ERR(parse_whole(&f, "id", NULL, &err), ENOTSUP, err, "physical type INT64");
    file_with_col(&f, (struct col_def){"text", 6, 2, 0, 1}, 0);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), ENOTSUP, err, "REPEATED");
    file_with_col(&f, (struct col_def){"text", 6, 0, -1, 5}, 0);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), ENOTSUP, err, "logical type DECIMAL");
    file_with_col(&f, (struct col_def){"text", 6, 0, 20, -1}, 0);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), ENOTSUP, err, "converted type 20");
    file_with_col(&f, (struct col_def){"text", 6, 1, -1, -1}, 0); /* plain BYTE_ARRAY */
    CHECK_EQ_INT(meta_of(f.p, f.len, "text", NULL, &m, &err), 0);
    CHECK(m && m->text.annotation == 0 && m->text.optional == 1 && m->text.leaf_index == 1);
    tokfs_pq_meta_free(m);
    file_with_col(&f, (struct col_def){"text", 6, 0, 19, 12}, 0); /* JSON */
    CHECK_EQ_INT(meta_of(f.p, f.len, "text", NULL, &m, &err), 0);
    CHECK(m && m->text.annotation == 3);
    tokfs_pq_meta_free(m);
    file_with_col(&f, (struct col_def){"text", 6, 0, 4, -1}, 0); /* ENUM */
    CHECK_EQ_INT(meta_of(f.p, f.len, "text", NULL, &m, &err), 0);
    CHECK(m && m->text.annotation == 2 && m->text.optional == 0);
    tokfs_pq_meta_free(m);
    file_with_col(&f, (struct col_def){"text", 6, 0, 0, 1}, TOKFS_PQ_BROTLI);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), ENOTSUP, err, "BROTLI");

    /* a group column, and a duplicated name */
    struct wb foot = {0};
    struct tw t = {.b = &foot};
    tw_begin(&t);
    tw_list(&t, 2, TC_STRUCT, 5);
    tw_begin(&t); tw_str(&t, 4, "schema"); tw_i32(&t, 5, 3); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 3, 1); tw_str(&t, 4, "meta"); tw_i32(&t, 5, 1); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "text"); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "text"); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "text"); tw_end(&t);
    tw_i64(&t, 3, 0);
    tw_list(&t, 4, TC_STRUCT, 0);
    tw_end(&t);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "meta", NULL, &err), ENOTSUP, err, "is a group");
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EINVAL, err, "two top-level columns");
    foot.len = 0;
    t = (struct tw){.b = &foot};
    tw_begin(&t);
    tw_list(&t, 2, TC_STRUCT, 3);
    tw_begin(&t); tw_str(&t, 4, "schema"); tw_i32(&t, 5, 1); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "text"); tw_end(&t);
    tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "more"); tw_end(&t);
    tw_end(&t);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "more elements than its tree");

    /* file-level refusals */
    file_with_col(&f, (struct col_def){"text", 6, 0, 0, 1}, 0);
    struct wb g = {0};
    wb_put(&g, f.p, f.len);
    memcpy(g.p + g.len - 4, "PARE", 4);
    CHECK_ERR(parse_whole(&g, "text", NULL, &err), ENOTSUP, err, "encrypted");
    memcpy(g.p + g.len - 4, "PAR2", 4);
    CHECK_ERR(parse_whole(&g, "text", NULL, &err), EBADMSG, err, "does not end with PAR1");
    memcpy(g.p + g.len - 4, "PAR1", 4);
    memcpy(g.p, "PAR0", 4);
    CHECK_ERR(parse_whole(&g, "text", NULL, &err), EBADMSG, err, "does not start with PAR1");
    CHECK_ERR(tokfs_pq_meta_parse(g.p, 11, 11, "text", NULL, &m, &need, &err), EBADMSG, err,
              "too small");
    memcpy(g.p, "PAR1", 4);
    uint8_t *len_at = g.p + g.len - 8;
    uint32_t mlen = (uint32_t)len_at[0] | (uint32_t)len_at[1] << 8 | (uint32_t)len_at[2] << 16;
    len_at[0] = 0xff, len_at[1] = 0xff, len_at[2] = 0xff, len_at[3] = 0x7f;
    CHECK_ERR(parse_whole(&g, "text", NULL, &err), EBADMSG, err, "exceeds the file");
    /* a footer over the limit is refused before anything is fetched */
    len_at[0] = 0, len_at[1] = 0, len_at[2] = 0, len_at[3] = 0x02; /* 32 MiB */
    CHECK_ERR(tokfs_pq_meta_parse(g.p + g.len - 8, 8, (uint64_t)1 << 30, "text", NULL, &m, &need,
                                  &err),
              EFBIG, err, "over tokfs's limit");
    len_at[0] = (uint8_t)mlen, len_at[1] = (uint8_t)(mlen >> 8), len_at[2] = 0, len_at[3] = 0;
    /* NEED_MORE: a short tail asks for exactly the footer */
    CHECK_EQ_INT(tokfs_pq_meta_parse(g.p + g.len - 20, 20, g.len, "text", NULL, &m, &need, &err),
                 TOKFS_PQ_NEED_MORE);
    CHECK_EQ_INT(need, g.len - 8 - mlen);
    CHECK_EQ_INT(tokfs_pq_meta_parse(g.p + g.len - 5, 5, g.len, "text", NULL, &m, &need, &err),
                 TOKFS_PQ_NEED_MORE);
    CHECK_EQ_INT(need, g.len - 8);
    CHECK_EQ_INT(tokfs_pq_meta_parse(g.p + need, g.len - need, g.len, "text", NULL, &m, &need,
                                     &err),
                 TOKFS_PQ_NEED_MORE);
    CHECK_EQ_INT(need, g.len - 8 - mlen);
    CHECK_EQ_INT(tokfs_pq_meta_parse(g.p + need, g.len - need, g.len, "text", NULL, &m, &need,
                                     &err),
                 0);
    CHECK(m && m->n_row_groups == 1 && m->row_groups[0].num_rows == 1 &&
          m->footer_start == g.len - 8 - mlen && strcmp(m->created_by, "tokfs test writer") == 0);
    tokfs_pq_meta_free(m);
    wb_free(&g);

    /* absurd counts and nesting: errors, no allocation, no deep recursion */
    foot.len = 0;
    t = (struct tw){.b = &foot};
    tw_begin(&t);
    tw_list(&t, 2, TC_STRUCT, INT32_MAX);
    tw_end(&t);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "more elements than bytes");
    foot.len = 0;
    t = (struct tw){.b = &foot};
    tw_begin(&t);
    wb_u8(&foot, 5 << 4 | TC_STRUCT); /* an unknown-to-us field 5: struct in struct in ... */
    for (int i = 0; i < 100000; i++)
        wb_u8(&foot, 1 << 4 | TC_STRUCT);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "nested deeper than");
    foot.len = 0;
    t = (struct tw){.b = &foot};
    tw_begin(&t);
    for (int i = 0; i < 100000; i++)
        wb_u8(&foot, 1 << 4 | TC_LIST), wb_u8(&foot, 1 << 4 | TC_LIST); /* list of list of ... */
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "nested deeper than");
    foot.len = 0;
    t = (struct tw){.b = &foot};
    tw_begin(&t);
    tw_field(&t, 6, TC_BINARY);
    wb_varint(&foot, UINT64_C(1) << 40);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "truncated string");
    foot.len = 0;
    wb_u8(&foot, 0x15);
    for (int i = 0; i < 11; i++)
        wb_u8(&foot, 0xff);
    wrap_footer(&f, &foot);
    CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "overlong varint");

    /* column chunk ranges outside the data, file_path, counts that disagree */
    for (int variant = 0; variant < 4; variant++) {
        foot.len = 0;
        t = (struct tw){.b = &foot};
        tw_begin(&t);
        tw_list(&t, 2, TC_STRUCT, 2);
        tw_begin(&t); tw_str(&t, 4, "schema"); tw_i32(&t, 5, 1); tw_end(&t);
        tw_begin(&t); tw_i32(&t, 1, 6); tw_i32(&t, 3, 0); tw_str(&t, 4, "text"); tw_end(&t);
        tw_list(&t, 4, TC_STRUCT, 1);
        tw_begin(&t);
        tw_list(&t, 1, TC_STRUCT, 1);
        tw_begin(&t);
        if (variant == 1)
            tw_str(&t, 1, "other.parquet");
        tw_i64(&t, 2, 4);
        tw_struct(&t, 3);
        tw_i32(&t, 1, 6);
        tw_i32(&t, 4, 0);
        tw_i64(&t, 5, variant == 2 ? 5 : 10);
        tw_i64(&t, 7, variant == 0 ? 1000 : 10);
        tw_i64(&t, 9, variant == 3 ? -5 : 4);
        tw_end(&t);
        tw_end(&t);
        tw_i64(&t, 3, 10);
        tw_end(&t);
        tw_end(&t);
        f.len = 0;
        wb_put(&f, "PAR1", 4);
        wb_put(&f, "0123456789", 10);
        wb_put(&f, foot.p, foot.len);
        wb_le32(&f, (uint32_t)foot.len);
        wb_put(&f, "PAR1", 4);
        if (variant == 0 || variant == 3)
            CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "outside the data part");
        if (variant == 1)
            CHECK_ERR(parse_whole(&f, "text", NULL, &err), ENOTSUP, err, "another file");
        if (variant == 2)
            CHECK_ERR(parse_whole(&f, "text", NULL, &err), EBADMSG, err, "5 values");
    }
    wb_free(&foot);
    wb_free(&f);
}

/* Build a chunk by hand, run it through the reader; returns rc, err filled. */
static int read_chunk(const struct wb *chunk, int codec, int64_t nvals, int optional,
                      size_t dict_len, const tokfs_pq_limits *lim, size_t piece,
                      struct strs *got, tokfs_err *err)
{
    struct col_def col = {"text", 6, optional, 0, 1};
    struct chunk_def ch = {.codec = codec, .nvals = nvals, .dict_len = dict_len};
    wb_put(&ch.bytes, chunk->p, chunk->len);
    struct wb f = {0};
    write_file(&f, &col, 1, &ch, 1, &nvals, 0);
    int rc = read_file(f.p, f.len, "text", NULL, lim, piece, got, NULL, err);
    wb_free(&f);
    wb_free(&ch.bytes);
    return rc;
}

static void raw_header(struct wb *b, int type, int64_t usize, int64_t csize, int sub,
                       int64_t nv, int enc)
{
    struct tw t = {.b = b};
    tw_begin(&t);
    tw_i32(&t, 1, type);
    tw_i32(&t, 2, usize);
    tw_i32(&t, 3, csize);
    if (sub) {
        tw_struct(&t, sub);
        tw_i32(&t, 1, nv);
        tw_i32(&t, 2, enc);
        if (sub == 5) {
            tw_i32(&t, 3, E_RLE);
            tw_i32(&t, 4, E_RLE);
        }
        tw_end(&t);
    }
    tw_end(&t);
}

static int cb_abort(void *ctx, const uint8_t *s, size_t len)
{
    (void)s;
    (void)len;
    return ++*(int *)ctx == 2 ? -ECANCELED : 0;
}

static void test_chunk_errors(void)
{
    tokfs_err err = {{0}};
    struct wb c = {0};
    struct strs got = {0};
    const char *vals[] = {"aaaa", "bbbb", "cccc"};
    struct page_opts o = {.codec = 0, .version = 1, .enc = E_PLAIN};

    /* page over the page-size limit */
    write_data_page(&c, &o, (struct vals){vals, 3}, (struct vals){0});
    tokfs_pq_limits lim = {.max_page_bytes = 10};
    CHECK_ERR(read_chunk(&c, 0, 3, 0, 0, &lim, 0, &got, &err), EFBIG, err, "over the 10-byte limit");
    CHECK(strstr(err.msg, "Parquet column 'text', row group 0: page at chunk byte 0 (file byte 4)"));
    /* values over max_value_bytes are skipped and counted */
    {
        struct col_def col = {"text", 6, 0, 0, 1};
        const char *v2[] = {"short", "this one is long", "ok"};
        struct chunk_def ch = {.codec = 0, .nvals = 3};
        write_data_page(&ch.bytes, &o, (struct vals){v2, 3}, (struct vals){0});
        int64_t rows = 3;
        struct wb f = {0};
        write_file(&f, &col, 1, &ch, 1, &rows, 0);
        tokfs_pq_limits l2 = {.max_value_bytes = 5};
        tokfs_pq_stats st;
        CHECK_EQ_INT(read_file(f.p, f.len, "text", NULL, &l2, 0, &got, &st, &err), 0);
        CHECK(got.n == 2 && st.too_large == 1 && st.values == 2 && st.value_bytes == 7);
        strs_free(&got);
        /* a callback error stops the reading and is returned as is */
        tokfs_pq_meta *m;
        CHECK_EQ_INT(meta_of(f.p, f.len, "text", NULL, &m, &err), 0);
        int calls = 0;
        CHECK_EQ_INT(tokfs_pq_read_row_group(m, 0, f.p + m->row_groups[0].text.start,
                                             m->row_groups[0].text.end -
                                                 m->row_groups[0].text.start,
                                             NULL, NULL, 0, NULL, cb_abort, &calls, NULL, &err),
                     -ECANCELED);
        CHECK_EQ_INT(calls, 2);
        /* more bytes than the chunk; fewer bytes than the chunk */
        tokfs_pq_rg *r;
        const tokfs_pq_chunk *tc = &m->row_groups[0].text;
        CHECK_EQ_INT(tokfs_pq_rg_open(&r, m, 0, NULL, NULL, 0, NULL, collect_cb, &got, &err), 0);
        CHECK_ERR(tokfs_pq_rg_feed(r, f.p + tc->start, tc->end - tc->start + 1, &err), EINVAL, err,
                  "more bytes than the column chunk");
        CHECK_EQ_INT(tokfs_pq_rg_feed(r, f.p, 1, &err), -EINVAL); /* stays failed */
        tokfs_pq_rg_free(r);
        CHECK_EQ_INT(tokfs_pq_rg_open(&r, m, 0, NULL, NULL, 0, NULL, collect_cb, &got, &err), 0);
        CHECK_EQ_INT(tokfs_pq_rg_feed(r, f.p + tc->start, tc->end - tc->start - 3, &err), 0);
        CHECK_ERR(tokfs_pq_rg_finish(r, NULL, &err), EBADMSG, err, "ends after 0 of 3 values");
        tokfs_pq_rg_free(r);
        CHECK_EQ_INT(tokfs_pq_rg_open(&r, m, 1, NULL, NULL, 0, NULL, collect_cb, &got, &err),
                     -EINVAL);
        strs_free(&got);
        tokfs_pq_meta_free(m);
        wb_free(&f);
        wb_free(&ch.bytes);
    }
    /* page claims more values than the chunk */
    CHECK_ERR(read_chunk(&c, 0, 2, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
              "page of 3 values, but the chunk has 2");
    strs_free(&got);
    /* chunk ends early */
    CHECK_ERR(read_chunk(&c, 0, 4, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
              "ends after 3 of 4 values");
    strs_free(&got);
    /* PLAIN length past the page */
    c.len = 0;
    raw_header(&c, 0, 8, 8, 5, 1, E_PLAIN);
    wb_le32(&c, 1000);
    wb_put(&c, "abcd", 4);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
              "PLAIN value of 1000 bytes runs past the page");
    strs_free(&got);
    /* page body larger than the chunk */
    c.len = 0;
    raw_header(&c, 0, 8, 1 << 20, 5, 1, E_PLAIN);
    wb_le32(&c, 1);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 1, &got, &err), EBADMSG, err,
              "runs past the column chunk");
    strs_free(&got);
    /* unsupported value encoding; a missing dictionary; a bad dictionary */
    c.len = 0;
    raw_header(&c, 0, 4, 4, 5, 1, 9);
    wb_le32(&c, 0);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 0, &got, &err), ENOTSUP, err, "BYTE_STREAM_SPLIT");
    c.len = 0;
    raw_header(&c, 0, 3, 3, 5, 1, E_RLE_DICT);
    wb_put(&c, "\x01\x02\x01", 3);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 0, &got, &err), EBADMSG, err, "without a dictionary");
    for (int bad = 0; bad < 4; bad++) {
        c.len = 0;
        raw_header(&c, 2, 9, 9, 7, bad == 0 ? 1000000 : 2, E_PLAIN);
        wb_le32(&c, 1);
        wb_put(&c, "x", 1);
        wb_le32(&c, bad == 1 ? 99 : 0);
        size_t dl = c.len;
        if (bad == 3) /* a second dictionary page */
            raw_header(&c, 2, 0, 0, 7, 0, E_PLAIN);
        raw_header(&c, 0, 3, 3, 5, 1, E_RLE_DICT);
        wb_put(&c, bad == 2 ? "\x21\x02\x01" : "\x01\x02\x07", 3);
        static const char *const want[] = {"dictionary claims 1000000 entries",
                                           "dictionary entry 1 (99 bytes) runs past",
                                           "dictionary index bit width 33",
                                           "a second dictionary page"};
        CHECK_ERR(read_chunk(&c, 0, 1, 0, dl, NULL, 0, &got, &err), EBADMSG, err, want[bad]);
        strs_free(&got);
    }
    c.len = 0;
    raw_header(&c, 2, 5, 5, 7, 1, E_PLAIN);
    wb_le32(&c, 1);
    wb_put(&c, "x", 1);
    size_t dl = c.len;
    raw_header(&c, 0, 2, 2, 5, 1, E_RLE_DICT);
    wb_put(&c, "\x02\x02", 2); /* width 2, RLE run of 1 with value ... missing */
    CHECK_ERR(read_chunk(&c, 0, 1, 0, dl, NULL, 0, &got, &err), EBADMSG, err,
              "dictionary indices is truncated");
    c.len = 0;
    raw_header(&c, 2, 5, 5, 7, 1, E_PLAIN);
    wb_le32(&c, 1);
    wb_put(&c, "x", 1);
    raw_header(&c, 0, 3, 3, 5, 1, E_RLE_DICT);
    wb_put(&c, "\x02\x02\x03", 3);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, dl, NULL, 0, &got, &err), EBADMSG, err,
              "dictionary index 3 of a 1-entry dictionary");
    strs_free(&got);
    /* DELTA_BYTE_ARRAY whose prefix is longer than the previous value */
    {
        struct wb v = {0};
        int64_t pre[2] = {0, 5}, suf[2] = {2, 1};
        enc_dbp(&v, pre, 2);
        enc_dbp(&v, suf, 2);
        wb_put(&v, "abc", 3);
        c.len = 0;
        raw_header(&c, 0, (int64_t)v.len, (int64_t)v.len, 5, 2, E_DBA);
        wb_put(&c, v.p, v.len);
        CHECK_ERR(read_chunk(&c, 0, 2, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
                  "prefix of 5 bytes, previous value has 2");
        strs_free(&got);
        /* DELTA_LENGTH_BYTE_ARRAY lengths beyond the data; a truncated miniblock */
        v.len = 0;
        int64_t len[3] = {1, 2, 300};
        enc_dbp(&v, len, 3);
        wb_put(&v, "abc", 3);
        c.len = 0;
        raw_header(&c, 0, (int64_t)v.len, (int64_t)v.len, 5, 3, E_DLBA);
        wb_put(&c, v.p, v.len);
        CHECK_ERR(read_chunk(&c, 0, 3, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
                  "value of 300 bytes runs past");
        strs_free(&got);
        c.len = 0;
        raw_header(&c, 0, (int64_t)v.len - 5, (int64_t)v.len - 5, 5, 3, E_DLBA);
        wb_put(&c, v.p, v.len - 5);
        CHECK_ERR(read_chunk(&c, 0, 3, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
                  "miniblock is truncated");
        strs_free(&got);
        /* a header with block size 100 (not a multiple of 128) */
        v.len = 0;
        wb_varint(&v, 100);
        wb_varint(&v, 4);
        wb_varint(&v, 1);
        wb_zz(&v, 0);
        c.len = 0;
        raw_header(&c, 0, (int64_t)v.len, (int64_t)v.len, 5, 1, E_DLBA);
        wb_put(&c, v.p, v.len);
        CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
                  "header is invalid");
        strs_free(&got);
        /* 2^31 values of width 0 claimed by a tiny page: only the page's values are read */
        v.len = 0;
        wb_varint(&v, 128);
        wb_varint(&v, 4);
        wb_varint(&v, INT32_MAX);
        wb_zz(&v, 0);
        for (int i = 0; i < 3; i++) {
            wb_zz(&v, 0);
            wb_put(&v, "\0\0\0\0", 4);
        }
        c.len = 0;
        raw_header(&c, 0, (int64_t)v.len, (int64_t)v.len, 5, 2, E_DLBA);
        wb_put(&c, v.p, v.len);
        CHECK_ERR(read_chunk(&c, 0, 2, 0, 0, NULL, 0, &got, &err), EBADMSG, err,
                  "block is truncated");
        strs_free(&got);
        wb_free(&v);
    }
    /* definition level 2 in a column whose maximum is 1; levels longer than the page */
    c.len = 0;
    raw_header(&c, 0, 6, 6, 5, 1, E_PLAIN);
    wb_le32(&c, 2);
    wb_put(&c, "\x02\x02", 2);
    CHECK_ERR(read_chunk(&c, 0, 1, 1, 0, NULL, 0, &got, &err), EBADMSG, err, "definition level 2");
    c.len = 0;
    raw_header(&c, 0, 6, 6, 5, 1, E_PLAIN);
    wb_le32(&c, 200);
    wb_put(&c, "\x02\x01", 2);
    CHECK_ERR(read_chunk(&c, 0, 1, 1, 0, NULL, 0, &got, &err), EBADMSG, err,
              "definition levels (200 bytes) run past");
    /* corrupt compressed data, for every codec */
    static const int codecs[] = {TOKFS_PQ_SNAPPY, TOKFS_PQ_GZIP, TOKFS_PQ_ZSTD, TOKFS_PQ_LZ4_RAW,
                                 TOKFS_PQ_LZ4};
    for (int k = 0; k < 5; k++) {
        c.len = 0;
        raw_header(&c, 0, 100, 12, 5, 1, E_PLAIN);
        wb_put(&c, "\x50\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12);
        CHECK_ERR(read_chunk(&c, codecs[k], 1, 0, 0, NULL, 0, &got, &err), EBADMSG, err, "corrupt");
        /* and a size that does not match the header */
        struct wb z = {0}, raw = {0};
        wb_le32(&raw, 3);
        wb_put(&raw, "abc", 3);
        pq_compress(codecs[k], raw.p, raw.len, &z, 0);
        c.len = 0;
        raw_header(&c, 0, 9, (int64_t)z.len, 5, 1, E_PLAIN);
        wb_put(&c, z.p, z.len);
        if (read_chunk(&c, codecs[k], 1, 0, 0, NULL, 0, &got, &err) != -EBADMSG) {
            fprintf(stderr, "codec %d: wrong size not detected\n", codecs[k]);
            check_failures++;
        }
        strs_free(&got);
        wb_free(&z);
        wb_free(&raw);
    }
    /* a page header that never ends (streamed): capped, not buffered forever */
    c.len = 0;
    struct tw ht = {.b = &c};
    tw_begin(&ht);
    tw_i32(&ht, 1, 0);
    tw_field(&ht, 20, TC_BINARY); /* an unknown field of 40 MiB */
    wb_varint(&c, 40u << 20);
    size_t big = c.len + (TOKFS_PQ_MAX_PAGE_HEADER + 100);
    uint8_t *zeros = calloc(1, big);
    memcpy(zeros, c.p, c.len);
    c.len = 0;
    wb_put(&c, zeros, big);
    free(zeros);
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 1 << 16, &got, &err), EFBIG, err,
              "page header longer than");
    CHECK_ERR(read_chunk(&c, 0, 1, 0, 0, NULL, 0, &got, &err), EFBIG, err,
              "page header longer than");
    strs_free(&got);
    wb_free(&c);
}

static void test_thrift(void)
{
    uint8_t buf[64];
    struct wb b = {0};
    struct tw t = {.b = &b};
    tw_begin(&t);
    tw_i32(&t, 1, -2);
    tw_i64(&t, 20, INT64_MIN);
    tw_bool(&t, 21, 0);
    tw_list(&t, 22, TC_TRUE, 3);
    wb_put(&b, "\x01\x00\x02", 3);
    tw_end(&t);
    memcpy(buf, b.p, b.len);
    tc_reader r;
    tc_init(&r, buf, b.len);
    int16_t id;
    int type, seen = 0;
    CHECK_EQ_INT(tc_struct_begin(&r), 0);
    while (tc_field_next(&r, &id, &type) > 0) {
        if (id == 1) {
            int32_t v;
            CHECK_EQ_INT(tc_read_i32(&r, type, &v), 0);
            CHECK_EQ_INT(v, -2);
            seen++;
        } else if (id == 20) {
            int64_t v;
            CHECK_EQ_INT(tc_read_i64(&r, type, &v), 0);
            CHECK(v == INT64_MIN);
            seen++;
        } else if (id == 21) {
            int v;
            CHECK_EQ_INT(tc_read_bool(&r, type, &v), 0);
            CHECK_EQ_INT(v, 0);
            seen++;
        } else if (id == 22) {
            int et, v[3];
            uint32_t n;
            CHECK_EQ_INT(tc_list_begin(&r, type, &et, &n), 0);
            CHECK(n == 3 && et == TC_TRUE);
            for (int i = 0; i < 3; i++)
                CHECK_EQ_INT(tc_read_elem_bool(&r, &v[i]), 0);
            CHECK(v[0] == 1 && v[1] == 0 && v[2] == 0);
            seen++;
        }
    }
    CHECK_EQ_INT(tc_struct_end(&r), 0);
    CHECK_EQ_INT(seen, 4);
    CHECK_EQ_INT(r.err, 0);
    CHECK_EQ_INT(tc_offset(&r), b.len);
    /* every truncation of it is an error, flagged as truncation */
    for (size_t n = 0; n < b.len; n++) {
        tc_init(&r, buf, n);
        int rc = tc_skip(&r, TC_STRUCT);
        CHECK(rc == -EBADMSG && r.truncated);
    }
    /* an i32 field holding a 64-bit value; a wrong wire type; sticky errors */
    b.len = 0;
    t = (struct tw){.b = &b};
    tw_begin(&t);
    tw_i32(&t, 1, INT64_C(1) << 40);
    tw_end(&t);
    tc_init(&r, b.p, b.len);
    int32_t v32;
    tc_struct_begin(&r);
    tc_field_next(&r, &id, &type);
    CHECK_EQ_INT(tc_read_i32(&r, type, &v32), -EBADMSG);
    CHECK(strstr(r.msg, "out of range") != NULL);
    CHECK_EQ_INT(tc_read_i32(&r, type, &v32), -EBADMSG);
    tc_init(&r, b.p, b.len);
    tc_struct_begin(&r);
    tc_field_next(&r, &id, &type);
    const uint8_t *s;
    size_t sl;
    CHECK_EQ_INT(tc_read_binary(&r, type, &s, &sl), -EBADMSG);
    CHECK(strstr(r.msg, "expected a string") != NULL && !r.truncated);
    wb_free(&b);
}

/* ---------------------------------------------------------------- fixtures ---- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    struct wb b = {0};
    uint8_t tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, fp)) > 0)
        wb_put(&b, tmp, k);
    fclose(fp);
    *n = b.len;
    if (!b.p)
        b.p = malloc(1);
    return b.p;
}

static uint64_t rnd_state;
static uint64_t rnd(void)
{
    return tokfs_splitmix64(&rnd_state);
}

/* Expected rows [a, b) of a JSON array (null = null). */
static int json_rows_eq(const struct strs *got, json_t *arr, size_t a, size_t b, int keep_nulls,
                        json_t *lang, const tokfs_filter *flt, const char *what)
{
    size_t j = 0;
    for (size_t i = a; i < b; i++) {
        json_t *v = json_array_get(arr, i);
        if (flt) {
            json_t *l = json_array_get(lang, i);
            if (!json_is_string(l) ||
                !tokfs_filter_match(flt, (const uint8_t *)json_string_value(l),
                                       json_string_length(l)))
                continue;
        }
        if (json_is_null(v) && !keep_nulls)
            continue;
        if (j >= got->n) {
            fprintf(stderr, "%s: %zu values read, more expected (row %zu)\n", what, got->n, i);
            return 0;
        }
        int same = json_is_null(v) ? got->s[j] == NULL
                                   : got->s[j] && got->len[j] == json_string_length(v) &&
                                         memcmp(got->s[j], json_string_value(v), got->len[j]) == 0;
        if (!same) {
            fprintf(stderr, "%s: row %zu differs: got '%.40s' (%zu bytes)\n", what, i,
                    got->s[j] ? got->s[j] : "(null)", got->len[j]);
            return 0;
        }
        j++;
    }
    if (j != got->n) {
        fprintf(stderr, "%s: %zu values read, %zu expected\n", what, got->n, j);
        return 0;
    }
    return 1;
}

/* Run everything on possibly corrupt bytes: errors are fine, crashes and silent message-less
 * errors are not. */
static void exercise(const uint8_t *f, size_t n, const tokfs_filter *flt)
{
    for (int with_filter = 0; with_filter <= 1; with_filter++) {
        tokfs_pq_meta *m = NULL;
        tokfs_err err = {{0}};
        uint64_t need;
        int rc = tokfs_pq_meta_parse(f, n, n, "text", with_filter ? flt->column : NULL, &m,
                                     &need, &err);
        if (rc < 0 && !err.msg[0]) {
            fprintf(stderr, "footer error %d without a message\n", rc);
            check_failures++;
        }
        if (rc != 0)
            continue;
        for (size_t g = 0; g < m->n_row_groups; g++) {
            const tokfs_pq_row_group *rg = &m->row_groups[g];
            struct strs got = {0};
            tokfs_err e2 = {{0}};
            rc = tokfs_pq_read_row_group(m, g, f + rg->text.start, rg->text.end - rg->text.start,
                                         with_filter ? flt : NULL,
                                         with_filter ? f + rg->filter.start : NULL,
                                         with_filter ? rg->filter.end - rg->filter.start : 0,
                                         NULL, collect_cb, &got, NULL, &e2);
            if (rc < 0 && !e2.msg[0]) {
                fprintf(stderr, "row group error %d without a message\n", rc);
                check_failures++;
            }
            strs_free(&got);
            if (!with_filter) {
                tokfs_pq_col *c;
                if (tokfs_pq_col_open(&c, &m->text, &rg->text, f + rg->text.start,
                                      rg->text.end - rg->text.start, NULL, &e2) == 0) {
                    const uint8_t *s;
                    size_t len;
                    while (tokfs_pq_col_next(c, &s, &len, &e2) > 0)
                        ;
                    tokfs_pq_col_free(c);
                }
            }
        }
        tokfs_pq_meta_free(m);
    }
}

static void mutate_fixture(const uint8_t *f, size_t n, const tokfs_filter *flt, int count)
{
    uint8_t *g = malloc(n ? n : 1);
    uint32_t mlen = n >= 8 ? (uint32_t)f[n - 8] | (uint32_t)f[n - 7] << 8 |
                                 (uint32_t)f[n - 6] << 16 | (uint32_t)f[n - 5] << 24
                           : 0;
    size_t foot = mlen + 8 <= n ? mlen + 8 : n;
    for (int i = 0; i < count; i++) {
        memcpy(g, f, n);
        size_t len = n;
        switch (i % 5) {
        case 0: /* a bit anywhere */
            g[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* a bit in the footer */
            g[n - 1 - rnd() % foot] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 2: /* a few bytes set to extreme values (sizes, counts, varints) */
            for (int k = 0; k < 4; k++)
                g[rnd() % n] = (uint8_t[]){0x00, 0xff, 0x7f, 0x80, 0x15}[rnd() % 5];
            break;
        case 3: /* a byte of the footer set to anything */
            g[n - 1 - rnd() % foot] = (uint8_t)rnd();
            break;
        case 4: /* truncated: the same tail, less data before it */
            len = n - 1 - rnd() % (n - 1);
            memmove(g, f + (n - len), len);
            break;
        }
        exercise(g, len, flt);
    }
    free(g);
}

static void test_fixtures(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        fprintf(stderr, "%s: %s (line %d)\n", path, jerr.text, jerr.line);
        check_failures++;
        return;
    }
    json_t *datasets = json_object_get(root, "datasets");
    json_t *fixtures = json_object_get(root, "fixtures");
    char spec[256] = "lang=";
    json_t *fv;
    size_t i;
    json_array_foreach(json_object_get(root, "filter_values"), i, fv)
    {
        if (i)
            strcat(spec, "|");
        strcat(spec, json_string_value(fv));
    }
    tokfs_filter flt;
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_filter_parse(spec, &flt, &err), 0);
    int mutations = getenv("TOKFS_PQ_MUTATIONS") ? atoi(getenv("TOKFS_PQ_MUTATIONS")) : 60;
    uint32_t codecs = 0, encs = 0, ptypes = 0;
    int n_ok = 0, n_req = 0, n_opt = 0, n_refused = 0, n_sized = 0;
    uint64_t total_values = 0;
    json_t *fx;
    json_array_foreach(fixtures, i, fx)
    {
        const char *file = json_string_value(json_object_get(fx, "file"));
        snprintf(path, sizeof path, "%s/%s", dir, file);
        size_t n;
        uint8_t *f = slurp(path, &n);
        if (!f) {
            fprintf(stderr, "cannot read %s\n", path);
            check_failures++;
            continue;
        }
        int fails_before = check_failures;
        uint32_t f_encs = 0, f_ptypes = 0;
        rnd_state = 0x9e3779b97f4a7c15ull ^ (i * 0x100000001b3ull);
        json_t *ds = json_object_get(datasets, json_string_value(json_object_get(fx, "dataset")));
        json_t *text = json_object_get(ds, "text"), *lang = json_object_get(ds, "lang");
        json_t *ranges = json_object_get(fx, "row_groups");
        const char *expect_error = json_string_value(json_object_get(fx, "expect_error"));

        /* the footer, from a short tail first as a caller fetching ranges would */
        tokfs_pq_meta *m = NULL;
        uint64_t need = 0;
        size_t tail = n < 64 ? n : 64;
        int rc = tokfs_pq_meta_parse(f + n - tail, tail, n, "text", "lang", &m, &need, &err);
        if (rc == TOKFS_PQ_NEED_MORE)
            rc = tokfs_pq_meta_parse(f + need, n - need, n, "text", "lang", &m, &need, &err);
        if (expect_error) {
            if (rc != -ENOTSUP || !strstr(err.msg, expect_error)) {
                fprintf(stderr, "%s: rc %d '%s', expected a refusal naming %s\n", file, rc,
                        err.msg, expect_error);
                check_failures++;
            } else {
                n_refused++;
            }
            tokfs_pq_meta_free(m);
            free(f);
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "%s: footer: rc %d: %s\n", file, rc, err.msg);
            check_failures++;
            free(f);
            continue;
        }
        if (m->n_row_groups != json_array_size(ranges) &&
            !(json_array_size(ranges) == 0 && m->n_row_groups <= 1)) {
            fprintf(stderr, "%s: %zu row groups, expected %zu\n", file, m->n_row_groups,
                    json_array_size(ranges));
            check_failures++;
        }
        m->text.optional ? n_opt++ : n_req++;
        for (size_t g = 0; g < m->n_row_groups && g < json_array_size(ranges); g++) {
            const tokfs_pq_row_group *rg = &m->row_groups[g];
            size_t a = (size_t)json_integer_value(json_array_get(json_array_get(ranges, g), 0));
            size_t b = (size_t)json_integer_value(json_array_get(json_array_get(ranges, g), 1));
            char what[300];
            snprintf(what, sizeof what, "%s row group %zu", file, g);
            if (rg->num_rows != (int64_t)(b - a)) {
                fprintf(stderr, "%s: %lld rows, expected %zu\n", what, (long long)rg->num_rows,
                        b - a);
                check_failures++;
                continue;
            }
            codecs |= 1u << rg->text.codec;
            /* the planner's size: exact string bytes when the writer recorded them */
            uint64_t want_bytes = 0;
            for (size_t r = a; r < b; r++)
                want_bytes += json_string_length(json_array_get(text, r));
            if (rg->text.unencoded_bytes >= 0) {
                n_sized++;
                CHECK_EQ_INT(rg->text.unencoded_bytes, want_bytes);
            }
            CHECK(tokfs_pq_rg_text_bytes(rg) > 0 || want_bytes == 0);
            const uint8_t *tc = f + rg->text.start;
            size_t tl = rg->text.end - rg->text.start;
            const uint8_t *fc = f + rg->filter.start;
            size_t fl = rg->filter.end - rg->filter.start;
            /* whole chunk, then streamed in pieces */
            size_t pieces[] = {0, 1, 13, 4096};
            for (size_t k = 0; k < 4; k++) {
                if (pieces[k] == 1 && g > 1)
                    continue; /* byte by byte on the first row groups only */
                struct strs got = {0};
                tokfs_pq_stats st;
                if (pieces[k] == 0) {
                    rc = tokfs_pq_read_row_group(m, g, tc, tl, NULL, NULL, 0, NULL, collect_cb,
                                                 &got, &st, &err);
                } else {
                    tokfs_pq_rg *r;
                    rc = tokfs_pq_rg_open(&r, m, g, NULL, NULL, 0, NULL, collect_cb, &got, &err);
                    for (size_t p = 0; rc == 0 && p < tl; p += pieces[k])
                        rc = tokfs_pq_rg_feed(r, tc + p, tl - p < pieces[k] ? tl - p : pieces[k],
                                              &err);
                    if (rc == 0)
                        rc = tokfs_pq_rg_finish(r, &st, &err);
                    tokfs_pq_rg_free(r);
                }
                if (rc != 0) {
                    fprintf(stderr, "%s (piece %zu): rc %d: %s\n", what, pieces[k], rc, err.msg);
                    check_failures++;
                } else {
                    CHECK(json_rows_eq(&got, text, a, b, 0, NULL, NULL, what));
                    CHECK_EQ_INT(st.rows, b - a);
                    encs |= st.encodings;
                    ptypes |= st.page_types;
                    f_encs |= st.encodings;
                    f_ptypes |= st.page_types;
                    if (k == 0)
                        total_values += st.values;
                }
                strs_free(&got);
            }
            /* the row cursor: nulls in place */
            tokfs_pq_col *c;
            struct strs rows = {0};
            CHECK_EQ_INT(tokfs_pq_col_open(&c, &m->text, &rg->text, tc, tl, NULL, &err), 0);
            const uint8_t *s;
            size_t len;
            while ((rc = tokfs_pq_col_next(c, &s, &len, &err)) > 0)
                strs_push(&rows, s, len);
            CHECK_EQ_INT(rc, 0);
            CHECK(json_rows_eq(&rows, text, a, b, 1, NULL, NULL, what));
            tokfs_pq_col_free(c);
            strs_free(&rows);
            /* the filter, in lockstep with the lang column */
            struct strs got = {0};
            tokfs_pq_stats st;
            rc = tokfs_pq_read_row_group(m, g, tc, tl, &flt, fc, fl, NULL, collect_cb, &got, &st,
                                         &err);
            if (rc != 0) {
                fprintf(stderr, "%s (filter): rc %d: %s\n", what, rc, err.msg);
                check_failures++;
            } else {
                CHECK(json_rows_eq(&got, text, a, b, 0, lang, &flt, what));
                CHECK_EQ_INT(st.rows, b - a);
                CHECK_EQ_INT(st.values + st.nulls + st.filtered, b - a);
            }
            strs_free(&got);
            /* a chunk cut short is an error, never a silent end */
            if (g == 0 && tl > 2) {
                size_t cut[] = {tl - 1, tl / 2};
                for (int k = 0; k < 2; k++) {
                    tokfs_pq_rg *r;
                    struct strs junk = {0};
                    rc = tokfs_pq_rg_open(&r, m, g, NULL, NULL, 0, NULL, collect_cb, &junk, &err);
                    if (rc == 0)
                        rc = tokfs_pq_rg_feed(r, tc, cut[k], &err);
                    if (rc == 0)
                        rc = tokfs_pq_rg_finish(r, NULL, &err);
                    if (rc >= 0 && rg->num_rows > 0) {
                        fprintf(stderr, "%s: chunk cut to %zu bytes not detected\n", what,
                                cut[k]);
                        check_failures++;
                    }
                    tokfs_pq_rg_free(r);
                    strs_free(&junk);
                }
            }
        }
        if (getenv("TOKFS_PQ_VERBOSE"))
            printf("%-54s %3zu row groups %4lld rows codec %d encodings 0x%03x pages 0x%x %s\n",
                   file, m->n_row_groups, (long long)m->num_rows,
                   m->n_row_groups ? m->row_groups[0].text.codec : -1, f_encs, f_ptypes,
                   m->text.optional ? "OPTIONAL" : "REQUIRED");
        tokfs_pq_meta_free(m);
        if (check_failures == fails_before)
            n_ok++;
        mutate_fixture(f, n, &flt, mutations);
        free(f);
    }
    printf("fixtures: %d read exactly (%d REQUIRED, %d OPTIONAL text columns), %d refused as "
           "expected, %llu values, %d row groups with exact string sizes; codecs 0x%x, "
           "encodings 0x%x, page types 0x%x\n",
           n_ok, n_req, n_opt, n_refused, (unsigned long long)total_values, n_sized, codecs, encs,
           ptypes);
    /* every codec, encoding and page version of the brief came from a real writer */
    uint32_t want_codecs = 1u << TOKFS_PQ_UNCOMPRESSED | 1u << TOKFS_PQ_SNAPPY |
                           1u << TOKFS_PQ_GZIP | 1u << TOKFS_PQ_ZSTD | 1u << TOKFS_PQ_LZ4_RAW |
                           1u << TOKFS_PQ_LZ4;
    uint32_t want_encs = 1u << E_PLAIN | 1u << E_RLE_DICT | 1u << E_DLBA | 1u << E_DBA;
    CHECK_EQ_INT(codecs & want_codecs, want_codecs);
    CHECK_EQ_INT(encs & want_encs, want_encs);
    CHECK_EQ_INT(ptypes & 0xd, 0xd); /* DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 */
    CHECK(n_req > 0 && n_opt > 0 && n_refused > 0);
    tokfs_filter_free(&flt);
    json_decref(root);
}

/* tokfs_pq_count_kept (planning's kept-row count under filter=): the same two-column file on
 * disk, read through a fetcher: the count, the bytes fetched (exactly the filter chunk), the
 * chunk cap, a corrupt filter chunk, and a footer parsed without the filter column. */
static void test_count_kept(void)
{
    const char *text[] = {"t0", "t1", NULL, "t3", "t4", "t5", "t6", "t7"};
    const char *lang[] = {"Python", "C", "Python", NULL, "Go", "", "Python ", "python"};
    struct col_def cols[2] = {{"text", 6, 1, 0, 1}, {"lang", 6, 1, 0, 1}};
    struct page_opts o = {.codec = TOKFS_PQ_SNAPPY, .version = 1, .enc = E_PLAIN, .optional = 1};
    struct chunk_def ch[2] = {{.codec = 1, .nvals = 8}, {.codec = 1, .nvals = 8}};
    write_data_page(&ch[0].bytes, &o, (struct vals){text, 8}, (struct vals){0});
    write_data_page(&ch[1].bytes, &o, (struct vals){lang, 8}, (struct vals){0});
    int64_t rows = 8;
    struct wb f = {0};
    write_file(&f, cols, 2, ch, 1, &rows, 0);
    char dir[] = "/tmp/tokfs-test-pqkept-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/f.parquet", dir);
    FILE *out = fopen(path, "wb");
    CHECK(out && fwrite(f.p, 1, f.len, out) == f.len);
    if (out)
        fclose(out);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tokfs_fetcher *fetcher = tokfs_fetcher_new(NULL);
    CHECK(fetcher != NULL);
    tokfs_object_info info;
    tokfs_err err = {{0}};
    tokfs_pq_meta *m = NULL, *plain = NULL;
    tokfs_filter flt, none;
    CHECK_EQ_INT(tokfs_filter_parse("lang=Python|Go|", &flt, &err), 0);
    CHECK_EQ_INT(tokfs_filter_parse("lang=Rust", &none, &err), 0);
    int ok = fetcher && tokfs_fetch_stat(fetcher, path, &info, &err) == 0 &&
             tokfs_pq_fetch_meta(fetcher, path, &info, 0, "text", "lang", &m, NULL, &err) == 0 &&
             tokfs_pq_fetch_meta(fetcher, path, &info, 0, "text", NULL, &plain, NULL, &err) == 0;
    CHECK(ok);
    if (ok) {
        uint64_t flen = m->row_groups[0].filter.end - m->row_groups[0].filter.start;
        int64_t kept = -1;
        uint64_t fetched = 0;
        CHECK_EQ_INT(tokfs_pq_count_kept(fetcher, path, &info, m, 0, &flt, 1 << 20, &kept,
                                         &fetched, &err), 0);
        CHECK_EQ_INT(kept, 4); /* Python, Python (null text: still a kept row), Go, "" */
        CHECK_EQ_INT(fetched, flen);
        CHECK_EQ_INT(tokfs_pq_count_kept(fetcher, path, &info, m, 0, &none, 1 << 20, &kept, NULL,
                                         &err), 0);
        CHECK_EQ_INT(kept, 0);
        CHECK_ERR(tokfs_pq_count_kept(fetcher, path, &info, m, 0, &flt, (size_t)flen - 1, &kept,
                                      NULL, &err), EFBIG, err, "over the limit");
        CHECK_ERR(tokfs_pq_count_kept(fetcher, path, &info, plain, 0, &flt, 1 << 20, &kept, NULL,
                                      &err), EINVAL, err, "no filter column chunk");
        CHECK_ERR(tokfs_pq_count_kept(fetcher, path, &info, m, 1, &flt, 1 << 20, &kept, NULL,
                                      &err), EINVAL, err, "row group 1");
        /* the filter chunk's page header overwritten: an error naming the file, not a count */
        memset(f.p + m->row_groups[0].filter.start, 0xff, 8);
        out = fopen(path, "wb");
        CHECK(out && fwrite(f.p, 1, f.len, out) == f.len);
        if (out)
            fclose(out);
        CHECK_EQ_INT(tokfs_fetch_stat(fetcher, path, &info, &err), 0);
        kept = -1;
        int rc = tokfs_pq_count_kept(fetcher, path, &info, m, 0, &flt, 1 << 20, &kept, NULL, &err);
        CHECK(rc < 0 && rc != -ESTALE && strstr(err.msg, "f.parquet: row group 0: ") &&
              kept == 0);
    }
    tokfs_pq_meta_free(m);
    tokfs_pq_meta_free(plain);
    tokfs_filter_free(&flt);
    tokfs_filter_free(&none);
    tokfs_fetcher_free(fetcher);
    unlink(path);
    rmdir(dir);
    wb_free(&f);
    wb_free(&ch[0].bytes);
    wb_free(&ch[1].bytes);
}

int main(int argc, char **argv)
{
    test_thrift();
    test_handbuilt_matrix();
    test_handbuilt_variants();
    test_skipped_pages();
    test_filter();
    test_count_kept();
    test_meta_errors();
    test_chunk_errors();
    if (argc == 3 && strcmp(argv[1], "--fixtures") == 0)
        test_fixtures(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: test_parquet [--fixtures DIR]\n");
        return 2;
    }
    CHECK_DONE();
}
