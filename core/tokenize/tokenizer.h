/* tokfs — the tokenizer interface. A tokenizer turns one document's bytes into token ids.
 *
 * The shard builder's pool (core/tokenize/tokpool.c) calls it once per document, or per part of a long
 * document where cut() allows, and adds the end-of-text id itself. Tokenizers that work on text
 * (text_based = 1) receive UTF-8 already repaired (invalid sequences → U+FFFD). */
#ifndef TOKFS_TOKENIZER_H
#define TOKFS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* Where ids go: the shard writer. Returns 0 or a negative errno (stops the encoding). */
typedef struct tokfs_id_sink {
    int (*put)(void *ctx, const uint32_t *ids, size_t n);
    void *ctx;
} tokfs_id_sink;

typedef struct tokfs_tokenizer tokfs_tokenizer;

struct tokfs_tokenizer {
    const char *name;          /* as in the tokenizer= option */
    const char *kind;          /* the family of files: "bytes", "tiktoken", "huggingface",
                                * "sentencepiece" or "tekken" (dataset_metadata.json) */
    const char *model;         /* how ids are made: "bytes", "bpe-byte-level", "bpe" (over
                                * characters), "unigram" or "wordpiece" */
    uint64_t fingerprint;      /* hash of everything that decides the ids (vocabulary, pattern,
                                * end-of-text): part of the plan identity, so a changed tokenizer
                                * file never serves shards made with the old one */
    uint32_t vocab_size;       /* number of ids, end-of-text included */
    uint32_t eot_id;           /* appended after every document */
    int text_based;            /* 1: input must be valid UTF-8 (repaired before encode) */
    double bytes_per_token;    /* planning estimate of source bytes per token */
    /* Encode bytes (a whole document, or a part of one that cut() gave) into sink. */
    int (*encode)(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                  const tokfs_id_sink *sink);
    /* NULL, or: the first position i >= from where a document may be split into text[0..i)
     * and text[i..len), each encoded on its own, with exactly the ids of the whole (len when
     * there is none). Lets one long document be tokenized on several threads. */
    size_t (*cut)(const tokfs_tokenizer *tok, const uint8_t *text, size_t len, size_t from);
    /* The bytes of token id (NULL for an id with no bytes, such as a special token). */
    const uint8_t *(*token_bytes)(const tokfs_tokenizer *tok, uint32_t id, size_t *len);
    /* The tokenizer as a file a trainer can load, served at the mount root: its name
     * ("tokenizer.json", "tokenizer.model", "tekken.json"; NULL: none) and a function that
     * appends its bytes to out (0 or a negative errno). */
    const char *file_name;
    int (*file_bytes)(const tokfs_tokenizer *tok, tokfs_buf *out);
    void (*destroy)(tokfs_tokenizer *tok);
};

/* What tokfs_tokenizer_open_opts is asked for: the options tokenizer=, pattern=, eot= and
 * special_tokens=, parsed once (core/common/config.c) and passed down. */
typedef struct tokfs_tokenizer_opts {
    const char *name;    /* tokenizer=: "bytes", "gpt2", PATH.tiktoken, PATH/tokenizer.json,
                          * PATH.model (SentencePiece) or PATH/tekken.json */
    const char *pattern; /* pattern= for a .tiktoken file; NULL: from the file name */
    const char *eot;     /* eot= (an id or a token's text); NULL: the tokenizer's own */
    int eot_optional;    /* 1: a tokenizer without an end-of-text token opens anyway, eot_id is
                          * then TOKFS_NO_EOT (tokfs encode needs none; a mount does) */
    int match_special;   /* special_tokens=match: special added tokens in the text become their
                          * ids, as Hugging Face's encode does by default. 0 (special_tokens=text,
                          * the default): they are ordinary text, as tiktoken's encode_ordinary —
                          * training data must not inject control tokens */
    const char *image_dir; /* where tables built from a large tokenizer.json are saved and mapped
                            * back on the next load of the same file (tokenizer_cache=; see
                            * tokfs_tokenizer_cache_dir); NULL: always built from the file */
} tokfs_tokenizer_opts;

#define TOKFS_NO_EOT UINT32_MAX

/* Create the tokenizer of the options:
 *   "bytes"                  id = byte value, end-of-text 256
 *   "gpt2"                   the embedded GPT-2 vocabulary (no file, no network)
 *   PATH ending in .tiktoken tiktoken ranks; pattern from the file name when it is gpt2,
 *                            r50k_base, p50k_base, cl100k_base or o200k_base, else required
 *   PATH to a tokenizer.json Hugging Face tokenizers: normalizers, pre-tokenizers, BPE (byte-level
 *                            or character-level with byte fallback), Unigram, WordPiece, added
 *                            tokens; what is not supported is refused, naming the feature
 *   PATH ending in .model    a SentencePiece model (BPE or Unigram)
 *   PATH ending in tekken.json  Mistral's tekken (tiktoken-style ranks after the special tokens)
 * The message of a failure names the file or feature and what to do. */
int tokfs_tokenizer_open_opts(const tokfs_tokenizer_opts *opts, tokfs_tokenizer **out,
                              tokfs_err *err);
/* The same with an end-of-text token required and special tokens as text. */
int tokfs_tokenizer_open(const char *name, const char *pattern, const char *eot,
                         tokfs_tokenizer **out, tokfs_err *err);
void tokfs_tokenizer_close(tokfs_tokenizer *tok);

/* Bytes per stored id: 2 when every id fits in uint16, else 4. */
static inline unsigned tokfs_tokenizer_id_bytes(const tokfs_tokenizer *tok)
{
    return tok->vocab_size <= 65536 ? 2 : 4;
}

#endif
