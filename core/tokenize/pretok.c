/* Pre-tokenizers: the hand-written GPT-2 / cl100k / o200k / Qwen2 patterns and PCRE2 for any
 * other regex, and the places where a long document may be cut. */
#include "tokenize/pretok_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/buf.h"
#include "tokenize/unicode_internal.h"

static const char PAT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PAT_CL100K[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_O200K[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* The same patterns as the tokenizer.json files of GPT-NeoX-style models write them, and the
 * newer tiktoken (Python >= 0.7) form of cl100k, which differs at the end of the text. */
static const struct {
    const char *name;
    const char *regex;
    tokfs_pattern kind;
} KNOWN[] = {
    {"gpt2", PAT_GPT2, TOKFS_PATTERN_GPT2},
    {"r50k_base", PAT_GPT2, TOKFS_PATTERN_GPT2},
    {"p50k_base", PAT_GPT2, TOKFS_PATTERN_GPT2},
    {"cl100k_base", PAT_CL100K, TOKFS_PATTERN_CL100K},
    {"o200k_base", PAT_O200K, TOKFS_PATTERN_O200K},
    {"qwen2", PAT_QWEN2, TOKFS_PATTERN_QWEN2},
};

/* Split regexes of Hugging Face tokenizer.json files that have a hand-written matcher but no
 * name (they do not match everywhere). */
static const char PAT_NUM3[] = "\\p{N}{1,3}";
static const char PAT_DEEPSEEK[] =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_CJK[] = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
static const struct {
    const char *regex;
    tokfs_pattern kind;
} KNOWN_SPLIT[] = {
    {PAT_NUM3, TOKFS_PATTERN_NUM3},
    {PAT_CJK, TOKFS_PATTERN_CJK},
    {PAT_DEEPSEEK, TOKFS_PATTERN_DEEPSEEK},
};

/* A pattern whose matches do not cover the text. */
static int gappy(tokfs_pattern kind)
{
    return kind == TOKFS_PATTERN_NUM3 || kind == TOKFS_PATTERN_CJK ||
           kind == TOKFS_PATTERN_DEEPSEEK;
}

const char *tokfs_pattern_regex(tokfs_pattern kind)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (KNOWN[i].kind == kind)
            return KNOWN[i].regex;
    return NULL;
}

int tokfs_pattern_from_name(const char *name, tokfs_pattern *out)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(KNOWN[i].name, name) == 0) {
            *out = KNOWN[i].kind;
            return 0;
        }
    return -ENOENT;
}

/* ---- the hand-written matchers ----------------------------------------------------------- */

/* Class bits of the character at t[i] (i < n); its length in *len. */
static inline unsigned cls_at(const uint8_t *t, size_t n, size_t i, unsigned *len)
{
    if (t[i] < 0x80) {
        *len = 1;
        return tokfs_uc_stage2[0][t[i]];
    }
    return tokfs_uc_class(tokfs_uc_decode(t + i, n - i, len));
}

static inline int is_other(unsigned c) /* [^\s\p{L}\p{N}] */
{
    return !(c & (TOKFS_UC_L | TOKFS_UC_N | TOKFS_UC_WS));
}

/* End of the run of characters, from i, whose class has a bit of mask. */
static size_t run_in(const uint8_t *t, size_t n, size_t i, unsigned mask)
{
    unsigned len;
    while (i < n && (cls_at(t, n, i, &len) & mask))
        i += len;
    return i;
}

static size_t run_other(const uint8_t *t, size_t n, size_t i)
{
    unsigned len;
    while (i < n && is_other(cls_at(t, n, i, &len)))
        i += len;
    return i;
}

/* At most max characters of class N from i. */
static size_t run_digits(const uint8_t *t, size_t n, size_t i, int max)
{
    unsigned len;
    for (int k = 0; k < max && i < n && (cls_at(t, n, i, &len) & TOKFS_UC_N); k++)
        i += len;
    return i;
}

/* The whitespace alternatives, at a whitespace character i:
 *   [\s*[\r\n]+ when newline_rule]  \s+(?!\S)  \s+
 * \s*[\r\n]+ ends after the last \r or \n of the run; \s+(?!\S) takes the whole run at the end
 * of the text, else all but its last character (which stays for the next piece) when the run has
 * two or more; a single whitespace character before a non-space is \s+. */
static size_t match_space(const uint8_t *t, size_t n, size_t i, int newline_rule)
{
    size_t last_start = i, after_nl = 0, e = i;
    unsigned len;
    while (e < n && (cls_at(t, n, e, &len) & TOKFS_UC_WS)) {
        if (t[e] == '\r' || t[e] == '\n')
            after_nl = e + 1;
        last_start = e;
        e += len;
    }
    if (newline_rule && after_nl)
        return after_nl;
    if (e == n || last_start == i)
        return e;
    return last_start;
}

