/* tokenizer=PATH to a Hugging Face tokenizer.json: byte-level BPE only.
 *
 * Supported: model BPE (vocab; merges as "a b" or ["a","b"]; ignore_merges), pre_tokenizer
 * ByteLevel or Sequence of Split(Regex|String, Isolated, invert=false) and ByteLevel stages,
 * normalizer null, added_tokens (special ones are ordinary text, as in tiktoken's
 * encode_ordinary; non-special ones are matched in the text as Hugging Face does). Anything else
 * (Metaspace, byte_fallback, a normalizer, dropout, ...) is refused with a message naming it:
 * tokfs never approximates a tokenizer. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "tokenize/tok_bpe_internal.h"

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 map to U+0100 up,
 * in byte order. unicode_to_byte[cp] = byte + 1 (0: not in the alphabet). */
static void byte_level_alphabet(uint16_t unicode_to_byte[0x144])
{
    memset(unicode_to_byte, 0, 0x144 * sizeof unicode_to_byte[0]);
    unsigned next = 0x100;
    for (unsigned b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unicode_to_byte[printable ? b : next++] = (uint16_t)(b + 1);
    }
}

/* A vocabulary string (UTF-8 in the byte-level alphabet) → raw bytes. -1 if a character is not
 * in the alphabet (such a token can never come out of byte-level BPE). */
static long byte_level_decode(const uint16_t map[0x144], const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        uint32_t cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
            cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1; /* three- and four-byte characters are all outside the alphabet */
        }
        if (cp >= 0x144 || !map[cp])
            return -1;
        out[o++] = (uint8_t)(map[cp] - 1);
    }
    return (long)o;
}

typedef struct hf_load {
    const char *path;
    tok_bpe *t;
    uint16_t map[0x144];
    int has_byte_level;
} hf_load;

static int refuse(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, ENOTSUP, "tokenizer=%s: %s is not supported; tokfs refuses rather "
                         "than approximate it (byte-level BPE tokenizers only)", path, what);
}

static const char *str_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* member is absent, null, false or "" */
static int is_unset(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_string(v) && json_string_length(v) == 0);
}

static int add_stage_byte_level(hf_load *L, json_t *pt, tokfs_err *err)
{
    tok_bpe *t = L->t;
    if (t->nstages == TOK_MAX_STAGES)
        return refuse(err, L->path, "a pre_tokenizer Sequence this long");
    tok_stage *st = &t->stages[t->nstages++];
    st->prefix_space = json_is_true(json_object_get(pt, "add_prefix_space"));
    json_t *use_regex = json_object_get(pt, "use_regex");
    st->has_regex = !use_regex || json_is_true(use_regex); /* default true */
    if (st->has_regex)
        tokfs_pretok_init_kind(&st->re, TOKFS_PATTERN_GPT2);
    L->has_byte_level = 1;
    return 0;
}

static int add_stage_split(hf_load *L, json_t *pt, tokfs_err *err)
{
    tok_bpe *t = L->t;
    const char *behavior = str_member(pt, "behavior");
    if (!behavior || strcmp(behavior, "Isolated") != 0) {
        char what[96];
        snprintf(what, sizeof what, "Split behavior %s", behavior ? behavior : "(missing)");
        return refuse(err, L->path, what);
    }
    if (json_is_true(json_object_get(pt, "invert")))
        return refuse(err, L->path, "Split with invert=true");
    json_t *pat = json_object_get(pt, "pattern");
    const char *regex = str_member(pat, "Regex"), *literal = str_member(pat, "String");
    char *owned = NULL;
    if (!regex && literal) {
        if (strstr(literal, "\\E"))
            return refuse(err, L->path, "a Split String pattern containing \\E");
        size_t n = strlen(literal);
        if (!(owned = malloc(n + 5)))
            return -ENOMEM;
        snprintf(owned, n + 5, "\\Q%s\\E", literal);
        regex = owned;
    }
    if (!regex) {
        free(owned);
        return refuse(err, L->path, "a Split without a Regex or String pattern");
    }
    if (t->nstages == TOK_MAX_STAGES) {
        free(owned);
        return refuse(err, L->path, "a pre_tokenizer Sequence this long");
    }
    tok_stage *st = &t->stages[t->nstages];
    tokfs_err sub;
    int rc = tokfs_pretok_init_regex(&st->re, regex, &sub);
    free(owned);
    if (rc)
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    st->has_regex = 1;
    t->nstages++;
    return 0;
}

