/* The SentencePiece .model reader (its own protobuf parser, normalizer spec, charsmap) on
 * arbitrary files; when one loads, encode a short text and check the ids are below the vocabulary
 * size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tokenize/tok_spm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    tokfs_tokenizer *tok = NULL;
    tokfs_err err = {{0}};
    if (tokfs_tok_spm_open(path, NULL, "0", &tok, &err) == 0) {
        static const char text[] = "Hello,  world! 123 \xe6\x97\xa5\xe6\x9c\xac\tx \xef\xac\x81\n";
        tokfs_id_sink sink = {fuzz_check_ids, tok};
        if (tok->encode(tok, (const uint8_t *)text, sizeof text - 1, &sink))
            abort();
        tokfs_tokenizer_close(tok);
    } else if (!err.msg[0]) {
        abort();
    }
    close(fd);
    return 0;
}
