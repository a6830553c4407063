/* tokenizer=PATH to a SentencePiece .model: the ModelProto reader, SentencePiece's normalizer
 * and its four models (Unigram, BPE, WORD, CHAR), reproducing SentencePiece 0.1.97's Encode id
 * for id.
 *
 * What SentencePiece does (src/normalizer.cc, model_interface.cc, bpe_model.cc,
 * unigram_model.cc, sentencepiece_processor.cc), and so what this file does:
 *   - pieces of type NORMAL, USER_DEFINED and UNUSED are the model's vocabulary; UNKNOWN,
 *     CONTROL and BYTE pieces are "reserved" (looked up first by piece text, never matched in
 *     text by the models);
 *   - normalizing: at each position the longest user-defined piece is kept as it is, else the
 *     precompiled charsmap's longest rule rewrites, else one character passes; with
 *     remove_extra_whitespaces leading spaces go, runs of spaces collapse and trailing ones go;
 *     add_dummy_prefix puts one space first (last with treat_whitespace_as_suffix);
 *     escape_whitespaces turns ' ' into U+2581;
 *   - the whole normalized text is one sequence for the model (no word splitting at encode time,
 *     except in the WORD model);
 *   - BPE: characters (a user-defined piece is one frozen symbol), then any adjacent pair whose
 *     concatenation is a piece merges, highest score first, leftmost on equal scores; a merged
 *     UNUSED piece is split back into the two symbols it was last made from;
 *   - Unigram: Viterbi with path scores kept in float but each candidate summed in double (the
 *     exact rounding decides ties on long texts), user-defined
 *     pieces scored length * max_score - 0.1, an unknown character min_score - 10, the first
 *     best path kept on equal scores;
 *   - an unknown piece becomes its bytes as <0xNN> pieces with byte_fallback, else consecutive
 *     unknown pieces become one unk id.
 * Read but without effect on ids, as in SentencePiece: normalization_rule_tsv and the trainer's
 * splitting options (training only), denormalizer_spec (decoding only). Where SentencePiece
 * itself fails a text (a WORD or CHAR model, or a BPE character, that is a CONTROL piece's
 * text: Encode returns an error), tokfs emits that piece's id. The map is not shared with the
 * Hugging Face models (bpe.c, unigram.c) because the semantics differ: frozen user-defined
 * symbols, merges into pieces whose parts are not pieces, UNUSED resegmentation, and Unigram's
 * float path scores, which decide ties on long texts differently from double ones. */
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "tokenize/bpe_internal.h"
#include "tokenize/normalize_internal.h"
#include "tokenize/tok_bpe_internal.h"
#include "tokenize/tok_spm_internal.h"

enum { PT_NORMAL = 1, PT_UNKNOWN = 2, PT_CONTROL = 3, PT_USER = 4, PT_UNUSED = 5, PT_BYTE = 6 };
enum { MT_UNIGRAM = 1, MT_BPE = 2, MT_WORD = 3, MT_CHAR = 4 };

static const uint8_t SPACE_SYMBOL[3] = {0xE2, 0x96, 0x81}; /* U+2581 */

typedef struct spm_piece {
    uint32_t off, len; /* into spm.text */
    float score;
    uint8_t type;
} spm_piece;

/* An open-addressing map from byte strings (prefixes of pieces' texts) to a value. */
typedef struct smap_slot {
    uint64_t hash;
    uint32_t piece1; /* piece index + 1 whose text starts with the key; 0 = empty */
    uint32_t len;    /* key length */
    int32_t id;      /* the piece whose whole text is the key, or -1 (a proper prefix only) */
} smap_slot;

typedef struct smap {
    smap_slot *slots;
    size_t nslots, count; /* nslots a power of two */
} smap;

typedef struct spm {
    tokfs_tokenizer base;
    char *name;
    int model_type;
    int byte_fallback;
    int treat_ws_suffix;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    tokfs_charsmap *charsmap;
    uint8_t *text; /* all pieces' texts */
    spm_piece *pieces;
    uint32_t npieces;
    int32_t unk_id;
    int32_t byte_id[256];
    float min_score, max_score; /* over NORMAL pieces, as the Unigram model computes them */
    smap normal;    /* NORMAL, USER_DEFINED, UNUSED pieces, and all their prefixes (Unigram) */
    smap reserved;  /* UNKNOWN, CONTROL, BYTE pieces */
    smap user;      /* USER_DEFINED pieces */
    uint8_t user_first[32];    /* first bytes of user-defined pieces */
    uint8_t user_lens[64];     /* distinct user-defined piece lengths, longest first */
    int nuser_lens;
    int has_unused;
    /* BPE: where the text may be cut into runs merged on their own (no piece, user-defined ones
     * included, can span the cut, and no UNUSED piece makes the output depend on the order of
     * merges across runs): 1 before a space symbol that follows another character, 2 after a
     * space symbol that precedes another character, 0 nowhere. */
    int bpe_cut;
    uint32_t max_piece_len;
    uint8_t *decoded; /* token_bytes: piece texts with U+2581 as ' ', bytes for <0xNN> */
    uint32_t *decoded_off;
    char *eot_text;
    uint8_t *file; /* the .model as read, served at the mount root */
    size_t file_len;
} spm;

