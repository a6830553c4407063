/* Options: the one place that parses -o OPTIONS into tokfs_config (sizes, counts, durations,
 * the tokenizer and filter specs) and fills defaults; nothing else reads options. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/filter.h"

const char tokfs_options_help[] =
    "  cache_size=SIZE     hard cap on the cache dir's disk use, e.g. 512M, 20G (required)\n"
    "  cache_dir=DIR       cache location (default $XDG_CACHE_HOME/tokfs or ~/.cache/tokfs)\n"
    "  tokenizer=NAME      gpt2 (default, embedded), bytes (id = byte value, end-of-text 256),\n"
    "                      PATH.tiktoken (tiktoken ranks), PATH to a Hugging Face\n"
    "                      tokenizer.json, a SentencePiece PATH.model or a Mistral tekken.json\n"
    "  tokenizer_cache=DIR|off  keep the tables built from a large tokenizer.json here\n"
    "                      and map them on the next load of the same file (default\n"
    "                      CACHE_DIR/tokenizers; at most 8 kept)\n"
    "  pattern=NAME        pre-tokenizer of a .tiktoken file: gpt2, cl100k_base, o200k_base,\n"
    "                      qwen2 (default: from the file name)\n"
    "  eot=ID|TEXT         end-of-text token between documents (default: the tokenizer's)\n"
    "  special_tokens=text|match  special tokens' text in a document is ordinary text (text,\n"
    "                      the default) or becomes the special token's id (match)\n"
    "  shard_size=N        about N tokens per shard, e.g. 10M (default 10M)\n"
    "  val_shards=N        the last N shards of the plan form val/ (default 1)\n"
    "  max_shards=N        expose only the first N train shards (default: all)\n"
    "  dtype=uint16|uint32 id width in the shards (default: uint16 when the vocabulary fits)\n"
    "  format=raw|llmc|megatron|npy  shard layout: raw ids (default), llm.c .bin with its\n"
    "                      1024-byte header, Megatron .bin + .idx, or NumPy .npy\n"
    "  doc_sep=append|prepend|none  end-of-text placement (default: prepend for llmc,\n"
    "                      else append)\n"
    "  shuffle_seed=N      permute the pieces before numbering (default: source order)\n"
    "  text_field=NAME     JSONL member or Parquet column holding the document\n"
    "                      (default text)\n"
    "  filter=COL=V[|V...] Parquet only: keep the rows whose string column COL equals one\n"
    "                      of the values, e.g. filter=language=Python|Go\n"
    "  src_dtype=uint16|uint32  id width of .bin token sources without llm.c's header\n"
    "  vocab_size=N        token sources: an id at or above N is an error (default: the\n"
    "                      tokenizer's vocabulary size)\n"
    "  workers=N           materialization threads (default 2)\n"
    "  prefetch=N          shards to make ahead of a reader when they fit (default 1)\n"
    "  retries=N           extra attempts per HTTP request (default 4)\n"
    "  timeout=DURATION    connect/stall timeout, e.g. 30s, 500ms (default 30s)\n"
    "  max_doc_bytes=SIZE  skip (and count) records larger than this (default 64M)\n"
    "  txt_doc=file|line|paragraph  a .txt document is the whole file (default), each\n"
    "                      non-blank line, or each block between blank lines\n"
    "  log_file=PATH       append log lines here (default: stderr with -f, else syslog)\n"
    "  insecure            do not verify TLS certificates (unsafe)\n"
    "  s3_endpoint=URL     S3-compatible endpoint, http(s)://HOST[:PORT] (default\n"
    "                      $AWS_ENDPOINT_URL, else AWS for the region)\n"
    "  s3_region=NAME      region requests are signed for (default $AWS_REGION,\n"
    "                      $AWS_DEFAULT_REGION, else us-east-1)\n"
    "  s3_addressing=auto|path|virtual  bucket in the path or in the host name (default\n"
    "                      auto: virtual-hosted on amazonaws.com, else path-style)\n"
    "  s3_anonymous        send no credentials (a public bucket)\n"
    "  shared=DEST         read shards from DEST (a directory or s3://BUCKET/PREFIX made by\n"
    "                      tokfs build) before making them from the sources\n"
    "  shared_write=0|1    publish the shards this mount makes to DEST (default 0)\n";

static int set_string(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int tokfs_config_init(tokfs_config *cfg, const char *xdg_cache_home, const char *home,
                      tokfs_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->shard_size = 10000000;
    cfg->val_shards = 1;
    cfg->workers = 2;
    cfg->prefetch = 1;
    cfg->retries = 4;
    cfg->timeout_ms = 30000;
    cfg->max_doc_bytes = 64ull << 20;
    if (set_string(&cfg->tokenizer, "gpt2") || set_string(&cfg->text_field, "text"))
        return tokfs_err_set(err, ENOMEM, "out of memory");

    char path[4096];
    if (xdg_cache_home && xdg_cache_home[0] == '/')
        snprintf(path, sizeof path, "%s/tokfs", xdg_cache_home);
    else if (home && home[0])
        snprintf(path, sizeof path, "%s/.cache/tokfs", home);
    else
        path[0] = '\0'; /* no default: cache_dir becomes required */
    if (path[0] && set_string(&cfg->cache_dir, path))
        return tokfs_err_set(err, ENOMEM, "out of memory");
    return 0;
}

