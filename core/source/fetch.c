/* tokfs — reading source bytes (see fetch.h).
 *
 * Three kinds of source share one interface:
 *   - local paths and file:// URLs, read with pread() through one fixed buffer;
 *   - http:// and https:// URLs, read with one reused libcurl easy handle per fetcher, so that
 *     consecutive requests to the same server ride one kept-alive connection.
 *
 * The HTTP side streams: curl's write callback hands each received chunk straight to the
 * caller's callback after cutting away bytes outside [begin, end). Nothing buffers a whole
 * body, so memory does not grow with the size of a range.
 *
 * Failures are split in two. Permanent ones (404, 403, 412, a changed source, a callback error)
 * are returned at once. Transient ones (5xx, 429, resets, timeouts, a body cut short) are
 * retried with exponential backoff, each retry asking only for the bytes not yet delivered, so
 * the callback sees every byte exactly once and in order. */
#include "source/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"

#ifndef TOKFS_VERSION
#define TOKFS_VERSION "unknown"
#endif

#define LOCAL_CHUNK_SIZE (256 * 1024) /* one pread() per callback for local sources */
#define CURL_RECV_BUFFER (128 * 1024) /* fewer, larger callbacks on fast links */
#define ERROR_BODY_MAX (64 * 1024)    /* read at most this much of an error page, then hang up */
#define MAX_REDIRECTS 10L
/* SHA-256 of no bytes: the payload hash of a GET or HEAD, which SigV4 signs. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_BACKOFF_MS 60000          /* never sleep longer than this between two attempts */
#define SAFE_URL_MAX 768              /* a redacted URL as it appears in messages */
#define WHAT_MAX (SAFE_URL_MAX + 64)  /* "GET <url> bytes=B-E" */

struct tokfs_fetcher {
    tokfs_fetch_config cfg;   /* our copy; cfg.bearer_token is not used after _new */
    char *auth_header;        /* "Authorization: Bearer <token>", or NULL; wiped on free */
    char *auth_origin;        /* a URL of the origin the header may go to; NULL = anywhere */
    /* SigV4 (fetch.h, aws_*): all NULL when requests are not signed. The secret and the token
     * header are wiped on free. */
    char *aws_key, *aws_secret, *aws_token_header, *aws_sigv4, *aws_origin;
    CURL *curl;               /* created on first HTTP use, then reused for keep-alive */
    uint64_t rng;             /* SplitMix64 state for backoff jitter (per fetcher: no locking) */
    uint8_t *local_buf;       /* LOCAL_CHUNK_SIZE bytes, allocated on first local read */
    char curl_errbuf[CURL_ERROR_SIZE];

    /* Stall watchdog for the transfer in progress (see on_progress). */
    int64_t last_activity_ms; /* monotonic time bytes last arrived, or the request started */
    curl_off_t last_dlnow;
    int stalled;              /* on_progress aborted the transfer */
};

/* strerror() may share a buffer between threads; the GNU strerror_r never does. */
static const char *errno_text(int errnum, char *buf, size_t size)
{
    return strerror_r(errnum, buf, size);
}

/* 1 when the bearer token may be sent to url: no origin restriction, or url has the configured
 * origin (url.h: scheme, userinfo, host and port as curl reads them). */
static int auth_allowed(const tokfs_fetcher *f, const char *url)
{
    return !f->auth_origin || tokfs_url_same_origin(url, f->auth_origin);
}

/* ---------------------------------------------------------------------------------------------
 * Fetcher */

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Keep our own copies of cfg's SigV4 settings. 0 or -ENOMEM (the caller frees f). */
static int aws_copy(tokfs_fetcher *f, const tokfs_fetch_config *cfg)
{
    const char *region = cfg->aws_region && cfg->aws_region[0] ? cfg->aws_region : "us-east-1";
    f->aws_key = strdup(cfg->aws_key);
    f->aws_secret = strdup(cfg->aws_secret);
    f->aws_origin = strdup(cfg->aws_origin);
    if (asprintf(&f->aws_sigv4, "aws:amz:%s:s3", region) < 0)
        f->aws_sigv4 = NULL;
    if (cfg->aws_token && asprintf(&f->aws_token_header, "x-amz-security-token: %s",
                                   cfg->aws_token) < 0)
        f->aws_token_header = NULL;
    if (!f->aws_key || !f->aws_secret || !f->aws_origin || !f->aws_sigv4 ||
        (cfg->aws_token && !f->aws_token_header))
        return -ENOMEM;
    return 0;
}

/* 1 when a request to url is signed with SigV4. */
static int aws_signs(const tokfs_fetcher *f, const char *url)
{
    return f->aws_key && tokfs_url_same_origin(url, f->aws_origin);
}

tokfs_fetcher *tokfs_fetcher_new(const tokfs_fetch_config *cfg)
{
    tokfs_fetcher *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (cfg) {
        f->cfg = *cfg;
    } else {
        f->cfg.retries = 3;
        f->cfg.timeout_ms = 30000;
        f->cfg.backoff_base_ms = 200;
    }
    if (f->cfg.retries < 0)
        f->cfg.retries = 0;
    if (f->cfg.backoff_base_ms < 0)
        f->cfg.backoff_base_ms = 0;
    f->cfg.bearer_token = NULL; /* the caller's string may not outlive us; keep the header */

    if (cfg && cfg->bearer_token) {
        size_t size = strlen(cfg->bearer_token) + sizeof "Authorization: Bearer ";
        f->auth_header = malloc(size);
        if (!f->auth_header) {
            free(f);
            return NULL;
        }
        snprintf(f->auth_header, size, "Authorization: Bearer %s", cfg->bearer_token);
        if (cfg->bearer_origin) {
            /* An origin that is no URL matches none: the token goes nowhere. */
            f->auth_origin = strdup(cfg->bearer_origin);
            if (!f->auth_origin) {
                explicit_bzero(f->auth_header, strlen(f->auth_header));
                free(f->auth_header);
                free(f);
                return NULL;
            }
        }
    }
    f->cfg.bearer_origin = NULL;
    if (cfg && cfg->aws_key && cfg->aws_secret && cfg->aws_origin && aws_copy(f, cfg) != 0) {
        tokfs_fetcher_free(f);
        return NULL;
    }
    f->cfg.aws_key = f->cfg.aws_secret = f->cfg.aws_token = NULL;
    f->cfg.aws_region = f->cfg.aws_origin = NULL;

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    f->rng = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^ (uint64_t)(uintptr_t)f ^
             ((uint64_t)getpid() << 40);
    return f;
}

