/* tokfs — Hugging Face hub datasets as a SOURCE:
 *   hf://datasets/OWNER/NAME[@REVISION]/PATH_OR_GLOB
 *
 * Listing only: the hub's tree API names the files and their sizes; each selected file becomes
 * an ordinary HTTP source, {endpoint}/datasets/OWNER/NAME/resolve/COMMIT/PATH, which fetch.c
 * reads with range requests (following the hub's redirect to its CDN). REVISION (a branch, tag,
 * "refs/convert/parquet", "refs/pr/N" or a commit) is resolved once, at plan time, to its commit
 * id, and every URL names that commit: the bytes behind it never change, so the listing's sizes
 * are the sizes and no HEAD per file is needed (one HEAD in all checks access; see
 * docs/design.md, "Hugging Face hub"). */
#ifndef TOKFS_HF_H
#define TOKFS_HF_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "source/fetch.h"
#include "source/list.h"

#define TOKFS_HF_DEFAULT_ENDPOINT "https://huggingface.co"

typedef struct tokfs_hf_ref {
    char owner[128];
    char name[128];
    char revision[256]; /* percent-decoded: "main", "refs/convert/parquet", a commit id */
    char path[2048];    /* path or glob inside the repo, no leading or trailing '/'; "" = all */
} tokfs_hf_ref;

/* 1 if source is an hf:// URL (well formed or not: tokfs_hf_parse says). */
int tokfs_hf_is_source(const char *source);

/* Parse hf://datasets/OWNER/NAME[@REVISION][/PATH_OR_GLOB]. REVISION ends at the next '/', except
 * the literal forms refs/convert/parquet and refs/pr/N; it may also be percent-encoded
 * (refs%2Fconvert%2Fparquet). -EINVAL with a one-line message naming source and the form. */
int tokfs_hf_parse(const char *source, tokfs_hf_ref *ref, tokfs_err *err);

/* Glob match of a repo path, fnmatch-like with '/' as separator: '*' any run of characters but
 * '/', '?' one character but '/', [abc] [a-z] [!x] [^x] one character of a class (never '/'),
 * '\' quotes the next character; '**' any run including '/', and a whole segment of '**'
 * followed by '/' also matches no directory at all: "data/" "**" "/x.jsonl" (one pattern) matches
 * "data/x.jsonl" and "data/a/b/x.jsonl". Leading dots are not special. 1 on a match. */
int tokfs_hf_glob_match(const char *pattern, const char *path);

/* 1 if pattern has a glob character (* ? [ \). */
int tokfs_hf_has_glob(const char *pattern);

/* Length of the directory prefix of a glob before its first segment with a glob character
 * ("sample/10BT/" + "*.parquet" -> 11 for "sample/10BT"; 0 when the first segment has one). */
size_t tokfs_hf_literal_dir(const char *pattern);

/* The rel="next" URL of an HTTP Link header value, made absolute against base (the URL that
 * answered) by curl's URL API (tokfs_url_resolve). 1 when found (out filled), 0 when there is
 * none, -EINVAL when it is malformed, not http(s), or does not fit; -ENOMEM. */
int tokfs_hf_link_next(const char *link, const char *base, char *out, size_t out_size);

/* The endpoint tokfs uses: cfg->hf_endpoint without trailing '/', or the default. -EINVAL when it
 * is not an http(s) URL with a host that curl accepts, or has a query or fragment. */
int tokfs_hf_endpoint(const tokfs_config *cfg, char *out, size_t out_size, tokfs_err *err);

/* The files selected by cfg->source (an hf:// URL), in path order: resolve URLs pinned to the
 * revision's commit (out->names), and their sizes from the listing (out->sizes). Only formats
 * tokfs reads (tokfs_format_from_name) are kept. Errors are one line naming the source: a
 * malformed URL, no matching file, access denied (asks for HF_TOKEN), a missing dataset or
 * revision. Called by tokfs_list_source (list.h). */
int tokfs_hf_list(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                  tokfs_err *err);

#endif
