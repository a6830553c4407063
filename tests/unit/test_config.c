/* Unit tests for core/common/config.c: the size / count / duration parsers, the defaults of
 * tokfs_config_init, every option of tokfs_config_set (a good and a bad value each), and
 * tokfs_config_finish. Numbers are parsed exactly (decimal, no floating point). */
#include "check.h"
#include "common/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>


/* ---- parsers ------------------------------------------------------------------------------ */

static void check_size(const char *text, uint64_t want, int line)
{
    uint64_t got = 0xdeadbeef;
    int rc = tokfs_parse_size(text, &got);
    if (rc != 0 || got != want) {
        fprintf(stderr, "test_config.c:%d: tokfs_parse_size(\"%s\") = %d, %" PRIu64
                        " (want 0, %" PRIu64 ")\n", line, text, rc, got, want);
        check_failures++;
    }
}

static void check_count(const char *text, uint64_t want, int line)
{
    uint64_t got = 0xdeadbeef;
    int rc = tokfs_parse_count(text, &got);
    if (rc != 0 || got != want) {
        fprintf(stderr, "test_config.c:%d: tokfs_parse_count(\"%s\") = %d, %" PRIu64
                        " (want 0, %" PRIu64 ")\n", line, text, rc, got, want);
        check_failures++;
    }
}

static void check_duration(const char *text, uint64_t want, int line)
{
    uint64_t got = 0xdeadbeef;
    int rc = tokfs_parse_duration_ms(text, &got);
    if (rc != 0 || got != want) {
        fprintf(stderr, "test_config.c:%d: tokfs_parse_duration_ms(\"%s\") = %d, %" PRIu64
                        " (want 0, %" PRIu64 ")\n", line, text, rc, got, want);
        check_failures++;
    }
}

typedef int (*parse_fn)(const char *, uint64_t *);

static void check_rejects(parse_fn fn, const char *name, const char *text, int line)
{
    uint64_t got = 0;
    int rc = fn(text, &got);
    if (rc != -EINVAL) {
        fprintf(stderr, "test_config.c:%d: %s(\"%s\") = %d, %" PRIu64 " (want -EINVAL)\n", line,
                name, text ? text : "(null)", rc, got);
        check_failures++;
    }
}

#define SIZE_OK(t, w) check_size((t), (w), __LINE__)
#define COUNT_OK(t, w) check_count((t), (w), __LINE__)
#define DURATION_OK(t, w) check_duration((t), (w), __LINE__)
#define SIZE_BAD(t) check_rejects(tokfs_parse_size, "tokfs_parse_size", (t), __LINE__)
#define COUNT_BAD(t) check_rejects(tokfs_parse_count, "tokfs_parse_count", (t), __LINE__)
#define DURATION_BAD(t) \
    check_rejects(tokfs_parse_duration_ms, "tokfs_parse_duration_ms", (t), __LINE__)

