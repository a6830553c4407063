/* tokfs — reading one string column of a Parquet file (see parquet.h).
 *
 * Written from the format's own description (apache/parquet-format: parquet.thrift,
 * Encodings.md, Compression.md). Every length and count read from the file is checked against
 * the bytes actually present before it is used; allocations are sized by the page-size limit
 * or by bytes already parsed, never by a count the file merely claims. */
#include "decode/parquet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"

#include "common/endian.h"
#include "decode/thrift_compact_internal.h"

/* Parquet enums used here. */
enum { PT_BYTE_ARRAY = 6 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1, REP_REPEATED = 2 };
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICT = 2, PAGE_DATA_V2 = 3 };
enum {
    ENC_PLAIN = 0,
    ENC_PLAIN_DICTIONARY = 2,
    ENC_RLE = 3,
    ENC_BIT_PACKED = 4,
    ENC_DELTA_BINARY_PACKED = 5,
    ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    ENC_DELTA_BYTE_ARRAY = 7,
    ENC_RLE_DICTIONARY = 8,
    ENC_BYTE_STREAM_SPLIT = 9,
};

static const char *encoding_name(int e)
{
    switch (e) {
    case ENC_PLAIN: return "PLAIN";
    case ENC_PLAIN_DICTIONARY: return "PLAIN_DICTIONARY";
    case ENC_RLE: return "RLE";
    case ENC_BIT_PACKED: return "BIT_PACKED";
    case ENC_DELTA_BINARY_PACKED: return "DELTA_BINARY_PACKED";
    case ENC_DELTA_LENGTH_BYTE_ARRAY: return "DELTA_LENGTH_BYTE_ARRAY";
    case ENC_DELTA_BYTE_ARRAY: return "DELTA_BYTE_ARRAY";
    case ENC_RLE_DICTIONARY: return "RLE_DICTIONARY";
    case ENC_BYTE_STREAM_SPLIT: return "BYTE_STREAM_SPLIT";
    default: return "unknown";
    }
}

const char *tokfs_pq_codec_name(int codec, char *buf, size_t size)
{
    static const char *const names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                        "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
    if (codec >= 0 && codec < 8)
        return names[codec];
    snprintf(buf, size, "codec %d", codec);
    return buf;
}

/* Hadoop's LZ4 framing is the one big-endian field Parquet has. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ===================================================================== footer ==== */

struct col_match {
    int found;
    int dup;
    int leaf_index;
    int is_group;
    int has_type, type;
    int has_rep, rep;
    int converted;       /* -1 none */
    int logical;         /* -1 none, else the LogicalType union field id */
};

struct meta_ctx {
    tc_reader r;
    tokfs_err *err;
    const char *text_name, *filter_name;
    struct col_match text, filter;
    int leaves;
    char names[256];     /* top-level column names, for "no such column" */
    size_t names_len;
    int names_more;
};

static int name_eq(const uint8_t *s, size_t n, const char *name)
{
    return name && strlen(name) == n && memcmp(s, name, n) == 0;
}

static void add_name(struct meta_ctx *m, const uint8_t *s, size_t n)
{
    size_t room = sizeof m->names - m->names_len;
    if (m->names_more || n + 8 > room) {
        m->names_more = 1;
        return;
    }
    if (m->names_len) {
        memcpy(m->names + m->names_len, ", ", 2);
        m->names_len += 2;
    }
    for (size_t i = 0; i < n; i++) /* keep the message printable */
        m->names[m->names_len++] = s[i] >= 0x20 && s[i] != 0x7f ? (char)s[i] : '?';
    m->names[m->names_len] = '\0';
}

/* LogicalType is a union: the id of its (only) field says which. */
static int parse_logical(tc_reader *r, int *kind)
{
    int rc = tc_struct_begin(r);
    int16_t id;
    int t;
    *kind = -1;
    while (rc == 0 && (rc = tc_field_next(r, &id, &t)) > 0) {
        if (*kind < 0)
            *kind = id;
        rc = tc_skip(r, t);
    }
    if (rc == 0)
        rc = tc_struct_end(r);
    return rc;
}

