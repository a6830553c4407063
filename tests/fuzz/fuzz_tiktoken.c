/* The .tiktoken loader on arbitrary files; when one loads, encoding a short text must work. */
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
    tokfs_tokenizer *tok = NULL;
    tokfs_err err;
    if (tokfs_tok_tiktoken_open(path, "gpt2", "0", 0, &tok, &err) == 0) {
        static const char text[] = "Hello, world! 123 \xe6\x97\xa5\xe6\x9c\xac";
        tokfs_id_sink sink = {fuzz_check_ids, tok};
        if (tok->encode(tok, (const uint8_t *)text, sizeof text - 1, &sink))
            abort();
        tokfs_tokenizer_close(tok);
    } else if (!err.msg[0]) {
        abort(); /* every refusal carries a message */
    }
    close(fd);
    return 0;
}
