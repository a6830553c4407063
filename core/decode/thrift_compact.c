/* tokfs — Thrift compact-protocol decoder (see thrift_compact_internal.h). Written from the protocol
 * description (apache/thrift doc/specs/thrift-compact-protocol.md). */
#include "decode/thrift_compact_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tc_init(tc_reader *r, const uint8_t *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    r->start = r->p = buf;
    r->end = buf + len;
}

static int tc_vfail(tc_reader *r, int truncated, const char *fmt, va_list ap)
{
    if (r->err)
        return r->err;
    char what[128];
    vsnprintf(what, sizeof what, fmt, ap);
    snprintf(r->msg, sizeof r->msg, "%s at byte %zu", what, tc_offset(r));
    r->err = -EBADMSG;
    r->truncated = truncated;
    return r->err;
}

int tc_fail(tc_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tc_vfail(r, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static int tc_short(tc_reader *r, const char *what)
{
    if (r->err)
        return r->err;
    snprintf(r->msg, sizeof r->msg, "truncated %s at byte %zu", what, tc_offset(r));
    r->err = -EBADMSG;
    r->truncated = 1;
    return r->err;
}

int tc_uleb128(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return -ENODATA;
        uint8_t b = *p++;
        if (i == 9 && b > 1)
            return -EBADMSG; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -EBADMSG;
}

static int read_varint(tc_reader *r, uint64_t *out, const char *what)
{
    if (r->err)
        return r->err;
    int rc = tc_uleb128(&r->p, r->end, out);
    if (rc == -ENODATA)
        return tc_short(r, what);
    if (rc < 0)
        return tc_fail(r, "overlong varint in %s", what);
    return 0;
}

int tc_struct_begin(tc_reader *r)
{
    if (r->err)
        return r->err;
    if (r->depth >= TC_MAX_DEPTH)
        return tc_fail(r, "structures nested deeper than %d", TC_MAX_DEPTH);
    r->last_id[r->depth++] = 0;
    return 0;
}

int tc_struct_end(tc_reader *r)
{
    if (r->err)
        return r->err;
    if (r->depth <= 0)
        return tc_fail(r, "struct end without a struct");
    r->depth--;
    return 0;
}

int tc_field_next(tc_reader *r, int16_t *id, int *type)
{
    if (r->err)
        return r->err;
    if (r->depth <= 0)
        return tc_fail(r, "field outside a struct");
    if (r->p >= r->end)
        return tc_short(r, "struct");
    uint8_t b = *r->p++;
    if (b == 0)
        return 0;
    int t = b & 0x0f;
    int delta = b >> 4;
    int16_t fid;
    if (t == TC_STOP || t > TC_UUID)
        return tc_fail(r, "unknown field type %d", t);
    if (delta) {
        fid = (int16_t)(r->last_id[r->depth - 1] + delta);
    } else {
        uint64_t z;
        int rc = read_varint(r, &z, "field id");
        if (rc < 0)
            return rc;
        int64_t v = tc_unzigzag64(z);
        if (v < INT16_MIN || v > INT16_MAX)
            return tc_fail(r, "field id %lld out of range", (long long)v);
        fid = (int16_t)v;
    }
    r->last_id[r->depth - 1] = fid;
    *id = fid;
    *type = t;
    return 1;
}

int tc_read_bool(tc_reader *r, int type, int *out)
{
    if (r->err)
        return r->err;
    if (type == TC_TRUE) {
        *out = 1;
        return 0;
    }
    if (type == TC_FALSE) {
        *out = 0;
        return 0;
    }
    return tc_fail(r, "expected a bool field, found wire type %d", type);
}

int tc_read_elem_bool(tc_reader *r, int *out)
{
    if (r->err)
        return r->err;
    if (r->p >= r->end)
        return tc_short(r, "bool");
    uint8_t b = *r->p++;
    /* The spec says 1/0; some implementations write the field types 1 (true) / 2 (false). */
    if (b > 2)
        return tc_fail(r, "bad bool byte %u", b);
    *out = b == 1;
    return 0;
}

int tc_read_int(tc_reader *r, int type, int64_t *out)
{
    if (r->err)
        return r->err;
    if (type == TC_I8) {
        if (r->p >= r->end)
            return tc_short(r, "i8");
        *out = (int8_t)*r->p++;
        return 0;
    }
    if (type != TC_I16 && type != TC_I32 && type != TC_I64)
        return tc_fail(r, "expected an integer, found wire type %d", type);
    uint64_t z;
    int rc = read_varint(r, &z, "integer");
    if (rc < 0)
        return rc;
    int64_t v = tc_unzigzag64(z);
    if ((type == TC_I16 && (v < INT16_MIN || v > INT16_MAX)) ||
        (type == TC_I32 && (v < INT32_MIN || v > INT32_MAX)))
        return tc_fail(r, "integer %lld out of range for its wire type", (long long)v);
    *out = v;
    return 0;
}

int tc_read_i32(tc_reader *r, int type, int32_t *out)
{
    int64_t v = 0;
    int rc = tc_read_int(r, type, &v);
    if (rc < 0)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return tc_fail(r, "integer %lld out of i32 range", (long long)v);
    *out = (int32_t)v;
    return 0;
}

int tc_read_i64(tc_reader *r, int type, int64_t *out) { return tc_read_int(r, type, out); }

int tc_read_binary(tc_reader *r, int type, const uint8_t **data, size_t *len)
{
    if (r->err)
        return r->err;
    if (type != TC_BINARY)
        return tc_fail(r, "expected a string, found wire type %d", type);
    uint64_t n;
    int rc = read_varint(r, &n, "string length");
    if (rc < 0)
        return rc;
    if (n > (uint64_t)(r->end - r->p))
        return tc_short(r, "string");
    *data = r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

int tc_list_begin(tc_reader *r, int type, int *elem_type, uint32_t *count)
{
    if (r->err)
        return r->err;
    if (type != TC_LIST && type != TC_SET)
        return tc_fail(r, "expected a list, found wire type %d", type);
    if (r->p >= r->end)
        return tc_short(r, "list header");
    uint8_t b = *r->p++;
    uint64_t n = b >> 4;
    int et = b & 0x0f;
    if (n == 15) {
        int rc = read_varint(r, &n, "list size");
        if (rc < 0)
            return rc;
    }
    if (et == TC_STOP || et > TC_UUID)
        return tc_fail(r, "unknown list element type %d", et);
    if (n > INT32_MAX)
        return tc_fail(r, "list of %llu elements", (unsigned long long)n);
    /* Every element takes at least one byte (sixteen for a UUID, eight for a double). */
    uint64_t min_size = et == TC_UUID ? 16 : et == TC_DOUBLE ? 8 : 1;
    if (n > (uint64_t)(r->end - r->p) / min_size)
        return tc_short(r, "list (more elements than bytes left)");
    *elem_type = et == TC_FALSE ? TC_TRUE : et;
    *count = (uint32_t)n;
    return 0;
}

static int skip_rec(tc_reader *r, int type, int level)
{
    if (r->err)
        return r->err;
    if (level >= TC_MAX_DEPTH)
        return tc_fail(r, "values nested deeper than %d", TC_MAX_DEPTH);
    switch (type) {
    case TC_TRUE:
    case TC_FALSE:
        return 0; /* field bools carry their value in the header */
    case TC_I8:
        if (r->p >= r->end)
            return tc_short(r, "i8");
        r->p++;
        return 0;
    case TC_I16:
    case TC_I32:
    case TC_I64: {
        int64_t v;
        return tc_read_int(r, type, &v);
    }
    case TC_DOUBLE:
        if (r->end - r->p < 8)
            return tc_short(r, "double");
        r->p += 8;
        return 0;
    case TC_UUID:
        if (r->end - r->p < 16)
            return tc_short(r, "uuid");
        r->p += 16;
        return 0;
    case TC_BINARY: {
        const uint8_t *d;
        size_t n;
        return tc_read_binary(r, type, &d, &n);
    }
    case TC_LIST:
    case TC_SET: {
        int et;
        uint32_t n;
        int rc = tc_list_begin(r, type, &et, &n);
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            if (et == TC_TRUE) {
                int b;
                rc = tc_read_elem_bool(r, &b);
            } else {
                rc = skip_rec(r, et, level + 1);
            }
        }
        return rc;
    }
    case TC_MAP: {
        uint64_t n;
        int rc = read_varint(r, &n, "map size");
        if (rc < 0 || n == 0)
            return rc;
        if (r->p >= r->end)
            return tc_short(r, "map header");
        uint8_t kv = *r->p++;
        int kt = kv >> 4, vt = kv & 0x0f;
        if (kt == TC_STOP || kt > TC_UUID || vt == TC_STOP || vt > TC_UUID)
            return tc_fail(r, "unknown map element types %d/%d", kt, vt);
        if (n > (uint64_t)(r->end - r->p) / 2)
            return tc_short(r, "map (more entries than bytes left)");
        for (uint64_t i = 0; rc == 0 && i < n; i++) {
            for (int k = 0; rc == 0 && k < 2; k++) {
                int t = k ? vt : kt;
                if (t == TC_TRUE || t == TC_FALSE) {
                    int b;
                    rc = tc_read_elem_bool(r, &b);
                } else {
                    rc = skip_rec(r, t, level + 1);
                }
            }
        }
        return rc;
    }
    case TC_STRUCT: {
        int rc = tc_struct_begin(r);
        int16_t id;
        int t = 0;
        while (rc == 0 && (rc = tc_field_next(r, &id, &t)) > 0)
            rc = skip_rec(r, t, level + 1);
        if (rc == 0)
            rc = tc_struct_end(r);
        return rc;
    }
    default:
        return tc_fail(r, "cannot skip wire type %d", type);
    }
}

int tc_skip(tc_reader *r, int type) { return skip_rec(r, type, r->depth); }