static int parse_schema(struct meta_ctx *m, int type)
{
    tc_reader *r = &m->r;
    int et;
    uint32_t n;
    int rc = tc_list_begin(r, type, &et, &n);
    if (rc < 0)
        return rc;
    if (et != TC_STRUCT)
        return tc_fail(r, "schema is not a list of structs");
    if (n == 0)
        return tc_fail(r, "empty schema");
    int32_t left[64]; /* children still expected at each open group */
    int depth = 0;
    for (uint32_t i = 0; i < n; i++) {
        int has_type = 0, ptype = -1, has_rep = 0, rep = -1, has_nc = 0, converted = -1,
            logical = -1;
        int32_t nc = 0, v32;
        const uint8_t *name = NULL;
        size_t name_len = 0;
        int16_t id;
        int t;
        if ((rc = tc_struct_begin(r)) < 0)
            return rc;
        while ((rc = tc_field_next(r, &id, &t)) > 0) {
            switch (id) {
            case 1: rc = tc_read_i32(r, t, &v32); has_type = 1; ptype = v32; break;
            case 3: rc = tc_read_i32(r, t, &v32); has_rep = 1; rep = v32; break;
            case 4: rc = tc_read_binary(r, t, &name, &name_len); break;
            case 5: rc = tc_read_i32(r, t, &nc); has_nc = 1; break;
            case 6: rc = tc_read_i32(r, t, &v32); converted = v32; break;
            case 10:
                if (t != TC_STRUCT)
                    rc = tc_fail(r, "logicalType is not a struct");
                else
                    rc = parse_logical(r, &logical);
                break;
            default: rc = tc_skip(r, t);
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0 || (rc = tc_struct_end(r)) < 0)
            return rc;
        if (!name)
            return tc_fail(r, "schema element %u has no name", i);
        if (nc < 0)
            return tc_fail(r, "schema element %u has %d children", i, nc);
        if (has_type && has_nc && nc > 0)
            return tc_fail(r, "schema element %u is both a leaf and a group", i);
        if (i == 0) { /* the root */
            if (has_type)
                return tc_fail(r, "schema root is a leaf");
            if (nc > 0)
                left[depth++] = nc;
            continue;
        }
        if (depth == 0)
            return tc_fail(r, "schema has more elements than its tree");
        int level = depth; /* 1: a top-level field */
        left[depth - 1]--;
        int is_group = !has_type;
        if (level == 1) {
            add_name(m, name, name_len);
            struct col_match *cm = NULL;
            if (name_eq(name, name_len, m->text_name))
                cm = &m->text;
            else if (name_eq(name, name_len, m->filter_name))
                cm = &m->filter;
            if (cm && cm->found) {
                cm->dup = 1;
            } else if (cm) {
                cm->found = 1;
                cm->is_group = is_group;
                cm->leaf_index = m->leaves;
                cm->has_type = has_type;
                cm->type = ptype;
                cm->has_rep = has_rep;
                cm->rep = rep;
                cm->converted = converted;
                cm->logical = logical;
            }
        }
        if (is_group) {
            if (nc > 0) {
                if (depth >= (int)(sizeof left / sizeof left[0]))
                    return tc_fail(r, "schema nested deeper than 64 levels");
                left[depth++] = nc;
            }
        } else {
            if (m->leaves == INT32_MAX)
                return tc_fail(r, "too many leaves");
            m->leaves++;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    }
    if (depth != 0)
        return tc_fail(r, "schema ends before its tree does");
    return 0;
}

static const char *type_name(int t)
{
    static const char *const names[] = {"BOOLEAN", "INT32",      "INT64",
                                        "INT96",   "FLOAT",      "DOUBLE",
                                        "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? names[t] : "unknown";
}

static const char *logical_name(int id)
{
    switch (id) {
    case 1: return "STRING"; case 2: return "MAP"; case 3: return "LIST"; case 4: return "ENUM";
    case 5: return "DECIMAL"; case 6: return "DATE"; case 7: return "TIME";
    case 8: return "TIMESTAMP"; case 10: return "INTEGER"; case 11: return "UNKNOWN (null)";
    case 12: return "JSON"; case 13: return "BSON"; case 14: return "UUID";
    case 15: return "FLOAT16"; case 16: return "VARIANT"; case 17: return "GEOMETRY";
    case 18: return "GEOGRAPHY"; case 19: return "VECTOR";
    default: return "unknown";
    }
}

/* Check a matched column and fill the public description. */
static int check_column(struct meta_ctx *m, const struct col_match *cm, const char *name,
                        const char *role, tokfs_pq_column *out)
{
    if (!cm->found) {
        return tokfs_err_set(m->err, EINVAL,
                             "Parquet: no top-level column '%s' (the %s column); columns: %s%s",
                             name, role, m->names, m->names_more ? ", ..." : "");
    }
    if (cm->dup)
        return tokfs_err_set(m->err, EINVAL, "Parquet: two top-level columns are named '%s'",
                             name);
    if (cm->is_group)
        return tokfs_err_set(m->err, ENOTSUP,
                             "Parquet: column '%s' is a group (struct, list or map); tokfs reads "
                             "a top-level string column",
                             name);
    if (cm->has_rep && cm->rep != REP_REQUIRED && cm->rep != REP_OPTIONAL)
        return tokfs_err_set(m->err, ENOTSUP,
                             "Parquet: column '%s' is %s (a list of values per row); tokfs "
                             "reads a REQUIRED or OPTIONAL string column",
                             name, cm->rep == REP_REPEATED ? "REPEATED" : "not REQUIRED/OPTIONAL");
    if (cm->type != PT_BYTE_ARRAY)
        return tokfs_err_set(m->err, ENOTSUP,
                             "Parquet: column '%s' has physical type %s; tokfs reads BYTE_ARRAY "
                             "string columns",
                             name, type_name(cm->type));
    int ann;
    if (cm->logical >= 0) {
        if (cm->logical == 1)
            ann = 1;
        else if (cm->logical == 4)
            ann = 2;
        else if (cm->logical == 12)
            ann = 3;
        else
            return tokfs_err_set(m->err, ENOTSUP,
                                 "Parquet: column '%s' has logical type %s; tokfs reads STRING "
                                 "(or unannotated BYTE_ARRAY, ENUM, JSON) columns",
                                 name, logical_name(cm->logical));
    } else if (cm->converted < 0) {
        ann = 0;
    } else if (cm->converted == 0) {
        ann = 1;
    } else if (cm->converted == 4) {
        ann = 2;
    } else if (cm->converted == 19) {
        ann = 3;
    } else {
        return tokfs_err_set(m->err, ENOTSUP,
                             "Parquet: column '%s' has converted type %d; tokfs reads UTF8 (or "
                             "unannotated BYTE_ARRAY, ENUM, JSON) columns",
                             name, cm->converted);
    }
    out->name = strdup(name);
    if (!out->name)
        return tokfs_err_set(m->err, ENOMEM, "Parquet: out of memory");
    out->leaf_index = cm->leaf_index;
    out->optional = cm->has_rep && cm->rep == REP_OPTIONAL;
    out->annotation = ann;
    return 0;
}

/* The ColumnMetaData of one of our columns. */
static int parse_column_meta(struct meta_ctx *m, const char *name, tokfs_pq_chunk *ch,
                             int *have)
{
    tc_reader *r = &m->r;
    int rc = tc_struct_begin(r);
    int16_t id;
    int t;
    int32_t v32;
    int got_type = 0, got_codec = 0, got_nv = 0, got_tcs = 0, got_dpo = 0;
    while (rc == 0 && (rc = tc_field_next(r, &id, &t)) > 0) {
        switch (id) {
        case 1:
            rc = tc_read_i32(r, t, &v32);
            if (rc == 0 && v32 != PT_BYTE_ARRAY)
                rc = tc_fail(r, "column chunk of '%s' has physical type %s", name,
                             type_name(v32));
            got_type = 1;
            break;
        case 3: { /* path_in_schema: must be [name] */
            int et;
            uint32_t n;
            rc = tc_list_begin(r, t, &et, &n);
            if (rc == 0 && (et != TC_BINARY || n != 1))
                rc = tc_fail(r, "column chunk of '%s' has a nested path", name);
            if (rc == 0) {
                const uint8_t *s;
                size_t len;
                rc = tc_read_binary(r, et, &s, &len);
                if (rc == 0 && !name_eq(s, len, name))
                    rc = tc_fail(r, "column chunk at the position of '%s' is for another column",
                                 name);
            }
            break;
        }
        case 4: rc = tc_read_i32(r, t, &v32); ch->codec = v32; got_codec = 1; break;
        case 5: rc = tc_read_i64(r, t, &ch->num_values); got_nv = 1; break;
        case 6: rc = tc_read_i64(r, t, &ch->total_uncompressed_size); break;
        case 7: rc = tc_read_i64(r, t, &ch->total_compressed_size); got_tcs = 1; break;
        case 9: rc = tc_read_i64(r, t, &ch->data_page_offset); got_dpo = 1; break;
        case 11: rc = tc_read_i64(r, t, &ch->dictionary_page_offset); break;
        case 16: { /* SizeStatistics: 1 unencoded_byte_array_data_bytes */
            if (t != TC_STRUCT) {
                rc = tc_skip(r, t);
                break;
            }
            rc = tc_struct_begin(r);
            int16_t sid;
            int st;
            while (rc == 0 && (rc = tc_field_next(r, &sid, &st)) > 0) {
                if (sid == 1 && st != TC_STRUCT)
                    rc = tc_read_i64(r, st, &ch->unencoded_bytes);
                else
                    rc = tc_skip(r, st);
            }
            if (rc == 0)
                rc = tc_struct_end(r);
            break;
        }
        default: rc = tc_skip(r, t);
        }
    }
    if (rc == 0)
        rc = tc_struct_end(r);
    if (rc < 0)
        return rc;
    if (!got_type || !got_codec || !got_nv || !got_tcs || !got_dpo)
        return tc_fail(r, "column chunk of '%s' lacks a required field", name);
    *have = 1;
    return 0;
}

static int parse_column_chunk(struct meta_ctx *m, const char *name, tokfs_pq_chunk *ch,
                              int *have)
{
    tc_reader *r = &m->r;
    int rc = tc_struct_begin(r);
    int16_t id;
    int t;
    while (rc == 0 && (rc = tc_field_next(r, &id, &t)) > 0) {
        switch (id) {
        case 1: {
            const uint8_t *s;
            size_t len;
            rc = tc_read_binary(r, t, &s, &len);
            if (rc == 0 && len > 0)
                return tokfs_err_set(m->err, ENOTSUP,
                                     "Parquet: column '%s' is stored in another file (file_path "
                                     "set); tokfs reads self-contained files",
                                     name);
            break;
        }
        case 3:
            if (t != TC_STRUCT)
                rc = tc_fail(r, "meta_data is not a struct");
            else
                rc = parse_column_meta(m, name, ch, have);
            break;
        case 8:
        case 9:
            return tokfs_err_set(m->err, ENOTSUP,
                                 "Parquet: column '%s' is encrypted; tokfs reads unencrypted files",
                                 name);
        default: rc = tc_skip(r, t);
        }
    }
    if (rc == 0)
        rc = tc_struct_end(r);
    if (rc == 0 && !*have)
        return tc_fail(r, "column chunk of '%s' has no metadata", name);
    return rc;
}

static int check_chunk(struct meta_ctx *m, tokfs_pq_meta *pm, size_t rgi, int64_t rows,
                       const char *name, tokfs_pq_chunk *ch)
{
    char cb[32];
    if (ch->codec != TOKFS_PQ_UNCOMPRESSED && ch->codec != TOKFS_PQ_SNAPPY &&
        ch->codec != TOKFS_PQ_GZIP && ch->codec != TOKFS_PQ_ZSTD && ch->codec != TOKFS_PQ_LZ4 &&
        ch->codec != TOKFS_PQ_LZ4_RAW)
        return tokfs_err_set(m->err, ENOTSUP,
                             "Parquet: column '%s' in row group %zu is compressed with %s, which "
                             "tokfs does not read (it reads UNCOMPRESSED, SNAPPY, GZIP, ZSTD, "
                             "LZ4_RAW, LZ4)",
                             name, rgi, tokfs_pq_codec_name(ch->codec, cb, sizeof cb));
    if (ch->num_values != rows)
        return tokfs_err_set(m->err, EBADMSG,
                             "Parquet: corrupt footer: row group %zu has %lld rows but column "
                             "'%s' has %lld values",
                             rgi, (long long)rows, name, (long long)ch->num_values);
    int64_t start = ch->data_page_offset;
    if (ch->dictionary_page_offset >= 4 && ch->dictionary_page_offset < start)
        start = ch->dictionary_page_offset;
    if (start < 4 || ch->total_compressed_size < 0 ||
        (uint64_t)ch->total_compressed_size > pm->footer_start ||
        (uint64_t)start > pm->footer_start - (uint64_t)ch->total_compressed_size)
        return tokfs_err_set(m->err, EBADMSG,
                             "Parquet: corrupt footer: column '%s' in row group %zu claims bytes "
                             "[%lld, +%lld), outside the data part [4, %llu) of the file",
                             name, rgi, (long long)start, (long long)ch->total_compressed_size,
                             (unsigned long long)pm->footer_start);
    ch->start = (uint64_t)start;
    ch->end = (uint64_t)start + (uint64_t)ch->total_compressed_size;
    return 0;
}

static void chunk_init(tokfs_pq_chunk *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->dictionary_page_offset = -1;
    ch->unencoded_bytes = -1;
    ch->total_uncompressed_size = -1;
}

static int parse_row_groups(struct meta_ctx *m, tokfs_pq_meta *pm, int type)
{
    tc_reader *r = &m->r;
    int et;
    uint32_t n;
    int rc = tc_list_begin(r, type, &et, &n);
    if (rc < 0)
        return rc;
    if (n > 0 && et != TC_STRUCT)
        return tc_fail(r, "row_groups is not a list of structs");
    size_t cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        tokfs_pq_row_group rg;
        memset(&rg, 0, sizeof rg);
        chunk_init(&rg.text);
        chunk_init(&rg.filter);
        int have_text = 0, have_filter = 0, have_rows = 0;
        int16_t id;
        int t;
        if ((rc = tc_struct_begin(r)) < 0)
            return rc;
        while ((rc = tc_field_next(r, &id, &t)) > 0) {
            if (id == 1) {
                int cet;
                uint32_t nc;
                if ((rc = tc_list_begin(r, t, &cet, &nc)) < 0)
                    return rc;
                if (nc > 0 && cet != TC_STRUCT)
                    return tc_fail(r, "row group %u: columns is not a list of structs", i);
                for (uint32_t c = 0; c < nc && rc == 0; c++) {
                    if ((int)c == pm->text.leaf_index)
                        rc = parse_column_chunk(m, pm->text.name, &rg.text, &have_text);
                    else if (pm->has_filter && (int)c == pm->filter.leaf_index)
                        rc = parse_column_chunk(m, pm->filter.name, &rg.filter, &have_filter);
                    else
                        rc = tc_skip(r, TC_STRUCT);
                }
            } else if (id == 3) {
                rc = tc_read_i64(r, t, &rg.num_rows);
                have_rows = 1;
            } else {
                rc = tc_skip(r, t);
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0 || (rc = tc_struct_end(r)) < 0)
            return rc;
        if (!have_rows || rg.num_rows < 0)
            return tc_fail(r, "row group %u has no row count", i);
        if (!have_text || (pm->has_filter && !have_filter))
            return tc_fail(r, "row group %u has fewer column chunks than the schema has leaves", i);
        if ((rc = check_chunk(m, pm, i, rg.num_rows, pm->text.name, &rg.text)) < 0)
            return rc;
        if (pm->has_filter &&
            (rc = check_chunk(m, pm, i, rg.num_rows, pm->filter.name, &rg.filter)) < 0)
            return rc;
        if (pm->n_row_groups == cap) {
            /* Grows with row groups actually parsed (each took dozens of bytes of footer). */
            size_t ncap = cap ? cap * 2 : 16;
            tokfs_pq_row_group *g = realloc(pm->row_groups, ncap * sizeof *g);
            if (!g)
                return tokfs_err_set(m->err, ENOMEM, "Parquet: out of memory");
            pm->row_groups = g;
            cap = ncap;
        }
        pm->row_groups[pm->n_row_groups++] = rg;
    }
    return 0;
}

void tokfs_pq_meta_free(tokfs_pq_meta *m)
{
    if (!m)
        return;
    free(m->text.name);
    free(m->filter.name);
    free(m->created_by);
    free(m->row_groups);
    free(m);
}

static int parse_file_meta(struct meta_ctx *m, tokfs_pq_meta *pm)
{
    tc_reader *r = &m->r;
    tc_reader rg_reader;
    memset(&rg_reader, 0, sizeof rg_reader);
    int rg_type = 0, have_schema = 0, have_rg = 0;
    int16_t id;
    int t, rc = tc_struct_begin(r);
    while (rc == 0 && (rc = tc_field_next(r, &id, &t)) > 0) {
        switch (id) {
        case 2:
            if (have_schema)
                return tc_fail(r, "two schemas");
            rc = parse_schema(m, t);
            have_schema = 1;
            break;
        case 3: rc = tc_read_i64(r, t, &pm->num_rows); break;
        case 4:
            /* Row groups need the schema (leaf positions), which may come later: remember
             * where they are, parse them after. */
            rg_reader = *r;
            rg_type = t;
            have_rg = 1;
            rc = tc_skip(r, t);
            break;
        case 6: {
            const uint8_t *s;
            size_t len;
            rc = tc_read_binary(r, t, &s, &len);
            if (rc == 0 && !pm->created_by) {
                pm->created_by = strndup((const char *)s, len > 200 ? 200 : len);
                if (!pm->created_by)
                    return tokfs_err_set(m->err, ENOMEM, "Parquet: out of memory");
            }
            break;
        }
        default: rc = tc_skip(r, t);
        }
    }
    if (rc == 0)
        rc = tc_struct_end(r);
    if (rc < 0)
        return rc;
    if (!have_schema)
        return tc_fail(r, "no schema");
    if (!have_rg)
        return tc_fail(r, "no row groups list");
    if ((rc = check_column(m, &m->text, m->text_name, "text", &pm->text)) < 0)
        return rc;
    if (m->filter_name) {
        if ((rc = check_column(m, &m->filter, m->filter_name, "filter", &pm->filter)) < 0)
            return rc;
        pm->has_filter = 1;
    }
    m->r = rg_reader;
    return parse_row_groups(m, pm, rg_type);
}

int tokfs_pq_meta_parse(const uint8_t *tail, size_t tail_len, uint64_t file_size,
                        const char *text_column, const char *filter_column,
                        tokfs_pq_meta **out, uint64_t *need_from, tokfs_err *err)
{
    *out = NULL;
    if (!text_column || !*text_column)
        return tokfs_err_set(err, EINVAL, "Parquet: no text column named");
    if (filter_column && (!*filter_column || strcmp(filter_column, text_column) == 0))
        return tokfs_err_set(err, EINVAL,
                             "Parquet: the filter column must be named and differ from the "
                             "text column");
    if (tail_len > file_size)
        return tokfs_err_set(err, EINVAL, "Parquet: %zu tail bytes of a %llu-byte file",
                             tail_len, (unsigned long long)file_size);
    if (file_size < 12)
        return tokfs_err_set(err, EBADMSG,
                             "Parquet: not a Parquet file (%llu bytes, too small)",
                             (unsigned long long)file_size);
    if (tail_len < 8) {
        *need_from = file_size - 8;
        return TOKFS_PQ_NEED_MORE;
    }
    const uint8_t *magic = tail + tail_len - 4;
    if (memcmp(magic, "PARE", 4) == 0)
        return tokfs_err_set(err, ENOTSUP,
                             "Parquet: encrypted footer (PARE); tokfs reads unencrypted files");
    if (memcmp(magic, "PAR1", 4) != 0)
        return tokfs_err_set(err, EBADMSG,
                             "Parquet: not a Parquet file (does not end with PAR1)");
    uint32_t mlen = tokfs_le32(tail + tail_len - 8);
    if ((uint64_t)mlen > file_size - 12)
        return tokfs_err_set(err, EBADMSG,
                             "Parquet: corrupt footer: metadata length %u exceeds the file "
                             "(%llu bytes)",
                             mlen, (unsigned long long)file_size);
    if (mlen > TOKFS_PQ_MAX_FOOTER)
        return tokfs_err_set(err, EFBIG,
                             "Parquet: footer of %u bytes is over tokfs's limit of %u bytes",
                             mlen, TOKFS_PQ_MAX_FOOTER);
    if (tail_len < (size_t)mlen + 8) {
        *need_from = file_size - 8 - mlen;
        return TOKFS_PQ_NEED_MORE;
    }
    if (tail_len == file_size && memcmp(tail, "PAR1", 4) != 0)
        return tokfs_err_set(err, EBADMSG,
                             "Parquet: not a Parquet file (does not start with PAR1)");

    tokfs_pq_meta *pm = calloc(1, sizeof *pm);
    struct meta_ctx *m = calloc(1, sizeof *m);
    if (!pm || !m) {
        free(pm);
        free(m);
        return tokfs_err_set(err, ENOMEM, "Parquet: out of memory");
    }
    pm->file_size = file_size;
    pm->footer_start = file_size - 8 - mlen;
    tc_init(&m->r, tail + tail_len - 8 - mlen, mlen);
    m->err = err;
    m->text_name = text_column;
    m->filter_name = filter_column;
    tokfs_err_clear(err);
    int rc = parse_file_meta(m, pm);
    if (rc == 0 && !pm->created_by && !(pm->created_by = strdup("")))
        rc = tokfs_err_set(err, ENOMEM, "Parquet: out of memory");
    if (rc < 0) {
        if (m->r.err) /* a decoding error: its message is in the reader */
            tokfs_err_set(err, EBADMSG, "Parquet: corrupt footer (%u bytes at file offset %llu): %s",
                          mlen, (unsigned long long)pm->footer_start, m->r.msg);
        tokfs_pq_meta_free(pm);
        free(m);
        return rc < 0 ? rc : -EBADMSG;
    }
    free(m);
    *out = pm;
    return 0;
}

int64_t tokfs_pq_rg_text_bytes(const tokfs_pq_row_group *rg)
{
    if (rg->text.unencoded_bytes >= 0)
        return rg->text.unencoded_bytes;
    if (rg->text.total_uncompressed_size >= 0)
        return rg->text.total_uncompressed_size;
    return rg->text.total_compressed_size;
}

/* ================================================================ bit decoding ==== */

/* `width` (<= 32) bits at bit position `pos` of base, LSB first. The caller has checked that
 * bytes [pos/8, (pos+width+7)/8) lie within avail bytes. */
static inline uint32_t get_bits(const uint8_t *base, size_t avail, uint64_t pos, int width)
{
    if (width == 0)
        return 0;
    size_t byte = (size_t)(pos >> 3);
    int shift = (int)(pos & 7);
    uint64_t v;
    if (avail - byte >= 8) {
        v = tokfs_le64(base + byte);
    } else {
        v = 0;
        int nb = (shift + width + 7) / 8;
        for (int i = 0; i < nb; i++)
            v |= (uint64_t)base[byte + i] << (8 * i);
    }
    return (uint32_t)((v >> shift) & ((width == 32) ? 0xffffffffu : ((1u << width) - 1)));
}

/* RLE / bit-packed hybrid (Encodings.md), or the deprecated BIT_PACKED (MSB first, width 1). */
struct rle {
    const uint8_t *p, *end;
    int width;
    int msb;               /* deprecated BIT_PACKED: one run of msb_count values */
    uint64_t run_left;     /* values left in the current run */
    int packed;
    uint32_t value;        /* RLE run value */
    const uint8_t *run;    /* bit-packed run data */
    size_t run_bytes;      /* bytes of it present */
    uint64_t run_pos;      /* values read from it */
    const char *what;      /* "definition levels", "dictionary indices" */
};

static void rle_init(struct rle *d, const uint8_t *p, size_t len, int width, const char *what)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->end = p + len;
    d->width = width;
    d->what = what;
}

/* 0 and *v, or -EBADMSG with a static reason in *why. */
static int rle_next(struct rle *d, uint32_t *v, const char **why)
{
    while (d->run_left == 0) {
        if (d->msb || d->p >= d->end) {
            *why = "ran out";
            return -EBADMSG;
        }
        uint64_t h;
        if (tc_uleb128(&d->p, d->end, &h) < 0) {
            *why = "has a bad run header";
            return -EBADMSG;
        }
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups > (UINT64_C(1) << 40)) {
                *why = "has an absurd run length";
                return -EBADMSG;
            }
            uint64_t bytes = groups * (uint64_t)d->width;
            size_t avail = (size_t)(d->end - d->p);
            d->run = d->p;
            d->run_bytes = bytes < avail ? (size_t)bytes : avail; /* a short last run is ok... */
            d->p += d->run_bytes;
            d->run_left = groups * 8;
            d->run_pos = 0;
            d->packed = 1;
        } else {
            size_t nb = ((size_t)d->width + 7) / 8;
            if ((size_t)(d->end - d->p) < nb) {
                *why = "is truncated";
                return -EBADMSG;
            }
            uint32_t val = 0;
            for (size_t i = 0; i < nb; i++)
                val |= (uint32_t)d->p[i] << (8 * i);
            d->p += nb;
            d->value = val;
            d->run_left = h >> 1;
            d->packed = 0;
        }
    }
    d->run_left--;
    if (d->msb) {
        uint64_t i = d->run_pos++;
        *v = (d->run[i >> 3] >> (7 - (i & 7))) & 1;
        return 0;
    }
    if (!d->packed) {
        *v = d->value;
        return 0;
    }
    uint64_t pos = d->run_pos++ * (uint64_t)d->width;
    if ((pos + (uint64_t)d->width + 7) / 8 > d->run_bytes) { /* ...until a value is missing */
        *why = "is truncated";
        return -EBADMSG;
    }
    *v = get_bits(d->run, d->run_bytes, pos, d->width);
    return 0;
}

