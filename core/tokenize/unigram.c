/* The Unigram model: the piece table with its prefix filter, Viterbi over the lattice of a piece
 * exactly as Hugging Face tokenizers' encode_optimized (models/unigram/model.rs), unk fusing and
 * byte fallback as its tokenize does, and a per-thread cache of recent short pieces. */
#include "tokenize/unigram_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"

/* Hugging Face's kUnkPenalty: an unknown character scores the lowest piece score minus this. */
#define UNK_PENALTY 10.0

typedef struct uni_ent {
    uint32_t off, len; /* into bytes */
    uint32_t id;
    double score;
} uni_ent;

typedef struct uni_slot {
    uint64_t hash; /* rolling hash of the piece */
    uint32_t ent1; /* entry index + 1; 0 = empty */
} uni_slot;

struct tokfs_unigram {
    uint64_t serial; /* tells a thread's cache which model its entries belong to */
    tokfs_buf text; /* every token's bytes, back to back (offsets fit 32 bits) */
    uni_ent *ents;
    size_t count, ents_cap;
    uni_slot *slots;
    size_t nslots; /* power of two, load <= 1/2 */
    /* Prefix filter: one bit per hashed prefix (at a character boundary) of any piece. A clear
     * bit ends the search for longer pieces at a position; a set bit that is a collision only
     * costs a lookup that misses. */
    uint64_t *pre_bits;
    uint64_t pre_mask;
    size_t max_len;
    uint32_t max_id;
    int any_id;
    double min_score;
    int64_t unk_id;
    int byte_fallback;
    int64_t fb_id[256]; /* id of "<0xNN>", or -1 */
};

/* FNV-1a over bytes, one step per byte so that every prefix's hash comes for free while
 * scanning; mixed before use as an index. */
#define ROLL_SEED 0xcbf29ce484222325ull
static inline uint64_t roll(uint64_t h, uint8_t c) { return (h ^ c) * 0x100000001b3ull; }