void tokfs_config_free(tokfs_config *cfg)
{
    free(cfg->source);
    free(cfg->mountpoint);
    free(cfg->cache_dir);
    free(cfg->tokenizer_cache);
    free(cfg->tokenizer);
    free(cfg->pattern);
    free(cfg->eot);
    free(cfg->text_field);
    free(cfg->filter);
    free(cfg->log_file);
    free(cfg->hf_endpoint);
    if (cfg->hf_token)
        explicit_bzero(cfg->hf_token, strlen(cfg->hf_token));
    free(cfg->hf_token);
    free(cfg->shared);
    free(cfg->s3_endpoint);
    free(cfg->s3_region);
    free(cfg->s3_access_key);
    char *secrets[] = {cfg->s3_secret_key, cfg->s3_session_token};
    for (size_t i = 0; i < 2; i++) {
        if (secrets[i])
            explicit_bzero(secrets[i], strlen(secrets[i]));
        free(secrets[i]);
    }
    memset(cfg, 0, sizeof *cfg);
}

/* Parse "<digits>[.<digits>][e[+-]<digits>][unit]" exactly, without floating point: the value
 * times the unit's integer multiplier (bare_mul when there is no unit). units[] lists lowercase
 * suffixes (matched case-insensitively) and mul[] their multipliers (at most 2^40). The result is
 * floored when floor_ok, else a value that is not a whole number after scaling is refused.
 * Refused: signs, spaces, no digits, unknown units, results over UINT64_MAX. */
