/* tokenizer=PATH to a Hugging Face tokenizer.json: the whole pipeline, as Hugging Face
 * tokenizers runs it (tokenizer/mod.rs encode_single_sequence, added_vocabulary.rs):
 *
 *   text ─ added tokens with normalized=false, matched on the raw text
 *        └ each text segment ─ normalizer (tokenize/normalize.c)
 *                            └ added tokens with normalized=true, matched on the normalized text
 *                              └ each part ─ pre-tokenizer (tokenize/pretok_hf.c)
 *                                          └ each piece ─ model: BPE (byte-level or over
 *                                            characters with byte fallback, tokenize/bpe.c),
 *                                            Unigram (unigram.c) or WordPiece (wordpiece.c)
 *
 * Ids only: offsets, truncation, padding and the post-processor (BOS/EOS templates) do not
 * apply — a shard holds each document's ids followed by the end-of-text id. Special added tokens
 * are ordinary text unless special_tokens=match (see tokenizer.h); that is Hugging Face's own
 * encode_special_tokens=true, so the same matches are made and then skipped.
 * Whatever the file uses that tokfs does not implement is refused at open, naming it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/log.h"
#include "tokenize/bpe_internal.h"
#include "tokenize/hf_scan_internal.h"
#include "tokenize/normalize_internal.h"
#include "tokenize/pretok_hf_internal.h"
#include "tokenize/tok_bpe_internal.h"
#include "tokenize/unicode_internal.h"
#include "tokenize/unigram_internal.h"
#include "tokenize/wordpiece_internal.h"

/* ---- the tokenizer ----------------------------------------------------------------------- */

/* An added token (added_tokens[] of the file) with the id Hugging Face gives it. */
typedef struct hf_added {
    uint8_t *content; /* as in the file: what a decoder prints */
    size_t content_len;
    uint8_t *match; /* what is looked for: content, or its normalized form (normalized=true) */
    size_t match_len;
    uint32_t id;
    unsigned special : 1, single_word : 1, lstrip : 1, rstrip : 1, normalized : 1;
} hf_added;

/* The added tokens matched at one level (raw or normalized text), found leftmost-longest as the
 * Aho-Corasick automaton Hugging Face builds: a byte trie walked from each position where a token
 * may start (first[] bitmap), remembering the longest token that ends on the way. Gemma-3 has
 * 6406 non-special added tokens, 6322 of them starting with '<': a walk costs one probe per byte
 * of the longest token sharing the text's prefix, not one comparison per token. */
typedef struct hf_trie_slot {
    uint32_t key;   /* parent node << 8 | byte, + 1 (0: empty) */
    uint32_t child; /* node index */
} hf_trie_slot;

typedef struct hf_matcher {
    size_t n;              /* tokens */
    uint8_t first[32];     /* bitmap of first bytes */
    int32_t *node_token;   /* node → index into tok_hf.added ending there, or -1 */
    size_t nodes, nodes_cap;
    hf_trie_slot *slots;   /* (node, byte) → child, open addressing */
    size_t nslots;         /* power of two */
} hf_matcher;

typedef enum hf_model_kind { HF_BPE, HF_UNIGRAM, HF_WORDPIECE } hf_model_kind;

typedef struct tok_hf {
    tokfs_tokenizer base;
    char *path;
    size_t file_len;   /* the tokenizer.json as loaded: its size and hash, to serve it again */
    uint64_t file_hash;
    tokfs_norm *norm; /* NULL: none */
    tokfs_pre *pre;   /* NULL: the whole text is one piece */
    hf_model_kind kind;
    tokfs_bpe *bpe;
    int bpe_chars; /* BPE over characters (not byte-level): long pieces are cut, tokfs_bpe_cut */
    tokfs_unigram *uni;
    tokfs_wordpiece *wp;
    hf_added *added;
    size_t nadded;
    hf_matcher raw, normed; /* normalized=false and normalized=true tokens */
    int match_special;
    int byte_level; /* the vocabulary is written in GPT-2's byte alphabet */
    /* Token texts for decoding, by id: characters models' ▁ as a space and <0xNN> as the byte.
     * Made on the first token_bytes call (only `tokfs decode` asks), from the file read again:
     * a mount never pays for it. dec_lock guards dec_made, dec_rc and the three fields. */
    pthread_mutex_t dec_lock;
    int dec_made, dec_rc;
    uint8_t *dec;
    uint32_t *dec_off; /* dec_limit + 1 offsets into dec */
    uint32_t dec_limit;
} tok_hf;

static int decoder_make(tok_hf *t);

/* ---- added tokens ------------------------------------------------------------------------ */

/* \w as the Rust regex crate (HF's single_word test) has it: letters, marks, numbers,
 * connector punctuation '_' and the joiners. Our class table does not tell Nd from No/Nl; the
 * difference (a single_word token beside a superscript or Roman numeral) is documented. */
static int is_word_cp(uint32_t cp)
{
    if (cp == '_' || cp == 0x200C || cp == 0x200D)
        return 1;
    return (tokfs_uc_class(cp) & (TOKFS_UC_L | TOKFS_UC_M | TOKFS_UC_N)) != 0;
}

/* The code point that ends s[0..n) (n > 0, valid UTF-8). */
static uint32_t last_cp(const uint8_t *s, size_t n)
{
    size_t i = n - 1;
    while (i > 0 && (s[i] & 0xC0) == 0x80)
        i--;
    unsigned l;
    return tokfs_uc_decode(s + i, n - i, &l);
}

static int is_space_at(const uint8_t *s, size_t n, unsigned *len)
{
    uint32_t cp = tokfs_uc_decode(s, n, len);
    return (tokfs_uc_class(cp) & TOKFS_UC_WS) != 0;
}

/* Start of the run of whitespace that ends s[0..n). */
static size_t trailing_space_start(const uint8_t *s, size_t n)
{
    size_t i = n;
    while (i > 0) {
        size_t k = i - 1;
        while (k > 0 && (s[k] & 0xC0) == 0x80)
            k--;
        unsigned l;
        if (!is_space_at(s + k, i - k, &l))
            break;
        i = k;
    }
    return i;
}

/* Length of the run of whitespace that starts s[0..n). */
static size_t leading_space_len(const uint8_t *s, size_t n)
{
    size_t i = 0;
    unsigned l;
    while (i < n && is_space_at(s + i, n - i, &l))
        i += l;
    return i;
}

static inline size_t trie_probe(const hf_matcher *m, uint32_t key)
{
    return (size_t)((key * 0x9E3779B1u) >> 7) & (m->nslots - 1);
}

static uint32_t trie_child(const hf_matcher *m, uint32_t node, uint8_t b)
{
    uint32_t key = ((node << 8) | b) + 1;
    for (size_t i = trie_probe(m, key);; i = (i + 1) & (m->nslots - 1)) {
        if (m->slots[i].key == key)
            return m->slots[i].child;
        if (!m->slots[i].key)
            return 0; /* node 0 is the root: never a child */
    }
}

/* The longest token of m at text[i], or -1. */
static long match_at(const hf_matcher *m, const uint8_t *text, size_t len, size_t i)
{
    long best = -1;
    uint32_t node = 0;
    for (size_t j = i; j < len; j++) {
        if (!(node = trie_child(m, node, text[j])))
            break;
        if (m->node_token[node] >= 0)
            best = m->node_token[node];
    }
    return best;
}

/* Called with the parts of a text in order: a text part (id < 0) or an added token. */
typedef int (*hf_part_fn)(void *ctx, const uint8_t *p, size_t n, int64_t id, size_t offset);

/* Hugging Face's find_matches: leftmost-longest matches, each then kept or dropped (a special
 * token in text mode, a single_word token inside a word) — a dropped match still hides the
 * matches it overlaps, as in the automaton's iteration — and widened by lstrip/rstrip. */
