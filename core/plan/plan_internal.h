/* tokfs — inside core/plan: what plan.c asks of plan_tokens.c, the planning of pre-tokenized
 * sources (docs/pretokenized.md), kept in its own file so that text and token planning do not
 * interleave. */
#ifndef TOKFS_PLAN_INTERNAL_H
#define TOKFS_PLAN_INTERNAL_H

#include "plan/plan.h"

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

#endif
