/* tokfs — Hugging Face tokenizers' normalizers and the SentencePiece precompiled charsmap (see
 * normalize_internal.h for what is supported, the Unicode versions and the costs).
 *
 * Every normalizer is a pass `run(n, in, len, out)` that returns 0 when the text stays as it is
 * (nothing written: the check comes first and is read-only), 1 when it wrote the new text to
 * `out`, or -ENOMEM. A Sequence (and BertNormalizer, which is a fixed sequence of passes) chains
 * them, alternating between two buffers. */
#include "tokenize/normalize_internal.h"
#include "tokenize/pretok_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "tokenize/unicode_internal.h"

typedef enum {
    K_NFD, K_NFKD, K_NFC, K_NFKC, /* the forms, in this order: bit 0 compat, bit 1 compose */
    K_LOWER, K_STRIP, K_STRIP_ACCENTS, K_PREPEND, K_REPLACE, K_NMT, K_PRECOMPILED,
    K_BYTE_LEVEL, K_SEQUENCE,
    K_BERT_CLEAN, K_BERT_CHINESE, K_STRIP_MN, /* BertNormalizer's own passes */
} kind;

struct tokfs_norm {
    kind kind;
    int left, right;         /* Strip */
    char *str;               /* Prepend: the prefix; Replace: the literal pattern (String) */
    size_t str_len;
    char *content;           /* Replace */
    size_t content_len;
    pcre2_code *re;          /* Replace with a Regex pattern (or the empty String) */
    tokfs_charsmap *cm;      /* Precompiled */
    tokfs_norm **seq;        /* Sequence / BertNormalizer */
    size_t nseq;
    uint32_t *bytemap;       /* ByteLevel: the character standing for each byte */
};

struct tokfs_charsmap {
    uint32_t *units;
    size_t nunits;
    uint8_t *normalized;
    size_t nnormalized;
    /* the shortest rule for each ASCII byte alone: value + 1, or 0 for none (a one-byte
     * cluster, the common case, then costs one load) */
    uint32_t ascii[128];
};

/* ---- table access ---------------------------------------------------------------------------- */

#define LOOK(name, cp) ((cp) < 0x110000 ? name##_s2[name##_s1[(cp) >> 8]][(cp) & 0xFF] : 0)
static inline unsigned ccc_of(uint32_t cp) { return LOOK(tokfs_un_ccc, cp); }
static inline unsigned flags_of(uint32_t cp) { return LOOK(tokfs_un_flags, cp); }

static int put_cp(tokfs_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (b->len + n <= b->cap) { /* the common case, without a call */
        memcpy(b->data + b->len, u, n);
        b->len += n;
        return 0;
    }
    return tokfs_buf_append(b, u, n);
}

/* First i >= from with in[i] >= 0x80 (len if none), 8 bytes at a time. */
static size_t ascii_end(const uint8_t *in, size_t i, size_t len)
{
    while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, in + i, 8);
        if (w & 0x8080808080808080ull)
            break;
        i += 8;
    }
    while (i < len && in[i] < 0x80)
        i++;
    return i;
}

/* ---- normalization forms --------------------------------------------------------------------- */

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19,
       V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT };

/* Code points of the run being normalized: a small array on the stack, the heap past it. */
typedef struct {
    uint32_t *cp;
    size_t n, cap;
    uint32_t local[64];
} cpbuf;