static void test_parse_size(void)
{
    /* binary units, any case, optional B / iB */
    SIZE_OK("512M", 512ull << 20);
    SIZE_OK("512m", 512ull << 20);
    SIZE_OK("512MB", 512ull << 20);
    SIZE_OK("512MiB", 512ull << 20);
    SIZE_OK("20G", 20ull << 30);
    SIZE_OK("20gib", 20ull << 30);
    SIZE_OK("1.5G", 3ull << 29);
    SIZE_OK("4096", 4096);
    SIZE_OK("4096b", 4096);
    SIZE_OK("10k", 10240);
    SIZE_OK("10K", 10240);
    SIZE_OK("10KiB", 10240);
    SIZE_OK("0.5K", 512);
    SIZE_OK("2T", 2ull << 40);
    SIZE_OK("0", 0); /* the parser takes 0; cache_size=0 is refused by tokfs_config_set */
    SIZE_OK("1e3", 1000);
    SIZE_OK("2.5e1K", 25600);
    /* non-integral byte counts are floored (tokfs_parse_size floors; counts reject them) */
    SIZE_OK("1.5", 1);
    SIZE_OK("0.9", 0);
    SIZE_OK("1.1K", 1126); /* 1126.4 */
    SIZE_OK("0.3K", 307);  /* 307.2 */
    /* near the top of uint64: 16777215T = 2^64 - 2^40 fits, 16777216T = 2^64 does not */
    SIZE_OK("16000000T", 15625ull << 50);
    SIZE_OK("16777215T", 16777215ull << 40);
    SIZE_BAD("16777216T");
    SIZE_BAD("1e30");
    SIZE_OK("18446744073709551615", 18446744073709551615ull);
    SIZE_BAD("18446744073709551616");
    SIZE_OK("16777215.999999999999999999T", 18446744073709551615ull); /* floored to UINT64_MAX */
    SIZE_OK("9007199254740993b", 9007199254740993ull); /* 2^53 + 1: not a double */
    SIZE_OK("0.1G", 107374182);                          /* 107374182.4 */
    SIZE_OK("0.0000000001K", 0);

    SIZE_BAD(NULL);
    SIZE_BAD("");
    SIZE_BAD("-1");
    SIZE_BAD("-0");
    SIZE_BAD("+5");
    SIZE_BAD("12Q");
    SIZE_BAD("12 M");
    SIZE_BAD(" 5");
    SIZE_BAD("5 ");
    SIZE_BAD("\t5");
    SIZE_BAD("M");
    SIZE_BAD("K5");
    SIZE_BAD("5KK");
    SIZE_BAD("5Mi");
    SIZE_BAD("1.5.3");
    SIZE_BAD("inf");
    SIZE_BAD("nan");
    SIZE_BAD("abc");
}

static void test_parse_count(void)
{
    /* decimal units */
    COUNT_OK("10M", 10000000);
    COUNT_OK("10m", 10000000);
    COUNT_OK("1e6", 1000000);
    COUNT_OK("1E6", 1000000);
    COUNT_OK("250000", 250000);
    COUNT_OK("10k", 10000);
    COUNT_OK("2.5k", 2500);
    COUNT_OK("1.5M", 1500000);
    COUNT_OK("2G", 2000000000ull);
    COUNT_OK("3b", 3000000000ull); /* b = billion for counts */
    COUNT_OK("0", 0);
    COUNT_OK("1.0", 1);
    COUNT_OK("0.007k", 7);
    COUNT_OK("2.3M", 2300000);

    COUNT_BAD(NULL);
    COUNT_BAD("");
    COUNT_BAD("abc");
    COUNT_BAD("-5");
    COUNT_BAD("+5");
    COUNT_BAD(" 5");
    COUNT_BAD("5 ");
    COUNT_BAD("1.5");    /* not a whole number */
    COUNT_BAD("1e-3");
    COUNT_BAD("0.0001k");
    COUNT_BAD("1KB");   /* counts take no byte units */
    COUNT_BAD("1Ki");
    COUNT_BAD("12Q");
    COUNT_BAD("1e20");  /* over uint64 */
    COUNT_BAD("inf");

    /* exact decimal arithmetic: in binary floating point 1.001 * 1000 == 1000.9999999999999 and
     * 8.2 * 1e6 == 8199999.999999999, which would refuse these */
    COUNT_OK("1.001k", 1001);
    COUNT_OK("8.2M", 8200000);
    COUNT_OK("1.001M", 1001000);
    COUNT_OK("0.000000001G", 1);
    COUNT_OK("1.234567e3k", 1234567);
    COUNT_BAD("1.23456789e3k"); /* 1234567.89 */
    COUNT_BAD("1.0000000001G");
    COUNT_OK("1.10000000000000000000000000000000M", 1100000); /* trailing zeros */
    COUNT_BAD("1.00000000000000000000000000000001M");
    COUNT_OK("18446744073709551615", 18446744073709551615ull); /* UINT64_MAX */
    COUNT_BAD("18446744073709551616");
    COUNT_OK("18446744073.709551615G", 18446744073709551615ull);
    COUNT_BAD("18446744073.709551616G");
    COUNT_OK("9007199254740993", 9007199254740993ull); /* 2^53 + 1: not a double */
    COUNT_OK("1e+6", 1000000);
    COUNT_OK("12e-1k", 1200);
    COUNT_OK(".5k", 500);
    COUNT_OK("5.", 5);
    COUNT_OK("0e999999999999", 0);
    COUNT_BAD("1e999999999999");
    COUNT_BAD("1e-999999999999");
    COUNT_BAD(".");
    COUNT_BAD(".k");
    COUNT_BAD("1e");
    COUNT_BAD("1e+");
    COUNT_BAD("0x10");
}

