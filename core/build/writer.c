/* The shard writer: owns the output side of a build — the block of bytes not yet written, the
 * budget reservation before every write (out->reserve), the cancel check, the running checksum
 * (tokfs_hash64 of every byte after the header, seed 0) and the id count — the placement of the
 * end-of-text id and the layout around the ids (out_format.h: llm.c and .npy headers, Megatron's
 * .idx after the ids), and the id encodings (little-endian ids of the layout's width), and
 * telling the output how far the file is final (out->progress), so the cache can serve a shard's
 * first bytes before its build ends. */
#include "build/build_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/endian.h"

/* ---- formats ------------------------------------------------------------------------------- */

static int put_le16(const tokfs_build_format *f, tokfs_build_writer *w, const uint32_t *ids,
                    size_t n)
{
    while (n) {
        size_t room;
        uint8_t *p = tokfs_build_writer_room(w, 2, &room);
        if (!p)
            return w->b->rc;
        size_t k = room / 2 < n ? room / 2 : n;
        for (size_t i = 0; i < k; i++) { /* little-endian whatever the host */
            p[2 * i] = (uint8_t)ids[i];
            p[2 * i + 1] = (uint8_t)(ids[i] >> 8);
        }
        tokfs_build_writer_advance(w, 2 * k);
        ids += k;
        n -= k;
    }
    return 0;
}

static int put_le32(const tokfs_build_format *f, tokfs_build_writer *w, const uint32_t *ids,
                    size_t n)
{
    while (n) {
        size_t room;
        uint8_t *p = tokfs_build_writer_room(w, 4, &room);
        if (!p)
            return w->b->rc;
        size_t k = room / 4 < n ? room / 4 : n;
        for (size_t i = 0; i < k; i++)
            tokfs_store_le32(p + 4 * i, ids[i]);
        tokfs_build_writer_advance(w, 4 * k);
        ids += k;
        n -= k;
    }
    return 0;
}

static const tokfs_build_format FORMAT_LE16 = {"ids-le16", put_le16};
static const tokfs_build_format FORMAT_LE32 = {"ids-le32", put_le32};

const tokfs_build_format *tokfs_build_format_ids(unsigned id_bytes)
{
    return id_bytes == 4 ? &FORMAT_LE32 : &FORMAT_LE16;
}

/* ---- the writer ---------------------------------------------------------------------------- */

/* The header goes first, for the expected count (shard_build.h): the file is then final from
 * byte 0 as it is written. Otherwise it is a hole filled by finish. */
static int header_first(const tokfs_build_writer *w)
{
    return w->layout.header_bytes && w->out->has_expected_ids &&
           !(w->layout.format == TOKFS_OUT_LLMC && w->out->expected_ids > INT32_MAX);
}

/* Tell the output that [0, done) is final. 0 or the build's error (the output's refusal). */
static int writer_progress(tokfs_build_writer *w, uint64_t done)
{
    if (!w->out->progress)
        return 0;
    int rc = w->out->progress(w->out->progress_ctx, done);
    return rc ? tokfs_builder_fail(w->b, rc, "%s", "") : 0; /* the output's own message */
}

static int writer_reserve(tokfs_build_writer *w, uint64_t new_size);

/* Write the layout's header for `ids` ids at offset 0. 0 or the build's error. */
static int write_header(tokfs_build_writer *w, uint64_t ids)
{
    uint8_t header[TOKFS_LLMC_HEADER_BYTES > TOKFS_NPY_HEADER_BYTES ? TOKFS_LLMC_HEADER_BYTES
                                                                   : TOKFS_NPY_HEADER_BYTES];
    tokfs_layout_header(&w->layout, ids, header);
    ssize_t n = pwrite(w->out->fd, header, w->layout.header_bytes, 0);
    if (n != (ssize_t)w->layout.header_bytes) {
        int e = n < 0 ? errno : EIO;
        return tokfs_builder_fail(w->b, -e, "cannot write shard header: %s", strerror(e));
    }
    return 0;
}

int tokfs_build_writer_open(tokfs_build_writer *w, tokfs_builder *b,
                            const tokfs_build_output *out, const tokfs_layout *layout)
{
    *w = (tokfs_build_writer){.b = b, .out = out, .layout = *layout,
                              .format = tokfs_build_format_ids(layout->id_bytes),
                              .starts_document = 1};
    tokfs_hash_init(&w->hash, 0);
    if (tokfs_buf_reserve_exact(&w->block, TOKFS_BUILD_WRITE_BLOCK))
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    /* The header depends on the id count: written now when the count is known from the first
     * make, else a hole filled by finish. */
    if (header_first(w)) {
        int rc;
        if ((rc = writer_reserve(w, layout->header_bytes)) ||
            (rc = write_header(w, out->expected_ids)))
            return rc;
        if (lseek(out->fd, layout->header_bytes, SEEK_SET) < 0) {
            int e = errno;
            return tokfs_builder_fail(b, -e, "cannot seek in shard: %s", strerror(e));
        }
        w->written = layout->header_bytes;
        return writer_progress(w, w->written);
    }
    if (layout->header_bytes) {
        if (lseek(out->fd, layout->header_bytes, SEEK_SET) < 0) {
            int e = errno;
            return tokfs_builder_fail(b, -e, "cannot seek in shard: %s", strerror(e));
        }
        w->written = layout->header_bytes;
    }
    return 0;
}

