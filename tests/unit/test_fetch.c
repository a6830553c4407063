/* Tests for core/source/fetch.c.
 *
 * Without environment: URL helpers (redaction), local paths and file:// URLs, in a temp dir.
 * With TOKFS_TEST_HTTP_URL (and TOKFS_TEST_HTTP_ROOT, the directory nginx serves): the HTTP
 * side against a real nginx started by tests/integration/test_fetch.sh, which also sets
 * TOKFS_TEST_FAULT_URL to a small fault-injecting Python server over the same directory.
 * The HTTP base URL may also be given as argv[1]. */
#include "check.h"
#include "common/hash.h"
#include "source/fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Helpers */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
    return tokfs_splitmix64(&rng_state);
}

/* What a fetch callback saw. */
typedef struct sink {
    uint8_t *data;
    size_t len, cap;
    size_t calls;
    size_t largest_chunk;
    size_t stop_after;   /* return 1 once this many bytes arrived (0 = never) */
    int fail_after_rc;   /* with stop_after: return this negative value instead of 1 */
} sink;

static int sink_cb(void *ctx, const uint8_t *data, size_t len)
{
    sink *s = ctx;
    if (len == 0) {
        fprintf(stderr, "callback called with 0 bytes\n");
        check_failures++;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + len)
            cap *= 2;
        uint8_t *grown = realloc(s->data, cap);
        if (!grown)
            return -ENOMEM;
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->calls++;
    if (len > s->largest_chunk)
        s->largest_chunk = len;
    if (s->stop_after && s->len >= s->stop_after)
        return s->fail_after_rc ? s->fail_after_rc : 1;
    return 0;
}

static void sink_reset(sink *s)
{
    s->len = s->calls = s->largest_chunk = s->stop_after = 0;
    s->fail_after_rc = 0;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static int write_whole(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t n = fwrite(data, 1, len, fp);
    return fclose(fp) == 0 && n == len ? 0 : -1;
}

static void random_bytes(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(rnd() >> 24);
}

/* Move a file's mtime by `seconds` so even 1-second-resolution validators (nginx's ETag and
 * Last-Modified) see a change made within the same second. */
static void shift_mtime(const char *path, int seconds)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        check_failures++;
        return;
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    times[1].tv_sec += seconds;
    if (utimensat(AT_FDCWD, path, times, 0) != 0) {
        perror(path);
        check_failures++;
    }
}

static tokfs_fetcher *new_fetcher(int retries, int timeout_ms, int backoff_ms, const char *token)
{
    tokfs_fetch_config cfg = {
        .retries = retries, .timeout_ms = timeout_ms, .backoff_base_ms = backoff_ms,
        .insecure = 0, .bearer_token = token,
    };
    tokfs_fetcher *f = tokfs_fetcher_new(&cfg);
    if (!f) {
        fprintf(stderr, "tokfs_fetcher_new failed\n");
        exit(1);
    }
    return f;
}

#define CHECK_MSG_HAS(err, needle)                                                            \
    do {                                                                                      \
        if (!strstr((err).msg, (needle))) {                                                   \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,         \
                    (err).msg, (needle));                                                     \
            check_failures++;                                                                 \
        }                                                                                     \
    } while (0)

#define CHECK_MSG_LACKS(err, needle)                                                          \
    do {                                                                                      \
        if (strstr((err).msg, (needle))) {                                                    \
            fprintf(stderr, "%s:%d: message \"%s\" leaks \"%s\"\n", __FILE__, __LINE__,         \
                    (err).msg, (needle));                                                     \
            check_failures++;                                                                 \
        }                                                                                     \
    } while (0)

/* Fetch [begin, end) of url and compare with want[begin, end) (end -1: to want_len). */
static void check_range(tokfs_fetcher *f, const char *url, const tokfs_object_info *expect,
                        int64_t begin, int64_t end, const uint8_t *want, size_t want_len,
                        uint64_t *fetched)
{
    sink s = {0};
    tokfs_err err = {""};
    int rc = tokfs_fetch_range(f, url, expect, begin, end, sink_cb, &s, fetched, &err);
    if (rc != 0) {
        fprintf(stderr, "fetch %s [%lld, %lld): rc %d: %s\n", url, (long long)begin,
                (long long)end, rc, err.msg);
        check_failures++;
    } else {
        size_t stop = end < 0 ? want_len : (size_t)end;
        CHECK_MEM(s.data, s.len, want + begin, stop - (size_t)begin);
    }
    free(s.data);
}

/* 200 random ranges, plus the edges; all compared byte for byte. Returns the bytes asked. */
static uint64_t check_random_ranges(tokfs_fetcher *f, const char *url,
                                    const tokfs_object_info *expect, const uint8_t *want,
                                    size_t want_len, int count, uint64_t *fetched)
{
    uint64_t asked = 0;
    int64_t size = (int64_t)want_len;
    int64_t edges[][2] = {{0, 1}, {0, size}, {size - 1, size}, {0, 262144}, {262143, 262145},
                          {1, size - 1}};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        check_range(f, url, expect, edges[i][0], edges[i][1], want, want_len, fetched);
        asked += (uint64_t)(edges[i][1] - edges[i][0]);
    }
    for (int i = 0; i < count; i++) {
        int64_t b = (int64_t)(rnd() % want_len);
        /* Mostly small ranges, sometimes large ones that span several buffers. */
        int64_t max_len = (rnd() % 4 == 0) ? size - b : (size - b < 70000 ? size - b : 70000);
        int64_t e = b + 1 + (int64_t)(rnd() % (uint64_t)max_len);
        check_range(f, url, expect, b, e, want, want_len, fetched);
        asked += (uint64_t)(e - b);
    }
    return asked;
}

