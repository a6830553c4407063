/* BPE of one piece, byte-level or over UTF-8 characters (Hugging Face's non-byte-level BPE with
 * byte fallback, unk, prefix and suffix): the merge table, the rank lookups, the per-thread front
 * caches, and the cut finder for whole-text-as-one-word models; exact and O(n log n) for long
 * pieces. */
#include "tokenize/bpe_internal.h"
#include "tokenize/bpe_tables_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/buf.h"
#include "common/endian.h"

/* ---- id arrays ---------------------------------------------------------------------------- */

int tokfs_ids_reserve(tokfs_ids *v, size_t more)
{
    if (v->len + more <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < v->len + more)
        cap *= 2;
    uint32_t *grown = realloc(v->ids, cap * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    v->ids = grown;
    v->cap = cap;
    return 0;
}

void tokfs_ids_free(tokfs_ids *v)
{
    free(v->ids);
    memset(v, 0, sizeof *v);
}

/* ---- the vocabulary ---------------------------------------------------------------------- */

static atomic_uint_fast64_t next_serial = 1;

uint64_t tokfs_bpe_next_serial(void) { return atomic_fetch_add(&next_serial, 1); }

tokfs_bpe *tokfs_bpe_create(tokfs_bpe_rules rules, size_t expected_tokens)
{
    tokfs_bpe *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->rules = rules;
    b->serial = tokfs_bpe_next_serial();
    size_t slots = 1024;
    while (slots < expected_tokens * 2 && slots < (1u << 20))
        slots *= 2;
    b->slots = tokfs_table_calloc(slots, sizeof *b->slots);
    if (!b->slots) {
        free(b);
        return NULL;
    }
    b->nslots = slots;
    /* the entries at their final size: growing them by doubling copied 3 MB for Gemma-3 */
    if (expected_tokens && expected_tokens < (1u << 26) &&
        (b->ents = malloc(expected_tokens * sizeof *b->ents)))
        b->ents_cap = expected_tokens;
    return b;
}

void tokfs_bpe_destroy(tokfs_bpe *b)
{
    if (!b)
        return;
    if (b->image) { /* every array lies in the mapped image file */
        munmap(b->image, b->image_len);
        free(b);
        return;
    }
    free(b->bytes);
    free(b->ents);
    tokfs_table_free(b->slots);
    tokfs_table_free(b->by_id);
    tokfs_table_free(b->pairs);
    tokfs_table_free(b->cut_bits);
    free(b->char_tok);
    free(b);
}

int tokfs_bpe_set_chars(tokfs_bpe *b, const tokfs_bpe_chars *o, tokfs_err *err)
{
    if (b->rules != TOKFS_BPE_MERGES)
        return tokfs_err_set(err, EINVAL, "character-level BPE needs merge rules");
    size_t plen = o->prefix ? strlen(o->prefix) : 0, slen = o->suffix ? strlen(o->suffix) : 0;
    if (plen > sizeof b->prefix || slen > sizeof b->suffix)
        return tokfs_err_set(err, EINVAL, "continuing_subword_prefix or end_of_word_suffix is "
                                          "longer than %zu bytes", sizeof b->prefix);
    b->chars = 1;
    b->byte_fallback = o->byte_fallback != 0;
    b->fuse_unk = o->fuse_unk != 0;
    b->unk_id = o->unk_id < 0 ? -1 : o->unk_id;
    memcpy(b->prefix, o->prefix ? o->prefix : "", plen);
    memcpy(b->suffix, o->suffix ? o->suffix : "", slen);
    b->plen = plen;
    b->slen = slen;
    return 0;
}

static int64_t lookup_key(const tokfs_bpe *b, const uint8_t *p, size_t n, uint64_t key)
{
    size_t mask = b->nslots - 1;
    for (size_t i = tokfs_mix64(key) & mask;; i = (i + 1) & mask) {
        const vocab_slot *s = &b->slots[i];
        if (!s->ent1)
            return -1;
        if (s->key == key) {
            if (n <= 7)
                return s->id;
            const tok_ent *e = &b->ents[s->ent1 - 1];
            if (e->len == n && memcmp(b->bytes + e->off, p, n) == 0)
                return s->id;
        }
    }
}

int64_t tokfs_bpe_lookup(const tokfs_bpe *b, const uint8_t *bytes, size_t len)
{
    if (len == 0 || len > b->max_token_len)
        return -1;
    return lookup_key(b, bytes, len, vocab_key(bytes, len));
}

static void slot_insert(vocab_slot *slots, size_t nslots, uint64_t key, uint32_t ent1,
                        uint32_t id)
{
    size_t i = tokfs_mix64(key) & (nslots - 1);
    while (slots[i].ent1)
        i = (i + 1) & (nslots - 1);
    slots[i] = (vocab_slot){.key = key, .ent1 = ent1, .id = id};
}

static int grow_slots(tokfs_bpe *b)
{
    size_t nslots = b->nslots * 2;
    vocab_slot *slots = tokfs_table_calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < b->count; k++) {
        const tok_ent *e = &b->ents[k];
        slot_insert(slots, nslots, vocab_key(b->bytes + e->off, e->len), (uint32_t)k + 1, e->id);
    }
    tokfs_table_free(b->slots);
    b->slots = slots;
    b->nslots = nslots;
    return 0;
}

