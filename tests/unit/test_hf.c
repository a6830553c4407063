/* Unit tests for core/source/hf.c without network: parsing hf:// sources (good and malformed), the glob
 * semantics ('*' within a directory, '**' across, a whole '**' segment also matching no
 * directory, classes, escapes), the literal directory of a glob, Link header parsing and
 * resolution, percent-encoding, and the endpoint. tests/integration/test_hf.sh covers listing,
 * pagination, redirects and the token against nginx. */
#include "check.h"
#include "common/config.h"
#include "source/hf.h"

#include <errno.h>
#include <string.h>

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *check_a_ = (a), *check_b_ = (b);                                          \
        if (strcmp(check_a_, check_b_) != 0) {                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,  \
                    __LINE__, #a, #b, check_a_, check_b_);                                    \
            check_failures++;                                                                 \
        }                                                                                     \
    } while (0)

static void good(const char *src, const char *owner, const char *name, const char *rev,
                 const char *path)
{
    tokfs_hf_ref ref;
    tokfs_err err = {{0}};
    int rc = tokfs_hf_parse(src, &ref, &err);
    if (rc != 0) {
        fprintf(stderr, "parse %s: %s\n", src, err.msg);
        check_failures++;
        return;
    }
    CHECK_STR(ref.owner, owner);
    CHECK_STR(ref.name, name);
    CHECK_STR(ref.revision, rev);
    CHECK_STR(ref.path, path);
}

static void bad(const char *src, const char *msg_part)
{
    tokfs_hf_ref ref;
    tokfs_err err = {{0}};
    int rc = tokfs_hf_parse(src, &ref, &err);
    if (rc >= 0) {
        fprintf(stderr, "parse %s: accepted, should fail\n", src);
        check_failures++;
        return;
    }
    CHECK(strstr(err.msg, src) != NULL || strlen(src) > 80); /* the message names it */
    CHECK(strchr(err.msg, '\n') == NULL);
    if (!strstr(err.msg, msg_part)) {
        fprintf(stderr, "parse %s: message \"%s\" lacks \"%s\"\n", src, err.msg, msg_part);
        check_failures++;
    }
}

static void test_parse(void)
{
    good("hf://datasets/HuggingFaceFW/fineweb-edu/sample/10BT/*.parquet", "HuggingFaceFW",
         "fineweb-edu", "main", "sample/10BT/*.parquet");
    good("hf://datasets/cerebras/SlimPajama-627B/train/chunk1/*.jsonl.zst", "cerebras",
         "SlimPajama-627B", "main", "train/chunk1/*.jsonl.zst");
    good("hf://datasets/o/n", "o", "n", "main", "");
    good("hf://datasets/o/n/", "o", "n", "main", "");
    good("hf://datasets/o/n@v1.0/data/", "o", "n", "v1.0", "data");
    good("hf://datasets/o/n@refs/convert/parquet/default/train/*.parquet", "o", "n",
         "refs/convert/parquet", "default/train/*.parquet");
    good("hf://datasets/o/n@refs%2Fconvert%2Fparquet/default/x.parquet", "o", "n",
         "refs/convert/parquet", "default/x.parquet");
    good("hf://datasets/o/n@refs/convert/parquet", "o", "n", "refs/convert/parquet", "");
    good("hf://datasets/o/n@refs/pr/12/a.jsonl", "o", "n", "refs/pr/12", "a.jsonl");
    good("hf://datasets/o/n@refs/prx/a.jsonl", "o", "n", "refs", "prx/a.jsonl");
    good("hf://datasets/o.x/n_y-z@0123456789abcdef0123456789abcdef01234567/**/*.txt", "o.x",
         "n_y-z", "0123456789abcdef0123456789abcdef01234567", "**/*.txt");
    good("hf://datasets/o/n/a b/@x%.jsonl", "o", "n", "main", "a b/@x%.jsonl");

    bad("hf://models/o/n/x.jsonl", "dataset repos only");
    bad("hf://o/n/x.jsonl", "dataset repos only");
    bad("hf://datasets/", "OWNER/NAME");
    bad("hf://datasets/onlyowner", "OWNER/NAME");
    bad("hf://datasets/o", "OWNER/NAME");
    bad("hf://datasets/o/", "NAME");
    bad("hf://datasets/o/n$/x", "NAME");
    bad("hf://datasets/../n/x", "OWNER/NAME");
    bad("hf://datasets/o/n@/x", "empty revision");
    bad("hf://datasets/o/n@", "empty revision");
    bad("hf://datasets/o/n@a%2/x", "percent-escape");
    bad("hf://datasets/o/n@a%zz/x", "percent-escape");
    bad("hf://datasets/o/n@a%0a/x", "bad revision");
    bad("hf://datasets/o/n/a//b", "segment");
    bad("hf://datasets/o/n/a/../b", "segment");
    bad("hf://datasets/o/n/./b", "segment");
    bad("hf://datasets/o/n/a\tb", "control character");
    CHECK(tokfs_hf_is_source("hf://x"));
    CHECK(!tokfs_hf_is_source("https://huggingface.co/x"));
    CHECK(!tokfs_hf_is_source(NULL));
}

