/* The WordPiece model: the vocabulary as two hash tables (tokens as written, and the tokens that
 * start with the continuing-subword prefix, prefix removed) and the greedy longest-match-first
 * encode of Hugging Face tokenizers (models/wordpiece/mod.rs). */
#include "tokenize/wordpiece_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"

typedef struct wp_slot {
    uint64_t hash;
    uint32_t off, len; /* into bytes; len 0 = empty slot (no token is empty) */
    uint32_t id;
} wp_slot;

typedef struct wp_table {
    wp_slot *slots;
    size_t nslots, count; /* nslots: power of two, load <= 1/2 */
    size_t max_len;
} wp_table;

struct tokfs_wordpiece {
    tokfs_buf text; /* every token's bytes, back to back (offsets fit 32 bits) */
    wp_table whole; /* tokens as written: the first match of a word */
    wp_table cont;  /* tokens starting with the prefix, without it: every later match */
    int have_cont;  /* 0: the prefix is empty, later matches use `whole` too */
    uint32_t unk_id;
    size_t max_chars;
};

static uint64_t hash_of(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return tokfs_mix64(h);
}

static int table_init(wp_table *t, size_t expected)
{
    size_t n = 1024;
    while (n < expected * 2 && n < (1u << 22))
        n *= 2;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots)
        return -ENOMEM;
    t->nslots = n;
    return 0;
}

static const wp_slot *table_find(const wp_table *t, const uint8_t *bytes, const uint8_t *p,
                                 size_t n)
{
    if (n > t->max_len || !t->slots)
        return NULL;
    uint64_t h = hash_of(p, n);
    size_t mask = t->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const wp_slot *s = &t->slots[i];
        if (!s->len)
            return NULL;
        if (s->hash == h && s->len == n && memcmp(bytes + s->off, p, n) == 0)
            return s;
    }
}

static void table_put(wp_slot *slots, size_t nslots, wp_slot s)
{
    size_t i = s.hash & (nslots - 1);
    while (slots[i].len)
        i = (i + 1) & (nslots - 1);
    slots[i] = s;
}

/* Insert bytes[off..off+len) → id (not already there). */
static int table_add(wp_table *t, const uint8_t *bytes, uint32_t off, uint32_t len, uint32_t id)
{
    if ((t->count + 1) * 2 > t->nslots) {
        size_t n = t->nslots * 2;
        wp_slot *slots = calloc(n, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t k = 0; k < t->nslots; k++)
            if (t->slots[k].len)
                table_put(slots, n, t->slots[k]);
        free(t->slots);
        t->slots = slots;
        t->nslots = n;
    }
    table_put(t->slots, t->nslots,
              (wp_slot){.hash = hash_of(bytes + off, len), .off = off, .len = len, .id = id});
    t->count++;
    if (len > t->max_len)
        t->max_len = len;
    return 0;
}

tokfs_wordpiece *tokfs_wordpiece_create(size_t expected_tokens)
{
    tokfs_wordpiece *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (table_init(&w->whole, expected_tokens)) {
        free(w);
        return NULL;
    }
    return w;
}

void tokfs_wordpiece_destroy(tokfs_wordpiece *w)
{
    if (!w)
        return;
    tokfs_buf_free(&w->text);
    free(w->whole.slots);
    free(w->cont.slots);
    free(w);
}

int tokfs_wordpiece_add(tokfs_wordpiece *w, const uint8_t *tok, size_t len, uint32_t id,
                        tokfs_err *err)
{
    if (len == 0 || len > 65536 || id > 0x7fffffffu)
        return tokfs_err_set(err, EINVAL, "wordpiece token id %u: empty, too long or id too large",
                             id);
    const wp_slot *old = table_find(&w->whole, w->text.data, tok, len);
    if (old)
        return tokfs_err_set(err, EEXIST, "ids %u and %u are the same token", old->id, id);
    size_t off = w->text.len;
    if (off + len > 0xffffffffu)
        return tokfs_err_set(err, EFBIG, "vocabulary bytes exceed 4 GiB");
    if (tokfs_buf_append(&w->text, tok, len))
        return -ENOMEM;
    int rc = table_add(&w->whole, w->text.data, (uint32_t)off, (uint32_t)len, id);
    if (rc)
        w->text.len = off; /* not added */
    return rc;
}

int tokfs_wordpiece_finish(tokfs_wordpiece *w, uint32_t unk_id, const char *prefix,
                           size_t max_input_chars_per_word, tokfs_err *err)
{
    (void)err;
    w->unk_id = unk_id;
    w->max_chars = max_input_chars_per_word;
    size_t plen = prefix ? strlen(prefix) : 0;
    free(w->cont.slots);
    memset(&w->cont, 0, sizeof w->cont);
    w->have_cont = plen > 0;
    if (!w->have_cont)
        return 0;
    if (table_init(&w->cont, 0))
        return -ENOMEM;
    for (size_t k = 0; k < w->whole.nslots; k++) {
        const wp_slot *s = &w->whole.slots[k];
        /* a token that is the prefix alone would be the empty continuation: nothing looks for it */
        if (s->len > plen && memcmp(w->text.data + s->off, prefix, plen) == 0 &&
            table_add(&w->cont, w->text.data, s->off + (uint32_t)plen, s->len - (uint32_t)plen,
                      s->id))
            return -ENOMEM;
    }
    return 0;
}

static int put1(tokfs_ids *out, uint32_t id)
{
    if (tokfs_ids_reserve(out, 1))
        return -ENOMEM;
    out->ids[out->len++] = id;
    return 0;
}

int tokfs_wordpiece_encode(const tokfs_wordpiece *w, const uint8_t *p, size_t len, tokfs_ids *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += (p[i] & 0xC0) != 0x80;
    if (chars > w->max_chars)
        return put1(out, w->unk_id);
    size_t before = out->len;
    for (size_t start = 0; start < len;) {
        const wp_table *t = start > 0 && w->have_cont ? &w->cont : &w->whole;
        /* Longest first: Hugging Face starts at the word's end and drops a character at a time;
         * nothing longer than the table's longest token can match, so start there. */
        size_t end = len - start > t->max_len ? start + t->max_len : len;
        while (end > start && end < len && (p[end] & 0xC0) == 0x80)
            end--;
        const wp_slot *hit = NULL;
        while (end > start && !(hit = table_find(t, w->text.data, p + start, end - start))) {
            end--;
            while (end > start && (p[end] & 0xC0) == 0x80)
                end--;
        }
        if (!hit) {
            out->len = before; /* the whole word becomes unk */
            return put1(out, w->unk_id);
        }
        if (put1(out, hit->id))
            return -ENOMEM;
        start = end;
    }
    return 0;
}