static int cp_push(cpbuf *c, uint32_t cp)
{
    if (c->n == c->cap) {
        size_t cap = c->cap * 2;
        uint32_t *p = c->cp == c->local ? malloc(cap * sizeof *p) : realloc(c->cp, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        if (c->cp == c->local)
            memcpy(p, c->local, c->n * sizeof *p);
        c->cp = p;
        c->cap = cap;
    }
    c->cp[c->n++] = cp;
    return 0;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = tokfs_un_ncompose;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *p = tokfs_un_compose[mid];
        if (p[0] < a || (p[0] == a && p[1] < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < tokfs_un_ncompose && tokfs_un_compose[lo][0] == a && tokfs_un_compose[lo][1] == b)
        return tokfs_un_compose[lo][2];
    return 0;
}

/* Reorder (canonical ordering: a stable sort of each run of non-starters by class), compose
 * when asked, and write out the run. */
static int flush_run(cpbuf *c, int compose, tokfs_buf *out)
{
    uint32_t *p = c->cp;
    size_t n = c->n;
    for (size_t i = 1; i < n; i++) {
        unsigned cc = ccc_of(p[i]);
        if (!cc)
            continue;
        size_t j = i;
        uint32_t x = p[i];
        while (j > 0 && ccc_of(p[j - 1]) > cc) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = x;
    }
    if (compose && n > 1) {
        size_t starter = ccc_of(p[0]) == 0 ? 0 : (size_t)-1, w = 1;
        int last = -1; /* class of the last character kept after the starter; -1: none */
        for (size_t i = 1; i < n; i++) {
            uint32_t x = p[i];
            int cc = (int)ccc_of(x);
            if (starter != (size_t)-1 && (last == -1 || (cc != 0 && last < cc))) {
                uint32_t comp = compose_pair(p[starter], x);
                if (comp) {
                    p[starter] = comp;
                    continue;
                }
            }
            if (cc == 0) {
                starter = w;
                last = -1;
            } else {
                last = cc;
            }
            p[w++] = x;
        }
        n = w;
    }
    for (size_t i = 0; i < n; i++)
        if (put_cp(out, p[i]) < 0)
            return -ENOMEM;
    c->n = 0;
    return 0;
}

static int run_form(kind k, const uint8_t *in, size_t len, tokfs_buf *out)
{
    int compat = k & 1, compose = k >> 1 & 1;
    unsigned qc = compose ? (compat ? TOKFS_UN_NFKC : TOKFS_UN_NFC)
                          : (compat ? TOKFS_UN_NFKD : TOKFS_UN_NFD);
    /* Quick check: every character Yes and the classes in canonical order → nothing to do. */
    size_t i = 0;
    unsigned last = 0;
    int maybe = 0;
    while (i < len) {
        if (in[i] < 0x80) {
            i = ascii_end(in, i + 1, len);
            last = 0;
            continue;
        }
        unsigned l;
        uint32_t cp = tokfs_uc_decode(in + i, len - i, &l);
        unsigned cc = ccc_of(cp);
        if ((flags_of(cp) & qc) || (cc && last > cc)) {
            maybe = 1;
            break;
        }
        last = cc;
        i += l;
    }
    if (!maybe)
        return 0;

    cpbuf c = {.cp = NULL, .n = 0, .cap = 64};
    c.cp = c.local;
    int rc = 0;
    /* A "stable" character (quick check Yes, class 0) followed by another one (or the end) is
     * left as it is and can neither combine with what precedes nor with what follows: such
     * characters are copied through in spans; the rest goes through the code point buffer. */
    size_t raw = (size_t)-1; /* start of the pending verbatim span, if any */
    for (i = 0; i < len && rc == 0;) {
        unsigned l;
        uint32_t cp;
        if (in[i] < 0x80) {
            cp = in[i];
            l = 1;
        } else {
            cp = tokfs_uc_decode(in + i, len - i, &l);
        }
        if (!(flags_of(cp) & qc) && ccc_of(cp) == 0) {
            int next_stable = 1;
            if (i + l < len) {
                unsigned l2;
                uint32_t nx = in[i + l] < 0x80 ? in[i + l]
                                               : tokfs_uc_decode(in + i + l, len - i - l, &l2);
                next_stable = !(flags_of(nx) & qc) && ccc_of(nx) == 0;
            }
            if (next_stable) {
                if (c.n)
                    rc = flush_run(&c, compose, out);
                if (raw == (size_t)-1)
                    raw = i;
                i += l;
                continue;
            }
        }
        if (raw != (size_t)-1) {
            rc = tokfs_buf_append(out, in + raw, i - raw);
            raw = (size_t)-1;
        }
        i += l;
        uint32_t one[3];
        const uint32_t *d = one;
        size_t nd = 1;
        one[0] = cp;
        if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
            uint32_t s = cp - S_BASE;
            one[0] = L_BASE + s / N_COUNT;
            one[1] = V_BASE + (s % N_COUNT) / T_COUNT;
            nd = 2;
            if (s % T_COUNT)
                one[nd++] = T_BASE + s % T_COUNT;
        } else if (cp >= 0x80) {
            uint16_t idx = compat ? LOOK(tokfs_un_compat, cp) : LOOK(tokfs_un_canon, cp);
            if (idx) {
                nd = tokfs_un_pool[idx];
                d = tokfs_un_pool + idx + 1;
            }
        }
        for (size_t j = 0; j < nd && rc == 0; j++) {
            uint32_t x = d[j];
            /* A starter that nothing before it can combine with ends the run. */
            if (c.n && ccc_of(x) == 0 && !(compose && (flags_of(x) & TOKFS_UN_NFC)))
                rc = flush_run(&c, compose, out);
            if (rc == 0)
                rc = cp_push(&c, x);
        }
    }
    if (rc == 0 && raw != (size_t)-1)
        rc = tokfs_buf_append(out, in + raw, len - raw);
    if (rc == 0)
        rc = flush_run(&c, compose, out);
    if (c.cp != c.local)
        free(c.cp);
    if (rc < 0)
        return rc;
    /* A Maybe in the quick check can still give the text back unchanged. */
    if (out->len == len && memcmp(out->data, in, len) == 0)
        return 0;
    return 1;
}

/* ---- per-character passes -------------------------------------------------------------------- */

static int is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Nmt: removes these, maps the others below to a space. */
static int nmt_removed(uint32_t c)
{
    return (c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           c == 0x8F || c == 0x9F;
}

static int nmt_space(uint32_t c)
{
    return c == 9 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
           (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
           c == 0xFEFF || c == 0xFFFD;
}

/* What a per-character pass does to c: -1 keep, -2 drop, -3 replace by the sequence in
 * *seq, *nseq, else the single code point to put instead. */
static long char_action(kind k, uint32_t c, const uint32_t **seq, size_t *nseq)
{
    switch (k) {
    case K_LOWER: {
        uint16_t idx = LOOK(tokfs_un_lower, c);
        if (!idx)
            return -1;
        *nseq = tokfs_un_pool[idx];
        *seq = tokfs_un_pool + idx + 1;
        return -3;
    }
    case K_STRIP_ACCENTS:
        return (flags_of(c) & TOKFS_UN_MARK) ? -2 : -1;
    case K_STRIP_MN:
        return (flags_of(c) & TOKFS_UN_MN) ? -2 : -1;
    case K_NMT:
        if (nmt_removed(c))
            return -2;
        return nmt_space(c) && c != ' ' ? ' ' : -1;
    case K_BERT_CLEAN:
        /* \t \n \r are whitespace, not controls, in BertNormalizer */
        if (c == 0 || c == 0xFFFD || (c != 9 && c != 10 && c != 13 && (flags_of(c) & TOKFS_UN_OTHER)))
            return -2;
        if (c != ' ' && (c == 9 || c == 10 || c == 13 || (flags_of(c) & TOKFS_UN_WS)))
            return ' ';
        return -1;
    default:
        return -1;
    }
}

static int run_chars(kind k, const uint8_t *in, size_t len, tokfs_buf *out)
{
    size_t i = 0, first = len;
    const uint32_t *seq;
    size_t nseq;
    while (i < len) {
        unsigned l;
        uint32_t c = tokfs_uc_decode(in + i, len - i, &l);
        if (char_action(k, c, &seq, &nseq) != -1) {
            first = i;
            break;
        }
        i += l;
    }
    if (first == len)
        return 0;
    if (tokfs_buf_reserve(out, len + len / 2 + 16) < 0)
        return -ENOMEM;
    size_t copied = 0;
    for (i = first; i < len;) {
        unsigned l;
        uint32_t c = in[i] < 0x80 ? (l = 1, in[i]) : tokfs_uc_decode(in + i, len - i, &l);
        long a = char_action(k, c, &seq, &nseq);
        if (a != -1) {
            int rc = tokfs_buf_append(out, in + copied, i - copied);
            if (a == -3)
                for (size_t j = 0; j < nseq && rc == 0; j++)
                    rc = put_cp(out, seq[j]);
            else if (a >= 0 && rc == 0)
                rc = put_cp(out, (uint32_t)a);
            if (rc < 0)
                return -ENOMEM;
            copied = i + l;
        }
        i += l;
    }
    return tokfs_buf_append(out, in + copied, len - copied) < 0 ? -ENOMEM : 1;
}

static int run_chinese(const uint8_t *in, size_t len, tokfs_buf *out)
{
    size_t i = 0, first = len;
    while (i < len) {
        unsigned l;
        uint32_t c = tokfs_uc_decode(in + i, len - i, &l);
        if (is_chinese(c)) {
            first = i;
            break;
        }
        i += l;
    }
    if (first == len)
        return 0;
    if (tokfs_buf_append(out, in, first) < 0)
        return -ENOMEM;
    for (i = first; i < len;) {
        unsigned l;
        uint32_t c = tokfs_uc_decode(in + i, len - i, &l);
        int rc = 0;
        if (is_chinese(c)) {
            rc = tokfs_buf_append(out, " ", 1);
            if (rc == 0)
                rc = tokfs_buf_append(out, in + i, l);
            if (rc == 0)
                rc = tokfs_buf_append(out, " ", 1);
        } else {
            rc = tokfs_buf_append(out, in + i, l);
        }
        if (rc < 0)
            return -ENOMEM;
        i += l;
    }
    return 1;
}

static int run_strip(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *out)
{
    size_t a = 0, b = len;
    if (n->left)
        while (a < len) {
            unsigned l;
            uint32_t c = tokfs_uc_decode(in + a, len - a, &l);
            if (!(flags_of(c) & TOKFS_UN_WS))
                break;
            a += l;
        }
    if (n->right)
        while (b > a) {
            size_t s = b - 1;
            while (s > a && (in[s] & 0xC0) == 0x80)
                s--;
            unsigned l;
            uint32_t c = tokfs_uc_decode(in + s, b - s, &l);
            if (!(flags_of(c) & TOKFS_UN_WS))
                break;
            b = s;
        }
    if (a == 0 && b == len)
        return 0;
    return tokfs_buf_append(out, in + a, b - a) < 0 ? -ENOMEM : 1;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for U+0100
 * upward in byte order. */
static uint32_t byte_char(uint8_t b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE))
            n++;
    return 0x100 + n;
}

static int run_byte_level(const uint32_t *table, const uint8_t *in, size_t len, tokfs_buf *out)
{
    size_t i = 0;
    while (i < len && in[i] >= '!' && in[i] <= '~')
        i++;
    if (i == len)
        return 0;
    if (tokfs_buf_reserve(out, len * 2) < 0)
        return -ENOMEM;
    for (i = 0; i < len; i++)
        if (put_cp(out, table[in[i]]) < 0)
            return -ENOMEM;
    return 1;
}

/* ---- Replace --------------------------------------------------------------------------------- */

/* The matches the reference (the onig crate's find_iter) visits: leftmost matches, searching on
 * from the end of the previous one; an empty match right where the previous match ended is
 * skipped by moving one character on. */
static int run_replace(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *out)
{
    if (len == 0)
        return 0; /* the reference finds no match in an empty text, not even an empty one */
    if (!n->re) { /* a non-empty literal */
        const uint8_t *hit = memmem(in, len, n->str, n->str_len);
        if (!hit)
            return 0;
        size_t pos = 0;
        while (hit) {
            size_t at = (size_t)(hit - in);
            if (tokfs_buf_append(out, in + pos, at - pos) < 0 ||
                tokfs_buf_append(out, n->content, n->content_len) < 0)
                return -ENOMEM;
            pos = at + n->str_len;
            hit = pos < len ? memmem(in + pos, len - pos, n->str, n->str_len) : NULL;
        }
        return tokfs_buf_append(out, in + pos, len - pos) < 0 ? -ENOMEM : 1;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
    if (!md)
        return -ENOMEM;
    size_t search = 0, copied = 0, last_end = (size_t)-1;
    int any = 0, rc = 0;
    while (search <= len) {
        int m = pcre2_match(n->re, in, len, search, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m < 0) {
            if (m != PCRE2_ERROR_NOMATCH)
                rc = -ENOMEM; /* match limits: cannot happen for these patterns without a limit */
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (s == e && e == last_end) {
            if (search >= len)
                break;
            unsigned l;
            (void)tokfs_uc_decode(in + search, len - search, &l);
            search += l;
            continue;
        }
        any = 1;
        if (tokfs_buf_append(out, in + copied, s - copied) < 0 ||
            tokfs_buf_append(out, n->content, n->content_len) < 0) {
            rc = -ENOMEM;
            break;
        }
        copied = e;
        search = e;
        last_end = e;
    }
    pcre2_match_data_free(md);
    if (rc < 0)
        return rc;
    if (!any)
        return 0;
    return tokfs_buf_append(out, in + copied, len - copied) < 0 ? -ENOMEM : 1;
}

/* ---- Precompiled ----------------------------------------------------------------------------- */

/* darts-clone unit fields */
static inline uint32_t du_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline uint32_t du_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static inline int du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t du_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Walk the prefixes of s[0..n) that are keys (stopping at a NUL byte, as darts-clone does).
 * shortest: stop at the first. Returns the matched length (0: none) and the value. */
static size_t cm_search(const tokfs_charsmap *cm, const uint8_t *s, size_t n, int shortest,
                        uint32_t *value)
{
    size_t best = 0;
    if (!cm->nunits)
        return 0;
    size_t pos = du_offset(cm->units[0]);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0)
            break;
        pos ^= s[i];
        if (pos >= cm->nunits)
            break;
        uint32_t u = cm->units[pos];
        if (du_label(u) != s[i])
            break;
        pos ^= du_offset(u);
        if (du_has_leaf(u)) {
            if (pos >= cm->nunits)
                break;
            uint32_t v = du_value(cm->units[pos]);
            if (v >= cm->nnormalized)
                break; /* a value past the strings: no usable rule (the reference would panic) */
            *value = v;
            best = i + 1;
            if (shortest)
                break;
        }
    }
    return best;
}

static size_t cm_lookup(const tokfs_charsmap *cm, const uint8_t *s, size_t n, int shortest,
                        const uint8_t **repl, size_t *repl_len)
{
    uint32_t v = 0;
    size_t m = cm_search(cm, s, n, shortest, &v);
    if (!m)
        return 0;
    const uint8_t *r = cm->normalized + v;
    const uint8_t *z = memchr(r, 0, cm->nnormalized - v);
    *repl = r;
    *repl_len = z ? (size_t)(z - r) : cm->nnormalized - v;
    return m;
}

size_t tokfs_charsmap_longest(const tokfs_charsmap *cm, const uint8_t *s, size_t n,
                              const uint8_t **repl, size_t *repl_len)
{
    return cm_lookup(cm, s, n, 0, repl, repl_len);
}

size_t tokfs_charsmap_shortest(const tokfs_charsmap *cm, const uint8_t *s, size_t n,
                               const uint8_t **repl, size_t *repl_len)
{
    return cm_lookup(cm, s, n, 1, repl, repl_len);
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t l = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3
                 : b >= 0xF0 && b < 0xF5 ? 4 : 0;
        if (!l || i + l > n)
            return 0;
        for (size_t j = 1; j < l; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        if (l == 3) {
            uint32_t c = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6);
            if (c < 0x800 || (c >= 0xD800 && c < 0xE000))
                return 0;
        }
        if (l == 4) {
            uint32_t c = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12);
            if (c < 0x10000 || c > 0x10FFFF)
                return 0;
        }
        i += l;
    }
    return 1;
}

