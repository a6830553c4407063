/* tokfs — the Unicode properties the pre-tokenizer patterns ask about.
 *
 * One class byte per code point, from a two-stage table generated out of the Unicode Character
 * Database (core/tokenize/gen/unicode_gen.py → core/tokenize/unicode_data.c). The bits match the regex classes the
 * GPT-2, cl100k and o200k patterns use: \p{L} split into its five categories (o200k needs them
 * apart), \p{M}, \p{N}, and \s = the White_Space property (U+0085 and U+00A0 are spaces, U+001C..
 * U+001F are not), as the Rust regex crate (tiktoken) and Oniguruma (HF tokenizers) define it. */
#ifndef TOKFS_UNICODE_H
#define TOKFS_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    TOKFS_UC_LU = 1,   /* uppercase letter */
    TOKFS_UC_LL = 2,   /* lowercase letter */
    TOKFS_UC_LT = 4,   /* titlecase letter */
    TOKFS_UC_LM = 8,   /* modifier letter */
    TOKFS_UC_LO = 16,  /* other letter */
    TOKFS_UC_M = 32,   /* mark: Mn, Mc, Me */
    TOKFS_UC_N = 64,   /* number: Nd, Nl, No */
    TOKFS_UC_WS = 128, /* White_Space */
    TOKFS_UC_L = TOKFS_UC_LU | TOKFS_UC_LL | TOKFS_UC_LT | TOKFS_UC_LM | TOKFS_UC_LO,
};

extern const uint16_t tokfs_uc_stage1[0x110000 >> 8];
extern const uint8_t tokfs_uc_stage2[][256];

/* Class bits of code point cp (0 for cp > U+10FFFF). */
static inline unsigned tokfs_uc_class(uint32_t cp)
{
    if (cp >= 0x110000)
        return 0;
    return tokfs_uc_stage2[tokfs_uc_stage1[cp >> 8]][cp & 0xFF];
}

/* The classes Hugging Face's pre-tokenizers test, in a second table of the same shape: each
 * follows the reference's own definition and Unicode version (core/tokenize/gen/hf_classes.js
 * probes them out of npm tokenizers), which differ from the regex classes above — Punctuation's
 * table is an old Unicode's P*, Whitespace's \w is Rust regex's. */
enum {
    TOKFS_UC_HF_PUNCT = 1,   /* char::is_ascii_punctuation || general category P* (Punctuation, Bert) */
    TOKFS_UC_HF_WORD = 2,    /* \w of the Rust regex crate (Whitespace's \w+|[^\w\s]+) */
    TOKFS_UC_HF_NUMERIC = 4, /* char::is_numeric (Digits) */
    TOKFS_UC_HF_SPACE = 8,   /* char::is_whitespace (WhitespaceSplit, Bert, Whitespace's \s) */
    TOKFS_UC_HF_ONIG_P = 16, /* \p{P} in a Split regex (Oniguruma, Unicode 16) */
    TOKFS_UC_HF_ONIG_S = 32, /* \p{S} in a Split regex */
    TOKFS_UC_HF_ND = 64,     /* \d and \p{Nd}: decimal digits (Oniguruma and Rust regex agree) */
};

extern const uint16_t tokfs_uc_hf_stage1[0x110000 >> 8];
extern const uint8_t tokfs_uc_hf_stage2[][256];

static inline unsigned tokfs_uc_hf_class(uint32_t cp)
{
    if (cp >= 0x110000)
        return 0;
    return tokfs_uc_hf_stage2[tokfs_uc_hf_stage1[cp >> 8]][cp & 0xFF];
}

/* Decode the code point at s[0..n) (n >= 1), which must be valid UTF-8 (tokfs repairs text
 * before tokenizing). Stores the sequence length in *len. */
static inline uint32_t tokfs_uc_decode(const uint8_t *s, size_t n, unsigned *len)
{
    uint8_t b = s[0];
    if (b < 0x80 || n < 2) {
        *len = 1;
        return b;
    }
    if (b < 0xE0) {
        *len = 2;
        return ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (b < 0xF0 || n < 4) {
        if (n < 3) {
            *len = 1;
            return b;
        }
        *len = 3;
        return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

#endif