int tokfs_bpe_add_token(tokfs_bpe *b, const uint8_t *bytes, size_t len, uint32_t id,
                        tokfs_err *err)
{
    if (len == 0 || len > 65536 || id > 0x7fffffffu)
        return tokfs_err_set(err, EINVAL, "token id %u: empty, too long or id too large", id);
    uint64_t key = vocab_key(bytes, len);
    uint32_t saved_max = b->max_token_len;
    if (len > b->max_token_len)
        b->max_token_len = (uint32_t)len;
    int64_t old = lookup_key(b, bytes, len, key);
    if (old >= 0) {
        b->max_token_len = saved_max;
        return tokfs_err_set(err, EEXIST, "ids %lld and %u are the same token",
                             (long long)old, id);
    }
    if ((b->count + 1) * 2 > b->nslots && grow_slots(b))
        return -ENOMEM;
    if (b->count == b->ents_cap) {
        size_t cap = b->ents_cap ? b->ents_cap * 2 : 1024;
        tok_ent *grown = realloc(b->ents, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        b->ents = grown;
        b->ents_cap = cap;
    }
    if (b->bytes_len + len > b->bytes_cap) {
        size_t cap = b->bytes_cap ? b->bytes_cap : 65536;
        while (cap < b->bytes_len + len)
            cap *= 2;
        if (cap > 0xffffffffu)
            return tokfs_err_set(err, EFBIG, "vocabulary bytes exceed 4 GiB");
        uint8_t *grown = realloc(b->bytes, cap);
        if (!grown)
            return -ENOMEM;
        b->bytes = grown;
        b->bytes_cap = cap;
    }
    memcpy(b->bytes + b->bytes_len, bytes, len);
    b->ents[b->count] = (tok_ent){.off = (uint32_t)b->bytes_len, .len = (uint32_t)len, .id = id};
    b->bytes_len += len;
    slot_insert(b->slots, b->nslots, key, (uint32_t)b->count + 1, id);
    b->count++;
    if (id + 1 > b->id_limit)
        b->id_limit = id + 1;
    return 0;
}

/* ---- merge pairs (Hugging Face rules) --------------------------------------------------- */

static inline uint64_t pair_key(uint32_t left, uint32_t right)
{
    return ((uint64_t)(left + 1) << 32) | (uint64_t)(right + 1); /* never 0 */
}

static const pair_slot *pair_find(const tokfs_bpe *b, uint64_t key)
{
    size_t mask = b->pair_slots - 1;
    for (size_t i = tokfs_mix64(key) & mask;; i = (i + 1) & mask) {
        const pair_slot *s = &b->pairs[i];
        if (s->key == key)
            return s;
        if (!s->key)
            return NULL;
    }
}

/* A mapped image's tables must be sound and answer as this build's code would. Sound: every
 * index the encoder follows stays inside its array (token bytes, entry and id references, merge
 * results), so even an image written by someone else cannot make encoding read out of bounds.
 * Answering: a sample of tokens, spread over the vocabulary, each found at its own id, and a
 * sample of occupied merge slots, each found by its own key — this catches an image from a build
 * whose hash functions or slot layout differ though the format version was not raised. One pass
 * over the tables (Gemma-3: a few ms, against 0.4 s to build them). 0 or -EINVAL. */
int tokfs_bpe_tables_check(const tokfs_bpe *b)
{
    if (b->max_token_len > 65536 || b->count > UINT32_MAX - 1 || !b->by_id)
        return -EINVAL;
    for (size_t k = 0; k < b->count; k++) {
        const tok_ent *e = &b->ents[k];
        if (!e->len || e->len > b->max_token_len || (uint64_t)e->off + e->len > b->bytes_len ||
            e->id >= b->id_limit || b->by_id[e->id] != k + 1)
            return -EINVAL;
    }
    for (size_t i = 0; i < b->nslots; i++) {
        const vocab_slot *s = &b->slots[i];
        if (s->ent1 && (s->ent1 > b->count || b->ents[s->ent1 - 1].id != s->id))
            return -EINVAL;
    }
    for (uint32_t id = 0; id < b->id_limit; id++)
        if (b->by_id[id] > b->count)
            return -EINVAL;
    for (size_t i = 0; i < b->pair_slots; i++) {
        uint64_t key = b->pairs[i].key;
        if (key && ((uint32_t)(key >> 32) - 1 >= b->id_limit || (uint32_t)key - 1 >= b->id_limit ||
                    b->pairs[i].merged >= b->id_limit))
            return -EINVAL;
    }
    for (int c = 0; c < 256; c++)
        if ((!b->chars && b->byte_id[c] >= b->id_limit) ||
            (b->chars && b->fb_id[c] >= (int64_t)b->id_limit))
            return -EINVAL;
    for (int c = 0; c < 128; c++)
        if (b->chars && b->ascii_id[c] >= (int64_t)b->id_limit)
            return -EINVAL;
    if (b->chars && b->unk_id >= (int64_t)b->id_limit)
        return -EINVAL;
    size_t step = b->count > 256 ? b->count / 256 : 1;
    for (size_t k = 0; k < b->count; k += step) {
        const tok_ent *e = &b->ents[k];
        if (tokfs_bpe_lookup(b, b->bytes + e->off, e->len) != (int64_t)e->id)
            return -EINVAL;
    }
    size_t seen = 0;
    step = b->pair_slots > 4096 ? b->pair_slots / 4096 : 1;
    for (size_t i = 0; i < b->pair_slots && seen < 256; i += step) {
        if (!b->pairs[i].key)
            continue;
        if (pair_find(b, b->pairs[i].key) != &b->pairs[i])
            return -EINVAL;
        seen++;
    }
    return b->npairs && !seen ? -EINVAL : 0;
}

/* Re-hash the pair table into n slots (a power of two above twice the pairs). */
static int pair_resize(tokfs_bpe *b, size_t n)
{
    pair_slot *slots = tokfs_table_calloc(n, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < b->pair_slots; k++) {
        if (!b->pairs[k].key)
            continue;
        size_t i = tokfs_mix64(b->pairs[k].key) & (n - 1);
        while (slots[i].key)
            i = (i + 1) & (n - 1);
        slots[i] = b->pairs[k];
    }
    tokfs_table_free(b->pairs);
    b->pairs = slots;
    b->pair_slots = n;
    return 0;
}

static int pair_grow(tokfs_bpe *b)
{
    return pair_resize(b, b->pair_slots ? b->pair_slots * 2 : 4096);
}

int tokfs_bpe_reserve_merges(tokfs_bpe *b, size_t n)
{
    size_t want = b->pair_slots ? b->pair_slots : 4096;
    while (want < 2 * n) /* the load factor add_merge keeps; one table, not log2(n) */
        want *= 2;
    return want > b->pair_slots ? pair_resize(b, want) : 0;
}

int tokfs_bpe_add_merge(tokfs_bpe *b, const uint8_t *left, size_t llen, const uint8_t *right,
                        size_t rlen, uint32_t priority, tokfs_err *err)
{
    int64_t l = tokfs_bpe_lookup(b, left, llen), r = tokfs_bpe_lookup(b, right, rlen);
    if (l < 0 || r < 0)
        return tokfs_err_set(err, EINVAL, "merge #%u: a part is not in the vocabulary", priority);
    /* Hugging Face builds the merged token as left + right without right's first
     * prefix-length bytes (models/bpe/model.rs, build). */
    size_t skip = b->chars ? b->plen : 0;
    if (rlen < skip)
        return tokfs_err_set(err, EINVAL,
                             "merge #%u: the right part is shorter than the continuing prefix",
                             priority);
    right += skip;
    rlen -= skip;
    uint8_t stackbuf[512];
    uint8_t *cat = llen + rlen <= sizeof stackbuf ? stackbuf : malloc(llen + rlen ? llen + rlen : 1);
    if (!cat)
        return -ENOMEM;
    memcpy(cat, left, llen);
    memcpy(cat + llen, right, rlen);
    int64_t m = tokfs_bpe_lookup(b, cat, llen + rlen);
    if (cat != stackbuf)
        free(cat);
    if (m < 0)
        return tokfs_err_set(err, EINVAL,
                             "merge #%u: the merged token is not in the vocabulary", priority);
    if ((b->npairs + 1) * 2 > b->pair_slots && pair_grow(b))
        return -ENOMEM;
    uint64_t key = pair_key((uint32_t)l, (uint32_t)r);
    size_t mask = b->pair_slots - 1;
    size_t i = tokfs_mix64(key) & mask;
    while (b->pairs[i].key && b->pairs[i].key != key)
        i = (i + 1) & mask;
    if (!b->pairs[i].key)
        b->npairs++;
    /* a repeated pair overwrites: Hugging Face's merge map keeps the last line */
    b->pairs[i] = (pair_slot){.key = key, .priority = priority, .merged = (uint32_t)m};
    return 0;
}

/* The pipeline of tokfs_bpe_add_merges: a ring of RING rules in flight. Stage 1 (RING - 1 rules
 * ahead) computes the three keys — left, right, and left + right (minus the continuing prefix,
 * as add_merge builds it) — and prefetches their vocabulary slots; stage 2 (PAIR_AHEAD rules
 * ahead) finds the parts' ids, their slots cached by then, and prefetches the pair slot; stage 3
 * finds the merged id and inserts the pair. Anything unusual (a missing part, a part longer than
 * the scratch) is left to tokfs_bpe_add_merge, which says what is wrong. */
#define MERGE_RING 16
#define MERGE_PAIR_AHEAD 8
#define MERGE_SCRATCH 512

typedef struct merge_stage {
    uint64_t kl, kr, km; /* keys; km valid when cat_ok */
    int64_t l, r;        /* ids after stage 2; -1 unknown or missing */
    int cat_ok;          /* the merged bytes fit the scratch */
} merge_stage;

/* left + right[skip:] into out (MERGE_SCRATCH bytes); its length, or 0 when it does not fit. */
static size_t merged_bytes(const tokfs_bpe_merge_rule *m, size_t skip, uint8_t *out)
{
    if (m->rlen < skip || m->llen + (m->rlen - skip) > MERGE_SCRATCH)
        return 0;
    memcpy(out, m->left, m->llen);
    memcpy(out + m->llen, m->right + skip, m->rlen - skip);
    return m->llen + (m->rlen - skip);
}

static void merge_stage1(const tokfs_bpe *b, const tokfs_bpe_merge_rule *m, size_t skip,
                         merge_stage *st)
{
    uint8_t cat[MERGE_SCRATCH];
    size_t mask = b->nslots - 1;
    st->kl = vocab_key(m->left, m->llen);
    st->kr = vocab_key(m->right, m->rlen);
    size_t n = merged_bytes(m, skip, cat);
    st->cat_ok = n > 0;
    st->km = n ? vocab_key(cat, n) : 0;
    st->l = st->r = -1;
    __builtin_prefetch(&b->slots[tokfs_mix64(st->kl) & mask]);
    __builtin_prefetch(&b->slots[tokfs_mix64(st->kr) & mask]);
    if (n)
        __builtin_prefetch(&b->slots[tokfs_mix64(st->km) & mask]);
}

static void merge_stage2(const tokfs_bpe *b, const tokfs_bpe_merge_rule *m, merge_stage *st)
{
    st->l = m->llen && m->llen <= b->max_token_len ? lookup_key(b, m->left, m->llen, st->kl) : -1;
    st->r = m->rlen && m->rlen <= b->max_token_len ? lookup_key(b, m->right, m->rlen, st->kr) : -1;
    if (st->l >= 0 && st->r >= 0 && b->pair_slots)
        __builtin_prefetch(&b->pairs[tokfs_mix64(pair_key((uint32_t)st->l, (uint32_t)st->r)) &
                                     (b->pair_slots - 1)], 1);
}

int tokfs_bpe_add_merges(tokfs_bpe *b, const tokfs_bpe_merge_rule *rules, size_t n,
                         uint32_t first, size_t *failed, tokfs_err *err)
{
    merge_stage ring[MERGE_RING];
    size_t skip = b->chars ? b->plen : 0;
    uint8_t cat[MERGE_SCRATCH];
    for (size_t k = 0; k < MERGE_RING - 1 && k < n; k++)
        merge_stage1(b, &rules[k], skip, &ring[k % MERGE_RING]);
    for (size_t k = 0; k < MERGE_PAIR_AHEAD && k < n; k++)
        merge_stage2(b, &rules[k], &ring[k % MERGE_RING]);
    for (size_t i = 0; i < n; i++) {
        if (i + MERGE_RING - 1 < n)
            merge_stage1(b, &rules[i + MERGE_RING - 1], skip, &ring[(i + MERGE_RING - 1) % MERGE_RING]);
        if (i + MERGE_PAIR_AHEAD < n)
            merge_stage2(b, &rules[i + MERGE_PAIR_AHEAD], &ring[(i + MERGE_PAIR_AHEAD) % MERGE_RING]);
        const tokfs_bpe_merge_rule *m = &rules[i];
        merge_stage *st = &ring[i % MERGE_RING];
        uint32_t priority = first + (uint32_t)i;
        size_t cn = st->cat_ok ? merged_bytes(m, skip, cat) : 0;
        int64_t merged = cn && cn <= b->max_token_len ? lookup_key(b, cat, cn, st->km) : -1;
        if (st->l < 0 || st->r < 0 || merged < 0 || (b->npairs + 1) * 2 > b->pair_slots) {
            int rc = tokfs_bpe_add_merge(b, m->left, m->llen, m->right, m->rlen, priority, err);
            if (rc) {
                *failed = i;
                return rc;
            }
            continue;
        }
        uint64_t key = pair_key((uint32_t)st->l, (uint32_t)st->r);
        size_t mask = b->pair_slots - 1;
        size_t s = tokfs_mix64(key) & mask;
        while (b->pairs[s].key && b->pairs[s].key != key)
            s = (s + 1) & mask;
        if (!b->pairs[s].key)
            b->npairs++;
        /* a repeated pair overwrites: Hugging Face's merge map keeps the last line */
        b->pairs[s] = (pair_slot){.key = key, .priority = priority, .merged = (uint32_t)merged};
    }
    return 0;
}

/* ---- units and the cut table ------------------------------------------------------------- */

/* Length of the UTF-8 character led by byte c (1 for a stray continuation byte, which valid text
 * never has; tokens and text are decoded the same way, which is all the cut table needs). */
static inline size_t utf8_len(uint8_t c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* The code point of the k-byte character at p (k from utf8_len). */
static inline uint32_t utf8_cp(const uint8_t *p, size_t k)
{
    static const uint8_t lead_mask[5] = {0, 0xFF, 0x1F, 0x0F, 0x07};
    uint32_t cp = p[0] & lead_mask[k];
    for (size_t j = 1; j < k; j++)
        cp = cp << 6 | (p[j] & 0x3F);
    return cp;
}

static inline uint64_t cut_index(const tokfs_bpe *b, uint32_t u1, uint32_t u2)
{
    return tokfs_mix64((uint64_t)u1 << 32 | u2) & b->cut_mask;
}

static inline int cut_bit(const tokfs_bpe *b, uint32_t u1, uint32_t u2)
{
    uint64_t i = cut_index(b, u1, u2);
    return (int)(b->cut_bits[i >> 6] >> (i & 63) & 1);
}

/* Character mode: code point cp alone is a token (utf8_cp of a stray byte stays below the
 * limit too: a lead byte's bits alone). */
static inline int char_is_token(const tokfs_bpe *b, uint32_t cp)
{
    return cp < CP_LIMIT && (int)(b->char_tok[cp >> 6] >> (cp & 63) & 1);
}

/* Walk the units of every token, calling fn on each adjacent pair. */
static void token_pairs(tokfs_bpe *b, void (*fn)(tokfs_bpe *, uint32_t, uint32_t))
{
    for (size_t t = 0; t < b->count; t++) {
        const uint8_t *p = b->bytes + b->ents[t].off;
        size_t n = b->ents[t].len, k = b->chars ? utf8_len(p[0]) : 1;
        if (k > n)
            k = n;
        uint32_t prev = b->chars ? utf8_cp(p, k) : p[0];
        for (size_t i = k; i < n; i += k) {
            k = b->chars ? utf8_len(p[i]) : 1;
            if (i + k > n)
                k = n - i;
            uint32_t u = b->chars ? utf8_cp(p + i, k) : p[i];
            fn(b, prev, u);
            prev = u;
        }
    }
}

static void pair_count(tokfs_bpe *b, uint32_t u1, uint32_t u2)
{
    (void)u1;
    (void)u2;
    b->cut_mask++; /* used as a counter before the bitmap exists */
}

static void pair_set(tokfs_bpe *b, uint32_t u1, uint32_t u2)
{
    uint64_t i = cut_index(b, u1, u2);
    b->cut_bits[i >> 6] |= 1ull << (i & 63);
}

/* Character mode: may the piece be cut between code points c1 and c2 (see tokfs_bpe_cut). */
static inline int cut_rule(const tokfs_bpe *b, uint32_t c1, uint32_t c2)
{
    int t1 = char_is_token(b, c1), t2 = char_is_token(b, c2);
    return t1 && t2 ? !cut_bit(b, c1, c2) : b->fb_inert;
}

/* The cut table: one bit per hashed adjacent pair of units inside any token, 16 bits per pair
 * (about 6% of the probes of an absent pair collide and only lose a cut), at most 4 MB. */
static int cut_build(tokfs_bpe *b)
{
    tokfs_table_free(b->cut_bits);
    free(b->char_tok);
    b->cut_bits = NULL;
    b->char_tok = NULL;
    b->cut_ok = !b->whole_piece_first && b->plen == 0 && b->slen == 0;
    if (!b->cut_ok)
        return 0;
    b->cut_mask = 0;
    token_pairs(b, pair_count);
    uint64_t bits = 4096;
    while (bits < b->cut_mask * 16 && bits < (1ull << 25))
        bits *= 2;
    b->cut_bits = tokfs_table_calloc(bits / 64, sizeof *b->cut_bits);
    if (!b->cut_bits)
        return -ENOMEM;
    b->cut_mask = bits - 1;
    token_pairs(b, pair_set);
    if (!b->chars)
        return 0;
    b->char_tok = calloc(CP_LIMIT / 64, sizeof *b->char_tok);
    if (!b->char_tok)
        return -ENOMEM;
    for (size_t t = 0; t < b->count; t++) {
        const uint8_t *p = b->bytes + b->ents[t].off;
        size_t n = b->ents[t].len;
        if (utf8_len(p[0]) == n) {
            uint32_t cp = utf8_cp(p, n);
            if (cp < CP_LIMIT)
                b->char_tok[cp >> 6] |= 1ull << (cp & 63);
        }
    }
    b->fb_inert = b->byte_fallback;
    for (int c = 0; c < 256 && b->fb_inert; c++)
        b->fb_inert = b->fb_id[c] >= 0;
    if (b->fb_inert) {
        /* no merge rule may have a fallback token on either side */
        uint8_t *is_fb = calloc(b->id_limit ? b->id_limit : 1, 1);
        if (!is_fb)
            return -ENOMEM;
        for (int c = 0; c < 256; c++)
            is_fb[b->fb_id[c]] = 1;
        for (size_t k = 0; k < b->pair_slots && b->fb_inert; k++) {
            uint64_t key = b->pairs[k].key;
            if (key && (is_fb[(uint32_t)(key >> 32) - 1] || is_fb[(uint32_t)key - 1]))
                b->fb_inert = 0;
        }
        free(is_fb);
    }
    memset(b->ascii_cut, 0, sizeof b->ascii_cut);
    for (uint32_t x = 0; x < 128; x++)
        for (uint32_t y = 0; y < 128; y++)
            if (cut_rule(b, x, y))
                b->ascii_cut[x][y >> 6] |= 1ull << (y & 63);
    return 0;
}

/* Why a cut is exact. Take a position i between units c1 (ending at i) and c2 (starting at i),
 * with no prefix or suffix and no whole-piece lookup.
 *   Case 1: c1 and c2 are tokens by themselves (bytes always are in byte mode; in character
 * mode the char_tok bitmap says so) and no token contains the adjacent pair c1 c2. The initial
 * parts of c1 and c2 are the tokens c1 and c2: no byte fallback, no unk, and no unk pending
 * across i (c1 flushed it), so the initial parts of the whole piece are those of text[0..i)
 * followed by those of text[i..len). A merge of parts L and R yields the token str(L) + str(R)
 * (concatenations of whole UTF-8 tokens, so unit boundaries are kept). If L ended at i and R
 * started at i, that token would contain the adjacent units c1 c2, which no token does.
 *   Case 2 (fb_inert: byte fallback with all 256 <0xNN> tokens, and no merge rule has one on
 * either side): c1 or c2 is not a token. Every character is then a token or falls back, so no
 * unk ever appears and nothing is pending at i: the initial parts again split at i. The part
 * next to i on the side of the character that is not a token is a <0xNN> token, which never
 * merges with anything, so again no merge joins parts across i.
 *   Either way every pair the merge loop considers lies on one side of i; the lowest-priority
 * (leftmost on ties) pair of one side is the same whether or not the other side is there, so each
 * side goes through exactly the merges it goes through alone, interleaved, and the result is
 * the concatenation. A set bit that is only a hash collision makes us miss a cut, never make a
 * wrong one. */
size_t tokfs_bpe_cut(const tokfs_bpe *b, const uint8_t *text, size_t len, size_t from)
{
    if (!b->cut_ok || !b->cut_bits)
        return len;
    size_t i = from ? from : 1;
    if (!b->chars) {
        for (; i < len; i++)
            if (!cut_bit(b, text[i - 1], text[i]))
                return i;
        return len;
    }
    while (i < len && (text[i] & 0xC0) == 0x80)
        i++;
    if (i >= len)
        return len;
    size_t s1 = i - 1;
    while (s1 > 0 && (text[s1] & 0xC0) == 0x80 && i - s1 < 4)
        s1--;
    uint32_t c1 = utf8_cp(text + s1, i - s1);
    while (i < len) {
        size_t k2 = 1;
        uint32_t c2 = text[i];
        if (c2 >= 0x80) {
            k2 = utf8_len(text[i]);
            if (i + k2 > len)
                k2 = len - i;
            c2 = utf8_cp(text + i, k2);
        }
        if ((c1 | c2) < 128 ? (int)(b->ascii_cut[c1][c2 >> 6] >> (c2 & 63) & 1)
                            : cut_rule(b, c1, c2))
            return i;
        c1 = c2;
        i += k2;
    }
    return len;
}

int tokfs_bpe_finish(tokfs_bpe *b, int whole_piece_first, tokfs_err *err)
{
    b->whole_piece_first = whole_piece_first;
    /* Re-size the table to the final count (load <= 1/2): the smaller it is, the more of it
     * stays in the CPU cache. */
    size_t want = 1024;
    while (want < b->count * 2)
        want *= 2;
    if (want < b->nslots) {
        vocab_slot *slots = tokfs_table_calloc(want, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t k = 0; k < b->count; k++) {
            const tok_ent *e = &b->ents[k];
            slot_insert(slots, want, vocab_key(b->bytes + e->off, e->len), (uint32_t)k + 1, e->id);
        }
        tokfs_table_free(b->slots);
        b->slots = slots;
        b->nslots = want;
    }
    for (int c = 0; c < 256 && !b->chars; c++) {
        uint8_t byte = (uint8_t)c;
        int64_t id = tokfs_bpe_lookup(b, &byte, 1);
        if (id < 0)
            return tokfs_err_set(err, EINVAL,
                                 "byte 0x%02X is not a token: byte-level BPE needs all 256 bytes "
                                 "in the vocabulary", c);
        b->byte_id[c] = (uint32_t)id;
    }
    if (b->chars) {
        for (int c = 0; c < 256; c++) {
            /* Hugging Face's format!("<{b:#04X}>"): "<0x" then two upper-case hex digits */
            char name[8];
            static const char hex[] = "0123456789ABCDEF";
            memcpy(name, "<0x", 3);
            name[3] = hex[c >> 4];
            name[4] = hex[c & 15];
            name[5] = '>';
            b->fb_id[c] = tokfs_bpe_lookup(b, (const uint8_t *)name, 6);
        }
        for (int c = 0; c < 128; c++) {
            uint8_t ch = (uint8_t)c;
            b->ascii_id[c] = tokfs_bpe_lookup(b, &ch, 1);
        }
    }
    tokfs_table_free(b->by_id);
    b->by_id = tokfs_table_calloc(b->id_limit ? b->id_limit : 1, sizeof *b->by_id);
    if (!b->by_id)
        return -ENOMEM;
    for (size_t k = 0; k < b->count; k++) {
        uint32_t id = b->ents[k].id;
        if (b->by_id[id])
            return tokfs_err_set(err, EEXIST, "id %u is given to two tokens", id);
        b->by_id[id] = (uint32_t)k + 1;
    }
    if (b->chars && b->unk_id >= 0 &&
        ((uint64_t)b->unk_id >= b->id_limit || !b->by_id[b->unk_id]))
        return tokfs_err_set(err, EINVAL, "the unk id %lld is not a token", (long long)b->unk_id);
    if (b->rules == TOKFS_BPE_MERGES && !b->pairs && pair_grow(b))
        return -ENOMEM;
    return cut_build(b);
}

const uint8_t *tokfs_bpe_token(const tokfs_bpe *b, uint32_t id, size_t *len)
{
    if (!b->by_id || id >= b->id_limit || !b->by_id[id])
        return NULL;
    const tok_ent *e = &b->ents[b->by_id[id] - 1];
    *len = e->len;
    return b->bytes + e->off;
}

size_t tokfs_bpe_count(const tokfs_bpe *b) { return b->count; }
uint32_t tokfs_bpe_id_limit(const tokfs_bpe *b) { return b->id_limit; }

size_t tokfs_bpe_memory(const tokfs_bpe *b)
{
    return sizeof *b + b->bytes_cap + b->ents_cap * sizeof(tok_ent) +
           b->nslots * sizeof(vocab_slot) + (size_t)b->id_limit * sizeof(uint32_t) +
           b->pair_slots * sizeof(pair_slot) + (b->cut_bits ? (b->cut_mask + 1) / 8 : 0) +
           (b->char_tok ? CP_LIMIT / 8 : 0);
}

/* ---- the merge loop ---------------------------------------------------------------------- */

#define NO_PAIR UINT32_MAX

/* Priority and merged id of the adjacent parts piece[ls..mid) and piece[mid..re) with ids
 * lid, rid. NO_PAIR when they do not merge. */
/* A per-thread memo of recent pair lookups, (left id, right id) → priority and merged id
 * (NO_PAIR included): merging a piece asks about the same pairs again and again, and most of
 * them are not tokens — a miss that would otherwise walk the vocabulary table. */
#define MEMO_BITS 14
#define MEMO_SLOTS (1u << MEMO_BITS)

typedef struct pair_memo {
    uint32_t left, right, priority, merged;
} pair_memo;

static uint32_t pair_lookup(const tokfs_bpe *b, const uint8_t *piece, size_t ls, size_t re,
                            uint32_t lid, uint32_t rid, uint32_t *merged);

/* With a memo (NULL: none). */
static inline uint32_t pair_priority_m(const tokfs_bpe *b, pair_memo *memo, const uint8_t *piece,
                                       size_t ls, size_t re, uint32_t lid, uint32_t rid,
                                       uint32_t *merged)
{
    if (!memo)
        return pair_lookup(b, piece, ls, re, lid, rid, merged);
    uint64_t pair = (uint64_t)lid << 32 | rid;
    pair_memo *m = &memo[(pair * 0x9E3779B97F4A7C15ull) >> (64 - MEMO_BITS)];
    if (m->left == lid && m->right == rid) {
        *merged = m->merged;
        return m->priority;
    }
    uint32_t pr = pair_lookup(b, piece, ls, re, lid, rid, merged);
    *m = (pair_memo){.left = lid, .right = rid, .priority = pr, .merged = *merged};
    return pr;
}

static uint32_t pair_lookup(const tokfs_bpe *b, const uint8_t *piece, size_t ls, size_t re,
                            uint32_t lid, uint32_t rid, uint32_t *merged)
{
    if (b->rules == TOKFS_BPE_RANKS) {
        int64_t id = tokfs_bpe_lookup(b, piece + ls, re - ls);
        *merged = 0;
        if (id < 0)
            return NO_PAIR;
        *merged = (uint32_t)id;
        return (uint32_t)id;
    }
    const pair_slot *s = pair_find(b, pair_key(lid, rid));
    *merged = 0;
    if (!s)
        return NO_PAIR;
    *merged = s->merged;
    return s->priority;
}

#define SMALL_PIECE 128

/* Up to SMALL_PIECE parts: arrays, a scan for the lowest pair per merge (tiktoken's way; faster
 * than a heap at this size). start[0..m] and id[0..m) hold the initial parts; start (byte
 * offsets into p) is read only by the rank rules, which byte mode alone uses. Always inlined so
 * that the byte-mode caller compiles as before. */
static inline __attribute__((always_inline)) int
merge_small_run(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, uint32_t *start,
                uint32_t *id, size_t m, tokfs_ids *out)
{
    uint32_t prio[SMALL_PIECE], merged[SMALL_PIECE];
    for (size_t k = 0; k + 1 < m; k++)
        prio[k] = pair_priority_m(b, memo, p, start[k], start[k + 2], id[k], id[k + 1], &merged[k]);
    while (m > 1) {
        size_t best = 0;
        uint32_t best_prio = NO_PAIR;
        for (size_t k = 0; k + 1 < m; k++)
            if (prio[k] < best_prio) {
                best_prio = prio[k];
                best = k;
            }
        if (best_prio == NO_PAIR)
            break;
        id[best] = merged[best];
        /* drop part best+1 */
        memmove(&start[best + 1], &start[best + 2], (m - best - 1) * sizeof start[0]);
        memmove(&id[best + 1], &id[best + 2], (m - best - 2) * sizeof id[0]);
        memmove(&prio[best + 1], &prio[best + 2], (m - best - 2) * sizeof prio[0]);
        memmove(&merged[best + 1], &merged[best + 2], (m - best - 2) * sizeof merged[0]);
        m--;
        if (best + 1 < m)
            prio[best] = pair_priority_m(b, memo, p, start[best], start[best + 2], id[best], id[best + 1],
                                       &merged[best]);
        if (best > 0)
            prio[best - 1] = pair_priority_m(b, memo, p, start[best - 1], start[best + 1], id[best - 1],
                                           id[best], &merged[best - 1]);
    }
    if (tokfs_ids_reserve(out, m))
        return -ENOMEM;
    if (m) /* character mode may drop every character (no unk): out->ids may be NULL */
        memcpy(out->ids + out->len, id, m * sizeof id[0]);
    out->len += m;
    return 0;
}

/* Byte mode, a piece of up to SMALL_PIECE bytes. */
static int merge_small(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, size_t n,
                       tokfs_ids *out)
{
    uint32_t start[SMALL_PIECE + 1], id[SMALL_PIECE];
    for (size_t k = 0; k < n; k++) {
        start[k] = (uint32_t)k;
        id[k] = b->byte_id[p[k]];
    }
    start[n] = (uint32_t)n;
    return merge_small_run(b, memo, p, start, id, n, out);
}

/* Character mode (merge rules: only ids matter), up to SMALL_PIECE initial parts. */
static int merge_small_ids(const tokfs_bpe *b, pair_memo *memo, const uint32_t *ids, size_t m,
                           tokfs_ids *out)
{
    uint32_t start[SMALL_PIECE + 1], id[SMALL_PIECE];
    for (size_t k = 0; k < m; k++) {
        start[k] = (uint32_t)k;
        id[k] = ids[k];
    }
    start[m] = (uint32_t)m;
    return merge_small_run(b, memo, NULL, start, id, m, out);
}

/* A min-heap of (priority << 32 | start byte of the left part): lowest priority first, leftmost
 * on ties. Entries go stale when their parts change; a popped entry is used only if the pair now
 * at that position still has that priority (then it is a current pair, and the lowest). */
typedef struct heap64 {
    uint64_t *v;
    size_t n, cap;
} heap64;

static int heap_push(heap64 *h, uint64_t x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        uint64_t *grown = realloc(h->v, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        h->v = grown;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent] <= x)
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = x;
    return 0;
}

static uint64_t heap_pop(heap64 *h)
{
    uint64_t top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (x <= h->v[c])
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = x;
    return top;
}

#define DEAD UINT32_MAX

/* Long pieces: parts are linked by the index of their first initial part (its start byte in
 * byte mode, which the rank rules read through p); O(n log n). id[0..n) holds the initial parts
 * and is overwritten; the caller frees it. */
static int merge_large_run(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, uint32_t *id,
                           size_t n, tokfs_ids *out)
{
    int rc = -ENOMEM;
    uint32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    heap64 h = {0};
    if (!next || !prev)
        goto done;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)i - 1; /* wraps to DEAD for 0: never read */
    }
    uint32_t merged = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t pr = pair_priority_m(b, memo, p, i, i + 2, id[i], id[i + 1], &merged);
        if (pr != NO_PAIR && heap_push(&h, ((uint64_t)pr << 32) | i))
            goto done;
    }
    while (h.n) {
        uint64_t top = heap_pop(&h);
        uint32_t pr = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (id[i] == DEAD || next[i] >= n)
            continue;
        uint32_t j = next[i];
        if (pair_priority_m(b, memo, p, i, next[j], id[i], id[j], &merged) != pr)
            continue; /* stale */
        id[i] = merged;
        id[j] = DEAD;
        next[i] = next[j];
        if (next[i] < n)
            prev[next[i]] = i;
        if (i > 0) {
            uint32_t k = prev[i];
            uint32_t kp = pair_priority_m(b, memo, p, k, next[i], id[k], id[i], &merged);
            if (kp != NO_PAIR && heap_push(&h, ((uint64_t)kp << 32) | k))
                goto done;
        }
        if (next[i] < n) {
            uint32_t r = next[i];
            uint32_t rp = pair_priority_m(b, memo, p, i, next[r], id[i], id[r], &merged);
            if (rp != NO_PAIR && heap_push(&h, ((uint64_t)rp << 32) | i))
                goto done;
        }
    }
    size_t parts = 0;
    for (size_t i = 0; i < n; i = next[i])
        parts++;
    if (tokfs_ids_reserve(out, parts))
        goto done;
    for (size_t i = 0; i < n; i = next[i])
        out->ids[out->len++] = id[i];
    rc = 0;
