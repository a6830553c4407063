/* tokfs — a Thrift compact-protocol decoder for untrusted bytes (Parquet footers, page headers).
 *
 * Zero-copy and bounds-checked: every read checks the bytes left; nesting (structs, lists, sets,
 * maps, in any mix) is capped at TC_MAX_DEPTH; a list/set/map may not claim more elements than
 * there are bytes left (every element takes at least one byte), so a caller sizing an array by
 * an element count never allocates more than the input could describe. Nothing here allocates.
 *
 * Usage (a struct):
 *     tc_reader r; tc_init(&r, buf, len);
 *     if (tc_struct_begin(&r) < 0) ...
 *     int16_t id; int type;
 *     while ((rc = tc_field_next(&r, &id, &type)) > 0) {
 *         switch (id) { case 1: rc = tc_read_i32(&r, type, &x); break;
 *                       default: rc = tc_skip(&r, type); }
 *         if (rc < 0) ...
 *     }
 *     if (rc < 0 || tc_struct_end(&r) < 0) ...  // on error: r.err is set, tc_errmsg() describes it
 *
 * Errors are sticky: after the first one every call returns the same negative errno (-EBADMSG)
 * and r.msg keeps the first message, with the byte offset where it happened. r.truncated says
 * whether the error was running out of bytes (a caller streaming bytes in may then retry with
 * more). A field whose wire type does not match what the caller asks for is an error. */
#ifndef TOKFS_THRIFT_COMPACT_H
#define TOKFS_THRIFT_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#define TC_MAX_DEPTH 32

/* Compact-protocol wire types (field types; element types use the same numbers, with bool as 1
 * or 2). */
enum {
    TC_STOP = 0,
    TC_TRUE = 1,
    TC_FALSE = 2,
    TC_I8 = 3,
    TC_I16 = 4,
    TC_I32 = 5,
    TC_I64 = 6,
    TC_DOUBLE = 7,
    TC_BINARY = 8,
    TC_LIST = 9,
    TC_SET = 10,
    TC_MAP = 11,
    TC_STRUCT = 12,
    TC_UUID = 13,
};

typedef struct tc_reader {
    const uint8_t *start, *p, *end;
    int depth;                       /* open structs */
    int16_t last_id[TC_MAX_DEPTH];   /* previous field id per open struct (delta encoding) */
    int err;                         /* 0, or the first error (negative errno) */
    int truncated;                   /* the first error was running out of bytes */
    char msg[160];                   /* the first error, "" when none */
} tc_reader;

void tc_init(tc_reader *r, const uint8_t *buf, size_t len);

/* Bytes consumed so far. */
static inline size_t tc_offset(const tc_reader *r) { return (size_t)(r->p - r->start); }

/* Open a struct (the reader must be at its first field header) / close it after
 * tc_field_next returned 0 (its stop byte was consumed). */
int tc_struct_begin(tc_reader *r);
int tc_struct_end(tc_reader *r);

/* Next field of the innermost open struct: 1 and *id, *type; 0 at the stop byte; <0 on error. */
int tc_field_next(tc_reader *r, int16_t *id, int *type);

/* Values. `type` is the wire type from tc_field_next (or a list's element type). */
int tc_read_bool(tc_reader *r, int type, int *out);      /* field: TRUE/FALSE; element: a byte */
int tc_read_elem_bool(tc_reader *r, int *out);           /* bool as a list element (one byte) */
int tc_read_int(tc_reader *r, int type, int64_t *out);   /* I8, I16, I32 or I64 */
int tc_read_i32(tc_reader *r, int type, int32_t *out);   /* I8/I16/I32, or I64 in i32 range */
int tc_read_i64(tc_reader *r, int type, int64_t *out);   /* any integer type */
int tc_read_binary(tc_reader *r, int type, const uint8_t **data, size_t *len); /* points into buf */

/* A list or set header: *elem_type and *count (count <= bytes left). Then read `count`
 * elements of *elem_type (structs with tc_struct_begin/tc_field_next/tc_struct_end). */
int tc_list_begin(tc_reader *r, int type, int *elem_type, uint32_t *count);

/* Skip one value of `type` (recursively, within the depth cap). */
int tc_skip(tc_reader *r, int type);

/* Record an error found by the caller (a value out of range, a missing required field), with
 * the current offset. Returns -EBADMSG (sticky like the reader's own errors). */
int tc_fail(tc_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Low level, exposed for the Parquet encodings that use the same integer forms. */
/* ULEB128 of at most 10 bytes (64 bits); 0 or -EBADMSG (truncated / overlong). */
int tc_uleb128(const uint8_t **p, const uint8_t *end, uint64_t *out);
static inline int64_t tc_unzigzag64(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

#endif
