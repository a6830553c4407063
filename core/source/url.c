/* tokfs — source strings (see url.h): http(s) or local, redacted for messages, file:// paths,
 * and relative resolution and origin comparison through curl's URL API. */
#include "source/url.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/hex.h"

#define SAFE_URL_MAX 768 /* a redacted URL as it appears in messages */

/* Length of the "scheme://" prefix of s (scheme = ALPHA *(ALPHA / DIGIT / "+" / "-" / "."), as
 * in RFC 3986), or 0 if s does not start with one. Anything else is taken for a local path. */
static size_t scheme_prefix_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    if (strncmp(s + i, "://", 3) != 0)
        return 0;
    return i + 3;
}

int tokfs_url_is_http(const char *s)
{
    return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

static int is_file_url(const char *s)
{
    return strncasecmp(s, "file://", 7) == 0;
}

int tokfs_url_is_local(const char *s)
{
    return s && !tokfs_url_is_http(s) && !is_file_url(s);
}

/* ---- redaction ------------------------------------------------------------------------------ */

/* Query parameters whose values are credentials. The last three are the signed-URL forms of
 * S3 and GCS; they are redacted too because presigned URLs show up in redirects. */
static int is_secret_param(const char *name, size_t len)
{
    static const char *const secret_names[] = {
        "token", "access_token", "signature", "sig",
        "x-amz-signature", "x-amz-security-token", "x-goog-signature",
    };
    for (size_t i = 0; i < sizeof secret_names / sizeof secret_names[0]; i++)
        if (strlen(secret_names[i]) == len && strncasecmp(name, secret_names[i], len) == 0)
            return 1;
    return 0;
}

/* The redacted url appended to b. Stops at the first failed append: what is in b then is
 * redacted text with parts missing, never a secret. */
static int redact_into(tokfs_buf *b, const char *url)
{
    size_t prefix = scheme_prefix_len(url);
    if (prefix == 0) /* a local path: nothing secret in it */
        return tokfs_buf_append(b, url, strlen(url));
    int rc = tokfs_buf_append(b, url, prefix);

    /* Authority ends at the first '/', '?' or '#' (RFC 3986); userinfo is what precedes its
     * last '@'. */
    const char *authority = url + prefix;
    size_t authority_len = strcspn(authority, "/?#");
    const char *host = authority;
    for (size_t i = 0; i < authority_len; i++)
        if (authority[i] == '@')
            host = authority + i + 1;
    if (rc == 0 && host != authority)
        rc = tokfs_buf_append(b, "***@", 4);
    if (rc == 0)
        rc = tokfs_buf_append(b, host, (size_t)(authority + authority_len - host));

    const char *rest = authority + authority_len;
    size_t path_len = strcspn(rest, "?#");
    if (rc == 0)
        rc = tokfs_buf_append(b, rest, path_len);
    rest += path_len;

    if (*rest == '?') {
        rest++;
        if (rc == 0)
            rc = tokfs_buf_append(b, "?", 1);
        while (rc == 0 && *rest && *rest != '#') {
            size_t param_len = strcspn(rest, "&#");
            size_t name_len = strcspn(rest, "=&#");
            if (name_len < param_len && is_secret_param(rest, name_len)) {
                rc = tokfs_buf_append(b, rest, name_len);
                if (rc == 0)
                    rc = tokfs_buf_append(b, "=***", 4);
            } else {
                rc = tokfs_buf_append(b, rest, param_len);
            }
            rest += param_len;
            if (rc == 0 && *rest == '&') {
                rc = tokfs_buf_append(b, "&", 1);
                rest++;
            }
        }
    }
    if (rc == 0 && *rest == '#') /* the fragment */
        rc = tokfs_buf_append(b, rest, strlen(rest));
    return rc;
}

void tokfs_url_redact(const char *url, char *out, size_t out_size)
{
    if (!out || out_size == 0)
        return;
    out[0] = '\0';
    if (!url)
        return;
    tokfs_buf b = {0};
    redact_into(&b, url); /* out of memory: the part built so far */
    size_t n = b.len < out_size - 1 ? b.len : out_size - 1;
    if (n)
        memcpy(out, b.data, n);
    out[n] = '\0';
    tokfs_buf_free(&b);
}

/* ---- reading a source ----------------------------------------------------------------------- */

int tokfs_url_locate(const char *url, char *path, size_t path_size, tokfs_err *err)
{
    if (!url || !*url)
        return tokfs_err_set(err, EINVAL,
                             "empty source URL: give a path, a file:// or an http(s):// URL");
    if (tokfs_url_is_http(url))
        return TOKFS_URL_HTTP;

    if (scheme_prefix_len(url) == 0) {
        if (strlen(url) >= path_size)
            return tokfs_err_set(err, ENAMETOOLONG, "%.200s...: path is too long", url);
        strcpy(path, url);
        return TOKFS_URL_LOCAL;
    }

    char safe_url[SAFE_URL_MAX];
    tokfs_url_redact(url, safe_url, sizeof safe_url);
    if (!is_file_url(url))
        return tokfs_err_set(err, EINVAL,
                             "%s: unsupported URL scheme; use http://, https://, file:// or a path",
                             safe_url);

    /* file:///abs/path or file://localhost/abs/path; the path ends where a query or fragment
     * would begin (RFC 8089), so a literal '?' or '#' in a name must be written %3F or %23.
     * Decoded here rather than by curl, which would pass a bad escape through as it is. */
    const char *p = url + 7;
    if (strncasecmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/')
        return tokfs_err_set(err, EINVAL,
                             "%s: file:// URLs must name a local absolute path, as in "
                             "file:///data/corpus.jsonl",
                             safe_url);
    size_t n = 0;
    for (; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = tokfs_hex_value(p[1]), lo = hi < 0 ? -1 : tokfs_hex_value(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return tokfs_err_set(err, EINVAL,
                                     "%s: bad percent-escape in file:// URL (write '%%' as %%25)",
                                     safe_url);
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (n + 1 >= path_size)
            return tokfs_err_set(err, ENAMETOOLONG, "%s: path is too long", safe_url);
        path[n++] = c;
    }
    path[n] = '\0';
    return TOKFS_URL_LOCAL;
}

/* ---- curl's URL API ------------------------------------------------------------------------- */

/* Any scheme is parsed (callers check it), none is guessed ("host/path" is no URL), and the
 * rest as libcurl reads a URL it is given to fetch. */
#define CURLU_FLAGS CURLU_NON_SUPPORT_SCHEME

int tokfs_url_resolve(const char *base, const char *ref, char **out, tokfs_err *err)
{
    *out = NULL;
    CURLU *u = curl_url();
    if (!u)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    char *resolved = NULL;
    const char *refused = base; /* which of the two curl did not take */
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, base, CURLU_FLAGS);
    if (uc == CURLUE_OK) {
        refused = ref; /* with a URL in the handle, setting another resolves it against it */
        uc = curl_url_set(u, CURLUPART_URL, ref, CURLU_FLAGS);
    }
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_URL, &resolved, 0);
    curl_url_cleanup(u);
    if (uc == CURLUE_OUT_OF_MEMORY)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    if (uc != CURLUE_OK) {
        char safe_ref[SAFE_URL_MAX], safe_base[SAFE_URL_MAX];
        tokfs_url_redact(ref, safe_ref, sizeof safe_ref);
        tokfs_url_redact(base, safe_base, sizeof safe_base);
        if (refused == base)
            return tokfs_err_set(err, EINVAL, "%s: not a URL (curl: %s)", safe_base,
                                 curl_url_strerror(uc));
        return tokfs_err_set(err, EINVAL, "%s: not a URL relative to %s (curl: %s)", safe_ref,
                             safe_base, curl_url_strerror(uc));
    }
    *out = strdup(resolved);
    curl_free(resolved);
    return *out ? 0 : tokfs_err_set(err, ENOMEM, "out of memory");
}

/* The parts of a URL that make its origin, as curl reads them; absent parts are NULL (free them
 * with free_parts in any case). CURLUE_OK, curl's reason for refusing url, or CURLUE_NO_HOST
 * when it has no host (file:///path). */
enum { PART_SCHEME, PART_USER, PART_PASSWORD, PART_HOST, PART_ZONEID, PART_PORT, NPARTS };

static CURLUcode origin_parts(const char *url, char *parts[NPARTS])
{
    static const CURLUPart which[NPARTS] = {CURLUPART_SCHEME, CURLUPART_USER,
                                            CURLUPART_PASSWORD, CURLUPART_HOST,
                                            CURLUPART_ZONEID, CURLUPART_PORT};
    CURLU *u = curl_url();
    if (!u)
        return CURLUE_OUT_OF_MEMORY;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_FLAGS);
    for (int i = 0; uc == CURLUE_OK && i < NPARTS; i++) {
        /* a missing part (CURLUE_NO_USER, CURLUE_NO_PORT, ...) stays NULL */
        if (curl_url_get(u, which[i], &parts[i], 0) != CURLUE_OK)
            parts[i] = NULL;
    }
    curl_url_cleanup(u);
    if (uc == CURLUE_OK && (!parts[PART_SCHEME] || !parts[PART_HOST] || !parts[PART_HOST][0]))
        uc = CURLUE_NO_HOST;
    return uc;
}