static void test_parse_duration(void)
{
    DURATION_OK("30", 30000); /* bare number: seconds */
    DURATION_OK("30s", 30000);
    DURATION_OK("30S", 30000);
    DURATION_OK("500ms", 500);
    DURATION_OK("500MS", 500);
    DURATION_OK("2m", 120000);
    DURATION_OK("2M", 120000); /* suffixes are case-insensitive: M is minutes */
    DURATION_OK("1.5s", 1500);
    DURATION_OK("0.5", 500);
    DURATION_OK("1.5m", 90000);
    DURATION_OK("0", 0);
    DURATION_OK("2.5ms", 2); /* floored */
    DURATION_OK("1e2ms", 100);

    DURATION_BAD(NULL);
    DURATION_BAD("");
    DURATION_BAD("-1");
    DURATION_BAD("-1s");
    DURATION_BAD(" 5");
    DURATION_BAD("5 s");
    DURATION_BAD("s");
    DURATION_BAD("ms");
    DURATION_BAD("5h"); /* no hour unit (though the timeout message says "up to 1h") */
    DURATION_BAD("5sec");
    DURATION_BAD("5us");
    DURATION_BAD("abc");

    /* exact decimal arithmetic (in floating point 1.001 * 1000 is 1000.9999999999999, floored
     * to 1000) */
    DURATION_OK("1.001s", 1001);
    DURATION_OK("1.001m", 60060);
    DURATION_OK("1.001", 1001);
    DURATION_OK("0.0019s", 1); /* floored */
    DURATION_OK("0.0001", 0);
}

/* ---- init / set / finish ------------------------------------------------------------------ */

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || streq(a, b);
}

/* Field by field (a struct memcmp would also compare padding). */
static int config_equal(const tokfs_config *a, const tokfs_config *b)
{
    return same_str(a->source, b->source) && same_str(a->mountpoint, b->mountpoint) &&
           same_str(a->cache_dir, b->cache_dir) && a->cache_size == b->cache_size &&
           same_str(a->tokenizer, b->tokenizer) && same_str(a->pattern, b->pattern) &&
           same_str(a->eot, b->eot) && a->shard_size == b->shard_size &&
           a->val_shards == b->val_shards && a->max_shards == b->max_shards &&
           a->has_shuffle_seed == b->has_shuffle_seed && a->shuffle_seed == b->shuffle_seed &&
           same_str(a->text_field, b->text_field) && same_str(a->filter, b->filter) &&
           a->workers == b->workers &&
           a->prefetch == b->prefetch && a->retries == b->retries &&
           a->timeout_ms == b->timeout_ms && a->max_doc_bytes == b->max_doc_bytes &&
           same_str(a->log_file, b->log_file) && a->insecure == b->insecure &&
           same_str(a->s3_endpoint, b->s3_endpoint) && same_str(a->s3_region, b->s3_region) &&
           a->s3_addressing == b->s3_addressing && a->s3_anonymous == b->s3_anonymous &&
           a->foreground == b->foreground && a->debug == b->debug;
}

