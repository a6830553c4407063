/* tokfs — a Parquet source's footer, fetched through the fetch API (plan and build time).
 *
 * Only range requests for the end of the file: with footer_start unknown (0), its last
 * TOKFS_PQ_TAIL_GUESS bytes, then, when the footer is longer, only the bytes missing before them;
 * with footer_start known (saved in the plan), exactly [footer_start, size). The bytes of recent
 * footers are kept in memory (process-wide, least recently used dropped past 32 MiB; keyed by URL
 * and validators), so a file's footer is usually fetched once however many shards read it.
 * With filter=, planning also counts the kept rows of each row group (tokfs_pq_count_kept: one
 * range request for the filter column's chunk), so that pieces are weighed by the kept text.
 * Nothing here knows whether the URL is a local path, plain HTTP or a hub file: fetch.h does. */
#ifndef TOKFS_PQ_SOURCE_H
#define TOKFS_PQ_SOURCE_H

#include <stdint.h>

#include "common/error.h"
#include "source/fetch.h"
#include "decode/parquet.h"

/* Read and parse the footer of the Parquet file at url (info: its size and validators, which
 * the requests carry). text_column / filter_column as for tokfs_pq_meta_parse (filter NULL for
 * none). *fetched (may be NULL) grows by the bytes received (0 when the footer was in memory).
 * Thread-safe. Returns 0 and *out (free with
 * tokfs_pq_meta_free), or a negative errno with err naming the URL (redacted). */
int tokfs_pq_fetch_meta(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                        int64_t footer_start, const char *text_column, const char *filter_column,
                        tokfs_pq_meta **out, uint64_t *fetched, tokfs_err *err);

/* Count the rows of row group rg of m (parsed with filter->column as its filter column) whose
 * filter value equals one of filter's values: fetches the filter column's whole chunk (one range
 * request; refused with -EFBIG over max_chunk bytes) and reads it row by row, nulls never
 * matching. *kept: the count. *fetched (may be NULL) grows by the bytes received. Returns 0 or a
 * negative errno with err naming the URL (redacted), the column and the row group. */
int tokfs_pq_count_kept(tokfs_fetcher *f, const char *url, const tokfs_object_info *info,
                        const tokfs_pq_meta *m, size_t rg, const tokfs_filter *filter,
                        size_t max_chunk, int64_t *kept, uint64_t *fetched, tokfs_err *err);

#endif