/* DELTA_BINARY_PACKED of 32-bit values (lengths): arithmetic wraps modulo 2^32. */
struct dbp {
    const uint8_t *p, *end;   /* p: next unread byte (after the current miniblock) */
    uint32_t mbs, vpm;        /* miniblocks per block, values per miniblock */
    uint32_t total, left;
    int first;                /* the header's first value is not returned yet */
    uint32_t last, min_delta;
    const uint8_t *widths;
    uint32_t mb;              /* current miniblock in its block */
    int in_block;
    const uint8_t *mbp;       /* current miniblock data */
    uint32_t in_mb;
    int width;
};

static int dbp_init(struct dbp *d, const uint8_t *p, const uint8_t *end, const char **why)
{
    uint64_t bs, mbs, total, first;
    memset(d, 0, sizeof *d);
    if (tc_uleb128(&p, end, &bs) < 0 || tc_uleb128(&p, end, &mbs) < 0 ||
        tc_uleb128(&p, end, &total) < 0 || tc_uleb128(&p, end, &first) < 0) {
        *why = "DELTA_BINARY_PACKED header is truncated";
        return -EBADMSG;
    }
    if (bs == 0 || bs % 128 || bs > (UINT64_C(1) << 31) || mbs == 0 || bs % mbs ||
        (bs / mbs) % 32 || total > INT32_MAX) {
        *why = "DELTA_BINARY_PACKED header is invalid";
        return -EBADMSG;
    }
    d->p = p;
    d->end = end;
    d->mbs = (uint32_t)mbs;
    d->vpm = (uint32_t)(bs / mbs);
    d->total = d->left = (uint32_t)total;
    d->first = total > 0;
    d->last = (uint32_t)tc_unzigzag64(first);
    return 0;
}

