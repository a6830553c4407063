/* Byte-level BPE of one piece: the merge table, the rank lookups and the per-thread front
 * caches; exact and O(n log n) for long pieces. */
#include "tokenize/bpe_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct tok_ent {
    uint32_t off; /* into bytes */
    uint32_t len;
    uint32_t id;
} tok_ent;

/* A vocabulary hash slot. key = vocab_key(bytes): a token of at most 7 bytes is its own key
 * (the bytes, and the length in the top byte), so most probes compare one word and touch nothing
 * else; a longer token's key is 0xFF in the top byte and 56 bits of its hash, confirmed with a
 * memcmp against the stored bytes. */
typedef struct vocab_slot {
    uint64_t key;
    uint32_t ent1; /* entry index + 1; 0 = empty */
    uint32_t id;
} vocab_slot;

typedef struct pair_slot {
    uint64_t key; /* left id << 32 | right id; 0 = empty (id pairs (0,0) are stored +1-shifted) */
    uint32_t priority;
    uint32_t merged;
} pair_slot;

struct tokfs_bpe {
    tokfs_bpe_rules rules;
    int whole_piece_first;
    uint64_t serial;         /* tells a thread's piece cache which vocabulary it belongs to */
    uint8_t *bytes;          /* all token bytes, back to back */
    size_t bytes_len, bytes_cap;
    tok_ent *ents;           /* tokens in insertion order */
    size_t count, ents_cap;
    vocab_slot *slots;       /* open addressing on vocab_key() */
    size_t nslots;           /* power of two */
    uint32_t *by_id;         /* id → entry index + 1 (0: no such id) */
    uint32_t id_limit;       /* largest id + 1 */
    uint32_t max_token_len;
    pair_slot *pairs;        /* TOKFS_BPE_MERGES: (left, right) → priority, merged id */
    size_t npairs, pair_slots;
    uint32_t byte_id[256];
};

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        h = (h ^ tokfs_le64(p)) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 27;
        p += 8;
        n -= 8;
    }
    return mix64(h ^ tokfs_le_n(p, n));
}

static inline uint64_t vocab_key(const uint8_t *p, size_t n)
{
    if (n <= 7)
        return tokfs_le_n(p, n) | ((uint64_t)n << 56);
    return (hash_bytes(p, n) >> 8) | (0xFFull << 56);
}

static atomic_uint_fast64_t next_serial = 1;

tokfs_bpe *tokfs_bpe_create(tokfs_bpe_rules rules, size_t expected_tokens)
{
    tokfs_bpe *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->rules = rules;
    b->serial = atomic_fetch_add(&next_serial, 1);
    size_t slots = 1024;
    while (slots < expected_tokens * 2 && slots < (1u << 20))
        slots *= 2;
    b->slots = calloc(slots, sizeof *b->slots);
    if (!b->slots) {
        free(b);
        return NULL;
    }
    b->nslots = slots;
    return b;
}

void tokfs_bpe_destroy(tokfs_bpe *b)
{
    if (!b)
        return;
    free(b->bytes);
    free(b->ents);
    free(b->slots);
    free(b->by_id);
    free(b->pairs);
    free(b);
}

static int64_t lookup_key(const tokfs_bpe *b, const uint8_t *p, size_t n, uint64_t key)
{
    size_t mask = b->nslots - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
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
    size_t i = mix64(key) & (nslots - 1);
    while (slots[i].ent1)
        i = (i + 1) & (nslots - 1);
    slots[i] = (vocab_slot){.key = key, .ent1 = ent1, .id = id};
}

static int grow_slots(tokfs_bpe *b)
{
    size_t nslots = b->nslots * 2;
    vocab_slot *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < b->count; k++) {
        const tok_ent *e = &b->ents[k];
        slot_insert(slots, nslots, vocab_key(b->bytes + e->off, e->len), (uint32_t)k + 1, e->id);
    }
    free(b->slots);
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
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        const pair_slot *s = &b->pairs[i];
        if (s->key == key)
            return s;
        if (!s->key)
            return NULL;
    }
}

static int pair_grow(tokfs_bpe *b)
{
    size_t n = b->pair_slots ? b->pair_slots * 2 : 4096;
    pair_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < b->pair_slots; k++) {
        if (!b->pairs[k].key)
            continue;
        size_t i = mix64(b->pairs[k].key) & (n - 1);
        while (slots[i].key)
            i = (i + 1) & (n - 1);
        slots[i] = b->pairs[k];
    }
    free(b->pairs);
    b->pairs = slots;
    b->pair_slots = n;
    return 0;
}

