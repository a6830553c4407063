/* tokfs — the one configuration struct, parsed once from the command line and passed down.
 * No other part of tokfs reads options or environment variables on its own. */
#ifndef TOKFS_CONFIG_H
#define TOKFS_CONFIG_H

#include <stdint.h>

#include "common/error.h"

/* format= and doc_sep= values (the layouts themselves: core/build/out_format.h). */
enum tokfs_out_format { TOKFS_OUT_RAW, TOKFS_OUT_LLMC, TOKFS_OUT_MEGATRON, TOKFS_OUT_NPY };
/* s3_addressing= values: auto = virtual-hosted on amazonaws.com, path-style elsewhere. */
enum tokfs_s3_addressing { TOKFS_S3_AUTO, TOKFS_S3_PATH, TOKFS_S3_VIRTUAL };
enum tokfs_doc_sep { TOKFS_SEP_DEFAULT, TOKFS_SEP_APPEND, TOKFS_SEP_PREPEND, TOKFS_SEP_NONE };

typedef struct tokfs_config {
    char *source;             /* SOURCE as given: URL, path, or @LIST */
    char *mountpoint;         /* absolute path */
    char *cache_dir;          /* absolute path; default $XDG_CACHE_HOME/tokfs or ~/.cache/tokfs */
    uint64_t cache_size;      /* hard cap in bytes on the cache dir's disk use; 0 = not given */
    char *tokenizer;          /* "gpt2" (default), "bytes", PATH.tiktoken or a tokenizer.json */
    char *tokenizer_cache;    /* tokenizer_cache=: where BPE tables built from a large
                               * tokenizer.json are kept (tokfs_config_tokenizer_cache); "off";
                               * NULL = cache_dir/tokenizers */
    char *pattern;            /* pre-tokenizer name for a .tiktoken file; NULL = from its name */
    char *eot;                /* end-of-text id or token text; NULL = the tokenizer's own */
    int match_special;        /* special_tokens=match (1) or text (0, the default): whether
                               * special added tokens in documents become their ids */
    uint64_t shard_size;      /* about this many tokens per shard */
    uint32_t val_shards;      /* the last N pieces of the plan form val/ */
    uint32_t max_shards;      /* expose at most N train shards; 0 = all */
    /* The output layout (docs/layouts.md): how ids are laid out in the shard files. */
    unsigned dtype_bytes;     /* dtype=: 2 (uint16), 4 (uint32); 0 = uint16 when the
                               * vocabulary fits, else uint32 */
    int format;               /* format=: enum tokfs_out_format */
    int doc_sep;              /* doc_sep=: enum tokfs_doc_sep; DEFAULT = the format's own */
    int has_shuffle_seed;     /* 1 when shuffle_seed was given */
    uint64_t shuffle_seed;    /* permutes pieces before numbering */
    char *text_field;         /* JSONL member / Parquet column holding the document */
    char *filter;             /* Parquet row filter "COLUMN=VALUE[|VALUE...]"; NULL = none */
    /* Pre-tokenized sources (docs/pretokenized.md). */
    unsigned src_dtype_bytes; /* src_dtype=: id width of a .bin source without llm.c's header:
                               * 2 (uint16), 4 (uint32); 0 = not given */
    uint32_t vocab_size;      /* vocab_size=: a source id at or above it is EIO; 0 = the
                               * tokenizer's vocabulary size */
    uint32_t workers;         /* materialization threads */
    uint32_t prefetch;        /* shards ahead to materialize after a read, when they fit */
    uint32_t retries;         /* extra attempts per HTTP request */
    uint32_t timeout_ms;      /* connect / stall timeout */
    uint64_t max_doc_bytes;   /* a record (JSON line, .txt line or paragraph) larger than this
                               * is skipped; a .txt read whole is cut instead */
    /* txt_doc=: what a document of a .txt source is (docs/text.md). */
    enum { TOKFS_TXT_DOC_FILE = 0, TOKFS_TXT_DOC_LINE, TOKFS_TXT_DOC_PARAGRAPH } txt_doc;
    char *log_file;           /* log here instead of stderr/syslog; NULL = default */
    int insecure;             /* skip TLS verification (warned about loudly) */
    char *hf_endpoint;        /* Hugging Face hub URL ($HF_ENDPOINT); NULL = huggingface.co */
    char *hf_token;           /* $HF_TOKEN: sent as a bearer token to hf_endpoint's origin only;
                               * never logged, saved or shown; NULL = none */
    /* S3 and compatible stores (docs/s3.md). The endpoint and region may be options or come from
     * the environment (options win); the credentials come from the environment only. */
    char *s3_endpoint;        /* s3_endpoint= or $AWS_ENDPOINT_URL; NULL = AWS for the region */
    char *s3_region;          /* s3_region= or $AWS_REGION / $AWS_DEFAULT_REGION; NULL =
                               * us-east-1 */
    int s3_addressing;        /* s3_addressing=: enum tokfs_s3_addressing */
    int s3_anonymous;         /* s3_anonymous: sign nothing (a public bucket) */
    char *s3_access_key;      /* $AWS_ACCESS_KEY_ID */
    char *s3_secret_key;      /* $AWS_SECRET_ACCESS_KEY: never logged, saved or shown */
    char *s3_session_token;   /* $AWS_SESSION_TOKEN: never logged, saved or shown */
    /* The shared tier (docs/shared.md). */
    char *shared;             /* shared=DEST: a directory or s3://BUCKET/PREFIX holding the
                               * shards of `tokfs build`; NULL = none */
    int shared_write;         /* shared_write=1: publish shards made here to DEST */
    int foreground;           /* -f */
    int debug;                /* -d */
} tokfs_config;

/* Fill defaults (everything but source, mountpoint and cache_size). home/xdg may be NULL: the
 * caller passes the environment in, so this stays a pure function. */
int tokfs_config_init(tokfs_config *cfg, const char *xdg_cache_home, const char *home,
                      tokfs_err *err);
void tokfs_config_free(tokfs_config *cfg);

/* Apply one "key=value" (or bare "key") option. Returns 0, -ENOENT when the key is not a tokfs
 * option (the caller may hand it to FUSE), or -EINVAL with a message naming the key and the
 * accepted form. */
int tokfs_config_set(tokfs_config *cfg, const char *key, const char *value, tokfs_err *err);

/* Check what only makes sense once all options are in (cache_size given, ...). */
int tokfs_config_finish(tokfs_config *cfg, tokfs_err *err);

/* The directory for tokenizer images (tokenizer_cache=, docs/tokenizers.md "Loading") written
 * into buf, or NULL when they are off (tokenizer_cache=off, or no cache_dir to default to). */
const char *tokfs_config_tokenizer_cache(const tokfs_config *cfg, char *buf, size_t size);

/* "512M", "20G", "1.5G", "4096", "10k" → bytes (binary units: K=1024). 0 or -EINVAL. */
int tokfs_parse_size(const char *text, uint64_t *out);
/* "10M" tokens, "250000", "1e6" → count (decimal units: K=1000). 0 or -EINVAL. */
int tokfs_parse_count(const char *text, uint64_t *out);
/* "30" (seconds), "30s", "500ms", "2m" → milliseconds. 0 or -EINVAL. */
int tokfs_parse_duration_ms(const char *text, uint64_t *out);

/* The text shown by --help for the options (one line per option). */
extern const char tokfs_options_help[];

#endif
