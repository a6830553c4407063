/* tokfs — Hugging Face hub datasets as a SOURCE (see hf.h).
 *
 * Plan-time requests, all to the endpoint (with the bearer token, if any):
 *   1. GET {endpoint}/api/datasets/OWNER/NAME/revision/REVISION?expand=sha  -> the commit id
 *      (skipped when REVISION is a 40-hex commit id already);
 *   2. GET {endpoint}/api/datasets/OWNER/NAME/tree/COMMIT/DIR?recursive=true, and every page its
 *      Link: <...>; rel="next" header names -> files with their sizes;
 *   3. HEAD of the first selected file's resolve URL (following the redirect): access (gated
 *      datasets list fine but refuse their files) and size, checked once.
 * Nothing else: no HEAD per file, no content. */
#include "source/hf.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/log.h"
#include "source/format.h"

#define HF_FORM "hf://datasets/OWNER/NAME[@REVISION]/PATH_OR_GLOB"
#define API_PAGE_MAX (64u << 20)     /* one page of the listing, or the revision's info */
#define LINK_MAX (128u * 1024)      /* above curl's longest header line (100 KiB) */
#define MAX_PAGES 100000u
#define SAFE_URL_MAX 768

int tokfs_hf_is_source(const char *source)
{
    return source && strncmp(source, "hf://", 5) == 0;
}

/* ---- parsing the SOURCE ------------------------------------------------------------------ */

static int repo_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= 128 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* Length of the revision at s (after '@'): up to the next '/', except the slashed refs the hub
 * knows by these literal names. */
static size_t revision_len(const char *s)
{
    static const char convert[] = "refs/convert/parquet";
    size_t n = sizeof convert - 1;
    if (strncmp(s, convert, n) == 0 && (s[n] == '/' || s[n] == '\0'))
        return n;
    if (strncmp(s, "refs/pr/", 8) == 0 && isdigit((unsigned char)s[8])) {
        n = 8;
        while (isdigit((unsigned char)s[n]))
            n++;
        if (s[n] == '/' || s[n] == '\0')
            return n;
    }
    return strcspn(s, "/");
}

int tokfs_hf_parse(const char *source, tokfs_hf_ref *ref, tokfs_err *err)
{
    memset(ref, 0, sizeof *ref);
    if (!tokfs_hf_is_source(source))
        return tokfs_err_set(err, EINVAL, "%s: not an hf:// URL; write " HF_FORM, source);
    const char *p = source + 5;
    if (strncmp(p, "datasets/", 9) != 0)
        return tokfs_err_set(err, EINVAL,
                             "%s: tokfs reads Hugging Face dataset repos only; write " HF_FORM,
                             source);
    p += 9;
    size_t n = strcspn(p, "/@");
    if (p[n] != '/' || !repo_name_ok(p, n))
        return tokfs_err_set(err, EINVAL,
                             "%s: bad or missing OWNER/NAME (letters, digits, '-', '_', '.'); "
                             "write " HF_FORM,
                             source);
    memcpy(ref->owner, p, n);
    p += n + 1;
    n = strcspn(p, "/@");
    if (!repo_name_ok(p, n))
        return tokfs_err_set(err, EINVAL,
                             "%s: bad or missing dataset NAME (letters, digits, '-', '_', '.'); "
                             "write " HF_FORM,
                             source);
    memcpy(ref->name, p, n);
    p += n;

    if (*p == '@') {
        p++;
        n = revision_len(p);
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (c == '%') {
                int hi = i + 2 < n ? tokfs_hex_value(p[i + 1]) : -1;
                int lo = hi < 0 ? -1 : tokfs_hex_value(p[i + 2]);
                if (hi < 0 || lo < 0)
                    return tokfs_err_set(err, EINVAL, "%s: bad percent-escape in the revision",
                                         source);
                c = (char)(hi * 16 + lo);
                i += 2;
            }
            if ((unsigned char)c < 0x20 || c == 0x7f || out + 1 >= sizeof ref->revision)
                return tokfs_err_set(err, EINVAL, "%s: bad revision after '@'", source);
            ref->revision[out++] = c;
        }
        if (out == 0)
            return tokfs_err_set(err, EINVAL,
                                 "%s: empty revision after '@'; write " HF_FORM
                                 " (REVISION: a branch, tag or commit; default main)",
                                 source);
        p += n;
    } else {
        strcpy(ref->revision, "main");
    }

    if (*p == '/')
        p++;
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n >= sizeof ref->path)
        return tokfs_err_set(err, ENAMETOOLONG, "%.80s...: path in the repo is too long", source);
    memcpy(ref->path, p, n);
    /* Segments: none empty, none "." or "..", no control characters (git forbids them all). */
    for (const char *seg = ref->path; *seg;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return tokfs_err_set(err, EINVAL,
                                 "%s: the path in the repo has an empty, '.' or '..' segment",
                                 source);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)seg[i] < 0x20 || seg[i] == 0x7f)
                return tokfs_err_set(err, EINVAL,
                                     "%s: control character in the path in the repo", source);
        seg += len;
        if (*seg == '/')
            seg++;
    }
    return 0;
}