/* ---- the map ----------------------------------------------------------------------------- */

/* FNV-1a, then a final mix for the low bits the table uses: byte by byte so that the Unigram
 * lattice extends one key's hash a character at a time instead of rehashing every prefix. */
#define FNV_OFFSET 0xcbf29ce484222325ull

static inline uint64_t fnv_step(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static inline uint64_t fnv_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t key_hash(const uint8_t *p, size_t n) { return fnv_final(fnv_step(FNV_OFFSET, p, n)); }

static const smap_slot *smap_find(const spm *s, const smap *m, const uint8_t *p, size_t n,
                                  uint64_t h)
{
    if (!m->nslots)
        return NULL;
    size_t mask = m->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const smap_slot *e = &m->slots[i];
        if (!e->piece1)
            return NULL;
        if (e->hash == h && e->len == n &&
            memcmp(s->text + s->pieces[e->piece1 - 1].off, p, n) == 0)
            return e;
    }
}

/* The slot of key text[piece.off .. +len), inserted if absent (id -1). NULL on ENOMEM. */
static smap_slot *smap_put(spm *s, smap *m, uint32_t piece, uint32_t len)
{
    if ((m->count + 1) * 2 > m->nslots) {
        size_t n = m->nslots ? m->nslots * 2 : 1024;
        smap_slot *slots = calloc(n, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t k = 0; k < m->nslots; k++) {
            if (!m->slots[k].piece1)
                continue;
            size_t i = m->slots[k].hash & (n - 1);
            while (slots[i].piece1)
                i = (i + 1) & (n - 1);
            slots[i] = m->slots[k];
        }
        free(m->slots);
        m->slots = slots;
        m->nslots = n;
    }
    const uint8_t *p = s->text + s->pieces[piece].off;
    uint64_t h = key_hash(p, len);
    smap_slot *found = (smap_slot *)smap_find(s, m, p, len, h);
    if (found)
        return found;
    size_t i = h & (m->nslots - 1);
    while (m->slots[i].piece1)
        i = (i + 1) & (m->nslots - 1);
    m->slots[i] = (smap_slot){.hash = h, .piece1 = piece + 1, .len = len, .id = -1};
    m->count++;
    return &m->slots[i];
}

static int32_t smap_id(const spm *s, const smap *m, const uint8_t *p, size_t n)
{
    const smap_slot *e = smap_find(s, m, p, n, key_hash(p, n));
    return e ? e->id : -1;
}

/* SentencePiece's PieceToId: reserved pieces first, then the vocabulary, else unk. */
static int32_t piece_to_id(const spm *s, const uint8_t *p, size_t n)
{
    int32_t id = smap_id(s, &s->reserved, p, n);
    if (id < 0)
        id = smap_id(s, &s->normal, p, n);
    return id < 0 ? s->unk_id : id;
}

static size_t char_len(const uint8_t *p, size_t n)
{
    size_t l = p[0] < 0x80 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    return l < n ? l : n;
}

/* Length of the longest user-defined piece text[0..n) starts with, or 0. */
static size_t user_match(const spm *s, const uint8_t *p, size_t n)
{
    if (!s->nuser_lens || !(s->user_first[p[0] >> 3] & (1u << (p[0] & 7))))
        return 0;
    for (int k = 0; k < s->nuser_lens; k++) {
        size_t l = s->user_lens[k];
        if (l <= n && smap_id(s, &s->user, p, l) >= 0)
            return l;
    }
    return 0;
}

/* ---- normalizer -------------------------------------------------------------------------- */

/* NormalizePrefix: what the text at p becomes, and how many bytes that consumes. */
static size_t normalize_prefix(const spm *s, const uint8_t *p, size_t n, const uint8_t **out,
                               size_t *out_len)
{
    size_t l = user_match(s, p, n);
    if (l) {
        *out = p;
        *out_len = l;
        return l;
    }
    if (s->charsmap && (l = tokfs_charsmap_longest(s->charsmap, p, n, out, out_len)))
        return l;
    *out = p;
    *out_len = char_len(p, n);
    return *out_len;
}

static int put_space(const spm *s, tokfs_buf *b)
{
    return s->escape_ws ? tokfs_buf_append(b, SPACE_SYMBOL, 3) : tokfs_buf_append(b, " ", 1);
}