static int split_added(const tok_hf *t, const hf_matcher *m, const uint8_t *text, size_t len,
                       hf_part_fn fn, void *ctx)
{
    size_t done = 0; /* text[0..done) is handed on */
    for (size_t i = 0; m->n && i < len;) {
        long k = m->first[text[i] >> 3] & (1u << (text[i] & 7)) ? match_at(m, text, len, i) : -1;
        if (k < 0) {
            i++;
            continue;
        }
        const hf_added *a = &t->added[k];
        size_t start = i, stop = i + a->match_len;
        i = stop;
        if (a->special && !t->match_special)
            continue;
        if (a->single_word) {
            int start_ok = start == 0 || !is_word_cp(last_cp(text, start));
            unsigned l;
            int stop_ok = stop == len || !is_word_cp(tokfs_uc_decode(text + stop, len - stop, &l));
            if (!start_ok || !stop_ok)
                continue;
        }
        if (a->lstrip) {
            size_t s = trailing_space_start(text, start);
            start = s > done ? s : done;
        }
        if (a->rstrip) {
            stop += leading_space_len(text + stop, len - stop);
            i = stop;
        }
        int rc;
        if (start > done && (rc = fn(ctx, text + done, start - done, -1, done)))
            return rc;
        if ((rc = fn(ctx, text + start, stop - start, a->id, start)))
            return rc;
        done = stop;
    }
    return done < len ? fn(ctx, text + done, len - done, -1, done) : 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

#define FLUSH_IDS 8192
#define CUT_OVER 48 /* character-level BPE: pieces longer than this are cut (tokfs_bpe_cut) */

typedef struct hf_enc {
    const tok_hf *t;
    const tokfs_id_sink *sink;
    tokfs_bpe_cache *cache;
    tokfs_ids ids;
    tokfs_buf norm_out;
    int seg_first; /* the segment being pre-tokenized starts the text (Metaspace "first") */
} hf_enc;

static int flush_ids(hf_enc *c)
{
    if (!c->ids.len)
        return 0;
    int rc = c->sink->put(c->sink->ctx, c->ids.ids, c->ids.len);
    c->ids.len = 0;
    return rc;
}

static int put_id(hf_enc *c, uint32_t id)
{
    int rc = tokfs_ids_reserve(&c->ids, 1);
    if (rc)
        return rc;
    c->ids.ids[c->ids.len++] = id;
    return c->ids.len >= FLUSH_IDS ? flush_ids(c) : 0;
}

static int model_piece(void *ctx, const uint8_t *p, size_t n)
{
    hf_enc *c = ctx;
    const tok_hf *t = c->t;
    int rc = 0;
    switch (t->kind) {
    case HF_BPE:
        if (t->bpe_chars && n > CUT_OVER) {
            /* no token spans a cut, so the parts merge exactly as the whole would */
            for (size_t s = 0; s < n && !rc;) {
                size_t e = tokfs_bpe_cut(t->bpe, p, n, s + 1);
                rc = tokfs_bpe_encode_piece(t->bpe, c->cache, p + s, e - s, &c->ids);
                s = e;
            }
        } else {
            rc = tokfs_bpe_encode_piece(t->bpe, c->cache, p, n, &c->ids);
        }
        break;
    case HF_UNIGRAM:
        rc = tokfs_unigram_encode(t->uni, p, n, &c->ids);
        break;
    case HF_WORDPIECE:
        rc = tokfs_wordpiece_encode(t->wp, p, n, &c->ids);
        break;
    }
    if (rc)
        return rc;
    return c->ids.len >= FLUSH_IDS ? flush_ids(c) : 0;
}

/* A part of normalized text: pre-tokenize it, or an added token matched there. */
static int normalized_part(void *ctx, const uint8_t *p, size_t n, int64_t id, size_t offset)
{
    hf_enc *c = ctx;
    if (id >= 0)
        return put_id(c, (uint32_t)id);
    if (!c->t->pre)
        return model_piece(c, p, n);
    return tokfs_pre_split_at(c->t->pre, p, n, c->seg_first && offset == 0, model_piece, c);
}

/* A part of the raw text: normalize it, or an added token matched there. */
static int raw_part(void *ctx, const uint8_t *p, size_t n, int64_t id, size_t offset)
{
    hf_enc *c = ctx;
    const tok_hf *t = c->t;
    if (id >= 0)
        return put_id(c, (uint32_t)id);
    const uint8_t *np = p;
    size_t nn = n;
    if (t->norm) {
        int rc = tokfs_norm_apply(t->norm, p, n, &c->norm_out, &np, &nn);
        if (rc)
            return rc;
    }
    c->seg_first = offset == 0;
    if (!nn)
        return 0;
    if (t->normed.n)
        return split_added(t, &t->normed, np, nn, normalized_part, c);
    return normalized_part(c, np, nn, -1, 0);
}

static int hf_encode(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                     const tokfs_id_sink *sink)
{
    const tok_hf *t = (const tok_hf *)tok;
    hf_enc c = {.t = t, .sink = sink};
    if (t->kind == HF_BPE)
        c.cache = tokfs_bpe_thread_cache(t->bpe);
    int rc = 0;
    if (len)
        rc = split_added(t, &t->raw, text, len, raw_part, &c);
    if (!rc)
        rc = flush_ids(&c);
    tokfs_ids_free(&c.ids);
    tokfs_buf_free(&c.norm_out);
    return rc;
}

/* A long document may be cut for several threads only where nothing sees across the cut: no
 * normalizer (Prepend would add to the second half), no added tokens that could match there,
 * and the pre-tokenizer (or, with none, the BPE vocabulary) says the place is safe. */
static size_t hf_cut(const tokfs_tokenizer *tok, const uint8_t *text, size_t len, size_t from)
{
    const tok_hf *t = (const tok_hf *)tok;
    if (t->norm || t->raw.n || t->normed.n)
        return len;
    if (t->pre)
        return t->kind == HF_UNIGRAM ? len : tokfs_pre_cut(t->pre, text, len, from);
    if (t->kind == HF_BPE && t->bpe_chars)
        return from < len ? tokfs_bpe_cut(t->bpe, text, len, from ? from : 1) : len;
    return len;
}

static const uint8_t *hf_token_bytes(const tokfs_tokenizer *tok, uint32_t id, size_t *len)
{
    tok_hf *t = (tok_hf *)tok; /* the decoder is made here, once, under its lock */
    pthread_mutex_lock(&t->dec_lock);
    if (!t->dec_made) {
        t->dec_rc = decoder_make(t);
        t->dec_made = 1;
    }
    int rc = t->dec_rc;
    pthread_mutex_unlock(&t->dec_lock);
    if (rc || id >= t->dec_limit || t->dec_off[id] == t->dec_off[id + 1])
        return NULL;
    *len = t->dec_off[id + 1] - t->dec_off[id];
    return t->dec + t->dec_off[id];
}

static int hf_file_bytes(const tokfs_tokenizer *tok, tokfs_buf *out)
{
    const tok_hf *t = (const tok_hf *)tok;
    /* Read again rather than kept: Gemma-3's is 33 MB a mount would hold for a file that is
     * seldom read. A file changed since the load is not the tokenizer the shards were made
     * with: refused, never served. */
    uint8_t *data;
    size_t len;
    tokfs_err err;
    int rc = tokfs_read_file(t->path, (size_t)1 << 30, &data, &len, &err);
    if (rc)
        return rc;
    if (len != t->file_len || tokfs_hash64(data, len, 0x6866) != t->file_hash)
        rc = -EIO;
    else
        rc = tokfs_buf_append(out, data, len);
    free(data);
    return rc;
}

static void hf_free(tok_hf *t)
{
    if (!t)
        return;
    tokfs_norm_free(t->norm);
    tokfs_pre_free(t->pre);
    tokfs_bpe_destroy(t->bpe);
    tokfs_unigram_destroy(t->uni);
    tokfs_wordpiece_destroy(t->wp);
    for (size_t k = 0; k < t->nadded; k++) {
        if (t->added[k].match != t->added[k].content)
            free(t->added[k].match);
        free(t->added[k].content);
    }
    free(t->added);
    free(t->raw.node_token);
    free(t->raw.slots);
    free(t->normed.node_token);
    free(t->normed.slots);
    free(t->dec);
    free(t->dec_off);
    pthread_mutex_destroy(&t->dec_lock);
    free(t->path);
    free(t);
}

static void hf_destroy(tokfs_tokenizer *tok) { hf_free((tok_hf *)tok); }

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct hf_load {
    const char *path;
    tok_hf *t;
    json_t *root, *model; /* borrowed; model.vocab and model.merges are blanked in this tree */
    tokfs_hf_scan scan;   /* model.vocab and model.merges, read from the file's bytes */
    uint32_t *index;      /* vocab string → scan.vocab index + 1 (open addressing), 0: empty;
                           * not built for BPE, whose own table answers (see vocab_id_of) */
    size_t index_mask;
    int bpe_ready;        /* BPE: every vocabulary entry added to t->bpe */
    size_t bpe_skipped;   /* BPE: entries the model could never produce, so not in t->bpe */
    uint16_t map[0x144];          /* byte-level alphabet → byte + 1 */
    int byte_level;
    size_t model_vocab_size; /* entries in the model's vocabulary (HF's get_vocab_size) */
    uint32_t model_id_limit;
    tokfs_bpe *image;     /* BPE tables mapped from an image of this very file (hf_image_try):
                           * the scan was skipped, scan holds only the rest */
    const uint8_t *image_skipped; /* with an image: the entries the BPE could not hold (see
                                   * hf_image_facts), packed; bpe_skipped of them */
    size_t image_skipped_len;
} hf_load;

static int refuse(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, ENOTSUP, "tokenizer=%s: %s is not supported; tokfs refuses rather "
                         "than approximate it", path, what);
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

/* A token string as the model stores it: raw bytes for byte-level, else as written. */
static long model_bytes(hf_load *L, const char *s, size_t n, uint8_t *buf, size_t cap,
                        const uint8_t **out)
{
    if (!L->byte_level) {
        *out = (const uint8_t *)s;
        return (long)n;
    }
    if (n > cap)
        return -1;
    *out = buf;
    return byte_level_decode(L->map, s, n, buf);
}

/* Ids may have gaps, but tokfs's tables are dense by id (the decoder, id → token): an id more
 * than this far past the number of entries is refused rather than allocating gigabytes. */
#define HF_ID_SLACK ((size_t)1 << 20)

/* An entry's id counts toward the model's id range (ids may have gaps). */
static void note_id(hf_load *L, uint32_t id)
{
    if (id + 1 > L->model_id_limit)
        L->model_id_limit = id + 1;
}

static size_t index_slot(const hf_load *L, const uint8_t *s, size_t n)
{
    return (size_t)tokfs_hash64(s, n, 0x766f63) & L->index_mask;
}

/* HF's token_to_id against the model's vocabulary: the entry index, or -1. */
static long vocab_find(const hf_load *L, const uint8_t *s, size_t n)
{
    if (!L->index)
        return -1;
    for (size_t i = index_slot(L, s, n);; i = (i + 1) & L->index_mask) {
        uint32_t e = L->index[i];
        if (!e)
            return -1;
        const tokfs_hf_entry *v = &L->scan.vocab[e - 1];
        if (v->len == n && memcmp(v->s, s, n) == 0)
            return (long)(e - 1);
    }
}

/* The string → entry index. An object vocabulary (BPE, WordPiece) with a string twice is
 * refused (the file was built wrong; which id wins would be a guess); in a Unigram array the
 * last piece wins, as in Hugging Face's token_to_ids (unigram/model.rs: one insert per piece,
 * in order) and in tokfs's Unigram lattice (tokfs_unigram_add). */
static int build_index(hf_load *L, tokfs_err *err)
{
    size_t n = L->scan.nvocab, slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    if (!(L->index = tokfs_table_calloc(slots, sizeof *L->index)))
        return -ENOMEM;
    L->index_mask = slots - 1;
    for (size_t k = 0; k < n; k++) {
        const tokfs_hf_entry *v = &L->scan.vocab[k];
        size_t i = index_slot(L, v->s, v->len);
        int dup = 0;
        for (; L->index[i]; i = (i + 1) & L->index_mask) {
            const tokfs_hf_entry *o = &L->scan.vocab[L->index[i] - 1];
            if (o->len == v->len && memcmp(o->s, v->s, v->len) == 0) {
                dup = 1;
                break;
            }
        }
        if (dup && L->scan.vocab_kind == TOKFS_HF_VOCAB_OBJECT)
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: the vocabulary has \"%.*s\" twice: "
                                 "fix the file", L->path, (int)(v->len > 40 ? 40 : v->len),
                                 (const char *)v->s);
        L->index[i] = (uint32_t)(k + 1);
    }
    return 0;
}