done:
    free(next);
    free(prev);
    free(h.v);
    return rc;
}

/* Byte mode, any length. */
static int merge_large(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, size_t n,
                       tokfs_ids *out)
{
    uint32_t *id = malloc(n * sizeof *id);
    if (!id)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        id[i] = b->byte_id[p[i]];
    int rc = merge_large_run(b, memo, p, id, n, out);
    free(id);
    return rc;
}

/* Character mode: the initial parts of piece p[0..n), as Hugging Face's merge_word makes them,
 * into ids (room for n * (1 + prefix length) + suffix length: a character of k bytes gives at
 * most prefix + k (+ suffix, on the last) fallback bytes). Their count in *m. */
static void char_parts(const tokfs_bpe *b, const uint8_t *p, size_t n, uint32_t *ids, size_t *m)
{
    size_t cnt = 0;
    int pending = 0; /* an unk part not yet written */
    uint8_t buf[64 + 4 + 64];
    for (size_t i = 0, k; i < n; i += k) {
        k = utf8_len(p[i]);
        if (i + k > n)
            k = n - i;
        const uint8_t *w = p + i; /* the written form: [prefix] char [suffix] */
        size_t wl = k;
        int pre = i > 0 && b->plen, suf = i + k == n && b->slen;
        if (pre || suf) {
            wl = 0;
            if (pre) {
                memcpy(buf, b->prefix, b->plen);
                wl = b->plen;
            }
            memcpy(buf + wl, p + i, k);
            wl += k;
            if (suf) {
                memcpy(buf + wl, b->suffix, b->slen);
                wl += b->slen;
            }
            w = buf;
        }
        int64_t id = wl == 1 && w[0] < 0x80 ? b->ascii_id[w[0]] : tokfs_bpe_lookup(b, w, wl);
        if (id >= 0) {
            if (pending)
                ids[cnt++] = (uint32_t)b->unk_id;
            pending = 0;
            ids[cnt++] = (uint32_t)id;
            continue;
        }
        if (b->byte_fallback) {
            size_t j = 0;
            while (j < wl && b->fb_id[w[j]] >= 0)
                j++;
            if (j == wl) {
                /* Hugging Face leaves a pending unk pending here: it lands after these bytes */
                for (j = 0; j < wl; j++)
                    ids[cnt++] = (uint32_t)b->fb_id[w[j]];
                continue;
            }
        }
        if (b->unk_id < 0)
            continue; /* no unk: the character gives nothing */
        if (pending && !b->fuse_unk)
            ids[cnt++] = (uint32_t)b->unk_id;
        pending = 1;
    }
    if (pending)
        ids[cnt++] = (uint32_t)b->unk_id;
    *m = cnt;
}