/* A deep copy of the fields config_equal compares (strings duplicated). */
static void config_snapshot(tokfs_config *copy, const tokfs_config *cfg)
{
    *copy = *cfg;
    copy->source = cfg->source ? strdup(cfg->source) : NULL;
    copy->mountpoint = cfg->mountpoint ? strdup(cfg->mountpoint) : NULL;
    copy->cache_dir = cfg->cache_dir ? strdup(cfg->cache_dir) : NULL;
    copy->tokenizer = cfg->tokenizer ? strdup(cfg->tokenizer) : NULL;
    copy->pattern = cfg->pattern ? strdup(cfg->pattern) : NULL;
    copy->eot = cfg->eot ? strdup(cfg->eot) : NULL;
    copy->text_field = cfg->text_field ? strdup(cfg->text_field) : NULL;
    copy->filter = cfg->filter ? strdup(cfg->filter) : NULL;
    copy->log_file = cfg->log_file ? strdup(cfg->log_file) : NULL;
    /* strings config_free frees are copied, or cleared when this test never sets them */
    copy->s3_endpoint = cfg->s3_endpoint ? strdup(cfg->s3_endpoint) : NULL;
    copy->s3_region = cfg->s3_region ? strdup(cfg->s3_region) : NULL;
    copy->hf_endpoint = copy->hf_token = NULL;
    copy->s3_access_key = copy->s3_secret_key = copy->s3_session_token = NULL;
}

static void test_init_defaults(void)
{
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, "/xdg/cache", "/home/u", &err), 0);
    CHECK_EQ_INT(cfg.shard_size, 10000000);
    CHECK_EQ_INT(cfg.val_shards, 1);
    CHECK_EQ_INT(cfg.max_shards, 0);
    CHECK_EQ_INT(cfg.workers, 2);
    CHECK_EQ_INT(cfg.prefetch, 1);
    CHECK_EQ_INT(cfg.retries, 4);
    CHECK_EQ_INT(cfg.timeout_ms, 30000);
    CHECK_EQ_INT(cfg.max_doc_bytes, 64ull << 20);
    CHECK_EQ_INT(cfg.cache_size, 0);
    CHECK_EQ_INT(cfg.has_shuffle_seed, 0);
    CHECK_EQ_INT(cfg.insecure, 0);
    CHECK(streq(cfg.tokenizer, "gpt2"));
    CHECK(streq(cfg.text_field, "text"));
    CHECK(cfg.source == NULL);
    CHECK(cfg.mountpoint == NULL);
    CHECK(cfg.log_file == NULL);
    /* XDG_CACHE_HOME wins when absolute */
    CHECK(streq(cfg.cache_dir, "/xdg/cache/tokfs"));
    tokfs_config_free(&cfg);

    /* relative XDG_CACHE_HOME is ignored (XDG spec), HOME is used */
    CHECK_EQ_INT(tokfs_config_init(&cfg, "relative/cache", "/home/u", &err), 0);
    CHECK(streq(cfg.cache_dir, "/home/u/.cache/tokfs"));
    tokfs_config_free(&cfg);

    CHECK_EQ_INT(tokfs_config_init(&cfg, "", "/home/u", &err), 0);
    CHECK(streq(cfg.cache_dir, "/home/u/.cache/tokfs"));
    tokfs_config_free(&cfg);

    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/home/u", &err), 0);
    CHECK(streq(cfg.cache_dir, "/home/u/.cache/tokfs"));
    tokfs_config_free(&cfg);

    CHECK_EQ_INT(tokfs_config_init(&cfg, "/only/xdg", NULL, &err), 0);
    CHECK(streq(cfg.cache_dir, "/only/xdg/tokfs"));
    tokfs_config_free(&cfg);

    /* neither: no default */
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, NULL, &err), 0);
    CHECK(cfg.cache_dir == NULL);
    CHECK_EQ_INT(cfg.workers, 2);
    tokfs_config_free(&cfg);

    CHECK_EQ_INT(tokfs_config_init(&cfg, "", "", &err), 0);
    CHECK(cfg.cache_dir == NULL);
    tokfs_config_free(&cfg);

    /* free leaves a zeroed struct (safe to free twice) */
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/h", &err), 0);
    tokfs_config_free(&cfg);
    CHECK(cfg.cache_dir == NULL && cfg.tokenizer == NULL && cfg.text_field == NULL);
    tokfs_config_free(&cfg);
}