/* Every id within reach of the dense tables (HF_ID_SLACK). */
static int check_ids(hf_load *L, tokfs_err *err)
{
    size_t n = L->scan.nvocab;
    for (size_t k = 0; k < n; k++)
        if ((size_t)L->scan.vocab[k].id >= n + HF_ID_SLACK)
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: vocab id %u is far beyond the "
                                 "vocabulary's %zu entries (tokfs's tables are dense by id): "
                                 "fix the file", L->path, L->scan.vocab[k].id, n);
    return 0;
}

static long byte_level_decode(const uint16_t map[0x144], const char *s, size_t n, uint8_t *out);

/* The id of a vocabulary string given NUL-terminated (unk_token, added tokens, eot names), or
 * -1. A BPE answers from its own table once every entry is in it (Gemma-3's 262k strings need
 * no second index for its few thousand added tokens), unless some entry could not go in (then
 * only the index knows it; with tables from an image, the image's list of those entries);
 * before that (unk_token), one pass over the entries. Unigram and WordPiece use the index. */
static int64_t skipped_find(const hf_load *L, const char *s, size_t n);

static int64_t vocab_id_of(const hf_load *L, const char *s)
{
    size_t n = strlen(s);
    if (L->t->kind == HF_BPE && !L->index) {
        if (L->bpe_ready && (!L->bpe_skipped || L->image_skipped)) {
            uint8_t buf[4096];
            const uint8_t *b = (const uint8_t *)s;
            long nb = (long)n;
            if (L->byte_level) {
                nb = n <= sizeof buf ? byte_level_decode(L->map, s, n, buf) : -1;
                b = buf;
            }
            if (nb > 0)
                return tokfs_bpe_lookup(L->t->bpe, b, (size_t)nb);
            /* not in the BPE's form: only an entry it could not hold can have this string */
            return L->image_skipped ? skipped_find(L, s, n) : -1;
        }
        int64_t id = -1;
        for (size_t k = 0; k < L->scan.nvocab; k++) /* the last one, as the index would */
            if (L->scan.vocab[k].len == n && memcmp(L->scan.vocab[k].s, s, n) == 0)
                id = L->scan.vocab[k].id;
        return id;
    }
    long e = vocab_find(L, (const uint8_t *)s, n);
    return e < 0 ? -1 : (int64_t)L->scan.vocab[e].id;
}

