/* tokfs — internal: the WordPiece model (BERT's, as Hugging Face tokenizers encodes with it):
 * greedy longest match first, a continuing-subword prefix on every match after the first, and
 * the unk token for a word that is too long or cannot be covered. */
#ifndef TOKFS_WORDPIECE_H
#define TOKFS_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "tokenize/bpe_internal.h" /* tokfs_ids */

typedef struct tokfs_wordpiece tokfs_wordpiece;

/* A new, empty vocabulary; expected_tokens sizes the tables (0 is fine). NULL on ENOMEM. */
tokfs_wordpiece *tokfs_wordpiece_create(size_t expected_tokens);

/* Add token tok[0..len) with this id. -EEXIST when the token is already there, -EINVAL for an
 * empty token, one longer than 64 KiB or an id above 2^31; -ENOMEM. */
int tokfs_wordpiece_add(tokfs_wordpiece *w, const uint8_t *tok, size_t len, uint32_t id,
                        tokfs_err *err);

/* Done adding. unk_id: the id of the unk token (the caller checks that it is in the vocabulary:
 * Hugging Face fails an encode that needs a missing one). prefix: continuing_subword_prefix
 * (NULL: none). A word of more than max_input_chars_per_word characters is one unk. */
int tokfs_wordpiece_finish(tokfs_wordpiece *w, uint32_t unk_id, const char *prefix,
                           size_t max_input_chars_per_word, tokfs_err *err);

/* Append the ids of one word piece[0..len) to out: 0 or -ENOMEM. Thread-safe. */
int tokfs_wordpiece_encode(const tokfs_wordpiece *w, const uint8_t *piece, size_t len,
                           tokfs_ids *out);

void tokfs_wordpiece_destroy(tokfs_wordpiece *w);

#endif
