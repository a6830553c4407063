/* tokfs — the JSON-lines field scanner (see jsonl.h).
 *
 * One pass over the line with a small explicit state machine: the only memory is a stack of
 * container kinds (object or array), one byte per open level, so malicious nesting costs a
 * bounded 512 bytes of C stack and no recursion. Strings are the bulk of every document, so the
 * string scanner moves 8 bytes at a time until it meets a byte that needs attention ('"', '\\'
 * or a control character).
 *
 * The reference is CPython 3.11's json.loads (its C scanner, Modules/_json.c). Where JSON leaves
 * room, we do what it does:
 *   - NaN, Infinity and -Infinity are values;
 *   - an integer with more than 4300 digits (no fraction, no exponent) is an error, because
 *     int() refuses it (sys.get_int_max_str_digits() default) and json.loads raises ValueError;
 *   - a \u escape for a lone surrogate is accepted (Python keeps it in the str; we emit U+FFFD),
 *     and a key containing one never equals the field name, since a Python str holding a lone
 *     surrogate never equals a well-formed one;
 *   - a UTF-8 byte-order mark is not whitespace (json.loads on a str rejects it).
 * Where we deliberately differ: raw bytes >= 0x80 are taken as they come, valid UTF-8 or not
 * (Python would have failed to decode the line; tokfs repairs the text later), and nesting
 * deeper than TOKFS_JSONL_MAX_DEPTH is an error (Python allows about 990, its recursion limit).
 */
#include "decode/jsonl.h"

#include "common/json_text.h"

#include <errno.h>
#include <string.h>

/* CPython's default sys.get_int_max_str_digits(). */
#define PY_INT_MAX_STR_DIGITS 4300

/* What the last member named `field` held. */
enum target_seen { TARGET_ABSENT, TARGET_STRING, TARGET_NULL, TARGET_OTHER };

/* Where the state machine is: about to read a value, just read one, or about to read a key. */
enum scan_state { EXPECT_VALUE, AFTER_VALUE, EXPECT_KEY };

enum container_kind { IN_OBJECT, IN_ARRAY };

/* Validate the string whose content starts at p (just after the opening quote) and, unless out
 * is NULL, decode it into out and set *out_len. Returns the position after the closing quote,
 * or NULL if the string is malformed or unterminated.
 *
 * Room: every piece of output is no longer than the input it came from, so the output offset
 * never passes (p - content start); plain_run only stores a whole word when 8 input bytes
 * remain. Output therefore stays inside the first (end - content start) bytes of out. */
static const uint8_t *decode_string(const uint8_t *p, const uint8_t *end, uint8_t *out,
                                    size_t *out_len)
{
    size_t o = 0;

    for (;;) {
        size_t run = tokfs_json_plain_run(p, end, out ? out + o : NULL);
        p += run;
        o += run;
        if (p >= end)
            return NULL;
        if (*p == '"') {
            if (out_len)
                *out_len = o;
            return p + 1;
        }
        if (*p != '\\')
            return NULL; /* raw control character: json.loads is strict about these */

        uint8_t buf[4];
        size_t nbuf;
        int lone_surrogate;
        p = tokfs_json_escape(p, end, buf, &nbuf, &lone_surrogate);
        if (!p)
            return NULL;
        if (out)
            memcpy(out + o, buf, nbuf);
        o += nbuf;
    }
}

/* Does the decoded run `bytes` continue the match of `field` at *matched? Advances *matched. */
static inline int match_more(const uint8_t *bytes, size_t n, const uint8_t *field,
                             size_t field_len, size_t *matched)
{
    if (n > field_len - *matched)
        return 0;
    if (n > 0 && memcmp(bytes, field + *matched, n) != 0)
        return 0;
    *matched += n;
    return 1;
}

/* Like decode_string without output, but compares the decoded key with field as it goes and
 * sets *is_field. */
static const uint8_t *scan_key(const uint8_t *p, const uint8_t *end, const uint8_t *field,
                               size_t field_len, int *is_field)
{
    size_t matched = 0;
    int same = 1;

    for (;;) {
        size_t run = tokfs_json_plain_run(p, end, NULL);
        if (same)
            same = match_more(p, run, field, field_len, &matched);
        p += run;
        if (p >= end)
            return NULL;
        if (*p == '"') {
            *is_field = same && matched == field_len;
            return p + 1;
        }
        if (*p != '\\')
            return NULL;

        uint8_t buf[4];
        size_t nbuf;
        int lone_surrogate;
        p = tokfs_json_escape(p, end, buf, &nbuf, &lone_surrogate);
        if (!p)
            return NULL;
        if (same)
            same = !lone_surrogate && match_more(buf, nbuf, field, field_len, &matched);
    }
}

