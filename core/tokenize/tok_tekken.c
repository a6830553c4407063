/* tokenizer=PATH to a Mistral tekken.json (mistral-common's Tekkenizer): a tiktoken BPE whose
 * ranks are listed in the file, shifted above the special tokens.
 *
 * What mistral-common does, and so what this loader does:
 *   - config.default_vocab_size ids in all; the first config.default_num_special_tokens are the
 *     special tokens (special_tokens[] by rank, the rest filled with "<SPECIAL_i>"; a file
 *     without special_tokens, allowed up to version v7, has the fixed v1..v7 list);
 *   - the ordinary vocabulary is vocab[0 .. default_vocab_size - num_special), each entry's rank
 *     its index, the first 256 the single bytes; a longer vocab list is cut there;
 *   - text is split with config.pattern and merged by tiktoken's rule (whole piece first, then
 *     lowest rank), and each rank becomes id rank + num_special. Special tokens are never
 *     produced from text (Tekkenizer.encode passes no special tokens to tiktoken).
 * Adding num_special to every rank keeps their order, so the shared rank engine merges exactly as
 * on the raw ranks: the tokens are stored under their final ids. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/hash.h"
#include "tokenize/tok_bpe_internal.h"
#include "tokenize/tok_spm_internal.h"

/* mistral-common's DEPRECATED_SPECIAL_TOKENS: the special tokens of a file that lists none. */
static const char *const LEGACY_SPECIALS[] = {
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
    "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
};
#define NLEGACY (sizeof LEGACY_SPECIALS / sizeof LEGACY_SPECIALS[0])

static int bad_file(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: %s: give a Mistral tekken.json", path, what);
}

/* config integer member that must be >= 0. -1 when missing or not so. */
static long long config_int(json_t *config, const char *key)
{
    json_t *v = json_object_get(config, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v)
                                                            : -1;
}

/* The id of special token text, or -1. specials: json array (may be NULL) of {rank,token_str}. */
static long long special_id(json_t *specials, long long nspecial, const char *text)
{
    if (specials) {
        size_t i;
        json_t *s;
        json_array_foreach(specials, i, s) {
            json_t *str = json_object_get(s, "token_str");
            if (json_is_string(str) && strcmp(json_string_value(str), text) == 0)
                return (long long)json_integer_value(json_object_get(s, "rank"));
        }
    } else {
        for (size_t i = 0; i < NLEGACY; i++)
            if (strcmp(LEGACY_SPECIALS[i], text) == 0)
                return (long long)i;
    }
    /* the "<SPECIAL_i>" fillers after the listed ones */
    size_t listed = specials ? json_array_size(specials) : NLEGACY;
    unsigned long long n;
    char tail;
    if (sscanf(text, "<SPECIAL_%llu>%c", &n, &tail) == 1 && n >= listed &&
        (long long)n < nspecial) {
        char again[48];
        snprintf(again, sizeof again, "<SPECIAL_%llu>", n);
        if (strcmp(again, text) == 0)
            return (long long)n;
    }
    return -1;
}

/* Check the special_tokens list as mistral-common does (unique texts, no more than
 * num_special) and, beyond it, that every rank is a special id. */
static int check_specials(const char *path, json_t *specials, long long nspecial, tokfs_err *err)
{
    size_t n = json_array_size(specials);
    if ((long long)n > nspecial)
        return bad_file(err, path, "more special_tokens than config.default_num_special_tokens");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(specials, i);
        json_t *str = json_object_get(s, "token_str");
        json_t *rank = json_object_get(s, "rank");
        if (!json_is_string(str) || !json_is_integer(rank) || json_integer_value(rank) < 0 ||
            json_integer_value(rank) >= nspecial)
            return bad_file(err, path, "a special token without a string token_str and a rank "
                            "below default_num_special_tokens");
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(specials, k),
                                                         "token_str")),
                       json_string_value(str)) == 0)
                return bad_file(err, path, "two special tokens with the same token_str");
    }
    return 0;
}

