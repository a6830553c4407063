/* tokfs — listing SOURCE: the sources it names, in order, before anything is stat'ed.
 *
 *   one file or URL          itself
 *   a local directory        every regular file below it that tokfs reads (tokfs_format_from_name),
 *                            hidden entries skipped, in path order
 *   @LIST                    a local file or URL, one source per line (tokfs_list_parse); relative
 *                            entries are relative to where the list is
 *   hf://datasets/...        the hub's listing (hf.c), which also gives every file's size
 *   s3://BUCKET/...          ListObjectsV2 (s3.c), which also gives every object's size and ETag
 *
 * The plan (core/plan/) stats what is listed and cuts it into pieces. */
#ifndef TOKFS_LIST_H
#define TOKFS_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "source/fetch.h"

typedef struct tokfs_listing {
    char **names;    /* URLs and local paths, as the sources will be read */
    int64_t *sizes;  /* per name, from the hub's listing (no stat needed: see hf.h); NULL when
                      * every name must be stat'ed */
    char **etags;    /* per name, the ETag the listing gave (s3.h; "" when none), or NULL */
    size_t count;
    size_t cap;      /* slots allocated in names */
} tokfs_listing;

/* The sources cfg->source names (see above). Errors are one line naming SOURCE, the list or the
 * entry: a missing file or directory, a directory without a file tokfs reads, an empty list, a
 * list entry that is too long, holds a tab or does not resolve against the list's URL, and the
 * fetch and hub errors. */
int tokfs_list_source(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                      tokfs_err *err);

/* The entries of an @LIST file's text: one URL or path per line, '#' comments and blank lines
 * ignored, surrounding blanks trimmed. An entry that is an http(s):// or file:// URL or an
 * absolute path is taken as it is. A relative one is relative to `list`, where the list is: for
 * a local list (a path) it is joined to the list's directory; for a list read from a URL it is
 * resolved against that URL (RFC 3986, by curl: "a.jsonl" next to it, "../b/c.jsonl" above it).
 * 0, or -ENAMETOOLONG / -EINVAL with a message naming the entry; -ENOMEM. */
int tokfs_list_parse(const char *text, const char *list, tokfs_listing *out, tokfs_err *err);

void tokfs_listing_free(tokfs_listing *l);

#endif
