/* tokfs — internal: the rank tokenizers (tiktoken files, the embedded GPT-2, Mistral's tekken.json)
 * share one pipeline: one pre-tokenizer regex → byte-level BPE with tiktoken's rules. (Hugging Face
 * tokenizer.json files have their own pipeline, tok_hf.c.) */
#ifndef TOKFS_TOK_BPE_H
#define TOKFS_TOK_BPE_H

#include "tokenize/bpe_internal.h"
#include "tokenize/pretok_internal.h"
#include "tokenize/tokenizer.h"

typedef struct tok_bpe {
    tokfs_tokenizer base;
    char *name;
    tokfs_bpe *bpe;
    tokfs_pretok re;         /* the pre-tokenizer (set up when has_re) */
    int has_re;
    char *eot_text;          /* the end-of-text token's text, for decoding (never matched) */
    uint8_t *orig_file;      /* the tokenizer file as read, served at the mount root as
                              * base.file_name (tekken.json); NULL: a tokenizer.json is generated */
    size_t orig_len;
} tok_bpe;

/* Allocate a tok_bpe with the shared encode/destroy/token_bytes functions set. */
tok_bpe *tokfs_tok_bpe_new(const char *name, const char *kind);
void tokfs_tok_bpe_free(tok_bpe *t);

/* tokenizer=PATH.tiktoken or the embedded gpt2. */
int tokfs_tok_tiktoken_open(const char *name, const char *pattern, const char *eot,
                            int eot_optional, tokfs_tokenizer **out, tokfs_err *err);
/* tokenizer=PATH to a tokenizer.json (tok_hf.c). */
int tokfs_tok_hf_open(const tokfs_tokenizer_opts *opts, tokfs_tokenizer **out, tokfs_err *err);

/* A Hugging Face tokenizer.json giving the same ids as this rank tokenizer (tok_export.c). */
int tokfs_tok_bpe_export_json(const tok_bpe *t, tokfs_buf *out);

/* Read a whole local file (at most max bytes) into a malloc'd buffer. */
int tokfs_read_file(const char *path, size_t max, uint8_t **data, size_t *len, tokfs_err *err);

#endif
