/* tokfs — reading one string column of a Parquet file: no FUSE, no HTTP, no file I/O.
 *
 * The caller fetches bytes (the file's tail, then column chunks) and hands them in:
 *
 *   1. Footer. Fetch the last TOKFS_PQ_TAIL_GUESS bytes and call tokfs_pq_meta_parse. When the
 *      footer is longer it returns TOKFS_PQ_NEED_MORE and *need_from: fetch
 *      [*need_from, file_size) and call again with those bytes. The result lists, per row group,
 *      the row count and the byte range [start, end) of the text column's chunk (and of the
 *      filter column's chunk when a filter column is named) — enough to plan and to range-fetch
 *      only the needed column chunks.
 *
 *   2. Values. For one row group, either hand in the whole text column chunk at once
 *      (tokfs_pq_read_row_group) or stream it in as it arrives (tokfs_pq_rg_open, then
 *      tokfs_pq_rg_feed with consecutive pieces — the shape of a tokfs_fetch_cb — then
 *      tokfs_pq_rg_finish). Every non-null text value is passed to a callback, in row order.
 *      With a filter, the filter column's whole chunk is handed in up front (it is small: a
 *      language name or a license per row, usually dictionary-encoded); both columns are read in
 *      lockstep, row by row, and a text value is passed on only when its row's filter value
 *      equals one of the accepted values (a null filter value never matches).
 *
 * The text column: a top-level leaf of physical type BYTE_ARRAY, REQUIRED or OPTIONAL, annotated
 * STRING/UTF8, ENUM or JSON — or not annotated at all (plain BYTE_ARRAY: its bytes are taken as
 * text; the UTF-8 repair downstream handles anything else). Refused with a message: a name not
 * at the top level, a group (struct/list/map), a REPEATED field, another physical type, another
 * annotation (DECIMAL, BSON, GEOMETRY, ...), encrypted files, column data in another file.
 *
 * Read: data pages v1 and v2, dictionary pages; encodings PLAIN, PLAIN_DICTIONARY,
 * RLE_DICTIONARY, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY; definition levels RLE (and the
 * deprecated BIT_PACKED in v1 pages); codecs UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4_RAW and the
 * deprecated LZ4 (Hadoop framing, or a bare LZ4 block as old writers made). Refused: BROTLI,
 * LZO, other encodings (named in the message).
 *
 * Limits (a hostile file is an error, never a crash or an unbounded allocation):
 *   - footer (FileMetaData) at most TOKFS_PQ_MAX_FOOTER bytes; memory for the parsed footer is
 *     a small record per row group (the text and filter chunks only);
 *   - a page's uncompressed size at most limits.max_page_bytes (default
 *     TOKFS_PQ_MAX_PAGE_DEFAULT, never above TOKFS_PQ_MAX_PAGE_HARD); its header at most
 *     TOKFS_PQ_MAX_PAGE_HEADER bytes;
 *   - memory while reading: the current page (compressed bytes when they arrive in pieces, plus
 *     the decompressed page), the dictionary page of the chunk and its entry table, and for
 *     DELTA_BYTE_ARRAY one value — all bounded by the page-size limit. The filter column's
 *     chunk is held whole by the caller.
 *
 * Errors: a negative errno (-EBADMSG for malformed data, -ENOTSUP for a valid but unsupported
 * feature, -EINVAL for a bad argument or missing column, -EFBIG for a limit, -ENOMEM) and a
 * tokfs_err message naming the column, the row group, the byte offset within the column chunk
 * and in the file where relevant. The caller adds the URL. */
#ifndef TOKFS_PARQUET_H
#define TOKFS_PARQUET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/filter.h"