/* ---- glob ---------------------------------------------------------------------------------- */

int tokfs_hf_has_glob(const char *pattern)
{
    return strpbrk(pattern, "*?[\\") != NULL;
}

/* p at '['. 1 if c is in the class, 0 if not, -1 when the class is unterminated (then '[' is an
 * ordinary character). *end is set past the ']'. */
static int class_match(const char *p, unsigned char c, const char **end)
{
    const char *q = p + 1;
    int negate = 0, matched = 0;
    if (*q == '!' || *q == '^') {
        negate = 1;
        q++;
    }
    for (int first = 1; *q && (*q != ']' || first); first = 0) {
        unsigned char lo = (unsigned char)*q, hi;
        if (lo == '\\' && q[1])
            lo = (unsigned char)*++q;
        q++;
        if (q[0] == '-' && q[1] && q[1] != ']') {
            q++;
            hi = (unsigned char)*q;
            if (hi == '\\' && q[1])
                hi = (unsigned char)*++q;
            q++;
        } else {
            hi = lo;
        }
        if (c >= lo && c <= hi)
            matched = 1;
    }
    if (*q != ']')
        return -1;
    *end = q + 1;
    return matched != negate;
}

/* Backtracking with a memo of the (pattern, path) positions known not to match, so patterns
 * with many stars stay polynomial ("*a*a*a*a*b" against a long run of a's). */
typedef struct glob_ctx {
    const char *pat, *str;
    size_t str_len;
    unsigned char *failed; /* one bit per (pattern offset, path offset); NULL = no memo */
} glob_ctx;

static int glob_at(glob_ctx *g, const char *p, const char *s);

static int glob_from(glob_ctx *g, const char *p, const char *s)
{
    size_t bit = 0;
    if (g->failed) {
        bit = (size_t)(p - g->pat) * (g->str_len + 1) + (size_t)(s - g->str);
        if (g->failed[bit / 8] & (1u << (bit % 8)))
            return 0;
    }
    int r = glob_at(g, p, s);
    if (!r && g->failed)
        g->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
    return r;
}