/* ---------------------------------------------------------------------------------------------
 * URL helpers */

static void check_redact(const char *url, const char *want)
{
    char out[512];
    tokfs_url_redact(url, out, sizeof out);
    if (strcmp(out, want) != 0) {
        fprintf(stderr, "redact(%s) = %s, want %s\n", url, out, want);
        check_failures++;
    }
}

static void test_url_helpers(void)
{
    check_redact("http://example.com/a/b.jsonl", "http://example.com/a/b.jsonl");
    check_redact("https://user:hunter2@example.com:8443/x.jsonl",
                 "https://***@example.com:8443/x.jsonl");
    check_redact("https://user@example.com/x", "https://***@example.com/x");
    check_redact("http://u:p@ss@h/x", "http://***@h/x");
    check_redact("http://host/a@b/c", "http://host/a@b/c"); /* '@' in the path is no userinfo */
    check_redact("https://h/x?token=abc&part=2&sig=zz#frag",
                 "https://h/x?token=***&part=2&sig=***#frag");
    check_redact("https://h/x?Signature=s&X-Amz-Signature=t&access_token=q&tokens=keep",
                 "https://h/x?Signature=***&X-Amz-Signature=***&access_token=***&tokens=keep");
    check_redact("https://h/x?token&a=1", "https://h/x?token&a=1");
    check_redact("https://h/x?a=1&&token=", "https://h/x?a=1&&token=***");
    check_redact("https://h?sig=1", "https://h?sig=***"); /* no path: '?' ends the host */
    check_redact("/data/corpus@v1.jsonl", "/data/corpus@v1.jsonl");
    check_redact("file:///data/a%20b.jsonl", "file:///data/a%20b.jsonl");
    check_redact("", "");

    /* Truncation keeps the output terminated and never lets a secret through. */
    char small[12];
    memset(small, 'X', sizeof small);
    tokfs_url_redact("https://user:secret@h/", small, sizeof small);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK(strstr(small, "secret") == NULL);
    char one[1] = {'X'};
    tokfs_url_redact("https://h/", one, 1);
    CHECK_EQ_INT(one[0], 0);
    char out[64];
    tokfs_url_redact(NULL, out, sizeof out);
    CHECK_EQ_INT(out[0], 0);
    tokfs_url_redact("https://h/?token=verylongsecret", out, 20);
    CHECK(strstr(out, "verylong") == NULL);

    CHECK(tokfs_url_is_http("http://h/x"));
    CHECK(tokfs_url_is_http("HTTPS://h/x"));
    CHECK(!tokfs_url_is_http("file:///x"));
    CHECK(!tokfs_url_is_http("http:/h"));
    CHECK(!tokfs_url_is_http("/http://x"));
    CHECK(!tokfs_url_is_http(NULL));
    CHECK(tokfs_url_is_local("/data/x.jsonl"));
    CHECK(tokfs_url_is_local("rel/x.jsonl"));
    CHECK(!tokfs_url_is_local("file:///x"));
    CHECK(!tokfs_url_is_local("FILE:///x"));
    CHECK(!tokfs_url_is_local("Https://h/x"));

    /* The bearer token's origin check: scheme, userinfo, host (any case) and port as written. */
    const char *ep = "https://huggingface.co";
    CHECK(tokfs_url_same_origin("https://huggingface.co/api/datasets/o/n", ep));
    CHECK(tokfs_url_same_origin("HTTPS://HuggingFace.co/x", ep));
    CHECK(tokfs_url_same_origin("https://huggingface.co?x", "https://huggingface.co/prefix/"));
    CHECK(!tokfs_url_same_origin("http://huggingface.co/x", ep));
    CHECK(!tokfs_url_same_origin("https://huggingface.co:443/x", ep));
    CHECK(!tokfs_url_same_origin("https://huggingface.co.evil/x", ep));
    CHECK(!tokfs_url_same_origin("https://u@huggingface.co/x", ep));
    CHECK(!tokfs_url_same_origin("https://huggingface.co:443@evil.example/x", ep));
    CHECK(!tokfs_url_same_origin("https://evil.example#@huggingface.co/x", ep));
    CHECK(!tokfs_url_same_origin("https://evil.example\\@huggingface.co/x", ep));
    CHECK(!tokfs_url_same_origin("https://huggingface.co/a b", ep)); /* curl refuses it */
    CHECK(!tokfs_url_same_origin("https://huggingface.co/x", "huggingface.co"));
    CHECK(!tokfs_url_same_origin("https://huggingface.co/x", "-"));
    CHECK(!tokfs_url_same_origin(NULL, ep));
    CHECK(tokfs_url_same_origin("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"));
    CHECK(!tokfs_url_same_origin("http://127.0.0.1:8081/x", "http://127.0.0.1:8080"));
    CHECK(!tokfs_url_same_origin("http://localhost:8080/x", "http://127.0.0.1:8080"));

    CHECK_EQ_INT(tokfs_url_check("https://h/prefix", NULL), 0);
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_url_check("https://", &err), -EINVAL);
    CHECK(strstr(err.msg, "https://") != NULL);
    CHECK_EQ_INT(tokfs_url_check("https://user:secret@h x/", &err), -EINVAL);
    CHECK(strstr(err.msg, "secret") == NULL && strstr(err.msg, "***@h x/") != NULL);
    CHECK_EQ_INT(tokfs_url_check("file:///x", NULL), -EINVAL);

    /* Relative references, RFC 3986 style, as curl resolves them. */
    static const char *const resolved[][3] = {
        {"http://h/lists/list.txt", "a.jsonl", "http://h/lists/a.jsonl"},
        {"http://h/lists/list.txt", "./sub/a.jsonl", "http://h/lists/sub/a.jsonl"},
        {"http://h/lists/list.txt", "../a.jsonl", "http://h/a.jsonl"},
        {"http://h/lists/list.txt", "/a.jsonl", "http://h/a.jsonl"},
        {"http://h/lists/list.txt", "//g/a.jsonl", "http://g/a.jsonl"},
        {"http://h/lists/list.txt?x=1", "?y=2", "http://h/lists/list.txt?y=2"},
        {"http://h/lists/list.txt", "https://o/b.jsonl", "https://o/b.jsonl"},
        {"http://h", "./a.jsonl", "http://h/a.jsonl"},
        {"http://h/l.txt", "./a b.jsonl", "http://h/a%20b.jsonl"},
        {"http://h/l.txt", "./a:b.jsonl", "http://h/a:b.jsonl"},
        {"file:///data/lists/l.txt", "./a.jsonl", "file:///data/lists/a.jsonl"},
    };
    for (size_t i = 0; i < sizeof resolved / sizeof resolved[0]; i++) {
        char *got = NULL;
        int rc = tokfs_url_resolve(resolved[i][0], resolved[i][1], &got, &err);
        if (rc != 0 || strcmp(got, resolved[i][2]) != 0) {
            fprintf(stderr, "resolve(%s, %s) = %d %s, want %s\n", resolved[i][0], resolved[i][1],
                    rc, rc ? err.msg : got, resolved[i][2]);
            check_failures++;
        }
        free(got);
    }
    char *got = NULL;
    CHECK_EQ_INT(tokfs_url_resolve("https://u:secret@h/l.txt", "a:b", &got, &err), -EINVAL);
    CHECK(got == NULL);
    CHECK(strstr(err.msg, "a:b") != NULL && strstr(err.msg, "secret") == NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK_EQ_INT(tokfs_url_resolve("not a url", "a.jsonl", &got, &err), -EINVAL);
    CHECK(strstr(err.msg, "not a url") != NULL);

    /* What a source string names. */
    char path[64];
    CHECK_EQ_INT(tokfs_url_locate("https://h/x", path, sizeof path, NULL), TOKFS_URL_HTTP);
    CHECK_EQ_INT(tokfs_url_locate("/d/x", path, sizeof path, NULL), TOKFS_URL_LOCAL);
    CHECK(strcmp(path, "/d/x") == 0);
    CHECK_EQ_INT(tokfs_url_locate("file://localhost/d/a%20b?q", path, sizeof path, NULL),
                 TOKFS_URL_LOCAL);
    CHECK(strcmp(path, "/d/a b") == 0);
    CHECK_EQ_INT(tokfs_url_locate("ftp://u:secret@h/x", path, sizeof path, &err), -EINVAL);
    CHECK(strstr(err.msg, "unsupported URL scheme") && !strstr(err.msg, "secret"));
    CHECK_EQ_INT(tokfs_url_locate("", path, sizeof path, &err), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * Local files and file:// URLs */

static void test_local(void)
{
    char dir[] = "/tmp/tokfs-test-fetch-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        check_failures++;
        return;
    }
    char big[256], odd[256], empty[256], stale[256], url[512];
    snprintf(big, sizeof big, "%s/big.bin", dir);
    snprintf(odd, sizeof odd, "%s/a b%%#?.txt", dir); /* needs escaping in a file:// URL */
    snprintf(empty, sizeof empty, "%s/empty.bin", dir);
    snprintf(stale, sizeof stale, "%s/stale.bin", dir);

    size_t big_len = 1024 * 1024 + 777; /* several 256 KiB read buffers and a tail */
    uint8_t *big_data = malloc(big_len);
    random_bytes(big_data, big_len);
    CHECK(write_whole(big, big_data, big_len) == 0);
    CHECK(write_whole(odd, "hello, odd name\n", 16) == 0);
    CHECK(write_whole(empty, "", 0) == 0);

    tokfs_fetcher *f = new_fetcher(2, 1000, 1, NULL);
    tokfs_err err = {""};
    tokfs_object_info info;

    /* stat: size, mtime in ns, no ETag, ranges always */
    CHECK_EQ_INT(tokfs_fetch_stat(f, big, &info, &err), 0);
    CHECK_EQ_INT(info.size, big_len);
    CHECK_EQ_INT(info.accepts_ranges, 1);
    CHECK_EQ_INT(info.etag[0], 0);
    struct stat st;
    stat(big, &st);
    char mtime[64];
    snprintf(mtime, sizeof mtime, "%lld",
             (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    CHECK(strcmp(info.last_modified, mtime) == 0);

    /* file:// forms, percent-decoded */
    tokfs_object_info odd_info;
    snprintf(url, sizeof url, "file://%s/a%%20b%%25%%23%%3F.txt", dir);
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &odd_info, &err), 0);
    CHECK_EQ_INT(odd_info.size, 16);
    snprintf(url, sizeof url, "FILE://localhost%s/a%%20b%%25%%23%%3f.txt", dir);
    char *text = NULL;
    size_t text_len = 0;
    CHECK_EQ_INT(tokfs_fetch_small(f, url, 100, &text, &text_len, &err), 0);
    CHECK(text && text_len == 16 && strcmp(text, "hello, odd name\n") == 0);
    free(text);
    CHECK_EQ_INT(tokfs_fetch_small(f, odd, 15, &text, &text_len, &err), -EFBIG);
    CHECK(text == NULL);
    CHECK_MSG_HAS(err, "limit");
    CHECK_EQ_INT(tokfs_fetch_small(f, empty, 100, &text, &text_len, &err), 0);
    CHECK(text && text_len == 0 && text[0] == '\0');
    free(text);

    snprintf(url, sizeof url, "file://otherhost%s/big.bin", dir);
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -EINVAL);
    CHECK_MSG_HAS(err, "file:///");
    snprintf(url, sizeof url, "file://%s/big%%2.bin", dir);
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -EINVAL);
    CHECK_EQ_INT(tokfs_fetch_stat(f, "ftp://h/x", &info, &err), -EINVAL);
    CHECK_MSG_HAS(err, "scheme");
    CHECK_EQ_INT(tokfs_fetch_stat(f, "", &info, &err), -EINVAL);

    /* missing file, directory */
    snprintf(url, sizeof url, "%s/missing.bin", dir);
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -ENOENT);
    CHECK_MSG_HAS(err, "missing.bin");
    sink s = {0};
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, 0, 10, sink_cb, &s, NULL, &err), -ENOENT);
    CHECK_EQ_INT(tokfs_fetch_stat(f, dir, &info, &err), -EIO);
    CHECK_MSG_HAS(err, "not a regular file");

    /* ranges: exact bytes, through the path and through file:// */
    tokfs_object_info big_info;
    CHECK_EQ_INT(tokfs_fetch_stat(f, big, &big_info, &err), 0);
    uint64_t fetched = 0;
    uint64_t asked = check_random_ranges(f, big, &big_info, big_data, big_len, 200, &fetched);
    CHECK_EQ_INT(fetched, asked);
    snprintf(url, sizeof url, "file://%s", big);
    check_random_ranges(f, url, &big_info, big_data, big_len, 20, NULL);

    /* open-ended, empty, at-the-end, past-the-end, bad arguments */
    check_range(f, big, &big_info, 1000, -1, big_data, big_len, NULL);
    check_range(f, big, NULL, 0, -1, big_data, big_len, NULL);
    sink_reset(&s);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, &big_info, 5, 5, sink_cb, &s, NULL, &err), 0);
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, &big_info, (int64_t)big_len, -1, sink_cb, &s, NULL,
                                   &err), 0);
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, NULL, 10, (int64_t)big_len + 1, sink_cb, &s, NULL,
                                   &err), -EIO);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, NULL, 10, 5, sink_cb, &s, NULL, &err), -EINVAL);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, NULL, -1, 5, sink_cb, &s, NULL, &err), -EINVAL);
    CHECK_EQ_INT(tokfs_fetch_range(f, empty, NULL, 0, -1, sink_cb, &s, NULL, &err), 0);
    CHECK_EQ_INT(s.calls, 0);

    /* chunking: at most the fixed buffer per callback */
    sink_reset(&s);
    CHECK_EQ_INT(tokfs_fetch_range(f, big, NULL, 0, -1, sink_cb, &s, NULL, &err), 0);
    CHECK(s.largest_chunk <= 256 * 1024);
    CHECK(s.calls >= 5);

    /* early stop and callback errors */
    sink_reset(&s);
    s.stop_after = 1;
    CHECK_EQ_INT(tokfs_fetch_range(f, big, &big_info, 7, -1, sink_cb, &s, NULL, &err), 0);
    CHECK_EQ_INT(s.calls, 1);
    CHECK_MEM(s.data, s.len, big_data + 7, s.len);
    sink_reset(&s);
    s.stop_after = 300000;
    s.fail_after_rc = -EPIPE;
    CHECK_EQ_INT(tokfs_fetch_range(f, big, &big_info, 0, -1, sink_cb, &s, NULL, &err), -EPIPE);
    CHECK(s.len >= 300000 && s.len < big_len);

    /* a changed file is refused: size change, then same size with a new mtime */
    CHECK(write_whole(stale, big_data, 5000) == 0);
    tokfs_object_info stale_info;
    CHECK_EQ_INT(tokfs_fetch_stat(f, stale, &stale_info, &err), 0);
    check_range(f, stale, &stale_info, 0, 5000, big_data, 5000, NULL);
    CHECK(write_whole(stale, big_data, 5001) == 0);
    sink_reset(&s);
    CHECK_EQ_INT(tokfs_fetch_range(f, stale, &stale_info, 0, 100, sink_cb, &s, NULL, &err),
                 -ESTALE);
    CHECK_MSG_HAS(err, "changed upstream");
    CHECK_MSG_HAS(err, "stale.bin");
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_INT(tokfs_fetch_stat(f, stale, &stale_info, &err), 0);
    check_range(f, stale, &stale_info, 0, -1, big_data, 5001, NULL);
    CHECK(write_whole(stale, big_data + 1, 5001) == 0);
    shift_mtime(stale, 10);
    snprintf(url, sizeof url, "file://%s", stale);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &stale_info, 0, 100, sink_cb, &s, NULL, &err),
                 -ESTALE);
    CHECK_MSG_HAS(err, "mtime");

    tokfs_fetcher_free(f);
    free(s.data);
    free(big_data);
    unlink(big);
    unlink(odd);
    unlink(empty);
    unlink(stale);
    rmdir(dir);
}