int tokfs_charsmap_open(const uint8_t *blob, size_t len, tokfs_charsmap **out, tokfs_err *err)
{
    *out = NULL;
    if (len < 4)
        return tokfs_err_set(err, EINVAL, "precompiled charsmap: %zu bytes, too short", len);
    uint32_t trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                    (uint32_t)blob[3] << 24;
    if (trie % 4 || trie > len - 4)
        return tokfs_err_set(err, EINVAL, "precompiled charsmap: trie size %u does not fit in "
                             "%zu bytes", trie, len);
    size_t nnorm = len - 4 - trie;
    if (!valid_utf8(blob + 4 + trie, nnorm))
        return tokfs_err_set(err, EINVAL, "precompiled charsmap: replacement strings are not "
                             "UTF-8");
    tokfs_charsmap *cm = calloc(1, sizeof *cm);
    if (!cm)
        return -ENOMEM;
    cm->nunits = trie / 4;
    cm->units = malloc(trie ? trie : 1);
    cm->normalized = malloc(nnorm ? nnorm : 1);
    if (!cm->units || !cm->normalized) {
        tokfs_charsmap_free(cm);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cm->nunits; i++) {
        const uint8_t *p = blob + 4 + 4 * i;
        cm->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                       (uint32_t)p[3] << 24;
    }
    memcpy(cm->normalized, blob + 4 + trie, nnorm);
    cm->nnormalized = nnorm;
    for (unsigned b = 0; b < 128; b++) {
        uint8_t byte = (uint8_t)b;
        uint32_t v;
        if (cm_search(cm, &byte, 1, 1, &v))
            cm->ascii[b] = v + 1;
    }
    *out = cm;
    return 0;
}