static int load_bpe(hf_load *L, tokfs_err *err)
{
    json_t *model = L->model;
    tok_hf *t = L->t;
    char what[160];
    if (L->scan.vocab_kind != TOKFS_HF_VOCAB_OBJECT || !L->scan.has_merges)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: BPE model has no vocab object or no "
                             "merges array", L->path);
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0.0)
        return refuse(err, L->path, "BPE dropout > 0 (random segmentation)");
    t->kind = HF_BPE;
    if (L->image) { /* the tables this file made before, from its image; the checks above stay */
        if (L->byte_level && (!is_unset(model, "continuing_subword_prefix") ||
                              !is_unset(model, "end_of_word_suffix")))
            return refuse(err, L->path, "a byte-level BPE with continuing_subword_prefix or "
                          "end_of_word_suffix");
        t->bpe = L->image;
        L->image = NULL;
        t->bpe_chars = !L->byte_level;
        L->bpe_ready = 1;
        return 0;
    }
    L->model_vocab_size = L->scan.nvocab;
    t->bpe = tokfs_bpe_create(TOKFS_BPE_MERGES, L->model_vocab_size);
    if (!t->bpe)
        return -ENOMEM;
    tokfs_err sub;
    int rc;
    const char *unk = str_member(model, "unk_token");
    if (L->byte_level) {
        if (!is_unset(model, "continuing_subword_prefix") || !is_unset(model, "end_of_word_suffix"))
            return refuse(err, L->path, "a byte-level BPE with continuing_subword_prefix or "
                          "end_of_word_suffix");
    } else {
        tokfs_bpe_chars opts = {
            .byte_fallback = json_is_true(json_object_get(model, "byte_fallback")),
            .unk_id = -1,
            .fuse_unk = json_is_true(json_object_get(model, "fuse_unk")),
            .prefix = str_member(model, "continuing_subword_prefix"),
            .suffix = str_member(model, "end_of_word_suffix"),
        };
        if (unk) {
            /* HF fails the encode of any text with a character that is not in the vocabulary
             * when its unk_token is not either: refused here rather than a failed shard later */
            opts.unk_id = vocab_id_of(L, unk);
            if (opts.unk_id < 0)
                return tokfs_err_set(err, EINVAL, "tokenizer=%s: unk_token \"%.40s\" is not in "
                                     "the vocabulary: fix the file", L->path, unk);
        }
        if ((rc = tokfs_bpe_set_chars(t->bpe, &opts, &sub)))
            return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
        t->bpe_chars = 1;
    }
    uint8_t buf[4096];
    for (size_t k = 0; k < L->scan.nvocab; k++) {
        const tokfs_hf_entry *v = &L->scan.vocab[k];
        note_id(L, v->id);
        const uint8_t *b;
        long n = model_bytes(L, (const char *)v->s, v->len, buf, sizeof buf, &b);
        if (n <= 0) {
            L->bpe_skipped++; /* not in the byte-level alphabet: BPE can never produce it */
            continue;
        }
        if ((rc = tokfs_bpe_add_token(t->bpe, b, (size_t)n, v->id, &sub)))
            return tokfs_err_set(err, -rc, "tokenizer=%s: vocab: %s", L->path, sub.msg);
    }
    L->bpe_ready = 1;
    /* an entry outside the table can still be an added token's text: the index finds it */
    if (L->bpe_skipped && (rc = build_index(L, err)))
        return rc;
    if (tokfs_bpe_reserve_merges(t->bpe, L->scan.nmerges))
        return -ENOMEM;
    /* The rules in the model's byte form: for a character-level model the scanned strings are
     * that already and go as they are; for byte-level they are decoded in place into one arena
     * sized for all of them up front (decoding never lengthens), so its pointers stay put.
     * tokfs_bpe_add_merges pipelines the lookups. */
    size_t nm = L->scan.nmerges, total = 0;
    tokfs_buf arena = {0};
    for (size_t i = 0; L->byte_level && i < nm; i++)
        total += L->scan.merges[i].llen + L->scan.merges[i].rlen;
    if (L->byte_level && tokfs_buf_reserve(&arena, total + 1))
        return -ENOMEM;
    rc = 0;
    for (size_t i = 0; i < nm && !rc; i++) {
        tokfs_hf_merge *m = &L->scan.merges[i];
        long ln = m->left ? (long)m->llen : -1, rn = m->left ? (long)m->rlen : -1;
        if (m->left && L->byte_level) {
            uint8_t *lp = arena.data + arena.len;
            ln = byte_level_decode(L->map, (const char *)m->left, m->llen, lp);
            arena.len += ln > 0 ? (size_t)ln : 0;
            uint8_t *rp = arena.data + arena.len;
            rn = byte_level_decode(L->map, (const char *)m->right, m->rlen, rp);
            arena.len += rn > 0 ? (size_t)rn : 0;
            *m = (tokfs_hf_merge){lp, rp, (uint32_t)(ln > 0 ? ln : 0), (uint32_t)(rn > 0 ? rn : 0)};
        }
        if (ln <= 0 || rn <= 0) {
            snprintf(what, sizeof what, "merge #%zu is not two %stokens", i,
                     L->byte_level ? "byte-level " : "");
            rc = tokfs_err_set(err, EINVAL, "tokenizer=%s: %s", L->path, what);
        }
    }
    size_t failed = 0;
    if (!rc && (rc = tokfs_bpe_add_merges(t->bpe, L->scan.merges, nm, 0, &failed, &sub)))
        rc = tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    tokfs_buf_free(&arena);
    if (rc)
        return rc;
    if ((rc = tokfs_bpe_finish(t->bpe, json_is_true(json_object_get(model, "ignore_merges")),
                               &sub)))
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    return 0;
}

/* A Unigram score as the reference holds it. Hugging Face reads tokenizer.json with serde_json,
 * whose default number parser (no float_roundtrip) is not correctly rounded: the decimal digits
 * become a u64 significand, converted to double (one rounding above 2^53) and then multiplied or
 * divided by an exact power of ten (a second rounding). jansson's strtod is correctly rounded,
 * so a 17-digit score can differ by one unit in the last place — and Viterbi ties on long texts
 * are decided by that. The file's digits are recovered as the shortest decimal that reads back
 * as v (files are written by serde_json/ryu, which writes exactly that), then read as serde_json
 * reads them. Scores of 16 digits or fewer come out unchanged. */
static double serde_json_f64(double v)
{
    if (v == 0.0 || v != v || v - v != 0.0)
        return v;
    char buf[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    const char *c = buf;
    int negative = *c == '-';
    c += negative;
    uint64_t sig = 0;
    int digits = 0;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') {
            sig = sig * 10 + (uint64_t)(*c - '0');
            digits++;
        }
    int exponent = (*c == 'e' ? atoi(c + 1) : 0) - (digits - 1);
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int ax = exponent < 0 ? -exponent : exponent;
    if (ax >= (int)(sizeof pow10 / sizeof pow10[0]))
        return v; /* beyond these scores' range: strtod's answer */
    double f = (double)sig;
    f = exponent >= 0 ? f * pow10[ax] : f / pow10[ax];
    return negative ? -f : f;
}

static int load_unigram(hf_load *L, tokfs_err *err)
{
    tok_hf *t = L->t;
    json_t *model = L->model;
    if (L->scan.vocab_kind != TOKFS_HF_VOCAB_ARRAY)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: Unigram model has no vocab array",
                             L->path);
    t->kind = HF_UNIGRAM;
    L->model_vocab_size = L->scan.nvocab;
    if (!(t->uni = tokfs_unigram_create(L->model_vocab_size)))
        return -ENOMEM;
    tokfs_err sub;
    int rc;
    for (size_t i = 0; i < L->scan.nvocab; i++) {
        const tokfs_hf_entry *v = &L->scan.vocab[i];
        if ((rc = tokfs_unigram_add(t->uni, v->s, v->len, serde_json_f64(L->scan.scores[i]), v->id,
                                    &sub)))
            return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    }
    L->model_id_limit = (uint32_t)L->model_vocab_size;
    json_t *unk = json_object_get(model, "unk_id");
    int64_t unk_id = json_is_integer(unk) ? json_integer_value(unk) : -1;
    if (unk_id < 0) /* HF fails the encode of any character no piece covers */
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: a Unigram model without unk_id cannot "
                             "encode every text: set unk_id in the file", L->path);
    if (unk_id >= (int64_t)L->model_vocab_size)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: Unigram unk_id %lld is not in the "
                             "vocabulary", L->path, (long long)unk_id);
    if ((rc = tokfs_unigram_finish(t->uni, unk_id,
                                   json_is_true(json_object_get(model, "byte_fallback")), &sub)))
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    return 0;
}