tokfs_fetcher *tokfs_fetcher_dup(const tokfs_fetcher *f)
{
    tokfs_fetcher *d = tokfs_fetcher_new(&f->cfg); /* cfg holds no token: copied below */
    if (!d)
        return NULL;
    if ((f->auth_header && !(d->auth_header = strdup(f->auth_header))) ||
        (f->auth_origin && !(d->auth_origin = strdup(f->auth_origin))) ||
        (f->aws_key && !(d->aws_key = strdup(f->aws_key))) ||
        (f->aws_secret && !(d->aws_secret = strdup(f->aws_secret))) ||
        (f->aws_token_header && !(d->aws_token_header = strdup(f->aws_token_header))) ||
        (f->aws_sigv4 && !(d->aws_sigv4 = strdup(f->aws_sigv4))) ||
        (f->aws_origin && !(d->aws_origin = strdup(f->aws_origin)))) {
        tokfs_fetcher_free(d);
        return NULL;
    }
    return d;
}

void tokfs_fetcher_free(tokfs_fetcher *f)
{
    if (!f)
        return;
    if (f->curl)
        curl_easy_cleanup(f->curl);
    if (f->auth_header) {
        explicit_bzero(f->auth_header, strlen(f->auth_header));
        free(f->auth_header);
    }
    free(f->auth_origin);
    free(f->aws_key);
    free_secret(f->aws_secret);
    free_secret(f->aws_token_header);
    free(f->aws_sigv4);
    free(f->aws_origin);
    free(f->local_buf);
    free(f);
}

/* Sleep before retry number `attempt` (0 = the first retry): base * 2^attempt, times a random
 * factor in [0.5, 1.5) so that many threads retrying together spread out. */