/* Character mode: encode piece p[0..n) — initial parts, then the scan (up to SMALL_PIECE parts,
 * unless large) or the heap. */
static int char_merge(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, size_t n, int large,
                      tokfs_ids *out)
{
    uint32_t stack[512];
    size_t bound = n * (1 + b->plen) + b->slen, m;
    uint32_t *ids = bound <= 512 ? stack : malloc(bound * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    char_parts(b, p, n, ids, &m);
    int rc = 0;
    if (m && !large && m <= SMALL_PIECE)
        rc = merge_small_ids(b, memo, ids, m, out);
    else if (m)
        rc = merge_large_run(b, memo, NULL, ids, m, out);
    if (ids != stack)
        free(ids);
    return rc;
}

/* ---- the per-thread piece cache ---------------------------------------------------------- */

#define CACHE_SLOTS 32768        /* power of two */
#define CACHE_ARENA (4u << 20)   /* bytes of keys + ids; full → start over */

typedef struct cache_slot {
    uint64_t hash;
    uint32_t off;   /* into arena: key bytes, then ids */
    uint16_t klen;
    uint16_t nids;
} cache_slot;

/* Direct-mapped caches of short pieces, small enough to stay in the CPU cache: they answer
 * most pieces of real text without touching the vocabulary's table. A slot holds the piece's
 * one or two ids, or says "more than two" so that the whole-piece lookup (which would miss) is
 * skipped and the piece goes straight to the big cache below.
 *   front:  pieces of 2..7 bytes, keyed by vocab_key (exact: it holds the bytes and length);
 *   front2: pieces of 8..15 bytes: the first 8 bytes, then the rest with the length in the top
 *           byte — two words, still an exact key. */
#define FRONT_BITS 14
#define FRONT_SLOTS (1u << FRONT_BITS)
#define FRONT_NONE UINT32_MAX /* id1 of a one-token piece */
#define FRONT_MORE UINT32_MAX /* id0 of a piece of more than two tokens */

typedef struct front_slot {
    uint64_t key;
    uint32_t id0, id1;
} front_slot;

typedef struct front2_slot {
    uint64_t k0, k1;
    uint32_t id0, id1;
} front2_slot;

struct tokfs_bpe_cache {
    uint64_t owner; /* serial of the vocabulary the entries belong to */
    front_slot front[FRONT_SLOTS];
    front2_slot front2[FRONT_SLOTS];
    pair_memo memo[MEMO_SLOTS];
    size_t used, entries;
    cache_slot slots[CACHE_SLOTS];
    uint8_t arena[CACHE_ARENA];
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *c) { free(c); }
static void cache_key_init(void) { pthread_key_create(&cache_key, cache_free); }

tokfs_bpe_cache *tokfs_bpe_thread_cache(const tokfs_bpe *b)
{
    pthread_once(&cache_once, cache_key_init);
    tokfs_bpe_cache *c = pthread_getspecific(cache_key);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->owner = 0;
        if (pthread_setspecific(cache_key, c)) {
            free(c);
            return NULL;
        }
    }
    if (c->owner != b->serial) {
        memset(c->slots, 0, sizeof c->slots);
        memset(c->front, 0, sizeof c->front); /* key 0 never occurs: a key holds its length */
        memset(c->front2, 0, sizeof c->front2);
        memset(c->memo, 0xFF, sizeof c->memo); /* no id is 0xFFFFFFFF */
        c->used = c->entries = 0;
        c->owner = b->serial;
    }
    return c;
}

