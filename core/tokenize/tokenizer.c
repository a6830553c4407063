/* The tokenizer interface's front: choosing an implementation from tokenizer=NAME (gpt2,
 * bytes, .tiktoken, tokenizer.json) and tokenizer=bytes itself. */
#include "tokenize/tokenizer.h"

#include "tokenize/tok_bpe_internal.h"
#include "tokenize/tok_spm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* tokenizer=bytes: id = byte value, end-of-text = 256. Raw bytes are kept as they are (no UTF-8
 * repair), so the stream round-trips the source exactly. */
static int bytes_encode(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                        const tokfs_id_sink *sink)
{
    (void)tok;
    uint32_t ids[4096];
    while (len) {
        size_t n = len < 4096 ? len : 4096;
        for (size_t i = 0; i < n; i++)
            ids[i] = text[i];
        int rc = sink->put(sink->ctx, ids, n);
        if (rc)
            return rc;
        text += n;
        len -= n;
    }
    return 0;
}

static const uint8_t *bytes_token_bytes(const tokfs_tokenizer *tok, uint32_t id, size_t *len)
{
    static const uint8_t all[257] = {
#define B4(n) n, n + 1, n + 2, n + 3
#define B16(n) B4(n), B4(n + 4), B4(n + 8), B4(n + 12)
#define B64(n) B16(n), B16(n + 16), B16(n + 32), B16(n + 48)
        B64(0), B64(64), B64(128), B64(192),
    };
    (void)tok;
    if (id > 255)
        return NULL;
    *len = 1;
    return all + id;
}

/* One id per byte: a document may be cut anywhere. */
static size_t bytes_cut(const tokfs_tokenizer *tok, const uint8_t *text, size_t len, size_t from)
{
    (void)tok;
    (void)text;
    return from < len ? from : len;
}

static void static_destroy(tokfs_tokenizer *tok) { (void)tok; }

static tokfs_tokenizer bytes_tokenizer = {
    .name = "bytes",
    .kind = "bytes",
    .model = "bytes",
    .fingerprint = 0x6279746573ull,
    .vocab_size = 257,
    .eot_id = 256,
    .text_based = 0,
    .bytes_per_token = 1.0,
    .encode = bytes_encode,
    .token_bytes = bytes_token_bytes,
    .cut = bytes_cut,
    .destroy = static_destroy,
};

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int tokfs_tokenizer_open_opts(const tokfs_tokenizer_opts *o, tokfs_tokenizer **out,
                              tokfs_err *err)
{
    const char *name = o->name;
    if (strcmp(name, "bytes") == 0) {
        if (o->pattern || o->eot)
            return tokfs_err_set(err, EINVAL, "tokenizer=bytes takes no %s= option",
                                 o->pattern ? "pattern" : "eot");
        *out = &bytes_tokenizer;
        return 0;
    }
    if (strcmp(name, "gpt2") == 0 || has_suffix(name, ".tiktoken"))
        return tokfs_tok_tiktoken_open(name, o->pattern, o->eot, o->eot_optional, out, err);
    if (has_suffix(name, ".model"))
        return tokfs_tok_spm_open(name, o->pattern, o->eot, out, err);
    if (has_suffix(name, ".json") && strstr(strrchr(name, '/') ? strrchr(name, '/') : name,
                                            "tekken"))
        return tokfs_tok_tekken_open(name, o->pattern, o->eot, out, err);
    if (strchr(name, '/') || has_suffix(name, ".json"))
        return tokfs_tok_hf_open(o, out, err);
    return tokfs_err_set(err, EINVAL, "unknown tokenizer=%s: give gpt2, bytes, a PATH.tiktoken "
                         "rank file, a PATH to a Hugging Face tokenizer.json, a SentencePiece "
                         "PATH.model or a Mistral PATH/tekken.json", name);
}

int tokfs_tokenizer_open(const char *name, const char *pattern, const char *eot,
                         tokfs_tokenizer **out, tokfs_err *err)
{
    tokfs_tokenizer_opts o = {.name = name, .pattern = pattern, .eot = eot};
    return tokfs_tokenizer_open_opts(&o, out, err);
}

void tokfs_tokenizer_close(tokfs_tokenizer *tok)
{
    if (tok && tok->destroy)
        tok->destroy(tok);
}
