/* Unit tests for core/source/s3.c without network: s3:// parsing (bucket names, the pattern),
 * SigV4's percent-encoding, the bucket's address for each addressing mode and endpoint (and the
 * endpoints refused), the fetcher's signing settings (none when anonymous), and the
 * ListObjectsV2 page reader: keys with XML entities and character references, sizes, ETags,
 * truncation with its continuation token, S3's <Error> document, and malformed pages.
 * tests/integration/test_s3.sh runs the listing and signed reads against s3rver. */
#include "check.h"
#include "common/config.h"
#include "source/s3.h"

#include <errno.h>
#include <string.h>

static void test_parse(void)
{
    tokfs_s3_ref r;
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_s3_parse("s3://my-bucket/data/2024/*.parquet", &r, &err), 0);
    CHECK(strcmp(r.bucket, "my-bucket") == 0 && strcmp(r.pattern, "data/2024/*.parquet") == 0);
    CHECK_EQ_INT(tokfs_s3_parse("s3://b.with.dots", &r, &err), 0);
    CHECK(strcmp(r.bucket, "b.with.dots") == 0 && r.pattern[0] == '\0');
    CHECK_EQ_INT(tokfs_s3_parse("s3://b/", &r, &err), 0);
    CHECK(r.pattern[0] == '\0');
    CHECK_EQ_INT(tokfs_s3_parse("s3:///key", &r, &err), -EINVAL);
    CHECK(strstr(err.msg, "no bucket name") && strstr(err.msg, "s3:///key"));
    CHECK_EQ_INT(tokfs_s3_parse("s3://bad bucket/k", &r, &err), -EINVAL);
    CHECK(strstr(err.msg, "' ' cannot be in a bucket name"));
    char long_name[100] = "s3://";
    memset(long_name + 5, 'a', 70);
    CHECK_EQ_INT(tokfs_s3_parse(long_name, &r, &err), -EINVAL);
    CHECK(tokfs_s3_is_source("s3://x") && !tokfs_s3_is_source("https://x") &&
          !tokfs_s3_is_source(NULL));
}

static void test_quote(void)
{
    char out[64];
    CHECK_EQ_INT(tokfs_url_quote("a b+c/d~e_f.g-h", 1, out, sizeof out), 0);
    CHECK(strcmp(out, "a%20b%2Bc/d~e_f.g-h") == 0);
    CHECK_EQ_INT(tokfs_url_quote("a/b=c", 0, out, sizeof out), 0);
    CHECK(strcmp(out, "a%2Fb%3Dc") == 0);
    CHECK_EQ_INT(tokfs_url_quote("\xc3\xa9", 0, out, sizeof out), 0); /* é: its UTF-8 bytes */
    CHECK(strcmp(out, "%C3%A9") == 0);
    CHECK_EQ_INT(tokfs_url_quote("abc", 0, out, 3), -ENAMETOOLONG);
}

static void test_bucket_url(void)
{
    tokfs_config cfg = {0};
    char url[256];
    tokfs_err err = {{0}};
    /* AWS by default: virtual-hosted for a DNS-label bucket, path-style for a dotted one */
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "corpus", url, sizeof url, &err), 0);
    CHECK(strcmp(url, "https://corpus.s3.us-east-1.amazonaws.com") == 0);
    cfg.s3_region = "eu-west-3";
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "a.b", url, sizeof url, &err), 0);
    CHECK(strcmp(url, "https://s3.eu-west-3.amazonaws.com/a.b") == 0);
    /* another endpoint: path-style unless asked */
    cfg.s3_endpoint = "http://127.0.0.1:9000/";
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "corpus", url, sizeof url, &err), 0);
    CHECK(strcmp(url, "http://127.0.0.1:9000/corpus") == 0);
    cfg.s3_endpoint = "https://minio.example:9000";
    cfg.s3_addressing = TOKFS_S3_VIRTUAL;
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "corpus", url, sizeof url, &err), 0);
    CHECK(strcmp(url, "https://corpus.minio.example:9000") == 0);
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "a.b", url, sizeof url, &err), -EINVAL);
    CHECK(strstr(err.msg, "s3_addressing=path"));
    cfg.s3_addressing = TOKFS_S3_PATH;
    cfg.s3_endpoint = "https://s3.us-east-1.amazonaws.com";
    CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "corpus", url, sizeof url, &err), 0);
    CHECK(strcmp(url, "https://s3.us-east-1.amazonaws.com/corpus") == 0);
    /* endpoints refused */
    char *bad[] = {"ftp://host", "http://key:secret@host", "http://host/path",
                   "http://host?x=1", "http://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.s3_endpoint = bad[i];
        CHECK_EQ_INT(tokfs_s3_bucket_url(&cfg, "corpus", url, sizeof url, &err), -EINVAL);
        CHECK(strstr(err.msg, "S3 endpoint") && !strstr(err.msg, "\n"));
    }
}