static int add_pre_tokenizer(hf_load *L, json_t *pt, int depth, tokfs_err *err)
{
    const char *type = str_member(pt, "type");
    if (!type)
        return refuse(err, L->path, "a pre_tokenizer without a type");
    if (strcmp(type, "ByteLevel") == 0)
        return add_stage_byte_level(L, pt, err);
    if (strcmp(type, "Split") == 0)
        return add_stage_split(L, pt, err);
    if (strcmp(type, "Sequence") == 0 && depth == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        size_t i;
        json_t *item;
        if (!json_is_array(list))
            return refuse(err, L->path, "a pre_tokenizer Sequence without pretokenizers");
        json_array_foreach(list, i, item) {
            int rc = add_pre_tokenizer(L, item, depth + 1, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "pre_tokenizer %s", type);
    return refuse(err, L->path, what);
}

static int load_vocab_and_merges(hf_load *L, json_t *model, tokfs_err *err)
{
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: model has no vocab object or no merges "
                             "array", L->path);
    tok_bpe *t = L->t;
    t->bpe = tokfs_bpe_create(TOKFS_BPE_MERGES, json_object_size(vocab));
    if (!t->bpe)
        return -ENOMEM;
    const char *key;
    json_t *val;
    uint8_t buf[4096];
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > 0x7fffffff)
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: vocab entry \"%.40s\" has no valid "
                                 "id", L->path, key);
        size_t klen = strlen(key);
        if (klen > sizeof buf)
            continue;
        long n = byte_level_decode(L->map, key, klen, buf);
        if (n <= 0)
            continue; /* not in the byte-level alphabet: BPE can never produce it */
        tokfs_err sub;
        int rc = tokfs_bpe_add_token(t->bpe, buf, (size_t)n, (uint32_t)id, &sub);
        if (rc)
            return tokfs_err_set(err, -rc, "tokenizer=%s: vocab: %s", L->path, sub.msg);
    }
    size_t i;
    json_t *m;
    uint8_t lb[2048], rb[2048];
    json_array_foreach(merges, i, m) {
        const char *ls = NULL, *rs = NULL;
        size_t ll = 0, rl = 0;
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                ls = s;
                ll = (size_t)(sp - s);
                rs = sp + 1;
                rl = strlen(rs);
            }
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            ls = json_string_value(json_array_get(m, 0));
            ll = json_string_length(json_array_get(m, 0));
            rs = json_string_value(json_array_get(m, 1));
            rl = json_string_length(json_array_get(m, 1));
        }
        long ln = -1, rn = -1;
        if (ls && ll <= sizeof lb && rl <= sizeof rb) {
            ln = byte_level_decode(L->map, ls, ll, lb);
            rn = byte_level_decode(L->map, rs, rl, rb);
        }
        if (ln <= 0 || rn <= 0)
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: merge #%zu is not two byte-level "
                                 "tokens", L->path, i);
        tokfs_err sub;
        int rc = tokfs_bpe_add_merge(t->bpe, lb, (size_t)ln, rb, (size_t)rn, (uint32_t)i, &sub);
        if (rc)
            return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    }
    return 0;
}

/* added_tokens: non-special ones become matched tokens; the id limit and the eot candidates
 * come from all of them. */
static int load_added(hf_load *L, json_t *root, uint32_t *limit, tokfs_err *err)
{
    json_t *list = json_object_get(root, "added_tokens");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: added_tokens is not an array", L->path);
    tok_bpe *t = L->t;
    size_t i;
    json_t *a;
    t->added = calloc(json_array_size(list) + 1, sizeof *t->added);
    if (!t->added)
        return -ENOMEM;
    json_array_foreach(list, i, a) {
        json_t *idv = json_object_get(a, "id");
        const char *content = str_member(a, "content");
        if (!json_is_integer(idv) || json_integer_value(idv) < 0 ||
            json_integer_value(idv) > 0x7fffffff || !content || !*content)
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: added_tokens[%zu] needs an id and "
                                 "a non-empty content", L->path, i);
        uint32_t id = (uint32_t)json_integer_value(idv);
        if (id + 1 > *limit)
            *limit = id + 1;
        if (json_is_true(json_object_get(a, "special")))
            continue; /* special-token text in documents is ordinary text */
        if (json_is_true(json_object_get(a, "single_word")) ||
            json_is_true(json_object_get(a, "lstrip")) || json_is_true(json_object_get(a, "rstrip"))) {
            char what[160];
            snprintf(what, sizeof what, "added token \"%.60s\" with single_word/lstrip/rstrip",
                     content);
            return refuse(err, L->path, what);
        }
        tok_added *dst = &t->added[t->nadded];
        if (!(dst->text = (uint8_t *)strdup(content)))
            return -ENOMEM;
        dst->len = strlen(content);
        dst->id = id;
        t->added_first[dst->text[0] >> 3] |= (uint8_t)(1u << (dst->text[0] & 7));
        t->nadded++;
    }
    return 0;
}