static int load_wordpiece(hf_load *L, tokfs_err *err)
{
    tok_hf *t = L->t;
    json_t *model = L->model;
    if (L->scan.vocab_kind != TOKFS_HF_VOCAB_OBJECT)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: WordPiece model has no vocab object",
                             L->path);
    t->kind = HF_WORDPIECE;
    L->model_vocab_size = L->scan.nvocab;
    if (!(t->wp = tokfs_wordpiece_create(L->model_vocab_size)))
        return -ENOMEM;
    tokfs_err sub;
    int rc;
    for (size_t k = 0; k < L->scan.nvocab; k++) {
        const tokfs_hf_entry *v = &L->scan.vocab[k];
        note_id(L, v->id);
        if ((rc = tokfs_wordpiece_add(t->wp, v->s, v->len, v->id, &sub)))
            return tokfs_err_set(err, -rc, "tokenizer=%s: vocab: %s", L->path, sub.msg);
    }
    const char *unk = str_member(model, "unk_token");
    int64_t unk_id = unk ? vocab_id_of(L, unk) : -1;
    if (unk_id < 0)
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: WordPiece unk_token \"%s\" is not in "
                             "the vocabulary", L->path, unk ? unk : "(missing)");
    const char *prefix = str_member(model, "continuing_subword_prefix");
    json_t *maxc = json_object_get(model, "max_input_chars_per_word");
    size_t max_chars = json_is_integer(maxc) ? (size_t)json_integer_value(maxc) : 100;
    if ((rc = tokfs_wordpiece_finish(t->wp, (uint32_t)unk_id,
                                     prefix ? prefix : "##", max_chars, &sub)))
        return tokfs_err_set(err, -rc, "tokenizer=%s: %s", L->path, sub.msg);
    return 0;
}

static int load_model(hf_load *L, tokfs_err *err)
{
    json_t *model = L->model;
    int rc = L->image ? 0 : check_ids(L, err); /* an image's file passed it when it was made */
    if (rc)
        return rc;
    const char *type = str_member(model, "type");
    if (!type) /* older files: the fields say which model it is */
        type = json_object_get(model, "merges")               ? "BPE"
               : L->scan.vocab_kind == TOKFS_HF_VOCAB_ARRAY ? "Unigram"
               : json_object_get(model, "max_input_chars_per_word") ? "WordPiece"
                                                                   : NULL;
    if (type && strcmp(type, "BPE") == 0)
        return load_bpe(L, err);
    if (type && strcmp(type, "Unigram") == 0)
        return (rc = build_index(L, err)) ? rc : load_unigram(L, err);
    if (type && strcmp(type, "WordPiece") == 0)
        return (rc = build_index(L, err)) ? rc : load_wordpiece(L, err);
    char what[96];
    snprintf(what, sizeof what, "model type %s", type ? type : "(unknown)");
    return refuse(err, L->path, what);
}

/* HF's token_to_id against the model: the vocabulary entry with this exact string. */
static int64_t model_token_id(hf_load *L, const char *content)
{
    return vocab_id_of(L, content);
}

static int trie_add_node(hf_matcher *m)
{
    if (m->nodes == m->nodes_cap) {
        size_t cap = m->nodes_cap ? m->nodes_cap * 2 : 64;
        int32_t *grown = realloc(m->node_token, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        m->node_token = grown;
        m->nodes_cap = cap;
    }
    m->node_token[m->nodes++] = -1;
    return 0;
}

/* Tries hold every byte of every token of their level: sized once for that many children. */
static int matcher_build(tok_hf *t, hf_matcher *m, int normalized)
{
    size_t bytes = 0;
    for (size_t k = 0; k < t->nadded; k++)
        if (t->added[k].normalized == (unsigned)normalized)
            bytes += t->added[k].match_len;
    if (!bytes)
        return 0;
    m->nslots = 64;
    while (m->nslots < 2 * bytes)
        m->nslots *= 2;
    if (!(m->slots = calloc(m->nslots, sizeof *m->slots)) || trie_add_node(m))
        return -ENOMEM;
    size_t nonspecial = 0;
    for (size_t k = 0; k < t->nadded; k++) {
        const hf_added *a = &t->added[k];
        if (a->normalized != (unsigned)normalized || !a->match_len)
            continue;
        uint32_t node = 0;
        for (size_t j = 0; j < a->match_len; j++) {
            uint32_t child = trie_child(m, node, a->match[j]);
            if (!child) {
                if (m->nodes >= 0xFFFFFF || trie_add_node(m))
                    return -ENOMEM;
                child = (uint32_t)(m->nodes - 1);
                uint32_t key = ((node << 8) | a->match[j]) + 1;
                size_t i = trie_probe(m, key);
                while (m->slots[i].key)
                    i = (i + 1) & (m->nslots - 1);
                m->slots[i] = (hf_trie_slot){key, child};
            }
            node = child;
        }
        m->node_token[node] = (int32_t)k; /* the same text twice: the later one (HF's map) */
        m->first[a->match[0] >> 3] |= (uint8_t)(1u << (a->match[0] & 7));
        m->n++;
        nonspecial += !a->special;
    }
    /* Special tokens as text and none other: every match would be dropped, so none is made
     * (the common case — a model's control tokens only — costs nothing per document). */
    if (!t->match_special && !nonspecial)
        m->n = 0;
    return 0;
}

/* added_tokens, numbered as Hugging Face's add_tokens does: a content already added or in the
 * model's vocabulary keeps that id; any other gets the next id from the model's vocabulary size
 * up, whatever the file says. Normalized tokens are matched in their normalized form. */
static int load_added(hf_load *L, tokfs_err *err)
{
    tok_hf *t = L->t;
    json_t *list = json_object_get(L->root, "added_tokens");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: added_tokens is not an array", L->path);
    if (!(t->added = calloc(json_array_size(list) + 1, sizeof *t->added)))
        return -ENOMEM;
    uint32_t next_id = (uint32_t)L->model_vocab_size;
    size_t i;
    json_t *a;
    tokfs_buf scratch = {0};
    json_t *seen = json_object(); /* content → index into t->added */
    int rc = seen ? 0 : -ENOMEM;
    json_array_foreach(list, i, a) {
        if (rc)
            break;
        const char *content = str_member(a, "content");
        if (!content) {
            rc = tokfs_err_set(err, EINVAL, "tokenizer=%s: added_tokens[%zu] has no content",
                               L->path, i);
            break;
        }
        if (!*content)
            continue; /* HF ignores an empty one */
        hf_added tok = {
            .content_len = strlen(content),
            .special = json_is_true(json_object_get(a, "special")),
            .single_word = json_is_true(json_object_get(a, "single_word")),
            .lstrip = json_is_true(json_object_get(a, "lstrip")),
            .rstrip = json_is_true(json_object_get(a, "rstrip")),
        };
        json_t *nv = json_object_get(a, "normalized");
        tok.normalized = nv ? json_is_true(nv) : !tok.special;
        /* token_to_id: an earlier added token with this content, else the model's vocabulary */
        int64_t id = -1;
        size_t same = t->nadded;
        json_t *seen_at = json_object_get(seen, content);
        if (json_is_integer(seen_at)) {
            same = (size_t)json_integer_value(seen_at);
            id = t->added[same].id;
        }
        if (id < 0)
            id = model_token_id(L, content);
        if (id < 0)
            id = next_id++;
        tok.id = (uint32_t)id;
        if (!(tok.content = (uint8_t *)strdup(content))) {
            rc = -ENOMEM;
            break;
        }
        tok.match = tok.content;
        tok.match_len = tok.content_len;
        if (tok.normalized && t->norm) {
            const uint8_t *np;
            size_t nn;
            if ((rc = tokfs_norm_apply(t->norm, tok.content, tok.content_len, &scratch, &np, &nn))) {
                free(tok.content);
                break;
            }
            if (np != tok.content && (nn != tok.content_len || memcmp(np, tok.content, nn))) {
                if (!(tok.match = malloc(nn ? nn : 1))) {
                    free(tok.content);
                    rc = -ENOMEM;
                    break;
                }
                memcpy(tok.match, np, nn);
                tok.match_len = nn;
            }
        }
        if (same < t->nadded) { /* the same content again: the later flags win, as in HF's map */
            hf_added *old = &t->added[same];
            if (old->match != old->content)
                free(old->match);
            free(old->content);
            *old = tok;
        } else {
            if (json_object_set_new(seen, content, json_integer((json_int_t)t->nadded))) {
                free(tok.content);
                if (tok.match != tok.content)
                    free(tok.match);
                rc = -ENOMEM;
                break;
            }
            t->added[t->nadded++] = tok;
        }
    }
    json_decref(seen);
    tokfs_buf_free(&scratch);
    if (rc)
        return rc;
    if ((rc = matcher_build(t, &t->raw, 0)) || (rc = matcher_build(t, &t->normed, 1)))
        return rc;
    (void)err;
    return 0;
}

/* The usual end-of-text names, most specific first. */
static const char *const EOT_NAMES[] = {
    "<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<｜end▁of▁sentence｜>", "<|im_end|>",
    "[SEP]", "<|end|>",
};

static int resolve_eot(hf_load *L, const tokfs_tokenizer_opts *o, tokfs_err *err)
{
    tok_hf *t = L->t;
    const char *eot = o->eot;
    if (eot && eot[0] >= '0' && eot[0] <= '9') {
        char *end;
        unsigned long v = strtoul(eot, &end, 10);
        if (*end || v > 0x7fffffff)
            return tokfs_err_set(err, EINVAL, "bad eot=%s: give an id or a token's text", eot);
        if (v >= L->model_vocab_size + t->nadded + HF_ID_SLACK)
            return tokfs_err_set(err, EINVAL, "eot=%s is far beyond tokenizer=%s's %zu ids: give "
                                 "an id of the vocabulary", eot, L->path,
                                 L->model_vocab_size + t->nadded);
        t->base.eot_id = (uint32_t)v;
        return 0;
    }
    size_t ncand = eot ? 1 : sizeof EOT_NAMES / sizeof EOT_NAMES[0];
    for (size_t c = 0; c < ncand; c++) {
        const char *want = eot ? eot : EOT_NAMES[c];
        size_t wl = strlen(want);
        for (size_t k = 0; k < t->nadded; k++)
            if (t->added[k].content_len == wl && memcmp(t->added[k].content, want, wl) == 0) {
                t->base.eot_id = t->added[k].id;
                return 0;
            }
        int64_t id = model_token_id(L, want);
        if (id >= 0) {
            t->base.eot_id = (uint32_t)id;
            return 0;
        }
    }
    if (eot)
        return tokfs_err_set(err, EINVAL, "eot=%s: no such token in tokenizer=%s: give its id or "
                             "its exact text", eot, L->path);
    if (o->eot_optional) {
        t->base.eot_id = TOKFS_NO_EOT;
        return 0;
    }
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: no <|endoftext|>, <|end_of_text|>, </s>, "
                         "<eos> or other known end-of-text token: add eot=ID or eot=TOKEN", L->path);
}