static int spm_normalize(const spm *s, const uint8_t *in, size_t n, tokfs_buf *b)
{
    b->len = 0;
    const uint8_t *sp;
    size_t sl, used;
    if (s->remove_extra_ws) {
        while (n && (used = normalize_prefix(s, in, n, &sp, &sl)) && sl == 1 && sp[0] == ' ') {
            in += used;
            n -= used;
        }
    }
    if (!n)
        return 0;
    int rc = 0;
    if (!s->treat_ws_suffix && s->add_dummy_prefix && (rc = put_space(s, b)))
        return rc;
    int prev_space = s->remove_extra_ws;
    while (n) {
        used = normalize_prefix(s, in, n, &sp, &sl);
        while (prev_space && sl && sp[0] == ' ') {
            sp++;
            sl--;
        }
        if (sl) {
            for (size_t k = 0; k < sl && !rc; k++)
                rc = sp[k] == ' ' && s->escape_ws ? tokfs_buf_append(b, SPACE_SYMBOL, 3)
                                                  : tokfs_buf_append(b, sp + k, 1);
            if (rc)
                return rc;
            prev_space = sp[sl - 1] == ' ';
        }
        in += used;
        n -= used;
        if (!s->remove_extra_ws)
            prev_space = 0;
    }
    if (s->remove_extra_ws) {
        const uint8_t *space = s->escape_ws ? SPACE_SYMBOL : (const uint8_t *)" ";
        size_t slen = s->escape_ws ? 3 : 1;
        while (b->len >= slen && memcmp(b->data + b->len - slen, space, slen) == 0)
            b->len -= slen;
    }
    if (s->treat_ws_suffix && s->add_dummy_prefix)
        rc = put_space(s, b);
    return rc;
}

/* ---- the models' output ------------------------------------------------------------------ */

typedef struct out_ctx {
    const spm *s;
    const tokfs_id_sink *sink;
    tokfs_ids ids;
    int prev_unk;
} out_ctx;

#define FLUSH_IDS 8192

static int flush(out_ctx *o)
{
    if (!o->ids.len)
        return 0;
    int rc = o->sink->put(o->sink->ctx, o->ids.ids, o->ids.len);
    o->ids.len = 0;
    return rc;
}

/* One (piece, id) of the model's result, as PopulateSentencePieceText turns it into ids. */
static int emit(out_ctx *o, const uint8_t *w, size_t n, int32_t id)
{
    const spm *s = o->s;
    int unk = id == s->unk_id;
    int rc = tokfs_ids_reserve(&o->ids, n);
    if (rc)
        return rc;
    if (unk && s->byte_fallback) {
        for (size_t k = 0; k < n; k++)
            o->ids.ids[o->ids.len++] = (uint32_t)s->byte_id[w[k]];
    } else if (!(unk && o->prev_unk)) {
        o->ids.ids[o->ids.len++] = (uint32_t)id;
    }
    o->prev_unk = unk;
    return o->ids.len >= FLUSH_IDS ? flush(o) : 0;
}

/* ---- Unigram ----------------------------------------------------------------------------- */

typedef struct best_node {
    int32_t id;
    float score;
    int64_t start; /* -1: not reached */
} best_node;

static int unigram_encode(out_ctx *o, const uint8_t *t, size_t n)
{
    const spm *s = o->s;
    best_node *best = malloc((n + 1) * sizeof *best);
    if (!best)
        return -ENOMEM;
    for (size_t i = 0; i <= n; i++)
        best[i] = (best_node){.id = -1, .score = 0, .start = -1};
    const float unk_score = s->min_score - 10.0f;
    for (size_t start = 0; start < n;) {
        const float here = best[start].score;
        size_t mblen = char_len(t + start, n - start);
        int single = 0;
        size_t lim = n - start < s->max_piece_len ? n - start : s->max_piece_len;
        uint64_t h = FNV_OFFSET;
        for (size_t len = 0; len < lim;) {
            size_t cl = char_len(t + start + len, n - start - len);
            h = fnv_step(h, t + start + len, cl);
            len += cl;
            const smap_slot *e = smap_find(s, &s->normal, t + start, len, fnv_final(h));
            if (!e)
                break; /* no piece starts with these bytes */
            if (e->id < 0 || s->pieces[e->id].type == PT_UNUSED)
                continue;
            best_node *target = &best[start + len];
            /* SentencePiece's score is a conditional between the user-defined bonus (a double)
             * and the piece's float score, so it is a double either way: the candidate is
             * summed and compared in double, then stored as float. */
            double score = s->pieces[e->id].type == PT_USER
                               ? (double)((float)len * s->max_score) - 0.1
                               : (double)s->pieces[e->id].score;
            double cand = score + (double)here;
            if (target->start < 0 || cand > (double)target->score) {
                target->score = (float)cand;
                target->start = (int64_t)start;
                target->id = e->id;
            }
            if (len == mblen)
                single = 1;
        }
        if (!single) {
            best_node *target = &best[start + mblen];
            float cand = unk_score + here;
            if (target->start < 0 || cand > target->score) {
                target->score = cand;
                target->start = (int64_t)start;
                target->id = s->unk_id;
            }
        }
        start += mblen;
    }
    /* Backtrack: node starts, reversed in place into the start fields' order. */
    size_t count = 0;
    for (size_t end = n; end > 0; end = (size_t)best[end].start)
        count++;
    size_t *ends = malloc((count ? count : 1) * sizeof *ends);
    int rc = ends ? 0 : -ENOMEM;
    if (!rc) {
        size_t k = count;
        for (size_t end = n; end > 0; end = (size_t)best[end].start)
            ends[--k] = end;
        for (k = 0; k < count && !rc; k++) {
            size_t st = (size_t)best[ends[k]].start;
            rc = emit(o, t + st, ends[k] - st, best[ends[k]].id);
        }
    }
    free(ends);
    free(best);
    return rc;
}

/* ---- BPE --------------------------------------------------------------------------------- */

