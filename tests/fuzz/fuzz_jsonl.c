/* The JSON-lines field scanner on arbitrary lines: never reads out of bounds, never writes more
 * than len bytes, and a found string is never longer than the line. The first byte picks the
 * field name. */
#include <stdlib.h>
#include <string.h>

#include "decode/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *fields[] = {"text", "content", "t", "\xc3\xa9", ""};
    if (size < 1)
        return 0;
    const char *field = fields[data[0] % 5];
    data++;
    size--;
    uint8_t *line = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    uint8_t *out = malloc(size ? size : 1);
    memcpy(line, data, size);
    size_t out_len = 0;
    int rc = tokfs_jsonl_field(line, size, field, strlen(field), out, &out_len);
    if (rc == 0 && out_len > size)
        abort();
    free(line);
    free(out);
    return 0;
}