/* Per-id texts for decoding. */
static int build_decoder(hf_load *L)
{
    tok_hf *t = L->t;
    uint32_t limit = t->base.vocab_size;
    tokfs_buf dec = {0};
    uint32_t *off = calloc((size_t)limit + 1, sizeof *off);
    if (!off)
        return -ENOMEM;
    const uint8_t **src = tokfs_table_calloc(limit ? limit : 1, sizeof *src);
    uint32_t *srclen = tokfs_table_calloc(limit ? limit : 1, sizeof *srclen);
    uint8_t *is_added = NULL; /* id → 1 for an added token (its text is kept as written) */
    int rc = -ENOMEM;
    if (!src || !srclen)
        goto done;
    for (size_t k = 0; k < L->scan.nvocab; k++) {
        const tokfs_hf_entry *v = &L->scan.vocab[k];
        if (v->id < limit) {
            src[v->id] = v->s;
            srclen[v->id] = v->len;
        }
    }
    if (!(is_added = calloc(limit ? limit : 1, 1)))
        goto done;
    for (size_t k = 0; k < t->nadded; k++)
        if (t->added[k].id < limit) {
            src[t->added[k].id] = t->added[k].content;
            srclen[t->added[k].id] = t->added[k].content_len;
            is_added[t->added[k].id] = 1;
        }
    for (uint32_t id = 0; id < limit; id++) {
        off[id] = (uint32_t)dec.len;
        const uint8_t *s = src[id];
        size_t n = srclen[id];
        if (!s)
            continue;
        uint8_t buf[4096];
        if (!is_added[id] && L->byte_level) {
            long b = n <= sizeof buf ? byte_level_decode(L->map, (const char *)s, n, buf) : -1;
            if (b < 0)
                continue;
            rc = tokfs_buf_append(&dec, buf, (size_t)b);
        } else if (!is_added[id] && n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
            /* not sscanf: the text is not NUL-terminated (it points into the file) */
            int hi = tokfs_hex_value(s[3]), lo = tokfs_hex_value(s[4]);
            if (hi >= 0 && lo >= 0) {
                uint8_t byte = (uint8_t)(hi << 4 | lo);
                rc = tokfs_buf_append(&dec, &byte, 1);
            } else {
                rc = tokfs_buf_append(&dec, s, n);
            }
        } else {
            /* U+2581 ▁ → ' ' (not in added tokens); the runs between copied whole */
            rc = 0;
            size_t i = 0;
            while (!rc && i < n) {
                const uint8_t *bar = is_added[id] ? NULL : memmem(s + i, n - i, "\xE2\x96\x81", 3);
                size_t run = bar ? (size_t)(bar - (s + i)) : n - i;
                rc = tokfs_buf_append(&dec, s + i, run);
                i += run;
                if (!rc && bar) {
                    rc = tokfs_buf_append(&dec, " ", 1);
                    i += 3;
                }
            }
        }
        if (rc)
            goto done;
        if (dec.len > UINT32_MAX) {
            rc = -EOVERFLOW;
            goto done;
        }
    }
    free(is_added);
    is_added = NULL;
    off[limit] = (uint32_t)dec.len;
    t->dec = dec.data;
    dec.data = NULL;
    t->dec_off = off;
    off = NULL;
    t->dec_limit = limit;
    rc = 0;
done:
    free(is_added);
    tokfs_buf_free(&dec);
    free(off);
    tokfs_table_free(src);
    tokfs_table_free(srclen);
    return rc;
}

/* The file for the load: mapped when it can be (its pages come from the page cache, 16 to a
 * fault, with no copy: a third of Gemma-3's load was reading 33 MB into fresh memory), else read.
 * *mapped says which, for file_release. */
static int file_load(const char *path, uint8_t **data, size_t *len, int *mapped, tokfs_err *err)
{
    *mapped = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= ((uint64_t)1 << 30)) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            *data = m;
            *len = (size_t)st.st_size;
            *mapped = 1;
            return 0;
        }
    }
    if (fd >= 0)
        close(fd);
    return tokfs_read_file(path, (size_t)1 << 30, data, len, err); /* and its messages */
}

static void file_release(uint8_t *data, size_t len, int mapped)
{
    if (mapped)
        munmap(data, len);
    else
        free(data);
}

