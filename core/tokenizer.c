#include "tokenizer.h"

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

static void static_destroy(tokfs_tokenizer *tok) { (void)tok; }

static tokfs_tokenizer bytes_tokenizer = {
    .name = "bytes",
    .vocab_size = 257,
    .eot_id = 256,
    .text_based = 0,
    .streamable = 1,
    .bytes_per_token = 1.0,
    .encode = bytes_encode,
    .destroy = static_destroy,
};

int tokfs_tokenizer_open(const char *name, tokfs_tokenizer **out, tokfs_err *err)
{
    if (strcmp(name, "bytes") == 0) {
        *out = &bytes_tokenizer;
        return 0;
    }
    return tokfs_err_set(err, EINVAL, "unknown tokenizer=%s: this build supports tokenizer=bytes",
                         name);
}

void tokfs_tokenizer_close(tokfs_tokenizer *tok)
{
    if (tok && tok->destroy)
        tok->destroy(tok);
}