/* Where the encoded values end (they are followed by other data in DELTA_*_BYTE_ARRAY). */
static int dbp_end(const struct dbp *d, const uint8_t **endp, const char **why)
{
    const uint8_t *p = d->p;
    uint64_t deltas = d->total ? d->total - 1 : 0;
    while (deltas > 0) {
        uint64_t md;
        if (tc_uleb128(&p, d->end, &md) < 0 || (size_t)(d->end - p) < d->mbs) {
            *why = "DELTA_BINARY_PACKED block is truncated";
            return -EBADMSG;
        }
        const uint8_t *w = p;
        p += d->mbs;
        for (uint32_t i = 0; i < d->mbs && deltas > 0; i++) {
            if (w[i] > 32) {
                *why = "DELTA_BINARY_PACKED bit width over 32";
                return -EBADMSG;
            }
            size_t size = (size_t)d->vpm / 8 * w[i];
            if ((size_t)(d->end - p) < size) {
                *why = "DELTA_BINARY_PACKED miniblock is truncated";
                return -EBADMSG;
            }
            p += size;
            deltas -= deltas < d->vpm ? deltas : d->vpm;
        }
    }
    *endp = p;
    return 0;
}

static int dbp_next(struct dbp *d, uint32_t *v, const char **why)
{
    if (d->left == 0) {
        *why = "DELTA_BINARY_PACKED has fewer values than the page";
        return -EBADMSG;
    }
    d->left--;
    if (d->first) {
        d->first = 0;
        *v = d->last;
        return 0;
    }
    if (!d->in_block || d->in_mb == d->vpm) {
        if (!d->in_block || d->mb + 1 >= d->mbs) {
            uint64_t md;
            if (tc_uleb128(&d->p, d->end, &md) < 0 || (size_t)(d->end - d->p) < d->mbs) {
                *why = "DELTA_BINARY_PACKED block is truncated";
                return -EBADMSG;
            }
            d->min_delta = (uint32_t)tc_unzigzag64(md);
            d->widths = d->p;
            d->p += d->mbs;
            d->mb = 0;
            d->in_block = 1;
        } else {
            d->mb++;
        }
        d->width = d->widths[d->mb];
        if (d->width > 32) {
            *why = "DELTA_BINARY_PACKED bit width over 32";
            return -EBADMSG;
        }
        size_t size = (size_t)d->vpm / 8 * (size_t)d->width;
        if ((size_t)(d->end - d->p) < size) {
            *why = "DELTA_BINARY_PACKED miniblock is truncated";
            return -EBADMSG;
        }
        d->mbp = d->p;
        d->p += size;
        d->in_mb = 0;
    }
    uint32_t packed = get_bits(d->mbp, (size_t)(d->p - d->mbp), (uint64_t)d->in_mb * d->width,
                               d->width);
    d->in_mb++;
    d->last = d->last + d->min_delta + packed;
    *v = d->last;
    return 0;
}

/* ============================================================= column reader ==== */

struct span {
    uint32_t off, len;
};

struct page_hdr {
    int type;
    int32_t usize, csize;
    int have_v1, have_v2, have_dict;
    int32_t num_values;
    int enc, def_enc;
    int32_t num_nulls, def_len, rep_len;
    int is_compressed;
    int32_t dict_num;
    int dict_enc;
};