/* Set key=value on cfg and expect success. */
static void set_ok(tokfs_config *cfg, const char *key, const char *value, int line)
{
    tokfs_err err = {""};
    int rc = tokfs_config_set(cfg, key, value, &err);
    if (rc != 0) {
        fprintf(stderr, "test_config.c:%d: tokfs_config_set(%s, %s) = %d (%s), want 0\n", line,
                key, value ? value : "(null)", rc, err.msg);
        check_failures++;
    }
}

/* Expect -EINVAL and a message naming the key. The config must not change. */
static void set_bad(tokfs_config *cfg, const char *key, const char *value, int line)
{
    tokfs_err err = {""};
    tokfs_config before;
    config_snapshot(&before, cfg);
    int rc = tokfs_config_set(cfg, key, value, &err);
    if (rc != -EINVAL) {
        fprintf(stderr, "test_config.c:%d: tokfs_config_set(%s, %s) = %d, want -EINVAL\n", line,
                key, value ? value : "(null)", rc);
        check_failures++;
    } else if (!strstr(err.msg, key)) {
        fprintf(stderr, "test_config.c:%d: message for %s=%s does not name the option: \"%s\"\n",
                line, key, value ? value : "(null)", err.msg);
        check_failures++;
    }
    if (!config_equal(&before, cfg)) {
        fprintf(stderr, "test_config.c:%d: refused %s=%s changed the config\n", line, key,
                value ? value : "(null)");
        check_failures++;
    }
    tokfs_config_free(&before);
}

#define SET_OK(k, v) set_ok(&cfg, (k), (v), __LINE__)
#define SET_BAD(k, v) set_bad(&cfg, (k), (v), __LINE__)