typedef struct bsym {
    int64_t prev, next;
    uint32_t off, len; /* into the normalized text; len 0 once merged into its left neighbour */
    int frozen;
} bsym;

typedef struct bpair {
    float score;
    uint32_t left, right, size;
} bpair;

/* Heap order: higher score first, then smaller left. */
static int pair_before(const bpair *a, const bpair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct bheap {
    bpair *v;
    size_t len, cap;
} bheap;

static int heap_push(bheap *h, bpair p)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        bpair *g = realloc(h->v, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        h->v = g;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i && pair_before(&p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = p;
    return 0;
}

static bpair heap_pop(bheap *h)
{
    bpair top = h->v[0], last = h->v[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && pair_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!pair_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->len)
        h->v[i] = last;
    return top;
}

/* rev_merge: for a merged UNUSED piece, the split of its last recorded pair (later records
 * replace earlier ones, as SentencePiece's map assignment does). */
typedef struct rev_ent {
    uint32_t off, len, left_len;
} rev_ent;

typedef struct bpe_state {
    const spm *s;
    const uint8_t *t;
    bsym *sym;
    bheap heap;
    rev_ent *rev;
    size_t nrev, rev_cap;
} bpe_state;

static int maybe_pair(bpe_state *b, int64_t l, int64_t r)
{
    if (l < 0 || r < 0 || b->sym[l].frozen || b->sym[r].frozen)
        return 0;
    const spm *s = b->s;
    uint32_t off = b->sym[l].off, size = b->sym[l].len + b->sym[r].len;
    int32_t id = smap_id(s, &s->normal, b->t + off, size);
    if (id < 0)
        return 0;
    int rc = heap_push(&b->heap, (bpair){.score = s->pieces[id].score, .left = (uint32_t)l,
                                         .right = (uint32_t)r, .size = size});
    if (rc || s->pieces[id].type != PT_UNUSED)
        return rc;
    for (size_t k = 0; k < b->nrev; k++) {
        rev_ent *e = &b->rev[k];
        if (e->len == size && memcmp(b->t + e->off, b->t + off, size) == 0) {
            e->off = off;
            e->left_len = b->sym[l].len;
            return 0;
        }
    }
    if (b->nrev == b->rev_cap) {
        size_t cap = b->rev_cap ? b->rev_cap * 2 : 16;
        rev_ent *g = realloc(b->rev, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        b->rev = g;
        b->rev_cap = cap;
    }
    b->rev[b->nrev++] = (rev_ent){.off = off, .len = size, .left_len = b->sym[l].len};
    return 0;
}

/* SentencePiece's resegment: an UNUSED piece is output as the pieces it was merged from. */
static int resegment(bpe_state *b, out_ctx *o, const uint8_t *w, size_t n)
{
    const spm *s = b->s;
    int32_t id = piece_to_id(s, w, n);
    if (id < 0 || s->pieces[id].type != PT_UNUSED)
        return emit(o, w, n, id);
    for (size_t k = 0; k < b->nrev; k++) {
        const rev_ent *e = &b->rev[k];
        if (e->len == n && memcmp(b->t + e->off, w, n) == 0) {
            size_t left = e->left_len; /* copy: the entry may move as the list grows */
            int rc = resegment(b, o, w, left);
            return rc ? rc : resegment(b, o, w + left, n - left);
        }
    }
    return emit(o, w, n, id);
}

static int bpe_run(out_ctx *o, const uint8_t *t, size_t n)
{
    bpe_state b = {.s = o->s, .t = t};
    b.sym = malloc(n * sizeof *b.sym);
    if (!b.sym)
        return -ENOMEM;
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        size_t l = user_match(o->s, t + i, n - i);
        int frozen = l > 0;
        if (!l)
            l = char_len(t + i, n - i);
        b.sym[count] = (bsym){.prev = (int64_t)count - 1, .next = (int64_t)count + 1,
                              .off = (uint32_t)i, .len = (uint32_t)l, .frozen = frozen};
        i += l;
    }
    int rc = 0;
    if (count)
        b.sym[count - 1].next = -1;
    for (size_t i = 1; i < count && !rc; i++)
        rc = maybe_pair(&b, (int64_t)i - 1, (int64_t)i);
    while (b.heap.len && !rc) {
        bpair top = heap_pop(&b.heap);
        bsym *l = &b.sym[top.left], *r = &b.sym[top.right];
        if (!l->len || !r->len || l->len + r->len != top.size)
            continue; /* stale: one side has changed since */
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0)
            b.sym[r->next].prev = top.left;
        r->len = 0;
        rc = maybe_pair(&b, l->prev, top.left);
        if (!rc)
            rc = maybe_pair(&b, top.left, l->next);
    }
    for (int64_t i = count ? 0 : -1; i >= 0 && !rc; i = b.sym[i].next)
        rc = resegment(&b, o, t + b.sym[i].off, b.sym[i].len);
    free(b.sym);
    free(b.heap.v);
    free(b.rev);
    return rc;
}

static int space_at(const spm *s, const uint8_t *t, size_t n, size_t i)
{
    return s->escape_ws ? i + 3 <= n && memcmp(t + i, SPACE_SYMBOL, 3) == 0 : t[i] == ' ';
}

/* The whole text is one sequence for SentencePiece's BPE; merging it as independent runs gives
 * the same pieces when no piece can span the cuts (s->bpe_cut), with far smaller heaps. */
static int bpe_encode(out_ctx *o, const uint8_t *t, size_t n)
{
    const spm *s = o->s;
    if (!s->bpe_cut)
        return bpe_run(o, t, n);
    size_t w = s->escape_ws ? 3 : 1, start = 0;
    int prev_space = 0;
    for (size_t i = 0; i < n;) {
        int sp = space_at(s, t, n, i);
        size_t l = sp ? w : char_len(t + i, n - i);
        if (i > start && sp != prev_space && (s->bpe_cut == 1 ? sp : prev_space)) {
            int rc = bpe_run(o, t + start, i - start);
            if (rc)
                return rc;
            start = i;
        }
        prev_space = sp;
        i += l;
    }
    return bpe_run(o, t + start, n - start);
}

/* ---- WORD and CHAR ----------------------------------------------------------------------- */

static int is_space_symbol(const uint8_t *p, size_t n)
{
    return n >= 3 && memcmp(p, SPACE_SYMBOL, 3) == 0;
}

/* SplitIntoWords with its defaults (whitespace as prefix; a run of spaces starts a word at
 * each space). */
static int word_encode(out_ctx *o, const uint8_t *t, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t l = char_len(t + i, n - i);
        if (i > start && is_space_symbol(t + i, l)) {
            int rc = emit(o, t + start, i - start, piece_to_id(o->s, t + start, i - start));
            if (rc)
                return rc;
            start = i;
        }
        i += l;
    }
    return n > start ? emit(o, t + start, n - start, piece_to_id(o->s, t + start, n - start))
                     : 0;
}

