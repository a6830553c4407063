/* The reader of pre-tokenized sources (docs/pretokenized.md): owns a token piece's build — the
 * ids of each source between the piece's id indexes fetched by one range request (plain) or
 * decoded from the start of the stream (compressed), checked against the vocabulary, and handed
 * to the shard writer verbatim: no tokenizer, no pool, no separator placed or dropped. */
#include "build/build_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "common/log.h"
#include "decode/decompress.h"

/* Ids converted per call into the writer. */
#define IDS_BATCH 4096

typedef struct tok_read {
    tokfs_builder *b;
    tokfs_build_writer *w;
    const tokfs_source *src;
    uint32_t bound;          /* ids must be below this */
    int64_t index;           /* id index (in the source) of the next id */
    int64_t left;            /* ids of the piece still to come from this source */
    int64_t skip;            /* bytes before the piece's first id not yet passed (compressed) */
    uint8_t part[4];         /* an id cut between two chunks */
    unsigned part_len;
    uint32_t ids[IDS_BATCH];
    size_t n;
    tokfs_decoder *dec;      /* compressed sources */
    int dec_rc;              /* the decoder's failure, already the build's error */
} tok_read;

static int flush_ids(tok_read *t)
{
    int rc = tokfs_build_writer_put_verbatim(t->w, t->ids, t->n);
    t->n = 0;
    return rc;
}

static int bad_id(tok_read *t, uint32_t id)
{
    char name[512];
    tokfs_url_redact(t->src->url, name, sizeof name);
    return tokfs_builder_fail(t->b, -EIO,
                              "%s: id %" PRIu32 " at id %" PRId64 " (byte %" PRId64 " of the "
                              "%s) is not below the vocabulary size %" PRIu32
                              " (vocab_size= or the tokenizer's): not served",
                              name, id, t->index,
                              (int64_t)t->src->tok_header + t->index * t->src->tok_id_bytes,
                              tokfs_format_codec(t->src->format) ? "decompressed stream" : "file",
                              t->bound);
}

static int put_id(tok_read *t, uint32_t id)
{
    if (id >= t->bound)
        return bad_id(t, id);
    /* a document is counted by its end-of-text id (wherever the source puts it) */
    t->b->stats->documents += id == t->w->layout.eot_id;
    t->ids[t->n++] = id;
    t->index++;
    t->left--;
    return t->n == IDS_BATCH ? flush_ids(t) : 0;
}

/* The piece's bytes of the source, in order (a tokfs_fetch_cb and a decoder sink): 0, 1 once
 * every id of the piece is in (stop), or the build's error. */
static int tok_data(void *ctx, const uint8_t *data, size_t len)
{
    tok_read *t = ctx;
    const unsigned width = t->src->tok_id_bytes;
    if (t->skip) {
        size_t k = (uint64_t)t->skip < len ? (size_t)t->skip : len;
        t->skip -= (int64_t)k;
        data += k;
        len -= k;
    }
    int rc = 0;
    while (len && t->left > 0 && rc == 0) {
        if (t->part_len || len < width) {
            size_t k = width - t->part_len < len ? width - t->part_len : len;
            memcpy(t->part + t->part_len, data, k);
            t->part_len += (unsigned)k;
            data += k;
            len -= k;
            if (t->part_len == width) {
                t->part_len = 0;
                rc = put_id(t, width == 2 ? tokfs_le16(t->part) : tokfs_le32(t->part));
            }
            continue;
        }
        size_t whole = len / width;
        if ((uint64_t)whole > (uint64_t)t->left)
            whole = (size_t)t->left;
        for (size_t i = 0; i < whole && rc == 0; i++)
            rc = put_id(t, width == 2 ? tokfs_le16(data + 2 * i) : tokfs_le32(data + 4 * i));
        data += whole * width;
        len -= whole * width;
    }
    if (rc)
        return rc;
    if ((rc = tokfs_builder_cancelled(t->b)))
        return rc;
    return t->left == 0 ? 1 : 0;
}

static int tok_feed(void *ctx, const uint8_t *data, size_t len)
{
    tok_read *t = ctx;
    tokfs_err e = {{0}};
    int rc = tokfs_decoder_feed(t->dec, data, len, &e);
    if (rc < 0 && !t->b->rc) {
        t->dec_rc = rc;
        return tokfs_builder_fail(t->b, rc, "%s", e.msg);
    }
    return rc;
}

