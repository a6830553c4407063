/* tokfs — Hugging Face tokenizers' pre-tokenizers (a tokenizer.json "pre_tokenizer"), exactly as
 * the reference cuts text: Split (String and Regex patterns, every SplitDelimiterBehavior,
 * invert), Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer,
 * CharDelimiterSplit, FixedLength, ByteLevel and Sequence (nested too). Anything else is refused.
 *
 * ByteLevel maps bytes to characters in the reference; tokfs keeps raw bytes (the byte-level
 * vocabulary is decoded to bytes instead), so ByteLevel here only splits, and no stage may follow
 * it (on the mapped characters it could cut differently). */
#ifndef TOKFS_PRETOK_HF_H
#define TOKFS_PRETOK_HF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "tokenize/pretok_internal.h"

typedef struct tokfs_pre tokfs_pre;

/* spec: the tokenizer.json "pre_tokenizer" value. NULL or JSON null → *out = NULL (the whole
 * text is one piece). path names the file in error messages. An unknown type is refused
 * (-ENOTSUP, naming it); a malformed one, as the reference refuses to load it, is -EINVAL. */
int tokfs_pre_from_json(const char *path, json_t *spec, tokfs_pre **out, tokfs_err *err);

/* 1 when a ByteLevel stage is present: the model's vocabulary is in GPT-2's byte-level alphabet
 * and pieces are handed to it as raw bytes (the byte→char mapping is implicit). */
int tokfs_pre_byte_level(const tokfs_pre *p);

/* Pieces of text[0..len) in order (piece memory valid during the callback only; never empty).
 * Returns 0 or emit's non-zero value / -ENOMEM / -EIO (regex engine limit). Thread-safe. The
 * text is taken to start the document (see tokfs_pre_split_at). */
int tokfs_pre_split(const tokfs_pre *p, const uint8_t *text, size_t len, tokfs_piece_fn emit,
                    void *ctx);

/* As tokfs_pre_split, for text that starts the document (at_start 1) or not (0: a segment after
 * an added token). Only Metaspace with prepend_scheme "first" tells them apart: the reference
 * prepends the replacement only to a piece at offset 0 of the original text. */
int tokfs_pre_split_at(const tokfs_pre *p, const uint8_t *text, size_t len, int at_start,
                       tokfs_piece_fn emit, void *ctx);

/* First i >= from where text may be split in two and each half pre-tokenized on its own giving
 * the same pieces (len when unknown/none). The second half is then split with at_start 0. */
size_t tokfs_pre_cut(const tokfs_pre *p, const uint8_t *text, size_t len, size_t from);

void tokfs_pre_free(tokfs_pre *p);

#endif
