/* A Hugging Face tokenizer.json for a tiktoken-rank tokenizer (gpt2, .tiktoken): served at the
 * mount root so that a trainer can load the tokenizer its shards were made with.
 *
 * The file gives the same ids as tiktoken (tests/tokref/make_tokenizer_json.js checks the same
 * construction against the references): vocabulary keys are token bytes through GPT-2's
 * bytes_to_unicode, ids are ranks; pre-tokenizer Split(pattern, Isolated) then
 * ByteLevel(use_regex=false); BPE with ignore_merges (tiktoken encodes a piece that is a token
 * as that token); merges: every split of a token into two tokens, ordered by the merged token's
 * rank, then the left part's rank; the end-of-text token as a special added token. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_bpe_internal.h"

/* bytes_to_unicode: the character standing for each byte, as UTF-8 (at most 2 bytes). */
static void byte_chars(uint8_t chars[256][2], uint8_t lens[256])
{
    unsigned next = 0x100;
    for (unsigned b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? b : next++;
        if (cp < 0x80) {
            chars[b][0] = (uint8_t)cp;
            lens[b] = 1;
        } else {
            chars[b][0] = (uint8_t)(0xC0 | (cp >> 6));
            chars[b][1] = (uint8_t)(0x80 | (cp & 0x3F));
            lens[b] = 2;
        }
    }
}

typedef struct exp_ctx {
    uint8_t chars[256][2];
    uint8_t lens[256];
    char *buf;
    size_t cap;
} exp_ctx;

/* Token bytes → a NUL-terminated byte-level string in x->buf (NULL on ENOMEM). */
static const char *level_string(exp_ctx *x, const uint8_t *b, size_t n)
{
    if (2 * n + 1 > x->cap) {
        char *grown = realloc(x->buf, 2 * n + 1);
        if (!grown)
            return NULL;
        x->buf = grown;
        x->cap = 2 * n + 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(x->buf + o, x->chars[b[i]], x->lens[b[i]]);
        o += x->lens[b[i]];
    }
    x->buf[o] = 0;
    return x->buf;
}

typedef struct merge_rec {
    uint32_t rank, left, right;
} merge_rec;

static int merge_cmp(const void *a, const void *b)
{
    const merge_rec *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->left < y->left ? -1 : x->left > y->left;
}

static json_t *obj(json_t *o, const char *k, json_t *v)
{
    if (o && v)
        json_object_set_new(o, k, v);
    else
        json_decref(v);
    return o;
}

int tokfs_tok_bpe_export_json(const tok_bpe *t, tokfs_buf *out)
{
    exp_ctx x = {0};
    byte_chars(x.chars, x.lens);
    const tokfs_bpe *b = t->bpe;
    uint32_t limit = tokfs_bpe_id_limit(b);
    int rc = -ENOMEM;
    merge_rec *merges = NULL;
    size_t nm = 0, cm = 0;
    json_t *root = json_object(), *vocab = json_object(), *mlist = json_array();
    char *text = NULL;
    if (!root || !vocab || !mlist)
        goto done;
    for (uint32_t id = 0; id < limit; id++) {
        size_t n;
        const uint8_t *tb = tokfs_bpe_token(b, id, &n);
        if (!tb)
            continue;
        const char *s = level_string(&x, tb, n);
        if (!s || json_object_set_new(vocab, s, json_integer(id)))
            goto done;
        for (size_t k = 1; k < n; k++) {
            int64_t l = tokfs_bpe_lookup(b, tb, k), r = tokfs_bpe_lookup(b, tb + k, n - k);
            if (l < 0 || r < 0)
                continue;
            if (nm == cm) {
                size_t nc = cm ? cm * 2 : 1 << 16;
                merge_rec *grown = realloc(merges, nc * sizeof *grown);
                if (!grown)
                    goto done;
                merges = grown;
                cm = nc;
            }
            merges[nm++] = (merge_rec){id, (uint32_t)l, (uint32_t)r};
        }
    }
    qsort(merges, nm, sizeof *merges, merge_cmp);
    for (size_t i = 0; i < nm; i++) {
        size_t ln, rn;
        const uint8_t *lb = tokfs_bpe_token(b, merges[i].left, &ln);
        const uint8_t *rb = tokfs_bpe_token(b, merges[i].right, &rn);
        const char *ls = level_string(&x, lb, ln);
        if (!ls)
            goto done;
        json_t *pair = json_array();
        json_array_append_new(pair, json_string(ls));
        const char *rs = level_string(&x, rb, rn);
        if (!rs || !pair)
            goto done;
        json_array_append_new(pair, json_string(rs));
        if (json_array_append_new(mlist, pair))
            goto done;
    }
    json_t *added = json_array();
    if (t->eot_text && t->base.eot_id != TOKFS_NO_EOT) {
        json_t *a = json_object();
        obj(a, "id", json_integer(t->base.eot_id));
        obj(a, "content", json_string(t->eot_text));
        obj(a, "single_word", json_false());
        obj(a, "lstrip", json_false());
        obj(a, "rstrip", json_false());
        obj(a, "normalized", json_false());
        obj(a, "special", json_true());
        json_array_append_new(added, a);
    }
    json_t *pre = json_object(), *seq = json_array(), *split = json_object(),
           *pat = json_object(), *bl = json_object();
    obj(pat, "Regex", json_string(tokfs_pattern_regex(t->re.kind)));
    obj(split, "type", json_string("Split"));
    obj(split, "pattern", pat);
    obj(split, "behavior", json_string("Isolated"));
    obj(split, "invert", json_false());
    obj(bl, "type", json_string("ByteLevel"));
    obj(bl, "add_prefix_space", json_false());
    obj(bl, "trim_offsets", json_true());
    obj(bl, "use_regex", json_false());
    json_array_append_new(seq, split);
    json_array_append_new(seq, bl);
    obj(pre, "type", json_string("Sequence"));
    obj(pre, "pretokenizers", seq);
    json_t *dec = json_object();
    obj(dec, "type", json_string("ByteLevel"));
    obj(dec, "add_prefix_space", json_true());
    obj(dec, "trim_offsets", json_true());
    obj(dec, "use_regex", json_true());
    json_t *model = json_object();
    obj(model, "type", json_string("BPE"));
    obj(model, "dropout", json_null());
    obj(model, "unk_token", json_null());
    obj(model, "continuing_subword_prefix", json_null());
    obj(model, "end_of_word_suffix", json_null());
    obj(model, "fuse_unk", json_false());
    obj(model, "byte_fallback", json_false());
    obj(model, "ignore_merges", json_true());
    obj(model, "vocab", vocab);
    obj(model, "merges", mlist);
    vocab = mlist = NULL;
    obj(root, "version", json_string("1.0"));
    obj(root, "truncation", json_null());
    obj(root, "padding", json_null());
    obj(root, "added_tokens", added);
    obj(root, "normalizer", json_null());
    obj(root, "pre_tokenizer", pre);
    obj(root, "post_processor", json_null());
    obj(root, "decoder", dec);
    obj(root, "model", model);
    if (!(text = json_dumps(root, JSON_COMPACT)))
        goto done;
    rc = tokfs_buf_append(out, text, strlen(text));
done:
    free(text);
    json_decref(root);
    json_decref(vocab);
    json_decref(mlist);
    free(merges);
    free(x.buf);
    return rc;
}