#define TOKFS_PQ_TAIL_GUESS (64 * 1024)                  /* bytes to fetch first */
#define TOKFS_PQ_MAX_FOOTER (16u * 1024 * 1024)          /* FileMetaData size cap */
#define TOKFS_PQ_MAX_PAGE_DEFAULT (256u * 1024 * 1024)   /* default page size cap */
#define TOKFS_PQ_MAX_PAGE_HARD (1024u * 1024 * 1024)     /* cap of the cap */
#define TOKFS_PQ_MAX_PAGE_HEADER (16u * 1024 * 1024)     /* page header size cap */
#define TOKFS_PQ_NEED_MORE 1

/* Parquet's codec numbers (CompressionCodec). */
enum {
    TOKFS_PQ_UNCOMPRESSED = 0,
    TOKFS_PQ_SNAPPY = 1,
    TOKFS_PQ_GZIP = 2,
    TOKFS_PQ_LZO = 3,
    TOKFS_PQ_BROTLI = 4,
    TOKFS_PQ_LZ4 = 5,
    TOKFS_PQ_ZSTD = 6,
    TOKFS_PQ_LZ4_RAW = 7,
};

/* A column found in the schema. */
typedef struct tokfs_pq_column {
    char *name;
    int leaf_index;      /* position among the schema's leaves (= in every row group's columns) */
    int optional;        /* 1 OPTIONAL (definition levels present), 0 REQUIRED */
    int annotation;      /* 0 none (plain BYTE_ARRAY), 1 STRING/UTF8, 2 ENUM, 3 JSON */
} tokfs_pq_column;

/* One column chunk of one row group. */
typedef struct tokfs_pq_chunk {
    int codec;                        /* TOKFS_PQ_* */
    int64_t num_values;               /* values including nulls (= rows, for these columns) */
    int64_t data_page_offset;
    int64_t dictionary_page_offset;   /* -1 when absent */
    int64_t total_compressed_size;    /* bytes of the chunk in the file, page headers included */
    int64_t total_uncompressed_size;  /* page headers included */
    int64_t unencoded_bytes;          /* string bytes of the values (SizeStatistics), -1 unknown */
    uint64_t start, end;              /* [start, end): the chunk's bytes in the file */
} tokfs_pq_chunk;

typedef struct tokfs_pq_row_group {
    int64_t num_rows;
    tokfs_pq_chunk text;
    tokfs_pq_chunk filter;   /* meaningful when meta->has_filter */
} tokfs_pq_row_group;

typedef struct tokfs_pq_meta {
    uint64_t file_size;
    uint64_t footer_start;   /* offset of FileMetaData; footer = [footer_start, file_size) */
    int64_t num_rows;
    char *created_by;        /* "" when absent */
    tokfs_pq_column text;
    tokfs_pq_column filter;  /* meaningful when has_filter */
    int has_filter;
    size_t n_row_groups;
    tokfs_pq_row_group *row_groups;
} tokfs_pq_meta;

/* Parse the footer from the file's last tail_len bytes (bytes [file_size - tail_len, file_size)).
 * text_column names the text column; filter_column another string column or NULL.
 * Returns 0 and *out (free with tokfs_pq_meta_free); TOKFS_PQ_NEED_MORE and *need_from when the
 * tail is too short (call again with bytes [*need_from, file_size)); or a negative errno. */
int tokfs_pq_meta_parse(const uint8_t *tail, size_t tail_len, uint64_t file_size,
                        const char *text_column, const char *filter_column,
                        tokfs_pq_meta **out, uint64_t *need_from, tokfs_err *err);
void tokfs_pq_meta_free(tokfs_pq_meta *m);

/* Estimated text bytes of a row group, for planning: the string bytes when the writer recorded
 * them (SizeStatistics.unencoded_byte_array_data_bytes), else the chunk's uncompressed size. */
int64_t tokfs_pq_rg_text_bytes(const tokfs_pq_row_group *rg);

/* Name of a codec ("SNAPPY", "codec 9"). Returns a static string or buf. */
const char *tokfs_pq_codec_name(int codec, char *buf, size_t size);

/* ---- reading values ---- */