static int glob_at(glob_ctx *g, const char *p, const char *s)
{
    while (*p) {
        if (p[0] == '*' && p[1] == '*') {
            const char *q = p;
            while (*q == '*')
                q++;
            if ((p == g->pat || p[-1] == '/') && *q == '/') {
                /* A whole "**" segment: no directory, or any run of them. */
                if (glob_from(g, q + 1, s))
                    return 1;
                for (const char *t = s; *t; t++)
                    if (*t == '/' && glob_from(g, q + 1, t + 1))
                        return 1;
                return 0;
            }
            for (const char *t = s;; t++) { /* any run, '/' included */
                if (glob_from(g, q, t))
                    return 1;
                if (!*t)
                    return 0;
            }
        }
        if (*p == '*') {
            for (const char *t = s;; t++) { /* any run within the segment */
                if (glob_from(g, p + 1, t))
                    return 1;
                if (!*t || *t == '/')
                    return 0;
            }
        }
        if (!*s)
            return 0;
        if (*p == '?') {
            if (*s == '/')
                return 0;
            p++;
            s++;
            continue;
        }
        if (*p == '[') {
            const char *next;
            int r = class_match(p, (unsigned char)*s, &next);
            if (r >= 0) {
                if (!r || *s == '/')
                    return 0;
                p = next;
                s++;
                continue;
            }
        }
        if (*p == '\\' && p[1])
            p++;
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

int tokfs_hf_glob_match(const char *pattern, const char *path)
{
    glob_ctx g = {.pat = pattern, .str = path, .str_len = strlen(path)};
    size_t bits = (strlen(pattern) + 1) * (g.str_len + 1);
    if (strchr(pattern, '*'))
        g.failed = calloc(bits / 8 + 1, 1); /* without memory: plain backtracking */
    int r = glob_from(&g, pattern, path);
    free(g.failed);
    return r;
}

size_t tokfs_hf_literal_dir(const char *pattern)
{
    size_t dir_end = 0; /* end of the literal segments seen so far, without the '/' */
    for (const char *seg = pattern; *seg;) {
        size_t len = strcspn(seg, "/");
        for (size_t i = 0; i < len; i++)
            if (strchr("*?[\\", seg[i]))
                return dir_end;
        if (!seg[len])
            return dir_end; /* the last segment names files, not a directory */
        dir_end = (size_t)(seg - pattern) + len;
        seg += len + 1;
    }
    return dir_end;
}

/* ---- URLs ---------------------------------------------------------------------------------- */

int tokfs_hf_endpoint(const tokfs_config *cfg, char *out, size_t out_size, tokfs_err *err)
{
    const char *ep = cfg->hf_endpoint && cfg->hf_endpoint[0] ? cfg->hf_endpoint
                                                             : TOKFS_HF_DEFAULT_ENDPOINT;
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    if (!tokfs_url_is_http(ep) || n >= out_size || strpbrk(ep, "?# \t\r\n") ||
        tokfs_url_check(ep, NULL) != 0) {
        char safe[SAFE_URL_MAX];
        tokfs_url_redact(ep, safe, sizeof safe);
        return tokfs_err_set(err, EINVAL,
                             "HF_ENDPOINT=%s is not an http:// or https:// URL (the default is "
                             TOKFS_HF_DEFAULT_ENDPOINT ")",
                             safe);
    }
    memcpy(out, ep, n);
    out[n] = '\0';
    return 0;
}

/* Resolve the URL reference u[0..n) of a Link against base, with curl's URL API (url.h). 1, or
 * -EINVAL when it holds a blank or a control character, curl refuses it, it is not http(s) or it
 * does not fit; -ENOMEM. */
static int resolve_link(const char *u, size_t n, const char *base, char *out, size_t out_size)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return -EINVAL;
    char *ref = strndup(u, n), *url = NULL;
    int rc = ref ? tokfs_url_resolve(base, ref, &url, NULL) : -ENOMEM;
    if (rc == 0 && (!tokfs_url_is_http(url) || strlen(url) >= out_size))
        rc = -EINVAL;
    if (rc == 0)
        strcpy(out, url);
    free(ref);
    free(url);
    return rc == 0 ? 1 : rc;
}

int tokfs_hf_link_next(const char *link, const char *base, char *out, size_t out_size)
{
    const char *p = link;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return 0;
        if (*p != '<')
            return -EINVAL;
        const char *u = ++p, *ue = strchr(u, '>');
        if (!ue)
            return -EINVAL;
        p = ue + 1;
        int is_next = 0;
        while (*p && *p != ',') { /* the link's parameters: ; name[=value] */
            const char *at = p;
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            const char *name = p;
            while (*p && !strchr("=;, \t", *p))
                p++;
            size_t name_len = (size_t)(p - name);
            while (*p == ' ' || *p == '\t')
                p++;
            const char *val = NULL;
            size_t val_len = 0;
            if (*p == '=') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if (*p == '"') {
                    val = ++p;
                    while (*p && *p != '"')
                        p += (*p == '\\' && p[1]) ? 2 : 1;
                    val_len = (size_t)(p - val);
                    if (*p == '"')
                        p++;
                } else {
                    val = p;
                    while (*p && !strchr(";, \t", *p))
                        p++;
                    val_len = (size_t)(p - val);
                }
            }
            if (val && name_len == 3 && strncasecmp(name, "rel", 3) == 0) {
                /* a space-separated list of relation types */
                for (size_t i = 0; i < val_len;) {
                    size_t len = 0;
                    while (i + len < val_len && val[i + len] != ' ')
                        len++;
                    if (len == 4 && strncasecmp(val + i, "next", 4) == 0)
                        is_next = 1;
                    i += len + 1;
                }
            }
            if (p == at)
                p++; /* a stray character: step over it */
        }
        if (is_next)
            return resolve_link(u, (size_t)(ue - u), base, out, out_size);
    }
}

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct hf_file {
    char *path;      /* in the repo, as listed */
    int64_t size;
} hf_file;

