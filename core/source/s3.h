/* tokfs — S3 and S3-compatible object stores (AWS, MinIO, R2, GCS interop, Ceph) as SOURCE:
 * s3://BUCKET/PREFIX_OR_GLOB (docs/s3.md).
 *
 * The bucket is listed with ListObjectsV2 (continuation tokens followed), each object becomes a
 * source whose URL is its plain HTTP(S) address at the endpoint (path-style or virtual-hosted),
 * with the size and ETag the listing gave, so ranged reads are pinned by If-Match like any HTTP
 * source. Requests to the bucket's origin are signed with AWS Signature V4 by the fetcher
 * (fetch.h: tokfs_fetch_config.aws_*), from credentials that only ever live in memory. */
#ifndef TOKFS_S3_H
#define TOKFS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "source/fetch.h"
#include "source/list.h"

#define TOKFS_S3_DEFAULT_REGION "us-east-1"

/* 1 when SOURCE is an s3:// URL. */
int tokfs_s3_is_source(const char *source);

typedef struct tokfs_s3_ref {
    char bucket[64];      /* 3..63 characters: lowercase letters, digits, '.', '-' */
    char pattern[1024];   /* the key prefix or glob after "BUCKET/" ("" = the whole bucket) */
} tokfs_s3_ref;

/* Split s3://BUCKET[/PREFIX_OR_GLOB]. -EINVAL with a message naming SOURCE and the fix. */
int tokfs_s3_parse(const char *source, tokfs_s3_ref *ref, tokfs_err *err);

/* The bucket's base URL, no trailing slash: ENDPOINT/BUCKET (path-style) or
 * SCHEME://BUCKET.HOST (virtual-hosted), from cfg's s3_endpoint (default
 * https://s3.REGION.amazonaws.com), s3_region and s3_addressing (auto: virtual-hosted on
 * amazonaws.com when the bucket name allows it, path-style elsewhere). -EINVAL with a message
 * for an endpoint that is not http(s)://HOST[:PORT]. */
int tokfs_s3_bucket_url(const tokfs_config *cfg, const char *bucket, char *out, size_t size,
                        tokfs_err *err);

/* The signing settings of fc for cfg: credentials unless s3_anonymous or none are set, region,
 * and the origin of SOURCE's bucket, written to origin (nothing is signed elsewhere). No-op when
 * SOURCE is not s3://. The strings point into cfg and origin: tokfs_fetcher_new copies them. */
void tokfs_s3_fetch_config(const tokfs_config *cfg, tokfs_fetch_config *fc, char *origin,
                           size_t origin_size);

/* The same for the bucket of s3_url (s3://BUCKET/...), e.g. the shared tier's DEST. */
void tokfs_s3_fetch_config_for(const tokfs_config *cfg, const char *s3_url,
                               tokfs_fetch_config *fc, char *origin, size_t origin_size);

/* ListObjectsV2 of SOURCE's bucket under the pattern's literal prefix, every page; keeps the
 * keys the pattern selects (a glob: tokfs_hf_glob_match; a prefix: the key itself or the keys
 * below it as a directory) in a format tokfs reads. Fills names (object URLs), sizes and etags.
 * Errors name SOURCE and the fix (access denied: the credentials; no such bucket; nothing
 * matches). */
int tokfs_s3_list(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                  tokfs_err *err);

/* One object of a ListObjectsV2 page. */
typedef struct tokfs_s3_object {
    const char *key;      /* XML entities decoded */
    int64_t size;
    const char *etag;     /* as listed, quotes included ("" if none) */
} tokfs_s3_object;

/* Parse one ListObjectsV2 page: fn for each <Contents> in order (a non-zero return stops with
 * that value); *truncated and next_token (NUL-terminated, "" when absent) say whether to ask
 * for another page. An <Error> document gives -EIO with its Code and Message in err. 0,
 * fn's value, -EIO (malformed) or -ENOMEM. */
int tokfs_s3_parse_page(const char *xml, size_t len,
                        int (*fn)(void *ctx, const tokfs_s3_object *obj), void *ctx,
                        int *truncated, char *next_token, size_t token_size, tokfs_err *err);

/* ListObjectsV2 of every key of bucket under prefix, all pages: fn for each object in key order
 * (a non-zero return stops the listing with it). *pages (may be NULL): requests made. Errors as
 * tokfs_s3_list's. */
int tokfs_s3_list_prefix(const tokfs_config *cfg, tokfs_fetcher *fetcher, const char *bucket,
                         const char *prefix, int (*fn)(void *ctx, const tokfs_s3_object *obj),
                         void *ctx, size_t *pages, tokfs_err *err);


#endif