static void test_set(void)
{
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/home/u", &err), 0);

    SET_OK("cache_size", "2G");
    CHECK_EQ_INT(cfg.cache_size, 2ull << 30);
    SET_OK("cache_size", "1");
    CHECK_EQ_INT(cfg.cache_size, 1);
    SET_BAD("cache_size", "0");
    SET_BAD("cache_size", "abc");
    SET_BAD("cache_size", "-1G");
    SET_BAD("cache_size", "");
    SET_BAD("cache_size", NULL);
    CHECK_EQ_INT(cfg.cache_size, 1);

    SET_OK("cache_dir", "/var/cache/x");
    CHECK(streq(cfg.cache_dir, "/var/cache/x"));
    SET_BAD("cache_dir", "relative/dir");
    SET_BAD("cache_dir", "");
    CHECK(streq(cfg.cache_dir, "/var/cache/x"));

    /* any name or path is taken here; tokfs_tokenizer_open decides (test_tokenizer) */
    SET_OK("tokenizer", "bytes");
    CHECK(streq(cfg.tokenizer, "bytes"));
    SET_OK("tokenizer", "/models/tokenizer.json");
    CHECK(streq(cfg.tokenizer, "/models/tokenizer.json"));
    SET_BAD("tokenizer", "");
    SET_BAD("tokenizer", NULL);
    SET_OK("pattern", "cl100k_base");
    CHECK(streq(cfg.pattern, "cl100k_base"));
    SET_OK("eot", "<|endoftext|>");
    CHECK(streq(cfg.eot, "<|endoftext|>"));
    SET_BAD("eot", "");

    SET_OK("shard_size", "250000");
    CHECK_EQ_INT(cfg.shard_size, 250000);
    SET_OK("shard_size", "1");
    CHECK_EQ_INT(cfg.shard_size, 1);
    SET_OK("shard_size", "1099511627776"); /* 2^40, the largest */
    CHECK_EQ_INT(cfg.shard_size, 1ull << 40);
    SET_OK("shard_size", "10M");
    CHECK_EQ_INT(cfg.shard_size, 10000000);
    SET_BAD("shard_size", "0");
    SET_BAD("shard_size", "1099511627777");
    SET_BAD("shard_size", "1.5");
    SET_BAD("shard_size", "10MB");
    SET_BAD("shard_size", "lots");

    SET_OK("val_shards", "0");
    CHECK_EQ_INT(cfg.val_shards, 0);
    SET_OK("val_shards", "1000000");
    CHECK_EQ_INT(cfg.val_shards, 1000000);
    SET_OK("val_shards", "3");
    CHECK_EQ_INT(cfg.val_shards, 3);
    SET_BAD("val_shards", "1000001");
    SET_BAD("val_shards", "-1");
    SET_BAD("val_shards", "1.5");
    SET_BAD("val_shards", "two");

    SET_OK("max_shards", "1");
    CHECK_EQ_INT(cfg.max_shards, 1);
    SET_OK("max_shards", "99999");
    CHECK_EQ_INT(cfg.max_shards, 99999);
    SET_BAD("max_shards", "0");
    SET_BAD("max_shards", "100000");
    SET_BAD("max_shards", "x");

    /* the output layout: defaults mean "the vocabulary's width" and "the format's own" */
    CHECK_EQ_INT(cfg.dtype_bytes, 0);
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_RAW);
    CHECK_EQ_INT(cfg.doc_sep, TOKFS_SEP_DEFAULT);
    SET_OK("dtype", "uint32");
    CHECK_EQ_INT(cfg.dtype_bytes, 4);
    SET_OK("dtype", "uint16");
    CHECK_EQ_INT(cfg.dtype_bytes, 2);
    SET_BAD("dtype", "int32");
    SET_BAD("dtype", "u16");
    SET_BAD("dtype", "");
    CHECK_EQ_INT(cfg.dtype_bytes, 2);
    SET_OK("format", "llmc");
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_LLMC);
    SET_OK("format", "megatron");
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_MEGATRON);
    SET_OK("format", "npy");
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_NPY);
    SET_OK("format", "raw");
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_RAW);
    SET_BAD("format", "RAW");
    SET_BAD("format", "parquet");
    CHECK_EQ_INT(cfg.format, TOKFS_OUT_RAW);
    SET_OK("doc_sep", "prepend");
    CHECK_EQ_INT(cfg.doc_sep, TOKFS_SEP_PREPEND);
    SET_OK("doc_sep", "none");
    CHECK_EQ_INT(cfg.doc_sep, TOKFS_SEP_NONE);
    SET_OK("doc_sep", "append");
    CHECK_EQ_INT(cfg.doc_sep, TOKFS_SEP_APPEND);
    SET_BAD("doc_sep", "before");
    CHECK_EQ_INT(cfg.doc_sep, TOKFS_SEP_APPEND);

    /* pre-tokenized sources (docs/pretokenized.md) */
    CHECK_EQ_INT(cfg.src_dtype_bytes, 0);
    CHECK_EQ_INT(cfg.vocab_size, 0);
    SET_OK("src_dtype", "uint32");
    CHECK_EQ_INT(cfg.src_dtype_bytes, 4);
    SET_OK("src_dtype", "uint16");
    CHECK_EQ_INT(cfg.src_dtype_bytes, 2);
    SET_BAD("src_dtype", "int32");
    SET_BAD("src_dtype", "");
    CHECK_EQ_INT(cfg.src_dtype_bytes, 2);
    SET_OK("vocab_size", "50304");
    CHECK_EQ_INT(cfg.vocab_size, 50304);
    SET_OK("vocab_size", "128256");
    CHECK_EQ_INT(cfg.vocab_size, 128256);
    SET_BAD("vocab_size", "0");
    SET_BAD("vocab_size", "-1");
    SET_BAD("vocab_size", "5e9");
    SET_BAD("vocab_size", "many");
    CHECK_EQ_INT(cfg.vocab_size, 128256);

    CHECK_EQ_INT(cfg.has_shuffle_seed, 0);
    SET_OK("shuffle_seed", "0");
    CHECK_EQ_INT(cfg.has_shuffle_seed, 1);
    CHECK_EQ_INT(cfg.shuffle_seed, 0);
    SET_OK("shuffle_seed", "18446744073709551615");
    CHECK(cfg.shuffle_seed == UINT64_MAX);
    SET_OK("shuffle_seed", "42");
    CHECK(cfg.shuffle_seed == 42);
    SET_BAD("shuffle_seed", "18446744073709551616");
    SET_BAD("shuffle_seed", "-1");
    SET_BAD("shuffle_seed", "+1");
    SET_BAD("shuffle_seed", " 1");
    SET_BAD("shuffle_seed", "1k");
    SET_BAD("shuffle_seed", "abc");
    CHECK(cfg.shuffle_seed == 42);

    SET_OK("text_field", "content");
    CHECK(streq(cfg.text_field, "content"));
    SET_OK("text_field", "with space");
    CHECK(streq(cfg.text_field, "with space"));
    SET_BAD("text_field", "");
    SET_BAD("text_field", NULL);
    CHECK(cfg.filter == NULL);
    SET_OK("filter", "language=Python");
    CHECK(streq(cfg.filter, "language=Python"));
    SET_OK("filter", "language=Python|Go|");
    CHECK(streq(cfg.filter, "language=Python|Go|"));
    SET_BAD("filter", "language");
    SET_BAD("filter", "=Python");
    SET_BAD("filter", "");
    SET_BAD("filter", NULL);
    CHECK(streq(cfg.filter, "language=Python|Go|"));
    CHECK(streq(cfg.text_field, "with space"));

    SET_OK("workers", "1");
    CHECK_EQ_INT(cfg.workers, 1);
    SET_OK("workers", "256");
    CHECK_EQ_INT(cfg.workers, 256);
    SET_BAD("workers", "0");
    SET_BAD("workers", "257");
    SET_BAD("workers", "many");

    SET_OK("prefetch", "0");
    CHECK_EQ_INT(cfg.prefetch, 0);
    SET_OK("prefetch", "64");
    CHECK_EQ_INT(cfg.prefetch, 64);
    SET_BAD("prefetch", "65");
    SET_BAD("prefetch", "-1");

    SET_OK("retries", "0");
    CHECK_EQ_INT(cfg.retries, 0);
    SET_OK("retries", "100");
    CHECK_EQ_INT(cfg.retries, 100);
    SET_BAD("retries", "101");
    SET_BAD("retries", "x");

    SET_OK("timeout", "100ms");
    CHECK_EQ_INT(cfg.timeout_ms, 100);
    SET_OK("timeout", "0.1");
    CHECK_EQ_INT(cfg.timeout_ms, 100);
    SET_OK("timeout", "3600");
    CHECK_EQ_INT(cfg.timeout_ms, 3600000);
    SET_OK("timeout", "60m");
    CHECK_EQ_INT(cfg.timeout_ms, 3600000);
    SET_OK("timeout", "30s");
    CHECK_EQ_INT(cfg.timeout_ms, 30000);
    SET_BAD("timeout", "99ms");
    SET_BAD("timeout", "3601");
    SET_BAD("timeout", "1h");
    SET_BAD("timeout", "soon");

    SET_OK("max_doc_bytes", "1K");
    CHECK_EQ_INT(cfg.max_doc_bytes, 1024);
    SET_OK("max_doc_bytes", "64M");
    CHECK_EQ_INT(cfg.max_doc_bytes, 64ull << 20);
    SET_BAD("max_doc_bytes", "1023");
    SET_BAD("max_doc_bytes", "big");

    SET_OK("log_file", "/var/log/tokfs.log");
    CHECK(streq(cfg.log_file, "/var/log/tokfs.log"));
    SET_BAD("log_file", "tokfs.log");
    CHECK(streq(cfg.log_file, "/var/log/tokfs.log"));

    SET_OK("insecure", NULL);
    CHECK_EQ_INT(cfg.insecure, 1);
    SET_BAD("insecure", "1");
    SET_BAD("insecure", "");

    /* S3 (docs/s3.md) */
    SET_OK("s3_endpoint", "http://127.0.0.1:9000");
    CHECK(streq(cfg.s3_endpoint, "http://127.0.0.1:9000"));
    SET_BAD("s3_endpoint", "127.0.0.1:9000");
    SET_BAD("s3_endpoint", "");
    CHECK(streq(cfg.s3_endpoint, "http://127.0.0.1:9000"));
    SET_OK("s3_region", "eu-west-3");
    CHECK(streq(cfg.s3_region, "eu-west-3"));
    SET_OK("s3_addressing", "virtual");
    CHECK_EQ_INT(cfg.s3_addressing, TOKFS_S3_VIRTUAL);
    SET_OK("s3_addressing", "path");
    CHECK_EQ_INT(cfg.s3_addressing, TOKFS_S3_PATH);
    SET_BAD("s3_addressing", "dns");
    CHECK_EQ_INT(cfg.s3_addressing, TOKFS_S3_PATH);
    SET_OK("s3_anonymous", NULL);
    CHECK_EQ_INT(cfg.s3_anonymous, 1);
    SET_BAD("s3_anonymous", "1");

    /* not tokfs options: -ENOENT, config untouched (the caller may pass them to FUSE) */
    const char *unknown[] = {"allow_other", "ro", "Cache_size", "cache-size", "", "shard_sizes"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        tokfs_config before;
        config_snapshot(&before, &cfg);
        CHECK_EQ_INT(tokfs_config_set(&cfg, unknown[i], "1", &err), -ENOENT);
        CHECK_EQ_INT(tokfs_config_set(&cfg, unknown[i], NULL, &err), -ENOENT);
        CHECK(config_equal(&before, &cfg));
        tokfs_config_free(&before);
    }

    tokfs_config_free(&cfg);
}