static void test_glob(void)
{
    static const struct { const char *pat, *path; int match; } cases[] = {
        {"sample/10BT/*.parquet", "sample/10BT/000_00000.parquet", 1},
        {"sample/10BT/*.parquet", "sample/10BT/x/000_00000.parquet", 0},
        {"sample/10BT/*.parquet", "sample/10BT/.parquet", 1},
        {"sample/*/*.parquet", "sample/10BT/a.parquet", 1},
        {"sample/*", "sample/10BT/a.parquet", 0},
        {"*", "a.jsonl", 1},
        {"*", "d/a.jsonl", 0},
        {"**", "d/e/a.jsonl", 1},
        {"data/**", "data/a.jsonl", 1},
        {"data/**", "data/x/y/a.jsonl", 1},
        {"data/**", "other/a.jsonl", 0},
        {"data/**/*.jsonl", "data/a.jsonl", 1},
        {"data/**/*.jsonl", "data/x/a.jsonl", 1},
        {"data/**/*.jsonl", "data/x/y/a.jsonl", 1},
        {"data/**/*.jsonl", "data/x/y/a.txt", 0},
        {"data/**/*.jsonl", "datax/a.jsonl", 0},
        {"**/*.jsonl", "a.jsonl", 1},
        {"**/*.jsonl", "x/a.jsonl", 1},
        {"**/x/*.gz", "x/a.gz", 1},
        {"**/x/*.gz", "q/x/a.gz", 1},
        {"**/x/*.gz", "qx/a.gz", 0},
        {"data/**.jsonl", "data/a/b.jsonl", 1},   /* '**' inside a segment crosses '/' too */
        {"data/a**", "data/ab/c", 1},
        {"part-?.jsonl", "part-1.jsonl", 1},
        {"part-?.jsonl", "part-12.jsonl", 0},
        {"a?b", "a/b", 0},
        {"part-[0-4].jsonl", "part-3.jsonl", 1},
        {"part-[0-4].jsonl", "part-5.jsonl", 0},
        {"part-[!0-4].jsonl", "part-5.jsonl", 1},
        {"part-[^0-4].jsonl", "part-3.jsonl", 0},
        {"a[/]b", "a/b", 0},
        {"a[]]b", "a]b", 1},
        {"a[b", "a[b", 1},                         /* unterminated class: a literal '[' */
        {"a\\*b", "a*b", 1},
        {"a\\*b", "axb", 0},
        {"train/chunk1/*.jsonl.zst", "train/chunk1/example_train_0.jsonl.zst", 1},
        {"train/chunk1/*.jsonl.zst", "train/chunk10/example_train_0.jsonl.zst", 0},
        {"*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
        {"", "", 1},
        {"", "a", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = tokfs_hf_glob_match(cases[i].pat, cases[i].path);
        if (got != cases[i].match) {
            fprintf(stderr, "glob %s vs %s: %d, expected %d\n", cases[i].pat, cases[i].path, got,
                    cases[i].match);
            check_failures++;
        }
    }
    static const struct { const char *pat; size_t dir; } dirs[] = {
        {"sample/10BT/*.parquet", 11}, {"*.jsonl", 0}, {"**/*.jsonl", 0},
        {"data/**", 4}, {"a/b/c?/d", 3}, {"a/b/c.jsonl", 3}, {"a.jsonl", 0}, {"", 0},
        {"a/[xy]/b", 1},
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        CHECK_EQ_INT(tokfs_hf_literal_dir(dirs[i].pat), dirs[i].dir);
    CHECK(tokfs_hf_has_glob("a/*.x"));
    CHECK(tokfs_hf_has_glob("a/[x]"));
    CHECK(!tokfs_hf_has_glob("a/b.jsonl"));
}

static void link_is(const char *link, const char *base, int rc, const char *want)
{
    char out[512];
    int got = tokfs_hf_link_next(link, base, out, sizeof out);
    if (got != rc) {
        fprintf(stderr, "link %s: %d, expected %d\n", link, got, rc);
        check_failures++;
        return;
    }
    if (rc == 1)
        CHECK_STR(out, want);
}

static void test_link(void)
{
    const char *base = "https://huggingface.co/api/datasets/o/n/tree/main/data?recursive=true";
    link_is("<https://huggingface.co/api/datasets/o/n/tree/main/data?recursive=true&cursor=ZXlK"
            "MWxsIjoiZGF0YS8wMDAifQ==>; rel=\"next\"",
            base, 1,
            "https://huggingface.co/api/datasets/o/n/tree/main/data?recursive=true&cursor=ZXlKMWx"
            "sIjoiZGF0YS8wMDAifQ==");
    link_is("</api/x?cursor=2>; rel=next", base, 1, "https://huggingface.co/api/x?cursor=2");
    link_is("<?recursive=true&cursor=3>; rel=\"next\"", base, 1,
            "https://huggingface.co/api/datasets/o/n/tree/main/data?recursive=true&cursor=3");
    link_is("<page2.json>; rel=\"next\"", base, 1,
            "https://huggingface.co/api/datasets/o/n/tree/main/page2.json");
    link_is("<//mirror.example/api/x>; rel=\"next\"", base, 1, "https://mirror.example/api/x");
    link_is("<https://h/prev>; rel=\"prev\", "
            "<https://h/next>; title=\"a, b; c\"; rel=\"last next\"",
            base, 1, "https://h/next");
    link_is("<https://h/prev>; rel=\"prev\"", base, 0, NULL);
    link_is("", base, 0, NULL);
    link_is("  ", base, 0, NULL);
    link_is("<https://h/a>; REL=NEXT", base, 1, "https://h/a");
    link_is("https://h/a; rel=next", base, -EINVAL, NULL);
    link_is("<https://h/a; rel=next", base, -EINVAL, NULL);
    link_is("<ftp://h/a>; rel=next", base, -EINVAL, NULL);
    link_is("<https://h/a b>; rel=next", base, -EINVAL, NULL);
    link_is("<x>; rel=next", "http://h", 1, "http://h/x");
}

static void test_quote_endpoint(void)
{
    char out[64];
    CHECK_EQ_INT(tokfs_url_quote("refs/convert/parquet", 0, out, sizeof out), 0);
    CHECK_STR(out, "refs%2Fconvert%2Fparquet");
    CHECK_EQ_INT(tokfs_url_quote("a b/c?d#e%f~g.h_i-j", 1, out, sizeof out), 0);
    CHECK_STR(out, "a%20b/c%3Fd%23e%25f~g.h_i-j");
    CHECK_EQ_INT(tokfs_url_quote("\xc3\xa9", 1, out, sizeof out), 0);
    CHECK_STR(out, "%C3%A9");
    CHECK_EQ_INT(tokfs_url_quote("abcdef", 1, out, 6), -ENAMETOOLONG);

    tokfs_config cfg;
    tokfs_err err = {{0}};
    memset(&cfg, 0, sizeof cfg);
    char ep[256];
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), 0);
    CHECK_STR(ep, "https://huggingface.co");
    cfg.hf_endpoint = "http://127.0.0.1:8080/";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), 0);
    CHECK_STR(ep, "http://127.0.0.1:8080");
    cfg.hf_endpoint = "https://hf-mirror.example/prefix";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), 0);
    CHECK_STR(ep, "https://hf-mirror.example/prefix");
    cfg.hf_endpoint = "huggingface.co";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), -EINVAL);
    CHECK(strstr(err.msg, "HF_ENDPOINT=huggingface.co") != NULL);
    cfg.hf_endpoint = "https://user:secret@h/";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), 0);
    cfg.hf_endpoint = "ftp://user:secret@h/";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), -EINVAL);
    CHECK(strstr(err.msg, "secret") == NULL);
    cfg.hf_endpoint = "https://";
    CHECK_EQ_INT(tokfs_hf_endpoint(&cfg, ep, sizeof ep, &err), -EINVAL);
}

int main(void)
{
    test_parse();
    test_glob();
    test_link();
    test_quote_endpoint();
    CHECK_DONE();
}