static int parse_scaled(const char *text, const char *const *units, const uint64_t *mul,
                        uint64_t bare_mul, int floor_ok, uint64_t *out)
{
    if (!text)
        return -EINVAL;
    const unsigned char *s = (const unsigned char *)text;
    const unsigned char *int_digits = s;
    while (isdigit(*s))
        s++;
    size_t nint = (size_t)(s - int_digits);
    const unsigned char *frac_digits = s;
    size_t nfrac = 0;
    if (*s == '.') {
        frac_digits = ++s;
        while (isdigit(*s))
            s++;
        nfrac = (size_t)(s - frac_digits);
    }
    if (nint + nfrac == 0)
        return -EINVAL;
    long exp10 = 0;
    if ((*s == 'e' || *s == 'E') &&
        (isdigit(s[1]) || ((s[1] == '+' || s[1] == '-') && isdigit(s[2])))) {
        int negative = s[1] == '-';
        s += (s[1] == '+' || s[1] == '-') ? 2 : 1;
        for (; isdigit(*s); s++)
            if (exp10 < 1000000) /* saturate: beyond this the value overflows or floors to 0 */
                exp10 = exp10 * 10 + (*s - '0');
        if (negative)
            exp10 = -exp10;
    }
    uint64_t m = 0;
    if (*s == '\0') {
        m = bare_mul;
    } else {
        for (size_t i = 0; units[i]; i++)
            if (strcasecmp((const char *)s, units[i]) == 0)
                m = mul[i];
    }
    if (m == 0)
        return -EINVAL;

    /* The digits D = int_digits ++ frac_digits with the decimal point after position point
     * (shifted by the exponent); positions outside D are zeros. */
    long ndigits = (long)(nint + nfrac);
    long point = (long)nint + exp10;
#define DIGIT(i)                                                                             \
    ((i) < 0 || (i) >= ndigits ? 0                                                           \
     : (size_t)(i) < nint      ? int_digits[(i)] - '0'                                       \
                               : frac_digits[(size_t)(i) - nint] - '0')
    uint64_t whole = 0;
    for (long i = 0; i < point; i++) {
        unsigned d = (unsigned)DIGIT(i);
        if (whole > (UINT64_MAX - d) / 10)
            return -EINVAL;
        whole = whole * 10 + d;
    }
    /* floor(m * 0.fff...) by long multiplication from the last digit: the carry stays below m
     * (<= 2^40), so d * m + carry fits easily; a nonzero digit dropped means a fraction. */
    uint64_t carry = 0;
    int inexact = 0;
    for (long i = ndigits - 1; i >= point; i--) {
        uint64_t t = (uint64_t)DIGIT(i) * m + carry;
        inexact |= t % 10 != 0;
        carry = t / 10;
    }
#undef DIGIT
    if (inexact && !floor_ok)
        return -EINVAL;
    if (whole > (UINT64_MAX - carry) / m)
        return -EINVAL;
    *out = whole * m + carry;
    return 0;
}

int tokfs_parse_size(const char *text, uint64_t *out)
{
    static const char *const sfx[] = {"b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib",
                                      "t", "tb", "tib", NULL};
    static const uint64_t mul[] = {1, 1ull << 10, 1ull << 10, 1ull << 10, 1ull << 20, 1ull << 20,
                                   1ull << 20, 1ull << 30, 1ull << 30, 1ull << 30, 1ull << 40,
                                   1ull << 40, 1ull << 40};
    return parse_scaled(text, sfx, mul, 1, 1, out); /* a fraction of a byte is floored */
}

int tokfs_parse_count(const char *text, uint64_t *out)
{
    static const char *const sfx[] = {"k", "m", "g", "b", NULL};
    static const uint64_t mul[] = {1000, 1000000, 1000000000, 1000000000};
    return parse_scaled(text, sfx, mul, 1, 0, out); /* a count must be whole */
}

int tokfs_parse_duration_ms(const char *text, uint64_t *out)
{
    static const char *const sfx[] = {"ms", "s", "m", NULL};
    static const uint64_t mul[] = {1, 1000, 60000};
    /* a bare number is seconds; a fraction of a millisecond is floored */
    return parse_scaled(text, sfx, mul, 1000, 1, out);
}

static int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (tokfs_parse_count(text, &v) || v < min || v > max)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

/* The options of pre-tokenized sources (docs/pretokenized.md), kept together. */
static int set_token_source_option(tokfs_config *cfg, const char *key, const char *value,
                                   tokfs_err *err)
{
    if (!value || !*value)
        return tokfs_err_set(err, EINVAL, "option %s needs a value: %s=...", key, key);
    if (strcmp(key, "src_dtype") == 0) {
        if (strcmp(value, "uint16") == 0)
            cfg->src_dtype_bytes = 2;
        else if (strcmp(value, "uint32") == 0)
            cfg->src_dtype_bytes = 4;
        else
            return tokfs_err_set(err, EINVAL, "bad src_dtype=%s: give uint16 or uint32", value);
        return 0;
    }
    /* vocab_size: a count, at least 1 (an empty vocabulary holds no id) */
    if (parse_u32(value, 1, UINT32_MAX, &cfg->vocab_size))
        return tokfs_err_set(err, EINVAL, "bad vocab_size=%s: give a number of ids, e.g. 50257",
                             value);
    return 0;
}

