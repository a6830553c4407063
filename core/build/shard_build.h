/* tokfs — making one shard: fetch a piece's source bytes, split them into documents, tokenize,
 * and write the ids to a file descriptor. Streaming with bounded buffers: memory depends on
 * max_doc_bytes, never on the shard's or the corpus's size. */
#ifndef TOKFS_SHARD_BUILD_H
#define TOKFS_SHARD_BUILD_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "source/fetch.h"
#include "plan/plan.h"
#include "tokenize/tokenizer.h"

typedef struct tokfs_build_stats {
    uint64_t tokens;            /* ids written, end-of-text included */
    uint64_t checksum;          /* tokfs_hash64 of the bytes written */
    uint64_t documents;         /* documents written */
    uint64_t fetched_bytes;     /* bytes received from sources */
    uint64_t skipped_records;   /* malformed lines, missing field, oversized documents */
    char first_skip[256];       /* why the first skipped record was skipped ("" if none) */
} tokfs_build_stats;

typedef struct tokfs_build_output {
    int fd;                     /* an empty file, written sequentially from offset 0 */
    /* Called before the file grows to new_size bytes, so the cache can keep its hard cap:
     * returns 0 to go on or a negative errno (-ENOSPC) to stop the build. May be NULL. */
    int (*reserve)(void *ctx, uint64_t new_size);
    void *reserve_ctx;
    /* When *cancel becomes non-zero the build stops with -ECANCELED (unmount). May be NULL. */
    const atomic_int *cancel;
    /* The id count the shard had the first time it was made (the cache's catalog), when
     * has_expected_ids: a layout with a header (llm.c, .npy) writes the header for that count
     * first, so the file's first bytes are final at once instead of at the end. If the build
     * ends with another count, the header is rewritten with the real one (the cache then finds
     * the shard differs and refuses it). */
    int has_expected_ids;
    uint64_t expected_ids;
    /* Called from the thread that writes, after each write: bytes [0, done) of the file hold
     * their final contents (a header hole not yet filled counts as not final: done stays below
     * it until the header is written). done only grows. Returns 0 to go on, or a negative
     * errno to stop the build with it (the cache refusing bytes that differ). May be NULL. */
    int (*progress)(void *ctx, uint64_t done);
    void *progress_ctx;
} tokfs_build_output;

/* Build shard `piece` of plan into out. On failure the file holds garbage: the caller deletes it.
 * Returns 0 or the build's one error, a negative errno, with err (may be NULL) holding its
 * message — the first failure's, naming the source: -ESTALE (a source changed upstream), -EIO
 * (fetch failed; corrupt compressed or Parquet data; frames or row groups not as planned), or
 * reserve's refusal as it returned it (-ENOSPC...), -ECANCELED (cancel), -ENOMEM. */
int tokfs_build_shard(const tokfs_plan *plan, uint32_t piece, const tokfs_tokenizer *tok,
                      const tokfs_config *cfg, tokfs_fetcher *fetcher,
                      const tokfs_build_output *out, tokfs_build_stats *stats, tokfs_err *err);

#endif