typedef struct list_ctx {
    const char *source;
    const tokfs_config *cfg;
    const tokfs_hf_ref *ref;
    int literal;             /* ref->path has no glob: the file itself, or all below it */
    hf_file *files;
    size_t count, cap;
    size_t listed;           /* files in the listing (any path) */
    size_t other_format;     /* selected by the pattern, but not a format tokfs reads */
    int dir_seen;            /* literal: a directory entry named exactly ref->path was listed */
    char other_example[160];
    size_t pages;
} list_ctx;

static void ctx_clear(list_ctx *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->files[i].path);
    free(c->files);
    c->files = NULL;
    c->count = c->cap = c->listed = c->other_format = c->pages = 0;
    c->dir_seen = 0;
    c->other_example[0] = '\0';
}

static int selected(const list_ctx *c, const char *path)
{
    const char *pat = c->ref->path;
    if (!c->literal)
        return tokfs_hf_glob_match(pat, path);
    size_t n = strlen(pat);
    return n == 0 || (strncmp(path, pat, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* The fetch message up to its advice ("...: HTTP 401 (access denied)"), for our own advice. */
static const char *fetch_reason(const tokfs_err *ferr, char *buf, size_t size)
{
    const char *cut = strstr(ferr->msg, "; ");
    size_t n = cut ? (size_t)(cut - ferr->msg) : strlen(ferr->msg);
    snprintf(buf, size, "%.*s", (int)n, ferr->msg);
    return buf;
}

/* A failed API request, as a message naming the source and the fix. */
static int hub_failure(const list_ctx *c, int rc, const tokfs_err *ferr, tokfs_err *err)
{
    char why[400];
    fetch_reason(ferr, why, sizeof why);
    if (rc == -EACCES) { /* the advice first: the detail may be cut at the message's size */
        if (c->cfg->hf_token && c->cfg->hf_token[0])
            return tokfs_err_set(err, EACCES,
                                 "%s: the hub denied access with HF_TOKEN: use a token with read "
                                 "access to %s/%s (for a gated dataset, accept its conditions on "
                                 "its page first) [%s]",
                                 c->source, c->ref->owner, c->ref->name, why);
        return tokfs_err_set(err, EACCES,
                             "%s: the hub denied access: set HF_TOKEN to a Hugging Face access "
                             "token with read access (%s/%s is private or gated, or does not "
                             "exist) [%s]",
                             c->source, c->ref->owner, c->ref->name, why);
    }
    return tokfs_err_set(err, -rc, "%s: %s", c->source, ferr->msg[0] ? ferr->msg : strerror(-rc));
}

static int add_file(list_ctx *c, const char *path, int64_t size)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        hf_file *grown = realloc(c->files, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        c->files = grown;
        c->cap = cap;
    }
    if (!(c->files[c->count].path = strdup(path)))
        return -ENOMEM;
    c->files[c->count++].size = size;
    return 0;
}

/* The repo path as it goes into a URL (percent-encoded, '/' kept); malloc'd, NULL if no memory. */
static char *quoted_path(const char *path)
{
    size_t size = strlen(path) * 3 + 1;
    char *q = malloc(size);
    if (q && tokfs_url_quote(path, 1, q, size) != 0) {
        free(q);
        q = NULL;
    }
    return q;
}

static int parse_page(list_ctx *c, const char *text, size_t len, const char *safe_url,
                      tokfs_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root || !json_is_array(root)) {
        json_decref(root);
        return tokfs_err_set(err, EIO, "%s: the hub's listing %s is not a JSON array%s%s",
                             c->source, safe_url, root ? "" : ": ", root ? "" : jerr.text);
    }
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!type || !path) {
            rc = tokfs_err_set(err, EIO, "%s: the hub's listing %s has an entry without type or "
                                         "path",
                               c->source, safe_url);
            break;
        }
        if (strcmp(type, "file") != 0) {
            if (c->literal && strcmp(type, "directory") == 0 && strcmp(path, c->ref->path) == 0)
                c->dir_seen = 1;
            continue;
        }
        c->listed++;
        if (!selected(c, path))
            continue;
        json_t *size = json_object_get(e, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            rc = tokfs_err_set(err, EIO, "%s: the hub's listing gives no size for %.200s",
                               c->source, path);
            break;
        }
        tokfs_hf_ref check;
        char as_source[sizeof check.path + 64];
        snprintf(as_source, sizeof as_source, "hf://datasets/o/n/%s", path);
        if (!path[0] || path[0] == '/' || tokfs_hf_parse(as_source, &check, NULL) != 0 ||
            strcmp(check.path, path) != 0) {
            rc = tokfs_err_set(err, EIO, "%s: the hub's listing has an unusable path %.200s",
                               c->source, path);
            break;
        }
        char *q = quoted_path(path);
        if (!q) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        int format = tokfs_format_from_name(q); /* encoded: a '?' or '#' in a name is no query */
        free(q);
        if (!format) {
            if (c->other_format++ == 0)
                snprintf(c->other_example, sizeof c->other_example, "%s", path);
            continue;
        }
        if ((rc = add_file(c, path, (int64_t)json_integer_value(size))) < 0) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
    }
    json_decref(root);
    return rc;
}