/* ---- BPE images of large tokenizer.json files -------------------------------------------------
 * A BPE model's tables, once built from a tokenizer.json of at least HF_IMAGE_MIN_FILE bytes, are
 * saved as an image (bpe_image.c) in the image directory (tokenizer_cache=, docs/tokenizers.md)
 * under a name made of the file's length and content hash; the next load of the same bytes maps
 * the image instead of scanning the vocabulary and merges and rebuilding the tables (Gemma-3:
 * about 0.4 s to a few tens of ms). Only what the scan gave is skipped: the file is still read
 * and hashed (the tokenizer's fingerprint, and the key), its rest still parsed by jansson, every
 * other part of the tokenizer built as always. A damaged image or one from another tokfs build
 * is removed and the tables built from the file. */

#define HF_IMAGE_MIN_FILE ((size_t)1 << 20) /* smaller files load in a few ms */
#define HF_IMAGE_KEEP 8                     /* images kept per directory, most recently used */

/* What an image keeps besides the tables: the facts the skipped scan would have given. */
typedef struct hf_image_facts {
    uint64_t file_len, key; /* the tokenizer.json it was made from: length, image_key */
    uint64_t file_hash;     /* its tokfs_hash64 (tok_hf.file_hash: the fingerprint's) */
    uint64_t nvocab;              /* model_vocab_size */
    uint64_t cut_at[2], cut_len[2];
    uint32_t ncuts;
    uint32_t model_id_limit;
    uint64_t nskipped; /* vocabulary entries the BPE cannot hold (a byte-level string with a
                        * character outside the alphabet: no input makes it, but an added token
                        * or eot= may name it); after the facts, each as u32 id, u32 length and
                        * the file's string */
} hf_image_facts;

/* The id of the skipped entry whose string is s[0..n), or -1. */
static int64_t skipped_find(const hf_load *L, const char *s, size_t n)
{
    const uint8_t *p = L->image_skipped, *end = p + L->image_skipped_len;
    while (end - p >= 8) {
        uint32_t id, len;
        memcpy(&id, p, 4);
        memcpy(&len, p + 4, 4);
        p += 8;
        if (len == n && memcmp(p, s, n) == 0)
            return id;
        p += len;
    }
    return -1;
}

/* The packed entries after the facts are whole: n of them, each inside the extra bytes. */
static int skipped_shape_ok(const uint8_t *p, size_t len, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        uint32_t l;
        if (len < 8)
            return 0;
        memcpy(&l, p + 4, 4);
        if (l > len - 8)
            return 0;
        p += 8 + (size_t)l;
        len -= 8 + (size_t)l;
    }
    return len == 0;
}

/* The name of a file's image: its length and tokfs_hash64_wide (a quarter of tokfs_hash64's
 * time on 33 MB; the image keeps the file's tokfs_hash64 for the fingerprint). */
static uint64_t image_key(const uint8_t *data, size_t len)
{
    return tokfs_hash64_wide(data, len, 0x686669);
}

static int image_path(const char *dir, size_t len, uint64_t hash, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/hf-%016llx-%zu.bpe", dir, (unsigned long long)hash, len);
    return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Map this file's image, if there is a good one: then L->image holds the tables, L->scan the
 * cuts and the rest, and 1 is returned. 0: no usable image (a bad one is removed). -ENOMEM. */
static int hf_image_try(hf_load *L, const char *dir, const uint8_t *data, size_t len,
                        uint64_t hash, uint64_t *file_hash)
{
    char path[PATH_MAX];
    if (image_path(dir, len, hash, path, sizeof path))
        return 0;
    hf_image_facts f;
    tokfs_bpe *b = NULL;
    const void *extra = NULL;
    size_t extra_len = 0;
    int rc = tokfs_bpe_image_load(path, &b, &extra, &extra_len);
    if (rc == 0 && extra_len < sizeof f)
        rc = -EINVAL;
    if (rc == 0) {
        memcpy(&f, extra, sizeof f);
        if (f.file_len != len || f.key != hash || f.ncuts > 2 ||
            !skipped_shape_ok((const uint8_t *)extra + sizeof f, extra_len - sizeof f,
                              f.nskipped))
            rc = -EINVAL;
    }
    if (rc == 0) {
        L->scan.ncuts = f.ncuts;
        memcpy(L->scan.cut_at, f.cut_at, sizeof f.cut_at);
        memcpy(L->scan.cut_len, f.cut_len, sizeof f.cut_len);
        L->scan.vocab_kind = TOKFS_HF_VOCAB_OBJECT;
        L->scan.has_merges = 1;
        rc = tokfs_hf_scan_cut(data, len, &L->scan);
    }
    if (rc) {
        tokfs_bpe_destroy(b);
        L->scan = (tokfs_hf_scan){0};
        if (rc == -EINVAL) {
            tokfs_log(TOKFS_LOG_WARN, "tokenizer image %s is damaged or from another tokfs "
                      "build: removed; the tables are built from %s", path, L->path);
            unlink(path);
        }
        return rc == -ENOMEM ? rc : 0; /* -ENOENT (none yet), -EACCES...: built from the file */
    }
    L->image = b;
    L->image_skipped = (const uint8_t *)extra + sizeof f;
    L->image_skipped_len = extra_len - sizeof f;
    L->bpe_skipped = (size_t)f.nskipped;
    L->model_vocab_size = (size_t)f.nvocab;
    L->model_id_limit = f.model_id_limit;
    *file_hash = f.file_hash;
    utimensat(AT_FDCWD, path, NULL, 0); /* recently used: kept by image_prune */
    return 1;
}

static int mkdir_parents(const char *dir)
{
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p)
        return -ENAMETOOLONG;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char was = *c;
        *c = 0;
        if (mkdir(p, 0700) && errno != EEXIST)
            return -errno;
        if (!was)
            return 0;
        *c = was;
    }
}

/* At most HF_IMAGE_KEEP images in dir: the least recently used go. */
static void image_prune(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (;;) {
        int n = 0;
        char oldest[NAME_MAX + 1] = "";
        struct timespec when = {0};
        rewinddir(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t nl = strlen(e->d_name);
            struct stat st;
            if (strncmp(e->d_name, "hf-", 3) || nl < 4 || strcmp(e->d_name + nl - 4, ".bpe") ||
                fstatat(dirfd(d), e->d_name, &st, 0))
                continue;
            n++;
            if (!oldest[0] || st.st_mtim.tv_sec < when.tv_sec ||
                (st.st_mtim.tv_sec == when.tv_sec && st.st_mtim.tv_nsec < when.tv_nsec)) {
                snprintf(oldest, sizeof oldest, "%s", e->d_name);
                when = st.st_mtim;
            }
        }
        if (n <= HF_IMAGE_KEEP || unlinkat(dirfd(d), oldest, 0))
            break;
    }
    closedir(d);
}

/* After a load that built BPE tables from the file: save them for the next load. Failing to is
 * not an error (a read-only home, a full disk): the next load builds them again. */
static void hf_image_save(hf_load *L, const char *dir, size_t len, uint64_t hash,
                          uint64_t file_hash)
{
    const tok_hf *t = L->t;
    if (t->kind != HF_BPE || len < HF_IMAGE_MIN_FILE ||
        L->scan.vocab_kind != TOKFS_HF_VOCAB_OBJECT || L->scan.ncuts > 2)
        return;
    hf_image_facts f = {.file_len = len, .key = hash, .file_hash = file_hash,
                        .nvocab = L->model_vocab_size,
                        .ncuts = (uint32_t)L->scan.ncuts, .model_id_limit = L->model_id_limit};
    memcpy(f.cut_at, L->scan.cut_at, sizeof f.cut_at);
    memcpy(f.cut_len, L->scan.cut_len, sizeof f.cut_len);
    /* the facts, then the entries load_bpe skipped (the same test: model_bytes fails) */
    tokfs_buf extra = {0};
    int rc = tokfs_buf_append(&extra, &f, sizeof f);
    uint8_t buf[4096];
    for (size_t k = 0; !rc && L->bpe_skipped && k < L->scan.nvocab; k++) {
        const tokfs_hf_entry *v = &L->scan.vocab[k];
        const uint8_t *b;
        if (model_bytes(L, (const char *)v->s, v->len, buf, sizeof buf, &b) > 0)
            continue;
        uint32_t head[2] = {v->id, v->len};
        rc = tokfs_buf_append(&extra, head, sizeof head);
        if (!rc)
            rc = tokfs_buf_append(&extra, v->s, v->len);
        f.nskipped++;
    }
    if (!rc)
        memcpy(extra.data, &f, sizeof f); /* with the count */
    char path[PATH_MAX];
    if (!rc)
        rc = image_path(dir, len, hash, path, sizeof path);
    if (!rc)
        rc = mkdir_parents(dir);
    if (!rc)
        rc = tokfs_bpe_image_save(t->bpe, extra.data, extra.len, path);
    tokfs_buf_free(&extra);
    if (rc) {
        tokfs_log(TOKFS_LOG_INFO, "tokenizer image of %s not saved in %s: %s", L->path, dir,
                  strerror(-rc));
        return;
    }
    image_prune(dir);
}

