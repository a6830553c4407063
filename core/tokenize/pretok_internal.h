/* tokfs — pre-tokenizers: cut text into the pieces that BPE then encodes one by one.
 *
 * The known patterns are matched by hand-written code that gives exactly the pieces the
 * reference regex engines give (leftmost-first alternation, greedy quantifiers with
 * backtracking, lookahead), several times faster than a regex engine:
 *   gpt2        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *               (r50k/p50k and Hugging Face ByteLevel(use_regex=true) use the same pattern)
 *   cl100k_base (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *                ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+     (also Llama-3's Split)
 *   qwen2       cl100k_base with \p{N} instead of \p{N}{1,3}
 *   o200k_base  the o200k pattern (letters split by case, contractions as suffixes)
 * and, for Hugging Face Split stages whose regex does not match everywhere (the text between
 * matches is a piece of its own), DeepSeek-V3's three: \p{N}{1,3}, [一-龥぀-ゟ゠-ヿ]+ (U+4E00..U+9FA5,
 * U+3040..U+30FF) and
 *   [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 *    ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (PCRE2's Unicode tables may be older than the reference's Oniguruma, Unicode 16.0; tokfs's
 * tables are 16.0).
 * Any other regex (a tokenizer.json Split) runs on PCRE2 with Unicode properties.
 *
 * Input is valid UTF-8 (the caller repairs it first). */
#ifndef TOKFS_PRETOK_H
#define TOKFS_PRETOK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum tokfs_pattern {
    TOKFS_PATTERN_GPT2,
    TOKFS_PATTERN_CL100K,
    TOKFS_PATTERN_QWEN2,
    TOKFS_PATTERN_O200K,
    TOKFS_PATTERN_NUM3,     /* \p{N}{1,3} alone */
    TOKFS_PATTERN_CJK,      /* DeepSeek-V3's second Split: kana and CJK ideographs */
    TOKFS_PATTERN_DEEPSEEK, /* DeepSeek-V3's third Split */
    TOKFS_PATTERN_REGEX, /* anything else, via PCRE2 */
} tokfs_pattern;

typedef struct tokfs_pretok {
    tokfs_pattern kind;
    void *regex; /* pcre2_code for TOKFS_PATTERN_REGEX */
} tokfs_pretok;

/* The exact regex text of a known pattern. */
const char *tokfs_pattern_regex(tokfs_pattern kind);

/* Name ("gpt2", "cl100k_base", "o200k_base", "qwen2") → kind. -ENOENT if not a known name. */
int tokfs_pattern_from_name(const char *name, tokfs_pattern *out);

/* Set up for a regex given as text: a known pattern's exact text selects its hand-written
 * matcher, anything else is compiled with PCRE2 (an error names the regex and the offset). */
int tokfs_pretok_init_regex(tokfs_pretok *p, const char *regex, tokfs_err *err);
/* The Oniguruma / Rust regex pattern `regex` rewritten for PCRE2 (NUL-terminated, appended to
 * out): the class escapes tokfs's Unicode 16 tables answer (\p{L} \p{Lu} \p{Ll} \p{Lt} \p{Lm}
 * \p{Lo} \p{LC} \p{M} \p{N} \p{Nd} \p{P} \p{S}, long names, \P and \p{^..}, \d \D \w \W \s
 * \S) become explicit code point ranges, as the references define them (see pretok.c). 0,
 * -ENOMEM, or -EINVAL with err naming `what` and the regex when a class escape cannot be
 * expressed. Also used for normalizer Replace regexes (Oniguruma too). */
int tokfs_regex_rewrite(const char *regex, const char *what, tokfs_buf *out, tokfs_err *err);
void tokfs_pretok_init_kind(tokfs_pretok *p, tokfs_pattern kind);
void tokfs_pretok_free(tokfs_pretok *p);

/* Called once per piece, in order; a non-zero return stops the split and is returned. */
typedef int (*tokfs_piece_fn)(void *ctx, const uint8_t *piece, size_t len);

/* Cut text[0..len) into pieces covering it entirely (text a regex does not match becomes
 * pieces too, as Hugging Face's Split(behavior=Isolated) does). Returns 0 or emit's value. */
int tokfs_pretok_split(const tokfs_pretok *p, const uint8_t *text, size_t len,
                       tokfs_piece_fn emit, void *ctx);

/* Called once per match of a pattern, in order: text[start..end) (empty matches included). */
typedef int (*tokfs_match_fn)(void *ctx, size_t start, size_t end);

/* Matching state for a general (PCRE2) regex, reusable across calls by one thread at a time. */
typedef struct tokfs_pretok_md tokfs_pretok_md;
tokfs_pretok_md *tokfs_pretok_md_create(void); /* NULL: out of memory */
void tokfs_pretok_md_free(tokfs_pretok_md *md);

/* Every match of the pattern in text[0..len), as Oniguruma's find_iter (Hugging Face's Split)
 * reports them: leftmost-first, each search from the end of the previous match, an empty match
 * right at the end of the previous match skipped (the search then moves one character on), so
 * empty matches elsewhere are reported. A hand-written pattern matches everywhere: its matches
 * are the pieces tokfs_pretok_split gives. md: for a general regex (ignored otherwise). Returns
 * 0, fn's value, or -EIO when the regex engine gives up (match limit). */
int tokfs_pretok_matches(const tokfs_pretok *p, const uint8_t *text, size_t len,
                         tokfs_pretok_md *md, tokfs_match_fn fn, void *ctx);

/* The first position i >= from (and > 0) where text[0..len) may be cut in two so that the
 * pieces of text[0..i) followed by those of text[i..len) are exactly the pieces of the whole,
 * or len when there is none. Only the hand-written patterns know such places (a general regex
 * never cuts): a space after printable ASCII other than space and before an ASCII letter, as
 * in "end. The" or "x = a". Every known pattern ends a piece there — the piece before is a
 * letter, number or punctuation run that a space stops, and the next starts with " ?letters"
 * — and no alternative looks back, while the only one that looks ahead, \s+(?!\S), concerns
 * a whitespace run, never the last piece before the cut (see docs/design.md). */
size_t tokfs_pretok_cut(const tokfs_pretok *p, const uint8_t *text, size_t len, size_t from);

#endif