/* List the tree below dir (no leading/trailing '/', "" = the repo's root), all pages; only its
 * direct entries unless recursive. -ENOENT (err untouched) when the hub says there is no such
 * directory. */
static int list_tree(list_ctx *c, tokfs_fetcher *fetcher, const char *endpoint,
                     const char *commit, const char *dir, int recursive, tokfs_err *err)
{
    char *qdir = quoted_path(dir);
    char *url = NULL, *link = malloc(LINK_MAX), *next = malloc(LINK_MAX);
    int rc = 0;
    if (!qdir || !link || !next ||
        asprintf(&url, "%s/api/datasets/%s/%s/tree/%s%s%s%s", endpoint, c->ref->owner,
                 c->ref->name, commit, dir[0] ? "/" : "", qdir,
                 recursive ? "?recursive=true" : "") < 0) {
        url = NULL;
        rc = tokfs_err_set(err, ENOMEM, "out of memory");
    }
    while (rc == 0) {
        char *text = NULL, safe_url[SAFE_URL_MAX];
        size_t len = 0;
        tokfs_err ferr = {{0}};
        tokfs_url_redact(url, safe_url, sizeof safe_url);
        rc = tokfs_fetch_small_header(fetcher, url, API_PAGE_MAX, &text, &len, "Link", link,
                                      LINK_MAX, &ferr);
        if (rc == -ENOENT && c->pages == 0)
            break;
        if (rc) {
            rc = hub_failure(c, rc, &ferr, err);
            break;
        }
        c->pages++;
        rc = parse_page(c, text, len, safe_url, err);
        free(text);
        if (rc)
            break;
        int found = tokfs_hf_link_next(link, url, next, LINK_MAX);
        if (found == -ENOMEM) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        if (found < 0) {
            rc = tokfs_err_set(err, EIO, "%s: the hub's listing %s has a malformed Link header",
                               c->source, safe_url);
            break;
        }
        if (found == 0)
            break;
        if (strcmp(next, url) == 0 || c->pages >= MAX_PAGES) {
            rc = tokfs_err_set(err, EIO, "%s: the hub's listing %s does not stop paginating",
                               c->source, safe_url);
            break;
        }
        char *copy = strdup(next);
        if (!copy) {
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        free(url);
        url = copy;
    }
    free(qdir);
    free(url);
    free(link);
    free(next);
    return rc;
}

static int is_commit_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 40 && s[n] == '\0';
}

