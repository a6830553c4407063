/* The rank tokenizers' pipeline (tiktoken files, the embedded GPT-2, tekken.json: one
 * pre-tokenizer regex, then byte-level BPE per piece) and the .tiktoken / gpt2 loaders. */
#include "tokenize/tok_bpe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/hash.h"

const uint8_t *tokfs_gpt2_ranks(size_t *len); /* tok_gpt2_data.c */

/* ---- encoding ---------------------------------------------------------------------------- */

#define FLUSH_IDS 8192

typedef struct enc_ctx {
    const tok_bpe *t;
    const tokfs_id_sink *sink;
    tokfs_bpe_cache *cache; /* this thread's, fetched once per text */
    tokfs_ids ids;
} enc_ctx;

static int flush_ids(enc_ctx *c)
{
    if (!c->ids.len)
        return 0;
    int rc = c->sink->put(c->sink->ctx, c->ids.ids, c->ids.len);
    c->ids.len = 0;
    return rc;
}

static int encode_piece(void *ctx, const uint8_t *p, size_t n)
{
    enc_ctx *c = ctx;
    int rc = tokfs_bpe_encode_piece(c->t->bpe, c->cache, p, n, &c->ids);
    if (rc)
        return rc;
    return c->ids.len >= FLUSH_IDS ? flush_ids(c) : 0;
}

static int bpe_encode(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                      const tokfs_id_sink *sink)
{
    const tok_bpe *t = (const tok_bpe *)tok;
    enc_ctx c = {.t = t, .sink = sink, .cache = tokfs_bpe_thread_cache(t->bpe)};
    int rc = 0;
    if (t->has_re)
        rc = tokfs_pretok_split(&t->re, text, len, encode_piece, &c);
    else if (len)
        rc = encode_piece(&c, text, len);
    if (!rc)
        rc = flush_ids(&c);
    tokfs_ids_free(&c.ids);
    return rc;
}

/* Where the pre-tokenizer can cut the text (tokfs_pretok_cut). */
static size_t bpe_cut(const tokfs_tokenizer *tok, const uint8_t *text, size_t len, size_t from)
{
    const tok_bpe *t = (const tok_bpe *)tok;
    return t->has_re ? tokfs_pretok_cut(&t->re, text, len, from) : len;
}

static const uint8_t *bpe_token_bytes(const tokfs_tokenizer *tok, uint32_t id, size_t *len)
{
    const tok_bpe *t = (const tok_bpe *)tok;
    const uint8_t *b = tokfs_bpe_token(t->bpe, id, len);
    if (b)
        return b;
    if (t->eot_text && id == t->base.eot_id) {
        *len = strlen(t->eot_text);
        return (const uint8_t *)t->eot_text;
    }
    return NULL;
}

static void bpe_destroy(tokfs_tokenizer *tok) { tokfs_tok_bpe_free((tok_bpe *)tok); }

static int bpe_file_bytes(const tokfs_tokenizer *tok, tokfs_buf *out)
{
    const tok_bpe *t = (const tok_bpe *)tok;
    if (t->orig_file)
        return tokfs_buf_append(out, t->orig_file, t->orig_len);
    return tokfs_tok_bpe_export_json(t, out);
}

tok_bpe *tokfs_tok_bpe_new(const char *name, const char *kind)
{
    tok_bpe *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->base.name = t->name;
    t->base.kind = kind;
    t->base.model = "bpe-byte-level";
    t->base.text_based = 1;
    t->base.bytes_per_token = 4.0; /* English prose and code average 3.5..4.5 bytes per token */
    t->base.encode = bpe_encode;
    t->base.token_bytes = bpe_token_bytes;
    t->base.cut = bpe_cut;
    t->base.file_name = "tokenizer.json";
    t->base.file_bytes = bpe_file_bytes;
    t->base.destroy = bpe_destroy;
    return t;
}

void tokfs_tok_bpe_free(tok_bpe *t)
{
    if (!t)
        return;
    tokfs_bpe_destroy(t->bpe);
    if (t->has_re)
        tokfs_pretok_free(&t->re);
    free(t->eot_text);
    free(t->orig_file);
    free(t->name);
    free(t);
}

/* ---- files ------------------------------------------------------------------------------- */