void tokfs_charsmap_free(tokfs_charsmap *cm)
{
    if (!cm)
        return;
    free(cm->units);
    free(cm->normalized);
    free(cm);
}

/* ---- grapheme clusters (UAX #29, extended) ----------------------------------------------------- */

/* GB9c (no break inside an Indic conjunct, Unicode 15.1) is left out: the clusters it joins are
 * 9 bytes or more (consonant, virama, consonant: 3 bytes each), which Precompiled treats
 * character by character; without it the second consonant starts a cluster of its own, which
 * gives the same result unless that consonant has a rule of its own and is followed by a
 * two-byte mark (then it is a 5-byte cluster). The differential check found no such text. */

static inline unsigned gcb_of(uint32_t cp) { return LOOK(tokfs_un_gcb, cp); }

size_t tokfs_grapheme_len(const uint8_t *s, size_t n)
{
    unsigned l;
    uint32_t cp = tokfs_uc_decode(s, n, &l);
    unsigned prev = gcb_of(cp);
    size_t i = l;
    /* GB11 state: after ExtPict Extend* (ZWJ)?; GB12/13: number of RIs in the current run */
    int pict = (prev & TOKFS_GCB_EXTPICT) != 0, ri = (prev & 15) == TOKFS_GCB_RI;
    while (i < n) {
        unsigned x = gcb_of(tokfs_uc_decode(s + i, n - i, &l));
        unsigned p = prev & 15, c = x & 15;
        int brk;
        if (p == TOKFS_GCB_CR && c == TOKFS_GCB_LF)
            brk = 0;                                                          /* GB3 */
        else if (p == TOKFS_GCB_CR || p == TOKFS_GCB_LF || p == TOKFS_GCB_CONTROL ||
                 c == TOKFS_GCB_CR || c == TOKFS_GCB_LF || c == TOKFS_GCB_CONTROL)
            brk = 1;                                                          /* GB4, GB5 */
        else if (p == TOKFS_GCB_L && (c == TOKFS_GCB_L || c == TOKFS_GCB_V || c == TOKFS_GCB_LV ||
                                      c == TOKFS_GCB_LVT))
            brk = 0;                                                          /* GB6 */
        else if ((p == TOKFS_GCB_LV || p == TOKFS_GCB_V) && (c == TOKFS_GCB_V || c == TOKFS_GCB_T))
            brk = 0;                                                          /* GB7 */
        else if ((p == TOKFS_GCB_LVT || p == TOKFS_GCB_T) && c == TOKFS_GCB_T)
            brk = 0;                                                          /* GB8 */
        else if (c == TOKFS_GCB_EXTEND || c == TOKFS_GCB_ZWJ || c == TOKFS_GCB_SPACINGMARK ||
                 p == TOKFS_GCB_PREPEND)
            brk = 0;                                                          /* GB9, 9a, 9b */
        else if (p == TOKFS_GCB_ZWJ && pict == 2 && (x & TOKFS_GCB_EXTPICT))
            brk = 0;                                                          /* GB11 */
        else if (p == TOKFS_GCB_RI && c == TOKFS_GCB_RI && ri % 2 == 1)
            brk = 0;                                                          /* GB12, 13 */
        else
            brk = 1;                                                          /* GB999 */
        if (brk)
            break;
        /* pict: 1 after ExtPict Extend*, 2 after ExtPict Extend* ZWJ, 0 otherwise */
        if (x & TOKFS_GCB_EXTPICT)
            pict = 1;
        else if (c == TOKFS_GCB_EXTEND && pict == 1)
            pict = 1;
        else if (c == TOKFS_GCB_ZWJ && pict == 1)
            pict = 2;
        else
            pict = 0;
        ri = c == TOKFS_GCB_RI ? ri + 1 : 0;
        prev = x;
        i += l;
    }
    return i;
}

