/* tokfs — the plan: which sources exist and how they are cut into shards.
 *
 * The plan is a pure function of the source listing (names, sizes, validators) and the options
 * that shape content. It is computed once at the first mount, saved in the cache dir, and reused
 * by every later mount with the same SOURCE and options without touching the network. */
#ifndef TOKFS_PLAN_H
#define TOKFS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "decode/decompress.h"
#include "common/error.h"
#include "source/fetch.h"
#include "source/format.h"

typedef struct tokfs_source {
    char *url;               /* as listed: URL or absolute local path */
    tokfs_object_info info;  /* size and validators at plan time */
    int format;              /* kind | codec << TOKFS_FORMAT_CODEC_SHIFT */
    /* A seekable .jsonl.zst's frames, read at plan time to cut it at frame boundaries (only
     * while planning, not saved: the pieces are). NULL otherwise. Freed by tokfs_plan_free. */
    tokfs_seek_table *frames;
    /* Parquet: its row groups and the offset of its footer (saved in the plan, so a build fetches
     * exactly the footer: one range request; 0 = unknown, then the build reads the file's tail).
     * A piece's begin/end in a Parquet source are row group indexes [begin, end). */
    uint32_t pq_row_groups;
    int64_t pq_footer_start;
    /* Parquet, while planning only (not saved): estimated text bytes of each row group
     * (tokfs_pq_rg_text_bytes). NULL otherwise. Freed by tokfs_plan_free. */
    int64_t *pq_rg_bytes;
    /* A token source (.bin, .npy; docs/pretokenized.md): bytes before its first id (in its
     * decompressed stream when compressed), the width of its ids and how many there are (saved
     * in the plan). A piece's begin/end in a token source are id indexes [begin, end), end =
     * tok_count when whole. */
    uint32_t tok_header;
    uint32_t tok_id_bytes;
    int64_t tok_count;
} tokfs_source;

/* One piece = one shard. It covers the source bytes from (first_source, begin) up to
 * (last_source, end): every source strictly between is whole. A JSONL record belongs to the piece
 * in which its first byte lies, so a source cut at any byte offset still gives every record to
 * exactly one piece. A .txt is cut at byte offsets too: with txt_doc=line or paragraph its
 * documents follow the JSONL rule; with txt_doc=file the builder moves each offset to the first
 * place at or after it where the tokenizer can cut (core/build/reader_txt.c), so both pieces next
 * to a cut agree on it without the plan fetching content. Compressed sources are whole, except a seekable .jsonl.zst, which is cut only
 * at frame boundaries (begin and end are compressed offsets where frames start); its records
 * belong to the piece in which their first decompressed byte lies. A Parquet source is cut only
 * between row groups: there begin and end are row group indexes (end = its row group count when
 * whole). A token source is cut at any id: begin and end are id indexes. */
typedef struct tokfs_piece {
    uint32_t first_source, last_source;
    int64_t begin;           /* offset in first_source */
    int64_t end;             /* offset in last_source, exclusive (its size when whole) */
    int64_t source_bytes;    /* bytes covered, for estimates (compressed sources: the estimated
                              * decompressed bytes) */
} tokfs_piece;

typedef struct tokfs_plan {
    tokfs_source *sources;
    uint32_t nsources;
    tokfs_piece *pieces;     /* in shard order: train pieces, then val pieces */
    uint32_t npieces;
    uint32_t ntrain;         /* pieces[0..ntrain) are train, the rest val */
    uint32_t nval;
    uint64_t id;             /* identity of (SOURCE, content options): names the plan dir */
} tokfs_plan;

/* The identity of a plan: hash of SOURCE and every option that changes shard content. */
uint64_t tokfs_plan_identity(const tokfs_config *cfg);

/* List the sources named by cfg->source (tokfs_list_source: one file or URL, a local directory,
 * an @LIST or an hf:// dataset), stat each one (HEAD for HTTP; the hub's listing gives sizes),
 * read what cutting needs (Parquet footers, zstd seek tables) and cut them into pieces. Network
 * and disk errors name the source. */
int tokfs_plan_build(const tokfs_config *cfg, double bytes_per_token, tokfs_fetcher *fetcher,
                     tokfs_plan *plan, tokfs_err *err);

/* Target (decompressed) source bytes per piece: shard_size x bytes_per_token, at least 1. The
 * builder of a .txt read whole bounds its search for a cut place by it (reader_txt.c). */
int64_t tokfs_plan_piece_target(const tokfs_config *cfg, double bytes_per_token);

/* Cut already-listed sources into pieces (no I/O; used by tokfs_plan_build, exposed for tests).
 * Takes ownership of nothing; fills plan->pieces/npieces/ntrain/nval. */
int tokfs_plan_cut(tokfs_plan *plan, const tokfs_config *cfg, double bytes_per_token,
                   tokfs_err *err);

/* Save to / load from path (a small tab-separated text file, written to a temp file, fsync'd and
 * renamed). load returns -ENOENT when there is no saved plan, -EINVAL when it is damaged or was
 * made for another identity. */
int tokfs_plan_save(const tokfs_plan *plan, const char *path, tokfs_err *err);
int tokfs_plan_load(tokfs_plan *plan, const char *path, uint64_t expect_id, tokfs_err *err);

void tokfs_plan_free(tokfs_plan *plan);

#endif