/* The current megatron sequence ends before file id `end`. */
static int end_sequence(tokfs_build_writer *w, uint64_t end)
{
    uint64_t len = end - w->seq_start;
    if (len > INT32_MAX) /* the .idx keeps lengths as int32 */
        return tokfs_builder_fail(w->b, -EFBIG, "a document of %llu ids is longer than "
                                  "format=megatron's int32 sequence lengths allow",
                                  (unsigned long long)len);
    if (w->nseq == w->seq_cap) {
        size_t cap = w->seq_cap ? 2 * w->seq_cap : 1024;
        uint32_t *grown = realloc(w->seq_lens, cap * sizeof *grown);
        if (!grown)
            return tokfs_builder_fail(w->b, -ENOMEM, "out of memory");
        w->seq_lens = grown;
        w->seq_cap = cap;
    }
    w->seq_lens[w->nseq++] = (uint32_t)len;
    w->seq_start = end;
    return 0;
}

/* ids go into the file as they are; megatron notes the sequence boundaries among them: after
 * an end-of-text id when it is appended, before it when it is prepended. */
static int emit(tokfs_build_writer *w, const uint32_t *ids, size_t n)
{
    if (!n)
        return 0;
    if (w->layout.format == TOKFS_OUT_MEGATRON && w->layout.sep != TOKFS_SEP_NONE) {
        for (size_t i = 0; i < n; i++) {
            if (ids[i] != w->layout.eot_id)
                continue;
            uint64_t pos = w->ids + i;
            int rc = 0;
            if (w->layout.sep == TOKFS_SEP_APPEND)
                rc = end_sequence(w, pos + 1);
            else if (pos > w->seq_start)
                rc = end_sequence(w, pos);
            if (rc)
                return rc;
        }
    }
    int rc = w->format->put(w->format, w, ids, n);
    if (rc == 0)
        w->ids += n;
    return rc;
}

static int writer_put(void *ctx, const uint32_t *ids, size_t n)
{
    tokfs_build_writer *w = ctx;
    const uint32_t eot = w->layout.eot_id;
    if (!n)
        return 0;
    int rc = 0;
    switch (w->layout.sep) {
    case TOKFS_SEP_PREPEND:
        /* Rotation: out = [eot] + in minus its last id, which is the last document's eot. */
        if (!w->held && w->ids == 0 && w->starts_document && (rc = emit(w, &eot, 1)))
            return rc;
        if (w->held && (rc = emit(w, &w->held_id, 1)))
            return rc;
        if ((rc = emit(w, ids, n - 1)))
            return rc;
        w->held = 1;
        w->held_id = ids[n - 1];
        return 0;
    case TOKFS_SEP_NONE: {
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] != eot)
                continue;
            if ((rc = emit(w, ids + run, i - run)))
                return rc;
            if (w->layout.format == TOKFS_OUT_MEGATRON && (rc = end_sequence(w, w->ids)))
                return rc;
            run = i + 1;
        }
        return emit(w, ids + run, n - run);
    }
    default:
        return emit(w, ids, n);
    }
}

int tokfs_build_writer_put_verbatim(tokfs_build_writer *w, const uint32_t *ids, size_t n)
{
    return emit(w, ids, n);
}

tokfs_id_sink tokfs_build_writer_sink(tokfs_build_writer *w)
{
    return (tokfs_id_sink){writer_put, w};
}

/* Reserve the budget for the file at w->written + the block, unless already reserved. */
static int writer_reserve(tokfs_build_writer *w, uint64_t new_size)
{
    if (!w->out->reserve || new_size <= w->reserved)
        return 0;
    int rc = w->out->reserve(w->out->reserve_ctx, new_size);
    if (rc)
        return tokfs_builder_fail(w->b, rc,
                                  "cannot reserve cache space for %llu bytes of shard: %s",
                                  (unsigned long long)new_size, strerror(-rc));
    w->reserved = new_size;
    return 0;
}