/* Hugging Face's Precompiled: per grapheme cluster, a cluster under 6 bytes whose start is
 * rewritten (the shortest rule) is replaced as a whole by that rule's replacement — even when
 * the rule covers only part of it; otherwise each character is looked up on its own. */
static int run_precompiled(const tokfs_charsmap *cm, const uint8_t *in, size_t len,
                           tokfs_buf *out, int write)
{
    size_t i = 0, copied = 0;
    const uint8_t *r;
    size_t rl;
    while (i < len) {
        /* An ASCII byte other than CR followed by ASCII (or the end) is a cluster of its own. */
        if (in[i] < 0x80 && in[i] != '\r' && (i + 1 == len || in[i + 1] < 0x80)) {
            uint32_t v = cm->ascii[in[i]];
            if (v) {
                if (!write)
                    return 1;
                r = cm->normalized + v - 1;
                const uint8_t *z = memchr(r, 0, cm->nnormalized - (v - 1));
                rl = z ? (size_t)(z - r) : cm->nnormalized - (v - 1);
                if (tokfs_buf_append(out, in + copied, i - copied) < 0 ||
                    tokfs_buf_append(out, r, rl) < 0)
                    return -ENOMEM;
                copied = i + 1;
            }
            i++;
            continue;
        }
        size_t g = tokfs_grapheme_len(in + i, len - i);
        if (g < 6 && tokfs_charsmap_shortest(cm, in + i, g, &r, &rl)) {
            if (!write)
                return 1;
            if (tokfs_buf_append(out, in + copied, i - copied) < 0 ||
                tokfs_buf_append(out, r, rl) < 0)
                return -ENOMEM;
            i += g;
            copied = i;
            continue;
        }
        for (size_t end = i + g; i < end;) {
            unsigned l;
            (void)tokfs_uc_decode(in + i, end - i, &l);
            if (tokfs_charsmap_shortest(cm, in + i, l, &r, &rl)) {
                if (!write)
                    return 1;
                if (tokfs_buf_append(out, in + copied, i - copied) < 0 ||
                    tokfs_buf_append(out, r, rl) < 0)
                    return -ENOMEM;
                copied = i + l;
            }
            i += l;
        }
    }
    if (!write)
        return 0;
    if (tokfs_buf_append(out, in + copied, len - copied) < 0)
        return -ENOMEM;
    /* A rule may rewrite text to itself. */
    return out->len == len && memcmp(out->data, in, len) == 0 ? 0 : 1;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static int run(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *out);

static int run_sequence(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *out)
{
    /* Alternate between out and tmp; the final text is moved into out. */
    tokfs_buf tmp = {0};
    tokfs_buf *bufs[2] = {out, &tmp};
    const uint8_t *cur = in;
    size_t curlen = len;
    int where = -1, rc = 0; /* where the current text is: -1 in, else bufs[where] */
    for (size_t i = 0; i < n->nseq; i++) {
        int to = where == 0 ? 1 : 0;
        tokfs_buf_clear(bufs[to]);
        rc = run(n->seq[i], cur, curlen, bufs[to]);
        if (rc < 0)
            break;
        if (rc == 1) {
            where = to;
            cur = bufs[to]->data;
            curlen = bufs[to]->len;
        }
    }
    if (rc >= 0 && where == 1) {
        tokfs_buf t = *out;
        *out = tmp;
        tmp = t;
    }
    tokfs_buf_free(&tmp);
    if (rc < 0)
        return rc;
    if (where == -1)
        return 0;
    return 1;
}

static int run(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *out)
{
    switch (n->kind) {
    case K_NFD:
    case K_NFKD:
    case K_NFC:
    case K_NFKC:
        return run_form(n->kind, in, len, out);
    case K_LOWER:
    case K_STRIP_ACCENTS:
    case K_STRIP_MN:
    case K_NMT:
    case K_BERT_CLEAN:
        return run_chars(n->kind, in, len, out);
    case K_BERT_CHINESE:
        return run_chinese(in, len, out);
    case K_STRIP:
        return run_strip(n, in, len, out);
    case K_PREPEND:
        if (len == 0)
            return 0;
        if (tokfs_buf_append(out, n->str, n->str_len) < 0 || tokfs_buf_append(out, in, len) < 0)
            return -ENOMEM;
        return n->str_len ? 1 : 0;
    case K_REPLACE:
        return run_replace(n, in, len, out);
    case K_PRECOMPILED:
        if (run_precompiled(n->cm, in, len, out, 0) == 0)
            return 0;
        return run_precompiled(n->cm, in, len, out, 1);
    case K_BYTE_LEVEL:
        return run_byte_level(n->bytemap, in, len, out);
    case K_SEQUENCE:
        return run_sequence(n, in, len, out);
    }
    return 0;
}

int tokfs_norm_apply(const tokfs_norm *n, const uint8_t *in, size_t len, tokfs_buf *scratch,
                     const uint8_t **res, size_t *res_len)
{
    *res = in;
    *res_len = len;
    if (!n)
        return 0;
    tokfs_buf_clear(scratch);
    int rc = run(n, in, len, scratch);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *res = scratch->data ? scratch->data : (const uint8_t *)"";
        *res_len = scratch->len;
    }
    return 0;
}

