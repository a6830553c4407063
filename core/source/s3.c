/* S3 and compatible stores as SOURCE (s3.h): parsing s3:// sources, the bucket's address at its
 * endpoint, the signing settings handed to the fetcher, and the ListObjectsV2 listing with its
 * small XML reader. */
#include "source/s3.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/utf8.h"
#include "source/format.h"
#include "source/hf.h" /* the glob rules are the hub's */

#define S3_PAGE_MAX_BYTES (32u << 20) /* a page of 1000 keys is ~0.3 MB; 1 KiB keys ~1.3 MB */
#define S3_MAX_PAGES 1000000          /* a billion keys: a listing that never ends is a bug */

int tokfs_s3_is_source(const char *source)
{
    return source && strncmp(source, "s3://", 5) == 0;
}

int tokfs_s3_parse(const char *source, tokfs_s3_ref *ref, tokfs_err *err)
{
    memset(ref, 0, sizeof *ref);
    if (!tokfs_s3_is_source(source))
        return tokfs_err_set(err, EINVAL, "%s is not an s3:// source", source);
    const char *b = source + 5, *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    if (blen == 0 || blen >= sizeof ref->bucket)
        return tokfs_err_set(err, EINVAL,
                             "SOURCE %s: no bucket name of 1 to 63 characters; write "
                             "s3://BUCKET/PREFIX or s3://BUCKET/GLOB", source);
    for (size_t i = 0; i < blen; i++) {
        char ch = b[i];
        /* DNS-style names, plus the legacy upper case and '_' some old buckets have */
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return tokfs_err_set(err, EINVAL,
                                 "SOURCE %s: '%c' cannot be in a bucket name (letters, digits, "
                                 "'.', '-', '_')", source, ch);
    }
    memcpy(ref->bucket, b, blen);
    const char *pattern = slash ? slash + 1 : "";
    if (strlen(pattern) >= sizeof ref->pattern)
        return tokfs_err_set(err, ENAMETOOLONG, "SOURCE %s: the key pattern is longer than %zu "
                                                "bytes", source, sizeof ref->pattern - 1);
    snprintf(ref->pattern, sizeof ref->pattern, "%s", pattern);
    return 0;
}

/* ---- the bucket's address ------------------------------------------------------------------ */

/* Split endpoint "http(s)://HOST[:PORT][/]" into scheme ("http"/"https") and host[:port]. */
static int split_endpoint(const char *endpoint, char *scheme, size_t ssize, char *host,
                          size_t hsize, tokfs_err *err)
{
    const char *rest;
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        snprintf(scheme, ssize, "https");
        rest = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        snprintf(scheme, ssize, "http");
        rest = endpoint + 7;
    } else {
        return tokfs_err_set(err, EINVAL,
                             "S3 endpoint %s is not http(s)://HOST[:PORT]: set s3_endpoint= or "
                             "AWS_ENDPOINT_URL to e.g. https://s3.us-east-1.amazonaws.com",
                             endpoint);
    }
    size_t n = strcspn(rest, "/?#");
    if (n == 0 || n >= hsize || memchr(rest, '@', n) ||
        (rest[n] && !(rest[n] == '/' && rest[n + 1] == '\0')))
        return tokfs_err_set(err, EINVAL,
                             "S3 endpoint %s must be http(s)://HOST[:PORT] with no path, "
                             "credentials or query (credentials come from AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY)", endpoint);
    memcpy(host, rest, n);
    host[n] = '\0';
    return 0;
}

/* A bucket name that can be the first label of a host name (virtual-hosted addressing; dots
 * would break TLS certificate matching of *.s3.amazonaws.com). */
