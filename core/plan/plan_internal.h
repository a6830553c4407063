/* tokfs — inside core/plan: what plan.c asks of plan_tokens.c, the planning of pre-tokenized
 * sources (docs/pretokenized.md), kept in its own file so that text and token planning do not
 * interleave. */
#ifndef TOKFS_PLAN_INTERNAL_H
#define TOKFS_PLAN_INTERNAL_H

#include "plan/plan.h"
#include "source/fetch.h"

/* The listed sources (plan->sources[0..nsources), formats known) may form one mount: all text or
 * all token ids, and options that make sense for token ids. -EINVAL with a message naming a
 * source of each kind, or the option, when not. */
int tokfs_plan_tokens_check(const tokfs_config *cfg, const tokfs_plan *plan, tokfs_err *err);

/* A token source, stat'ed: learn where its ids start, their width and their count from its
 * header (one range request of its first bytes; for a compressed source, its stream decoded
 * from the start up to the header's end), or for a raw .bin from its size and src_dtype=. Fills
 * src->tok_header, tok_id_bytes, tok_count. Errors name the source. */
int tokfs_plan_tokens_read(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_source *src,
                           tokfs_err *err);

/* tokfs_plan_tokens_read for every source of a token plan (nothing for a text plan), on up to 8
 * connections at once (fetcher and duplicates of it); the error is the first failing source's,
 * in plan order. */
int tokfs_plan_tokens_read_all(const tokfs_config *cfg, tokfs_fetcher *fetcher,
                               tokfs_plan *plan, tokfs_err *err);

/* Cut a plan of token sources into pieces of shard_size ids (the last piece takes a tail under a
 * quarter piece), ignoring source boundaries: a piece may span sources and a document. Each
 * piece's source_bytes is its id count × bytes_per_token, so the cache's size estimate (bytes
 * / bytes_per_token × id width) is its exact size. *pieces is malloc'd. 0 or -ENOMEM. */
int tokfs_plan_tokens_cut(const tokfs_plan *plan, const tokfs_config *cfg,
                          double bytes_per_token, tokfs_piece **pieces, uint32_t *count);

/* ---- one step for every source, on several connections (plan_each.c) ------------------------ */

#define TOKFS_PLAN_EACH_MAX_THREADS 8

/* The step: source (or item) i, on this thread's connection. Called from several threads at
 * once: whatever fn gathers in ctx it guards itself. 0 or a negative errno with err set. */
typedef int (*tokfs_plan_each_fn)(void *ctx, tokfs_fetcher *fetcher, uint32_t i,
                                  tokfs_err *err);

/* fn for every i in [0, count), on up to `threads` connections (at most
 * TOKFS_PLAN_EACH_MAX_THREADS): fetcher on this thread, duplicates of it on the others (fewer if
 * they cannot be made). After a failure no index above it is started; the error returned is the
 * lowest failing index's, with its message in err (may be NULL). 0 or that negative errno. */
int tokfs_plan_each_source(tokfs_fetcher *fetcher, uint32_t count, uint32_t threads,
                           tokfs_plan_each_fn fn, void *ctx, tokfs_err *err);

#endif