typedef struct tokfs_pq_limits {
    size_t max_page_bytes;    /* 0: TOKFS_PQ_MAX_PAGE_DEFAULT; clamped to TOKFS_PQ_MAX_PAGE_HARD */
    size_t max_value_bytes;   /* longer values are skipped and counted; 0: no limit */
} tokfs_pq_limits;

typedef struct tokfs_pq_stats {
    uint64_t rows;            /* rows read */
    uint64_t values;          /* values passed to the callback */
    uint64_t value_bytes;     /* their bytes */
    uint64_t nulls;           /* rows kept by the filter (or no filter) whose text was null */
    uint64_t filtered;        /* rows dropped by the filter */
    uint64_t too_large;       /* values skipped for exceeding max_value_bytes */
    uint64_t pages;           /* text column data pages read */
    uint32_t encodings;       /* text column: bit (1 << e) for each data page value encoding e */
    uint32_t page_types;      /* text column: bit (1 << t) for each page type t seen */
} tokfs_pq_stats;

/* Called once per kept, non-null text value, in row order. s is valid only during the call (it
 * points into a page buffer). Return 0 to go on, or a negative errno to stop: the reading call
 * returns that value as is. */
typedef int (*tokfs_pq_value_fn)(void *ctx, const uint8_t *s, size_t len);

typedef struct tokfs_pq_rg tokfs_pq_rg;

/* Start reading row group `rg` of m. filter: NULL, or a filter whose column is m->filter (m was
 * parsed with filter_column = filter->column); then filter_chunk must hold the filter column's
 * whole chunk, bytes [m->row_groups[rg].filter.start, .end), and stay valid until
 * tokfs_pq_rg_free. lim may be NULL (defaults). */
int tokfs_pq_rg_open(tokfs_pq_rg **out, const tokfs_pq_meta *m, size_t rg,
                     const tokfs_filter *filter, const uint8_t *filter_chunk,
                     size_t filter_len, const tokfs_pq_limits *lim, tokfs_pq_value_fn fn,
                     void *ctx, tokfs_err *err);
/* The next bytes of the text column's chunk (bytes [text.start, text.end), in order, in pieces
 * of any size). Pages are decoded as soon as they are complete; values go to fn. Bytes of the
 * piece are not kept after the call, except an incomplete page's (copied). Returns 0 or a
 * negative errno (then the reader is done: free it). */
int tokfs_pq_rg_feed(tokfs_pq_rg *r, const uint8_t *data, size_t len, tokfs_err *err);
/* After the last piece: checks that the chunk was complete (every row read, in both columns).
 * stats may be NULL. */
int tokfs_pq_rg_finish(tokfs_pq_rg *r, tokfs_pq_stats *stats, tokfs_err *err);
void tokfs_pq_rg_free(tokfs_pq_rg *r);

/* All of the above in one call, with the whole text chunk in memory. */
int tokfs_pq_read_row_group(const tokfs_pq_meta *m, size_t rg, const uint8_t *text_chunk,
                            size_t text_len, const tokfs_filter *filter,
                            const uint8_t *filter_chunk, size_t filter_len,
                            const tokfs_pq_limits *lim, tokfs_pq_value_fn fn, void *ctx,
                            tokfs_pq_stats *stats, tokfs_err *err);

/* ---- low level: one column chunk in memory, one row at a time ---- */

typedef struct tokfs_pq_col tokfs_pq_col;

/* bytes: the whole chunk; must stay valid until tokfs_pq_col_free. */
int tokfs_pq_col_open(tokfs_pq_col **out, const tokfs_pq_column *col,
                      const tokfs_pq_chunk *chunk, const uint8_t *bytes, size_t len,
                      const tokfs_pq_limits *lim, tokfs_err *err);
/* 1: a row (*s NULL for a null value; else valid until the next call), 0: no more rows (all
 * chunk.num_values read), <0: error. */
int tokfs_pq_col_next(tokfs_pq_col *c, const uint8_t **s, size_t *len, tokfs_err *err);
void tokfs_pq_col_free(tokfs_pq_col *c);

#endif