static void backoff_sleep(tokfs_fetcher *f, int attempt)
{
    if (f->cfg.backoff_base_ms <= 0)
        return;
    int doublings = attempt < 20 ? attempt : 20;
    double delay_ms = (double)f->cfg.backoff_base_ms * (double)(1u << doublings);
    delay_ms *= 0.5 + (double)(tokfs_splitmix64(&f->rng) >> 11) / 9007199254740992.0; /* 2^53 */
    if (delay_ms > MAX_BACKOFF_MS)
        delay_ms = MAX_BACKOFF_MS;
    long long whole_ms = (long long)delay_ms;
    struct timespec left = {(time_t)(whole_ms / 1000), (long)(whole_ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------------------------------------
 * Local files */

/* The mtime of st as decimal nanoseconds: the local-file counterpart of Last-Modified. */
static void format_mtime(const struct stat *st, char *out, size_t out_size)
{
    long long ns = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    snprintf(out, out_size, "%lld", ns);
}

static int local_failure(tokfs_err *err, const char *op, const char *path, int saved_errno)
{
    switch (saved_errno) {
    case ENOENT:
    case ENOTDIR:
        return tokfs_err_set(err, ENOENT, "%s %s: no such file; check the path", op, path);
    case EACCES:
    case EPERM:
        return tokfs_err_set(err, EACCES, "%s %s: permission denied; make the file readable",
                             op, path);
    default: {
        char text[128];
        return tokfs_err_set(err, EIO, "%s %s: %s", op, path,
                             errno_text(saved_errno, text, sizeof text));
    }
    }
}

static int local_stat(const char *path, tokfs_object_info *out, tokfs_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return local_failure(err, "stat", path, errno);
    if (!S_ISREG(st.st_mode))
        return tokfs_err_set(err, EIO, "%s: not a regular file; list files, not directories",
                             path);
    memset(out, 0, sizeof *out);
    out->size = (int64_t)st.st_size;
    format_mtime(&st, out->last_modified, sizeof out->last_modified);
    out->accepts_ranges = 1;
    return 0;
}

/* -ESTALE with a message if the file described by st is not the one in expect. */
static int local_check_unchanged(const char *path, const struct stat *st,
                                 const tokfs_object_info *expect, const char *when,
                                 tokfs_err *err)
{
    char mtime[64];
    format_mtime(st, mtime, sizeof mtime);
    if (expect->size >= 0 && (int64_t)st->st_size != expect->size)
        return tokfs_err_set(err, ESTALE,
                             "%s: source changed upstream %s (size is %lld bytes, planned %lld); "
                             "rebuild the plan",
                             path, when, (long long)st->st_size, (long long)expect->size);
    if (expect->last_modified[0] && strcmp(mtime, expect->last_modified) != 0)
        return tokfs_err_set(err, ESTALE,
                             "%s: source changed upstream %s (mtime %s ns, planned %s); "
                             "rebuild the plan",
                             path, when, mtime, expect->last_modified);
    return 0;
}

static int local_range(tokfs_fetcher *f, const char *path, const tokfs_object_info *expect,
                       int64_t begin, int64_t end, tokfs_fetch_cb cb, void *ctx,
                       uint64_t *fetched, tokfs_err *err)
{
    if (!f->local_buf) {
        f->local_buf = malloc(LOCAL_CHUNK_SIZE);
        if (!f->local_buf)
            return tokfs_err_set(err, ENOMEM, "%s: out of memory for the read buffer", path);
    }

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return local_failure(err, "open", path, errno);

    int rc = 0;
    struct stat before;
    if (fstat(fd, &before) != 0) {
        rc = local_failure(err, "stat", path, errno);
        goto out;
    }
    if (!S_ISREG(before.st_mode)) {
        rc = tokfs_err_set(err, EIO, "%s: not a regular file", path);
        goto out;
    }
    if (expect && (rc = local_check_unchanged(path, &before, expect, "since it was planned", err)))
        goto out;

    int64_t size = (int64_t)before.st_size;
    int64_t stop = end < 0 ? size : end;
    if (begin > size || stop > size) {
        rc = tokfs_err_set(err, EIO, "%s: bytes %lld-%lld requested but the file has %lld bytes",
                           path, (long long)begin, (long long)stop - 1, (long long)size);
        goto out;
    }

    for (int64_t pos = begin; pos < stop;) {
        size_t want = stop - pos < LOCAL_CHUNK_SIZE ? (size_t)(stop - pos) : LOCAL_CHUNK_SIZE;
        ssize_t got = pread(fd, f->local_buf, want, (off_t)pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            char text[128];
            rc = tokfs_err_set(err, EIO, "read %s at %lld: %s", path, (long long)pos,
                               errno_text(errno, text, sizeof text));
            goto out;
        }
        if (got == 0) {
            rc = tokfs_err_set(err, ESTALE,
                               "%s: source changed upstream while reading (ends at %lld, "
                               "expected %lld bytes); rebuild the plan",
                               path, (long long)pos, (long long)size);
            goto out;
        }
        if (fetched)
            *fetched += (uint64_t)got;
        pos += got;
        int cb_rc = cb(ctx, f->local_buf, (size_t)got);
        if (cb_rc > 0)
            goto out; /* the caller has what it needs */
        if (cb_rc < 0) {
            char text[128];
            rc = cb_rc;
            tokfs_err_set(err, -cb_rc, "%s: reading stopped by the consumer: %s", path,
                          errno_text(-cb_rc, text, sizeof text));
            goto out;
        }
    }

    /* Bytes already delivered may mix two versions if the file was rewritten meanwhile; say so
     * rather than let that pass silently. */
    struct stat after;
    if (fstat(fd, &after) == 0) {
        tokfs_object_info first = {.size = size};
        format_mtime(&before, first.last_modified, sizeof first.last_modified);
        rc = local_check_unchanged(path, &after, &first, "while reading", err);
    }
out:
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * HTTP: response headers */

/* The headers of the latest response in a transfer. curl shows us redirects and 1xx responses
 * too; each status line starts a fresh record so only the final response counts. */
typedef struct http_reply {
    long status;                 /* 0 until a status line arrived */
    int headers_done;            /* blank line seen: later lines are trailers, ignored */
    int64_t content_length;      /* -1 when absent */
    int64_t range_first;         /* Content-Range: bytes FIRST-LAST/TOTAL, -1 when absent */
    int64_t range_last;
    int64_t range_total;         /* -1 also for an unknown total ("/" then "*") */
    int accept_ranges;           /* Accept-Ranges: bytes */
    char etag[160];              /* as sent, maybe W/; "" when absent or too long to keep */
    char last_modified[64];
    /* One more header the caller wants (tokfs_fetch_small_header): kept across resets. */
    const char *capture_name;    /* NULL = none */
    char *capture_value;         /* capture_size bytes; "" until the header arrives */
    size_t capture_size;
} http_reply;

static void reply_reset(http_reply *r)
{
    const char *capture_name = r->capture_name;
    char *capture_value = r->capture_value;
    size_t capture_size = r->capture_size;
    memset(r, 0, sizeof *r);
    r->content_length = r->range_first = r->range_last = r->range_total = -1;
    r->capture_name = capture_name;
    r->capture_value = capture_value;
    r->capture_size = capture_size;
    if (capture_value && capture_size)
        capture_value[0] = '\0'; /* only the final response's header counts */
}

/* If the header line data[0..len) is "NAME: value" for the captured name, keep the value. A
 * repeated header is joined with ", " (RFC 9110 allows it); a value that does not fit whole is
 * dropped, never cut. Works on the raw line: a wanted header (a Link with a long cursor) may be
 * longer than the fixed line buffer of on_header. */
static void capture_header(http_reply *r, const char *data, size_t len)
{
    size_t name_len = strlen(r->capture_name);
    if (len <= name_len || data[name_len] != ':' || strncasecmp(data, r->capture_name, name_len))
        return;
    const char *v = data + name_len + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - v), used = strlen(r->capture_value), sep = used ? 2 : 0;
    if (used + sep + n >= r->capture_size)
        return;
    memcpy(r->capture_value + used, ", ", sep);
    memcpy(r->capture_value + used + sep, v, n);
    r->capture_value[used + sep + n] = '\0';
}

/* Parse a non-negative decimal at *s, advancing *s. -1 when there is none or it overflows. */
static int64_t parse_count(const char **s)
{
    const char *p = *s;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *s = p;
    return v;
}

/* Content-Range: "bytes FIRST-LAST/TOTAL", where TOTAL may be '*' (unknown), or, in a 416
 * reply, '*' in place of "FIRST-LAST" followed by "/TOTAL". */
static void parse_content_range(http_reply *r, const char *v)
{
    if (strncasecmp(v, "bytes", 5) != 0)
        return;
    v += 5;
    while (*v == ' ')
        v++;
    if (*v == '*') {
        v++;
    } else {
        int64_t first = parse_count(&v);
        if (first < 0 || *v++ != '-')
            return;
        int64_t last = parse_count(&v);
        if (last < first)
            return;
        r->range_first = first;
        r->range_last = last;
    }
    if (*v++ != '/')
        return;
    r->range_total = *v == '*' ? -1 : parse_count(&v);
}

/* Keep a header value only if it fits whole: a cut ETag would be a wrong ETag. */
static void keep_value(char *dst, size_t dst_size, const char *v)
{
    size_t n = strlen(v);
    if (n >= dst_size)
        n = 0;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userp)
{
    http_reply *r = userp;
    size_t len = size * nitems;
    char line[1024];
    if (r->capture_name && r->capture_size && r->status >= 200 && !r->headers_done)
        capture_header(r, data, len);
    if (len >= sizeof line) /* no other header we care about is this long */
        return len;
    memcpy(line, data, len);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
        len--;
    line[len] = '\0';

    /* memcmp after a length check: GCC 12 with -fsanitize warns (-Wstring-compare) on strncmp */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        reply_reset(r);
        const char *p = line + strcspn(line, " ");
        while (*p == ' ')
            p++;
        int64_t status = parse_count(&p);
        r->status = status >= 0 && status < 1000 ? (long)status : 0;
        return size * nitems;
    }
    if (len == 0) {
        if (r->status >= 200)
            r->headers_done = 1;
        return size * nitems;
    }
    if (r->headers_done)
        return size * nitems;

    char *colon = strchr(line, ':');
    if (!colon)
        return size * nitems;
    *colon = '\0';
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;

    if (strcasecmp(line, "Content-Length") == 0) {
        const char *p = value;
        r->content_length = parse_count(&p);
    } else if (strcasecmp(line, "Content-Range") == 0) {
        parse_content_range(r, value);
    } else if (strcasecmp(line, "Accept-Ranges") == 0) {
        r->accept_ranges = strcasestr(value, "bytes") != NULL;
    } else if (strcasecmp(line, "ETag") == 0) {
        keep_value(r->etag, sizeof r->etag, value);
    } else if (strcasecmp(line, "Last-Modified") == 0) {
        keep_value(r->last_modified, sizeof r->last_modified, value);
    }
    return size * nitems;
}

static int etag_is_strong(const char *etag)
{
    return etag[0] != '\0' && strncmp(etag, "W/", 2) != 0;
}

/* ---------------------------------------------------------------------------------------------
 * HTTP: one request, and what to make of its outcome */

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* curl's own low-speed check averages over a window of several seconds, so after a burst a
 * dead connection is noticed only ~5 s late. This watchdog (curl calls it at least once a
 * second) aborts as soon as no byte has arrived for timeout_ms. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    tokfs_fetcher *f = userp;
    int64_t now = monotonic_ms();
    if (dlnow != f->last_dlnow) {
        f->last_dlnow = dlnow;
        f->last_activity_ms = now;
        return 0;
    }
    if (now - f->last_activity_ms >= f->cfg.timeout_ms) {
        f->stalled = 1;
        return 1;
    }
    return 0;
}

/* Body sink for requests whose body we never want (HEAD); curl's default would print it. */
static size_t discard_body(char *data, size_t size, size_t n, void *userp)
{
    (void)data;
    (void)userp;
    return size * n;
}

/* Prepare f->curl for one request. Options are reset each time (curl_easy_reset keeps live
 * connections, DNS and TLS session caches), so one request's settings never leak into the
 * next. */
static int http_setup(tokfs_fetcher *f, const char *url, struct curl_slist *headers,
                      curl_write_callback on_body, void *body_ctx, http_reply *reply,
                      tokfs_err *err, const char *what)
{
    if (!f->curl) {
        f->curl = curl_easy_init();
        if (!f->curl)
            return tokfs_err_set(err, ENOMEM, "%s: cannot create a curl handle (out of memory?)",
                                 what);
    }
    CURL *c = f->curl;
    curl_easy_reset(c);
    f->curl_errbuf[0] = '\0';
    f->stalled = 0;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->curl_errbuf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts: we are threaded */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tokfs/" TOKFS_VERSION);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long)CURL_RECV_BUFFER);
    /* No CURLOPT_ACCEPT_ENCODING: byte offsets must be offsets into the stored object, so the
     * body must never be compressed in transit. */
    if (f->cfg.timeout_ms > 0) {
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)f->cfg.timeout_ms);
        /* No overall timeout (a large range may rightly take long); a stalled one is cut. */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)((f->cfg.timeout_ms + 999) / 1000));
        f->last_activity_ms = monotonic_ms();
        f->last_dlnow = 0;
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (f->cfg.insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* A custom Authorization header is dropped by curl when a redirect leaves the host, so the
     * token is never handed to a third party (e.g. a CDN holding presigned URLs). */
    if (headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (aws_signs(f, url)) {
        /* curl computes the signature (7.75+); credentials as user name and password, which
         * curl does not send on to another host after a redirect. */
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, f->aws_sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, f->aws_key);
        curl_easy_setopt(c, CURLOPT_PASSWORD, f->aws_secret);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body ? on_body : discard_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body_ctx);
    reply_reset(reply);
    return 0;
}