/* Append a front slot's one or two ids. */
static inline int front_put(uint32_t id0, uint32_t id1, tokfs_ids *out)
{
    if (tokfs_ids_reserve(out, 2))
        return -ENOMEM;
    out->ids[out->len++] = id0;
    if (id1 != FRONT_NONE)
        out->ids[out->len++] = id1;
    return 0;
}

/* The front slot values for ids[0..n). */
static inline void front_values(const uint32_t *ids, size_t n, uint32_t *id0, uint32_t *id1)
{
    *id0 = n <= 2 ? ids[0] : FRONT_MORE;
    *id1 = n == 2 ? ids[1] : FRONT_NONE;
}

int tokfs_bpe_encode_piece(const tokfs_bpe *b, tokfs_bpe_cache *c, const uint8_t *piece,
                           size_t len, tokfs_ids *out)
{
    if (len == 1 && !b->chars) {
        if (tokfs_ids_reserve(out, 1))
            return -ENOMEM;
        out->ids[out->len++] = b->byte_id[piece[0]];
        return 0;
    }
    uint64_t h = vocab_key(piece, len);
    if (len > SMALL_PIECE)
        c = NULL;
    front_slot *f = NULL;
    front2_slot *f2 = NULL;
    uint64_t k0 = 0, k1 = 0;
    int more = 0; /* known to be more than two tokens: no whole-piece lookup */
    if (c && len <= 7) {
        f = &c->front[(h * 0x9E3779B97F4A7C15ull) >> (64 - FRONT_BITS)];
        if (f->key == h) {
            if (f->id0 != FRONT_MORE)
                return front_put(f->id0, f->id1, out);
            more = 1;
        }
    } else if (c && len <= 15) {
        k0 = tokfs_le64(piece);
        k1 = tokfs_le_n(piece + 8, len - 8) | (uint64_t)len << 56;
        f2 = &c->front2[((k0 ^ (k1 * 0xbf58476d1ce4e5b9ull)) * 0x9E3779B97F4A7C15ull) >>
                        (64 - FRONT_BITS)];
        if (f2->k0 == k0 && f2->k1 == k1) {
            if (f2->id0 != FRONT_MORE)
                return front_put(f2->id0, f2->id1, out);
            more = 1;
        }
    }
    if (!more && len <= b->max_token_len && b->whole_piece_first) {
        int64_t id = lookup_key(b, piece, len, h);
        if (id >= 0) {
            if (tokfs_ids_reserve(out, 1))
                return -ENOMEM;
            out->ids[out->len++] = (uint32_t)id;
            if (f)
                *f = (front_slot){.key = h, .id0 = (uint32_t)id, .id1 = FRONT_NONE};
            else if (f2)
                *f2 = (front2_slot){.k0 = k0, .k1 = k1, .id0 = (uint32_t)id, .id1 = FRONT_NONE};
            return 0;
        }
    }
    if (b->chars && !c)
        return char_merge(b, NULL, piece, len, 0, out);
    if (len > SMALL_PIECE)
        return merge_large(b, NULL, piece, len, out);
    if (!c)
        return merge_small(b, NULL, piece, len, out);
    size_t mask = CACHE_SLOTS - 1, i;
    for (i = tokfs_mix64(h) & mask; c->slots[i].klen; i = (i + 1) & mask) {
        const cache_slot *s = &c->slots[i];
        if (s->hash == h && s->klen == len && memcmp(c->arena + s->off, piece, len) == 0) {
            if (tokfs_ids_reserve(out, s->nids))
                return -ENOMEM;
            if (s->nids)
                memcpy(out->ids + out->len, c->arena + s->off + s->klen,
                       s->nids * sizeof(uint32_t));
            out->len += s->nids;
            return 0;
        }
    }
    size_t before = out->len;
    int rc = b->chars ? char_merge(b, c->memo, piece, len, 0, out)
                      : merge_small(b, c->memo, piece, len, out);
    if (rc)
        return rc;
    size_t nids = out->len - before, need = len + nids * sizeof(uint32_t);
    if (nids) { /* (character mode without unk can give none: the big cache holds that) */
        uint32_t id0, id1;
        front_values(out->ids + before, nids, &id0, &id1);
        if (f)
            *f = (front_slot){.key = h, .id0 = id0, .id1 = id1};
        else if (f2)
            *f2 = (front2_slot){.k0 = k0, .k1 = k1, .id0 = id0, .id1 = id1};
        if (nids <= 2 && (f || f2))
            return 0; /* the front slot holds it */
    }
    if (c->entries * 4 >= CACHE_SLOTS * 3 || c->used + need > CACHE_ARENA) {
        memset(c->slots, 0, sizeof c->slots); /* full: start over (simple, and cheap enough) */
        c->used = c->entries = 0;
        for (i = tokfs_mix64(h) & mask; c->slots[i].klen; i = (i + 1) & mask)
            ;
    }
    memcpy(c->arena + c->used, piece, len);
    if (nids) /* out->ids may still be NULL when the piece gave none */
        memcpy(c->arena + c->used + len, out->ids + before, nids * sizeof(uint32_t));
    c->slots[i] = (cache_slot){.hash = h, .off = (uint32_t)c->used, .klen = (uint16_t)len,
                               .nids = (uint16_t)nids};
    c->used += need;
    c->entries++;
    return 0;
}

int tokfs_bpe_merge_only(const tokfs_bpe *b, const uint8_t *piece, size_t len, int large,
                         tokfs_ids *out)
{
    if (len == 0)
        return 0;
    if (b->chars) /* (more than SMALL_PIECE initial parts take the heap either way) */
        return char_merge(b, NULL, piece, len, large, out);
    if (!large && len > SMALL_PIECE)
        return -EINVAL;
    return large ? merge_large(b, NULL, piece, len, out) : merge_small(b, NULL, piece, len, out);
}