static int dns_label_bucket(const char *bucket)
{
    for (const char *p = bucket; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return bucket[0] != '-';
}

static int host_is_aws(const char *host)
{
    size_t n = strcspn(host, ":");
    static const char suffix[] = "amazonaws.com";
    return n >= sizeof suffix - 1 && strncasecmp(host + n - (sizeof suffix - 1), suffix,
                                                 sizeof suffix - 1) == 0;
}

/* tokfs_s3_bucket_url, and *virtual_hosted: which addressing it chose. */
static int bucket_url(const tokfs_config *cfg, const char *bucket, char *out, size_t size,
                      int *virtual_hosted_out, tokfs_err *err)
{
    char endpoint[512];
    const char *region = cfg->s3_region && cfg->s3_region[0] ? cfg->s3_region
                                                             : TOKFS_S3_DEFAULT_REGION;
    if (cfg->s3_endpoint && cfg->s3_endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s", cfg->s3_endpoint);
    else
        snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", region);
    char scheme[8], host[400];
    int rc = split_endpoint(endpoint, scheme, sizeof scheme, host, sizeof host, err);
    if (rc)
        return rc;
    int virtual_hosted = cfg->s3_addressing == TOKFS_S3_VIRTUAL ||
                         (cfg->s3_addressing == TOKFS_S3_AUTO && host_is_aws(host) &&
                          dns_label_bucket(bucket));
    if (virtual_hosted && !dns_label_bucket(bucket))
        return tokfs_err_set(err, EINVAL,
                             "bucket %s cannot be addressed virtual-hosted (only lowercase "
                             "letters, digits and '-' fit a host name): use "
                             "s3_addressing=path", bucket);
    int n = virtual_hosted ? snprintf(out, size, "%s://%s.%s", scheme, bucket, host)
                           : snprintf(out, size, "%s://%s/%s", scheme, host, bucket);
    if (n < 0 || (size_t)n >= size)
        return tokfs_err_set(err, ENAMETOOLONG, "the URL of bucket %s is too long", bucket);
    *virtual_hosted_out = virtual_hosted;
    return 0;
}

int tokfs_s3_bucket_url(const tokfs_config *cfg, const char *bucket, char *out, size_t size,
                        tokfs_err *err)
{
    int virtual_hosted;
    return bucket_url(cfg, bucket, out, size, &virtual_hosted, err);
}

void tokfs_s3_fetch_config(const tokfs_config *cfg, tokfs_fetch_config *fc, char *origin,
                           size_t origin_size)
{
    tokfs_s3_fetch_config_for(cfg, cfg->source, fc, origin, origin_size);
}

void tokfs_s3_fetch_config_for(const tokfs_config *cfg, const char *s3_url,
                               tokfs_fetch_config *fc, char *origin, size_t origin_size)
{
    if (!tokfs_s3_is_source(s3_url))
        return;
    tokfs_s3_ref ref;
    if (tokfs_s3_parse(s3_url, &ref, NULL) != 0)
        return;
    if (cfg->s3_anonymous || !cfg->s3_access_key || !cfg->s3_access_key[0] ||
        !cfg->s3_secret_key)
        return; /* anonymous: a public bucket */
    if (tokfs_s3_bucket_url(cfg, ref.bucket, origin, origin_size, NULL) != 0)
        return;
    fc->aws_key = cfg->s3_access_key;
    fc->aws_secret = cfg->s3_secret_key;
    fc->aws_token = cfg->s3_session_token && cfg->s3_session_token[0] ? cfg->s3_session_token
                                                                      : NULL;
    fc->aws_region = cfg->s3_region && cfg->s3_region[0] ? cfg->s3_region
                                                         : TOKFS_S3_DEFAULT_REGION;
    fc->aws_origin = origin;
}

/* ---- reading a ListObjectsV2 page -------------------------------------------------------- */

/* The text of the first <tag>...</tag> in [p, end): *text and *len, or 0 when absent. An empty
 * element (<tag/>) is found with length 0. */
static int xml_element(const char *p, const char *end, const char *tag, const char **text,
                       size_t *len)
{
    size_t tl = strlen(tag);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < tl + 2)
            return 0;
        if (strncmp(lt + 1, tag, tl) == 0 && (lt[1 + tl] == '>' || lt[1 + tl] == '/' ||
                                               lt[1 + tl] == ' ')) {
            const char *gt = memchr(lt, '>', (size_t)(end - lt));
            if (!gt)
                return 0;
            if (gt[-1] == '/') { /* <tag/> */
                *text = gt + 1;
                *len = 0;
                return 1;
            }
            const char *body = gt + 1;
            for (const char *q = body; q < end;) {
                const char *close = memchr(q, '<', (size_t)(end - q));
                if (!close || (size_t)(end - close) < tl + 3)
                    return 0;
                if (close[1] == '/' && strncmp(close + 2, tag, tl) == 0 && close[2 + tl] == '>') {
                    *text = body;
                    *len = (size_t)(close - body);
                    return 1;
                }
                q = close + 1;
            }
            return 0;
        }
        p = lt + 1;
    }
    return 0;
}

