/* tokfs — the JSON-lines field scanner.
 *
 * A JSONL record is one JSON object per line. tokfs needs only one string member of it (the
 * document text, option `text_field`), so instead of building a tree it scans the line once,
 * validating it as JSON the way Python's json.loads does, and decodes that one member. */
#ifndef TOKFS_JSONL_H
#define TOKFS_JSONL_H

#include <stddef.h>
#include <stdint.h>

/* Find the top-level member named `field` (exact bytes, length field_len) in `line` (one JSON
 * text, length len, no trailing newline needed; surrounding JSON whitespace allowed: space, \t,
 * \n, \r) and decode its string value into `out`. Keys are compared after decoding their
 * escapes ("\u0074ext" is "text"); a key holding a lone-surrogate escape matches nothing, as in
 * Python. Members of nested objects never match.
 *
 *   out      caller buffer of at least `len` bytes (a decoded string is never longer than its
 *            JSON form). Receives UTF-8: escapes decoded, a \u escape that is a lone surrogate
 *            becomes U+FFFD (EF BF BD), raw bytes (even invalid UTF-8) copied as they are.
 *   out_len  receives the decoded length (0 on any error; out's contents are then unspecified).
 *
 * Duplicate members: the last one wins (as in Python's json.loads). Nesting depth, counting the
 * top-level object as 1, is limited to TOKFS_JSONL_MAX_DEPTH; deeper is malformed. No
 * recursion, no allocation. Validation follows CPython's json.loads, including its NaN /
 * Infinity / -Infinity values and its refusal of integers over 4300 digits (see jsonl.c).
 *
 * Returns 0 when found; -ENODATA for a blank line (empty or only JSON whitespace: not a record);
 * -ENOENT when the line is a valid object without the member, or the member is null;
 * -EDOM when the member exists but is not a string; -EINVAL when the line is not valid JSON or
 * not an object. */
int tokfs_jsonl_field(const uint8_t *line, size_t len, const char *field, size_t field_len,
                      uint8_t *out, size_t *out_len);

#define TOKFS_JSONL_MAX_DEPTH 512

#endif