/* ---- construction ---------------------------------------------------------------------------- */

void tokfs_norm_free(tokfs_norm *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nseq; i++)
        tokfs_norm_free(n->seq[i]);
    free(n->seq);
    free(n->bytemap);
    free(n->str);
    free(n->content);
    if (n->re)
        pcre2_code_free(n->re);
    tokfs_charsmap_free(n->cm);
    free(n);
}

static tokfs_norm *new_norm(kind k)
{
    tokfs_norm *n = calloc(1, sizeof *n);
    if (n)
        n->kind = k;
    return n;
}

static int refuse(const char *path, tokfs_err *err, const char *what)
{
    return tokfs_err_set(err, ENOTSUP, "tokenizer=%s: %s is not supported; tokfs refuses rather "
                         "than approximate it", path, what);
}

static int bad(const char *path, tokfs_err *err, const char *type, const char *what)
{
    return tokfs_err_set(err, EINVAL, "tokenizer=%s: normalizer %s: %s", path, type, what);
}

static int get_bool(json_t *spec, const char *key, int *out)
{
    json_t *v = json_object_get(spec, key);
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int dup_string(json_t *v, char **out, size_t *len)
{
    *len = json_string_length(v);
    *out = malloc(*len + 1);
    if (!*out)
        return -ENOMEM;
    memcpy(*out, json_string_value(v), *len + 1);
    return 0;
}

static int seq_add(tokfs_norm *seq, tokfs_norm *child)
{
    tokfs_norm **p = realloc(seq->seq, (seq->nseq + 1) * sizeof *p);
    if (!p) {
        tokfs_norm_free(child);
        return -ENOMEM;
    }
    seq->seq = p;
    seq->seq[seq->nseq++] = child;
    return 0;
}

/* Standard base64 with padding (how tokenizer.json stores the charsmap), into a malloc'd buffer.
 * -EINVAL if malformed. */
static int b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
    uint8_t *o = malloc(n / 4 * 3 + 3);
    if (!o)
        return -ENOMEM;
    long k = tokfs_base64_decode((const uint8_t *)s, n, o);
    if (k < 0) {
        free(o);
        return -EINVAL;
    }
    *out = o;
    *out_len = (size_t)k;
    return 0;
}

