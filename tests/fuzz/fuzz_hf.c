/* hf:// sources and the hub's answers: tokfs_hf_parse on the input as a SOURCE, the glob matcher
 * (pattern and path split at the first newline), Link header parsing and resolution, and
 * percent-encoding. Nothing crashes; accepted sources satisfy what the listing relies on. */
#include <stdlib.h>
#include <string.h>

#include "source/hf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;

    tokfs_hf_ref ref;
    tokfs_err err;
    if (tokfs_hf_parse(text, &ref, &err) == 0) {
        /* what tokfs_hf_list builds URLs from: valid names, no '.'/'..'/empty segments */
        if (!ref.owner[0] || !ref.name[0] || !ref.revision[0] || ref.path[0] == '/' ||
            strstr(ref.path, "//") || (ref.path[0] && ref.path[strlen(ref.path) - 1] == '/'))
            abort();
        size_t dir = tokfs_hf_literal_dir(ref.path);
        if (dir > strlen(ref.path) || (dir && ref.path[dir] != '/'))
            abort();
    }

    char *nl = strchr(text, '\n');
    const char *pattern = text, *path = nl ? nl + 1 : text;
    if (nl)
        *nl = 0;
    int m = tokfs_hf_glob_match(pattern, path);
    if (!tokfs_hf_has_glob(pattern) && m != (strcmp(pattern, path) == 0))
        abort(); /* a pattern without glob characters is the path itself */

    char out[4096];
    int rc = tokfs_hf_link_next(path, pattern[0] ? pattern : "https://h/a?b", out, sizeof out);
    if (rc == 1 && !tokfs_url_is_http(out))
        abort();
    char quoted[3 * 4096 + 1];
    if (strlen(path) < 4096 && tokfs_url_quote(path, 1, quoted, sizeof quoted) == 0 &&
        strspn(quoted, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/%") !=
            strlen(quoted))
        abort();
    free(text);
    return 0;
}