static int load_vocab(tok_bpe *t, const char *path, json_t *vocab, long long inner,
                      uint32_t offset, tokfs_err *err)
{
    t->bpe = tokfs_bpe_create(TOKFS_BPE_RANKS, (size_t)inner);
    if (!t->bpe)
        return -ENOMEM;
    uint8_t tokbuf[1024];
    char what[128];
    for (long long i = 0; i < inner; i++) {
        json_t *e = json_array_get(vocab, (size_t)i);
        json_t *rank = json_object_get(e, "rank");
        json_t *b64 = json_object_get(e, "token_bytes");
        if (!json_is_integer(rank) || json_integer_value(rank) != i) {
            snprintf(what, sizeof what, "vocab[%lld] does not have rank %lld", i, i);
            return bad_file(err, path, what);
        }
        size_t blen = json_is_string(b64) ? json_string_length(b64) : 0;
        long n = blen && blen <= 4 * (sizeof tokbuf / 3)
                     ? tokfs_base64_decode((const uint8_t *)json_string_value(b64), blen, tokbuf)
                     : -1;
        if (n <= 0) {
            snprintf(what, sizeof what, "vocab[%lld].token_bytes is not base64 of 1 to %zu bytes",
                     i, sizeof tokbuf);
            return bad_file(err, path, what);
        }
        if (i < 256 && (n != 1 || tokbuf[0] != i)) {
            snprintf(what, sizeof what, "vocab[%lld] is not the single byte 0x%02llX (the first "
                     "256 ranks must be the bytes)", i, i);
            return bad_file(err, path, what);
        }
        tokfs_err sub;
        int rc = tokfs_bpe_add_token(t->bpe, tokbuf, (size_t)n, (uint32_t)(i + offset), &sub);
        if (rc)
            return tokfs_err_set(err, -rc, "tokenizer=%s: vocab[%lld]: %s", path, i, sub.msg);
    }
    tokfs_err sub;
    int rc = tokfs_bpe_finish(t->bpe, 1, &sub);
    if (rc)
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", path, sub.msg);
    return 0;
}

/* eot=ID, eot=TEXT (a special token), or "</s>". */
static int resolve_eot(tok_bpe *t, const char *path, json_t *specials, long long nspecial,
                       const char *eot, tokfs_err *err)
{
    if (eot && eot[0] >= '0' && eot[0] <= '9') {
        char *end;
        unsigned long v = strtoul(eot, &end, 10);
        if (*end || v > 0x7fffffffu)
            return tokfs_err_set(err, EINVAL, "bad eot=%s: give an id or a special token's text",
                                 eot);
        t->base.eot_id = (uint32_t)v;
        if ((long long)v < nspecial) { /* keep its text for decoding */
            char name[48];
            const char *text = NULL;
            json_t *s;
            size_t i;
            if (specials) {
                json_array_foreach(specials, i, s) {
                    if (json_integer_value(json_object_get(s, "rank")) == (json_int_t)v)
                        text = json_string_value(json_object_get(s, "token_str"));
                }
            } else if (v < NLEGACY) {
                text = LEGACY_SPECIALS[v];
            }
            if (!text && v >= (specials ? json_array_size(specials) : NLEGACY)) {
                snprintf(name, sizeof name, "<SPECIAL_%lu>", v);
                text = name;
            }
            if (text && !(t->eot_text = strdup(text)))
                return -ENOMEM;
        }
        return 0;
    }
    const char *want = eot ? eot : "</s>";
    long long id = special_id(specials, nspecial, want);
    if (id < 0) {
        if (eot)
            return tokfs_err_set(err, EINVAL, "eot=%s: not a special token of tokenizer=%s: give "
                                 "its id or its exact text", eot, path);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: no </s> special token: add eot=ID or "
                             "eot=TOKEN", path);
    }
    t->base.eot_id = (uint32_t)id;
    return (t->eot_text = strdup(want)) ? 0 : -ENOMEM;
}