static inline size_t utf8_len(uint8_t c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static atomic_uint_fast64_t next_serial = 1;

tokfs_unigram *tokfs_unigram_create(size_t expected_pieces)
{
    tokfs_unigram *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->serial = atomic_fetch_add(&next_serial, 1);
    size_t n = 1024;
    while (n < expected_pieces * 2 && n < (1u << 22))
        n *= 2;
    u->slots = calloc(n, sizeof *u->slots);
    if (!u->slots) {
        free(u);
        return NULL;
    }
    u->nslots = n;
    u->min_score = INFINITY;
    u->unk_id = -1;
    return u;
}

void tokfs_unigram_destroy(tokfs_unigram *u)
{
    if (!u)
        return;
    tokfs_buf_free(&u->text);
    free(u->ents);
    free(u->slots);
    free(u->pre_bits);
    free(u);
}

static uint64_t hash_of(const uint8_t *p, size_t n)
{
    uint64_t h = ROLL_SEED;
    for (size_t i = 0; i < n; i++)
        h = roll(h, p[i]);
    return h;
}

/* The entry of piece p[0..n) with rolling hash h, or NULL. */
static const uni_ent *find(const tokfs_unigram *u, const uint8_t *p, size_t n, uint64_t h)
{
    size_t mask = u->nslots - 1;
    for (size_t i = tokfs_mix64(h) & mask;; i = (i + 1) & mask) {
        const uni_slot *s = &u->slots[i];
        if (!s->ent1)
            return NULL;
        if (s->hash == h) {
            const uni_ent *e = &u->ents[s->ent1 - 1];
            if (e->len == n && memcmp(u->text.data + e->off, p, n) == 0)
                return e;
        }
    }
}

static void slot_put(uni_slot *slots, size_t nslots, uint64_t h, uint32_t ent1)
{
    size_t i = tokfs_mix64(h) & (nslots - 1);
    while (slots[i].ent1)
        i = (i + 1) & (nslots - 1);
    slots[i] = (uni_slot){.hash = h, .ent1 = ent1};
}

int tokfs_unigram_add(tokfs_unigram *u, const uint8_t *piece, size_t len, double score,
                      uint32_t id, tokfs_err *err)
{
    if (id > 0x7fffffffu || len > 65536)
        return tokfs_err_set(err, EINVAL, "unigram piece id %u: id too large or piece too long",
                             id);
    if (score < u->min_score)
        u->min_score = score;
    if (!u->any_id || id > u->max_id)
        u->max_id = id;
    u->any_id = 1;
    if (len == 0)
        return 0;
    uint64_t h = hash_of(piece, len);
    uni_ent *old = (uni_ent *)find(u, piece, len, h);
    if (old) {
        old->id = id;
        old->score = score;
        return 0;
    }
    if ((u->count + 1) * 2 > u->nslots) {
        size_t n = u->nslots * 2;
        uni_slot *slots = calloc(n, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t k = 0; k < u->count; k++)
            slot_put(slots, n, hash_of(u->text.data + u->ents[k].off, u->ents[k].len),
                     (uint32_t)k + 1);
        free(u->slots);
        u->slots = slots;
        u->nslots = n;
    }
    if (u->count == u->ents_cap) {
        size_t cap = u->ents_cap ? u->ents_cap * 2 : 1024;
        uni_ent *grown = realloc(u->ents, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        u->ents = grown;
        u->ents_cap = cap;
    }
    size_t off = u->text.len;
    if (off + len > 0xffffffffu)
        return tokfs_err_set(err, EFBIG, "unigram pieces exceed 4 GiB");
    if (tokfs_buf_append(&u->text, piece, len))
        return -ENOMEM;
    u->ents[u->count] =
        (uni_ent){.off = (uint32_t)off, .len = (uint32_t)len, .id = id, .score = score};
    slot_put(u->slots, u->nslots, h, (uint32_t)u->count + 1);
    u->count++;
    if (len > u->max_len)
        u->max_len = len;
    return 0;
}

static inline uint64_t pre_index(const tokfs_unigram *u, uint64_t h)
{
    return tokfs_mix64(h ^ 0x5851f42d4c957f2dull) & u->pre_mask;
}

static inline int pre_bit(const tokfs_unigram *u, uint64_t h)
{
    uint64_t i = pre_index(u, h);
    return (int)(u->pre_bits[i >> 6] >> (i & 63) & 1);
}

int tokfs_unigram_finish(tokfs_unigram *u, int64_t unk_id, int byte_fallback, tokfs_err *err)
{
    if (unk_id >= 0 && (!u->any_id || (uint64_t)unk_id > u->max_id))
        return tokfs_err_set(err, EINVAL, "the unk id %lld is not in the vocabulary",
                             (long long)unk_id);
    u->unk_id = unk_id < 0 ? -1 : unk_id;
    u->byte_fallback = byte_fallback != 0;
    /* 8 bits per prefix (about 12% false positives), at most 4 MB */
    uint64_t bits = 4096;
    while (bits < u->text.len * 8 && bits < (1ull << 25))
        bits *= 2;
    free(u->pre_bits);
    u->pre_bits = calloc(bits / 64, sizeof *u->pre_bits);
    if (!u->pre_bits)
        return -ENOMEM;
    u->pre_mask = bits - 1;
    for (size_t k = 0; k < u->count; k++) {
        const uint8_t *p = u->text.data + u->ents[k].off;
        size_t n = u->ents[k].len;
        uint64_t h = ROLL_SEED;
        for (size_t i = 0; i < n;) {
            size_t e = i + utf8_len(p[i]);
            if (e > n)
                e = n;
            for (; i < e; i++)
                h = roll(h, p[i]);
            uint64_t b = pre_index(u, h);
            u->pre_bits[b >> 6] |= 1ull << (b & 63);
        }
    }
    static const char hex[] = "0123456789ABCDEF";
    for (int c = 0; c < 256; c++) {
        /* Hugging Face's format!("<0x{byte:02X}>") */
        uint8_t name[6] = {'<', '0', 'x', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15], '>'};
        const uni_ent *e = find(u, name, 6, hash_of(name, 6));
        u->fb_id[c] = e ? (int64_t)e->id : -1;
    }
    return 0;
}

/* Best path ending at each byte position: its score, the start of its last node (-1: none
 * yet), and that node's id. */
typedef struct vnode {
    double score;
    int64_t start;
    uint32_t id;
} vnode;

/* Append the ids of a run of unk-id nodes, text s[0..n), fused into one string as Hugging Face
 * does: the string's own id if it is a piece, else its bytes as <0xNN> (all or none) with byte
 * fallback, else unk. */
static int emit_fused(const tokfs_unigram *u, const uint8_t *s, size_t n, tokfs_ids *out)
{
    const uni_ent *e = n <= u->max_len ? find(u, s, n, hash_of(s, n)) : NULL;
    if (e) {
        if (tokfs_ids_reserve(out, 1))
            return -ENOMEM;
        out->ids[out->len++] = e->id;
        return 0;
    }
    if (u->byte_fallback) {
        size_t j = 0;
        while (j < n && u->fb_id[s[j]] >= 0)
            j++;
        if (j == n) {
            if (tokfs_ids_reserve(out, n))
                return -ENOMEM;
            for (j = 0; j < n; j++)
                out->ids[out->len++] = (uint32_t)u->fb_id[s[j]];
            return 0;
        }
    }
    if (tokfs_ids_reserve(out, 1))
        return -ENOMEM;
    out->ids[out->len++] = (uint32_t)u->unk_id;
    return 0;
}

/* ---- the per-thread cache ----------------------------------------------------------------- */

/* Direct-mapped, 8192 slots of a piece of up to 30 bytes and its up to 6 ids (about 590 KB per
 * thread): real text repeats its words, and the Viterbi pass costs a few hundred instructions
 * per byte while a hit costs a hash and a compare. Entries carry the model's serial, so a
 * thread that serves another model (or a new one at a freed one's address) never hits them. */
#define UC_BITS 13
#define UC_KEY 30
#define UC_IDS 6

typedef struct uc_slot {
    uint64_t serial; /* 0: empty */
    uint64_t hash;
    uint8_t len, nids;
    uint8_t key[UC_KEY];
    uint32_t ids[UC_IDS];
} uc_slot;

static pthread_key_t uc_key;
static pthread_once_t uc_once = PTHREAD_ONCE_INIT;

static void uc_free(void *c) { free(c); }
static void uc_key_init(void) { pthread_key_create(&uc_key, uc_free); }

/* The calling thread's cache, or NULL (out of memory: encode uncached). */
static uc_slot *uc_get(void)
{
    pthread_once(&uc_once, uc_key_init);
    uc_slot *c = pthread_getspecific(uc_key);
    if (!c) {
        c = calloc((size_t)1 << UC_BITS, sizeof *c);
        if (!c)
            return NULL;
        if (pthread_setspecific(uc_key, c)) {
            free(c);
            return NULL;
        }
    }
    return c;
}

static int encode_uncached(const tokfs_unigram *u, const uint8_t *p, size_t len, tokfs_ids *out);

int tokfs_unigram_encode(const tokfs_unigram *u, const uint8_t *p, size_t len, tokfs_ids *out)
{
    if (len == 0)
        return 0;
    uc_slot *c = len <= UC_KEY ? uc_get() : NULL;
    if (!c)
        return encode_uncached(u, p, len, out);
    uint64_t h = hash_of(p, len);
    uc_slot *s = &c[tokfs_mix64(h) >> (64 - UC_BITS)];
    if (s->serial == u->serial && s->hash == h && s->len == len && memcmp(s->key, p, len) == 0) {
        if (tokfs_ids_reserve(out, s->nids))
            return -ENOMEM;
        memcpy(out->ids + out->len, s->ids, s->nids * sizeof *s->ids);
        out->len += s->nids;
        return 0;
    }
    size_t before = out->len;
    int rc = encode_uncached(u, p, len, out);
    size_t nids = out->len - before;
    if (rc == 0 && nids <= UC_IDS) {
        s->serial = u->serial;
        s->hash = h;
        s->len = (uint8_t)len;
        s->nids = (uint8_t)nids;
        memcpy(s->key, p, len);
        memcpy(s->ids, out->ids + before, nids * sizeof *s->ids);
    }
    return rc;
}

static int encode_uncached(const tokfs_unigram *u, const uint8_t *p, size_t len, tokfs_ids *out)
{
    vnode stack[257];
    vnode *v = len < 257 ? stack : malloc((len + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i <= len; i++)
        v[i] = (vnode){.score = 0.0, .start = -1}; /* Hugging Face's default node */
    double unk_score = u->min_score - UNK_PENALTY;
    for (size_t pos = 0; pos < len;) {
        size_t mblen = utf8_len(p[pos]);
        if (pos + mblen > len)
            mblen = len - pos;
        double base = v[pos].score;
        int single = 0;
        /* Every piece that starts here, shortest first (Hugging Face's trie order): on a tie
         * at a target the first candidate stays, which with the outer loop means the path
         * whose last node starts earliest. */
        uint64_t h = ROLL_SEED;
        for (size_t e = pos; e < len && e - pos < u->max_len;) {
            size_t ce = e + utf8_len(p[e]);
            if (ce > len)
                ce = len;
            for (; e < ce; e++)
                h = roll(h, p[e]);
            if (e - pos > u->max_len || !pre_bit(u, h))
                break;
            const uni_ent *ent = find(u, p + pos, e - pos, h);
            if (!ent)
                continue;
            double cand = ent->score + base;
            if (v[e].start < 0 || cand > v[e].score) {
                v[e].score = cand;
                v[e].start = (int64_t)pos;
                v[e].id = ent->id;
            }
            if (e - pos == mblen)
                single = 1;
        }
        if (!single) {
            vnode *t = &v[pos + mblen];
            double cand = unk_score + base;
            if (t->start < 0 || cand > t->score) {
                if (u->unk_id < 0) {
                    rc = -EILSEQ;
                    goto done;
                }
                t->score = cand;
                t->start = (int64_t)pos;
                t->id = (uint32_t)u->unk_id;
            }
        }
        pos += mblen;
    }
    /* Back from the end: link each node's start to its end through start[] (reused as the
     * forward link), then walk forward, fusing runs of unk-id nodes. */
    {
        size_t end = len;
        int64_t next_end = -1; /* end of the node after this one on the path */
        while (end > 0) {
            size_t s = (size_t)v[end].start;
            int64_t fwd = next_end;
            next_end = (int64_t)end;
            /* v[end].start is no longer needed after reading s: store the next node's end */
            v[end].start = fwd;
            end = s;
        }
        size_t pos = 0;
        int64_t e = next_end;
        while (e > 0) {
            size_t ee = (size_t)e;
            if (u->unk_id >= 0 && v[ee].id == (uint32_t)u->unk_id) {
                size_t run_start = pos;
                while (e > 0 && v[(size_t)e].id == (uint32_t)u->unk_id) {
                    pos = (size_t)e;
                    e = v[(size_t)e].start;
                }
                rc = emit_fused(u, p + run_start, pos - run_start, out);
                if (rc)
                    goto done;
                continue;
            }
            if (tokfs_ids_reserve(out, 1)) {
                rc = -ENOMEM;
                goto done;
            }
            out->ids[out->len++] = v[ee].id;
            pos = ee;
            e = v[ee].start;
        }
    }
done:
    if (v != stack)
        free(v);
    return rc;
}
