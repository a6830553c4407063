/* The tokenizer.json loader on arbitrary files (normalizers, pre-tokenizers, BPE over bytes or
 * characters, Unigram, WordPiece, added tokens); when one loads, encode a short text with special
 * tokens as text and as matches, and check the ids are below the vocabulary size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tokenize/tok_bpe_internal.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    for (int match = 0; match < 2; match++) {
        tokfs_tokenizer *tok = NULL;
        tokfs_err err = {{0}};
        tokfs_tokenizer_opts o = {.name = path, .eot_optional = 1, .match_special = match};
        if (tokfs_tok_hf_open(&o, &tok, &err) == 0) {
            static const char text[] = "Hello, world! 123 \xe6\x97\xa5\xe6\x9c\xac  x <s>\t\n"
                                       "\xe2\x96\x81" "caf\xc3\xa9 \xc3\x85\xef\xac\x81 [UNK]";
            tokfs_id_sink sink = {fuzz_check_ids, tok};
            int rc = tok->encode(tok, (const uint8_t *)text, sizeof text - 1, &sink);
            if (rc && rc != -EIO) /* -EIO: a regex engine's match limit, reported as such */
                abort();
            tokfs_tokenizer_close(tok);
        } else if (!err.msg[0]) {
            abort();
        }
    }
    close(fd);
    return 0;
}