int tokfs_read_file(const char *path, size_t max, uint8_t **data, size_t *len, tokfs_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tokfs_err_set(err, errno, "tokenizer=%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return tokfs_err_set(err, EFBIG, "tokenizer=%s: %lld bytes is larger than the %zu a "
                             "tokenizer file may have", path, (long long)st.st_size, max);
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return tokfs_err_set(err, e, "tokenizer=%s: read failed: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

/* ---- .tiktoken ----------------------------------------------------------------------------- */


/* The special tokens of the OpenAI encodings, by file base name. */
typedef struct special_tok {
    const char *text;
    uint32_t id;
} special_tok;

static const special_tok SPECIAL_GPT2[] = {{"<|endoftext|>", 50256}, {NULL, 0}};
static const special_tok SPECIAL_CL100K[] = {
    {"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}, {"<|fim_middle|>", 100259},
    {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276}, {NULL, 0}};
static const special_tok SPECIAL_O200K[] = {
    {"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}, {NULL, 0}};

static const struct {
    const char *base;
    const special_tok *specials;
} OPENAI_FILES[] = {
    {"gpt2", SPECIAL_GPT2},         {"r50k_base", SPECIAL_GPT2},
    {"p50k_base", SPECIAL_GPT2},    {"cl100k_base", SPECIAL_CL100K},
    {"o200k_base", SPECIAL_O200K},
};

static int parse_u32_text(const char *s, uint32_t *out) /* 0 or -EINVAL */
{
    if (!*s)
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || (v = v * 10 + (uint64_t)(*s - '0')) > 0x7fffffffu)
            return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Load "base64 rank" lines into t->bpe. */
static int load_ranks(tok_bpe *t, const char *what, const uint8_t *data, size_t len,
                      tokfs_err *err)
{
    t->bpe = tokfs_bpe_create(TOKFS_BPE_RANKS, len / 8);
    if (!t->bpe)
        return -ENOMEM;
    uint8_t tokbuf[1024];
    size_t line_no = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        line_no++;
        size_t le = e;
        if (le > i && data[le - 1] == '\r')
            le--;
        if (le > i) {
            size_t sp = i;
            while (sp < le && data[sp] != ' ')
                sp++;
            char rank_text[16];
            size_t rlen = le - sp - (sp < le);
            uint32_t rank;
            long n = -1;
            if (sp < le && rlen < sizeof rank_text && sp - i <= 4 * (sizeof tokbuf / 3)) {
                memcpy(rank_text, data + sp + 1, rlen);
                rank_text[rlen] = 0;
                if (parse_u32_text(rank_text, &rank) == 0)
                    n = tokfs_base64_decode(data + i, sp - i, tokbuf);
            }
            if (n <= 0)
                return tokfs_err_set(err, EINVAL,
                                     "tokenizer=%s: line %zu is not \"base64 rank\": give a "
                                     "tiktoken rank file", what, line_no);
            tokfs_err sub;
            int rc = tokfs_bpe_add_token(t->bpe, tokbuf, (size_t)n, rank, &sub);
            if (rc)
                return tokfs_err_set(err, -rc, "tokenizer=%s: line %zu: %s", what, line_no,
                                     sub.msg);
        }
        i = e + 1;
    }
    tokfs_err sub;
    int rc = tokfs_bpe_finish(t->bpe, 1, &sub);
    if (rc)
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", what, sub.msg);
    return 0;
}

static const char *base_name(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    snprintf(buf, cap, "%s", slash ? slash + 1 : path);
    size_t n = strlen(buf);
    if (n > 9 && strcmp(buf + n - 9, ".tiktoken") == 0)
        buf[n - 9] = 0;
    return buf;
}

int tokfs_tok_tiktoken_open(const char *name, const char *pattern, const char *eot,
                            int eot_optional, tokfs_tokenizer **out, tokfs_err *err)
{
    int embedded = strcmp(name, "gpt2") == 0;
    char base[256];
    base_name(name, base, sizeof base);
    const special_tok *specials = NULL;
    for (size_t i = 0; i < sizeof OPENAI_FILES / sizeof OPENAI_FILES[0]; i++)
        if (strcmp(OPENAI_FILES[i].base, base) == 0)
            specials = OPENAI_FILES[i].specials;

    tokfs_pattern kind;
    const char *pattern_name = pattern ? pattern : base;
    if (tokfs_pattern_from_name(pattern_name, &kind)) {
        if (pattern)
            return tokfs_err_set(err, EINVAL, "unknown pattern=%s: give gpt2, cl100k_base, "
                                 "o200k_base or qwen2", pattern);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: the file name does not say which "
                             "pre-tokenizer it needs: add pattern=gpt2, cl100k_base or "
                             "o200k_base", name);
    }

    uint32_t eot_id = 0;
    const char *eot_text = NULL;
    if (eot) {
        if (parse_u32_text(eot, &eot_id)) {
            const special_tok *s = specials;
            while (s && s->text && strcmp(s->text, eot))
                s++;
            if (!s || !s->text)
                return tokfs_err_set(err, EINVAL, "eot=%s: not an id and not a special token of "
                                     "tokenizer=%s: give the end-of-text id as a number", eot,
                                     name);
            eot_id = s->id;
            eot_text = s->text;
        }
    } else if (specials) {
        eot_id = specials[0].id;
        eot_text = specials[0].text;
    } else if (eot_optional) {
        eot_id = TOKFS_NO_EOT;
    } else {
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: no known end-of-text token for this "
                             "file: add eot=ID", name);
    }

    tok_bpe *t = tokfs_tok_bpe_new(name, "tiktoken");
    if (!t)
        return -ENOMEM;
    uint8_t *file = NULL;
    size_t len;
    const uint8_t *data;
    int rc;
    if (embedded) {
        data = tokfs_gpt2_ranks(&len);
    } else {
        if ((rc = tokfs_read_file(name, (size_t)1 << 30, &file, &len, err)))
            goto fail;
        data = file;
    }
    if ((rc = load_ranks(t, name, data, len, err)))
        goto fail;
    tokfs_pretok_init_kind(&t->re, kind);
    t->has_re = 1;

    uint32_t limit = tokfs_bpe_id_limit(t->bpe);
    for (const special_tok *s = specials; s && s->text; s++)
        if (s->id + 1 > limit)
            limit = s->id + 1;
    if (eot_id != TOKFS_NO_EOT && eot_id + 1 > limit)
        limit = eot_id + 1;
    t->base.vocab_size = limit;
    t->base.eot_id = eot_id;
    if (eot_text && !(t->eot_text = strdup(eot_text))) {
        rc = -ENOMEM;
        goto fail;
    }
    uint64_t h = tokfs_hash64(data, len, 0x7469);
    char extra[128];
    int n = snprintf(extra, sizeof extra, "tiktoken pattern=%d eot=%u", (int)kind, eot_id);
    t->base.fingerprint = tokfs_hash64(extra, (size_t)n, h);
    free(file);
    *out = &t->base;
    return 0;
fail:
    free(file);
    tokfs_tok_bpe_free(t);
    return rc;
}
