/* The two JSON documents of the mount: dataset_metadata.json (the format of the shards, for
 * trainers) and .tokfs/status.json (the cache's counters and every shard's state). Built with
 * jansson from a snapshot: the counters and shard states are copied under c->mu, and the
 * document is built and serialized after letting go of it, so a reader of status.json waits
 * behind no one and no one waits behind it. Keys keep their names, types and order (readers:
 * the Python helpers in tests/lib, the integration scripts,
 * mount-scripts/example_train.py and the bench scripts). */
#include "cache/cache_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/utf8.h"
#include "source/fetch.h"

/* ---- building values -------------------------------------------------------------------- */

/* A JSON string of s. jansson takes only valid UTF-8, and a path, a URL or a message cut to its
 * buffer may not be: invalid bytes become U+FFFD (the document used to carry them raw, which no
 * JSON parser accepts). */
static json_t *text_value(const char *s)
{
    size_t n = strlen(s);
    if (tokfs_utf8_valid((const uint8_t *)s, n))
        return json_stringn(s, n);
    uint8_t *fixed = malloc(TOKFS_UTF8_OUT_MAX(n));
    if (!fixed)
        return NULL;
    tokfs_utf8_state st = {{0}, 0};
    size_t m = tokfs_utf8_repair(&st, (const uint8_t *)s, n, fixed, 1);
    json_t *v = json_stringn((const char *)fixed, m);
    free(fixed);
    return v;
}

/* jansson's integers are signed 64-bit. A value above INT64_MAX (a shuffle_seed or cache_size
 * that large) is stored as its two's complement and written back unsigned by fix_u64 after
 * dumping, so the document keeps the exact number. */
static json_t *u64_value(uint64_t v) { return json_integer((json_int_t)v); }

/* Collects the first failure of a document's many small allocations. */
typedef struct doc {
    json_t *root;
    int failed;
} doc;

static void put(doc *d, json_t *obj, const char *key, json_t *value)
{
    if (json_object_set_new(obj, key, value) != 0) /* also when value is NULL */
        d->failed = 1;
}

static void append(doc *d, json_t *array, json_t *value)
{
    if (json_array_append_new(array, value) != 0)
        d->failed = 1;
}

/* A top-level u64 written by u64_value: rewrite its number in text unsigned. The key is found as
 * "\n  \"KEY\": ", which only a top-level key can produce (a string never holds a raw newline).
 * 0, or -1 when out of memory. */
static int fix_u64(char **text, size_t *len, const char *key, uint64_t v)
{
    if (v <= INT64_MAX)
        return 0;
    char needle[96], digits[24];
    snprintf(needle, sizeof needle, "\n  \"%s\": ", key);
    char *at = strstr(*text, needle);
    if (!at)
        return 0;
    size_t start = (size_t)(at - *text) + strlen(needle), end = start;
    while ((*text)[end] == '-' || ((*text)[end] >= '0' && (*text)[end] <= '9'))
        end++;
    size_t ndigits = (size_t)snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t new_len = *len - (end - start) + ndigits;
    char *grown = realloc(*text, new_len + 1);
    if (!grown)
        return -1;
    memmove(grown + start + ndigits, grown + end, *len - end + 1);
    memcpy(grown + start, digits, ndigits);
    *text = grown;
    *len = new_len;
    return 0;
}

/* Serialize with two-space indents and a final newline; NULL when anything failed. */
static char *finish(doc *d, size_t *len)
{
    char *text = d->failed ? NULL : json_dumps(d->root, JSON_INDENT(2));
    json_decref(d->root);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *grown = realloc(text, n + 2);
    if (!grown) {
        free(text);
        return NULL;
    }
    grown[n] = '\n';
    grown[n + 1] = '\0';
    *len = n + 1;
    return grown;
}

/* ---- dataset_metadata.json -------------------------------------------------------------- */

/* One split's counts, from its shards' token counts (-1 unknown) copied under the lock. */
static json_t *split_counts(doc *d, const int64_t *tokens, uint32_t count)
{
    json_t *split = json_object(), *list = json_array();
    uint64_t known_tokens = 0;
    uint32_t known = 0, empty = 0;
    for (uint32_t k = 0; k < count; k++) {
        if (tokens[k] >= 0) {
            known_tokens += (uint64_t)tokens[k];
            known++;
            empty += tokens[k] == 0;
        }
        append(d, list, tokens[k] >= 0 ? json_integer(tokens[k]) : json_null());
    }
    if (!split) {
        json_decref(list);
        d->failed = 1;
        return NULL;
    }
    put(d, split, "shards", json_integer(count));
    put(d, split, "shards_with_known_size", json_integer(known));
    /* made and found to hold no token: the mount does not list them (cache/known_empty.h) */
    put(d, split, "empty_shards_hidden", json_integer(empty));
    put(d, split, "tokens_known", u64_value(known_tokens));
    put(d, split, "shard_tokens", list);
    return split;
}

