/* tokfs — listing SOURCE (see list.h): one file or URL, a directory walk, an @LIST file (fetched,
 * parsed, relative entries resolved) or the hub's listing (hf.c). */
#include "source/list.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "source/format.h"
#include "source/hf.h"
#include "source/s3.h"

#define LIST_FILE_MAX_BYTES (64u << 20)
#define SAFE_URL_MAX 768 /* a redacted URL as it appears in messages */

void tokfs_listing_free(tokfs_listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    free(l->sizes);
    for (size_t i = 0; l->etags && i < l->count; i++)
        free(l->etags[i]);
    free(l->etags);
    memset(l, 0, sizeof *l);
}

/* Append a copy of name. */
static int listing_add(tokfs_listing *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->names, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        l->names = grown;
        l->cap = cap;
    }
    if (!(l->names[l->count] = strdup(name)))
        return -ENOMEM;
    l->count++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file below root whose name tokfs can read; hidden entries (".name") are skipped.
 * Iterative: a stack of directories still to visit, so depth does not use the C stack. */
static int list_directory(const char *root, tokfs_listing *out, tokfs_err *err)
{
    tokfs_listing pending = {0};
    int rc = listing_add(&pending, root);
    while (rc == 0 && pending.count) {
        char *dir_path = pending.names[--pending.count];
        DIR *dir = opendir(dir_path);
        if (!dir) {
            rc = tokfs_err_set(err, errno, "cannot read directory %s: %s", dir_path,
                               strerror(errno));
            free(dir_path);
            break;
        }
        struct dirent *entry;
        while (rc == 0 && (entry = readdir(dir))) {
            if (entry->d_name[0] == '.')
                continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name) >= (int)sizeof path) {
                rc = tokfs_err_set(err, ENAMETOOLONG, "path too long below %s", dir_path);
                break;
            }
            struct stat st;
            if (stat(path, &st) != 0)
                continue; /* dangling link */
            if (S_ISDIR(st.st_mode))
                rc = listing_add(&pending, path);
            else if (S_ISREG(st.st_mode) && tokfs_format_from_name(path))
                rc = listing_add(out, path);
        }
        closedir(dir);
        free(dir_path);
    }
    tokfs_listing_free(&pending);
    if (rc == 0 && out->count == 0)
        rc = tokfs_err_set(err, ENOENT,
                           "no .txt, .jsonl, .ndjson (or .zst/.gz of them), .parquet, or token "
                           ".bin/.npy files below %s: point SOURCE at a corpus",
                           root);
    if (rc == 0)
        qsort(out->names, out->count, sizeof *out->names, cmp_names);
    return rc;
}

/* One entry of a list at `list` (see tokfs_list_parse), appended to out. */
static int add_entry(tokfs_listing *out, const char *entry, const char *list, tokfs_err *err)
{
    if (!tokfs_url_is_local(entry) || entry[0] == '/')
        return listing_add(out, entry);
    if (tokfs_url_is_local(list)) {
        /* the list's directory: up to its last '/', else the current one */
        const char *slash = strrchr(list, '/');
        int dir_len = slash ? (int)(slash - list) : 1;
        char joined[PATH_MAX];
        if (snprintf(joined, sizeof joined, "%.*s/%s", dir_len, slash ? list : ".", entry) >=
            (int)sizeof joined)
            return tokfs_err_set(err, ENAMETOOLONG, "list entry path too long: %s", entry);
        return listing_add(out, joined);
    }
    /* "./" first: the entry is a path (RFC 3986, 4.2), so "a:b.jsonl" is no scheme "a:" and
     * "//x" no host */
    char ref[PATH_MAX + 2], *url = NULL;
    snprintf(ref, sizeof ref, "./%s", entry);
    tokfs_err why = {{0}};
    int rc = tokfs_url_resolve(list, ref, &url, &why);
    if (rc) {
        char safe[SAFE_URL_MAX];
        tokfs_url_redact(entry, safe, sizeof safe);
        return tokfs_err_set(err, -rc, "list entry %s: %s", safe, why.msg);
    }
    rc = listing_add(out, url);
    free(url);
    return rc;
}

int tokfs_list_parse(const char *text, const char *list, tokfs_listing *out, tokfs_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (const char *line = text; rc == 0 && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *start = line;
        line = eol ? eol + 1 : line + len;
        while (len && (*start == ' ' || *start == '\t' || *start == '\r')) {
            start++;
            len--;
        }
        while (len && (start[len - 1] == ' ' || start[len - 1] == '\t' || start[len - 1] == '\r'))
            len--;
        if (!len || start[0] == '#')
            continue;
        char entry[PATH_MAX], safe[SAFE_URL_MAX];
        if (len >= sizeof entry) {
            snprintf(entry, sizeof entry, "%.*s", (int)(sizeof entry - 1), start);
            tokfs_url_redact(entry, safe, sizeof safe);
            rc = tokfs_err_set(err, ENAMETOOLONG, "list entry too long: %.60s...", safe);
            break;
        }
        memcpy(entry, start, len);
        entry[len] = '\0';
        if (strchr(entry, '\t')) {
            tokfs_url_redact(entry, safe, sizeof safe);
            rc = tokfs_err_set(err, EINVAL, "list entry contains a tab: %s", safe);
        } else {
            rc = add_entry(out, entry, list, err);
        }
    }
    if (rc == -ENOMEM)
        tokfs_err_set(err, ENOMEM, "out of memory");
    if (rc)
        tokfs_listing_free(out);
    return rc;
}

int tokfs_list_source(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                      tokfs_err *err)
{
    const char *source = cfg->source;
    memset(out, 0, sizeof *out);
    if (tokfs_hf_is_source(source))
        return tokfs_hf_list(cfg, fetcher, out, err);
    if (tokfs_s3_is_source(source))
        return tokfs_s3_list(cfg, fetcher, out, err);
    int rc;
    if (source[0] == '@') {
        const char *list = source + 1;
        char *text = NULL;
        rc = tokfs_fetch_small(fetcher, list, LIST_FILE_MAX_BYTES, &text, NULL, err);
        if (rc == 0)
            rc = tokfs_list_parse(text, list, out, err);
        free(text);
        if (rc == 0 && out->count == 0) {
            char safe[SAFE_URL_MAX];
            tokfs_url_redact(list, safe, sizeof safe);
            rc = tokfs_err_set(err, ENOENT, "list %s names no sources: add one URL or path per line",
                               safe);
        }
    } else if (tokfs_url_is_local(source)) {
        struct stat st;
        if (stat(source, &st) != 0)
            rc = tokfs_err_set(err, errno, "cannot open SOURCE %s: %s", source, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = list_directory(source, out, err);
        else
            rc = listing_add(out, source);
    } else {
        rc = listing_add(out, source);
    }
    if (rc == -ENOMEM)
        tokfs_err_set(err, ENOMEM, "out of memory");
    if (rc)
        tokfs_listing_free(out);
    return rc;
}