struct tokfs_pq_col {
    char *name;
    int optional;
    int codec;
    long rg;                  /* row group for messages, -1 unknown */
    uint64_t file_base;       /* file offset of the chunk */
    int64_t expect;           /* values (rows) in the chunk */
    int64_t done;             /* rows returned */
    size_t max_page;
    uint64_t page_off;        /* chunk offset of the current page's header */
    uint64_t pages;           /* data pages loaded */
    uint32_t enc_mask, ptype_mask;

    /* dictionary of the chunk */
    uint8_t *dict_data;
    struct span *dict;
    uint32_t dict_n;
    int have_dict;
    int seen_data;

    /* current data page */
    int64_t page_left;        /* rows left in it */
    int enc;
    int has_def;
    struct rle def;
    int vals_ready;           /* value decoder set up (lazily: an all-null page may have none) */
    const uint8_t *vp, *vend; /* values section */
    struct rle idx;
    struct dbp lens, prefix;
    const uint8_t *data;      /* DELTA_*: the bytes after the length streams */
    uint8_t *dba;             /* DELTA_BYTE_ARRAY: the previous value */
    size_t dba_len, dba_cap;

    uint8_t *page_buf;        /* decompressed page */
    size_t page_cap;
    ZSTD_DCtx *zctx;

    /* in-memory chunk (tokfs_pq_col_open) */
    const uint8_t *mem;
    size_t mem_len, mem_pos;

    tokfs_err *err;
};

static int col_fail(tokfs_pq_col *c, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int col_fail(tokfs_pq_col *c, int errnum, const char *fmt, ...)
{
    char what[256], rg[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->rg >= 0)
        snprintf(rg, sizeof rg, ", row group %ld", c->rg);
    return tokfs_err_set(c->err, errnum,
                         "Parquet column '%s'%s: page at chunk byte %llu (file byte %llu): %s",
                         c->name, rg, (unsigned long long)c->page_off,
                         (unsigned long long)(c->file_base + c->page_off), what);
}

static size_t clamp_page(const tokfs_pq_limits *lim)
{
    size_t m = lim && lim->max_page_bytes ? lim->max_page_bytes : TOKFS_PQ_MAX_PAGE_DEFAULT;
    return m > TOKFS_PQ_MAX_PAGE_HARD ? TOKFS_PQ_MAX_PAGE_HARD : m;
}

static tokfs_pq_col *col_new(const tokfs_pq_column *col, const tokfs_pq_chunk *chunk,
                             const tokfs_pq_limits *lim)
{
    tokfs_pq_col *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(col->name))) {
        free(c);
        return NULL;
    }
    c->optional = col->optional;
    c->codec = chunk->codec;
    c->rg = -1;
    c->file_base = chunk->start;
    c->expect = chunk->num_values;
    c->max_page = clamp_page(lim);
    return c;
}

void tokfs_pq_col_free(tokfs_pq_col *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->dict_data);
    free(c->dict);
    free(c->dba);
    free(c->page_buf);
    ZSTD_freeDCtx(c->zctx);
    free(c);
}

/* Parse a page header from p[0..n). 0 and *hlen; 1 when more bytes are needed; <0 error. */
static int page_header_parse(tokfs_pq_col *c, const uint8_t *p, size_t n, struct page_hdr *h,
                             size_t *hlen)
{
    tc_reader r;
    tc_init(&r, p, n);
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = 1;
    h->usize = h->csize = -1;
    int16_t id;
    int t, rc = tc_struct_begin(&r);
    int32_t v;
    while (rc == 0 && (rc = tc_field_next(&r, &id, &t)) > 0) {
        switch (id) {
        case 1: rc = tc_read_i32(&r, t, &v); h->type = v; break;
        case 2: rc = tc_read_i32(&r, t, &h->usize); break;
        case 3: rc = tc_read_i32(&r, t, &h->csize); break;
        case 5:
        case 7:
        case 8: {
            if (t != TC_STRUCT) {
                rc = tc_fail(&r, "page sub-header is not a struct");
                break;
            }
            int16_t sid;
            int st;
            rc = tc_struct_begin(&r);
            if (id == 5)
                h->have_v1 = 1;
            else if (id == 7)
                h->have_dict = 1;
            else
                h->have_v2 = 1;
            while (rc == 0 && (rc = tc_field_next(&r, &sid, &st)) > 0) {
                if (id == 5) { /* DataPageHeader */
                    switch (sid) {
                    case 1: rc = tc_read_i32(&r, st, &h->num_values); break;
                    case 2: rc = tc_read_i32(&r, st, &v); h->enc = v; break;
                    case 3: rc = tc_read_i32(&r, st, &v); h->def_enc = v; break;
                    default: rc = tc_skip(&r, st);
                    }
                } else if (id == 7) { /* DictionaryPageHeader */
                    switch (sid) {
                    case 1: rc = tc_read_i32(&r, st, &h->dict_num); break;
                    case 2: rc = tc_read_i32(&r, st, &v); h->dict_enc = v; break;
                    default: rc = tc_skip(&r, st);
                    }
                } else { /* DataPageHeaderV2 */
                    switch (sid) {
                    case 1: rc = tc_read_i32(&r, st, &h->num_values); break;
                    case 2: rc = tc_read_i32(&r, st, &h->num_nulls); break;
                    case 4: rc = tc_read_i32(&r, st, &v); h->enc = v; break;
                    case 5: rc = tc_read_i32(&r, st, &h->def_len); break;
                    case 6: rc = tc_read_i32(&r, st, &h->rep_len); break;
                    case 7:
                        if (st == TC_TRUE || st == TC_FALSE)
                            rc = tc_read_bool(&r, st, &h->is_compressed);
                        else
                            rc = tc_fail(&r, "is_compressed is not a bool");
                        break;
                    default: rc = tc_skip(&r, st);
                    }
                }
            }
            if (rc == 0)
                rc = tc_struct_end(&r);
            break;
        }
        default: rc = tc_skip(&r, t);
        }
    }
    if (rc == 0)
        rc = tc_struct_end(&r);
    if (rc < 0) {
        if (r.truncated && n < TOKFS_PQ_MAX_PAGE_HEADER)
            return 1;
        if (r.truncated)
            return col_fail(c, EFBIG, "page header longer than %u bytes",
                            TOKFS_PQ_MAX_PAGE_HEADER);
        return col_fail(c, EBADMSG, "corrupt page header: %s", r.msg);
    }
    if (h->type < 0 || h->usize < 0 || h->csize < 0)
        return col_fail(c, EBADMSG, "corrupt page header: type or sizes missing");
    *hlen = tc_offset(&r);
    return 0;
}

static int decompress(tokfs_pq_col *c, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t out_len)
{
    char cb[32];
    const char *codec = tokfs_pq_codec_name(c->codec, cb, sizeof cb);
    uint8_t none;
    if (!out) /* an empty page: decoders want a valid pointer all the same */
        out = &none;
    switch (c->codec) {
    case TOKFS_PQ_SNAPPY: {
        size_t n;
        if (snappy_uncompressed_length((const char *)in, in_len, &n) != SNAPPY_OK)
            return col_fail(c, EBADMSG, "corrupt SNAPPY data");
        if (n != out_len)
            return col_fail(c, EBADMSG,
                            "corrupt SNAPPY data: it holds %zu bytes, the page header says %zu", n,
                            out_len);
        if (snappy_uncompress((const char *)in, in_len, (char *)out, &n) != SNAPPY_OK ||
            n != out_len)
            return col_fail(c, EBADMSG, "corrupt SNAPPY data");
        return 0;
    }
    case TOKFS_PQ_GZIP: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, 15 + 32) != Z_OK) /* gzip or zlib header */
            return col_fail(c, ENOMEM, "cannot start GZIP decoding");
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)in_len;
        zs.next_out = out;
        zs.avail_out = (uInt)out_len;
        int zrc;
        for (;;) {
            zrc = inflate(&zs, Z_FINISH);
            if (zrc == Z_STREAM_END && zs.avail_in > 0 && zs.avail_out > 0 &&
                inflateReset(&zs) == Z_OK)
                continue; /* another gzip member */
            break;
        }
        size_t got = out_len - zs.avail_out;
        inflateEnd(&zs);
        if (zrc != Z_STREAM_END || got != out_len)
            return col_fail(c, EBADMSG, "corrupt GZIP data (%s; %zu of %zu bytes)",
                            zrc == Z_STREAM_END ? "ends early"
                            : zs.avail_out == 0 ? "more data than the page header says"
                                                : "bad stream",
                            got, out_len);
        return 0;
    }
    case TOKFS_PQ_ZSTD: {
        if (!c->zctx && !(c->zctx = ZSTD_createDCtx()))
            return col_fail(c, ENOMEM, "out of memory");
        size_t n = ZSTD_decompressDCtx(c->zctx, out, out_len, in, in_len);
        if (ZSTD_isError(n))
            return col_fail(c, EBADMSG, "corrupt ZSTD data: %s", ZSTD_getErrorName(n));
        if (n != out_len)
            return col_fail(c, EBADMSG,
                            "corrupt ZSTD data: it holds %zu bytes, the page header says %zu", n,
                            out_len);
        return 0;
    }
    case TOKFS_PQ_LZ4_RAW: {
        int n = LZ4_decompress_safe((const char *)in, (char *)out, (int)in_len, (int)out_len);
        if (n < 0 || (size_t)n != out_len)
            return col_fail(c, EBADMSG, "corrupt LZ4_RAW data");
        return 0;
    }
    case TOKFS_PQ_LZ4: {
        /* Hadoop framing: blocks of [BE32 raw size][BE32 compressed size][LZ4 block]. */
        size_t ip = 0, op = 0;
        int ok = 1;
        while (ok && in_len - ip >= 8 && op < out_len) {
            uint32_t ulen = be32(in + ip), clen = be32(in + ip + 4);
            ip += 8;
            if (clen > in_len - ip || ulen > out_len - op) {
                ok = 0;
                break;
            }
            int n = LZ4_decompress_safe((const char *)in + ip, (char *)out + op, (int)clen,
                                        (int)ulen);
            if (n < 0 || (uint32_t)n != ulen)
                ok = 0;
            ip += clen;
            op += ulen;
        }
        if (ok && ip == in_len && op == out_len)
            return 0;
        /* Old writers put a bare LZ4 block under this codec. */
        int n = LZ4_decompress_safe((const char *)in, (char *)out, (int)in_len, (int)out_len);
        if (n < 0 || (size_t)n != out_len)
            return col_fail(c, EBADMSG, "corrupt LZ4 data (neither Hadoop-framed nor raw)");
        return 0;
    }
    default:
        return col_fail(c, ENOTSUP, "codec %s is not supported", codec);
    }
}

