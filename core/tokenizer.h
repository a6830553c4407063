/* tokfs — the tokenizer interface. A tokenizer turns one document's bytes into token ids.
 *
 * The shard builder calls it once per document (or, for a tokenizer that says it can stream,
 * once per chunk of a document) and adds the end-of-text id itself. Tokenizers that work on
 * text (text_based = 1) receive UTF-8 already repaired (invalid sequences → U+FFFD). */
#ifndef TOKFS_TOKENIZER_H
#define TOKFS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Where ids go: the shard writer. Returns 0 or a negative errno (stops the encoding). */
typedef struct tokfs_id_sink {
    int (*put)(void *ctx, const uint32_t *ids, size_t n);
    void *ctx;
} tokfs_id_sink;

typedef struct tokfs_tokenizer tokfs_tokenizer;

struct tokfs_tokenizer {
    const char *name;          /* as in the tokenizer= option */
    uint32_t vocab_size;       /* number of ids, end-of-text included */
    uint32_t eot_id;           /* appended after every document */
    int text_based;            /* 1: input must be valid UTF-8 (repaired before encode) */
    int streamable;            /* 1: a document may be fed in chunks cut anywhere */
    double bytes_per_token;    /* planning estimate of source bytes per token */
    /* Encode bytes (a whole document, or a chunk of one when streamable) into sink. */
    int (*encode)(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                  const tokfs_id_sink *sink);
    void (*destroy)(tokfs_tokenizer *tok);
};

/* Create the tokenizer named by the tokenizer= option. */
int tokfs_tokenizer_open(const char *name, tokfs_tokenizer **out, tokfs_err *err);
void tokfs_tokenizer_close(tokfs_tokenizer *tok);

/* Bytes per stored id: 2 when every id fits in uint16, else 4. */
static inline unsigned tokfs_tokenizer_id_bytes(const tokfs_tokenizer *tok)
{
    return tok->vocab_size <= 65536 ? 2 : 4;
}

#endif
