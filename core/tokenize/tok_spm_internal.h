/* tokfs — internal: the loaders of tokenizer=PATH/tekken.json (Mistral's tiktoken-style file)
 * and tokenizer=PATH/tokenizer.model (a SentencePiece ModelProto). */
#ifndef TOKFS_TOK_SPM_H
#define TOKFS_TOK_SPM_H

#include "tokenize/tokenizer.h"

/* tokenizer=PATH to a Mistral tekken.json: tiktoken BPE over the vocabulary's first
 * default_vocab_size - default_num_special_tokens ranks, ids = rank + num_special_tokens, the
 * special tokens below them (never matched in text). End-of-text: "</s>" unless eot= (an id or
 * a special token's text). pattern= is refused (the file has its own). */
int tokfs_tok_tekken_open(const char *path, const char *pattern, const char *eot,
                          tokfs_tokenizer **out, tokfs_err *err);

/* tokenizer=PATH to a SentencePiece .model. End-of-text: the model's eos piece unless eot= (an
 * id or a piece). pattern= is refused. */
int tokfs_tok_spm_open(const char *path, const char *pattern, const char *eot,
                       tokfs_tokenizer **out, tokfs_err *err);

#endif
