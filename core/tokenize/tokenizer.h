/* tokfs — the tokenizer interface. A tokenizer turns one document's bytes into token ids.
 *
 * The shard builder's pool (core/tokenize/tokpool.c) calls it once per document, or per part of a long
 * document where cut() allows, and adds the end-of-text id itself. Tokenizers that work on text
 * (text_based = 1) receive UTF-8 already repaired (invalid sequences → U+FFFD). */
#ifndef TOKFS_TOKENIZER_H
#define TOKFS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Where ids go: the shard writer. Returns 0 or a negative errno (stops the encoding). */
typedef struct tokfs_id_sink {
    int (*put)(void *ctx, const uint32_t *ids, size_t n);
    void *ctx;
} tokfs_id_sink;

typedef struct tokfs_tokenizer tokfs_tokenizer;

struct tokfs_tokenizer {
    const char *name;          /* as in the tokenizer= option */
    const char *kind;          /* "bytes", "tiktoken" or "huggingface" (dataset_metadata.json) */
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
    void (*destroy)(tokfs_tokenizer *tok);
};

/* Create the tokenizer of the options tokenizer=NAME, pattern=PATTERN (NULL: from the name)
 * and eot=EOT (an id or a special token's text; NULL: the tokenizer's own end-of-text):
 *   "bytes"                  id = byte value, end-of-text 256
 *   "gpt2"                   the embedded GPT-2 vocabulary (no file, no network)
 *   PATH ending in .tiktoken tiktoken ranks; pattern from the file name when it is gpt2,
 *                            r50k_base, p50k_base, cl100k_base or o200k_base, else required
 *   PATH to a tokenizer.json Hugging Face BPE (byte-level); unsupported features are refused
 * The message of a failure names the file or feature and what to do. */
int tokfs_tokenizer_open(const char *name, const char *pattern, const char *eot,
                         tokfs_tokenizer **out, tokfs_err *err);
void tokfs_tokenizer_close(tokfs_tokenizer *tok);

/* Bytes per stored id: 2 when every id fits in uint16, else 4. */
static inline unsigned tokfs_tokenizer_id_bytes(const tokfs_tokenizer *tok)
{
    return tok->vocab_size <= 65536 ? 2 : 4;
}

#endif