/* Escapes whose meaning differs between Oniguruma (Ruby syntax, what the reference compiles a
 * Replace regex with) and PCRE2, rewritten to explicit sets: \s is White_Space, \h a hex digit
 * (not horizontal space), \w a letter, mark, decimal or connector (PCRE2 10.42 leaves marks
 * out). The negated forms cannot be written inside [...]: refused there. compile_regex has
 * tokfs_regex_rewrite (pretok.c) rewrite \s \S \w \W \d \p{..} first, with Unicode 16 ranges;
 * this table then only meets \h, \H (and everything in a pattern holding a NUL). */
#define WS_SET "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
               "\\x{202F}\\x{205F}\\x{3000}"
static const struct {
    char esc;
    const char *set; /* the class body */
    int negated;
} ESCAPES[] = {
    {'s', WS_SET, 0}, {'S', WS_SET, 1}, {'h', "0-9a-fA-F", 0}, {'H', "0-9a-fA-F", 1},
    {'w', "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}", 0}, {'W', "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}", 1},
};

static char *rewrite_regex(const char *re, size_t len, int *negated_in_class)
{
    size_t cap = len * 4 + 256;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    int in_class = 0;
    *negated_in_class = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 128 > cap) {
            cap *= 2;
            char *p = realloc(out, cap);
            if (!p) {
                free(out);
                return NULL;
            }
            out = p;
        }
        if (re[i] == '\\' && i + 1 < len) {
            size_t e = 0;
            while (e < sizeof ESCAPES / sizeof ESCAPES[0] && ESCAPES[e].esc != re[i + 1])
                e++;
            if (e < sizeof ESCAPES / sizeof ESCAPES[0]) {
                if (in_class && ESCAPES[e].negated) {
                    *negated_in_class = 1;
                    free(out);
                    return NULL;
                }
                o += (size_t)sprintf(out + o, in_class ? "%s" : ESCAPES[e].negated ? "[^%s]" : "[%s]",
                                     ESCAPES[e].set);
                i++;
                continue;
            }
            out[o++] = re[i++];
            out[o++] = re[i];
            continue;
        }
        if (re[i] == '[')
            in_class = 1;
        else if (re[i] == ']')
            in_class = 0;
        out[o++] = re[i];
    }
    out[o] = 0;
    return out;
}