int tokfs_config_set(tokfs_config *cfg, const char *key, const char *value, tokfs_err *err)
{
    if (strcmp(key, "src_dtype") == 0 || strcmp(key, "vocab_size") == 0)
        return set_token_source_option(cfg, key, value, err);
    /* Options that take no value. */
    if (strcmp(key, "insecure") == 0) {
        if (value)
            return tokfs_err_set(err, EINVAL, "option insecure takes no value");
        cfg->insecure = 1;
        return 0;
    }
    if (strcmp(key, "s3_anonymous") == 0) {
        if (value)
            return tokfs_err_set(err, EINVAL, "option s3_anonymous takes no value");
        cfg->s3_anonymous = 1;
        return 0;
    }
    if (strcmp(key, "s3_addressing") == 0) {
        static const char *const names[] = {
            [TOKFS_S3_AUTO] = "auto", [TOKFS_S3_PATH] = "path", [TOKFS_S3_VIRTUAL] = "virtual",
        };
        for (int i = 0; value && i < (int)(sizeof names / sizeof names[0]); i++)
            if (strcmp(value, names[i]) == 0) {
                cfg->s3_addressing = i;
                return 0;
            }
        return tokfs_err_set(err, EINVAL, "bad s3_addressing=%s: give path (ENDPOINT/BUCKET/KEY), "
                             "virtual (BUCKET.HOST/KEY) or auto", value ? value : "");
    }

    /* txt_doc=: the document of a .txt source (issue 12's large text files). */
    if (strcmp(key, "txt_doc") == 0) {
        static const char *const names[] = {
            [TOKFS_TXT_DOC_FILE] = "file", [TOKFS_TXT_DOC_LINE] = "line",
            [TOKFS_TXT_DOC_PARAGRAPH] = "paragraph",
        };
        for (int i = 0; value && i < (int)(sizeof names / sizeof names[0]); i++)
            if (strcmp(value, names[i]) == 0) {
                cfg->txt_doc = i;
                return 0;
            }
        return tokfs_err_set(err, EINVAL, "bad txt_doc=%s: give file (the whole file is one "
                             "document), line or paragraph", value ? value : "");
    }

    struct { const char *name; } known[] = {
        {"cache_size"}, {"cache_dir"}, {"tokenizer"}, {"shard_size"}, {"val_shards"},
        {"max_shards"}, {"shuffle_seed"}, {"text_field"}, {"workers"}, {"prefetch"},
        {"retries"}, {"timeout"}, {"max_doc_bytes"}, {"log_file"}, {"pattern"}, {"eot"},
        {"filter"}, {"special_tokens"}, {"tokenizer_cache"},
        {"dtype"}, {"format"}, {"doc_sep"}, {"s3_endpoint"}, {"s3_region"}, {"shared"},
        {"shared_write"},
    };
    int is_known = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        is_known |= strcmp(key, known[i].name) == 0;
    if (!is_known)
        return -ENOENT;
    if (!value || !*value)
        return tokfs_err_set(err, EINVAL, "option %s needs a value: %s=...", key, key);

    uint64_t u64;
    if (strcmp(key, "cache_size") == 0) {
        if (tokfs_parse_size(value, &u64) || u64 == 0)
            return tokfs_err_set(err, EINVAL,
                                 "bad cache_size=%s: give a size such as 512M, 20G or 1073741824",
                                 value);
        cfg->cache_size = u64;
    } else if (strcmp(key, "cache_dir") == 0) {
        if (value[0] != '/')
            return tokfs_err_set(err, EINVAL,
                                 "bad cache_dir=%s: give an absolute path", value);
        if (set_string(&cfg->cache_dir, value))
            return -ENOMEM;
    } else if (strcmp(key, "tokenizer") == 0) {
        /* checked when the tokenizer is opened (it may be a file) */
        if (set_string(&cfg->tokenizer, value))
            return -ENOMEM;
    } else if (strcmp(key, "tokenizer_cache") == 0) {
        if (strcmp(value, "off") && value[0] != '/')
            return tokfs_err_set(err, EINVAL, "bad tokenizer_cache=%s: give an absolute path or "
                                 "off", value);
        if (set_string(&cfg->tokenizer_cache, value))
            return -ENOMEM;
    } else if (strcmp(key, "pattern") == 0) {
        if (set_string(&cfg->pattern, value))
            return -ENOMEM;
    } else if (strcmp(key, "eot") == 0) {
        if (set_string(&cfg->eot, value))
            return -ENOMEM;
    } else if (strcmp(key, "special_tokens") == 0) {
        if (strcmp(value, "text") && strcmp(value, "match"))
            return tokfs_err_set(err, EINVAL, "bad special_tokens=%s: give text (special tokens "
                                 "in documents stay text) or match", value);
        cfg->match_special = strcmp(value, "match") == 0;
    } else if (strcmp(key, "shard_size") == 0) {
        if (tokfs_parse_count(value, &u64) || u64 < 1 || u64 > (1ull << 40))
            return tokfs_err_set(err, EINVAL,
                                 "bad shard_size=%s: give a token count such as 10M or 250000",
                                 value);
        cfg->shard_size = u64;
    } else if (strcmp(key, "val_shards") == 0) {
        if (parse_u32(value, 0, 1000000, &cfg->val_shards))
            return tokfs_err_set(err, EINVAL, "bad val_shards=%s: give a whole number >= 0", value);
    } else if (strcmp(key, "max_shards") == 0) {
        if (parse_u32(value, 1, 99999, &cfg->max_shards))
            return tokfs_err_set(err, EINVAL, "bad max_shards=%s: give a whole number 1..99999",
                                 value);
    } else if (strcmp(key, "dtype") == 0) {
        if (strcmp(value, "uint16") && strcmp(value, "uint32"))
            return tokfs_err_set(err, EINVAL, "bad dtype=%s: give uint16 or uint32", value);
        cfg->dtype_bytes = strcmp(value, "uint16") == 0 ? 2 : 4;
    } else if (strcmp(key, "format") == 0) {
        static const char *const names[] = {"raw", "llmc", "megatron", "npy"};
        int f = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(value, names[i]) == 0)
                f = i;
        if (f < 0)
            return tokfs_err_set(err, EINVAL, "bad format=%s: give raw, llmc, megatron or npy",
                                 value);
        cfg->format = f;
    } else if (strcmp(key, "doc_sep") == 0) {
        if (strcmp(value, "append") == 0)
            cfg->doc_sep = TOKFS_SEP_APPEND;
        else if (strcmp(value, "prepend") == 0)
            cfg->doc_sep = TOKFS_SEP_PREPEND;
        else if (strcmp(value, "none") == 0)
            cfg->doc_sep = TOKFS_SEP_NONE;
        else
            return tokfs_err_set(err, EINVAL, "bad doc_sep=%s: give append, prepend or none",
                                 value);
    } else if (strcmp(key, "shuffle_seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long seed = strtoull(value, &end, 10);
        if (errno || *end || value[0] == '-' || !isdigit((unsigned char)value[0]))
            return tokfs_err_set(err, EINVAL, "bad shuffle_seed=%s: give a whole number", value);
        cfg->shuffle_seed = seed;
        cfg->has_shuffle_seed = 1;
    } else if (strcmp(key, "s3_endpoint") == 0) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
            return tokfs_err_set(err, EINVAL, "bad s3_endpoint=%s: give http(s)://HOST[:PORT]",
                                 value);
        if (set_string(&cfg->s3_endpoint, value))
            return -ENOMEM;
    } else if (strcmp(key, "shared") == 0) {
        if (value[0] != '/' && strncmp(value, "s3://", 5) != 0)
            return tokfs_err_set(err, EINVAL,
                                 "bad shared=%s: give an absolute directory or s3://BUCKET/PREFIX",
                                 value);
        if (set_string(&cfg->shared, value))
            return -ENOMEM;
    } else if (strcmp(key, "shared_write") == 0) {
        if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
            return tokfs_err_set(err, EINVAL, "bad shared_write=%s: give 0 or 1", value);
        cfg->shared_write = value[0] == '1';
    } else if (strcmp(key, "s3_region") == 0) {
        if (set_string(&cfg->s3_region, value))
            return -ENOMEM;
    } else if (strcmp(key, "text_field") == 0) {
        if (set_string(&cfg->text_field, value))
            return -ENOMEM;
    } else if (strcmp(key, "filter") == 0) {
        tokfs_filter f;
        tokfs_err ferr = {{0}};
        if (tokfs_filter_parse(value, &f, &ferr))
            return tokfs_err_set(err, EINVAL,
                                 "bad filter=%s: give COLUMN=VALUE or COLUMN=VALUE|VALUE... (%s)",
                                 value, ferr.msg);
        tokfs_filter_free(&f);
        if (set_string(&cfg->filter, value))
            return -ENOMEM;
    } else if (strcmp(key, "workers") == 0) {
        if (parse_u32(value, 1, 256, &cfg->workers))
            return tokfs_err_set(err, EINVAL, "bad workers=%s: give a number 1..256", value);
    } else if (strcmp(key, "prefetch") == 0) {
        if (parse_u32(value, 0, 64, &cfg->prefetch))
            return tokfs_err_set(err, EINVAL, "bad prefetch=%s: give a number 0..64", value);
    } else if (strcmp(key, "retries") == 0) {
        if (parse_u32(value, 0, 100, &cfg->retries))
            return tokfs_err_set(err, EINVAL, "bad retries=%s: give a number 0..100", value);
    } else if (strcmp(key, "timeout") == 0) {
        if (tokfs_parse_duration_ms(value, &u64) || u64 < 100 || u64 > 3600000)
            return tokfs_err_set(err, EINVAL,
                                 "bad timeout=%s: give a duration from 100ms to 60m, e.g. 30s",
                                 value);
        cfg->timeout_ms = (uint32_t)u64;
    } else if (strcmp(key, "max_doc_bytes") == 0) {
        if (tokfs_parse_size(value, &u64) || u64 < 1024)
            return tokfs_err_set(err, EINVAL,
                                 "bad max_doc_bytes=%s: give a size of at least 1K, e.g. 64M",
                                 value);
        cfg->max_doc_bytes = u64;
    } else if (strcmp(key, "log_file") == 0) {
        if (value[0] != '/')
            return tokfs_err_set(err, EINVAL, "bad log_file=%s: give an absolute path", value);
        if (set_string(&cfg->log_file, value))
            return -ENOMEM;
    }
    return 0;
}

int tokfs_config_finish(tokfs_config *cfg, tokfs_err *err)
{
    if (!cfg->cache_size)
        return tokfs_err_set(err, EINVAL,
                             "missing cache_size: add -o cache_size=SIZE (e.g. 2G), the hard cap "
                             "on the cache's disk use");
    if (!cfg->cache_dir)
        return tokfs_err_set(err, EINVAL,
                             "no default cache dir (HOME and XDG_CACHE_HOME unset): add "
                             "-o cache_dir=/absolute/path");
    return 0;
}

const char *tokfs_config_tokenizer_cache(const tokfs_config *cfg, char *buf, size_t size)
{
    int n;
    if (cfg->tokenizer_cache && strcmp(cfg->tokenizer_cache, "off") == 0)
        return NULL;
    if (cfg->tokenizer_cache)
        n = snprintf(buf, size, "%s", cfg->tokenizer_cache);
    else if (cfg->cache_dir && cfg->cache_dir[0])
        n = snprintf(buf, size, "%s/tokenizers", cfg->cache_dir);
    else
        return NULL;
    return n > 0 && (size_t)n < size ? buf : NULL;
}
