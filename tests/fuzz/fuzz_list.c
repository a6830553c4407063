/* @LIST files are outside data: any text parses or is refused with a message; every entry is a
 * non-empty string without a tab or a newline. */
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0; /* a list is text: it ends at its first NUL */
    char **entries = NULL;
    size_t count = 0;
    tokfs_err err;
    err.msg[0] = 0;
    if (tokfs_plan_parse_list(text, "/data/lists", &entries, &count, &err) == 0) {
        for (size_t i = 0; i < count; i++) {
            if (!entries[i][0] || strchr(entries[i], '\t') || strchr(entries[i], '\n'))
                abort();
            free(entries[i]);
        }
        free(entries);
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