/* Decode XML character data (the five entities and &#N; / &#xH;, CDATA not used by S3) into
 * out (room for len + 1: decoding never grows). -EIO on a malformed reference. */
static int xml_decode(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '&') {
            out[n++] = s[i];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        if (!semi)
            return -EIO;
        size_t rl = (size_t)(semi - (s + i)) + 1;
        static const struct { const char *ref; char ch; } named[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        int done = 0;
        for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
            if (rl == strlen(named[k].ref) && strncmp(s + i, named[k].ref, rl) == 0) {
                out[n++] = named[k].ch;
                done = 1;
            }
        if (!done) {
            if (rl < 4 || s[i + 1] != '#')
                return -EIO;
            char *stop;
            int hex = s[i + 2] == 'x' || s[i + 2] == 'X';
            unsigned long cp = strtoul(s + i + (hex ? 3 : 2), &stop, hex ? 16 : 10);
            if (stop != semi || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return -EIO;
            uint8_t enc[4];
            size_t el = tokfs_utf8_encode(enc, cp);
            if (el > rl)
                return -EIO; /* cannot happen: "&#N;" is at least as long as its UTF-8 */
            memcpy(out + n, enc, el);
            n += el;
        }
        i += rl - 1;
    }
    out[n] = '\0';
    return 0;
}

/* A decoded copy of element text (malloc'd) or NULL (no memory / malformed: *rc). */
static char *xml_copy(const char *text, size_t len, int *rc)
{
    char *s = malloc(len + 1);
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    if ((*rc = xml_decode(text, len, s)) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int tokfs_s3_parse_page(const char *xml, size_t len,
                        int (*fn)(void *ctx, const tokfs_s3_object *obj), void *ctx,
                        int *truncated, char *next_token, size_t token_size, tokfs_err *err)
{
    const char *end = xml + len, *text;
    size_t tl;
    *truncated = 0;
    if (token_size)
        next_token[0] = '\0';
    int rc = 0;
    if (xml_element(xml, end, "Error", &text, &tl)) {
        const char *code = "", *msg = "";
        size_t cl = 0, ml = 0;
        xml_element(text, text + tl, "Code", &code, &cl);
        xml_element(text, text + tl, "Message", &msg, &ml);
        return tokfs_err_set(err, EIO, "the store answered %.*s: %.*s", (int)(cl > 80 ? 80 : cl),
                             code, (int)(ml > 200 ? 200 : ml), msg);
    }
    const char *body;
    size_t body_len;
    if (!xml_element(xml, end, "ListBucketResult", &body, &body_len))
        return tokfs_err_set(err, EIO, "not a ListObjectsV2 answer (no <ListBucketResult>)");
    const char *p = body, *bend = body + body_len;
    const char *contents;
    size_t clen;
    while (rc == 0 && xml_element(p, bend, "Contents", &contents, &clen)) {
        const char *k, *s, *e;
        size_t kl, sl, el = 0;
        if (!xml_element(contents, contents + clen, "Key", &k, &kl) ||
            !xml_element(contents, contents + clen, "Size", &s, &sl))
            return tokfs_err_set(err, EIO, "a <Contents> without <Key> or <Size>");
        if (!xml_element(contents, contents + clen, "ETag", &e, &el))
            el = 0;
        char digits[24];
        if (sl == 0 || sl >= sizeof digits)
            return tokfs_err_set(err, EIO, "a <Size> that is not a byte count");
        memcpy(digits, s, sl);
        digits[sl] = '\0';
        char *stop;
        long long size = strtoll(digits, &stop, 10);
        if (*stop || size < 0)
            return tokfs_err_set(err, EIO, "a <Size> that is not a byte count: %s", digits);
        char *key = xml_copy(k, kl, &rc);
        char *etag = key ? xml_copy(el ? e : "", el, &rc) : NULL;
        if (key && etag) {
            tokfs_s3_object obj = {.key = key, .size = size, .etag = etag};
            rc = fn(ctx, &obj);
        } else if (rc == -EIO) {
            tokfs_err_set(err, EIO, "a <Key> or <ETag> with a malformed character reference");
        }
        free(key);
        free(etag);
        p = contents + clen;
    }
    if (rc)
        return rc;
    if (xml_element(body, bend, "IsTruncated", &text, &tl))
        *truncated = tl == 4 && strncmp(text, "true", 4) == 0;
    if (*truncated) {
        if (!xml_element(body, bend, "NextContinuationToken", &text, &tl) || tl == 0)
            return tokfs_err_set(err, EIO, "a truncated page without <NextContinuationToken>");
        if (tl >= token_size)
            return tokfs_err_set(err, EIO, "a continuation token longer than %zu bytes",
                                 token_size - 1);
        if (xml_decode(text, tl, next_token))
            return tokfs_err_set(err, EIO, "a malformed continuation token");
    }
    return 0;
}

/* ---- the listing ----------------------------------------------------------------------------- */

typedef struct s3_key {
    char *key, *etag;
    int64_t size;
} s3_key;

typedef struct s3_list_ctx {
    const tokfs_s3_ref *ref;
    int literal;          /* no glob: the key itself, or the keys below it as a directory */
    s3_key *keys;
    size_t count, cap;
    size_t listed;        /* keys the store returned */
    size_t other_format;  /* selected, but not in a format tokfs reads */
    char other_example[160];
} s3_list_ctx;

static int selected(const s3_list_ctx *c, const char *key)
{
    const char *pat = c->ref->pattern;
    if (!c->literal)
        return tokfs_hf_glob_match(pat, key);
    size_t n = strlen(pat);
    if (n == 0 || strcmp(key, pat) == 0)
        return 1;
    return strncmp(key, pat, n) == 0 && (pat[n - 1] == '/' || key[n] == '/');
}

static int on_object(void *ctx, const tokfs_s3_object *obj)
{
    s3_list_ctx *c = ctx;
    c->listed++;
    size_t kl = strlen(obj->key);
    if (kl == 0 || obj->key[kl - 1] == '/' || !selected(c, obj->key))
        return 0; /* a "folder" marker, or not asked for */
    /* The one key named exactly is taken whatever its name; the plan says if it cannot read it */
    if (strcmp(obj->key, c->ref->pattern) != 0 && !tokfs_format_from_name(obj->key)) {
        if (!c->other_format++)
            snprintf(c->other_example, sizeof c->other_example, "%s", obj->key);
        return 0;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        s3_key *grown = realloc(c->keys, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        c->keys = grown;
        c->cap = cap;
    }
    s3_key *k = &c->keys[c->count];
    k->size = obj->size;
    k->key = strdup(obj->key);
    k->etag = strdup(obj->etag);
    if (!k->key || !k->etag) {
        free(k->key);
        free(k->etag);
        return -ENOMEM;
    }
    c->count++;
    return 0;
}

/* The part of the pattern ListObjectsV2 can filter by: all of a literal, else the literal
 * directories before the first segment with a glob character. */
static void list_prefix(const s3_list_ctx *c, char *out, size_t size)
{
    const char *pat = c->ref->pattern;
    if (c->literal) {
        snprintf(out, size, "%s", pat);
        return;
    }
    size_t n = tokfs_hf_literal_dir(pat);
    snprintf(out, size, "%.*s%s", (int)n, pat, n ? "/" : "");
}

/* A failed listing request, as a message naming SOURCE and what to do. */
static int list_failure(const tokfs_config *cfg, int rc, const tokfs_err *ferr, tokfs_err *err)
{
    if (rc == -EACCES) {
        int signed_in = !cfg->s3_anonymous && cfg->s3_access_key && cfg->s3_access_key[0];
        return tokfs_err_set(err, EACCES,
                             signed_in ? "%s: the store denied access with AWS_ACCESS_KEY_ID: "
                                         "check the key, AWS_SECRET_ACCESS_KEY, "
                                         "AWS_SESSION_TOKEN, the region (AWS_REGION) and "
                                         "s3:ListBucket permission [%s]"
                                       : "%s: the store denied anonymous access: set "
                                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY [%s]",
                             cfg->source, ferr->msg);
    }
    if (rc == -ENOENT)
        return tokfs_err_set(err, ENOENT,
                             "%s: no such bucket at the endpoint (check the name, s3_endpoint= / "
                             "AWS_ENDPOINT_URL and s3_addressing=) [%s]", cfg->source, ferr->msg);
    return tokfs_err_set(err, -rc, "%s: %s", cfg->source, ferr->msg[0] ? ferr->msg : strerror(-rc));
}

static void ctx_free(s3_list_ctx *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free(c->keys[i].key);
        free(c->keys[i].etag);
    }
    free(c->keys);
}

int tokfs_s3_list_prefix(const tokfs_config *cfg, tokfs_fetcher *fetcher, const char *bucket,
                         const char *prefix, int (*fn)(void *ctx, const tokfs_s3_object *obj),
                         void *ctx, size_t *pages_out, tokfs_err *err)
{
    char base[600], qprefix[3 * 1024], token[2048], qtoken[3 * sizeof token];
    tokfs_err uerr = {{0}};
    int virtual_hosted;
    const char *what = cfg->source;
    int rc = bucket_url(cfg, bucket, base, sizeof base, &virtual_hosted, &uerr);
    if (rc)
        return tokfs_err_set(err, -rc, "%s: %s", what, uerr.msg);
    if (tokfs_url_quote(prefix, 0, qprefix, sizeof qprefix) != 0)
        return tokfs_err_set(err, ENAMETOOLONG, "%s: the key prefix is too long", what);
    token[0] = '\0';
    size_t pages = 0;
    for (;;) {
        /* Query parameters sorted by name and encoded as SigV4's canonical form has them: curl
         * signs the query string as written (docs/s3.md). */
        if (tokfs_url_quote(token, 0, qtoken, sizeof qtoken) != 0) {
            rc = tokfs_err_set(err, EIO, "%s: a continuation token too long", what);
            break;
        }
        char *url = NULL;
        /* Path-style lists GET /BUCKET?..., virtual-hosted GET /?... */
        if (asprintf(&url, "%s%s?%s%s%slist-type=2&prefix=%s", base, virtual_hosted ? "/" : "",
                     token[0] ? "continuation-token=" : "", token[0] ? qtoken : "",
                     token[0] ? "&" : "", qprefix) < 0) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        char *text = NULL;
        size_t len = 0;
        tokfs_err ferr = {{0}};
        rc = tokfs_fetch_small(fetcher, url, S3_PAGE_MAX_BYTES, &text, &len, &ferr);
        free(url);
        if (rc) {
            rc = list_failure(cfg, rc, &ferr, err);
            break;
        }
        int truncated = 0;
        tokfs_err perr = {{0}};
        rc = tokfs_s3_parse_page(text, len, fn, ctx, &truncated, token, sizeof token, &perr);
        free(text);
        pages++;
        if (rc == -ENOMEM) {
            tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        if (rc) {
            rc = tokfs_err_set(err, -rc, "%s: listing page %zu: %s", what, pages, perr.msg);
            break;
        }
        if (!truncated)
            break;
        if (pages >= S3_MAX_PAGES) {
            rc = tokfs_err_set(err, EIO, "%s: the listing did not end after %zu pages", what,
                               pages);
            break;
        }
    }
    if (pages_out)
        *pages_out = pages;
    return rc;
}

int tokfs_s3_list(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                  tokfs_err *err)
{
    memset(out, 0, sizeof *out);
    tokfs_s3_ref ref;
    int rc = tokfs_s3_parse(cfg->source, &ref, err);
    if (rc)
        return rc;
    char base[600];
    tokfs_err uerr = {{0}};
    if ((rc = tokfs_s3_bucket_url(cfg, ref.bucket, base, sizeof base, &uerr)) != 0)
        return tokfs_err_set(err, -rc, "%s: %s", cfg->source, uerr.msg);
    s3_list_ctx c = {.ref = &ref, .literal = !tokfs_hf_has_glob(ref.pattern)};
    char prefix[sizeof ref.pattern];
    list_prefix(&c, prefix, sizeof prefix);
    size_t pages = 0;
    rc = tokfs_s3_list_prefix(cfg, fetcher, ref.bucket, prefix, on_object, &c, &pages, err);
    const char *what = ref.pattern[0] ? ref.pattern : "(the whole bucket)";
    if (rc == 0 && c.count == 0) {
        if (c.other_format)
            rc = tokfs_err_set(err, ENOENT,
                               "%s: %zu object(s) match %s in bucket %s, none in a format tokfs "
                               "reads (e.g. %s); it reads .parquet, .txt, .jsonl, .ndjson, "
                               "those or .json compressed as .zst or .gz, and token ids in "
                               ".bin and .npy files",
                               cfg->source, c.other_format, what, ref.bucket, c.other_example);
        else
            rc = tokfs_err_set(err, ENOENT,
                               "%s: no object matches %s in bucket %s (%zu key(s) listed under "
                               "prefix '%s'); '*' stays within a '/' segment, '**' crosses them",
                               cfg->source, what, ref.bucket, c.listed, prefix);
    }
    if (rc == 0) {
        /* The store lists keys in byte order, as the plan wants them. */
        out->names = calloc(c.count, sizeof *out->names);
        out->sizes = calloc(c.count, sizeof *out->sizes);
        out->etags = calloc(c.count, sizeof *out->etags);
        out->cap = c.count;
        if (!out->names || !out->sizes || !out->etags)
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < c.count; i++) {
            size_t qsize = 3 * strlen(c.keys[i].key) + 1;
            char *q = malloc(qsize);
            if (!q || tokfs_url_quote(c.keys[i].key, 1, q, qsize) != 0 ||
                asprintf(&out->names[i], "%s/%s", base, q) < 0) {
                out->names[i] = NULL;
                rc = tokfs_err_set(err, ENOMEM, "out of memory");
            }
            free(q);
            out->sizes[i] = c.keys[i].size;
            out->etags[i] = c.keys[i].etag;
            c.keys[i].etag = NULL;
            out->count = i + 1;
        }
    }
    if (rc == 0)
        tokfs_log(TOKFS_LOG_INFO, "%s: %zu object(s) of bucket %s (%zu listed, %zu page(s)%s)",
                  cfg->source, out->count, ref.bucket, c.listed, pages,
                  c.other_format ? ", others in formats tokfs does not read" : "");
    ctx_free(&c);
    if (rc)
        tokfs_listing_free(out);
    return rc;
}