/* Where to start decoding a compressed source to reach decompressed byte `first`: a seekable
 * .zst's frame holding it (its seek table: one or two range requests at the file's end; zstd
 * frames decode independently), with *skip the bytes of that frame before `first`. Without a
 * seek table (or for gzip, or from the first byte) *start stays 0 and *skip `first`. 0 or the
 * build's error (a fetch failure; a damaged seek table is only logged as a start from 0). */
static int seek_start(tokfs_builder *b, const tokfs_source *src, int64_t first, int64_t *start,
                      int64_t *skip)
{
    if (first == 0 || tokfs_format_codec(src->format) != TOKFS_CODEC_ZSTD ||
        !src->info.accepts_ranges || src->info.size <= 0)
        return 0;
    tokfs_seek_table table = {0};
    tokfs_err e = {{0}};
    int rc = tokfs_seek_table_read(b->fetcher, src->url, &src->info, &table,
                                   &b->stats->fetched_bytes, &e);
    if (rc == -EINVAL || rc == -EAGAIN) {
        char name[512];
        tokfs_url_redact(src->url, name, sizeof name);
        tokfs_log(TOKFS_LOG_WARN, "%s: %s; decoding from its start", name, e.msg);
        rc = 0;
    } else if (rc) {
        rc = tokfs_builder_fail(b, rc, "%s", e.msg);
    } else if (table.nframes > 0 && first < table.d_start[table.nframes]) {
        uint32_t lo = 0, hi = table.nframes - 1; /* the last frame starting at or before first */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (table.d_start[mid] <= first)
                lo = mid;
            else
                hi = mid - 1;
        }
        *start = table.c_start[lo];
        *skip = first - table.d_start[lo];
    }
    tokfs_seek_table_free(&table);
    return rc;
}

/* Ids [begin, end) of one source into the writer. */
static int read_source(tokfs_builder *b, tokfs_build_writer *w, const tokfs_source *src,
                       int64_t begin, int64_t end, uint32_t bound)
{
    if (end <= begin)
        return 0;
    tok_read *t = calloc(1, sizeof *t); /* the id batch is 16 KiB: not on a worker's stack */
    if (!t)
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    *t = (tok_read){.b = b, .w = w, .src = src, .bound = bound, .index = begin,
                    .left = end - begin};
    const int64_t width = src->tok_id_bytes, first = (int64_t)src->tok_header + begin * width;
    int codec = tokfs_format_codec(src->format);
    int rc;
    if (!codec) {
        rc = tokfs_builder_fetch(b, src, first, first + (end - begin) * width, tok_data, t);
    } else {
        /* A compressed stream is decoded from the start of the frame holding the piece's first
         * byte (a seekable .zst) or else from its start (pretokenized.md says what it costs);
         * the bytes before the piece's first id are decoded and passed over. */
        int64_t start = 0;
        t->skip = first;
        rc = seek_start(b, src, first, &start, &t->skip);
        char name[512];
        tokfs_url_redact(src->url, name, sizeof name);
        tokfs_decoder_sink sink = {.data = tok_data, .ctx = t};
        if (rc == 0 && (rc = tokfs_decoder_new(codec, start, name, &sink, &t->dec)))
            rc = tokfs_builder_fail(b, rc, "cannot decode %s: %s", name, strerror(-rc));
        if (rc == 0)
            rc = tokfs_builder_fetch(b, src, start, -1, tok_feed, t);
        if (rc == 0 && t->left > 0) {
            tokfs_err e = {{0}};
            int frc = tokfs_decoder_finish(t->dec, &e);
            if (frc < 0)
                rc = tokfs_builder_fail(b, frc, "%s", e.msg);
        }
        tokfs_decoder_free(t->dec);
    }
    if (rc == 0 && t->n)
        rc = flush_ids(t);
    if (rc == 0 && t->left > 0) { /* the source ended before its planned ids */
        char name[512];
        tokfs_url_redact(src->url, name, sizeof name);
        rc = tokfs_builder_fail(b, -EIO, "%s ends %" PRId64 " ids short of the plan: changed "
                                "upstream", name, t->left);
    }
    free(t);
    return rc;
}

int tokfs_build_tokens(tokfs_builder *b, tokfs_build_writer *w, const tokfs_plan *plan,
                       const tokfs_piece *piece, uint32_t bound)
{
    int rc = 0;
    for (uint32_t s = piece->first_source; rc == 0 && s <= piece->last_source; s++) {
        const tokfs_source *src = &plan->sources[s];
        int64_t begin = s == piece->first_source ? piece->begin : 0;
        int64_t end = s == piece->last_source ? piece->end : src->tok_count;
        rc = read_source(b, w, src, begin, end, bound);
    }
    return rc;
}