int tokfs_tok_tekken_open(const char *path, const char *pattern, const char *eot,
                          tokfs_tokenizer **out, tokfs_err *err)
{
    if (pattern)
        return tokfs_err_set(err, EINVAL, "pattern=%s: a tekken.json has its own pattern; "
                             "pattern= is for .tiktoken files", pattern);
    uint8_t *data;
    size_t len;
    int rc = tokfs_read_file(path, (size_t)1 << 30, &data, &len, err);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr); /* "token_str": "\u0000" */
    uint64_t file_hash = tokfs_hash64(data, len, 0x746b);
    if (!root) {
        free(data);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: not valid JSON (line %d: %s): give a "
                             "Mistral tekken.json", path, jerr.line, jerr.text);
    }
    tok_bpe *t = tokfs_tok_bpe_new(path, "tekken");
    if (!t) {
        free(data);
        json_decref(root);
        return -ENOMEM;
    }
    t->orig_file = data; /* served at the mount root as it is */
    t->orig_len = len;
    t->base.file_name = "tekken.json";
    json_t *config = json_object_get(root, "config");
    json_t *vocab = json_object_get(root, "vocab");
    json_t *specials = json_object_get(root, "special_tokens");
    const char *version = json_string_value(json_object_get(config, "version"));
    const char *regex = json_string_value(json_object_get(config, "pattern"));
    long long vocab_size = config_int(config, "default_vocab_size");
    long long nspecial = config_int(config, "default_num_special_tokens");
    long long inner = vocab_size - nspecial;
    unsigned long version_num = 0;
    char *vend = NULL;
    if (version && version[0] == 'v' && version[1] >= '0' && version[1] <= '9')
        version_num = strtoul(version + 1, &vend, 10);
    if (specials && json_is_null(specials))
        specials = NULL;
    if (!json_is_object(config) || !json_is_array(vocab)) {
        rc = bad_file(err, path, "no config object or no vocab list");
    } else if (!vend || *vend) {
        rc = bad_file(err, path, "config.version is not a version such as \"v7\"");
    } else if (!regex) {
        rc = bad_file(err, path, "no config.pattern");
    } else if (vocab_size < 0 || nspecial < 0 || vocab_size > 0x7fffffff) {
        rc = bad_file(err, path, "config.default_vocab_size or default_num_special_tokens "
                      "missing or out of range");
    } else if (inner < 256 || (long long)json_array_size(vocab) < inner) {
        rc = bad_file(err, path, "config.default_vocab_size leaves fewer ordinary tokens than "
                      "the 256 bytes, or more than the vocab list has");
    } else if (specials && !json_is_array(specials)) {
        rc = bad_file(err, path, "special_tokens is not a list");
    } else if (!specials && version_num > 7) {
        rc = bad_file(err, path, "a tokenizer version after v7 must list its special_tokens");
    } else if (!specials && nspecial < (long long)NLEGACY) {
        rc = bad_file(err, path, "fewer special tokens than the 20 of a file without "
                      "special_tokens");
    } else if (!(rc = specials ? check_specials(path, specials, nspecial, err) : 0)) {
        rc = load_vocab(t, path, vocab, inner, (uint32_t)nspecial, err);
    }
    if (!rc) {
        tokfs_err sub;
        t->has_re = 1;
        if ((rc = tokfs_pretok_init_regex(&t->re, regex, &sub))) {
            t->has_re = 0;
            rc = tokfs_err_set(err, -rc, "tokenizer=%s: config.pattern: %s", path, sub.msg);
        }
    }
    if (!rc)
        rc = resolve_eot(t, path, specials, nspecial, eot, err);
    json_decref(root);
    if (rc) {
        tokfs_tok_bpe_free(t);
        return rc;
    }
    uint32_t limit = (uint32_t)vocab_size;
    if (t->base.eot_id + 1 > limit)
        limit = t->base.eot_id + 1;
    t->base.vocab_size = limit;
    char extra[64];
    int n = snprintf(extra, sizeof extra, "tekken eot=%u", t->base.eot_id);
    t->base.fingerprint = tokfs_hash64(extra, (size_t)n, file_hash);
    *out = &t->base;
    return 0;
}