/* Decompress into the page buffer (grown as needed, up to the page limit). */
static int inflate_into_page(tokfs_pq_col *c, const uint8_t *in, size_t in_len, size_t out_len,
                             const uint8_t **outp)
{
    if (out_len > c->page_cap) {
        uint8_t *b = malloc(out_len ? out_len : 1);
        if (!b)
            return col_fail(c, ENOMEM, "out of memory for a %zu-byte page", out_len);
        free(c->page_buf);
        c->page_buf = b;
        c->page_cap = out_len;
    }
    int rc = decompress(c, in, in_len, c->page_buf, out_len);
    if (rc < 0)
        return rc;
    *outp = c->page_buf;
    return 0;
}

static int load_dictionary(tokfs_pq_col *c, const struct page_hdr *h, const uint8_t *body)
{
    if (c->have_dict)
        return col_fail(c, EBADMSG, "a second dictionary page");
    if (c->seen_data)
        return col_fail(c, EBADMSG, "a dictionary page after data pages");
    if (h->dict_enc != ENC_PLAIN && h->dict_enc != ENC_PLAIN_DICTIONARY)
        return col_fail(c, ENOTSUP, "dictionary page encoded %s (expected PLAIN)",
                        encoding_name(h->dict_enc));
    size_t len = (size_t)h->usize;
    uint8_t *data = malloc(len ? len : 1);
    if (!data)
        return col_fail(c, ENOMEM, "out of memory for a %zu-byte dictionary", len);
    int rc = 0;
    if (c->codec == TOKFS_PQ_UNCOMPRESSED) {
        if (h->csize != h->usize) {
            free(data);
            return col_fail(c, EBADMSG, "uncompressed page of %d bytes claims %d", h->csize,
                            h->usize);
        }
        memcpy(data, body, len);
    } else if ((rc = decompress(c, body, (size_t)h->csize, data, len)) < 0) {
        free(data);
        return rc;
    }
    /* Every PLAIN entry takes at least its 4-byte length. */
    if (h->dict_num < 0 || (size_t)h->dict_num > len / 4) {
        free(data);
        return col_fail(c, EBADMSG, "dictionary claims %d entries in %zu bytes", h->dict_num,
                        len);
    }
    struct span *d = malloc(((size_t)h->dict_num ? (size_t)h->dict_num : 1) * sizeof *d);
    if (!d) {
        free(data);
        return col_fail(c, ENOMEM, "out of memory for a dictionary");
    }
    size_t pos = 0;
    for (int32_t i = 0; i < h->dict_num; i++) {
        if (len - pos < 4) {
            rc = col_fail(c, EBADMSG, "dictionary entry %d is truncated", i);
            break;
        }
        uint32_t n = tokfs_le32(data + pos);
        pos += 4;
        if (n > len - pos) {
            rc = col_fail(c, EBADMSG, "dictionary entry %d (%u bytes) runs past the page", i, n);
            break;
        }
        d[i].off = (uint32_t)pos;
        d[i].len = n;
        pos += n;
    }
    if (rc < 0) {
        free(data);
        free(d);
        return rc;
    }
    c->dict_data = data;
    c->dict = d;
    c->dict_n = (uint32_t)h->dict_num;
    c->have_dict = 1;
    return 0;
}

/* Set up a page whose body (compressed_page_size bytes) is at body. */
static int page_load(tokfs_pq_col *c, const struct page_hdr *h, const uint8_t *body)
{
    if (h->type >= 0 && h->type < 32)
        c->ptype_mask |= 1u << h->type;
    if (h->type == PAGE_DICT) {
        if (!h->have_dict)
            return col_fail(c, EBADMSG, "dictionary page without its header");
        if ((size_t)h->usize > c->max_page)
            return col_fail(c, EFBIG, "dictionary page of %d bytes is over the %zu-byte limit",
                            h->usize, c->max_page);
        return load_dictionary(c, h, body);
    }
    if (h->type != PAGE_DATA && h->type != PAGE_DATA_V2)
        return 0; /* index pages and unknown kinds are skipped */
    int v2 = h->type == PAGE_DATA_V2;
    if (v2 ? !h->have_v2 : !h->have_v1)
        return col_fail(c, EBADMSG, "data page without its header");
    if ((size_t)h->usize > c->max_page)
        return col_fail(c, EFBIG, "page of %d bytes is over the %zu-byte limit", h->usize,
                        c->max_page);
    if (h->num_values < 0 || h->num_values > c->expect - c->done)
        return col_fail(c, EBADMSG,
                        "page of %d values, but the chunk has %lld values and %lld were read",
                        h->num_values, (long long)c->expect, (long long)c->done);
    c->seen_data = 1;
    c->pages++;
    const uint8_t *p = NULL, *end = NULL;
    size_t csize = (size_t)h->csize, usize = (size_t)h->usize;
    int rc;
    c->has_def = c->optional;
    if (!v2) {
        if (c->codec == TOKFS_PQ_UNCOMPRESSED) {
            p = body;
            end = body + csize; /* usize should equal csize; the bytes present are what count */
        } else {
            if ((rc = inflate_into_page(c, body, csize, usize, &p)) < 0)
                return rc;
            end = p + usize;
        }
        if (c->optional) {
            if (h->def_enc == ENC_RLE) {
                if (end - p < 4)
                    return col_fail(c, EBADMSG, "definition levels length is truncated");
                uint32_t dl = tokfs_le32(p);
                p += 4;
                if (dl > (size_t)(end - p))
                    return col_fail(c, EBADMSG, "definition levels (%u bytes) run past the page",
                                    dl);
                rle_init(&c->def, p, dl, 1, "definition levels");
                p += dl;
            } else if (h->def_enc == ENC_BIT_PACKED) {
                size_t dl = ((size_t)h->num_values + 7) / 8;
                if (dl > (size_t)(end - p))
                    return col_fail(c, EBADMSG, "definition levels run past the page");
                rle_init(&c->def, p, dl, 1, "definition levels");
                c->def.msb = 1;
                c->def.run = p;
                c->def.run_left = (uint64_t)h->num_values;
                p += dl;
            } else {
                return col_fail(c, ENOTSUP, "definition levels encoded %s",
                                encoding_name(h->def_enc));
            }
        }
    } else {
        if (h->def_len < 0 || h->rep_len < 0 || (int64_t)h->def_len + h->rep_len > h->csize ||
            (int64_t)h->def_len + h->rep_len > h->usize)
            return col_fail(c, EBADMSG, "level lengths %d+%d exceed the page (%d bytes)",
                            h->def_len, h->rep_len, h->csize);
        size_t lv = (size_t)h->def_len + (size_t)h->rep_len;
        if (c->optional) {
            if (h->def_len == 0 && h->num_nulls == 0)
                c->has_def = 0; /* no levels written: every value is present */
            else
                rle_init(&c->def, body, (size_t)h->def_len, 1, "definition levels");
        }
        /* repetition levels (none for a top-level column) are skipped */
        if (c->codec == TOKFS_PQ_UNCOMPRESSED || !h->is_compressed) {
            p = body + lv;
            end = body + csize;
        } else {
            if ((rc = inflate_into_page(c, body + lv, csize - lv, usize - lv, &p)) < 0)
                return rc;
            end = p + (usize - lv);
        }
    }
    c->enc = h->enc;
    if (c->enc >= 0 && c->enc < 32)
        c->enc_mask |= 1u << c->enc;
    switch (c->enc) {
    case ENC_PLAIN:
    case ENC_PLAIN_DICTIONARY:
    case ENC_RLE_DICTIONARY:
    case ENC_DELTA_LENGTH_BYTE_ARRAY:
    case ENC_DELTA_BYTE_ARRAY:
        break;
    default:
        return col_fail(c, ENOTSUP, "values encoded %s (%d), which tokfs does not read",
                        encoding_name(c->enc), c->enc);
    }
    c->vp = p;
    c->vend = end;
    c->vals_ready = 0;
    c->page_left = h->num_values;
    return 0;
}

