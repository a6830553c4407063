/* tokfs — the shared tier: shards made once, anywhere, into a directory DEST that every node can
 * read (a local disk, NFS, Lustre), with a manifest saying what they are (docs/shared.md).
 *
 *   DEST/set.json             what the set is: plan identity, tokenizer fingerprint, layout,
 *                             piece counts, SOURCE (written once, by the first task)
 *   DEST/plan.tsv             the plan every task builds from (the first task's)
 *   DEST/shards/NNNNNN.bin    shard NNNNNN (plan index) exactly as a mount's cache file holds it
 *   DEST/records/NNNNNN.json  its count, checksum and sizes, published after the shard
 *   DEST/manifest.json        set.json's fields plus every record found, assembled by each task
 *                             at its end; records/ stays the truth (no central step)
 *   DEST/tmp/                 files being written (temp + rename: a reader never sees half)
 *
 * Everything is published atomically (write a temp file, fsync, rename), so a task killed at
 * any moment leaves either a complete shard with its record or nothing, and a re-run skips every
 * shard whose file matches its record's size and checksum. Two tasks (or nodes) publishing the
 * same shard at once both rename a complete, identical file: harmless.
 *
 * DEST may also be s3://BUCKET/PREFIX: the same objects under the prefix, each published with
 * one complete PUT (staged in a local temp file while it is built). Calls that may run on
 * several threads take a fetcher made by tokfs_shard_set_fetcher (NULL for a directory). */
#ifndef TOKFS_SHARED_H
#define TOKFS_SHARED_H

#include <stdint.h>

#include "build/out_format.h"
#include "build/shard_build.h"
#include "common/config.h"
#include "common/error.h"
#include "plan/plan.h"
#include "tokenize/tokenizer.h"

/* The identity of a shard set's bytes: the plan identity, the tokenizer's fingerprint, and the
 * layout unless it is the original one (raw ids of the vocabulary's width, end-of-text appended).
 * The cache names its plan directories with it too. */
uint64_t tokfs_shard_set_id(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                            const tokfs_layout *layout);

/* "train/shard_00003.bin" for plan index i (".npy" for npy; val shards count from 0). */
void tokfs_shard_set_name(const tokfs_plan *plan, const tokfs_layout *layout, uint32_t i,
                          char *out, size_t size);

/* What set.json says, and what a mount compares with its own before using DEST. */
typedef struct tokfs_set_info {
    uint64_t set_id;
    uint64_t plan_id;
    uint64_t tokenizer_fingerprint;
    char tokenizer[256];
    char layout[64];            /* "raw/uint16/append": format/dtype/doc_sep */
    uint32_t npieces, ntrain, nval;
} tokfs_set_info;

/* One shard's record. */
typedef struct tokfs_set_record {
    uint64_t tokens;
    uint64_t checksum;          /* the writer's: tokfs_hash64 of every byte after the header */
    uint64_t bytes;             /* the whole file (data, header and .idx) */
    uint64_t index_bytes;       /* megatron's .idx at the end (0 otherwise) */
} tokfs_set_record;

typedef struct tokfs_shard_set tokfs_shard_set;

/* Open DEST for building the set of cfg/tok/layout: create its directories, write set.json or
 * check the one there (a DEST holding another set is refused with a message saying what
 * differs: plan (SOURCE or content options), tokenizer, or layout), and take the plan: DEST's
 * plan.tsv when there is one, else *plan (built by the caller) saved there first. On return
 * *plan is the plan to build (the caller's is replaced by DEST's when they differ). */
int tokfs_shard_set_open(const char *dest, const tokfs_config *cfg, const tokfs_tokenizer *tok,
                         const tokfs_layout *layout, tokfs_plan *plan, tokfs_shard_set **out,
                         tokfs_err *err);
void tokfs_shard_set_close(tokfs_shard_set *s);

/* The plan DEST holds for cfg (plan.tsv, checked against cfg's plan identity), without building
 * one: 0, -ENOENT (none yet) or another error with a message. */
int tokfs_shard_set_load_plan(const char *dest, const tokfs_config *cfg, tokfs_plan *plan,
                              tokfs_err *err);

/* A new HTTP client for DEST (signing for its bucket) for one thread, or NULL for a directory
 * DEST (nothing to fetch). */
tokfs_fetcher *tokfs_shard_set_fetcher(const tokfs_shard_set *s);

/* 1 when shard i is in DEST, complete and equal to its record (a directory: size and checksum,
 * read back; S3: its size, as it was PUT whole before its record); *rec filled. 0 when absent
 * or not matching (a mismatch is logged: the object is ignored and made again). */
int tokfs_shard_set_has(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                        tokfs_set_record *rec);

/* Build shard i into DEST: a staged temp file, tokfs_build_shard (reading the sources with
 * source_fetcher), published whole into shards/, then its record (with dest_fetcher). stats:
 * the build's. 0 or a negative errno with err naming the shard. */
int tokfs_shard_set_build(tokfs_shard_set *s, uint32_t i, tokfs_fetcher *source_fetcher,
                          tokfs_fetcher *dest_fetcher, tokfs_build_stats *stats, tokfs_err *err);

/* Assemble DEST/manifest.json from set.json and every valid record in records/ (temp + rename).
 * *present: shards with a record. 0 or a negative errno with a message. */
int tokfs_shard_set_write_manifest(tokfs_shard_set *s, uint32_t *present, tokfs_err *err);

/* ---- a mount reading DEST: shared=DEST (attach.c) ------------------------------------------- */

/* Attach to the set in DEST for a mount (nothing is created or written): set.json must describe
 * this mount's set (plan identity, tokenizer fingerprint, layout, and the same piece counts as
 * the mount's plan), else a message saying what differs. */
int tokfs_shard_set_attach(const char *dest, const tokfs_config *cfg, const tokfs_tokenizer *tok,
                           const tokfs_layout *layout, const tokfs_plan *plan,
                           tokfs_shard_set **out, tokfs_err *err);

/* Every published shard's record: present[i] = 1 with recs[i] (arrays of plan->npieces): one
 * listing of records/, then each record read. Returns how many. */
int tokfs_shard_set_records(tokfs_shard_set *s, tokfs_set_record *recs, uint8_t *present);

/* Copy DEST's shard i into out (an empty file; out->reserve asked before it grows, out->cancel
 * honoured), checking size and checksum against rec: 0, or a negative errno (a checksum that
 * disagrees is logged and is -EIO: the caller makes the shard from its sources instead). */
int tokfs_shard_set_copy(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                         const tokfs_set_record *rec, const tokfs_build_output *out,
                         tokfs_err *err);

/* Publish shard i from fd (a complete cache file of rec->bytes bytes) into DEST, then its record
 * (shared_write=1). Two nodes publishing the same shard at once both rename a complete,
 * identical file. */
int tokfs_shard_set_publish_fd(tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i, int fd,
                               const tokfs_set_record *rec, tokfs_err *err);

#endif