static void free_parts(char *parts[NPARTS])
{
    for (int i = 0; i < NPARTS; i++)
        curl_free(parts[i]);
}

int tokfs_url_check(const char *url, tokfs_err *err)
{
    char *parts[NPARTS] = {0};
    CURLUcode uc = url ? origin_parts(url, parts) : CURLUE_MALFORMED_INPUT;
    free_parts(parts);
    if (uc == CURLUE_OK)
        return 0;
    char safe_url[SAFE_URL_MAX];
    tokfs_url_redact(url, safe_url, sizeof safe_url);
    return tokfs_err_set(err, EINVAL, "%s: not a URL with a host (curl: %s)", safe_url,
                         curl_url_strerror(uc));
}

static int same_part(const char *a, const char *b, int any_case)
{
    if (!a || !b)
        return a == b;
    return any_case ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

int tokfs_url_same_origin(const char *url, const char *origin)
{
    char *a[NPARTS] = {0}, *b[NPARTS] = {0};
    int same = url && origin && origin_parts(url, a) == CURLUE_OK &&
               origin_parts(origin, b) == CURLUE_OK;
    for (int i = 0; same && i < NPARTS; i++)
        same = same_part(a[i], b[i], i == PART_SCHEME || i == PART_HOST);
    free_parts(a);
    free_parts(b);
    return same;
}

/* ---- percent-encoding ------------------------------------------------------------------------ */

int tokfs_url_quote(const char *s, int keep_slash, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                    *p == '~' || (keep_slash && *p == '/');
        if (n + (plain ? 1 : 3) >= size)
            return -ENAMETOOLONG;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (size == 0)
        return -ENAMETOOLONG;
    out[n] = '\0';
    return 0;
}