static int char_encode(out_ctx *o, const uint8_t *t, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = user_match(o->s, t + i, n - i);
        if (!l)
            l = char_len(t + i, n - i);
        int rc = emit(o, t + i, l, piece_to_id(o->s, t + i, l));
        if (rc)
            return rc;
        i += l;
    }
    return 0;
}

static int spm_encode(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                      const tokfs_id_sink *sink)
{
    const spm *s = (const spm *)tok;
    tokfs_buf norm = {0};
    out_ctx o = {.s = s, .sink = sink};
    int rc = spm_normalize(s, text, len, &norm);
    if (!rc && norm.len) {
        switch (s->model_type) {
        case MT_UNIGRAM: rc = unigram_encode(&o, norm.data, norm.len); break;
        case MT_BPE: rc = bpe_encode(&o, norm.data, norm.len); break;
        case MT_WORD: rc = word_encode(&o, norm.data, norm.len); break;
        default: rc = char_encode(&o, norm.data, norm.len); break;
        }
    }
    if (!rc)
        rc = flush(&o);
    tokfs_ids_free(&o.ids);
    tokfs_buf_free(&norm);
    return rc;
}

static const uint8_t *spm_token_bytes(const tokfs_tokenizer *tok, uint32_t id, size_t *len)
{
    const spm *s = (const spm *)tok;
    if (id < s->npieces && s->decoded_off[id + 1] > s->decoded_off[id]) {
        *len = s->decoded_off[id + 1] - s->decoded_off[id];
        return s->decoded + s->decoded_off[id];
    }
    if (s->eot_text && id == s->base.eot_id) {
        *len = strlen(s->eot_text);
        return (const uint8_t *)s->eot_text;
    }
    return NULL;
}

static int spm_file_bytes(const tokfs_tokenizer *tok, tokfs_buf *out)
{
    const spm *s = (const spm *)tok;
    return tokfs_buf_append(out, s->file, s->file_len);
}

static void spm_free(spm *s)
{
    if (!s)
        return;
    tokfs_charsmap_free(s->charsmap);
    free(s->normal.slots);
    free(s->reserved.slots);
    free(s->user.slots);
    free(s->pieces);
    free(s->text);
    free(s->decoded);
    free(s->decoded_off);
    free(s->eot_text);
    free(s->file);
    free(s->name);
    free(s);
}

static void spm_destroy(tokfs_tokenizer *tok) { spm_free((spm *)tok); }

/* ---- protobuf ---------------------------------------------------------------------------- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static int pb_varint(pb *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Next field: number, wire type, and for wire type 2 its bytes, for 0 its value, for 5 its
 * 32 bits. 1: end of message, 0: a field, -1: malformed. */
typedef struct pb_field {
    uint32_t num, wire;
    uint64_t v;
    pb sub;
} pb_field;

static int pb_next(pb *r, pb_field *f)
{
    if (r->p == r->end)
        return 1;
    uint64_t key;
    if (pb_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 0;
    case 2:
        if (pb_varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p))
            return -1;
        f->sub = (pb){r->p, r->p + f->v};
        r->p += f->v;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 |
               (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 0;
    default:
        return -1; /* groups (3, 4) are not used by sentencepiece_model.proto */
    }
}