static int setup_values(tokfs_pq_col *c)
{
    const char *why = NULL;
    const uint8_t *e1, *e2;
    switch (c->enc) {
    case ENC_PLAIN:
        break;
    case ENC_PLAIN_DICTIONARY:
    case ENC_RLE_DICTIONARY:
        if (!c->have_dict)
            return col_fail(c, EBADMSG, "dictionary-encoded page without a dictionary page");
        if (c->vp >= c->vend)
            return col_fail(c, EBADMSG, "dictionary indices missing");
        if (*c->vp > 32)
            return col_fail(c, EBADMSG, "dictionary index bit width %u", *c->vp);
        rle_init(&c->idx, c->vp + 1, (size_t)(c->vend - c->vp - 1), *c->vp, "dictionary indices");
        break;
    case ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (dbp_init(&c->lens, c->vp, c->vend, &why) < 0 || dbp_end(&c->lens, &e1, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_LENGTH_BYTE_ARRAY lengths: %s", why);
        c->data = e1;
        break;
    case ENC_DELTA_BYTE_ARRAY:
        if (dbp_init(&c->prefix, c->vp, c->vend, &why) < 0 ||
            dbp_end(&c->prefix, &e1, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_BYTE_ARRAY prefix lengths: %s", why);
        if (dbp_init(&c->lens, e1, c->vend, &why) < 0 || dbp_end(&c->lens, &e2, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_BYTE_ARRAY suffix lengths: %s", why);
        c->data = e2;
        c->dba_len = 0;
        break;
    }
    c->vals_ready = 1;
    return 0;
}

/* The next row of the current page (page_left > 0): 0 and *s (NULL for null), or <0. */
static int col_row(tokfs_pq_col *c, const uint8_t **s, size_t *len)
{
    const char *why = NULL;
    int rc;
    c->page_left--;
    c->done++;
    if (c->has_def) {
        uint32_t lvl;
        if (rle_next(&c->def, &lvl, &why) < 0)
            return col_fail(c, EBADMSG, "definition levels %s", why);
        if (lvl == 0) {
            *s = NULL;
            *len = 0;
            return 0;
        }
        if (lvl != 1)
            return col_fail(c, EBADMSG, "definition level %u (max 1)", lvl);
    }
    if (!c->vals_ready && (rc = setup_values(c)) < 0)
        return rc;
    switch (c->enc) {
    case ENC_PLAIN: {
        if (c->vend - c->vp < 4)
            return col_fail(c, EBADMSG, "PLAIN values end early");
        uint32_t n = tokfs_le32(c->vp);
        if (n > (size_t)(c->vend - c->vp - 4))
            return col_fail(c, EBADMSG, "PLAIN value of %u bytes runs past the page", n);
        *s = c->vp + 4;
        *len = n;
        c->vp += 4 + (size_t)n;
        return 0;
    }
    case ENC_PLAIN_DICTIONARY:
    case ENC_RLE_DICTIONARY: {
        uint32_t i;
        if (rle_next(&c->idx, &i, &why) < 0)
            return col_fail(c, EBADMSG, "dictionary indices %s", why);
        if (i >= c->dict_n)
            return col_fail(c, EBADMSG, "dictionary index %u of a %u-entry dictionary", i,
                            c->dict_n);
        *s = c->dict_data + c->dict[i].off;
        *len = c->dict[i].len;
        return 0;
    }
    case ENC_DELTA_LENGTH_BYTE_ARRAY: {
        uint32_t n;
        if (dbp_next(&c->lens, &n, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_LENGTH_BYTE_ARRAY lengths: %s", why);
        if (n > INT32_MAX || n > (size_t)(c->vend - c->data))
            return col_fail(c, EBADMSG, "DELTA_LENGTH_BYTE_ARRAY value of %u bytes runs past "
                            "the page", n);
        *s = c->data;
        *len = n;
        c->data += n;
        return 0;
    }
    case ENC_DELTA_BYTE_ARRAY: {
        uint32_t pre, suf;
        if (dbp_next(&c->prefix, &pre, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_BYTE_ARRAY prefix lengths: %s", why);
        if (dbp_next(&c->lens, &suf, &why) < 0)
            return col_fail(c, EBADMSG, "DELTA_BYTE_ARRAY suffix lengths: %s", why);
        if (pre > c->dba_len)
            return col_fail(c, EBADMSG,
                            "DELTA_BYTE_ARRAY prefix of %u bytes, previous value has %zu", pre,
                            c->dba_len);
        if (suf > INT32_MAX || suf > (size_t)(c->vend - c->data))
            return col_fail(c, EBADMSG, "DELTA_BYTE_ARRAY suffix of %u bytes runs past the page",
                            suf);
        size_t need = (size_t)pre + suf; /* <= the page's bytes: every byte came from a suffix */
        if (need > c->dba_cap) {
            size_t cap = c->dba_cap ? c->dba_cap : 256;
            while (cap < need)
                cap *= 2;
            uint8_t *b = realloc(c->dba, cap);
            if (!b)
                return col_fail(c, ENOMEM, "out of memory");
            c->dba = b;
            c->dba_cap = cap;
        }
        if (suf)
            memcpy(c->dba + pre, c->data, suf);
        c->data += suf;
        c->dba_len = need;
        *s = c->dba ? c->dba : (const uint8_t *)"";
        *len = need;
        return 0;
    }
    }
    return col_fail(c, ENOTSUP, "encoding %d", c->enc);
}

int tokfs_pq_col_open(tokfs_pq_col **out, const tokfs_pq_column *col,
                      const tokfs_pq_chunk *chunk, const uint8_t *bytes, size_t len,
                      const tokfs_pq_limits *lim, tokfs_err *err)
{
    *out = NULL;
    tokfs_pq_col *c = col_new(col, chunk, lim);
    if (!c)
        return tokfs_err_set(err, ENOMEM, "Parquet: out of memory");
    c->mem = bytes;
    c->mem_len = len;
    *out = c;
    return 0;
}

int tokfs_pq_col_next(tokfs_pq_col *c, const uint8_t **s, size_t *len, tokfs_err *err)
{
    c->err = err;
    while (c->page_left == 0) {
        if (c->done >= c->expect)
            return 0;
        c->page_off = c->mem_pos;
        if (c->mem_pos >= c->mem_len)
            return col_fail(c, EBADMSG, "the column chunk ends after %lld of %lld values",
                            (long long)c->done, (long long)c->expect);
        struct page_hdr h;
        size_t hlen, left = c->mem_len - c->mem_pos;
        int rc = page_header_parse(c, c->mem + c->mem_pos, left, &h, &hlen);
        if (rc == 1)
            return col_fail(c, EBADMSG, "truncated page header (%zu bytes left in the chunk)",
                            left);
        if (rc < 0)
            return rc;
        if ((size_t)h.csize > left - hlen)
            return col_fail(c, EBADMSG, "page of %d bytes, only %zu left in the chunk", h.csize,
                            left - hlen);
        if ((rc = page_load(c, &h, c->mem + c->mem_pos + hlen)) < 0)
            return rc;
        c->mem_pos += hlen + (size_t)h.csize;
    }
    int rc = col_row(c, s, len);
    return rc < 0 ? rc : 1;
}

/* ============================================================ row group reader ==== */

struct tokfs_pq_rg {
    tokfs_pq_col *text, *filt;
    const tokfs_filter *filter;
    tokfs_pq_value_fn fn;
    void *ctx;
    size_t max_value;
    tokfs_pq_stats st;
    uint64_t chunk_len, fed;
    uint64_t consumed;        /* chunk bytes processed (pages done) */
    tokfs_buf pending;        /* bytes of an incomplete page */
    size_t need;              /* its size once its header parsed, else 0 */
    int failed;
};

void tokfs_pq_rg_free(tokfs_pq_rg *r)
{
    if (!r)
        return;
    tokfs_pq_col_free(r->text);
    tokfs_pq_col_free(r->filt);
    tokfs_buf_free(&r->pending);
    free(r);
}

int tokfs_pq_rg_open(tokfs_pq_rg **out, const tokfs_pq_meta *m, size_t rg,
                     const tokfs_filter *filter, const uint8_t *filter_chunk,
                     size_t filter_len, const tokfs_pq_limits *lim, tokfs_pq_value_fn fn,
                     void *ctx, tokfs_err *err)
{
    *out = NULL;
    if (rg >= m->n_row_groups)
        return tokfs_err_set(err, EINVAL, "Parquet: row group %zu of %zu", rg, m->n_row_groups);
    if (filter && (!m->has_filter || strcmp(filter->column, m->filter.name) != 0))
        return tokfs_err_set(err, EINVAL,
                             "Parquet: filter column '%s' was not named when the footer was read",
                             filter->column);
    const tokfs_pq_row_group *g = &m->row_groups[rg];
    if (filter && filter_len != g->filter.end - g->filter.start)
        return tokfs_err_set(err, EINVAL,
                             "Parquet: filter column chunk of %zu bytes, expected %llu",
                             filter_len, (unsigned long long)(g->filter.end - g->filter.start));
    tokfs_pq_rg *r = calloc(1, sizeof *r);
    if (!r || !(r->text = col_new(&m->text, &g->text, lim)) ||
        (filter && !(r->filt = col_new(&m->filter, &g->filter, lim)))) {
        tokfs_pq_rg_free(r);
        return tokfs_err_set(err, ENOMEM, "Parquet: out of memory");
    }
    r->text->rg = (long)rg;
    if (r->filt) {
        r->filt->rg = (long)rg;
        r->filt->mem = filter_chunk;
        r->filt->mem_len = filter_len;
    }
    r->filter = filter;
    r->fn = fn;
    r->ctx = ctx;
    r->max_value = lim ? lim->max_value_bytes : 0;
    r->chunk_len = g->text.end - g->text.start;
    *out = r;
    return 0;
}

static int emit_row(tokfs_pq_rg *r, const uint8_t *s, size_t len, tokfs_err *err)
{
    r->st.rows++;
    if (r->filt) {
        const uint8_t *fs;
        size_t flen;
        int rc = tokfs_pq_col_next(r->filt, &fs, &flen, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return tokfs_err_set(err, EBADMSG,
                                 "Parquet: row group %ld: filter column '%s' has fewer rows than "
                                 "the text column",
                                 r->text->rg, r->filt->name);
        if (!fs || !tokfs_filter_match(r->filter, fs, flen)) {
            r->st.filtered++;
            return 0;
        }
    }
    if (!s) {
        r->st.nulls++;
        return 0;
    }
    if (r->max_value && len > r->max_value) {
        r->st.too_large++;
        return 0;
    }
    r->st.values++;
    r->st.value_bytes += len;
    return r->fn(r->ctx, s, len);
}

/* Decode the complete pages at the start of p[0..n): *used bytes done; *need: the size of the
 * incomplete page that follows when its header is known, else 0. */
static int process(tokfs_pq_rg *r, const uint8_t *p, size_t n, size_t *used, size_t *need,
                   tokfs_err *err)
{
    tokfs_pq_col *c = r->text;
    c->err = err;
    *used = 0;
    *need = 0;
    while (*used < n) {
        if (c->done >= c->expect) { /* all values read: trailing bytes are ignored */
            *used = n;
            break;
        }
        struct page_hdr h;
        size_t hlen;
        c->page_off = r->consumed;
        int rc = page_header_parse(c, p + *used, n - *used, &h, &hlen);
        if (rc == 1)
            break;
        if (rc < 0)
            return rc;
        size_t csize = (size_t)h.csize;
        size_t max_c = c->max_page + c->max_page / 8 + 65536;
        if (csize > max_c)
            return col_fail(c, EFBIG, "compressed page of %zu bytes is over the limit", csize);
        if ((uint64_t)hlen + csize > r->chunk_len - r->consumed)
            return col_fail(c, EBADMSG, "page of %zu bytes runs past the column chunk (%llu "
                            "bytes left)", csize,
                            (unsigned long long)(r->chunk_len - r->consumed - hlen));
        if (hlen + csize > n - *used) {
            *need = hlen + csize;
            break;
        }
        if ((rc = page_load(c, &h, p + *used + hlen)) < 0)
            return rc;
        while (c->page_left > 0) {
            const uint8_t *s;
            size_t len;
            if ((rc = col_row(c, &s, &len)) < 0)
                return rc;
            if ((rc = emit_row(r, s, len, err)) < 0)
                return rc;
        }
        *used += hlen + csize;
        r->consumed += hlen + csize;
    }
    return 0;
}

static int pending_append(tokfs_pq_rg *r, const uint8_t *d, size_t n, tokfs_err *err)
{
    if (tokfs_buf_append(&r->pending, d, n))
        return tokfs_err_set(err, ENOMEM, "Parquet: out of memory");
    return 0;
}

static int rg_feed(tokfs_pq_rg *r, const uint8_t *data, size_t len, tokfs_err *err)
{
    int rc;
    if (len > r->chunk_len - r->fed)
        return tokfs_err_set(err, EINVAL,
                             "Parquet column '%s', row group %ld: more bytes than the column "
                             "chunk's %llu",
                             r->text->name, r->text->rg, (unsigned long long)r->chunk_len);
    r->fed += len;
    while (len > 0) {
        if (r->pending.len == 0) {
            size_t used, need;
            if ((rc = process(r, data, len, &used, &need, err)) < 0)
                return rc;
            data += used;
            len -= used;
            r->need = need;
            if (len > 0 && (rc = pending_append(r, data, len, err)) < 0)
                return rc;
            return 0;
        }
        /* Complete the pending page: exactly up to its end when its size is known, else in
         * steps until its header parses. */
        size_t take = r->need ? r->need - r->pending.len : 65536;
        if (take > len)
            take = len;
        if ((rc = pending_append(r, data, take, err)) < 0)
            return rc;
        data += take;
        len -= take;
        if (r->need && r->pending.len < r->need)
            continue;
        size_t used, need;
        if ((rc = process(r, r->pending.data, r->pending.len, &used, &need, err)) < 0)
            return rc;
        memmove(r->pending.data, r->pending.data + used, r->pending.len - used);
        r->pending.len -= used;
        r->need = need;
    }
    return 0;
}

int tokfs_pq_rg_feed(tokfs_pq_rg *r, const uint8_t *data, size_t len, tokfs_err *err)
{
    if (r->failed)
        return r->failed;
    int rc = rg_feed(r, data, len, err);
    if (rc < 0)
        r->failed = rc;
    return rc;
}

int tokfs_pq_rg_finish(tokfs_pq_rg *r, tokfs_pq_stats *stats, tokfs_err *err)
{
    if (r->failed)
        return r->failed;
    tokfs_pq_col *c = r->text;
    c->err = err;
    int rc = 0;
    if (c->done < c->expect) {
        c->page_off = r->consumed;
        rc = col_fail(c, EBADMSG, "the column chunk ends after %lld of %lld values%s",
                      (long long)c->done, (long long)c->expect,
                      r->fed < r->chunk_len ? " (fewer bytes than the chunk's size were given)"
                                            : "");
    } else if (r->filt) {
        const uint8_t *s;
        size_t len;
        rc = tokfs_pq_col_next(r->filt, &s, &len, err);
        if (rc > 0)
            rc = tokfs_err_set(err, EBADMSG,
                               "Parquet: row group %ld: filter column '%s' has more rows than "
                               "the text column",
                               c->rg, r->filt->name);
    }
    if (rc < 0) {
        r->failed = rc;
        return rc;
    }
    r->st.pages = c->pages;
    r->st.encodings = c->enc_mask;
    r->st.page_types = c->ptype_mask;
    if (stats)
        *stats = r->st;
    return 0;
}

int tokfs_pq_read_row_group(const tokfs_pq_meta *m, size_t rg, const uint8_t *text_chunk,
                            size_t text_len, const tokfs_filter *filter,
                            const uint8_t *filter_chunk, size_t filter_len,
                            const tokfs_pq_limits *lim, tokfs_pq_value_fn fn, void *ctx,
                            tokfs_pq_stats *stats, tokfs_err *err)
{
    tokfs_pq_rg *r;
    int rc = tokfs_pq_rg_open(&r, m, rg, filter, filter_chunk, filter_len, lim, fn, ctx, err);
    if (rc < 0)
        return rc;
    rc = tokfs_pq_rg_feed(r, text_chunk, text_len, err);
    if (rc == 0)
        rc = tokfs_pq_rg_finish(r, stats, err);
    tokfs_pq_rg_free(r);
    return rc;
}