int tokfs_tok_hf_open(const tokfs_tokenizer_opts *o, tokfs_tokenizer **out, tokfs_err *err)
{
    const char *path = o->name;
    if (o->pattern)
        return tokfs_err_set(err, EINVAL, "pattern=%s: a tokenizer.json has its own "
                             "pre-tokenizer; pattern= is for .tiktoken files", o->pattern);
    uint8_t *data;
    size_t len;
    int mapped;
    int rc = file_load(path, &data, &len, &mapped, err);
    if (rc)
        return rc;
    /* The vocabulary and merges straight from the bytes, the rest through jansson. When the
     * scanner cannot follow the file, jansson is asked about the whole of it: its message has
     * a line number; if it finds nothing wrong, the scanner's message stands. */
    hf_load L = {.path = path};
    char scan_msg[160];
    json_error_t jerr;
    json_t *root = NULL;
    uint64_t file_hash = 0, key = 0;
    int from_image = 0;
    if (o->image_dir && len >= HF_IMAGE_MIN_FILE) {
        key = image_key(data, len);
        if ((from_image = hf_image_try(&L, o->image_dir, data, len, key, &file_hash)) < 0) {
            file_release(data, len, mapped);
            return from_image;
        }
    }
    if (!from_image)
        file_hash = tokfs_hash64(data, len, 0x6866);
    if (!from_image)
        rc = tokfs_hf_scan_file(data, len, &L.scan, scan_msg, sizeof scan_msg);
    if (rc == 0)
        root = json_loadb(L.scan.rest, L.scan.rest_len, JSON_REJECT_DUPLICATES, &jerr);
    else if (rc == -EINVAL)
        root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (rc == -ENOMEM) {
        file_release(data, len, mapped);
        return rc;
    }
    if (!root || rc) {
        int line = jerr.line;
        if (!rc) { /* an error in the rest: its line in the file */
            size_t at = tokfs_hf_scan_file_offset(&L.scan, (size_t)jerr.position);
            line = 1;
            for (size_t i = 0; i < at && i < len; i++)
                line += data[i] == '\n';
        }
        tokfs_hf_scan_free(&L.scan);
        tokfs_bpe_destroy(L.image);
        file_release(data, len, mapped);
        if (root) {
            json_decref(root);
            return tokfs_err_set(err, EINVAL, "tokenizer=%s: model: %s: fix the file", path,
                                 scan_msg);
        }
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: not valid JSON (line %d: %s): give a "
                             "tokenizer.json, a .tiktoken file, a .model, gpt2 or bytes", path,
                             line, jerr.text);
    }
    tok_hf *t = calloc(1, sizeof *t);
    L.t = t;
    L.root = root;
    if (t)
        pthread_mutex_init(&t->dec_lock, NULL);
    if (!t || !(t->path = strdup(path))) {
        if (t)
            pthread_mutex_destroy(&t->dec_lock);
        free(t);
        file_release(data, len, mapped);
        json_decref(root);
        tokfs_hf_scan_free(&L.scan);
        tokfs_bpe_destroy(L.image);
        return -ENOMEM;
    }
    t->file_len = len;
    t->file_hash = file_hash;
    t->match_special = o->match_special;
    t->base = (tokfs_tokenizer){
        .name = t->path,
        .kind = "huggingface",
        .text_based = 1,
        .bytes_per_token = 4.0,
        .encode = hf_encode,
        .cut = hf_cut,
        .token_bytes = hf_token_bytes,
        .file_name = "tokenizer.json",
        .file_bytes = hf_file_bytes,
        .destroy = hf_destroy,
    };
    byte_level_alphabet(L.map);
    L.model = json_object_get(root, "model");
    if (!json_is_object(L.model))
        rc = tokfs_err_set(err, EINVAL, "tokenizer=%s: no model: is this a tokenizer.json?", path);
    if (!rc)
        rc = tokfs_norm_from_json(path, json_object_get(root, "normalizer"), &t->norm, err);
    if (!rc)
        rc = tokfs_pre_from_json(path, json_object_get(root, "pre_tokenizer"), &t->pre, err);
    if (!rc) {
        L.byte_level = t->pre && tokfs_pre_byte_level(t->pre);
        rc = load_model(&L, err);
    }
    if (!rc)
        t->base.model = t->kind == HF_UNIGRAM     ? "unigram"
                        : t->kind == HF_WORDPIECE ? "wordpiece"
                        : L.byte_level            ? "bpe-byte-level"
                                                  : "bpe";
    if (!rc && L.byte_level && t->kind != HF_BPE)
        rc = refuse(err, path, "a ByteLevel pre-tokenizer with a model other than BPE");
    if (!rc)
        rc = load_added(&L, err);
    uint32_t limit = L.model_id_limit;
    for (size_t k = 0; !rc && k < t->nadded; k++)
        if (t->added[k].id + 1 > limit)
            limit = t->added[k].id + 1;
    if (!rc)
        rc = resolve_eot(&L, o, err);
    if (!rc && t->base.eot_id != TOKFS_NO_EOT && t->base.eot_id + 1 > limit)
        limit = t->base.eot_id + 1;
    t->base.vocab_size = limit;
    t->byte_level = L.byte_level;
    if (!rc && !from_image && o->image_dir)
        hf_image_save(&L, o->image_dir, len, key, file_hash);
    json_decref(root);
    tokfs_hf_scan_free(&L.scan);
    tokfs_bpe_destroy(L.image); /* NULL once load_bpe took it */
    tokfs_table_free(L.index);
    file_release(data, len, mapped); /* the tables hold copies of what they need */
    if (rc) {
        hf_free(t);
        return rc;
    }
    char extra[64];
    int n = snprintf(extra, sizeof extra, "hf eot=%u special=%d", t->base.eot_id,
                     t->match_special);
    t->base.fingerprint = tokfs_hash64(extra, (size_t)n, t->file_hash);
    *out = &t->base;
    return 0;
}

/* The decoder, from the tokenizer file read and scanned again (the load kept no vocabulary
 * strings). A file changed since the load is not this tokenizer: -EIO, and every id decodes to
 * nothing rather than to another tokenizer's text. */
static int decoder_make(tok_hf *t)
{
    uint8_t *data;
    size_t len;
    int mapped;
    tokfs_err err;
    int rc = file_load(t->path, &data, &len, &mapped, &err);
    if (rc)
        return rc;
    hf_load L = {.path = t->path, .t = t, .byte_level = t->byte_level};
    char msg[160];
    if (len != t->file_len || tokfs_hash64(data, len, 0x6866) != t->file_hash)
        rc = -EIO;
    if (!rc)
        rc = tokfs_hf_scan_file(data, len, &L.scan, msg, sizeof msg);
    if (!rc) {
        byte_level_alphabet(L.map);
        rc = build_decoder(&L);
    }
    tokfs_hf_scan_free(&L.scan);
    file_release(data, len, mapped);
    return rc;
}
