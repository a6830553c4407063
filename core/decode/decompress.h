/* tokfs — compressed sources: streaming zstd and gzip decoding with fixed buffers, and the zstd
 * seekable format's seek table (the only way to find frame boundaries without downloading).
 *
 * The decoder is fed the compressed bytes as the fetcher delivers them, in chunks cut anywhere,
 * and passes decompressed bytes on to a sink. It never holds more than one output buffer and the
 * codec's own state (zlib: a 32 KiB window; zstd: the frame's window, at most 128 MiB —
 * libzstd's default limit, as for the zstd CLI without --memory). */
#ifndef TOKFS_DECOMPRESS_H
#define TOKFS_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "source/fetch.h"
#include "source/format.h"

/* Planning estimate of decompressed bytes per compressed byte for text (JSONL and plain text
 * compress 3-5x with zstd's and gzip's default levels). Used only to size pieces: a compressed
 * source counts as size x this many bytes. */
#define TOKFS_COMPRESSED_EXPANSION 4.0

/* Where decompressed bytes go. Both callbacks return 0 to go on, 1 to stop (not an error) or a
 * negative errno to abort; the decoder returns that value from feed/finish. */
typedef struct tokfs_decoder_sink {
    int (*data)(void *ctx, const uint8_t *data, size_t len);
    /* A zstd frame (skippable frames included) or a gzip member ended: end is the absolute
     * compressed offset just past it; all of its output has been passed to data. May be NULL. */
    int (*frame_end)(void *ctx, int64_t end);
    void *ctx;
} tokfs_decoder_sink;

typedef struct tokfs_decoder tokfs_decoder;

/* A decoder for codec whose first fed byte is at compressed offset start (offsets in messages
 * and frame_end are absolute). what names the source in messages (copied; pass it redacted).
 * Returns 0, -ENOMEM or -EINVAL (unknown codec). */
int tokfs_decoder_new(int codec, int64_t start, const char *what, const tokfs_decoder_sink *sink,
                      tokfs_decoder **out);

/* Feed the next compressed bytes. Returns 0 (all consumed), 1 (the sink stopped), the sink's
 * negative value, or -EIO for corrupt data with err naming the source and the compressed byte
 * offset (of the frame or member, and where the decoder noticed). Do not feed after non-zero. */
int tokfs_decoder_feed(tokfs_decoder *d, const uint8_t *data, size_t len, tokfs_err *err);

/* The compressed stream ended. -EIO when it ends inside a frame or member (truncated). An
 * empty stream is valid (no frames). */
int tokfs_decoder_finish(tokfs_decoder *d, tokfs_err *err);

/* Compressed offset of the next byte to feed. */
int64_t tokfs_decoder_offset(const tokfs_decoder *d);

void tokfs_decoder_free(tokfs_decoder *d);

/* ---- zstd seekable format ------------------------------------------------------------------- */

/* Frames of a seekable .zst file (zstd's contrib/seekable_format: a skippable frame at the end
 * holding each frame's compressed and decompressed size). Frame f spans compressed bytes
 * [c_start[f], c_start[f+1]) and decompressed bytes [d_start[f], d_start[f+1]); c_start[nframes]
 * is where the seek table frame begins. */
typedef struct tokfs_seek_table {
    uint32_t nframes;
    int64_t *c_start; /* nframes + 1 entries */
    int64_t *d_start; /* nframes + 1 entries */
} tokfs_seek_table;

#define TOKFS_SEEK_TABLE_MAX_FRAMES (1u << 20)

/* Parse the seek table from tail, the last len bytes of a file of file_size bytes.
 * Returns 0 with t filled (t->nframes == 0: the file has no seek table, a plain .zst), -EAGAIN
 * with *need set when the table is longer than tail (call again with the last *need bytes),
 * -EINVAL when a seek table is there but inconsistent with the file (err says why), -ENOMEM. */
int tokfs_seek_table_parse(const uint8_t *tail, size_t len, int64_t file_size,
                           tokfs_seek_table *t, size_t *need, tokfs_err *err);

/* Read the seek table of url (size and validators in info) with one or two range requests for
 * the end of the file. Same results as tokfs_seek_table_parse, plus the fetch errors.
 * *fetched (may be NULL) is increased by the bytes received. */
int tokfs_seek_table_read(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                          tokfs_seek_table *t, uint64_t *fetched, tokfs_err *err);

void tokfs_seek_table_free(tokfs_seek_table *t);

#endif
