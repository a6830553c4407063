/* tokfs — reading source bytes: HTTP(S) through libcurl, file:// URLs and local paths.
 *
 * Every source is addressed by a string: "http://...", "https://...", "file:///abs/path" or a
 * local path. The same calls work for all of them, so the layers above never branch on where
 * bytes come from. */
#ifndef TOKFS_FETCH_H
#define TOKFS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "source/url.h" /* tokfs_url_is_http, tokfs_url_redact: what callers name sources with */

/* What the plan remembers about one source: enough to detect that it changed upstream. */
typedef struct tokfs_object_info {
    int64_t size;             /* bytes; -1 when the server does not say */
    char etag[160];           /* strong ETag as sent (quotes included), "" if none/weak */
    char last_modified[64];   /* HTTP-date as sent, "" if none; for local files: mtime in ns */
    int accepts_ranges;       /* 1 when ranged reads are possible (local files always) */
} tokfs_object_info;

typedef struct tokfs_fetch_config {
    int retries;              /* extra attempts after a failure (0 = try once) */
    int timeout_ms;           /* connect timeout, and abort a transfer that stalls this long
                                 (no byte received); 0 = no timeouts */
    int backoff_base_ms;      /* first retry delay; doubles each retry, with jitter */
    int insecure;             /* 1 disables TLS verification (off by default) */
    const char *bearer_token; /* sent as "Authorization: Bearer ..." when not NULL; never logged */
    const char *bearer_origin; /* when not NULL, the token goes only to URLs of this origin
                                * ("scheme://host[:port]", any path after it ignored): the same
                                * scheme, userinfo, host and port as written, as curl reads them
                                * (tokfs_url_same_origin); NULL = to every URL */
    /* AWS Signature V4 (S3 and compatible stores, s3.h): when aws_key is not NULL, requests to
     * URLs of aws_origin (required, same rule as bearer_origin) are signed for aws_region's
     * "s3" service with aws_key / aws_secret, and carry aws_token (may be NULL) as
     * x-amz-security-token. Copied by the fetcher; the secret and token are never logged. */
    const char *aws_key, *aws_secret, *aws_token, *aws_region, *aws_origin;
} tokfs_fetch_config;

/* A fetcher holds one connection (a CURL easy handle) for reuse. Not thread-safe: one per
 * thread. curl_global_init must have been called once by the program. */
typedef struct tokfs_fetcher tokfs_fetcher;

/* cfg is copied (the bearer token too), so it need not outlive the fetcher. cfg NULL means
 * 3 retries, 30 s timeout, 200 ms backoff. Returns NULL only when out of memory. */
tokfs_fetcher *tokfs_fetcher_new(const tokfs_fetch_config *cfg);
void tokfs_fetcher_free(tokfs_fetcher *f);
/* A new fetcher with f's configuration (its bearer token and origin too) and its own connection,
 * for another thread. NULL when out of memory. */
tokfs_fetcher *tokfs_fetcher_dup(const tokfs_fetcher *f);

/* Learn size, validators and range support of `url` without fetching content (HEAD for HTTP,
 * stat for files). Returns 0, -ENOENT (404/410 or no such file), -EACCES (401/403) or -EIO
 * (also for a directory); -EINVAL for a malformed or unsupported URL. err names the URL
 * (redacted) and the HTTP status. Retries transient failures (5xx, resets, timeouts) with
 * backoff. A server refusing HEAD (405/501) is asked with "Range: bytes=0-0" instead. */
int tokfs_fetch_stat(tokfs_fetcher *f, const char *url, tokfs_object_info *out, tokfs_err *err);

/* Called with consecutive chunks of the body. Return 0 to continue, 1 to stop early (not an
 * error), or a negative errno to abort (returned as is by tokfs_fetch_range). */
typedef int (*tokfs_fetch_cb)(void *ctx, const uint8_t *data, size_t len);

/* Stream bytes [begin, end) of `url` to cb (end = -1: to the end of the object).
 *
 * expect: the validators from the plan, or NULL. With it, HTTP requests carry If-Match (strong
 * ETag) or If-Unmodified-Since, and a local file whose size or mtime differ is refused: the
 * result is -ESTALE with a message saying the source changed upstream.
 * A server that ignores Range (200 instead of 206) is handled by discarding the bytes before
 * `begin`. A failure mid-body is retried (up to cfg->retries, exponential backoff with jitter)
 * by resuming at the first byte not yet delivered, so cb sees every byte exactly once and in
 * order. A body shorter than announced is a failure (retried), never silent truncation.
 * *fetched (may be NULL) is increased by the bytes received from the source: over the network,
 * retries, discarded bytes and error pages included; for local files, the bytes read.
 * A range reaching past the end of the object is -EIO (not retried); begin == end is 0 at once.
 * Returns 0 (all delivered or cb stopped), -ESTALE, -ENOENT, -EACCES, -EIO, -EINVAL (bad range
 * or URL), or cb's negative value. */
int tokfs_fetch_range(tokfs_fetcher *f, const char *url, const tokfs_object_info *expect,
                      int64_t begin, int64_t end, tokfs_fetch_cb cb, void *ctx,
                      uint64_t *fetched, tokfs_err *err);

/* Fetch a whole small object (a list file) into a malloc'd NUL-terminated buffer, refusing
 * objects larger than max_bytes (-EFBIG). Caller frees *out. */
int tokfs_fetch_small(tokfs_fetcher *f, const char *url, size_t max_bytes, char **out,
                      size_t *out_len, tokfs_err *err);

/* As tokfs_fetch_small, and copies the value of the response header `header` (case-insensitive
 * name, e.g. "Link") of the final response (after redirects) to header_value: "" when absent, or
 * when longer than header_size - 1 (never cut). Local sources have no headers. */
int tokfs_fetch_small_header(tokfs_fetcher *f, const char *url, size_t max_bytes, char **out,
                             size_t *out_len, const char *header, char *header_value,
                             size_t header_size, tokfs_err *err);

/* Upload: PUT the body to url, an object store's complete upload (S3 and compatible stores make
 * the object appear whole or not at all). The body is data (size bytes), or, when data is NULL,
 * size bytes read from fd at offset 0. Signed like any request to the S3 origin (payload
 * UNSIGNED-PAYLOAD); transient failures (5xx, resets) retried from the start with backoff.
 * Returns 0, -EACCES, -ENOENT (no such bucket), -EIO, -EINVAL (not http(s)). */
int tokfs_fetch_put(tokfs_fetcher *f, const char *url, const void *data, int fd, uint64_t size,
                    tokfs_err *err);

#endif