static void test_finish(void)
{
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/home/u", &err), 0);
    CHECK_EQ_INT(tokfs_config_finish(&cfg, &err), -EINVAL);
    CHECK(strstr(err.msg, "cache_size") != NULL);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "cache_size", "1G", &err), 0);
    tokfs_err_clear(&err);
    CHECK_EQ_INT(tokfs_config_finish(&cfg, &err), 0);
    tokfs_config_free(&cfg);

    /* no HOME, no XDG: cache_dir is required too */
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, NULL, &err), 0);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "cache_size", "1G", &err), 0);
    CHECK_EQ_INT(tokfs_config_finish(&cfg, &err), -EINVAL);
    CHECK(strstr(err.msg, "cache_dir") != NULL);
    CHECK_EQ_INT(tokfs_config_set(&cfg, "cache_dir", "/c", &err), 0);
    CHECK_EQ_INT(tokfs_config_finish(&cfg, &err), 0);
    tokfs_config_free(&cfg);
}

static void test_help(void)
{
    /* every option tokfs_config_set accepts is listed in --help */
    const char *names[] = {"cache_size=", "cache_dir=", "tokenizer=", "shard_size=",
                           "val_shards=", "max_shards=", "shuffle_seed=", "text_field=",
                           "workers=", "prefetch=", "retries=", "timeout=", "max_doc_bytes=",
                           "log_file=", "insecure", "pattern=", "eot=", "src_dtype=",
                           "vocab_size=", "s3_endpoint=", "s3_region=", "s3_addressing=",
                           "s3_anonymous"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strstr(tokfs_options_help, names[i])) {
            fprintf(stderr, "--help does not list %s\n", names[i]);
            check_failures++;
        }
    }
}

int main(void)
{
    test_parse_size();
    test_parse_count();
    test_parse_duration();
    test_init_defaults();
    test_set();
    test_finish();
    test_help();
    CHECK_DONE();
}
