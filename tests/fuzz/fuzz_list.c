/* @LIST files are outside data: any text parses or is refused with a message; every entry is a
 * non-empty string without a tab or a newline. The first byte picks where the list is: a local
 * directory (relative entries joined to it) or a URL (relative entries resolved by curl). */
#include <stdlib.h>
#include <string.h>

#include "source/list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *where = size && data[0] & 1 ? "https://u:p@h/lists/list.txt?x=1"
                                            : "/data/lists/list.txt";
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0; /* a list is text: it ends at its first NUL */
    tokfs_listing l;
    tokfs_err err;
    err.msg[0] = 0;
    if (tokfs_list_parse(text, where, &l, &err) == 0) {
        for (size_t i = 0; i < l.count; i++)
            if (!l.names[i][0] || strchr(l.names[i], '\t') || strchr(l.names[i], '\n'))
                abort();
        tokfs_listing_free(&l);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        abort();
    }
    free(text);
    return 0;
}