static int compile_regex(const char *path, const char *re, size_t len, pcre2_code **out,
                         tokfs_err *err)
{
    int negated_in_class;
    /* First the class escapes tokfs's Unicode 16 tables answer (\p{L}, \d, \w, \s, ... as
     * Oniguruma has them; PCRE2's tables are Unicode 14), shared with the pre-tokenizers; then
     * \h, \H below. A pattern holding a NUL (not a C string) keeps only the rewrite below. */
    tokfs_buf pre = {0};
    if (strlen(re) == len) {
        char what[1024];
        snprintf(what, sizeof what, "tokenizer=%s: normalizer Replace: regex", path);
        int rc = tokfs_regex_rewrite(re, what, &pre, err);
        if (rc) {
            tokfs_buf_free(&pre);
            return rc == -ENOMEM ? tokfs_err_set(err, ENOMEM, "out of memory") : rc;
        }
    }
    char *rw = pre.data ? rewrite_regex((const char *)pre.data, strlen((const char *)pre.data),
                                        &negated_in_class)
                        : rewrite_regex(re, len, &negated_in_class);
    tokfs_buf_free(&pre);
    if (!rw)
        return negated_in_class ? refuse(path, err, "a Replace regex with \\S, \\H or \\W inside [...]")
                                : -ENOMEM;
    int code;
    PCRE2_SIZE off;
    /* MULTILINE: in Oniguruma's Ruby syntax ^ and $ are line anchors. */
    *out = pcre2_compile((PCRE2_SPTR)rw, PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_UTF_CHECK, &code,
                         &off, NULL);
    free(rw);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return tokfs_err_set(err, EINVAL, "tokenizer=%s: normalizer Replace: regex %s: %s",
                             path, re, (char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* best effort: the interpreter also works */
    return 0;
}

static int build(const char *path, json_t *spec, tokfs_norm **out, tokfs_err *err);

static int build_bert(const char *path, json_t *spec, tokfs_norm *n, tokfs_err *err)
{
    int clean, chinese, lower, strip;
    if (get_bool(spec, "clean_text", &clean) || get_bool(spec, "handle_chinese_chars", &chinese) ||
        get_bool(spec, "lowercase", &lower))
        return bad(path, err, "BertNormalizer", "clean_text, handle_chinese_chars and lowercase "
                   "must be true or false");
    json_t *sa = json_object_get(spec, "strip_accents");
    if (!sa || json_is_null(sa))
        strip = lower; /* null: follow lowercase */
    else if (json_is_boolean(sa))
        strip = json_is_true(sa);
    else
        return bad(path, err, "BertNormalizer", "strip_accents must be true, false or null");
    kind passes[5];
    size_t np = 0;
    if (clean)
        passes[np++] = K_BERT_CLEAN;
    if (chinese)
        passes[np++] = K_BERT_CHINESE;
    if (strip) {
        passes[np++] = K_NFD;
        passes[np++] = K_STRIP_MN;
    }
    if (lower)
        passes[np++] = K_LOWER;
    for (size_t i = 0; i < np; i++) {
        tokfs_norm *c = new_norm(passes[i]);
        if (!c || seq_add(n, c) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int build(const char *path, json_t *spec, tokfs_norm **out, tokfs_err *err)
{
    *out = NULL;
    if (!json_is_object(spec))
        return bad(path, err, "", "not a JSON object");
    json_t *t = json_object_get(spec, "type");
    if (!json_is_string(t))
        return refuse(path, err, "a normalizer without \"type\"");
    const char *type = json_string_value(t);
    static const struct { const char *name; kind k; } simple[] = {
        {"NFD", K_NFD}, {"NFKD", K_NFKD}, {"NFC", K_NFC}, {"NFKC", K_NFKC},
        {"Lowercase", K_LOWER}, {"StripAccents", K_STRIP_ACCENTS}, {"Nmt", K_NMT},
        {"ByteLevel", K_BYTE_LEVEL},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].name) == 0) {
            tokfs_norm *n = new_norm(simple[i].k);
            if (n && n->kind == K_BYTE_LEVEL) {
                n->bytemap = malloc(256 * sizeof *n->bytemap);
                if (!n->bytemap) {
                    tokfs_norm_free(n);
                    return -ENOMEM;
                }
                for (unsigned b = 0; b < 256; b++)
                    n->bytemap[b] = byte_char((uint8_t)b);
            }
            *out = n;
            return n ? 0 : -ENOMEM;
        }
    tokfs_norm *n = NULL;
    int rc = 0;
    if (strcmp(type, "Strip") == 0) {
        n = new_norm(K_STRIP);
        if (n && (get_bool(spec, "strip_left", &n->left) || get_bool(spec, "strip_right", &n->right)))
            rc = bad(path, err, type, "strip_left and strip_right must be true or false");
    } else if (strcmp(type, "Prepend") == 0) {
        json_t *p = json_object_get(spec, "prepend");
        n = new_norm(K_PREPEND);
        if (n && !json_is_string(p))
            rc = bad(path, err, type, "prepend must be a string");
        else if (n)
            rc = dup_string(p, &n->str, &n->str_len);
    } else if (strcmp(type, "Replace") == 0) {
        json_t *pat = json_object_get(spec, "pattern"), *content = json_object_get(spec, "content");
        json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
        n = new_norm(K_REPLACE);
        if (!n)
            rc = -ENOMEM;
        else if (!json_is_string(content) || (!json_is_string(s) && !json_is_string(r)))
            rc = bad(path, err, type, "needs pattern {\"String\": ...} or {\"Regex\": ...} and "
                     "a string content");
        else if ((rc = dup_string(content, &n->content, &n->content_len)) == 0) {
            if (json_is_string(s) && json_string_length(s) > 0)
                rc = dup_string(s, &n->str, &n->str_len);
            else if (json_is_string(s)) /* the empty literal matches everywhere, as "" does */
                rc = compile_regex(path, "", 0, &n->re, err);
            else
                rc = compile_regex(path, json_string_value(r), json_string_length(r), &n->re, err);
        }
    } else if (strcmp(type, "Precompiled") == 0) {
        json_t *b = json_object_get(spec, "precompiled_charsmap");
        n = new_norm(K_PRECOMPILED);
        if (!n)
            rc = -ENOMEM;
        else if (!json_is_string(b))
            rc = refuse(path, err, "a Precompiled normalizer without a precompiled_charsmap");
        else {
            uint8_t *blob = NULL;
            size_t blen = 0;
            rc = b64_decode(json_string_value(b), json_string_length(b), &blob, &blen);
            if (rc == -EINVAL)
                rc = bad(path, err, type, "precompiled_charsmap is not base64");
            if (rc == 0) {
                rc = tokfs_charsmap_open(blob, blen, &n->cm, err);
                free(blob);
            }
        }
    } else if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(spec, "normalizers");
        n = new_norm(K_SEQUENCE);
        if (n && !json_is_array(arr))
            rc = bad(path, err, type, "normalizers must be an array");
        for (size_t i = 0; n && rc == 0 && i < json_array_size(arr); i++) {
            tokfs_norm *c;
            rc = build(path, json_array_get(arr, i), &c, err);
            if (rc == 0)
                rc = seq_add(n, c);
        }
    } else if (strcmp(type, "BertNormalizer") == 0) {
        n = new_norm(K_SEQUENCE);
        if (n)
            rc = build_bert(path, spec, n, err);
    } else {
        char what[160];
        snprintf(what, sizeof what, "normalizer %s", type);
        return refuse(path, err, what);
    }
    if (!n)
        return -ENOMEM;
    if (rc < 0) {
        tokfs_norm_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int tokfs_norm_from_json(const char *path, json_t *spec, tokfs_norm **out, tokfs_err *err)
{
    *out = NULL;
    if (!spec || json_is_null(spec))
        return 0;
    return build(path, spec, out, err);
}