int tokfs_build_writer_flush(tokfs_build_writer *w)
{
    tokfs_builder *b = w->b;
    if (!w->block.len)
        return 0;
    int rc = tokfs_builder_cancelled(b);
    if (rc)
        return rc;
    if ((rc = writer_reserve(w, w->written + w->block.len)))
        return rc;
    tokfs_hash_update(&w->hash, w->block.data, w->block.len);
    size_t off = 0;
    while (off < w->block.len) {
        ssize_t n = write(w->out->fd, w->block.data + off, w->block.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return tokfs_builder_fail(b, -e, "cannot write shard: %s", strerror(e));
        }
        off += (size_t)n;
    }
    w->written += w->block.len;
    w->block.len = 0;
    /* With a header hole nothing is final until finish fills it. */
    return w->layout.header_bytes && !header_first(w) ? 0 : writer_progress(w, w->written);
}

uint8_t *tokfs_build_writer_room(tokfs_build_writer *w, size_t min, size_t *room)
{
    if (w->block.cap - w->block.len < min && tokfs_build_writer_flush(w))
        return NULL;
    *room = w->block.cap - w->block.len;
    return w->block.data + w->block.len;
}

/* len bytes into the block (the .idx). */
static int put_bytes(tokfs_build_writer *w, const uint8_t *data, size_t len)
{
    while (len) {
        size_t room;
        uint8_t *p = tokfs_build_writer_room(w, 1, &room);
        if (!p)
            return w->b->rc;
        size_t k = room < len ? room : len;
        memcpy(p, data, k);
        tokfs_build_writer_advance(w, k);
        data += k;
        len -= k;
    }
    return 0;
}

static int put_u64(tokfs_build_writer *w, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return put_bytes(w, le, 8);
}

/* Megatron-core's indexed-dataset index: one sequence per document, document i being sequence
 * i (document indices 0..n, n + 1 of them, and the document count says n + 1, as Megatron-core
 * writes and reads it). */
static int put_megatron_index(tokfs_build_writer *w)
{
    static const uint8_t magic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
    uint8_t code = w->layout.id_bytes == 2 ? 8 : 4; /* uint16; int32 (ids < 2^31: same bytes) */
    int rc;
    if ((rc = put_bytes(w, magic, sizeof magic)) || (rc = put_u64(w, 1)) ||
        (rc = put_bytes(w, &code, 1)) || (rc = put_u64(w, w->nseq)) ||
        (rc = put_u64(w, (uint64_t)w->nseq + 1)))
        return rc;
    for (size_t i = 0; i < w->nseq; i++) {
        uint8_t le[4];
        tokfs_store_le32(le, w->seq_lens[i]);
        if ((rc = put_bytes(w, le, 4)))
            return rc;
    }
    uint64_t pointer = 0;
    for (size_t i = 0; i < w->nseq; i++) {
        if ((rc = put_u64(w, pointer)))
            return rc;
        pointer += (uint64_t)w->seq_lens[i] * w->layout.id_bytes;
    }
    for (size_t i = 0; i <= w->nseq; i++)
        if ((rc = put_u64(w, i)))
            return rc;
    return 0;
}

int tokfs_build_writer_finish(tokfs_build_writer *w)
{
    int rc = 0;
    if (w->held) {
        /* The last document's end-of-text id was moved to its front: drop it. An id that is
         * not one ends a document continued in the next piece: it stays. */
        w->held = 0;
        if (w->held_id != w->layout.eot_id && (rc = emit(w, &w->held_id, 1)))
            return rc;
    }
    if (w->layout.format == TOKFS_OUT_MEGATRON) {
        if (w->ids > w->seq_start && (rc = end_sequence(w, w->ids)))
            return rc;
        if ((rc = put_megatron_index(w)))
            return rc;
    }
    if ((rc = tokfs_build_writer_flush(w)))
        return rc;
    if (!w->layout.header_bytes)
        return 0;
    if (w->layout.format == TOKFS_OUT_LLMC && w->ids > INT32_MAX) /* llm.c reads an int32 */
        return tokfs_builder_fail(w->b, -EFBIG, "%llu ids do not fit llm.c's int32 token count: "
                                  "lower shard_size", (unsigned long long)w->ids);
    if ((rc = writer_reserve(w, w->written)))
        return rc;
    /* Written first for the expected count: rewritten only when the count came out different
     * (the file stays true to its ids; the cache refuses it as differing). */
    if (header_first(w) && w->ids == w->out->expected_ids)
        return 0;
    if ((rc = write_header(w, w->ids)))
        return rc;
    return header_first(w) ? 0 : writer_progress(w, w->written);
}

uint64_t tokfs_build_writer_checksum(const tokfs_build_writer *w)
{
    return tokfs_hash_final(&w->hash);
}

void tokfs_build_writer_free(tokfs_build_writer *w)
{
    tokfs_buf_free(&w->block);
    free(w->seq_lens);
    w->seq_lens = NULL;
}