/* The commit REVISION points at now: every URL of the plan names it, so the bytes behind them
 * cannot change while the plan lives. */
static int resolve_commit(list_ctx *c, tokfs_fetcher *fetcher, const char *endpoint,
                          char commit[41], tokfs_err *err)
{
    const tokfs_hf_ref *ref = c->ref;
    if (is_commit_id(ref->revision)) {
        memcpy(commit, ref->revision, 41);
        return 0;
    }
    char rev[3 * sizeof ref->revision], *url = NULL, *text = NULL, safe_url[SAFE_URL_MAX];
    size_t len = 0;
    if (tokfs_url_quote(ref->revision, 0, rev, sizeof rev) != 0 ||
        asprintf(&url, "%s/api/datasets/%s/%s/revision/%s?expand=sha", endpoint, ref->owner,
                 ref->name, rev) < 0)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    tokfs_url_redact(url, safe_url, sizeof safe_url);
    tokfs_err ferr = {{0}};
    int rc = tokfs_fetch_small(fetcher, url, API_PAGE_MAX, &text, &len, &ferr);
    free(url);
    if (rc == -ENOENT) {
        char why[300];
        return tokfs_err_set(err, ENOENT,
                             "%s: the hub has no dataset %s/%s, or no revision %s of it: "
                             "check the name and the revision [%s]",
                             c->source, ref->owner, ref->name, ref->revision,
                             fetch_reason(&ferr, why, sizeof why));
    }
    if (rc)
        return hub_failure(c, rc, &ferr, err);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    const char *sha = json_string_value(json_object_get(root, "sha"));
    if (!sha || !is_commit_id(sha)) {
        json_decref(root);
        return tokfs_err_set(err, EIO,
                             "%s: %s did not answer with a commit id (\"sha\"); is HF_ENDPOINT "
                             "a Hugging Face hub?",
                             c->source, safe_url);
    }
    memcpy(commit, sha, 41);
    json_decref(root);
    return 0;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const hf_file *)a)->path, ((const hf_file *)b)->path);
}

