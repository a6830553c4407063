/* tokfs — internal: the Unigram model (SentencePiece's, as Hugging Face tokenizers encodes with
 * it): pieces with scores, the best-scoring segmentation of a piece (Viterbi), unknown characters
 * as unk nodes fused into one, and byte fallback for what stays unknown. */
#ifndef TOKFS_UNIGRAM_H
#define TOKFS_UNIGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "tokenize/bpe_internal.h" /* tokfs_ids */

typedef struct tokfs_unigram tokfs_unigram;

/* A new, empty model; expected_pieces sizes the tables (0 is fine). NULL on ENOMEM. */
tokfs_unigram *tokfs_unigram_create(size_t expected_pieces);

/* Add piece[0..len) with its score and id (its index in the vocabulary list). A piece given again
 * takes the later id and score (Hugging Face's map from piece to id keeps the last); every score,
 * even an empty piece's (which never matches), counts for the minimum the unk score derives from.
 * -EINVAL for an id above 2^31 or a piece longer than 64 KiB; -ENOMEM. */
int tokfs_unigram_add(tokfs_unigram *u, const uint8_t *piece, size_t len, double score,
                      uint32_t id, tokfs_err *err);

/* Done adding. unk_id: the unk piece's id, or -1 for none (then a character no piece covers
 * makes the encode fail, as it does in Hugging Face); it must be an id that was added.
 * byte_fallback: an unknown run becomes its bytes as <0xNN> pieces when all of them exist. */
int tokfs_unigram_finish(tokfs_unigram *u, int64_t unk_id, int byte_fallback, tokfs_err *err);

/* Append the ids of piece[0..len) to out. 0, -ENOMEM, or -EILSEQ when the model has no unk and
 * the best path needs one (Hugging Face: "Encountered an unknown token but `unk_id` is
 * missing"). Thread-safe. */
int tokfs_unigram_encode(const tokfs_unigram *u, const uint8_t *piece, size_t len, tokfs_ids *out);

void tokfs_unigram_destroy(tokfs_unigram *u);

#endif