int tokfs_bpe_add_merge(tokfs_bpe *b, const uint8_t *left, size_t llen, const uint8_t *right,
                        size_t rlen, uint32_t priority, tokfs_err *err)
{
    int64_t l = tokfs_bpe_lookup(b, left, llen), r = tokfs_bpe_lookup(b, right, rlen);
    if (l < 0 || r < 0)
        return tokfs_err_set(err, EINVAL, "merge #%u: a part is not in the vocabulary", priority);
    uint8_t stackbuf[512];
    uint8_t *cat = llen + rlen <= sizeof stackbuf ? stackbuf : malloc(llen + rlen);
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
    size_t i = mix64(key) & mask;
    while (b->pairs[i].key && b->pairs[i].key != key)
        i = (i + 1) & mask;
    if (b->pairs[i].key)
        return 0; /* duplicate: the first (lowest) priority stays */
    b->pairs[i] = (pair_slot){.key = key, .priority = priority, .merged = (uint32_t)m};
    b->npairs++;
    return 0;
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
        vocab_slot *slots = calloc(want, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t k = 0; k < b->count; k++) {
            const tok_ent *e = &b->ents[k];
            slot_insert(slots, want, vocab_key(b->bytes + e->off, e->len), (uint32_t)k + 1, e->id);
        }
        free(b->slots);
        b->slots = slots;
        b->nslots = want;
    }
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        int64_t id = tokfs_bpe_lookup(b, &byte, 1);
        if (id < 0)
            return tokfs_err_set(err, EINVAL,
                                 "byte 0x%02X is not a token: byte-level BPE needs all 256 bytes "
                                 "in the vocabulary", c);
        b->byte_id[c] = (uint32_t)id;
    }
    free(b->by_id);
    b->by_id = calloc(b->id_limit ? b->id_limit : 1, sizeof *b->by_id);
    if (!b->by_id)
        return -ENOMEM;
    for (size_t k = 0; k < b->count; k++) {
        uint32_t id = b->ents[k].id;
        if (b->by_id[id])
            return tokfs_err_set(err, EEXIST, "id %u is given to two tokens", id);
        b->by_id[id] = (uint32_t)k + 1;
    }
    if (b->rules == TOKFS_BPE_MERGES && !b->pairs && pair_grow(b))
        return -ENOMEM;
    return 0;
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
           b->pair_slots * sizeof(pair_slot);
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

/* Pieces up to SMALL_PIECE bytes: arrays, a scan for the lowest pair per merge (tiktoken's way;
 * faster than a heap at this size). */
static int merge_small(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, size_t n,
                       tokfs_ids *out)
{
    uint32_t start[SMALL_PIECE + 1], id[SMALL_PIECE], prio[SMALL_PIECE], merged[SMALL_PIECE];
    size_t m = n;
    for (size_t k = 0; k < n; k++) {
        start[k] = (uint32_t)k;
        id[k] = b->byte_id[p[k]];
    }
    start[n] = (uint32_t)n;
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
    memcpy(out->ids + out->len, id, m * sizeof id[0]);
    out->len += m;
    return 0;
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

/* Long pieces: parts are linked by start byte; O(n log n). */
static int merge_large(const tokfs_bpe *b, pair_memo *memo, const uint8_t *p, size_t n,
                       tokfs_ids *out)
{
    int rc = -ENOMEM;
    uint32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev),
             *id = malloc(n * sizeof *id);
    heap64 h = {0};
    if (!next || !prev || !id)
        goto done;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)i - 1; /* wraps to DEAD for 0: never read */
        id[i] = b->byte_id[p[i]];
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
    free(id);
    free(h.v);
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
    if (len == 1) {
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
    if (len > SMALL_PIECE)
        return merge_large(b, NULL, piece, len, out);
    if (!c)
        return merge_small(b, NULL, piece, len, out);
    size_t mask = CACHE_SLOTS - 1, i;
    for (i = mix64(h) & mask; c->slots[i].klen; i = (i + 1) & mask) {
        const cache_slot *s = &c->slots[i];
        if (s->hash == h && s->klen == len && memcmp(c->arena + s->off, piece, len) == 0) {
            if (tokfs_ids_reserve(out, s->nids))
                return -ENOMEM;
            memcpy(out->ids + out->len, c->arena + s->off + s->klen, s->nids * sizeof(uint32_t));
            out->len += s->nids;
            return 0;
        }
    }
    size_t before = out->len;
    int rc = merge_small(b, c->memo, piece, len, out);
    if (rc)
        return rc;
    size_t nids = out->len - before, need = len + nids * sizeof(uint32_t);
    uint32_t id0, id1;
    front_values(out->ids + before, nids, &id0, &id1);
    if (f)
        *f = (front_slot){.key = h, .id0 = id0, .id1 = id1};
    else if (f2)
        *f2 = (front2_slot){.k0 = k0, .k1 = k1, .id0 = id0, .id1 = id1};
    if (nids <= 2 && (f || f2))
        return 0; /* the front slot holds it */
    if (c->entries * 4 >= CACHE_SLOTS * 3 || c->used + need > CACHE_ARENA) {
        memset(c->slots, 0, sizeof c->slots); /* full: start over (simple, and cheap enough) */
        c->used = c->entries = 0;
        for (i = mix64(h) & mask; c->slots[i].klen; i = (i + 1) & mask)
            ;
    }
    memcpy(c->arena + c->used, piece, len);
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
    if (!large && len > SMALL_PIECE)
        return -EINVAL;
    return large ? merge_large(b, NULL, piece, len, out) : merge_small(b, NULL, piece, len, out);
}