char *tokfs_cache_render_metadata(tokfs_cache *c, size_t *len)
{
    const tokfs_config *cfg = c->cfg;
    const tokfs_tokenizer *tok = c->tok;
    uint32_t ntrain = c->exposed_train, nval = c->plan.nval;
    int64_t *tokens = malloc(((size_t)ntrain + nval + 1) * sizeof *tokens);
    if (!tokens)
        return NULL;
    cache_lock(c);
    for (uint32_t k = 0; k < ntrain; k++)
        tokens[k] = c->shards[k].tokens;
    for (uint32_t k = 0; k < nval; k++)
        tokens[ntrain + k] = c->shards[c->plan.ntrain + k].tokens;
    cache_unlock(c);

    char source[1024], fingerprint[24];
    tokfs_url_redact(cfg->source, source, sizeof source);
    snprintf(fingerprint, sizeof fingerprint, "%016" PRIx64, tok->fingerprint);
    doc d = {.root = json_object()};
    json_t *o = d.root, *splits = json_object();
    if (!o || !splits) {
        json_decref(o);
        json_decref(splits);
        free(tokens);
        return NULL;
    }
    const tokfs_layout *l = &c->layout;
    char format[32];
    snprintf(format, sizeof format, "tokfs-%s", tokfs_layout_format_name(l));
    put(&d, o, "format", json_string(format));
    put(&d, o, "version", json_integer(1));
    put(&d, o, "source", text_value(source));
    put(&d, o, "tokenizer", text_value(tok->name));
    put(&d, o, "tokenizer_kind", text_value(tok->kind ? tok->kind : "unknown"));
    put(&d, o, "tokenizer_model", text_value(tok->model ? tok->model : "unknown"));
    put(&d, o, "tokenizer_file", tok->file_name ? text_value(tok->file_name) : json_null());
    put(&d, o, "special_tokens", json_string(cfg->match_special ? "match" : "text"));
    put(&d, o, "pattern", cfg->pattern ? text_value(cfg->pattern) : json_null());
    put(&d, o, "tokenizer_fingerprint", json_string(fingerprint));
    put(&d, o, "vocab_size", json_integer(tok->vocab_size));
    put(&d, o, "eot_id", json_integer(tok->eot_id));
    /* Enough for a loader to configure itself (docs/layouts.md). */
    put(&d, o, "layout", json_string(tokfs_layout_format_name(l)));
    put(&d, o, "dtype", json_string(tokfs_layout_dtype_name(l)));
    put(&d, o, "byte_order", json_string("little"));
    put(&d, o, "header_bytes", json_integer(l->header_bytes));
    put(&d, o, "doc_separator", json_string(tokfs_layout_sep_name(l)));
    put(&d, o, "data_extension", json_string(tokfs_layout_ext(l)));
    put(&d, o, "index_extension",
        l->format == TOKFS_OUT_MEGATRON ? json_string(".idx") : json_null());
    put(&d, o, "shard_size_target", u64_value(cfg->shard_size));
    put(&d, o, "shuffle_seed", cfg->has_shuffle_seed ? u64_value(cfg->shuffle_seed) : json_null());
    put(&d, splits, "train", split_counts(&d, tokens, ntrain));
    put(&d, splits, "val", split_counts(&d, tokens + ntrain, nval));
    put(&d, o, "splits", splits);
    free(tokens);
    char *text = finish(&d, len);
    if (text && (fix_u64(&text, len, "shard_size_target", cfg->shard_size) ||
                 (cfg->has_shuffle_seed &&
                  fix_u64(&text, len, "shuffle_seed", cfg->shuffle_seed)))) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- .tokfs/status.json ----------------------------------------------------------------- */

/* One exposed shard as status.json shows it, copied under the lock. */
typedef struct shard_view {
    uint32_t index;
    int state;
    int ever_cached;
    int last_error;
    int64_t tokens;
    uint64_t bytes;             /* the cache file's exact bytes, when tokens >= 0 */
    uint64_t disk_bytes, fetched_bytes, skipped_records;
} shard_view;

/* The counters, copied under the lock. */
typedef struct cache_view {
    uint64_t used, metadata, hits, misses, early_reads, evictions, builds, failures,
        fetched_bytes, skipped_records, shared_hits, shared_bytes, shared_published;
    char last_failure[TOKFS_ERR_MSG_MAX];
} cache_view;

static const char *state_name(const shard_view *v)
{
    switch (v->state) {
    case SHARD_MATERIALIZING:
        return "materializing";
    case SHARD_CACHED:
        return "cached";
    default:
        return v->ever_cached ? "evicted" : "remote";
    }
}

static json_t *error_value(int last_error)
{
    if (!last_error)
        return json_null();
    return json_string(last_error == -ENOSPC ? "ENOSPC" : "EIO");
}

char *tokfs_cache_render_status(tokfs_cache *c, size_t *len)
{
    uint32_t exposed = c->exposed_train + c->plan.nval;
    shard_view *views = malloc(((size_t)exposed + 1) * sizeof *views);
    if (!views)
        return NULL;
    cache_view cv;
    cache_lock(c);
    cv.used = c->fixed_bytes + c->data_bytes;
    cv.metadata = c->fixed_bytes;
    cv.hits = c->hits;
    cv.misses = c->misses;
    cv.early_reads = c->early_reads;
    cv.shared_hits = c->shared_hits;
    cv.shared_bytes = c->shared_bytes;
    cv.shared_published = c->shared_published;
    cv.evictions = c->evictions;
    cv.builds = c->builds;
    cv.failures = c->failures;
    cv.fetched_bytes = c->fetched_bytes;
    cv.skipped_records = c->skipped_records;
    memcpy(cv.last_failure, c->last_failure, sizeof cv.last_failure);
    for (uint32_t k = 0; k < exposed; k++) {
        uint32_t i = k < c->exposed_train ? k : c->plan.ntrain + (k - c->exposed_train);
        const shard *s = &c->shards[i];
        views[k] = (shard_view){.index = i, .state = s->state, .ever_cached = s->ever_cached,
                                .last_error = s->last_error, .tokens = s->tokens,
                                .bytes = s->tokens >= 0 ? cache_shard_bytes(c, s) : 0,
                                .disk_bytes = s->disk_bytes, .fetched_bytes = s->fetched_bytes,
                                .skipped_records = s->skipped_records};
    }
    cache_unlock(c);

    doc d = {.root = json_object()};
    json_t *o = d.root, *list = json_array();
    if (!o || !list) {
        json_decref(o);
        json_decref(list);
        free(views);
        return NULL;
    }
    put(&d, o, "pid", json_integer(getpid()));
    put(&d, o, "cache_dir", text_value(c->dir));
    put(&d, o, "cache_bytes_used", u64_value(cv.used));
    put(&d, o, "cache_bytes_cap", u64_value(c->cap));
    put(&d, o, "cache_bytes_metadata", u64_value(cv.metadata));
    put(&d, o, "hits", u64_value(cv.hits));
    put(&d, o, "misses", u64_value(cv.misses));
    /* Reads answered from a shard being re-made, before its build ended (chunks.c). */
    put(&d, o, "early_reads", u64_value(cv.early_reads));
    put(&d, o, "evictions", u64_value(cv.evictions));
    put(&d, o, "materializations", u64_value(cv.builds));
    put(&d, o, "failures", u64_value(cv.failures));
    put(&d, o, "bytes_fetched", u64_value(cv.fetched_bytes));
    put(&d, o, "records_skipped", u64_value(cv.skipped_records));
    /* The shared tier (docs/shared.md): shards copied from it, and made here from the sources
     * (fetched and tokenized), of the materializations above. */
    put(&d, o, "shared", c->cfg->shared ? text_value(c->cfg->shared) : json_null());
    put(&d, o, "shared_hits", u64_value(cv.shared_hits));
    put(&d, o, "shared_bytes", u64_value(cv.shared_bytes));
    put(&d, o, "shared_published", u64_value(cv.shared_published));
    put(&d, o, "shards_tokenized", u64_value(cv.builds - cv.shared_hits));
    /* The last failed build's message (it names the shard, and the URL or the sizes). */
    put(&d, o, "last_error", cv.last_failure[0] ? text_value(cv.last_failure) : json_null());
    for (uint32_t k = 0; k < exposed && !d.failed; k++) {
        const shard_view *v = &views[k];
        json_t *s = json_object();
        char name[64];
        tokfs_cache_shard_name(c, v->index, name, sizeof name);
        if (!s) {
            d.failed = 1;
            break;
        }
        put(&d, s, "name", json_string(name));
        put(&d, s, "state", json_string(state_name(v)));
        put(&d, s, "tokens", v->tokens >= 0 ? json_integer(v->tokens) : json_null());
        put(&d, s, "bytes",
            v->tokens >= 0 ? u64_value(v->bytes) : json_null());
        put(&d, s, "disk_bytes", u64_value(v->disk_bytes));
        put(&d, s, "bytes_fetched", u64_value(v->fetched_bytes));
        put(&d, s, "records_skipped", u64_value(v->skipped_records));
        put(&d, s, "error", error_value(v->last_error));
        append(&d, list, s);
    }
    put(&d, o, "shards", list);
    free(views);
    char *text = finish(&d, len);
    if (text && (fix_u64(&text, len, "cache_bytes_used", cv.used) ||
                 fix_u64(&text, len, "cache_bytes_cap", c->cap) ||
                 fix_u64(&text, len, "cache_bytes_metadata", cv.metadata))) {
        free(text);
        return NULL;
    }
    return text;
}