/* eot=ID, eot=TEXT (an added token or a vocab entry), or the first of the usual names. */
static int resolve_eot(hf_load *L, json_t *root, const char *eot, tokfs_err *err)
{
    tok_bpe *t = L->t;
    json_t *added = json_object_get(root, "added_tokens");
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    if (eot && eot[0] >= '0' && eot[0] <= '9') {
        char *end;
        unsigned long v = strtoul(eot, &end, 10);
        if (*end || v > 0x7fffffff)
            return tokfs_err_set(err, EINVAL, "bad eot=%s: give an id or a token's text", eot);
        t->base.eot_id = (uint32_t)v;
        return 0;
    }
    static const char *const usual[] = {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"};
    size_t ncand = eot ? 1 : sizeof usual / sizeof usual[0];
    for (size_t c = 0; c < ncand; c++) {
        const char *want = eot ? eot : usual[c];
        size_t i;
        json_t *a;
        json_array_foreach(added, i, a) {
            const char *content = str_member(a, "content");
            if (content && strcmp(content, want) == 0) {
                t->base.eot_id = (uint32_t)json_integer_value(json_object_get(a, "id"));
                return (t->eot_text = strdup(want)) ? 0 : -ENOMEM;
            }
        }
        json_t *v = json_object_get(vocab, want);
        if (json_is_integer(v)) {
            t->base.eot_id = (uint32_t)json_integer_value(v);
            return (t->eot_text = strdup(want)) ? 0 : -ENOMEM;
        }
    }
    if (eot)
        return tokfs_err_set(err, EINVAL, "eot=%s: no such token in tokenizer=%s: give its id or "
                             "its exact text", eot, L->path);
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: no <|endoftext|>, <|end_of_text|>, </s> or "
                         "<eos> token: add eot=ID or eot=TOKEN", L->path);
}

int tokfs_tok_hf_open(const char *path, const char *pattern, const char *eot,
                      tokfs_tokenizer **out, tokfs_err *err)
{
    if (pattern)
        return tokfs_err_set(err, EINVAL, "pattern=%s: a tokenizer.json has its own "
                             "pre-tokenizer; pattern= is for .tiktoken files", pattern);
    uint8_t *data;
    size_t len;
    int rc = tokfs_read_file(path, (size_t)1 << 30, &data, &len, err);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    uint64_t file_hash = tokfs_hash64(data, len, 0x6866);
    free(data);
    if (!root)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: not valid JSON (line %d: %s): give a "
                             "tokenizer.json, a .tiktoken file, gpt2 or bytes", path, jerr.line,
                             jerr.text);
    hf_load L = {.path = path};
    byte_level_alphabet(L.map);
    if (!(L.t = tokfs_tok_bpe_new(path, "huggingface"))) {
        json_decref(root);
        return -ENOMEM;
    }
    json_t *model = json_object_get(root, "model");
    const char *type = str_member(model, "type");
    json_t *norm = json_object_get(root, "normalizer");
    json_t *pt = json_object_get(root, "pre_tokenizer");
    char what[128];
    if (!json_is_object(model)) {
        rc = tokfs_err_set(err, EINVAL, "tokenizer=%s: no model: is this a tokenizer.json?", path);
    } else if (type && strcmp(type, "BPE") != 0) {
        snprintf(what, sizeof what, "model type %s", type);
        rc = refuse(err, path, what);
    } else if (!is_unset(model, "dropout")) {
        rc = refuse(err, path, "BPE dropout");
    } else if (!is_unset(model, "byte_fallback")) {
        rc = refuse(err, path, "byte_fallback");
    } else if (!is_unset(model, "continuing_subword_prefix")) {
        rc = refuse(err, path, "continuing_subword_prefix");
    } else if (!is_unset(model, "end_of_word_suffix")) {
        rc = refuse(err, path, "end_of_word_suffix");
    } else if (norm && !json_is_null(norm)) {
        snprintf(what, sizeof what, "normalizer %s",
                 str_member(norm, "type") ? str_member(norm, "type") : "(untyped)");
        rc = refuse(err, path, what);
    } else if (!json_is_object(pt)) {
        rc = refuse(err, path, "a tokenizer without a pre_tokenizer");
    } else if (!(rc = add_pre_tokenizer(&L, pt, 0, err)) && !L.has_byte_level) {
        rc = refuse(err, path, "a pre_tokenizer without ByteLevel");
    }
    uint32_t limit = 0;
    if (!rc)
        rc = load_vocab_and_merges(&L, model, err);
    if (!rc) {
        tokfs_err sub;
        rc = tokfs_bpe_finish(L.t->bpe, json_is_true(json_object_get(model, "ignore_merges")),
                              &sub);
        if (rc)
            rc = tokfs_err_set(err, -rc, "tokenizer=%s: %s", path, sub.msg);
    }
    if (!rc) {
        limit = tokfs_bpe_id_limit(L.t->bpe);
        rc = load_added(&L, root, &limit, err);
    }
    if (!rc)
        rc = resolve_eot(&L, root, eot, err);
    json_decref(root);
    if (rc) {
        tokfs_tok_bpe_free(L.t);
        return rc;
    }
    if (L.t->base.eot_id + 1 > limit)
        limit = L.t->base.eot_id + 1;
    L.t->base.vocab_size = limit;
    char extra[64];
    int n = snprintf(extra, sizeof extra, "hf eot=%u", L.t->base.eot_id);
    L.t->base.fingerprint = tokfs_hash64(extra, (size_t)n, file_hash);
    *out = &L.t->base;
    return 0;
}