/* A JSON number (common/json_text.h), refusing an integer json.loads cannot make. */
static const uint8_t *skip_number(const uint8_t *p, const uint8_t *end)
{
    size_t int_digits;
    int is_float;
    p = tokfs_json_number(p, end, &int_digits, &is_float);
    if (p && !is_float && int_digits > PY_INT_MAX_STR_DIGITS)
        return NULL;
    return p;
}

static inline const uint8_t *skip_literal(const uint8_t *p, const uint8_t *end, const char *word,
                                          size_t word_len)
{
    if ((size_t)(end - p) < word_len || memcmp(p, word, word_len) != 0)
        return NULL;
    return p + word_len;
}

/* Skip a value that is not a string or a container. Sets *is_null. Returns NULL if there is
 * none at p. */
static const uint8_t *skip_scalar(const uint8_t *p, const uint8_t *end, int *is_null)
{
    *is_null = 0;
    switch (*p) {
    case 'n':
        *is_null = 1;
        return skip_literal(p, end, "null", 4);
    case 't': return skip_literal(p, end, "true", 4);
    case 'f': return skip_literal(p, end, "false", 5);
    case 'N': return skip_literal(p, end, "NaN", 3);
    case 'I': return skip_literal(p, end, "Infinity", 8);
    case '-':
        if (end - p >= 2 && p[1] == 'I')
            return skip_literal(p, end, "-Infinity", 9);
        return skip_number(p, end);
    default: return skip_number(p, end);
    }
}

int tokfs_jsonl_field(const uint8_t *line, size_t len, const char *field, size_t field_len,
                      uint8_t *out, size_t *out_len)
{
    const uint8_t *end = line + len;
    const uint8_t *p = tokfs_json_skip_space(line, end);
    uint8_t kind[TOKFS_JSONL_MAX_DEPTH]; /* kind[i]: container open at nesting level i + 1 */
    int depth = 0;
    enum scan_state state = EXPECT_VALUE;
    enum target_seen seen = TARGET_ABSENT;
    int value_is_target = 0; /* the value about to be read belongs to `field` */
    size_t decoded_len = 0;

    *out_len = 0;
    if (p == end)
        return -ENODATA;
    if (*p != '{')
        return -EINVAL; /* valid JSON perhaps, but not a record */

    for (;;) {
        p = tokfs_json_skip_space(p, end);
        if (p == end)
            return -EINVAL; /* every state still needs something */

        switch (state) {
        case EXPECT_VALUE: {
            int is_target = value_is_target;
            value_is_target = 0;

            if (*p == '{' || *p == '[') {
                uint8_t close = *p == '{' ? '}' : ']';
                if (is_target)
                    seen = TARGET_OTHER;
                if (depth == TOKFS_JSONL_MAX_DEPTH)
                    return -EINVAL;
                kind[depth++] = *p == '{' ? IN_OBJECT : IN_ARRAY;
                p = tokfs_json_skip_space(p + 1, end);
                if (p < end && *p == close) { /* empty container */
                    depth--;
                    p++;
                    if (depth == 0)
                        goto top_level_closed;
                    state = AFTER_VALUE;
                } else {
                    state = close == '}' ? EXPECT_KEY : EXPECT_VALUE;
                }
                break;
            }
            if (*p == '"') {
                if (is_target) {
                    p = decode_string(p + 1, end, out, &decoded_len);
                    seen = TARGET_STRING;
                } else {
                    p = decode_string(p + 1, end, NULL, NULL);
                }
            } else {
                int is_null;
                p = skip_scalar(p, end, &is_null);
                if (is_target)
                    seen = is_null ? TARGET_NULL : TARGET_OTHER;
            }
            if (!p)
                return -EINVAL;
            state = AFTER_VALUE;
            break;
        }

        case AFTER_VALUE:
            if (*p == ',') {
                p++;
                state = kind[depth - 1] == IN_OBJECT ? EXPECT_KEY : EXPECT_VALUE;
            } else if (*p == (kind[depth - 1] == IN_OBJECT ? '}' : ']')) {
                p++;
                depth--;
                if (depth == 0)
                    goto top_level_closed;
            } else {
                return -EINVAL;
            }
            break;

        case EXPECT_KEY:
            if (*p != '"')
                return -EINVAL; /* includes the trailing comma in {"a":1,} */
            if (depth == 1)
                p = scan_key(p + 1, end, (const uint8_t *)field, field_len, &value_is_target);
            else
                p = decode_string(p + 1, end, NULL, NULL);
            if (!p)
                return -EINVAL;
            p = tokfs_json_skip_space(p, end);
            if (p == end || *p != ':')
                return -EINVAL;
            p++;
            state = EXPECT_VALUE;
            break;
        }
    }

top_level_closed:
    if (tokfs_json_skip_space(p, end) != end)
        return -EINVAL; /* "Extra data" */
    switch (seen) {
    case TARGET_STRING:
        *out_len = decoded_len;
        return 0;
    case TARGET_OTHER:
        return -EDOM;
    default:
        return -ENOENT;
    }
}