int tokfs_hf_list(const tokfs_config *cfg, tokfs_fetcher *fetcher, tokfs_listing *out,
                  tokfs_err *err)
{
    memset(out, 0, sizeof *out);
    tokfs_hf_ref ref;
    char endpoint[1024], commit[41];
    tokfs_err ep_err = {{0}};
    int rc = tokfs_hf_parse(cfg->source, &ref, err);
    if (rc)
        return rc;
    if ((rc = tokfs_hf_endpoint(cfg, endpoint, sizeof endpoint, &ep_err)) != 0)
        return tokfs_err_set(err, -rc, "%s: %s", cfg->source, ep_err.msg);
    list_ctx c = {.source = cfg->source, .cfg = cfg, .ref = &ref,
                  .literal = !tokfs_hf_has_glob(ref.path)};
    if ((rc = resolve_commit(&c, fetcher, endpoint, commit, err)) != 0)
        return rc;

    /* The directory to list, recursively: the glob's literal prefix. A literal path is a file
     * or a directory: its parent's own entries say which (one small listing, not the parent's
     * whole subtree); a directory is then listed recursively. */
    char dir[sizeof ref.path];
    if (!c.literal) {
        size_t n = tokfs_hf_literal_dir(ref.path);
        memcpy(dir, ref.path, n);
        dir[n] = '\0';
        rc = list_tree(&c, fetcher, endpoint, commit, dir, 1, err);
    } else if (!ref.path[0]) {
        dir[0] = '\0';
        rc = list_tree(&c, fetcher, endpoint, commit, dir, 1, err);
    } else {
        snprintf(dir, sizeof dir, "%s", ref.path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
        rc = list_tree(&c, fetcher, endpoint, commit, dir, 0, err);
        if (rc == 0 && c.dir_seen) {
            ctx_clear(&c);
            snprintf(dir, sizeof dir, "%s", ref.path);
            rc = list_tree(&c, fetcher, endpoint, commit, dir, 1, err);
        }
    }
    if (rc == -ENOENT)
        rc = 0; /* no such directory: nothing matches */
    const char *what = ref.path[0] ? ref.path : "(the whole repo)";
    if (rc == 0 && c.count == 0) {
        if (c.other_format)
            rc = tokfs_err_set(err, ENOENT,
                               "%s: %zu file(s) match %s in %s/%s@%s, none in a format tokfs "
                               "reads (e.g. %s); it reads .parquet, .txt, .jsonl, .ndjson, "
                               "those or .json compressed as .zst or .gz, and token ids in "
                               ".bin and .npy files",
                               cfg->source, c.other_format, what, ref.owner, ref.name,
                               ref.revision, c.other_example);
        else
            rc = tokfs_err_set(err, ENOENT,
                               "%s: no file matches %s in %s/%s@%s (%zu file(s) listed under "
                               "/%s); '*' stays within a directory, '**' crosses them",
                               cfg->source, what, ref.owner, ref.name, ref.revision, c.listed,
                               dir);
    }
    if (rc == 0) {
        qsort(c.files, c.count, sizeof *c.files, cmp_files);
        size_t kept = 0; /* a path listed twice (a page repeated) is one source */
        for (size_t i = 0; i < c.count; i++) {
            if (kept && strcmp(c.files[kept - 1].path, c.files[i].path) == 0) {
                free(c.files[i].path);
                continue;
            }
            c.files[kept++] = c.files[i];
        }
        c.count = kept;
        out->names = calloc(c.count, sizeof *out->names);
        out->sizes = calloc(c.count, sizeof *out->sizes);
        out->cap = c.count;
        if (!out->names || !out->sizes)
            rc = tokfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < c.count; i++) {
            char *q = quoted_path(c.files[i].path);
            if (!q || asprintf(&out->names[i], "%s/datasets/%s/%s/resolve/%s/%s", endpoint,
                               ref.owner, ref.name, commit, q) < 0) {
                out->names[i] = NULL;
                rc = tokfs_err_set(err, ENOMEM, "out of memory");
            }
            free(q);
            out->sizes[i] = c.files[i].size;
            out->count = i + 1;
        }
    }
    if (rc == 0) {
        /* One HEAD (of the first file, through the hub's redirect), not one per file: a gated
         * dataset lists fine without access but refuses its files, and a mirror may list what it
         * does not serve. Better said at mount than as EIO on every read. */
        tokfs_object_info probe;
        tokfs_err ferr = {{0}};
        int prc = tokfs_fetch_stat(fetcher, out->names[0], &probe, &ferr);
        if (prc)
            rc = hub_failure(&c, prc, &ferr, err);
        else if (probe.size >= 0 && probe.size != out->sizes[0])
            rc = tokfs_err_set(err, EIO,
                               "%s: the hub lists %lld bytes for %s but serves %lld; is "
                               "HF_ENDPOINT a consistent mirror?",
                               cfg->source, (long long)out->sizes[0], c.files[0].path,
                               (long long)probe.size);
    }
    if (rc == 0)
        tokfs_log(TOKFS_LOG_INFO, "%s: %zu file(s) of %s/%s@%s at commit %s (%zu listed, %zu "
                                  "page(s)%s)",
                  cfg->source, out->count, ref.owner, ref.name, ref.revision, commit, c.listed,
                  c.pages, c.other_format ? ", others in formats tokfs does not read" : "");
    ctx_clear(&c);
    if (rc)
        tokfs_listing_free(out);
    return rc;
}
