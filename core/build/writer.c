/* The shard writer: owns the output side of a build — the block of bytes not yet written, the
 * budget reservation before every write (out->reserve), the cancel check, the running checksum
 * (tokfs_hash64 of every byte, seed 0) and the id count — and the output formats that turn ids
 * into those bytes (today one: raw little-endian ids of the shard's id width). */
#include "build/build_internal.h"

#include <errno.h>
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

int tokfs_build_writer_open(tokfs_build_writer *w, tokfs_builder *b,
                            const tokfs_build_output *out, const tokfs_build_format *format)
{
    *w = (tokfs_build_writer){.b = b, .out = out, .format = format};
    tokfs_hash_init(&w->hash, 0);
    if (tokfs_buf_reserve_exact(&w->block, TOKFS_BUILD_WRITE_BLOCK))
        return tokfs_builder_fail(b, -ENOMEM, "out of memory");
    return 0;
}

static int writer_put(void *ctx, const uint32_t *ids, size_t n)
{
    tokfs_build_writer *w = ctx;
    int rc = w->format->put(w->format, w, ids, n);
    if (rc == 0)
        w->ids += n;
    return rc;
}

tokfs_id_sink tokfs_build_writer_sink(tokfs_build_writer *w)
{
    return (tokfs_id_sink){writer_put, w};
}

int tokfs_build_writer_flush(tokfs_build_writer *w)
{
    tokfs_builder *b = w->b;
    if (!w->block.len)
        return 0;
    int rc = tokfs_builder_cancelled(b);
    if (rc)
        return rc;
    uint64_t new_size = w->written + w->block.len;
    if (w->out->reserve && (rc = w->out->reserve(w->out->reserve_ctx, new_size)))
        return tokfs_builder_fail(b, rc, "cannot reserve cache space for %llu bytes of shard: %s",
                                  (unsigned long long)new_size, strerror(-rc));
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
    return 0;
}

uint8_t *tokfs_build_writer_room(tokfs_build_writer *w, size_t min, size_t *room)
{
    if (w->block.cap - w->block.len < min && tokfs_build_writer_flush(w))
        return NULL;
    *room = w->block.cap - w->block.len;
    return w->block.data + w->block.len;
}

uint64_t tokfs_build_writer_checksum(const tokfs_build_writer *w)
{
    return tokfs_hash_final(&w->hash);
}

void tokfs_build_writer_free(tokfs_build_writer *w)
{
    tokfs_buf_free(&w->block);
}