static void test_fetch_config(void)
{
    tokfs_config cfg = {.source = "s3://corpus/data/", .s3_endpoint = "http://127.0.0.1:9000",
                        .s3_region = "eu-west-3", .s3_access_key = "AKID",
                        .s3_secret_key = "SECRET", .s3_session_token = "TOKEN"};
    tokfs_fetch_config fc = {0};
    char origin[256];
    tokfs_s3_fetch_config(&cfg, &fc, origin, sizeof origin);
    CHECK(fc.aws_key && strcmp(fc.aws_key, "AKID") == 0);
    CHECK(fc.aws_secret && strcmp(fc.aws_secret, "SECRET") == 0);
    CHECK(fc.aws_token && strcmp(fc.aws_token, "TOKEN") == 0);
    CHECK(fc.aws_region && strcmp(fc.aws_region, "eu-west-3") == 0);
    CHECK(fc.aws_origin && strcmp(fc.aws_origin, "http://127.0.0.1:9000/corpus") == 0);
    /* anonymous: on request, or without a key */
    tokfs_fetch_config none = {0};
    cfg.s3_anonymous = 1;
    tokfs_s3_fetch_config(&cfg, &none, origin, sizeof origin);
    CHECK(none.aws_key == NULL && none.aws_secret == NULL);
    cfg.s3_anonymous = 0;
    cfg.s3_access_key = NULL;
    tokfs_s3_fetch_config(&cfg, &none, origin, sizeof origin);
    CHECK(none.aws_key == NULL);
    cfg.source = "https://example.com/a.jsonl"; /* not s3: nothing */
    cfg.s3_access_key = "AKID";
    tokfs_s3_fetch_config(&cfg, &none, origin, sizeof origin);
    CHECK(none.aws_key == NULL);
}

typedef struct seen {
    char keys[8][64];
    long long sizes[8];
    char etags[8][64];
    int n;
} seen;

static int collect(void *ctx, const tokfs_s3_object *obj)
{
    seen *s = ctx;
    if (s->n >= 8)
        return -E2BIG;
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s", obj->key);
    snprintf(s->etags[s->n], sizeof s->etags[0], "%s", obj->etag);
    s->sizes[s->n++] = obj->size;
    return 0;
}

static void test_page(void)
{
    const char *page =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
        "<Prefix>d/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
        "<IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "<Contents><Key>d/a&amp;b &lt;1&gt;.jsonl</Key><LastModified>2024-01-01T00:00:00.000Z"
        "</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>10</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>d/caf&#233;&#x2F;x.txt</Key><ETag>\"abc-2\"</ETag><Size>12345678901</Size>"
        "</Contents>"
        "<Contents><Key>d/noetag.bin</Key><Size>0</Size></Contents>"
        "</ListBucketResult>";
    seen s = {0};
    int truncated = 0;
    char token[128];
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_s3_parse_page(page, strlen(page), collect, &s, &truncated, token,
                                     sizeof token, &err), 0);
    CHECK_EQ_INT(s.n, 3);
    CHECK(strcmp(s.keys[0], "d/a&b <1>.jsonl") == 0);
    CHECK(strcmp(s.etags[0], "\"0cc175b9c0f1b6a831c399e269772661\"") == 0);
    CHECK_EQ_INT(s.sizes[0], 10);
    CHECK(strcmp(s.keys[1], "d/caf\xc3\xa9/x.txt") == 0);
    CHECK_EQ_INT(s.sizes[1], 12345678901LL);
    CHECK(strcmp(s.etags[2], "") == 0 && s.sizes[2] == 0);
    CHECK(truncated == 1);
    CHECK(strcmp(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") == 0);

    /* the last page */
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(tokfs_s3_parse_page(last, strlen(last), collect, &s, &truncated, token,
                                     sizeof token, &err), 0);
    CHECK(truncated == 0 && s.n == 0 && token[0] == '\0');

    /* S3's error document */
    const char *error = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                        "<Message>Access Denied</Message></Error>";
    CHECK_EQ_INT(tokfs_s3_parse_page(error, strlen(error), collect, &s, &truncated, token,
                                     sizeof token, &err), -EIO);
    CHECK(strstr(err.msg, "AccessDenied: Access Denied"));

    /* malformed pages */
    const char *bad[] = {
        "<html>not xml</html>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>unterminated",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&s, 0, sizeof s);
        err.msg[0] = '\0';
        int rc = tokfs_s3_parse_page(bad[i], strlen(bad[i]), collect, &s, &truncated, token,
                                     sizeof token, &err);
        if (rc != -EIO || !err.msg[0]) {
            fprintf(stderr, "bad page %zu: rc %d, message \"%s\"\n", i, rc, err.msg);
            check_failures++;
        }
    }
    /* a token that does not fit is refused, never cut */
    char tiny[8];
    CHECK_EQ_INT(tokfs_s3_parse_page(page, strlen(page), collect, &(seen){0}, &truncated, tiny,
                                     sizeof tiny, &err), -EIO);
    /* the callback's error stops the page */
    seen full = {.n = 8};
    CHECK_EQ_INT(tokfs_s3_parse_page(page, strlen(page), collect, &full, &truncated, token,
                                     sizeof token, &err), -E2BIG);
}

int main(void)
{
    test_parse();
    test_quote();
    test_bucket_url();
    test_fetch_config();
    test_page();
    CHECK_DONE();
}