/* Build the request headers: the bearer token (only if url is of its origin), plus `extra` (may
 * be NULL). */
static int build_headers(tokfs_fetcher *f, const char *url, const char *extra,
                         struct curl_slist **out, tokfs_err *err, const char *what)
{
    struct curl_slist *list = NULL, *grown;
    if (f->auth_header && auth_allowed(f, url)) {
        if (!(grown = curl_slist_append(list, f->auth_header)))
            goto oom;
        list = grown;
    }
    if (extra) {
        if (!(grown = curl_slist_append(list, extra)))
            goto oom;
        list = grown;
    }
    if (aws_signs(f, url)) {
        /* curl 7.88 does not add the payload-hash header S3 requires; it signs whatever value
         * this header holds. The hash of the empty body is right for every GET and HEAD. */
        if (!(grown = curl_slist_append(list, "x-amz-content-sha256: " EMPTY_SHA256)))
            goto oom;
        list = grown;
        if (f->aws_token_header) {
            if (!(grown = curl_slist_append(list, f->aws_token_header)))
                goto oom;
            list = grown;
        }
    }
    *out = list;
    return 0;
oom:
    curl_slist_free_all(list);
    return tokfs_err_set(err, ENOMEM, "%s: out of memory", what);
}

/* Where the transfer ended up, for messages: " (redirected to URL)" or "". */
static void describe_redirect(tokfs_fetcher *f, const char *url, char *out, size_t out_size)
{
    char *effective = NULL;
    out[0] = '\0';
    if (curl_easy_getinfo(f->curl, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK ||
        !effective || strcmp(effective, url) == 0)
        return;
    char safe[SAFE_URL_MAX];
    tokfs_url_redact(effective, safe, sizeof safe);
    snprintf(out, out_size, " (redirected to %.*s)", (int)(out_size - 24), safe);
}

/* The outcome of one attempt. */
enum attempt_outcome {
    ATTEMPT_FINAL, /* rc (and err) hold the result: success or a permanent failure */
    ATTEMPT_RETRY, /* transient failure, err says what happened; back off and try again */
    ATTEMPT_AGAIN, /* progress without failure (a server sent a shorter range than asked) */
};

/* Judge a finished exchange by HTTP status, then by curl's result. Returns 0 when both look
 * fine, 1 when the failure is transient (err says what happened, e.g. "HTTP 503", for give_up to
 * name if the retries run out), or a negative errno (err filled). */
static int judge_exchange(tokfs_fetcher *f, const char *url, const char *what, CURLcode res,
                          long status, tokfs_err *err)
{
    char redirect[SAFE_URL_MAX + 32];

    if (status >= 300 || (status == 0 && res == CURLE_OK)) {
        describe_redirect(f, url, redirect, sizeof redirect);
        switch (status) {
        case 404:
        case 410:
            return tokfs_err_set(err, ENOENT, "%s: HTTP %ld (not found)%s; check the URL", what,
                                 status, redirect);
        case 401:
        case 403:
            return tokfs_err_set(err, EACCES,
                                 "%s: HTTP %ld (access denied)%s; check the bearer token and "
                                 "the object's permissions",
                                 what, status, redirect);
        case 412:
            return tokfs_err_set(err, ESTALE,
                                 "%s: source changed upstream (HTTP 412: its ETag or "
                                 "Last-Modified no longer matches the plan)%s; rebuild the plan",
                                 what, redirect);
        case 408:
        case 429:
            tokfs_err_set(err, EAGAIN, "HTTP %ld", status);
            return 1;
        default:
            if (status >= 500) {
                tokfs_err_set(err, EAGAIN, "HTTP %ld", status);
                return 1;
            }
            if (status >= 300 && status < 400)
                return tokfs_err_set(err, EIO, "%s: HTTP %ld redirect not followed%s: %s", what,
                                     status, redirect,
                                     f->curl_errbuf[0] ? f->curl_errbuf : "no usable Location");
            return tokfs_err_set(err, EIO, "%s: unexpected HTTP %ld%s", what, status, redirect);
        }
    }
    if (res == CURLE_OK)
        return 0;

    const char *detail = f->curl_errbuf[0] ? f->curl_errbuf : curl_easy_strerror(res);
    if (res == CURLE_ABORTED_BY_CALLBACK && f->stalled) {
        tokfs_err_set(err, EAGAIN, "no data for %d ms (timeout)", f->cfg.timeout_ms);
        return 1;
    }
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        tokfs_err_set(err, EAGAIN, "%s", detail);
        return 1;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* A server that sent more body than its Content-Length leaves bytes on a kept-alive
         * connection; curl reads them as the next reply ("Received HTTP/0.9 when not
         * allowed") and drops the connection: a fresh one will do. */
        if (strstr(detail, "HTTP/0.9")) {
            tokfs_err_set(err, EAGAIN, "%s", detail);
            return 1;
        }
        return tokfs_err_set(err, EIO, "%s: %s", what, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return tokfs_err_set(err, EIO,
                             "%s: TLS certificate verification failed (%s); fix the server's "
                             "certificate or, on a trusted network only, turn on insecure mode",
                             what, detail);
    case CURLE_URL_MALFORMAT:
        return tokfs_err_set(err, EINVAL, "%s: malformed URL (%s)", what, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return tokfs_err_set(err, EIO, "%s: more than %ld redirects; check the URL", what,
                             MAX_REDIRECTS);
    default:
        return tokfs_err_set(err, EIO, "%s: %s", what, detail);
    }
}

/* The retries ran out: err held why the last attempt failed. */
static int give_up(const char *what, int attempts, tokfs_err *err)
{
    char why[TOKFS_ERR_MSG_MAX];
    snprintf(why, sizeof why, "%s", err ? err->msg : "");
    return tokfs_err_set(err, EIO, "%s: %s after %d attempt%s; the server keeps failing, try "
                                   "again later or allow more retries",
                         what, why, attempts, attempts == 1 ? "" : "s");
}

/* ---------------------------------------------------------------------------------------------
 * HTTP: stat */

typedef struct probe_state {
    http_reply *reply;
    size_t discarded;
} probe_state;

/* Body of the Range: bytes=0-0 probe: we only want its headers. */
static size_t probe_write(char *data, size_t size, size_t n, void *userp)
{
    probe_state *p = userp;
    (void)data;
    p->discarded += size * n;
    /* A server that ignored the range is sending the whole object: hang up now. */
    if (p->reply->status == 200 || p->discarded > ERROR_BODY_MAX)
        return 0;
    return size * n;
}

static int http_stat(tokfs_fetcher *f, const char *url, tokfs_object_info *out, tokfs_err *err)
{
    char safe_url[SAFE_URL_MAX], what[WHAT_MAX];
    tokfs_url_redact(url, safe_url, sizeof safe_url);

    struct curl_slist *headers = NULL;
    int rc = build_headers(f, url, NULL, &headers, err, safe_url);
    if (rc < 0)
        return rc;

    int use_get = 0; /* set once the server refused HEAD */
    int failures = 0;
    http_reply reply = {0}; /* zeroed: reply_reset keeps its capture fields */
    for (;;) {
        probe_state probe = {&reply, 0};
        snprintf(what, sizeof what, "%s %s", use_get ? "GET" : "HEAD", safe_url);
        if ((rc = http_setup(f, url, headers, use_get ? probe_write : NULL, &probe, &reply, err,
                             what)) < 0)
            break;
        if (use_get)
            curl_easy_setopt(f->curl, CURLOPT_RANGE, "0-0");
        else
            curl_easy_setopt(f->curl, CURLOPT_NOBODY, 1L);
        CURLcode res = curl_easy_perform(f->curl);

        if (!use_get && (reply.status == 405 || reply.status == 501)) {
            use_get = 1; /* not a failure: ask again the other way, at once */
            continue;
        }
        /* The probe hangs up on a 200 on purpose; that is not an error. */
        if (use_get && reply.status == 200 && res == CURLE_WRITE_ERROR)
            res = CURLE_OK;
        /* "bytes=0-0" of an empty object is unsatisfiable; its Content-Range gives size 0. */
        int empty = use_get && reply.status == 416 && reply.range_total == 0;
        rc = empty ? 0 : judge_exchange(f, url, what, res, reply.status, err);
        if (rc == 1) {
            if (failures >= f->cfg.retries) {
                rc = give_up(what, failures + 1, err);
                break;
            }
            backoff_sleep(f, failures++);
            continue;
        }
        if (rc < 0)
            break;

        memset(out, 0, sizeof *out);
        if (empty) {
            out->size = 0;
            out->accepts_ranges = 1;
        } else if (use_get && reply.status == 206) {
            out->size = reply.range_total;
            out->accepts_ranges = 1;
        } else {
            out->size = reply.content_length;
            out->accepts_ranges = use_get ? 0 : reply.accept_ranges;
        }
        /* A weak ETag only promises "equivalent" content, not the same bytes: useless for
         * ranges. Without a strong one, Last-Modified is the validator. */
        if (etag_is_strong(reply.etag))
            memcpy(out->etag, reply.etag, sizeof out->etag);
        memcpy(out->last_modified, reply.last_modified, sizeof out->last_modified);
        tokfs_err_clear(err); /* what a retried attempt said is no failure now */
        rc = 0;
        break;
    }
    curl_slist_free_all(headers);
    return rc;
}

int tokfs_fetch_stat(tokfs_fetcher *f, const char *url, tokfs_object_info *out, tokfs_err *err)
{
    char path[PATH_MAX];
    tokfs_err_clear(err);
    if (!f || !out)
        return tokfs_err_set(err, EINVAL, "tokfs_fetch_stat: no fetcher or no output");
    int kind = tokfs_url_locate(url, path, sizeof path, err);
    if (kind < 0)
        return kind;
    if (kind == TOKFS_URL_LOCAL)
        return local_stat(path, out, err);
    return http_stat(f, url, out, err);
}

/* ---------------------------------------------------------------------------------------------
 * HTTP: ranged reads */

typedef struct range_xfer {
    /* fixed for the whole call */
    const tokfs_object_info *expect;
    int64_t end;              /* exclusive, -1 = to the end of the object */
    tokfs_fetch_cb cb;
    void *ctx;
    uint64_t *fetched;
    const char *what;         /* "GET <redacted url> bytes=B-E", for messages */
    tokfs_err *err;

    /* survives retries */
    int64_t next;             /* first byte the callback has not seen yet */

    /* per attempt */
    http_reply reply;
    int checked;              /* the reply's headers were checked and body_pos set */
    int64_t body_pos;         /* object offset of the next byte arriving in the body */
    int64_t body_end;         /* object offset where this body ends, -1 if unknown */
    int64_t target_end;       /* where delivery stops: end, or the object's size */
    size_t error_body;        /* bytes of a non-2xx body thrown away */
    int done;                 /* everything wanted was delivered */
    int stopped;              /* the callback returned 1 */
    int cb_rc;                /* the callback's negative value */
    int fail_rc;              /* a permanent failure found in the reply (err filled) */
} range_xfer;

/* Check a 2xx reply against the request and the plan, once, before its first body byte.
 * Returns 0 or a negative errno (err filled). */
static int check_range_reply(range_xfer *x)
{
    const http_reply *r = &x->reply;
    int64_t total; /* object size according to this reply, -1 if unknown */

    x->checked = 1;
    if (r->status == 206) {
        if (r->range_first < 0)
            return tokfs_err_set(x->err, EIO,
                                 "%s: HTTP 206 without a usable Content-Range; the server's "
                                 "range support is broken",
                                 x->what);
        if (r->range_first > x->next)
            return tokfs_err_set(x->err, EIO,
                                 "%s: asked for bytes from %lld, server sent from %lld; the "
                                 "server's range support is broken",
                                 x->what, (long long)x->next, (long long)r->range_first);
        x->body_pos = r->range_first;
        x->body_end = r->range_last + 1;
        total = r->range_total;
    } else {
        x->body_pos = 0; /* a whole object: Range ignored */
        x->body_end = r->content_length;
        total = r->content_length;
    }

    if (x->expect) {
        if (x->expect->size >= 0 && total >= 0 && total != x->expect->size)
            return tokfs_err_set(x->err, ESTALE,
                                 "%s: source changed upstream (size is now %lld bytes, planned "
                                 "%lld); rebuild the plan",
                                 x->what, (long long)total, (long long)x->expect->size);
        /* Servers that ignore If-Match still tell us which version they send. */
        if (x->expect->etag[0] && etag_is_strong(r->etag) && strcmp(r->etag, x->expect->etag))
            return tokfs_err_set(x->err, ESTALE,
                                 "%s: source changed upstream (ETag is now %s, planned %s); "
                                 "rebuild the plan",
                                 x->what, r->etag, x->expect->etag);
    }
    if (x->end >= 0 && total >= 0 && x->end > total)
        return tokfs_err_set(x->err, EIO,
                             "%s: range goes past the end of the object (%lld bytes)", x->what,
                             (long long)total);

    if (x->end >= 0)
        x->target_end = x->end;
    else if (total >= 0)
        x->target_end = total;
    else
        x->target_end = x->body_end; /* may be -1: read until the server stops */
    return 0;
}

static size_t range_write(char *data, size_t size, size_t n, void *userp)
{
    range_xfer *x = userp;
    size_t len = size * n;

    if (x->fetched)
        *x->fetched += len;
    if (x->reply.status < 200 || x->reply.status >= 300) {
        /* An error page: read a little of it (so the connection stays usable), then give up
         * on it. Its status, not its body, decides what happens next. */
        x->error_body += len;
        return x->error_body > ERROR_BODY_MAX ? 0 : len;
    }
    if (!x->checked && (x->fail_rc = check_range_reply(x)) < 0)
        return 0;
    if (x->done)
        return 0;

    const uint8_t *p = (const uint8_t *)data;
    size_t left = len;
    if (x->body_pos < x->next) { /* a 200 reply, or a resumed one: skip what was delivered */
        int64_t gap = x->next - x->body_pos;
        size_t skip = gap < (int64_t)left ? (size_t)gap : left;
        p += skip;
        left -= skip;
        x->body_pos += (int64_t)skip;
    }
    if (left > 0) {
        size_t deliver = left;
        if (x->target_end >= 0 && x->body_pos + (int64_t)deliver > x->target_end)
            deliver = (size_t)(x->target_end - x->body_pos);
        if (deliver > 0) {
            int rc = x->cb(x->ctx, p, deliver);
            x->body_pos += (int64_t)deliver;
            x->next += (int64_t)deliver;
            if (rc > 0) {
                x->stopped = 1;
                return 0;
            }
            if (rc < 0) {
                x->cb_rc = rc;
                return 0;
            }
        }
    }
    if (x->target_end >= 0 && x->next >= x->target_end) {
        x->done = 1;
        /* Hang up if the server means to send more than we want (a 200 to a ranged request,
         * or a larger range than asked); otherwise let the body end normally so the
         * connection can be reused. */
        if (x->body_end != x->target_end)
            return 0;
    }
    return len;
}

static enum attempt_outcome http_range_once(tokfs_fetcher *f, const char *url, range_xfer *x,
                                            int *rc)
{
    char range[64], precondition[sizeof x->expect->etag + 64];
    if (x->end >= 0)
        snprintf(range, sizeof range, "%lld-%lld", (long long)x->next, (long long)x->end - 1);
    else
        snprintf(range, sizeof range, "%lld-", (long long)x->next);

    precondition[0] = '\0';
    if (x->expect && x->expect->etag[0])
        snprintf(precondition, sizeof precondition, "If-Match: %s", x->expect->etag);
    else if (x->expect && x->expect->last_modified[0])
        snprintf(precondition, sizeof precondition, "If-Unmodified-Since: %s",
                 x->expect->last_modified);

    struct curl_slist *headers = NULL;
    *rc = build_headers(f, url, precondition[0] ? precondition : NULL, &headers, x->err,
                        x->what);
    if (*rc < 0)
        return ATTEMPT_FINAL;
    *rc = http_setup(f, url, headers, range_write, x, &x->reply, x->err, x->what);
    if (*rc < 0) {
        curl_slist_free_all(headers);
        return ATTEMPT_FINAL;
    }
    /* A whole object, nothing delivered yet: a plain GET, as simple servers like best. */
    if (x->next > 0 || x->end >= 0)
        curl_easy_setopt(f->curl, CURLOPT_RANGE, range);
    x->checked = 0;
    x->body_pos = 0;
    x->body_end = -1;
    x->target_end = -1;
    x->error_body = 0;
    x->done = x->stopped = x->cb_rc = x->fail_rc = 0;

    CURLcode res = curl_easy_perform(f->curl);
    curl_slist_free_all(headers);

    *rc = 0;
    if (x->cb_rc < 0) {
        char text[128];
        *rc = x->cb_rc;
        tokfs_err_set(x->err, -x->cb_rc, "%s: reading stopped by the consumer: %s", x->what,
                      errno_text(-x->cb_rc, text, sizeof text));
        return ATTEMPT_FINAL;
    }
    if (x->fail_rc < 0) {
        *rc = x->fail_rc;
        return ATTEMPT_FINAL;
    }
    if (x->stopped || x->done)
        return ATTEMPT_FINAL; /* whatever curl says about the hang-up, we have our bytes */

    const http_reply *r = &x->reply;
    if (r->status == 416) {
        /* Nothing at or after `next`. Fine for an open-ended read that starts at the end. */
        if (x->expect && x->expect->size >= 0 && r->range_total >= 0 &&
            r->range_total != x->expect->size) {
            *rc = tokfs_err_set(x->err, ESTALE,
                                "%s: source changed upstream (size is now %lld bytes, planned "
                                "%lld); rebuild the plan",
                                x->what, (long long)r->range_total, (long long)x->expect->size);
            return ATTEMPT_FINAL;
        }
        if (x->end < 0 && r->range_total >= 0 && r->range_total == x->next)
            return ATTEMPT_FINAL;
        *rc = tokfs_err_set(x->err, EIO, "%s: range not satisfiable (object has %lld bytes)",
                            x->what, (long long)r->range_total);
        return ATTEMPT_FINAL;
    }

    int verdict = judge_exchange(f, url, x->what, res, r->status, x->err);
    if (verdict == 1)
        return ATTEMPT_RETRY;
    if (verdict < 0) {
        *rc = verdict;
        return ATTEMPT_FINAL;
    }

    /* A clean 2xx. Did it carry every byte we wanted? */
    if (!x->checked && (*rc = check_range_reply(x)) < 0) /* an empty body */
        return ATTEMPT_FINAL;
    if (x->target_end < 0 || x->next >= x->target_end)
        return ATTEMPT_FINAL;
    if (r->status == 206 && x->body_pos == x->body_end && x->body_pos > r->range_first)
        return ATTEMPT_AGAIN; /* the server chose to send less than asked: ask for the rest */
    tokfs_err_set(x->err, EAGAIN, "body ended early at byte %lld of %lld", (long long)x->next,
                  (long long)x->target_end);
    return ATTEMPT_RETRY;
}

static int http_range(tokfs_fetcher *f, const char *url, range_xfer *x)
{
    int failures = 0;
    for (;;) {
        int rc = 0;
        switch (http_range_once(f, url, x, &rc)) {
        case ATTEMPT_FINAL:
            if (rc == 0)
                tokfs_err_clear(x->err); /* what a retried attempt said is no failure now */
            return rc;
        case ATTEMPT_AGAIN:
            continue;
        case ATTEMPT_RETRY:
            if (failures >= f->cfg.retries)
                return give_up(x->what, failures + 1, x->err);
            backoff_sleep(f, failures++);
            continue;
        }
    }
}

/* tokfs_fetch_range, also capturing one response header into capture (see http_reply). */
static int fetch_range(tokfs_fetcher *f, const char *url, const tokfs_object_info *expect,
                       int64_t begin, int64_t end, tokfs_fetch_cb cb, void *ctx,
                       uint64_t *fetched, const http_reply *capture, tokfs_err *err)
{
    char path[PATH_MAX];
    tokfs_err_clear(err);
    if (!f || !cb)
        return tokfs_err_set(err, EINVAL, "tokfs_fetch_range: no fetcher or no callback");
    if (end < 0)
        end = -1;
    if (begin < 0 || (end >= 0 && end < begin))
        return tokfs_err_set(err, EINVAL, "tokfs_fetch_range: bad range [%lld, %lld)",
                             (long long)begin, (long long)end);
    int kind = tokfs_url_locate(url, path, sizeof path, err);
    if (kind < 0)
        return kind;
    if (end == begin)
        return 0;
    if (kind == TOKFS_URL_LOCAL)
        return local_range(f, path, expect, begin, end, cb, ctx, fetched, err);

    char safe_url[SAFE_URL_MAX], what[WHAT_MAX];
    tokfs_url_redact(url, safe_url, sizeof safe_url);
    if (end >= 0)
        snprintf(what, sizeof what, "GET %s bytes=%lld-%lld", safe_url, (long long)begin,
                 (long long)end - 1);
    else
        snprintf(what, sizeof what, "GET %s bytes=%lld-", safe_url, (long long)begin);

    range_xfer x = {
        .expect = expect, .end = end, .cb = cb, .ctx = ctx, .fetched = fetched,
        .what = what, .err = err, .next = begin,
    };
    if (capture) {
        x.reply.capture_name = capture->capture_name;
        x.reply.capture_value = capture->capture_value;
        x.reply.capture_size = capture->capture_size;
    }
    return http_range(f, url, &x);
}

int tokfs_fetch_range(tokfs_fetcher *f, const char *url, const tokfs_object_info *expect,
                      int64_t begin, int64_t end, tokfs_fetch_cb cb, void *ctx,
                      uint64_t *fetched, tokfs_err *err)
{
    return fetch_range(f, url, expect, begin, end, cb, ctx, fetched, NULL, err);
}

/* ---------------------------------------------------------------------------------------------
 * Small objects */

/* The body of a small object, gathered up to a cap. */
typedef struct small_body {
    tokfs_buf buf;
    size_t max;
} small_body;

static int small_append(void *ctx, const uint8_t *data, size_t len)
{
    small_body *b = ctx;
    if (len > b->max - b->buf.len)
        return -EFBIG;
    return tokfs_buf_append(&b->buf, data, len);
}

int tokfs_fetch_small_header(tokfs_fetcher *f, const char *url, size_t max_bytes, char **out,
                             size_t *out_len, const char *header, char *header_value,
                             size_t header_size, tokfs_err *err)
{
    tokfs_err_clear(err);
    if (header_value && header_size)
        header_value[0] = '\0';
    if (!out)
        return tokfs_err_set(err, EINVAL, "tokfs_fetch_small: no output");
    *out = NULL;
    if (out_len)
        *out_len = 0;

    http_reply capture = {0};
    if (header && header_value && header_size) {
        capture.capture_name = header;
        capture.capture_value = header_value;
        capture.capture_size = header_size;
    }
    /* The streaming reader already retries and resumes; collect its chunks with a cap. */
    small_body b = {.max = max_bytes};
    int rc = fetch_range(f, url, NULL, 0, -1, small_append, &b, NULL,
                         capture.capture_name ? &capture : NULL, err);
    if (rc == -EFBIG) {
        char safe_url[SAFE_URL_MAX];
        tokfs_url_redact(url, safe_url, sizeof safe_url);
        tokfs_err_set(err, EFBIG, "%s: larger than the %zu-byte limit for list files; is this "
                                  "really a list file?",
                      safe_url, max_bytes);
    }
    if (rc == 0 && tokfs_buf_reserve(&b.buf, 1) != 0) /* room for the NUL */
        rc = tokfs_err_set(err, ENOMEM, "out of memory");
    if (rc < 0) {
        tokfs_buf_free(&b.buf);
        return rc;
    }
    b.buf.data[b.buf.len] = '\0';
    *out = (char *)b.buf.data;
    if (out_len)
        *out_len = b.buf.len;
    return 0;
}

int tokfs_fetch_small(tokfs_fetcher *f, const char *url, size_t max_bytes, char **out,
                      size_t *out_len, tokfs_err *err)
{
    return tokfs_fetch_small_header(f, url, max_bytes, out, out_len, NULL, NULL, 0, err);
}

/* ---------------------------------------------------------------------------------------------
 * Uploads (an object store as the shared tier's DEST) */

typedef struct put_body {
    const uint8_t *data; /* the body, or NULL: read from fd */
    int fd;
    uint64_t size, sent;
} put_body;

static size_t put_read(char *buf, size_t size, size_t n, void *userp)
{
    put_body *b = userp;
    size_t want = size * n;
    if (b->size - b->sent < want)
        want = (size_t)(b->size - b->sent);
    if (!want)
        return 0;
    if (b->data) {
        memcpy(buf, b->data + b->sent, want);
    } else {
        ssize_t got = pread(b->fd, buf, want, (off_t)b->sent);
        if (got <= 0)
            return CURL_READFUNC_ABORT; /* the file is shorter than announced */
        want = (size_t)got;
    }
    b->sent += want;
    return want;
}

int tokfs_fetch_put(tokfs_fetcher *f, const char *url, const void *data, int fd, uint64_t size,
                    tokfs_err *err)
{
    char safe_url[SAFE_URL_MAX], what[WHAT_MAX];
    tokfs_url_redact(url, safe_url, sizeof safe_url);
    snprintf(what, sizeof what, "PUT %s", safe_url);
    if (!tokfs_url_is_http(url))
        return tokfs_err_set(err, EINVAL, "%s: only http(s) URLs take uploads", what);
    struct curl_slist *headers = NULL, *grown;
    /* The body is bytes; a signed upload says its payload is not hashed (SigV4's
     * UNSIGNED-PAYLOAD: curl signs the header's value as given). No "Expect:" to turn off
     * 100-continue: curl would sign that emptied header and not send it, a signature the store
     * cannot match; the wait is cut short with CURLOPT_EXPECT_100_TIMEOUT_MS instead. */
    const char *fixed[] = {"Content-Type: application/octet-stream",
                           aws_signs(f, url) ? "x-amz-content-sha256: UNSIGNED-PAYLOAD" : NULL,
                           aws_signs(f, url) ? f->aws_token_header : NULL};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        if (!fixed[k])
            continue;
        if (!(grown = curl_slist_append(headers, fixed[k]))) {
            curl_slist_free_all(headers);
            return tokfs_err_set(err, ENOMEM, "%s: out of memory", what);
        }
        headers = grown;
    }
    int rc, failures = 0;
    http_reply reply = {0};
    for (;;) {
        put_body body = {.data = data, .fd = fd, .size = size};
        if ((rc = http_setup(f, url, headers, NULL, NULL, &reply, err, what)) < 0)
            break;
        curl_easy_setopt(f->curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(f->curl, CURLOPT_READFUNCTION, put_read);
        curl_easy_setopt(f->curl, CURLOPT_READDATA, &body);
        curl_easy_setopt(f->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
        curl_easy_setopt(f->curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 100L);
        CURLcode res = curl_easy_perform(f->curl);
        if (res == CURLE_ABORTED_BY_CALLBACK && !data) {
            rc = tokfs_err_set(err, EIO, "%s: the file to upload is shorter than %llu bytes",
                               what, (unsigned long long)size);
            break;
        }
        rc = judge_exchange(f, url, what, res, reply.status, err);
        if (rc == 1) {
            if (failures >= f->cfg.retries) {
                rc = give_up(what, failures + 1, err);
                break;
            }
            backoff_sleep(f, failures++);
            continue;
        }
        if (rc == 0)
            tokfs_err_clear(err);
        break;
    }
    curl_slist_free_all(headers);
    return rc;
}