static float pb_float(uint64_t bits)
{
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

typedef struct spm_load {
    const char *path;
    spm *s;
    size_t text_len, text_cap, pieces_cap;
    const uint8_t *charsmap;
    size_t charsmap_len;
    const uint8_t *eos_piece;
    size_t eos_len;
} spm_load;

static int bad_model(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: %s: give a SentencePiece .model file", path,
                         what);
}

static int refuse(tokfs_err *err, const char *path, const char *what)
{
    return tokfs_err_set(err, ENOTSUP, "tokenizer=%s: %s is not supported; tokfs refuses rather "
                         "than approximate it", path, what);
}

static int add_piece(spm_load *L, pb msg, tokfs_err *err)
{
    spm *s = L->s;
    const uint8_t *text = NULL;
    size_t len = 0;
    float score = 0;
    uint64_t type = PT_NORMAL;
    pb_field f;
    int r;
    while ((r = pb_next(&msg, &f)) == 0) {
        if (f.num == 1 && f.wire == 2) {
            text = f.sub.p;
            len = (size_t)f.v;
        } else if (f.num == 2 && f.wire == 5) {
            score = pb_float(f.v);
        } else if (f.num == 3 && f.wire == 0) {
            type = f.v;
        }
    }
    if (r < 0)
        return bad_model(err, L->path, "a malformed piece");
    if (!len || len > 0xffff)
        return bad_model(err, L->path, "an empty piece");
    if (type < PT_NORMAL || type > PT_BYTE)
        return bad_model(err, L->path, "a piece of an unknown type");
    if (s->npieces == L->pieces_cap) {
        size_t cap = L->pieces_cap ? L->pieces_cap * 2 : 1024;
        spm_piece *g = realloc(s->pieces, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        s->pieces = g;
        L->pieces_cap = cap;
    }
    if (L->text_len + len > L->text_cap) {
        size_t cap = L->text_cap ? L->text_cap : 65536;
        while (cap < L->text_len + len)
            cap *= 2;
        if (cap > 0xffffffffu)
            return bad_model(err, L->path, "more than 4 GiB of piece text");
        uint8_t *g = realloc(s->text, cap);
        if (!g)
            return -ENOMEM;
        s->text = g;
        L->text_cap = cap;
    }
    memcpy(s->text + L->text_len, text, len);
    s->pieces[s->npieces++] = (spm_piece){.off = (uint32_t)L->text_len, .len = (uint32_t)len,
                                          .score = score, .type = (uint8_t)type};
    L->text_len += len;
    return 0;
}

static int read_trainer(spm_load *L, pb msg, tokfs_err *err)
{
    spm *s = L->s;
    pb_field f;
    int r;
    while ((r = pb_next(&msg, &f)) == 0) {
        if (f.wire == 0 && f.num == 3)
            s->model_type = (int)f.v;
        else if (f.wire == 0 && f.num == 35)
            s->byte_fallback = f.v != 0;
        else if (f.wire == 0 && f.num == 24)
            s->treat_ws_suffix = f.v != 0;
        else if (f.wire == 2 && f.num == 47) {
            L->eos_piece = f.sub.p;
            L->eos_len = (size_t)f.v;
        }
    }
    return r < 0 ? bad_model(err, L->path, "a malformed trainer_spec") : 0;
}

static int read_normalizer(spm_load *L, pb msg, tokfs_err *err)
{
    spm *s = L->s;
    pb_field f;
    int r;
    while ((r = pb_next(&msg, &f)) == 0) {
        if (f.wire == 2 && f.num == 2) {
            L->charsmap = f.sub.p;
            L->charsmap_len = (size_t)f.v;
        } else if (f.wire == 0 && f.num == 3) {
            s->add_dummy_prefix = f.v != 0;
        } else if (f.wire == 0 && f.num == 4) {
            s->remove_extra_ws = f.v != 0;
        } else if (f.wire == 0 && f.num == 5) {
            s->escape_ws = f.v != 0;
        }
    }
    return r < 0 ? bad_model(err, L->path, "a malformed normalizer_spec") : 0;
}

static int byte_piece_value(const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    const char *hi = memchr(hex, p[3], 16), *lo = memchr(hex, p[4], 16);
    return hi && lo && p[3] && p[4] ? (int)((hi - hex) * 16 + (lo - hex)) : -1;
}

/* InitializePieces' checks, and the lookup tables. */
static int index_pieces(spm_load *L, tokfs_err *err)
{
    spm *s = L->s;
    char what[160];
    s->unk_id = -1;
    for (int c = 0; c < 256; c++)
        s->byte_id[c] = -1;
    s->min_score = FLT_MAX;
    s->max_score = FLT_MIN; /* SentencePiece's starting value (the smallest positive float) */
    for (uint32_t i = 0; i < s->npieces; i++) {
        spm_piece *pc = &s->pieces[i];
        const uint8_t *p = s->text + pc->off;
        int normal = pc->type == PT_NORMAL || pc->type == PT_USER || pc->type == PT_UNUSED;
        smap *m = normal ? &s->normal : &s->reserved;
        smap_slot *e = smap_put(s, m, i, pc->len);
        if (!e)
            return -ENOMEM;
        if (e->id >= 0) {
            snprintf(what, sizeof what, "piece %u repeats piece %d", i, e->id);
            return bad_model(err, L->path, what);
        }
        e->id = (int32_t)i;
        if (pc->type == PT_NORMAL) {
            s->min_score = pc->score < s->min_score ? pc->score : s->min_score;
            s->max_score = pc->score > s->max_score ? pc->score : s->max_score;
        }
        if (normal) {
            if (pc->len > s->max_piece_len)
                s->max_piece_len = pc->len;
            /* proper prefixes at character boundaries, for the Unigram lattice */
            for (uint32_t l = 0; l < pc->len;) {
                l += (uint32_t)char_len(p + l, pc->len - l);
                if (l < pc->len && !smap_put(s, &s->normal, i, l))
                    return -ENOMEM;
            }
        }
        if (pc->type == PT_USER) {
            smap_slot *u = smap_put(s, &s->user, i, pc->len);
            if (!u)
                return -ENOMEM;
            u->id = (int32_t)i;
            s->user_first[p[0] >> 3] |= (uint8_t)(1u << (p[0] & 7));
            int k = 0;
            while (k < s->nuser_lens && s->user_lens[k] > pc->len)
                k++;
            if (k == s->nuser_lens || s->user_lens[k] != pc->len) {
                if (pc->len > 255 || s->nuser_lens == (int)sizeof s->user_lens)
                    return refuse(err, L->path, "a user-defined piece longer than 255 bytes, or "
                                  "more than 64 lengths of them,");
                memmove(s->user_lens + k + 1, s->user_lens + k, (size_t)(s->nuser_lens - k));
                s->user_lens[k] = (uint8_t)pc->len;
                s->nuser_lens++;
            }
        }
        if (pc->type == PT_UNUSED)
            s->has_unused = 1;
        if (pc->type == PT_UNKNOWN) {
            if (s->unk_id >= 0)
                return bad_model(err, L->path, "two unknown pieces");
            s->unk_id = (int32_t)i;
        }
        if (pc->type == PT_BYTE) {
            int b = byte_piece_value(p, pc->len);
            if (!s->byte_fallback)
                return bad_model(err, L->path, "a byte piece although byte_fallback is false");
            if (b < 0)
                return bad_model(err, L->path, "a byte piece that is not <0xNN>");
            s->byte_id[b] = (int32_t)i;
        }
    }
    if (s->unk_id < 0)
        return bad_model(err, L->path, "no unknown piece");
    int space_after_char = 0, char_after_space = 0;
    for (uint32_t i = 0; i < s->npieces; i++) {
        const spm_piece *pc = &s->pieces[i];
        if (pc->type != PT_NORMAL && pc->type != PT_USER && pc->type != PT_UNUSED)
            continue;
        const uint8_t *p = s->text + pc->off;
        int prev = -1; /* -1 start, 0 other character, 1 space symbol */
        for (size_t k = 0; k < pc->len;) {
            int sp = space_at(s, p, pc->len, k);
            space_after_char |= sp && prev == 0;
            char_after_space |= !sp && prev == 1;
            prev = sp;
            k += sp ? (s->escape_ws ? 3 : 1) : char_len(p + k, pc->len - k);
        }
    }
    s->bpe_cut = s->model_type != MT_BPE || s->has_unused ? 0
                 : !space_after_char                      ? 1
                 : !char_after_space                      ? 2
                                                          : 0;
    if (s->byte_fallback) {
        for (int c = 0; c < 256; c++) {
            if (s->byte_id[c] < 0)
                return bad_model(err, L->path, "byte_fallback without all 256 byte pieces");
            /* the byte pieces' ids, as PieceToId finds them (a reserved piece first) */
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            s->byte_id[c] = piece_to_id(s, (const uint8_t *)name, 6);
        }
    }
    return 0;
}

/* token_bytes: what each piece stands for in text. */
static int build_decoded(spm *s)
{
    s->decoded_off = calloc((size_t)s->npieces + 1, sizeof *s->decoded_off);
    size_t cap = 0;
    for (uint32_t i = 0; i < s->npieces; i++)
        cap += s->pieces[i].len;
    s->decoded = malloc(cap ? cap : 1);
    if (!s->decoded_off || !s->decoded)
        return -ENOMEM;
    size_t o = 0;
    for (uint32_t i = 0; i < s->npieces; i++) {
        const spm_piece *pc = &s->pieces[i];
        const uint8_t *p = s->text + pc->off;
        s->decoded_off[i] = (uint32_t)o;
        if (pc->type == PT_BYTE) {
            s->decoded[o++] = (uint8_t)byte_piece_value(p, pc->len);
        } else if (pc->type != PT_CONTROL && pc->type != PT_UNKNOWN) {
            for (size_t k = 0; k < pc->len;) {
                if (s->escape_ws && k + 3 <= pc->len && memcmp(p + k, SPACE_SYMBOL, 3) == 0) {
                    s->decoded[o++] = ' ';
                    k += 3;
                } else {
                    s->decoded[o++] = p[k++];
                }
            }
        }
    }
    s->decoded_off[s->npieces] = (uint32_t)o;
    return 0;
}

static int parse_model(spm_load *L, const uint8_t *data, size_t len, tokfs_err *err)
{
    pb r = {data, data + len};
    pb_field f;
    int rc = 0, more;
    while (!rc && (more = pb_next(&r, &f)) == 0) {
        if (f.wire != 2)
            continue;
        if (f.num == 1)
            rc = add_piece(L, f.sub, err);
        else if (f.num == 2)
            rc = read_trainer(L, f.sub, err);
        else if (f.num == 3)
            rc = read_normalizer(L, f.sub, err);
    }
    if (!rc && more < 0)
        rc = bad_model(err, L->path, "not a protobuf ModelProto");
    if (!rc && !L->s->npieces)
        rc = bad_model(err, L->path, "no pieces");
    return rc;
}

/* eot=ID, eot=TEXT (a piece), or the model's eos piece ("</s>" unless trainer_spec says). */
static int resolve_eot(spm_load *L, const char *eot, tokfs_err *err)
{
    spm *s = L->s;
    if (eot && eot[0] >= '0' && eot[0] <= '9') {
        char *end;
        unsigned long v = strtoul(eot, &end, 10);
        if (*end || v > 0x7fffffffu)
            return tokfs_err_set(err, EINVAL, "bad eot=%s: give an id or a piece's text", eot);
        s->base.eot_id = (uint32_t)v;
        if (v < s->npieces && s->pieces[v].type == PT_CONTROL) {
            const spm_piece *pc = &s->pieces[v];
            if (!(s->eot_text = strndup((const char *)s->text + pc->off, pc->len)))
                return -ENOMEM;
        }
        return 0;
    }
    const uint8_t *want = eot ? (const uint8_t *)eot : L->eos_piece;
    size_t wlen = eot ? strlen(eot) : L->eos_len;
    if (!want || !wlen) {
        want = (const uint8_t *)"</s>";
        wlen = 4;
    }
    int32_t id = smap_id(s, &s->reserved, want, wlen);
    if (id < 0)
        id = smap_id(s, &s->normal, want, wlen);
    if (id < 0 || id == s->unk_id) {
        if (eot)
            return tokfs_err_set(err, EINVAL, "eot=%s: no such piece in tokenizer=%s: give its "
                                 "id or its exact text", eot, L->path);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: the model has no eos piece: add eot=ID "
                             "or eot=PIECE", L->path);
    }
    s->base.eot_id = (uint32_t)id;
    return (s->eot_text = strndup((const char *)want, wlen)) ? 0 : -ENOMEM;
}