/* ---------------------------------------------------------------------------------------------
 * HTTP against nginx */

static char http_base[512];
static char http_root[512];

static void http_url(char *out, size_t size, const char *path)
{
    snprintf(out, size, "%s%s", http_base, path);
}

static uint8_t *root_file(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", http_root, name);
    uint8_t *data = read_whole(path, len);
    if (!data) {
        fprintf(stderr, "cannot read %s (run through tests/integration/test_fetch.sh)\n", path);
        exit(1);
    }
    return data;
}

static void test_http_basics(void)
{
    size_t big_len, ka_len, small_len;
    uint8_t *big = root_file("big.bin", &big_len);
    uint8_t *ka = root_file("ka.bin", &ka_len);
    uint8_t *small = root_file("small.txt", &small_len);
    char url[1024];
    tokfs_err err = {""};
    tokfs_object_info info;
    sink s = {0};

    tokfs_fetcher *f = new_fetcher(2, 5000, 5, NULL);

    /* stat: size, strong ETag, Last-Modified, ranges */
    http_url(url, sizeof url, "/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    tokfs_object_info big_info = info;
    CHECK_EQ_INT(info.size, big_len);
    CHECK(info.etag[0] == '"' && info.etag[strlen(info.etag) - 1] == '"');
    CHECK(strstr(info.last_modified, "GMT") != NULL);
    CHECK_EQ_INT(info.accepts_ranges, 1);

    /* many random ranges on one connection (test_fetch.sh checks the log for reuse) */
    tokfs_object_info ka_info;
    http_url(url, sizeof url, "/ka.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &ka_info, &err), 0);
    uint64_t fetched = 0;
    uint64_t asked = check_random_ranges(f, url, &ka_info, ka, ka_len, 150, &fetched);
    CHECK_EQ_INT(fetched, asked); /* exact 206 replies: nothing wasted */

    /* open-ended, whole, at the end, past the end */
    http_url(url, sizeof url, "/big.bin");
    check_range(f, url, &info, (int64_t)big_len - 1000, -1, big, big_len, NULL);
    check_range(f, url, &info, 0, -1, big, big_len, NULL);
    check_range(f, url, NULL, 12345, -1, big, big_len, NULL);
    sink_reset(&s);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, (int64_t)big_len, -1, sink_cb, &s, NULL, &err),
                 0);
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, (int64_t)big_len - 10, (int64_t)big_len + 10,
                                   sink_cb, &s, NULL, &err), -EIO);
    CHECK_MSG_HAS(err, "/big.bin");
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, (int64_t)big_len + 10, (int64_t)big_len + 20,
                                   sink_cb, &s, NULL, &err), -EIO);
    CHECK_MSG_HAS(err, "not satisfiable");

    /* early stop, and the fetcher still works afterwards */
    sink_reset(&s);
    s.stop_after = 1;
    fetched = 0;
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 100, -1, sink_cb, &s, &fetched, &err), 0);
    CHECK(s.len >= 1 && s.len < big_len - 100);
    CHECK_MEM(s.data, s.len, big + 100, s.len);
    CHECK(fetched < big_len / 2);
    sink_reset(&s);
    s.stop_after = 1;
    s.fail_after_rc = -EPIPE;
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 0, -1, sink_cb, &s, NULL, &err), -EPIPE);
    check_range(f, url, &info, 5, 50, big, big_len, NULL);

    /* 404 and 410: ENOENT naming the URL */
    http_url(url, sizeof url, "/missing.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -ENOENT);
    CHECK_MSG_HAS(err, url);
    CHECK_MSG_HAS(err, "404");
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, 0, 10, sink_cb, &s, NULL, &err), -ENOENT);
    CHECK_MSG_HAS(err, url);
    CHECK_MSG_HAS(err, "bytes=0-9");
    http_url(url, sizeof url, "/gone/x.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -ENOENT);
    CHECK_MSG_HAS(err, "410");

    /* 403, and a bearer token: 401 without it, fine with it, and never in a message */
    http_url(url, sizeof url, "/forbidden/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -EACCES);
    CHECK_MSG_HAS(err, "403");
    http_url(url, sizeof url, "/auth/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -EACCES);
    CHECK_MSG_HAS(err, "401");
    tokfs_fetcher *wrong = new_fetcher(0, 5000, 1, "wrong-token-123");
    CHECK_EQ_INT(tokfs_fetch_range(wrong, url, NULL, 0, 5, sink_cb, &s, NULL, &err), -EACCES);
    CHECK_MSG_LACKS(err, "wrong-token-123");
    tokfs_fetcher_free(wrong);
    tokfs_fetcher *authed = new_fetcher(0, 5000, 1, "s3cret-token");
    CHECK_EQ_INT(tokfs_fetch_stat(authed, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, small_len);
    check_range(authed, url, &info, 3, -1, small, small_len, NULL);
    http_url(url, sizeof url, "/auth/missing.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(authed, url, &info, &err), -ENOENT);
    CHECK_MSG_LACKS(err, "s3cret");
    tokfs_fetcher_free(authed);

    /* userinfo and token parameters never appear in messages */
    snprintf(url, sizeof url, "http://alice:hunter2@%s/missing.bin?token=t0ps3cret&v=1",
             http_base + strlen("http://"));
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, 0, 10, sink_cb, &s, NULL, &err), -ENOENT);
    CHECK_MSG_HAS(err, "***@");
    CHECK_MSG_HAS(err, "token=***");
    CHECK_MSG_LACKS(err, "hunter2");
    CHECK_MSG_LACKS(err, "alice");
    CHECK_MSG_LACKS(err, "t0ps3cret");

    /* redirects are followed, for stat and ranges */
    tokfs_object_info redirected;
    http_url(url, sizeof url, "/r/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &redirected, &err), 0);
    CHECK_EQ_INT(redirected.size, big_len);
    CHECK(strcmp(redirected.etag, big_info.etag) == 0); /* the same object */
    check_range(f, url, &redirected, 777, 99999, big, big_len, NULL);
    http_url(url, sizeof url, "/r/missing.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -ENOENT);
    CHECK_MSG_HAS(err, "redirected to");

    /* HEAD refused (405): stat falls back to a one-byte GET */
    http_url(url, sizeof url, "/nohead/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, big_len);
    CHECK_EQ_INT(info.accepts_ranges, 1);
    CHECK(info.etag[0] == '"');
    http_url(url, sizeof url, "/nohead/empty.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, 0);

    /* a weak ETag is not kept; Last-Modified is the validator instead */
    http_url(url, sizeof url, "/weak/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.etag[0], 0);
    CHECK(info.last_modified[0] != 0);
    CHECK_EQ_INT(info.size, small_len);
    check_range(f, url, &info, 2, 9, small, small_len, NULL);

    /* fetch_small */
    char *text = NULL;
    size_t text_len = 0;
    http_url(url, sizeof url, "/small.txt");
    CHECK_EQ_INT(tokfs_fetch_small(f, url, small_len, &text, &text_len, &err), 0);
    CHECK(text && text[text_len] == '\0');
    CHECK_MEM(text, text_len, small, small_len);
    free(text);
    CHECK_EQ_INT(tokfs_fetch_small(f, url, small_len - 1, &text, &text_len, &err), -EFBIG);
    CHECK_MSG_HAS(err, "/small.txt");
    http_url(url, sizeof url, "/big.bin");
    CHECK_EQ_INT(tokfs_fetch_small(f, url, 1000, &text, &text_len, &err), -EFBIG);
    http_url(url, sizeof url, "/empty.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, 0);
    CHECK_EQ_INT(tokfs_fetch_small(f, url, 10, &text, &text_len, &err), 0);
    CHECK(text && text_len == 0);
    free(text);
    sink_reset(&s);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 0, -1, sink_cb, &s, NULL, &err), 0);
    CHECK_EQ_INT(s.calls, 0);

    tokfs_fetcher_free(f);
    free(s.data);
    free(big);
    free(ka);
    free(small);
}

/* A server that ignores Range (nginx `max_ranges 0`): exact bytes all the same. */
static void test_http_no_ranges(void)
{
    size_t big_len;
    uint8_t *big = root_file("big.bin", &big_len);
    char url[1024];
    tokfs_err err = {""};
    tokfs_object_info info;
    tokfs_fetcher *f = new_fetcher(1, 5000, 5, NULL);

    http_url(url, sizeof url, "/norange/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, big_len);
    CHECK_EQ_INT(info.accepts_ranges, 0);

    uint64_t fetched = 0;
    check_range(f, url, &info, 100, 200, big, big_len, &fetched);
    /* Bytes before 100 were received and thrown away; the rest of the object was not read. */
    CHECK(fetched >= 200);
    CHECK(fetched < big_len / 2);
    fetched = 0;
    uint64_t asked = check_random_ranges(f, url, &info, big, big_len, 15, &fetched);
    CHECK(fetched >= asked);
    check_range(f, url, &info, (int64_t)big_len - 10, -1, big, big_len, NULL);

    tokfs_fetcher_free(f);
    free(big);
}

/* Files rewritten after stat are refused with -ESTALE: via If-Match (strong ETag), via
 * If-Unmodified-Since (no ETag), and via Content-Range's total. */
static void test_http_stale(void)
{
    char path[1024], url[1024];
    tokfs_err err = {""};
    sink s = {0};
    size_t len = 200000;
    uint8_t *v1 = malloc(len), *v2 = malloc(len);
    random_bytes(v1, len);
    random_bytes(v2, len);
    tokfs_fetcher *f = new_fetcher(2, 5000, 5, NULL);

    /* Same size, new content and mtime: the ETag changes, If-Match fails (412). */
    snprintf(path, sizeof path, "%s/stale1.bin", http_root);
    CHECK(write_whole(path, v1, len) == 0);
    http_url(url, sizeof url, "/stale1.bin");
    tokfs_object_info info;
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK(info.etag[0] == '"');
    check_range(f, url, &info, 10, 20000, v1, len, NULL);
    CHECK(write_whole(path, v2, len) == 0);
    shift_mtime(path, 100);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 10, 20000, sink_cb, &s, NULL, &err), -ESTALE);
    CHECK_MSG_HAS(err, "changed upstream");
    CHECK_MSG_HAS(err, "/stale1.bin");
    CHECK_EQ_INT(s.calls, 0);
    char *now = NULL;
    size_t now_len = 0;
    CHECK_EQ_INT(tokfs_fetch_small(f, url, len, &now, &now_len, &err), 0);
    CHECK_MEM(now, now_len, v2, len); /* without `expect`, the new version is served */
    free(now);

    /* No ETag in the plan: If-Unmodified-Since does the job. */
    snprintf(path, sizeof path, "%s/stale2.bin", http_root);
    CHECK(write_whole(path, v1, len) == 0);
    shift_mtime(path, -1000);
    http_url(url, sizeof url, "/stale2.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    info.etag[0] = '\0';
    check_range(f, url, &info, 0, 1000, v1, len, NULL);
    CHECK(write_whole(path, v2, len) == 0);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 0, 1000, sink_cb, &s, NULL, &err), -ESTALE);
    CHECK_MSG_HAS(err, "412");

    /* Grown file, validators wiped from the plan: the size check still catches it. */
    snprintf(path, sizeof path, "%s/stale3.bin", http_root);
    CHECK(write_whole(path, v1, len - 1) == 0);
    http_url(url, sizeof url, "/stale3.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    info.etag[0] = '\0';
    info.last_modified[0] = '\0';
    CHECK(write_whole(path, v1, len) == 0);
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &info, 0, 1000, sink_cb, &s, NULL, &err), -ESTALE);
    CHECK_MSG_HAS(err, "size is now");

    tokfs_fetcher_free(f);
    free(s.data);
    free(v1);
    free(v2);
}

/* ---------------------------------------------------------------------------------------------
 * HTTP against the fault injector (see test_fetch.sh for what each path prefix does) */

static char fault_base[512];

static void fault_url(char *out, size_t size, const char *path)
{
    snprintf(out, size, "%s%s", fault_base, path);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_http_faults(void)
{
    size_t big_len, small_len;
    uint8_t *big = root_file("big.bin", &big_len);
    uint8_t *small = root_file("small.txt", &small_len);
    char url[1024];
    tokfs_err err = {""};
    tokfs_object_info info;
    sink s = {0};
    uint64_t fetched;
    tokfs_fetcher *f = new_fetcher(3, 1000, 5, NULL);

    /* 503 twice, then fine: stat and ranges both ride through. */
    fault_url(url, sizeof url, "/fail503x2/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, small_len);
    fault_url(url, sizeof url, "/fail503x2/big.bin");
    fetched = 0;
    check_range(f, url, NULL, 1000, 300000, big, big_len, &fetched);
    /* Every byte received counts, the two short error pages included. */
    CHECK(fetched >= 299000 && fetched < 299000 + 200);
    fault_url(url, sizeof url, "/429once/big.bin");
    check_range(f, url, NULL, 0, 5000, big, big_len, NULL);

    /* 503 forever: give up after 1 + retries attempts, saying so. */
    fault_url(url, sizeof url, "/always503/big.bin");
    CHECK_EQ_INT(tokfs_fetch_range(f, url, NULL, 100, 200, sink_cb, &s, NULL, &err), -EIO);
    CHECK_MSG_HAS(err, "GET ");
    CHECK_MSG_HAS(err, "/always503/big.bin bytes=100-199: HTTP 503 after 4 attempts");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), -EIO);
    CHECK_MSG_HAS(err, "HEAD ");
    tokfs_fetcher *once = new_fetcher(0, 1000, 5, NULL);
    fault_url(url, sizeof url, "/always503/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(once, url, &info, &err), -EIO);
    CHECK_MSG_HAS(err, "after 1 attempt;");
    tokfs_fetcher_free(once);

    /* Connection reset mid-body, or closed early: resume where delivery stopped, so every
     * byte arrives once and none is downloaded twice. */
    fault_url(url, sizeof url, "/reset/big.bin");
    fetched = 0;
    check_range(f, url, NULL, 0, (int64_t)big_len, big, big_len, &fetched);
    CHECK_EQ_INT(fetched, big_len);
    fault_url(url, sizeof url, "/short/big.bin");
    fetched = 0;
    check_range(f, url, NULL, 100, -1, big, big_len, &fetched);
    CHECK_EQ_INT(fetched, big_len - 100);

    /* A stall longer than timeout_ms is cut and retried. */
    fault_url(url, sizeof url, "/stall/big.bin");
    double t0 = now_seconds();
    check_range(f, url, NULL, 0, 200000, big, big_len, NULL);
    double elapsed = now_seconds() - t0;
    if (!(elapsed > 0.9 && elapsed < 4.0)) {
        fprintf(stderr, "stall: took %.2f s, expected one ~1-2 s timeout\n", elapsed);
        check_failures++;
    }

    /* Range ignored and the body cut: the retry re-reads from 0 and discards up to the
     * first undelivered byte. */
    fault_url(url, sizeof url, "/norange-short/big.bin");
    fetched = 0;
    check_range(f, url, NULL, (int64_t)big_len - 1000, -1, big, big_len, &fetched);
    CHECK(fetched > big_len);

    /* No length to check the body against, and a clean close halfway: only the range's end
     * shows that bytes are missing. */
    fault_url(url, sizeof url, "/eof-short/big.bin");
    check_range(f, url, NULL, (int64_t)big_len - 100, (int64_t)big_len, big, big_len, NULL);

    /* HEAD answered 501: stat via a one-byte ranged GET. */
    fault_url(url, sizeof url, "/head501/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, big_len);
    CHECK_EQ_INT(info.accepts_ranges, 1);
    CHECK(strcmp(info.etag, "\"v1\"") == 0);

    /* No Content-Length, no ranges (chunked): size unknown, bytes still exact. */
    fault_url(url, sizeof url, "/chunked/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, -1);
    CHECK_EQ_INT(info.accepts_ranges, 0);
    check_range(f, url, &info, 10, 5000, big, big_len, NULL);
    check_range(f, url, &info, (int64_t)big_len - 100, -1, big, big_len, NULL);

    /* A server that sends less than asked (1000 bytes per 206): keep asking. */
    fault_url(url, sizeof url, "/shortrange/big.bin");
    fetched = 0;
    check_range(f, url, NULL, 10, 5010, big, big_len, &fetched);
    CHECK_EQ_INT(fetched, 5000);

    /* A server that ignores If-Match: the ETag and Content-Range it sends still betray a
     * change. */
    fault_url(url, sizeof url, "/ok/big.bin");
    CHECK_EQ_INT(tokfs_fetch_stat(f, url, &info, &err), 0);
    check_range(f, url, &info, 0, 10, big, big_len, NULL);
    tokfs_object_info changed = info;
    changed.size = info.size - 1;
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &changed, 0, 10, sink_cb, &s, NULL, &err), -ESTALE);
    CHECK_MSG_HAS(err, "size is now");
    changed = info;
    strcpy(changed.etag, "\"v0\"");
    CHECK_EQ_INT(tokfs_fetch_range(f, url, &changed, 0, 10, sink_cb, &s, NULL, &err), -ESTALE);
    CHECK_MSG_HAS(err, "ETag is now");

    /* The bearer token reaches the server named in the URL, but not another host:port that a
     * redirect points at (test_fetch.sh checks the fault server's log). */
    tokfs_fetcher *authed = new_fetcher(0, 2000, 5, "s3cret-token");
    fault_url(url, sizeof url, "/direct/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(authed, url, &info, &err), 0);
    http_url(url, sizeof url, "/elsewhere/small.txt");
    CHECK_EQ_INT(tokfs_fetch_stat(authed, url, &info, &err), 0);
    CHECK_EQ_INT(info.size, small_len);
    check_range(authed, url, &info, 1, 7, small, small_len, NULL);
    tokfs_fetcher_free(authed);

    tokfs_fetcher_free(f);

    /* Nobody listening: retried, then -EIO naming the URL. */
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    CHECK(bind(sock, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(sock, (struct sockaddr *)&addr, &addr_len) == 0);
    close(sock); /* now (almost certainly) nobody listens there */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.jsonl", ntohs(addr.sin_port));
    tokfs_fetcher *refused = new_fetcher(2, 1000, 5, NULL);
    CHECK_EQ_INT(tokfs_fetch_range(refused, url, NULL, 0, 10, sink_cb, &s, NULL, &err), -EIO);
    CHECK_MSG_HAS(err, url);
    CHECK_MSG_HAS(err, "after 3 attempts");
    tokfs_fetcher_free(refused);

    free(s.data);
    free(big);
    free(small);
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *seed = getenv("TOKFS_TEST_SEED");
    if (seed)
        rng_state = strtoull(seed, NULL, 0);
    printf("test_fetch: seed 0x%llx (set TOKFS_TEST_SEED to repeat)\n",
           (unsigned long long)rng_state);

    test_url_helpers();
    test_local();

    const char *base = argc > 1 ? argv[1] : getenv("TOKFS_TEST_HTTP_URL");
    const char *root = getenv("TOKFS_TEST_HTTP_ROOT");
    if (base && *base) {
        if (!root) {
            fprintf(stderr, "TOKFS_TEST_HTTP_ROOT must name the directory nginx serves\n");
            return 1;
        }
        snprintf(http_base, sizeof http_base, "%s", base);
        snprintf(http_root, sizeof http_root, "%s", root);
        test_http_basics();
        test_http_no_ranges();
        test_http_stale();
        const char *fault = getenv("TOKFS_TEST_FAULT_URL");
        if (fault && *fault) {
            snprintf(fault_base, sizeof fault_base, "%s", fault);
            test_http_faults();
        } else {
            printf("test_fetch: TOKFS_TEST_FAULT_URL not set; skipping fault injection\n");
        }
    } else {
        printf("test_fetch: TOKFS_TEST_HTTP_URL not set; HTTP tests run from "
               "tests/integration/test_fetch.sh\n");
    }

    curl_global_cleanup();
    CHECK_DONE();
}
