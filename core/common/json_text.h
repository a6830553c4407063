/* tokfs — JSON text primitives shared by the scanners that read JSON without building a tree:
 * the JSONL field scanner (decode/jsonl.c, CPython's rules) and the tokenizer.json vocabulary
 * reader (tokenize/tok_hf_scan.c, serde_json's rules). Each scanner keeps its own grammar and
 * its own answer to the questions JSON leaves open (lone surrogates, NaN, huge integers); what is
 * here is the part they share: whitespace, the 8-bytes-at-a-time string run, escapes, numbers.
 * Static inline: both callers are hot loops. */
#ifndef TOKFS_JSON_TEXT_H
#define TOKFS_JSON_TEXT_H

#include "common/hex.h"
#include "common/utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TOKFS_JSON_WORD_ONES 0x0101010101010101ull
#define TOKFS_JSON_WORD_HIGHS 0x8080808080808080ull

static inline int tokfs_json_is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int tokfs_json_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline const uint8_t *tokfs_json_skip_space(const uint8_t *p, const uint8_t *end)
{
    while (p < end && tokfs_json_is_space(*p))
        p++;
    return p;
}

/* High bit set in each byte of w that ends a run of plain string content: '"', '\\' or a byte
 * below 0x20. Each term is the classic "has zero byte" test; a term may also flag bytes above a
 * true hit (borrow), never below one, so the lowest flagged byte is always a real one. */
static inline uint64_t tokfs_json_special_bytes(uint64_t w)
{
    uint64_t quote = w ^ (TOKFS_JSON_WORD_ONES * '"');
    uint64_t backslash = w ^ (TOKFS_JSON_WORD_ONES * '\\');
    uint64_t control = (w - TOKFS_JSON_WORD_ONES * 0x20) & ~w;
    uint64_t is_quote = (quote - TOKFS_JSON_WORD_ONES) & ~quote;
    uint64_t is_backslash = (backslash - TOKFS_JSON_WORD_ONES) & ~backslash;
    return (control | is_quote | is_backslash) & TOKFS_JSON_WORD_HIGHS;
}

/* Length of the run of plain content bytes at p, copying it to out unless out is NULL. Stores
 * whole words, so it may write up to 7 bytes past the run; a caller that copies leaves room
 * (the decoded string is never longer than its JSON form, and a whole word is stored only when
 * 8 input bytes remain). */
static inline size_t tokfs_json_plain_run(const uint8_t *p, const uint8_t *end, uint8_t *out)
{
    const uint8_t *start = p;

    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w); /* one unaligned load */
        uint64_t special = tokfs_json_special_bytes(w);
        if (out)
            memcpy(out + (p - start), &w, 8);
        if (special) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return (size_t)(p - start) + ((size_t)__builtin_ctzll(special) >> 3);
#else
            break; /* big-endian: let the byte loop find it */
#endif
        }
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
        if (out)
            out[p - start] = *p;
        p++;
    }
    return (size_t)(p - start);
}

/* The code unit of the four hex digits at p (end - p >= 4), or -1. */
static inline long tokfs_json_hex4(const uint8_t *p)
{
    long value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = tokfs_hex_value(p[i]);
        if (digit < 0)
            return -1;
        value = value << 4 | digit;
    }
    return value;
}

/* Decode the escape at p (p[0] == '\\') into buf (at most 4 bytes, never more than the escape
 * itself), set *nbuf, and set *lone_surrogate when it was an unpaired \uD800..\uDFFF (written
 * as U+FFFD; whether that is allowed is the caller's rule). A high surrogate escape immediately
 * followed by a low one is one code point. Returns the position after the escape, or NULL when
 * it is malformed. */
static inline const uint8_t *tokfs_json_escape(const uint8_t *p, const uint8_t *end, uint8_t *buf,
                                               size_t *nbuf, int *lone_surrogate)
{
    *lone_surrogate = 0;
    if (end - p < 2)
        return NULL;

    uint8_t simple;
    switch (p[1]) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '/': simple = '/'; break;
    case 'b': simple = '\b'; break;
    case 'f': simple = '\f'; break;
    case 'n': simple = '\n'; break;
    case 'r': simple = '\r'; break;
    case 't': simple = '\t'; break;
    case 'u': {
        long unit = end - p >= 6 ? tokfs_json_hex4(p + 2) : -1;
        if (unit < 0)
            return NULL;
        if (unit >= 0xD800 && unit <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
            long low = tokfs_json_hex4(p + 8);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                unsigned long cp = 0x10000 + ((unsigned long)(unit - 0xD800) << 10) +
                                   (unsigned long)(low - 0xDC00);
                *nbuf = tokfs_utf8_encode(buf, cp);
                return p + 12;
            }
            /* Not a low surrogate (or not hex): this one stands alone, and the next escape is
             * decoded, or rejected, on its own. */
        }
        if (unit >= 0xD800 && unit <= 0xDFFF) {
            *lone_surrogate = 1;
            unit = 0xFFFD;
        }
        *nbuf = tokfs_utf8_encode(buf, (unsigned long)unit);
        return p + 6;
    }
    default:
        return NULL;
    }
    buf[0] = simple;
    *nbuf = 1;
    return p + 2;
}

/* Skip a number per the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?
 * A '.' or 'e' not followed by digits is left unconsumed, for the caller to reject as it would
 * any other stray byte after a value. Sets *int_digits (digits before any fraction) and
 * *is_float (a fraction or an exponent was read). Returns NULL if there is no number at p. */
static inline const uint8_t *tokfs_json_number(const uint8_t *p, const uint8_t *end,
                                               size_t *int_digits, int *is_float)
{
    if (p < end && *p == '-')
        p++;
    const uint8_t *int_start = p;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && tokfs_json_is_digit(*p))
            p++;
    else
        return NULL;
    *int_digits = (size_t)(p - int_start);

    *is_float = 0;
    if (end - p >= 2 && p[0] == '.' && tokfs_json_is_digit(p[1])) {
        p += 2;
        while (p < end && tokfs_json_is_digit(*p))
            p++;
        *is_float = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const uint8_t *q = p + 1;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q < end && tokfs_json_is_digit(*q)) {
            p = q;
            while (p < end && tokfs_json_is_digit(*p))
                p++;
            *is_float = 1;
        }
    }
    return p;
}

#endif