int tokfs_tok_spm_open(const char *path, const char *pattern, const char *eot,
                       tokfs_tokenizer **out, tokfs_err *err)
{
    if (pattern)
        return tokfs_err_set(err, EINVAL, "pattern=%s: a SentencePiece model has its own "
                             "normalizer; pattern= is for .tiktoken files", pattern);
    uint8_t *data;
    size_t len;
    int rc = tokfs_read_file(path, (size_t)1 << 30, &data, &len, err);
    if (rc)
        return rc;
    spm *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(path))) {
        free(s);
        free(data);
        return -ENOMEM;
    }
    s->base.name = s->name;
    s->base.kind = "sentencepiece";
    s->base.text_based = 1;
    s->base.bytes_per_token = 4.0;
    s->base.encode = spm_encode;
    s->base.token_bytes = spm_token_bytes;
    s->base.destroy = spm_destroy;
    s->base.model = "sentencepiece";
    s->base.file_name = "tokenizer.model";
    s->base.file_bytes = spm_file_bytes;
    s->model_type = MT_UNIGRAM;
    s->add_dummy_prefix = s->remove_extra_ws = s->escape_ws = 1;
    spm_load L = {.path = path, .s = s};
    rc = parse_model(&L, data, len, err);
    if (!rc && (s->model_type < MT_UNIGRAM || s->model_type > MT_CHAR)) {
        char what[64];
        snprintf(what, sizeof what, "model_type %d", s->model_type);
        rc = refuse(err, path, what);
    }
    if (!rc)
        s->base.model = s->model_type == MT_BPE       ? "bpe"
                        : s->model_type == MT_UNIGRAM ? "unigram"
                        : s->model_type == MT_WORD    ? "word"
                                                      : "char";
    if (!rc)
        rc = index_pieces(&L, err);
    if (!rc && L.charsmap_len) {
        tokfs_err sub;
        if ((rc = tokfs_charsmap_open(L.charsmap, L.charsmap_len, &s->charsmap, &sub)))
            rc = tokfs_err_set(err, -rc, "tokenizer=%s: precompiled_charsmap: %s", path,
                               sub.msg);
    }
    if (!rc)
        rc = build_decoded(s);
    if (!rc)
        rc = resolve_eot(&L, eot, err);
    if (!rc) {
        uint32_t limit = s->npieces;
        if (s->base.eot_id + 1 > limit)
            limit = s->base.eot_id + 1;
        s->base.vocab_size = limit;
        char extra[64];
        int n = snprintf(extra, sizeof extra, "spm eot=%u", s->base.eot_id);
        s->base.fingerprint = tokfs_hash64(extra, (size_t)n, tokfs_hash64(data, len, 0x73706d));
    }
    s->file = data;
    s->file_len = len;
    if (rc) {
        spm_free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}