/* 's 't 're 've 'm 'll 'd at t[i] == '\'' — case-sensitive for gpt2. 0 when none. */
static size_t contraction_exact(const uint8_t *t, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0;
    uint8_t a = t[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return i + 2;
    if (i + 2 < n) {
        uint8_t b = t[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    return 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at t[i] == '\''. Unicode simple case folding adds only U+017F
 * LATIN SMALL LETTER LONG S (folds to s) to these letters. 0 when none. */
static size_t contraction_fold(const uint8_t *t, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0;
    uint8_t a = t[i + 1] | 0x20; /* ASCII letters to lower case; others never match below */
    if (t[i + 1] >= 0x80) {
        if (t[i + 1] == 0xC5 && i + 2 < n && t[i + 2] == 0xBF)
            return i + 3; /* 'ſ */
        return 0;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return i + 2;
    if (i + 2 < n && t[i + 2] < 0x80) {
        uint8_t b = t[i + 2] | 0x20;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    return 0;
}

static size_t next_gpt2(const uint8_t *t, size_t n, size_t i)
{
    unsigned len, len2;
    if (t[i] == '\'') {
        size_t e = contraction_exact(t, n, i);
        if (e)
            return e;
    }
    unsigned c = cls_at(t, n, i, &len);
    size_t j = i;
    if (t[i] == ' ' && i + 1 < n) { /* " ?" then a letter, number or other run */
        c = cls_at(t, n, i + 1, &len2);
        j = i + 1;
        if (c & TOKFS_UC_WS) { /* a space before whitespace: the whitespace rules */
            c = TOKFS_UC_WS;
            j = i;
        }
    }
    if (c & TOKFS_UC_L)
        return run_in(t, n, j, TOKFS_UC_L);
    if (c & TOKFS_UC_N)
        return run_in(t, n, j, TOKFS_UC_N);
    if (is_other(c))
        return run_other(t, n, j);
    return match_space(t, n, i, 0);
}

/* cl100k_base (max_digits 3) and qwen2 (max_digits 1). */
static size_t next_cl100k(const uint8_t *t, size_t n, size_t i, int max_digits)
{
    unsigned len, len2;
    if (t[i] == '\'') {
        size_t e = contraction_fold(t, n, i);
        if (e)
            return e;
    }
    unsigned c = cls_at(t, n, i, &len);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c & TOKFS_UC_L)
        return run_in(t, n, i + len, TOKFS_UC_L);
    if (!(c & TOKFS_UC_N) && t[i] != '\r' && t[i] != '\n' && i + len < n &&
        (cls_at(t, n, i + len, &len2) & TOKFS_UC_L))
        return run_in(t, n, i + len, TOKFS_UC_L);
    /* \p{N}{1,3} */
    if (c & TOKFS_UC_N)
        return run_digits(t, n, i, max_digits);
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t j = i;
    if (t[i] == ' ' && i + 1 < n && is_other(cls_at(t, n, i + 1, &len2)))
        j = i + 1;
    if (j > i || is_other(c)) {
        size_t e = run_other(t, n, j);
        while (e < n && (t[e] == '\r' || t[e] == '\n'))
            e++;
        return e;
    }
    return match_space(t, n, i, 1);
}

/* o200k: (?i:'s|'t|'re|'ve|'m|'ll|'d)? after a letter run. */
static size_t o200k_suffix(const uint8_t *t, size_t n, size_t e)
{
    if (e < n && t[e] == '\'') {
        size_t s = contraction_fold(t, n, e);
        if (s)
            return s;
    }
    return e;
}

#define O200K_UPPER (TOKFS_UC_LU | TOKFS_UC_LT | TOKFS_UC_LM | TOKFS_UC_LO | TOKFS_UC_M)
#define O200K_LOWER (TOKFS_UC_LL | TOKFS_UC_LM | TOKFS_UC_LO | TOKFS_UC_M)

/* [UPPER]*[LOWER]+ from j, with the backtracking of the regex: the greedy UPPER run gives back
 * characters until a LOWER one can start the LOWER run. Returns the end or 0 on no match. */
static size_t o200k_upper_star_lower_plus(const uint8_t *t, size_t n, size_t j)
{
    unsigned len;
    size_t last_lower_end = 0, e = j;
    unsigned c;
    while (e < n && ((c = cls_at(t, n, e, &len)) & O200K_UPPER)) {
        if (c & O200K_LOWER)
            last_lower_end = e + len;
        e += len;
    }
    if (e < n && (cls_at(t, n, e, &len) & O200K_LOWER))
        return run_in(t, n, e, O200K_LOWER);
    return last_lower_end; /* the last UPPER-and-LOWER character ends the LOWER run */
}

/* [UPPER]+[LOWER]* from j, 0 on no match. */
static size_t o200k_upper_plus_lower_star(const uint8_t *t, size_t n, size_t j)
{
    size_t e = run_in(t, n, j, O200K_UPPER);
    if (e == j)
        return 0;
    return run_in(t, n, e, O200K_LOWER);
}

static size_t next_o200k(const uint8_t *t, size_t n, size_t i)
{
    unsigned len, len2;
    unsigned c = cls_at(t, n, i, &len);
    int x = !(c & (TOKFS_UC_L | TOKFS_UC_N)) && t[i] != '\r' && t[i] != '\n';
    size_t e;
    /* [^\r\n\p{L}\p{N}]?[UPPER]*[LOWER]+(?i:...)? : the optional prefix taken first */
    if (x && i + len < n && (e = o200k_upper_star_lower_plus(t, n, i + len)))
        return o200k_suffix(t, n, e);
    if ((e = o200k_upper_star_lower_plus(t, n, i)))
        return o200k_suffix(t, n, e);
    /* [^\r\n\p{L}\p{N}]?[UPPER]+[LOWER]*(?i:...)? */
    if (x && i + len < n && (e = o200k_upper_plus_lower_star(t, n, i + len)))
        return o200k_suffix(t, n, e);
    if ((e = o200k_upper_plus_lower_star(t, n, i)))
        return o200k_suffix(t, n, e);
    /* \p{N}{1,3} */
    if (c & TOKFS_UC_N)
        return run_digits(t, n, i, 3);
    /*  ?[^\s\p{L}\p{N}]+[\r\n/]* */
    size_t j = i;
    if (t[i] == ' ' && i + 1 < n && is_other(cls_at(t, n, i + 1, &len2)))
        j = i + 1;
    if (j > i || is_other(c)) {
        e = run_other(t, n, j);
        while (e < n && (t[e] == '\r' || t[e] == '\n' || t[e] == '/'))
            e++;
        return e;
    }
    return match_space(t, n, i, 1);
}

/* ---- the DeepSeek-V3 Split patterns --------------------------------------------------------- */

static inline unsigned hf_cls_at(const uint8_t *t, size_t n, size_t i, unsigned *len)
{
    return tokfs_uc_hf_class(tokfs_uc_decode(t + i, n - i, len));
}

#define ONIG_PS (TOKFS_UC_HF_ONIG_P | TOKFS_UC_HF_ONIG_S)

static inline int ascii_punct(uint8_t b)
{
    return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) ||
           (b >= 0x7B && b <= 0x7E);
}

static inline int ascii_letter(uint8_t b)
{
    return (uint8_t)((b | 0x20) - 'a') < 26;
}

/* The match of the DeepSeek pattern starting at i, its end, or 0 when none starts there. */
static size_t match_deepseek(const uint8_t *t, size_t n, size_t i)
{
    unsigned len, len2;
    /* [ASCII punctuation][A-Za-z]+ */
    if (ascii_punct(t[i]) && i + 1 < n && ascii_letter(t[i + 1])) {
        size_t e = i + 2;
        while (e < n && ascii_letter(t[e]))
            e++;
        return e;
    }
    unsigned c = cls_at(t, n, i, &len), h = hf_cls_at(t, n, i, &len);
    /* [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+: the optional character first, else the run from i */
    if (!(c & TOKFS_UC_L) && !(h & ONIG_PS) && t[i] != '\r' && t[i] != '\n' && i + len < n &&
        (cls_at(t, n, i + len, &len2) & (TOKFS_UC_L | TOKFS_UC_M)))
        return run_in(t, n, i + len, TOKFS_UC_L | TOKFS_UC_M);
    if (c & (TOKFS_UC_L | TOKFS_UC_M))
        return run_in(t, n, i, TOKFS_UC_L | TOKFS_UC_M);
    /*  ?[\p{P}\p{S}]+[\r\n]* */
    size_t j = i;
    if (t[i] == ' ' && i + 1 < n && (hf_cls_at(t, n, i + 1, &len2) & ONIG_PS))
        j = i + 1;
    if (j > i || (h & ONIG_PS)) {
        size_t e = j;
        while (e < n && (hf_cls_at(t, n, e, &len2) & ONIG_PS))
            e += len2;
        while (e < n && (t[e] == '\r' || t[e] == '\n'))
            e++;
        return e;
    }
    if (c & TOKFS_UC_WS)
        return match_space(t, n, i, 1);
    return 0;
}

/* The first match at or after pos of a gappy pattern: 0 and its bounds, or -1 when none. */
static int find_gappy(tokfs_pattern kind, const uint8_t *t, size_t n, size_t pos, size_t *s,
                      size_t *e)
{
    unsigned len;
    for (size_t i = pos; i < n; i += len) {
        size_t end;
        if (kind == TOKFS_PATTERN_NUM3) {
            end = (cls_at(t, n, i, &len) & TOKFS_UC_N) ? run_digits(t, n, i, 3) : 0;
        } else if (kind == TOKFS_PATTERN_CJK) {
            end = i;
            for (size_t k = i; k < n;) {
                unsigned l;
                uint32_t cp = tokfs_uc_decode(t + k, n - k, &l);
                if (!((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x4E00 && cp <= 0x9FA5)))
                    break;
                end = k += l;
            }
            if (t[i] < 0x80)
                len = 1;
            else
                tokfs_uc_decode(t + i, n - i, &len);
            if (end == i)
                end = 0;
        } else {
            end = match_deepseek(t, n, i);
            if (t[i] < 0x80)
                len = 1;
            else
                tokfs_uc_decode(t + i, n - i, &len);
        }
        if (end) {
            *s = i;
            *e = end;
            return 0;
        }
    }
    return -1;
}

/* ---- PCRE2 for other patterns ------------------------------------------------------------ */

/* PCRE2 10.42's Unicode tables are Unicode 14, the references' (Oniguruma in HF tokenizers, the
 * Rust regex crate in tiktoken) Unicode 16, and PCRE2's \s, \w and \d differ from theirs too.
 * So before compiling, every class escape tokfs's own tables answer exactly is rewritten to
 * explicit code point ranges generated from those tables:
 *   \p{L} \p{Lu} \p{Ll} \p{Lt} \p{Lm} \p{Lo} \p{LC} \p{M} \p{N} \p{Nd} \p{P} \p{S} (long names
 *   such as \p{Letter}, \p{Uppercase_Letter} too; loose matching of case, ' ', '_', '-'), \pL,
 *   negated \P{..}, \p{^..}, \PL, and \d \D \w \W \S (the classes of both references, probed
 *   code point by code point: they agree, see core/tokenize/gen/hf_classes.js).
 * Inside [...] the ranges of all such escapes of the class are merged into one list (PCRE2 is
 * built with 2-byte links: a compiled pattern must stay below 64 KiB, and unmerged lists of
 * \p{L} and friends in the o200k-like classes would not fit); negated escapes inside a class
 * become the complement's ranges. Other properties (scripts such as \p{Han}, \p{Alphabetic})
 * stay PCRE2's and so Unicode 14's.
 * Under a caseless option ((?i) or (?i:...)) PCRE2 and Oniguruma match \p{..} without case
 * folding (tiktoken's Rust regex folds: (?i)\p{Lu} takes lower case letters too) while PCRE2
 * would fold explicit ranges: outside [...] the ranges are wrapped in (?-i:...); inside [...]
 * they cannot be, so there the escapes stay PCRE2's (Unicode 14) and \S, \W, which PCRE2
 * defines differently, are refused. */
#define WS_SET "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
               "\\x{202F}\\x{205F}\\x{3000}"
/* \w in Oniguruma (probed from the reference: npm tokenizers' Split) is Unicode's word
 * property — Alphabetic, marks, decimal digits, connector punctuation — without the two joiners
 * U+200C/U+200D; outside [...] it also takes U+00B2 U+00B3 U+00B9 U+00BC..U+00BE (its Latin-1
 * ctype table counts those numbers as word characters), inside it does not. The Rust regex
 * crate's \w is the same set with the joiners (tokfs's WORD bit). Only used in caseless
 * classes, where PCRE2's properties must stay. */
#define WORD_SET "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}"

/* One class escape tokfs's tables answer: the predicate's kind and whether it is negated. */
enum { UP_CLS, UP_HF, UP_WORD_IN, UP_WORD_OUT, UP_SPACE };
typedef struct uprop {
    uint8_t kind, mask, neg;
} uprop;

static const struct {
    const char *name; /* loose form: lower case, no ' ', '_', '-' */
    uint8_t kind, mask;
} UPROPS[] = {
    {"l", UP_CLS, TOKFS_UC_L}, {"letter", UP_CLS, TOKFS_UC_L},
    {"lu", UP_CLS, TOKFS_UC_LU}, {"uppercaseletter", UP_CLS, TOKFS_UC_LU},
    {"ll", UP_CLS, TOKFS_UC_LL}, {"lowercaseletter", UP_CLS, TOKFS_UC_LL},
    {"lt", UP_CLS, TOKFS_UC_LT}, {"titlecaseletter", UP_CLS, TOKFS_UC_LT},
    {"lm", UP_CLS, TOKFS_UC_LM}, {"modifierletter", UP_CLS, TOKFS_UC_LM},
    {"lo", UP_CLS, TOKFS_UC_LO}, {"otherletter", UP_CLS, TOKFS_UC_LO},
    {"lc", UP_CLS, TOKFS_UC_LU | TOKFS_UC_LL | TOKFS_UC_LT},
    {"l&", UP_CLS, TOKFS_UC_LU | TOKFS_UC_LL | TOKFS_UC_LT},
    {"casedletter", UP_CLS, TOKFS_UC_LU | TOKFS_UC_LL | TOKFS_UC_LT},
    {"m", UP_CLS, TOKFS_UC_M}, {"mark", UP_CLS, TOKFS_UC_M}, {"combiningmark", UP_CLS, TOKFS_UC_M},
    {"n", UP_CLS, TOKFS_UC_N}, {"number", UP_CLS, TOKFS_UC_N},
    {"nd", UP_HF, TOKFS_UC_HF_ND}, {"decimalnumber", UP_HF, TOKFS_UC_HF_ND},
    {"p", UP_HF, TOKFS_UC_HF_ONIG_P}, {"punctuation", UP_HF, TOKFS_UC_HF_ONIG_P},
    {"s", UP_HF, TOKFS_UC_HF_ONIG_S}, {"symbol", UP_HF, TOKFS_UC_HF_ONIG_S},
};

static int uprop_has(uprop u, uint32_t cp)
{
    int in;
    switch (u.kind) {
    case UP_CLS: in = (tokfs_uc_class(cp) & u.mask) != 0; break;
    case UP_HF: in = (tokfs_uc_hf_class(cp) & u.mask) != 0; break;
    case UP_SPACE: in = (tokfs_uc_class(cp) & TOKFS_UC_WS) != 0; break;
    default:
        in = (tokfs_uc_hf_class(cp) & TOKFS_UC_HF_WORD) && cp != 0x200C && cp != 0x200D;
        if (u.kind == UP_WORD_OUT && (cp == 0xB2 || cp == 0xB3 || cp == 0xB9 ||
                                      (cp >= 0xBC && cp <= 0xBE)))
            in = 1;
        break;
    }
    return in != u.neg;
}

/* The escape at re[i] == '\\' when tokfs's tables answer it: *u and its length. 0 if not. */
static size_t parse_uprop(const char *re, size_t i, uprop *u)
{
    char c = re[i + 1];
    memset(u, 0, sizeof *u);
    if (c == 'd' || c == 'D') {
        *u = (uprop){UP_HF, TOKFS_UC_HF_ND, c == 'D'};
        return 2;
    }
    if (c == 'w' || c == 'W') {
        *u = (uprop){UP_WORD_IN, 0, c == 'W'};
        return 2;
    }
    if (c == 'S') {
        *u = (uprop){UP_SPACE, 0, 1};
        return 2;
    }
    if (c != 'p' && c != 'P')
        return 0;
    int neg = c == 'P';
    char name[40];
    size_t nl = 0, len;
    if (re[i + 2] == '{') {
        size_t j = i + 3;
        if (re[j] == '^') {
            neg = !neg;
            j++;
        }
        for (; re[j] && re[j] != '}'; j++) {
            char ch = re[j];
            if (ch == ' ' || ch == '_' || ch == '-')
                continue;
            if (nl + 1 >= sizeof name)
                return 0;
            name[nl++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        if (re[j] != '}')
            return 0;
        len = j + 1 - i;
    } else if (re[i + 2]) {
        char ch = re[i + 2];
        name[nl++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        len = 3;
    } else {
        return 0;
    }
    name[nl] = 0;
    for (size_t k = 0; k < sizeof UPROPS / sizeof UPROPS[0]; k++)
        if (strcmp(UPROPS[k].name, name) == 0) {
            *u = (uprop){UPROPS[k].kind, UPROPS[k].mask, (uint8_t)neg};
            return len;
        }
    return 0;
}

/* Ranges of the union of props[0..n), as PCRE2 class items ("\x{41}-\x{5A}..."), appended to
 * out. The lists are kept (process lifetime, a handful of distinct ones) so that a tokenizer
 * loaded again, or several regexes using the same classes, do not scan the tables again. */
#define RANGE_CACHE_MAX 64
static struct {
    uprop key[8];
    size_t n;
    char *ranges;
} range_cache[RANGE_CACHE_MAX];
static size_t range_cache_n;
static pthread_mutex_t range_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_uprop(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(uprop));
}

static int append_ranges(tokfs_buf *out, uprop *props, size_t n)
{
    qsort(props, n, sizeof *props, cmp_uprop);
    pthread_mutex_lock(&range_cache_lock);
    for (size_t k = 0; k < range_cache_n; k++)
        if (range_cache[k].n == n && memcmp(range_cache[k].key, props, n * sizeof *props) == 0) {
            int rc = tokfs_buf_append(out, range_cache[k].ranges, strlen(range_cache[k].ranges));
            pthread_mutex_unlock(&range_cache_lock);
            return rc;
        }
    pthread_mutex_unlock(&range_cache_lock);
    tokfs_buf r = {0};
    int rc = 0;
    long first = -1;
    for (uint32_t cp = 0; cp <= 0x110000 && !rc; cp++) {
        int in = 0;
        /* surrogates cannot be written in a UTF-8 pattern, and never occur in the text */
        if (cp < 0x110000 && (cp < 0xD800 || cp > 0xDFFF))
            for (size_t k = 0; k < n && !in; k++)
                in = uprop_has(props[k], cp);
        if (in && first < 0)
            first = cp;
        if (!in && first >= 0) {
            if ((uint32_t)first == cp - 1)
                rc = tokfs_buf_printf(&r, "\\x{%lX}", first);
            else
                rc = tokfs_buf_printf(&r, "\\x{%lX}-\\x{%X}", first, cp - 1);
            first = -1;
        }
    }
    if (!rc)
        rc = tokfs_buf_append(&r, "", 1); /* NUL-terminated for the cache */
    if (!rc)
        rc = tokfs_buf_append(out, r.data, r.len - 1);
    if (rc) {
        tokfs_buf_free(&r);
        return rc;
    }
    pthread_mutex_lock(&range_cache_lock);
    if (range_cache_n < RANGE_CACHE_MAX && n <= 8) {
        memcpy(range_cache[range_cache_n].key, props, n * sizeof *props);
        range_cache[range_cache_n].n = n;
        range_cache[range_cache_n].ranges = (char *)r.data; /* kept for the process */
        range_cache_n++;
        r.data = NULL;
    }
    pthread_mutex_unlock(&range_cache_lock);
    tokfs_buf_free(&r);
    return 0;
}

/* Options scope: the caseless flag of each open group. */
#define MAX_GROUPS 256

int tokfs_regex_rewrite(const char *regex, const char *what, tokfs_buf *out, tokfs_err *err)
{
    size_t n = strlen(regex);
    const char *re = regex;
    uint8_t stack[MAX_GROUPS];
    size_t depth = 0;
    int caseless = 0, in_class = 0, rc = 0;
    uprop props[8];
    size_t nprops = 0;
    for (size_t i = 0; i < n && !rc;) {
        char c = re[i];
        if (c == '\\' && i + 1 < n && re[i + 1] == 'Q') { /* \Q...\E: literal text */
            const char *e = strstr(re + i + 2, "\\E");
            size_t end = e ? (size_t)(e - re) + 2 : n;
            rc = tokfs_buf_append(out, re + i, end - i);
            i = end;
            continue;
        }
        if (c == '\\' && i + 1 < n) {
            uprop u;
            size_t len = parse_uprop(re, i, &u);
            if (len && !in_class && u.kind == UP_WORD_IN)
                u.kind = UP_WORD_OUT;
            if (len && in_class && caseless) {
                if (u.kind == UP_SPACE || (u.kind == UP_WORD_IN && u.neg))
                    return tokfs_err_set(err, EINVAL,
                                         "%s %s: \\%c inside [...] under a caseless option "
                                         "is not supported; tokfs cannot reproduce it exactly",
                                         what, regex, re[i + 1]);
                if (u.kind == UP_WORD_IN)
                    rc = tokfs_buf_append(out, WORD_SET, strlen(WORD_SET));
                else
                    rc = tokfs_buf_append(out, re + i, len); /* PCRE2's, Unicode 14 */
            } else if (len && in_class) {
                if (nprops == sizeof props / sizeof props[0])
                    return tokfs_err_set(err, EINVAL, "%s %s: more than %zu class escapes "
                                         "in one [...] are not supported", what, regex, nprops);
                props[nprops++] = u;
            } else if (len) {
                if (u.kind == UP_SPACE) { /* \S: the literal White_Space set is short */
                    rc = tokfs_buf_printf(out, "[^%s]", WS_SET);
                } else {
                    rc = tokfs_buf_printf(out, caseless ? "(?-i:[" : "[");
                    if (!rc)
                        rc = append_ranges(out, &u, 1);
                    if (!rc)
                        rc = tokfs_buf_printf(out, caseless ? "])" : "]");
                }
            } else if (re[i + 1] == 's') {
                rc = tokfs_buf_printf(out, in_class ? "%s" : "[%s]", WS_SET);
                len = 2;
            } else {
                rc = tokfs_buf_append(out, re + i, 2);
                len = 2;
            }
            i += len;
            continue;
        }
        if (in_class) {
            if (c == '[' && re[i + 1] == ':') { /* a POSIX class [:alpha:] is copied whole */
                const char *e = strstr(re + i + 2, ":]");
                size_t end = e ? (size_t)(e - re) + 2 : i + 1;
                rc = tokfs_buf_append(out, re + i, end - i);
                i = end;
                continue;
            }
            if (c == ']') {
                if (nprops)
                    rc = append_ranges(out, props, nprops);
                nprops = 0;
                in_class = 0;
            }
            if (!rc)
                rc = tokfs_buf_append(out, &c, 1);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            size_t j = i + 1;
            if (re[j] == '^')
                j++;
            if (re[j] == ']')
                j++; /* a leading ] is a literal */
            rc = tokfs_buf_append(out, re + i, j - i);
            i = j;
            continue;
        }
        if (c == '(') {
            int now = caseless;
            size_t j = i + 1;
            int option_only = 0;
            if (re[j] == '?') { /* (?flags) or (?flags:...) */
                size_t k = j + 1;
                int on = 1, nc = caseless, flags = 1;
                for (; re[k] && re[k] != ':' && re[k] != ')'; k++) {
                    if (re[k] == '-')
                        on = 0;
                    else if (re[k] == '^')
                        nc = 0;
                    else if (re[k] == 'i')
                        nc = on;
                    else if (!(re[k] >= 'a' && re[k] <= 'z') && !(re[k] >= 'A' && re[k] <= 'Z'))
                        flags = 0;
                }
                if (flags && k > j + 1 && re[k]) {
                    if (re[k] == ')')
                        option_only = 1;
                    now = nc;
                }
            }
            if (option_only) {
                caseless = now; /* for the rest of the enclosing group */
            } else {
                if (depth == MAX_GROUPS)
                    return tokfs_err_set(err, EINVAL, "%s %s: more than %d nested groups "
                                         "are not supported", what, regex, MAX_GROUPS);
                stack[depth++] = (uint8_t)caseless;
                caseless = now;
            }
        } else if (c == ')' && depth) {
            caseless = stack[--depth];
        }
        rc = tokfs_buf_append(out, &c, 1);
        i++;
    }
    if (!rc && in_class && nprops) /* unterminated class: PCRE2 reports it */
        rc = append_ranges(out, props, nprops);
    if (!rc)
        rc = tokfs_buf_append(out, "", 1);
    return rc;
}

int tokfs_pretok_init_regex(tokfs_pretok *p, const char *regex, tokfs_err *err)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(KNOWN[i].regex, regex) == 0) {
            p->kind = KNOWN[i].kind;
            return 0;
        }
    for (size_t i = 0; i < sizeof KNOWN_SPLIT / sizeof KNOWN_SPLIT[0]; i++)
        if (strcmp(KNOWN_SPLIT[i].regex, regex) == 0) {
            p->kind = KNOWN_SPLIT[i].kind;
            return 0;
        }
    {
        /* \b, \B test PCRE2's own \w: refuse rather than risk PCRE2's different class. */
        const char *s = regex;
        int in_class = 0;
        for (; *s; s++) {
            if (*s == '\\' && s[1]) {
                if ((s[1] == 'b' || s[1] == 'B') && !in_class)
                    return tokfs_err_set(err, EINVAL,
                                         "pre-tokenizer regex %s: \\%c is not supported; "
                                         "tokfs cannot reproduce it exactly", regex, s[1]);
                s++;
                continue;
            }
            if (*s == '[')
                in_class = 1;
            else if (*s == ']')
                in_class = 0;
        }
    }
    tokfs_buf rw = {0};
    int rc = tokfs_regex_rewrite(regex, "pre-tokenizer regex", &rw, err);
    if (rc) {
        tokfs_buf_free(&rw);
        return rc == -ENOMEM ? tokfs_err_set(err, ENOMEM, "out of memory") : rc;
    }
    char *rewritten = (char *)rw.data;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)rewritten, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &errcode,
                                     &erroff, NULL);
    tokfs_buf_free(&rw);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        if (errcode == PCRE2_ERROR_PATTERN_TOO_LARGE) /* the o200k-like ones take ~48 KiB */
            return tokfs_err_set(err, ENOTSUP, "pre-tokenizer regex: with its Unicode classes "
                                 "as explicit Unicode 16 ranges it exceeds PCRE2's compiled size "
                                 "limit (%s); tokfs refuses rather than approximate it with "
                                 "PCRE2's Unicode 14 tables: %s", (char *)msg, regex);
        return tokfs_err_set(err, EINVAL, "pre-tokenizer regex %s: %s", regex, (char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort: the interpreter also works */
    p->kind = TOKFS_PATTERN_REGEX;
    p->regex = code;
    return 0;
}

void tokfs_pretok_init_kind(tokfs_pretok *p, tokfs_pattern kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
}

void tokfs_pretok_free(tokfs_pretok *p)
{
    if (p->regex)
        pcre2_code_free(p->regex);
    p->regex = NULL;
}

static int split_regex(const tokfs_pretok *p, const uint8_t *text, size_t len,
                       tokfs_piece_fn emit, void *ctx)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->regex, NULL);
    if (!md)
        return -ENOMEM;
    size_t pos = 0, gap = 0;
    int rc = 0;
    while (pos <= len) {
        int m = pcre2_match(p->regex, text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            rc = -EIO; /* match limit: refuse rather than cut differently from the reference */
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e == s) { /* empty match: not a piece; move on one character */
            if (s >= len)
                break;
            unsigned l;
            tokfs_uc_decode(text + s, len - s, &l);
            pos = s + l;
            continue;
        }
        if (s > gap && (rc = emit(ctx, text + gap, s - gap)))
            break;
        if ((rc = emit(ctx, text + s, e - s)))
            break;
        gap = pos = e;
    }
    if (!rc && gap < len)
        rc = emit(ctx, text + gap, len - gap);
    pcre2_match_data_free(md);
    return rc;
}

tokfs_pretok_md *tokfs_pretok_md_create(void)
{
    /* one ovector pair: only the whole match is read (a pattern with groups then returns 0,
     * "ovector too small", with the whole match still set) */
    return (tokfs_pretok_md *)pcre2_match_data_create(1, NULL);
}

void tokfs_pretok_md_free(tokfs_pretok_md *md)
{
    pcre2_match_data_free((pcre2_match_data *)md);
}

static size_t next_known(const tokfs_pretok *p, const uint8_t *text, size_t len, size_t i)
{
    switch (p->kind) {
    case TOKFS_PATTERN_GPT2: return next_gpt2(text, len, i);
    case TOKFS_PATTERN_CL100K: return next_cl100k(text, len, i, 3);
    case TOKFS_PATTERN_QWEN2: return next_cl100k(text, len, i, 1);
    case TOKFS_PATTERN_O200K: return next_o200k(text, len, i);
    default: return len; /* not reached: gappy and general patterns are matched elsewhere */
    }
}

int tokfs_pretok_matches(const tokfs_pretok *p, const uint8_t *text, size_t len,
                         tokfs_pretok_md *md, tokfs_match_fn fn, void *ctx)
{
    int rc;
    if (gappy(p->kind)) {
        size_t s, e;
        for (size_t pos = 0; !find_gappy(p->kind, text, len, pos, &s, &e); pos = e)
            if ((rc = fn(ctx, s, e)))
                return rc;
        return 0;
    }
    if (p->kind != TOKFS_PATTERN_REGEX) {
        for (size_t i = 0, e; i < len; i = e) {
            e = next_known(p, text, len, i);
            if ((rc = fn(ctx, i, e)))
                return rc;
        }
        return 0;
    }
    pcre2_match_data *m = (pcre2_match_data *)md;
    size_t pos = 0, last_end = 0;
    int have_last = 0;
    while (pos <= len) {
        int r = pcre2_match(p->regex, text, len, pos, PCRE2_NO_UTF_CHECK, m, NULL);
        if (r == PCRE2_ERROR_NOMATCH)
            return 0;
        if (r < 0)
            return -EIO; /* match limit: refuse rather than cut differently from the reference */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m);
        size_t s = ov[0], e = ov[1];
        if (s == e && have_last && e == last_end) {
            /* Oniguruma's find_iter never reports an empty match where the previous one ended */
            if (pos >= len)
                return 0;
            unsigned l;
            tokfs_uc_decode(text + pos, len - pos, &l);
            pos += l;
            continue;
        }
        if ((rc = fn(ctx, s, e)))
            return rc;
        pos = last_end = e;
        have_last = 1;
    }
    return 0;
}

int tokfs_pretok_split(const tokfs_pretok *p, const uint8_t *text, size_t len,
                       tokfs_piece_fn emit, void *ctx)
{
    if (p->kind == TOKFS_PATTERN_REGEX)
        return split_regex(p, text, len, emit, ctx);
    if (gappy(p->kind)) { /* the text between matches is a piece too */
        size_t s, e, gap = 0;
        int rc;
        for (size_t pos = 0; !find_gappy(p->kind, text, len, pos, &s, &e); pos = gap = e) {
            if (s > gap && (rc = emit(ctx, text + gap, s - gap)))
                return rc;
            if ((rc = emit(ctx, text + s, e - s)))
                return rc;
        }
        return gap < len ? emit(ctx, text + gap, len - gap) : 0;
    }
    size_t i = 0;
    while (i < len) {
        size_t e = next_known(p, text, len, i);
        int rc = emit(ctx, text + i, e - i);
        if (rc)
            return rc;
        i = e;
    }
    return 0;
}

size_t tokfs_pretok_cut(const tokfs_pretok *p, const uint8_t *text, size_t len, size_t from)
{
    if (p->kind == TOKFS_PATTERN_REGEX || gappy(p->kind))
        return len;
    for (size_t i = from ? from : 1; i + 1 < len; i++) {
        const uint8_t *space = memchr(text + i, ' ', len - 1 - i);
        if (!space)
            break;
        i = (size_t)(space - text);
        uint8_t before = text[i - 1], after = text[i + 1] | 0x20;
        if (before > ' ' && before < 0x7F && after >= 'a' && after <= 'z')
            return i;
    }
    return len;
}
