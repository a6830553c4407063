/* Property test of core/build/shard_build.c (with core/plan/plan.c listing and cutting real files): JSONL
 * cut at arbitrary byte offsets gives every record to exactly one shard.
 *
 * Each random case writes a small corpus to a temp dir: JSONL files of records whose text is
 * 0 bytes to ~200 KB, with JSON escapes, multibyte UTF-8 (raw and \u-escaped, surrogate pairs),
 * lone-surrogate escapes, raw invalid UTF-8 bytes; malformed lines, records without the field,
 * non-string fields, blank lines, LF / CRLF / mixed line ends, with and without a final newline;
 * .txt files of random bytes; and decoys that must not be read (hidden files and directories,
 * other extensions). The expected token stream is computed here from the documents as
 * generated (not by parsing the files): bytes of every valid record, then 256, in source order.
 *
 * SOURCE is the directory (sources in path order) or an @list file (sources in list order). For
 * several shard_size values (down to 1 token, cutting inside records and giving empty shards),
 * the plan is built with tokfs_plan_build and every piece with tokfs_build_shard into a temp
 * file, and:
 *   - each shard holds exactly the records whose first byte lies in its piece (the design's
 *     rule), and the shards in plan order concatenate to the expected stream;
 *   - stats: tokens == file size / 2, documents and skipped_records as expected (summed: the
 *     number of bad lines written), first_skip names the first skipped record's source and
 *     offset, checksum == tokfs_hash64(file, 0) and is the same when the piece is rebuilt;
 *   - fetched_bytes is bounded (see fetch_bounds: from begin-1 up to the newline that ends the
 *     piece's last record, at most to the end of the lookahead window that reached it:
 *     end + 64 KiB, then + 1 MiB, + 2 MiB, ...; whole sources exactly their size). Local reads
 *     stop as soon as the record is finished, so the window sizes themselves are only
 *     observable over HTTP (integration tests); here the bound catches over-reading;
 *   - the reserve callback is called before the file grows, never shrinking, last with the
 *     final size (none for an empty shard);
 *   - .txt (txt_doc=file, the default): one document with raw bytes (invalid UTF-8 included;
 *     an empty .txt is an empty document), cut at the plan's byte offsets like JSONL (the bytes
 *     tokenizer can cut anywhere, so the cut is the plan's offset itself) with the end-of-text
 *     in the shard holding the file's last byte; never skipped, whatever max_doc_bytes;
 *     max_doc_bytes: longer records are skipped and counted (boundaries tested exactly, LF and
 *     CRLF);
 *   - a shuffled plan with val shards, put back in source order, gives the same stream.
 * Fixed cases add a record of several MiB crossing many cuts, empty shards inside a long
 * record, cancel (-ECANCELED), a refusing reserve (-ENOSPC) and a source changed after
 * planning (-ESTALE).
 *
 * Set TOKFS_TEST_SEED to vary the cases, TOKFS_TEST_CASES for their number (default 120),
 * TOKFS_TEST_FIXED=0 to run only the random cases (tests/integration/test_tsan.sh). */
#include "check.h"
#include "common/config.h"
#include "source/fetch.h"
#include "common/hash.h"
#include "plan/plan.h"
#include "build/shard_build.h"
#include "tokenize/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- randomness ---------------------------------------------------------------------------- */

static uint64_t rng_state = 0x73686172645f6275ull;

static uint64_t rnd(uint64_t n)
{
    return n ? tokfs_splitmix64(&rng_state) % n : 0;
}

static int64_t rnd_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)rnd((uint64_t)(hi - lo) + 1);
}

/* ---- byte buffers -------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t len)
{
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap *= 2;
        b->d = realloc(b->d, cap);
        if (!b->d) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->cap = cap;
    }
    if (len)
        memcpy(b->d + b->n, data, len);
    b->n += len;
}

static void put_byte(buf *b, uint8_t c)
{
    put(b, &c, 1);
}

static void put_str(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static int same_bytes(const buf *a, const buf *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->d, b->d, a->n) == 0);
}

static void buf_free(buf *b)
{
    free(b->d);
    memset(b, 0, sizeof *b);
}

/* One document as ids of the bytes tokenizer: each byte, then 256; little-endian uint16. */
static void put_doc_ids(buf *out, const uint8_t *doc, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t id[2] = {doc[i], 0};
        put(out, id, 2);
    }
    uint8_t eot[2] = {0, 1};
    put(out, eot, 2);
}

/* ---- the corpus model ---------------------------------------------------------------------- */

enum { LINE_DOC, LINE_BAD, LINE_BLANK };

typedef struct line_info {
    int64_t start;    /* offset of the line's first byte */
    int64_t len;      /* without the '\n' ('\r' of CRLF included) */
    int kind;
    size_t doc_off, doc_len; /* LINE_DOC: the expected document in file->docs */
} line_info;

typedef struct file_info {
    char path[PATH_MAX];  /* absolute, canonical */
    char rel[128];        /* relative to the corpus dir */
    int format;           /* TOKFS_FORMAT_* */
    buf data;             /* file content */
    line_info *lines;
    size_t nlines, cap;
    buf docs;             /* documents of LINE_DOC lines, concatenated */
} file_info;

static void add_line(file_info *f, line_info li)
{
    if (f->nlines == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 32;
        f->lines = realloc(f->lines, f->cap * sizeof *f->lines);
    }
    f->lines[f->nlines++] = li;
}

static void file_free(file_info *f)
{
    buf_free(&f->data);
    buf_free(&f->docs);
    free(f->lines);
    memset(f, 0, sizeof *f);
}

/* ---- generating documents and records ----------------------------------------------------- */

static void put_utf8(buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        put_byte(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        put_byte(b, (uint8_t)(0xC0 | (cp >> 6)));
        put_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put_byte(b, (uint8_t)(0xE0 | (cp >> 12)));
        put_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        put_byte(b, (uint8_t)(0xF0 | (cp >> 18)));
        put_byte(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        put_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

static void put_u_escape(buf *json, unsigned unit)
{
    char e[8];
    snprintf(e, sizeof e, rnd(2) ? "\\u%04x" : "\\u%04X", unit);
    put_str(json, e);
}

/* Append a document of about `len` bytes: its JSON string body to json (no quotes), its decoded
 * bytes to doc. */
static void gen_doc(buf *json, buf *doc, size_t len)
{
    static const uint32_t cps[] = {0x80,   0xE9,   0x3B1,  0x7FF,   0x800,   0x20AC,  0x4E2D,
                                   0xD7FF, 0xE000, 0xFFFD, 0xFFFF,  0x10000, 0x1F600, 0x10FFFF};
    static const char shorts[] = {'n', '\n', 't', '\t', 'r', '\r', 'b', '\b', 'f', '\f',
                                  '"', '"',  '\\', '\\', '/', '/'};
    size_t start = doc->n;
    while (doc->n - start < len) {
        unsigned r = (unsigned)rnd(100);
        if (r < 72) {
            uint8_t c = (uint8_t)(32 + rnd(95));
            if (c == '"' || c == '\\')
                put_byte(json, '\\');
            put_byte(json, c);
            put_byte(doc, c);
        } else if (r < 78) { /* short escapes */
            unsigned k = (unsigned)rnd(sizeof shorts / 2);
            put_byte(json, '\\');
            put_byte(json, (uint8_t)shorts[2 * k]);
            put_byte(doc, (uint8_t)shorts[2 * k + 1]);
        } else if (r < 80) { /* \u00XX: controls (NUL too) and ASCII */
            unsigned cp = rnd(2) ? (unsigned)rnd(32) : (unsigned)rnd(128);
            put_u_escape(json, cp);
            put_byte(doc, (uint8_t)cp);
        } else if (r < 90) { /* multibyte: raw, or escaped (surrogate pair above the BMP) */
            uint32_t cp = cps[rnd(sizeof cps / sizeof cps[0])];
            put_utf8(doc, cp);
            if (rnd(2)) {
                put_utf8(json, cp);
            } else if (cp < 0x10000) {
                put_u_escape(json, cp);
            } else {
                put_u_escape(json, 0xD800 + ((cp - 0x10000) >> 10));
                put_u_escape(json, 0xDC00 + ((cp - 0x10000) & 0x3FF));
            }
        } else if (r < 92) { /* a lone surrogate escape becomes U+FFFD; 'x' keeps it lone */
            put_u_escape(json, rnd(2) ? 0xD800 + (unsigned)rnd(0x400) : 0xDC00 + (unsigned)rnd(0x400));
            put_byte(json, 'x');
            put_utf8(doc, 0xFFFD);
            put_byte(doc, 'x');
        } else if (r < 95) { /* raw bytes that are not valid UTF-8 here: copied as they are */
            uint8_t c = (uint8_t)(0x80 + rnd(0x80));
            put_byte(json, c);
            put_byte(doc, c);
        } else if (r < 96) {
            put_byte(json, 0x7F);
            put_byte(doc, 0x7F);
        } else {
            size_t n = (size_t)rnd_range(1, 8);
            for (size_t i = 0; i < n; i++) {
                put_byte(json, ' ');
                put_byte(doc, ' ');
            }
        }
    }
}

static void put_ws(buf *b)
{
    static const char *ws[] = {"", "", "", " ", "  ", "\t", " \t "};
    put_str(b, ws[rnd(sizeof ws / sizeof ws[0])]);
}

static void put_key(buf *b, const char *field)
{
    put_byte(b, '"');
    if (rnd(5) == 0) { /* "\u0074ext" is "text" */
        put_u_escape(b, (unsigned char)field[0]);
        put_str(b, field + 1);
    } else {
        put_str(b, field);
    }
    put_byte(b, '"');
}

/* A valid record whose document is doc (appended to docs). */
static void gen_record(buf *line, buf *docs, const char *field, size_t doc_len)
{
    put_ws(line);
    put_byte(line, '{');
    put_ws(line);
    if (rnd(3) == 0) {
        put_str(line, "\"id\"");
        put_ws(line);
        put_byte(line, ':');
        put_ws(line);
        char num[32];
        snprintf(num, sizeof num, "%" PRIu64 ",", rnd(1000000));
        put_str(line, num);
        put_ws(line);
    }
    if (rnd(4) == 0) { /* nested members named like the field do not count */
        put_str(line, "\"meta\": {\"");
        put_str(line, field);
        put_str(line, "\": \"nested\", \"x\": [1, 2.5e3, -0.0, true, false, null, {\"");
        put_str(line, field);
        put_str(line, "\": 1}]},");
        put_ws(line);
    }
    if (rnd(6) == 0) { /* a duplicate before the real one: the last wins */
        put_byte(line, '"');
        put_str(line, field);
        put_str(line, rnd(2) ? "\": \"overridden\"," : "\": 17,");
        put_ws(line);
    }
    put_key(line, field);
    put_ws(line);
    put_byte(line, ':');
    put_ws(line);
    put_byte(line, '"');
    buf scratch = {0};
    gen_doc(line, &scratch, doc_len);
    put(docs, scratch.d, scratch.n);
    buf_free(&scratch);
    put_byte(line, '"');
    put_ws(line);
    if (rnd(3) == 0) {
        put_str(line, ", \"after\": [\"x\", {\"y\": null}]");
        put_ws(line);
    }
    put_byte(line, '}');
    put_ws(line);
}

/* Lines that are not records tokfs can use: malformed, no field, null, not a string. '@' is the
 * field name. */
static const char *const bad_templates[] = {
    "{\"@\": \"abc\"",
    "{\"@\": \"ab",
    "not json at all",
    "[1, 2, 3]",
    "\"just a string\"",
    "{\"@\": \"a\x01" "b\"}",
    "{\"@\": \"abc\"} trailing",
    "{\"@\": \"abc\",}",
    "{\"@\": \"bad \\q escape\"}",
    "{'@': 'single'}",
    "{\"other\": \"x\"}",
    "{}",
    "{\"@\": null}",
    "{\"@\": 42}",
    "{\"@\": [\"a\"]}",
    "{\"@\": {\"@\": \"nested\"}}",
    "{\"@\": true}",
    "{\"meta\": {\"@\": \"nested only\"}}",
    "{\"@\": \"x\", \"@\": 5}",
    "{\"@\": \"\\ud800\\u12\"}",
    "{\"@\": \"abc\"}}",
    "{\"@\" \"abc\"}",
    "{\"@\": 01}",
    "{\"@\": \"abc\" \"def\"}",
    "{\"@\": -}",
    "}",
    "{",
    "{\"@\": \"tab\there\"}",
};

static void gen_bad(buf *line, const char *field)
{
    const char *t = bad_templates[rnd(sizeof bad_templates / sizeof bad_templates[0])];
    for (; *t; t++) {
        if (*t == '@')
            put_str(line, field);
        else
            put_byte(line, (uint8_t)*t);
    }
}

typedef struct scale {
    int max_lines;        /* per JSONL file */
    size_t max_doc;       /* longest document */
    int big_permille;     /* chance of a document near max_doc */
} scale;

static size_t pick_doc_len(const scale *sc)
{
    unsigned r = (unsigned)rnd(1000);
    if ((int)r < sc->big_permille)
        return (size_t)rnd_range((int64_t)sc->max_doc / 4, (int64_t)sc->max_doc);
    r = (unsigned)rnd(100);
    size_t cap = sc->max_doc < 2000 ? sc->max_doc : 2000;
    if (r < 10)
        return 0;
    if (r < 60)
        return (size_t)rnd_range(1, cap < 40 ? (int64_t)cap : 40);
    return (size_t)rnd_range(1, (int64_t)cap);
}

/* Fill f (format JSONL) with random lines. */
static void gen_jsonl(file_info *f, const char *field, const scale *sc)
{
    int eol_mode = (int)rnd(4); /* 0, 1: LF; 2: CRLF; 3: mixed */
    int final_newline = rnd(3) != 0;
    int nlines = (int)rnd((uint64_t)sc->max_lines + 1);
    if (rnd(10) == 0)
        nlines = rnd(2) ? 0 : 1;
    buf line = {0};
    for (int i = 0; i < nlines; i++) {
        line_info li = {.start = (int64_t)f->data.n};
        line.n = 0;
        unsigned r = (unsigned)rnd(100);
        int crlf = eol_mode == 2 || (eol_mode == 3 && rnd(2));
        if (r < 72) {
            li.kind = LINE_DOC;
            li.doc_off = f->docs.n;
            gen_record(&line, &f->docs, field, pick_doc_len(sc));
            li.doc_len = f->docs.n - li.doc_off;
        } else if (r < 88) {
            li.kind = LINE_BAD;
            gen_bad(&line, field);
        } else {
            static const char *blank[] = {"", "", " ", "\t", "   "};
            li.kind = LINE_BLANK;
            put_str(&line, blank[rnd(5)]);
        }
        int last = i == nlines - 1;
        if (crlf && (!last || final_newline))
            put_byte(&line, '\r');
        li.len = (int64_t)line.n;
        put(&f->data, line.d, line.n);
        if (!last || final_newline)
            put_byte(&f->data, '\n');
        add_line(f, li);
    }
    buf_free(&line);
}

static void gen_txt(file_info *f, size_t max)
{
    size_t n = rnd(8) == 0 ? 0 : (size_t)rnd_range(1, (int64_t)max);
    for (size_t i = 0; i < n; i++) {
        uint8_t c;
        unsigned r = (unsigned)rnd(10);
        if (r < 6)
            c = (uint8_t)(32 + rnd(95));
        else if (r < 7)
            c = '\n';
        else if (r < 8)
            c = '\r';
        else
            c = (uint8_t)rnd(256); /* NUL, invalid UTF-8, anything */
        put_byte(&f->data, c);
    }
    put(&f->docs, f->data.d, f->data.n);
    line_info li = {.start = 0, .len = (int64_t)n, .kind = LINE_DOC, .doc_off = 0, .doc_len = n};
    add_line(f, li);
}

/* ---- files --------------------------------------------------------------------------------- */

static int mkdirs_for(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
    if (mkdirs_for(path) != 0)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
        check_failures++;
    }
}

static int read_fd(int fd, buf *out)
{
    struct stat st;
    out->n = 0;
    if (fstat(fd, &st) != 0)
        return -1;
    put(out, "", 0);
    if ((size_t)st.st_size > out->cap) {
        out->d = realloc(out->d, (size_t)st.st_size);
        out->cap = (size_t)st.st_size;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, out->d + got, (size_t)st.st_size - got, (off_t)got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    out->n = got;
    return 0;
}

/* ---- expectations -------------------------------------------------------------------------- */

static int line_kind(const line_info *li, uint64_t max_doc_bytes)
{
    if (li->kind == LINE_BLANK)
        return LINE_BLANK; /* blank lines are short: never over max_doc_bytes here */
    if ((uint64_t)li->len > max_doc_bytes)
        return LINE_BAD; /* too large: skipped and counted, whatever it holds */
    return li->kind;
}

typedef struct expect {
    buf ids;
    uint64_t documents, skipped;
    const file_info *first_skip_file;
    int64_t first_skip_at;
} expect;

/* Records of f whose first byte is in [lo, hi). */
static void expect_range(expect *e, const file_info *f, int64_t lo, int64_t hi,
                         uint64_t max_doc_bytes)
{
    int64_t size = (int64_t)f->data.n;
    if (f->format == TOKFS_FORMAT_TXT) {
        /* one document whatever its size: the piece's bytes, and the end-of-text with the last
         * byte (an empty file's with the piece starting at 0) */
        int64_t to = hi < size ? hi : size;
        for (int64_t i = lo; i < to; i++) {
            uint8_t id[2] = {f->data.d[i], 0};
            put(&e->ids, id, 2);
        }
        if (hi >= size && (lo < size || lo == 0)) {
            uint8_t eot[2] = {0, 1};
            put(&e->ids, eot, 2);
            e->documents++;
        }
        return;
    }
    for (size_t k = 0; k < f->nlines; k++) {
        const line_info *li = &f->lines[k];
        /* a JSONL line belongs where it starts */
        if (li->start < lo || li->start >= hi || li->start >= size)
            continue;
        int kind = line_kind(li, max_doc_bytes);
        if (kind == LINE_DOC) {
            put_doc_ids(&e->ids, f->docs.d + li->doc_off, li->doc_len);
            e->documents++;
        } else if (kind == LINE_BAD) {
            if (!e->skipped++) {
                e->first_skip_file = f;
                e->first_skip_at = li->start;
            }
        }
    }
}

/* The first offset at or after `from` where a line starts (after a '\n'), or the size. */
static int64_t next_line_start(const file_info *f, int64_t from)
{
    const uint8_t *d = f->data.d;
    int64_t size = (int64_t)f->data.n;
    if (from <= 0)
        return 0;
    for (int64_t q = from - 1; q < size; q++)
        if (d[q] == '\n')
            return q + 1;
    return size;
}

/* Bounds on fetched_bytes for one source of a piece, from shard_build.c: a JSONL segment
 * [begin, end) reads from max(begin-1, 0); a segment reaching the end of the source reads all of
 * it; otherwise it stops after the newline that ends the record containing byte end-1, at P,
 * having fetched through windows ending at end + 64 KiB, then + 1 MiB, + 2 MiB, ... (clamped to
 * the size): at least P - start, at most min(size, first window end >= P) - start. */
static void fetch_bounds(const file_info *f, int64_t begin, int64_t end, uint64_t max_doc_bytes,
                         uint64_t *lo, uint64_t *hi)
{
    int64_t size = (int64_t)f->data.n;
    if (f->format == TOKFS_FORMAT_TXT) {
        /* the span [begin, end), and at a cut inside the file the window in which the cut place
         * is looked for (reader_txt.c: from 16 bytes before the offset, 4 KiB; the bytes
         * tokenizer finds one right there) */
        (void)max_doc_bytes;
        int64_t to = end < 0 || end >= size ? size : end;
        uint64_t n = (uint64_t)(to > begin ? to - begin : 0);
        int64_t cuts[2] = {begin, end};
        for (int c = 0; c < 2; c++) {
            if (cuts[c] <= 0 || cuts[c] >= size)
                continue;
            int64_t ws = cuts[c] - 16 < 0 ? 0 : cuts[c] - 16;
            n += (uint64_t)((ws + 4096 < size ? ws + 4096 : size) - ws);
        }
        *lo += n;
        *hi += n;
        return;
    }
    int64_t start = begin > 0 ? begin - 1 : 0;
    if (end < 0 || end >= size) {
        *lo += (uint64_t)(size - start);
        *hi += (uint64_t)(size - start);
        return;
    }
    int64_t p = next_line_start(f, end);
    int64_t window = end + 65536, grow = 1 << 20;
    while (window < p) {
        window += grow;
        grow *= 2;
    }
    if (window > size)
        window = size;
    *lo += (uint64_t)(p - start);
    *hi += (uint64_t)(window - start);
}

/* ---- building ------------------------------------------------------------------------------ */

typedef struct reserve_log {
    uint64_t last, calls;
    int monotonic;
    uint64_t refuse_above; /* 0: never refuse */
} reserve_log;

static int reserve_cb(void *ctx, uint64_t new_size)
{
    reserve_log *r = ctx;
    if (new_size < r->last)
        r->monotonic = 0;
    r->last = new_size;
    r->calls++;
    if (r->refuse_above && new_size > r->refuse_above)
        return -ENOSPC;
    return 0;
}

typedef struct env {
    char root[PATH_MAX];       /* the case dir (canonical) */
    char out_path[PATH_MAX];   /* the shard file */
    int out_fd;
    tokfs_fetcher *fetcher;
    tokfs_tokenizer *tok;
    buf shard;                 /* scratch: one shard's bytes */
} env;

static int build_piece(env *ev, const tokfs_plan *plan, uint32_t k, const tokfs_config *cfg,
                       tokfs_build_stats *stats, tokfs_err *err, reserve_log *rl)
{
    if (ftruncate(ev->out_fd, 0) != 0 || lseek(ev->out_fd, 0, SEEK_SET) != 0)
        return -EIO;
    tokfs_build_output out = {.fd = ev->out_fd};
    if (rl) {
        out.reserve = reserve_cb;
        out.reserve_ctx = rl;
    }
    int rc = tokfs_build_shard(plan, k, ev->tok, cfg, ev->fetcher, &out, stats, err);
    if (rc == 0 && read_fd(ev->out_fd, &ev->shard) != 0)
        rc = -EIO;
    return rc;
}

static unsigned total_cases, total_plans, total_pieces, total_empty_pieces, total_rebuilds;
static uint64_t total_fetched, total_source_bytes, total_skipped_seen;

/* Build every piece of plan and check each against the corpus model. files[s] is source s.
 * When `sorted` is set the pieces are visited in source order (for shuffled plans).
 * Appends every shard to all (in visiting order). Returns -1 when it gave up after 5 failed
 * pieces (all is then incomplete), else 0. */
static int check_plan_shards(env *ev, const tokfs_plan *plan, file_info *const *files,
                             const tokfs_config *cfg, const char *desc, buf *all,
                             uint64_t *docs_sum, uint64_t *skipped_sum, int rebuilds)
{
    uint32_t *order = malloc((plan->npieces ? plan->npieces : 1) * sizeof *order);
    for (uint32_t k = 0; k < plan->npieces; k++)
        order[k] = k;
    /* visit in source order: sort indices by (first_source, begin) (insertion sort) */
    for (uint32_t a = 1; a < plan->npieces; a++) {
        uint32_t x = order[a], b = a;
        while (b > 0) {
            const tokfs_piece *p = &plan->pieces[order[b - 1]], *q = &plan->pieces[x];
            if (p->first_source < q->first_source ||
                (p->first_source == q->first_source && p->begin <= q->begin))
                break;
            order[b] = order[b - 1];
            b--;
        }
        order[b] = x;
    }

    int failures_before = check_failures, gave_up = 0;
    for (uint32_t v = 0; v < plan->npieces; v++) {
        if (check_failures - failures_before >= 5) {
            fprintf(stderr, "%s: giving up on this plan after 5 failed pieces\n", desc);
            gave_up = 1;
            break;
        }
        uint32_t k = order[v];
        const tokfs_piece *p = &plan->pieces[k];
        tokfs_build_stats st;
        tokfs_err err = {""};
        reserve_log rl = {.monotonic = 1};
        int rc = build_piece(ev, plan, k, cfg, &st, &err, &rl);
        if (rc != 0) {
            fprintf(stderr, "%s: piece %u: build = %d (%s)\n", desc, k, rc, err.msg);
            check_failures++;
            continue;
        }
        total_pieces++;
        total_empty_pieces += ev->shard.n == 0;
        total_fetched += st.fetched_bytes;

        expect e = {0};
        uint64_t flo = 0, fhi = 0;
        for (uint32_t s = p->first_source; s <= p->last_source; s++) {
            const file_info *f = files[s];
            int64_t lo = s == p->first_source ? p->begin : 0;
            int64_t hi = s == p->last_source ? p->end : (int64_t)f->data.n;
            expect_range(&e, f, lo, hi, cfg->max_doc_bytes);
            fetch_bounds(f, lo, s == p->last_source ? p->end : -1, cfg->max_doc_bytes, &flo,
                         &fhi);
        }
        total_source_bytes += (uint64_t)p->source_bytes;

        int ok = 1;
        if (!same_bytes(&ev->shard, &e.ids)) {
            size_t at = 0;
            while (at < ev->shard.n && at < e.ids.n && ev->shard.d[at] == e.ids.d[at])
                at++;
            fprintf(stderr,
                    "%s: piece %u (%u,%" PRId64 ")-(%u,%" PRId64 "): %zu bytes, want %zu; first "
                    "difference at byte %zu\n",
                    desc, k, p->first_source, p->begin, p->last_source, p->end, ev->shard.n,
                    e.ids.n, at);
            ok = 0;
        }
        if (st.tokens * 2 != ev->shard.n) {
            fprintf(stderr, "%s: piece %u: tokens %" PRIu64 " but the file has %zu bytes\n", desc,
                    k, st.tokens, ev->shard.n);
            ok = 0;
        }
        if (st.documents != e.documents || st.skipped_records != e.skipped) {
            fprintf(stderr, "%s: piece %u: documents %" PRIu64 " skipped %" PRIu64
                            ", want %" PRIu64 " and %" PRIu64 "\n",
                    desc, k, st.documents, st.skipped_records, e.documents, e.skipped);
            ok = 0;
        }
        if (e.skipped) {
            char at[64];
            snprintf(at, sizeof at, " at byte %" PRId64 ")", e.first_skip_at);
            if (!strstr(st.first_skip, e.first_skip_file->path) || !strstr(st.first_skip, at)) {
                fprintf(stderr, "%s: piece %u: first_skip \"%s\", want %s%s\n", desc, k,
                        st.first_skip, e.first_skip_file->path, at);
                ok = 0;
            }
        } else if (st.first_skip[0]) {
            fprintf(stderr, "%s: piece %u: first_skip set without a skip: %s\n", desc, k,
                    st.first_skip);
            ok = 0;
        }
        if (st.checksum != tokfs_hash64(ev->shard.d, ev->shard.n, 0)) {
            fprintf(stderr, "%s: piece %u: checksum is not tokfs_hash64 of the shard\n", desc, k);
            ok = 0;
        }
        if (st.fetched_bytes < flo || st.fetched_bytes > fhi) {
            fprintf(stderr, "%s: piece %u: fetched %" PRIu64 " bytes, want %" PRIu64
                            "..%" PRIu64 "\n", desc, k, st.fetched_bytes, flo, fhi);
            ok = 0;
        }
        /* reserve: called before the file grows, never shrinking, last = final size */
        if (!rl.monotonic || (ev->shard.n && rl.last != ev->shard.n) ||
            (!ev->shard.n && rl.calls)) {
            fprintf(stderr, "%s: piece %u: reserve calls %" PRIu64 ", last %" PRIu64
                            " for %zu bytes\n", desc, k, rl.calls, rl.last, ev->shard.n);
            ok = 0;
        }
        if (!ok)
            check_failures++;
        put(all, ev->shard.d, ev->shard.n);
        *docs_sum += st.documents;
        *skipped_sum += st.skipped_records;
        total_skipped_seen += st.skipped_records;
        buf_free(&e.ids);
    }

    /* rebuilding gives the same shard */
    for (int r = 0; r < rebuilds && plan->npieces; r++) {
        uint32_t k = (uint32_t)rnd(plan->npieces);
        tokfs_build_stats a, b;
        tokfs_err err = {""};
        int rc = build_piece(ev, plan, k, cfg, &a, &err, NULL);
        buf first = {0};
        put(&first, ev->shard.d, ev->shard.n);
        int rc2 = build_piece(ev, plan, k, cfg, &b, &err, NULL);
        total_rebuilds++;
        if (rc || rc2 || a.checksum != b.checksum || a.tokens != b.tokens ||
            !same_bytes(&first, &ev->shard)) {
            fprintf(stderr, "%s: piece %u rebuilt differently\n", desc, k);
            check_failures++;
        }
        buf_free(&first);
    }
    free(order);
    return gave_up ? -1 : 0;
}

/* ---- one random case ----------------------------------------------------------------------- */

typedef struct corpus {
    file_info *files;   /* all written files (sources and decoys) */
    size_t nfiles;
    file_info **sources; /* expected sources, in expected order */
    size_t nsources;
    char source_arg[PATH_MAX + 2]; /* cfg->source */
    uint64_t bytes;     /* total source bytes */
} corpus;

static int cmp_paths(const void *a, const void *b)
{
    const file_info *x = *(file_info *const *)a, *y = *(file_info *const *)b;
    return strcmp(x->path, y->path);
}

static const char *const names_jsonl[] = {
    "a.jsonl", "a-b.jsonl", "a/x.jsonl", "a/y.ndjson", "B.jsonl", "b.JSONL", "sub/deeper/z.ndjson",
    "sub/m.jsonl", "z z.jsonl", "0.jsonl", "sub/0.jsonl",
};
static const char *const names_txt[] = {"t.txt", "sub/u.txt", "a/T.TXT", "zz.txt"};
/* Never read in directory mode: hidden, or not .txt/.jsonl/.ndjson (nor .zst/.gz of them). */
static const char *const names_decoy[] = {".hidden.jsonl", ".cache/h.jsonl", "sub/.x.txt",
                                          "notes.md", "data.json", "a/raw.jsonl.bz2"};

static void make_corpus(corpus *c, const env *ev, const char *field, const scale *sc,
                        int list_mode)
{
    memset(c, 0, sizeof *c);
    size_t nj = (size_t)rnd_range(1, 5), nt = (size_t)rnd(3), nd = (size_t)rnd(3);
    c->files = calloc(nj + nt + nd, sizeof *c->files);
    int used_j[sizeof names_jsonl / sizeof names_jsonl[0]] = {0};
    int used_t[sizeof names_txt / sizeof names_txt[0]] = {0};
    int used_d[sizeof names_decoy / sizeof names_decoy[0]] = {0};
    for (size_t i = 0; i < nj + nt + nd; i++) {
        file_info *f = &c->files[c->nfiles++];
        const char *name;
        if (i < nj) {
            size_t k;
            do k = rnd(sizeof names_jsonl / sizeof names_jsonl[0]); while (used_j[k]);
            used_j[k] = 1;
            name = names_jsonl[k];
            f->format = TOKFS_FORMAT_JSONL;
            gen_jsonl(f, field, sc);
        } else if (i < nj + nt) {
            size_t k;
            do k = rnd(sizeof names_txt / sizeof names_txt[0]); while (used_t[k]);
            used_t[k] = 1;
            name = names_txt[k];
            f->format = TOKFS_FORMAT_TXT;
            gen_txt(f, sc->max_doc < 4000 ? 300 : 20000);
        } else {
            size_t k;
            do k = rnd(sizeof names_decoy / sizeof names_decoy[0]); while (used_d[k]);
            used_d[k] = 1;
            name = names_decoy[k];
            f->format = 0;
            gen_jsonl(f, field, sc); /* content that would show up if read */
        }
        snprintf(f->rel, sizeof f->rel, "%s", name);
        snprintf(f->path, sizeof f->path, "%s/c/%s", ev->root, name);
        if (write_file(f->path, f->data.d, f->data.n) != 0) {
            fprintf(stderr, "cannot write %s\n", f->path);
            check_failures++;
        }
    }

    c->sources = calloc(c->nfiles * 2 + 1, sizeof *c->sources);
    if (!list_mode) {
        for (size_t i = 0; i < c->nfiles; i++)
            if (c->files[i].format)
                c->sources[c->nsources++] = &c->files[i];
        qsort(c->sources, c->nsources, sizeof *c->sources, cmp_paths);
        snprintf(c->source_arg, sizeof c->source_arg, "%s/c", ev->root);
    } else {
        /* a list in random order, relative and absolute entries, comments, blank lines, CRLF,
         * surrounding blanks, a file named twice, decoys named explicitly (then read) */
        buf list = {0};
        put_str(&list, "# corpus list\n\n");
        size_t n = c->nfiles;
        size_t *perm = malloc(n * sizeof *perm);
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rnd(i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < n; i++) {
            file_info *f = &c->files[perm[i]];
            if (!f->format) {
                int fmt = tokfs_format_from_name(f->rel);
                if (!fmt || rnd(2))
                    continue; /* not listed */
                f->format = fmt;
                if (fmt == TOKFS_FORMAT_TXT) { /* it was written as JSONL: one document */
                    free(f->lines);
                    f->lines = NULL;
                    f->nlines = f->cap = 0;
                    f->docs.n = 0;
                    put(&f->docs, f->data.d, f->data.n);
                    line_info li = {.start = 0, .len = (int64_t)f->data.n, .kind = LINE_DOC,
                                    .doc_len = f->data.n};
                    add_line(f, li);
                }
            }
            int reps = rnd(8) == 0 ? 2 : 1;
            for (int r = 0; r < reps; r++) {
                put_str(&list, rnd(4) == 0 ? "  " : "");
                if (rnd(2)) {
                    put_str(&list, "c/");
                    put_str(&list, f->rel);
                } else {
                    put_str(&list, f->path);
                }
                put_str(&list, rnd(4) == 0 ? " \t" : "");
                put_str(&list, rnd(3) == 0 ? "\r\n" : "\n");
                if (rnd(4) == 0)
                    put_str(&list, rnd(2) ? "# comment c/a.jsonl\n" : "   \n");
                c->sources[c->nsources++] = f;
            }
        }
        free(perm);
        if (c->nsources == 0) { /* list at least one */
            file_info *f = &c->files[0];
            put_str(&list, f->path);
            c->sources[c->nsources++] = f;
        }
        char list_path[PATH_MAX];
        snprintf(list_path, sizeof list_path, "%s/files.lst", ev->root);
        if (write_file(list_path, list.d, list.n) != 0)
            check_failures++;
        buf_free(&list);
        snprintf(c->source_arg, sizeof c->source_arg, "@%s", list_path);
    }
    for (size_t i = 0; i < c->nsources; i++)
        c->bytes += c->sources[i]->data.n;
}

static void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->nfiles; i++)
        file_free(&c->files[i]);
    free(c->files);
    free(c->sources);
    memset(c, 0, sizeof *c);
}

/* The whole corpus as the expected stream. */
static void expect_all(const corpus *c, uint64_t max_doc_bytes, expect *e)
{
    for (size_t i = 0; i < c->nsources; i++)
        expect_range(e, c->sources[i], 0, INT64_MAX, max_doc_bytes);
}

static int check_sources(const tokfs_plan *plan, const corpus *c, const char *desc)
{
    if (plan->nsources != c->nsources) {
        fprintf(stderr, "%s: plan has %u sources, want %zu\n", desc, plan->nsources, c->nsources);
        check_failures++;
        return -1;
    }
    for (uint32_t s = 0; s < plan->nsources; s++) {
        const tokfs_source *src = &plan->sources[s];
        const file_info *f = c->sources[s];
        if (strcmp(src->url, f->path) != 0 || src->format != f->format ||
            src->info.size != (int64_t)f->data.n || !src->info.accepts_ranges) {
            fprintf(stderr, "%s: source %u is %s (format %d, %" PRId64 " bytes), want %s (%d, "
                            "%zu)\n", desc, s, src->url, src->format, src->info.size, f->path,
                    f->format, f->data.n);
            check_failures++;
            return -1;
        }
    }
    return 0;
}

static void one_case(env *ev, unsigned index)
{
    static const char *fields[] = {"text", "text", "text", "content", "t"};
    /* scales: small (tiny shards), medium, large (records up to ~200 KB) */
    static const scale scales[] = {
        {.max_lines = 30, .max_doc = 60, .big_permille = 50},
        {.max_lines = 120, .max_doc = 3000, .big_permille = 20},
        {.max_lines = 16, .max_doc = 200000, .big_permille = 200},
    };
    static const uint64_t shard_sizes[] = {1, 2, 3, 7, 13, 100, 257, 1000, 4096, 30000,
                                           65536, 100000, 300000, 10000000};
    unsigned r = (unsigned)rnd(10);
    const scale *sc = &scales[r < 6 ? 0 : r < 9 ? 1 : 2];
    unsigned max_pieces = sc == &scales[0] ? 800 : 300;
    const char *field = fields[rnd(sizeof fields / sizeof fields[0])];
    int list_mode = rnd(4) == 0;

    corpus c;
    make_corpus(&c, ev, field, sc, list_mode);

    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err), 0);
    cfg.source = strdup(c.source_arg);
    free(cfg.text_field);
    cfg.text_field = strdup(field);
    if (rnd(4) == 0)
        cfg.max_doc_bytes = (uint64_t)rnd_range(16, sc == &scales[0] ? 80 : 3000);

    expect all = {0};
    expect_all(&c, cfg.max_doc_bytes, &all);

    /* up to 3 shard sizes that give at most max_pieces pieces */
    uint64_t chosen[3];
    int nchosen = 0;
    for (int tries = 0; tries < 40 && nchosen < 3; tries++) {
        uint64_t ss = shard_sizes[rnd(sizeof shard_sizes / sizeof shard_sizes[0])];
        if (c.bytes / ss > max_pieces)
            continue;
        int dup = 0;
        for (int k = 0; k < nchosen; k++)
            dup |= chosen[k] == ss;
        if (!dup)
            chosen[nchosen++] = ss;
    }
    if (nchosen == 0)
        chosen[nchosen++] = 10000000;

    uint32_t unshuffled_pieces = 0;
    for (int k = 0; k < nchosen; k++) {
        char desc[512];
        snprintf(desc, sizeof desc, "case %u (%s, %zu sources, %" PRIu64 " bytes, field %s, "
                 "max_doc_bytes %" PRIu64 ", shard_size %" PRIu64 ")",
                 index, list_mode ? "list" : "dir", c.nsources, c.bytes, field,
                 cfg.max_doc_bytes, chosen[k]);
        cfg.shard_size = chosen[k];
        cfg.val_shards = 0;
        cfg.has_shuffle_seed = 0;
        tokfs_plan plan;
        int rc = tokfs_plan_build(&cfg, ev->tok->bytes_per_token, ev->fetcher, &plan, &err);
        if (rc != 0) {
            fprintf(stderr, "%s: tokfs_plan_build = %d (%s)\n", desc, rc, err.msg);
            check_failures++;
            continue;
        }
        total_plans++;
        CHECK(plan.id == tokfs_plan_identity(&cfg));
        if (check_sources(&plan, &c, desc) == 0) {
            buf got = {0};
            uint64_t docs = 0, skipped = 0;
            int gave_up =
                check_plan_shards(ev, &plan, c.sources, &cfg, desc, &got, &docs, &skipped, 3);
            if (gave_up) {
                /* reported */
            } else if (!same_bytes(&got, &all.ids)) {
                fprintf(stderr, "%s: the shards together (%zu bytes) are not the corpus (%zu)\n",
                        desc, got.n, all.ids.n);
                check_failures++;
            }
            if (!gave_up && (docs != all.documents || skipped != all.skipped)) {
                fprintf(stderr, "%s: %" PRIu64 " documents, %" PRIu64 " skipped; wrote %" PRIu64
                                " and %" PRIu64 "\n", desc, docs, skipped, all.documents,
                        all.skipped);
                check_failures++;
            }
            buf_free(&got);
            /* a piece index past the end */
            tokfs_build_stats st;
            CHECK_EQ_INT(build_piece(ev, &plan, plan.npieces, &cfg, &st, &err, NULL), -EINVAL);
        }
        unshuffled_pieces = plan.npieces;
        tokfs_plan_free(&plan);
    }

    /* a shuffled plan with val shards, visited in source order, gives the same stream */
    if (rnd(3) == 0 && unshuffled_pieces > 0) {
        char desc[512];
        cfg.val_shards = (uint32_t)rnd_range(1, 2);
        cfg.has_shuffle_seed = 1;
        cfg.shuffle_seed = tokfs_splitmix64(&rng_state);
        snprintf(desc, sizeof desc, "case %u shuffled (shard_size %" PRIu64 ", val_shards %u)",
                 index, cfg.shard_size, cfg.val_shards);
        tokfs_plan plan;
        tokfs_err_clear(&err);
        int rc = tokfs_plan_build(&cfg, ev->tok->bytes_per_token, ev->fetcher, &plan, &err);
        if (unshuffled_pieces <= cfg.val_shards) {
            CHECK_EQ_INT(rc, -EINVAL);
            CHECK(strstr(err.msg, "val_shards") != NULL);
        } else if (rc != 0) {
            fprintf(stderr, "%s: tokfs_plan_build = %d (%s)\n", desc, rc, err.msg);
            check_failures++;
        } else {
            total_plans++;
            CHECK_EQ_INT(plan.npieces, unshuffled_pieces);
            CHECK_EQ_INT(plan.nval, cfg.val_shards);
            buf got = {0};
            uint64_t docs = 0, skipped = 0;
            int gave_up = check_sources(&plan, &c, desc) != 0 ||
                          check_plan_shards(ev, &plan, c.sources, &cfg, desc, &got, &docs,
                                            &skipped, 0) != 0;
            if (!gave_up && !same_bytes(&got, &all.ids)) {
                fprintf(stderr, "%s: the shards in source order are not the corpus\n", desc);
                check_failures++;
            }
            buf_free(&got);
            tokfs_plan_free(&plan);
        }
    }

    total_cases++;
    buf_free(&all.ids);
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    corpus_free(&c);
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/c", ev->root);
    rm_tree(dir);
    snprintf(dir, sizeof dir, "%s/files.lst", ev->root);
    unlink(dir);
}

/* ---- fixed cases --------------------------------------------------------------------------- */

/* Build the one-source-per-file corpus in files[] (already written) and return the whole stream
 * and stats for the plan over SOURCE=source. */
static int build_all(env *ev, const char *source, tokfs_config *cfg, buf *got,
                     tokfs_build_stats *sum, tokfs_plan *plan_out)
{
    tokfs_err err = {""};
    free(cfg->source);
    cfg->source = strdup(source);
    tokfs_plan plan;
    int rc = tokfs_plan_build(cfg, ev->tok->bytes_per_token, ev->fetcher, &plan, &err);
    if (rc) {
        fprintf(stderr, "plan of %s: %d (%s)\n", source, rc, err.msg);
        return rc;
    }
    memset(sum, 0, sizeof *sum);
    for (uint32_t k = 0; k < plan.npieces; k++) {
        tokfs_build_stats st;
        rc = build_piece(ev, &plan, k, cfg, &st, &err, NULL);
        if (rc) {
            fprintf(stderr, "piece %u of %s: %d (%s)\n", k, source, rc, err.msg);
            break;
        }
        put(got, ev->shard.d, ev->shard.n);
        sum->tokens += st.tokens;
        sum->documents += st.documents;
        sum->skipped_records += st.skipped_records;
        sum->fetched_bytes += st.fetched_bytes;
        if (!sum->first_skip[0])
            memcpy(sum->first_skip, st.first_skip, sizeof st.first_skip);
    }
    if (plan_out)
        *plan_out = plan;
    else
        tokfs_plan_free(&plan);
    return rc;
}

/* max_doc_bytes boundaries: a line of exactly max_doc_bytes bytes (without '\n', with the '\r'
 * of CRLF) is kept, one more byte is skipped; a .txt of max_doc_bytes is kept, and so is one of
 * more (a .txt read whole is cut, never skipped). */
static void test_max_doc_bytes(env *ev)
{
    const uint64_t max = 1024;
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/m", ev->root);
    for (int crlf = 0; crlf <= 1; crlf++) {
        for (int64_t shard = 1; shard <= 1000000; shard *= 1000) {
            buf file = {0}, want = {0};
            uint64_t want_docs = 0, want_skips = 0;
            /* lines of max-2 .. max+2 bytes: {"text":"aaaa..."} */
            for (int64_t len = (int64_t)max - 2; len <= (int64_t)max + 2; len++) {
                int64_t body = len - 11 - crlf; /* {"text":""} is 11 bytes */
                buf doc = {0};
                put_str(&file, "{\"text\":\"");
                for (int64_t i = 0; i < body; i++)
                    put_byte(&doc, (uint8_t)('a' + i % 26));
                put(&file, doc.d, doc.n);
                put_str(&file, "\"}");
                put_str(&file, crlf ? "\r\n" : "\n");
                if ((uint64_t)len <= max) {
                    put_doc_ids(&want, doc.d, doc.n);
                    want_docs++;
                } else {
                    want_skips++;
                }
                buf_free(&doc);
            }
            /* the last line over the limit and without a newline: still counted */
            put_str(&file, "{\"text\":\"");
            for (uint64_t i = 0; i < max; i++)
                put_byte(&file, 'z');
            put_str(&file, "\"}");
            want_skips++;
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/a.jsonl", dir);
            CHECK(write_file(path, file.d, file.n) == 0);
            /* .txt of max and max+1, both kept (raw bytes, invalid UTF-8 included) */
            buf txt = {0};
            for (uint64_t i = 0; i < max; i++)
                put_byte(&txt, (uint8_t)(i * 37 + 0x80));
            snprintf(path, sizeof path, "%s/b.txt", dir);
            CHECK(write_file(path, txt.d, txt.n) == 0);
            put_doc_ids(&want, txt.d, txt.n);
            want_docs++;
            put_byte(&txt, 0xff);
            snprintf(path, sizeof path, "%s/c.txt", dir);
            CHECK(write_file(path, txt.d, txt.n) == 0);
            put_doc_ids(&want, txt.d, txt.n);
            want_docs++;

            tokfs_config cfg;
            tokfs_err err = {""};
            tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
            cfg.max_doc_bytes = max;
            cfg.shard_size = (uint64_t)shard;
            cfg.val_shards = 0;
            buf got = {0};
            tokfs_build_stats sum;
            CHECK_EQ_INT(build_all(ev, dir, &cfg, &got, &sum, NULL), 0);
            CHECK_MEM(got.d, got.n, want.d, want.n);
            CHECK_EQ_INT(sum.documents, want_docs);
            CHECK_EQ_INT(sum.skipped_records, want_skips);
            CHECK(strstr(sum.first_skip, "max_doc_bytes") != NULL);
            free(cfg.source);
            cfg.source = NULL;
            tokfs_config_free(&cfg);
            buf_free(&got);
            buf_free(&file);
            buf_free(&want);
            buf_free(&txt);
            rm_tree(dir);
        }
    }
}

/* Hand-made: a .txt is one document with raw bytes; empty files; a record longer than several
 * pieces gives empty shards; cancel and reserve refusals stop a build. */
static void test_fixed(env *ev)
{
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/f", ev->root);

    static const uint8_t raw[] = {'h', 'i', '\n', 0x00, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0,
                                  0x80, '\r', '\n', 0xf0, 0x9f, 0x98, 0x80, 'e', 'n', 'd'};
    snprintf(path, sizeof path, "%s/1.txt", dir);
    CHECK(write_file(path, raw, sizeof raw) == 0);
    snprintf(path, sizeof path, "%s/2.txt", dir);
    CHECK(write_file(path, "", 0) == 0);
    snprintf(path, sizeof path, "%s/3.jsonl", dir);
    CHECK(write_file(path, "", 0) == 0);
    /* one 3000-byte record, then a short one, no final newline */
    buf j = {0}, long_doc = {0};
    put_str(&j, "{\"text\": \"");
    for (int i = 0; i < 3000; i++)
        put_byte(&long_doc, (uint8_t)('A' + i % 26));
    put(&j, long_doc.d, long_doc.n);
    put_str(&j, "\"}\n{\"text\": \"\\u00e9\\ud83d\\ude00\"}");
    snprintf(path, sizeof path, "%s/4.jsonl", dir);
    CHECK(write_file(path, j.d, j.n) == 0);

    buf want = {0};
    put_doc_ids(&want, raw, sizeof raw);
    put_doc_ids(&want, (const uint8_t *)"", 0); /* the empty .txt is an empty document */
    put_doc_ids(&want, long_doc.d, long_doc.n);
    put_doc_ids(&want, (const uint8_t *)"\xc3\xa9\xf0\x9f\x98\x80", 6);

    tokfs_config cfg;
    tokfs_err err = {""};
    tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
    cfg.val_shards = 0;
    cfg.shard_size = 500; /* the 3000-byte record spans several pieces */
    buf got = {0};
    tokfs_build_stats sum;
    tokfs_plan plan;
    CHECK_EQ_INT(build_all(ev, dir, &cfg, &got, &sum, &plan), 0);
    CHECK_MEM(got.d, got.n, want.d, want.n);
    CHECK_EQ_INT(sum.documents, 4);
    CHECK_EQ_INT(sum.skipped_records, 0);
    unsigned empty = 0;
    for (uint32_t k = 0; k < plan.npieces; k++) {
        tokfs_build_stats st;
        if (build_piece(ev, &plan, k, &cfg, &st, &err, NULL) == 0 && st.tokens == 0) {
            empty++;
            CHECK_EQ_INT(ev->shard.n, 0);
        }
    }
    CHECK(empty >= 3); /* pieces inside the long record hold no record start */

    /* cancel: -ECANCELED */
    {
        atomic_int cancel = 1;
        tokfs_build_output out = {.fd = ev->out_fd, .cancel = &cancel};
        tokfs_build_stats st;
        CHECK(ftruncate(ev->out_fd, 0) == 0);
        CHECK_EQ_INT(tokfs_build_shard(&plan, plan.npieces - 1, ev->tok, &cfg, ev->fetcher, &out,
                                       &st, &err),
                     -ECANCELED);
    }
    /* reserve refusing: -ENOSPC (the first piece holds the .txt and the long record) */
    {
        reserve_log rl = {.monotonic = 1, .refuse_above = 1};
        tokfs_build_output out = {.fd = ev->out_fd, .reserve = reserve_cb, .reserve_ctx = &rl};
        tokfs_build_stats st;
        CHECK(ftruncate(ev->out_fd, 0) == 0 && lseek(ev->out_fd, 0, SEEK_SET) == 0);
        CHECK_EQ_INT(tokfs_build_shard(&plan, 0, ev->tok, &cfg, ev->fetcher, &out, &st, &err),
                     -ENOSPC);
        CHECK(rl.calls >= 1);
    }
    tokfs_plan_free(&plan);

    /* a source changed after planning: -ESTALE */
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    snprintf(path, sizeof path, "%s/4.jsonl", dir);
    put_str(&j, "\n");
    CHECK(write_file(path, j.d, j.n) == 0);
    {
        int stale = 0;
        for (uint32_t k = 0; k < plan.npieces; k++) {
            tokfs_build_stats st;
            int rc = build_piece(ev, &plan, k, &cfg, &st, &err, NULL);
            if (plan.pieces[k].last_source == 3 || plan.pieces[k].first_source == 3) {
                CHECK_EQ_INT(rc, -ESTALE);
                stale += rc == -ESTALE;
            }
        }
        CHECK(stale > 0);
    }
    tokfs_plan_free(&plan);

    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    buf_free(&got);
    buf_free(&want);
    buf_free(&j);
    buf_free(&long_doc);
    rm_tree(dir);
}

/* A record of several MiB crossing many cuts: the pieces that must finish it (or skip over it)
 * fetch through growing windows (64 KiB, then +1 MiB, +2 MiB, +4 MiB past the cut); the bounds
 * in fetch_bounds are checked for every piece. */
static void test_huge_record(env *ev)
{
    file_info f = {0};
    f.format = TOKFS_FORMAT_JSONL;
    snprintf(f.rel, sizeof f.rel, "big.jsonl");
    snprintf(f.path, sizeof f.path, "%s/h/big.jsonl", ev->root);
    static const size_t lens[] = {10, 1500000, 20, 0, 3500000, 3};
    buf line = {0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0] + 1; i++) {
        line_info li = {.start = (int64_t)f.data.n};
        line.n = 0;
        if (i == 3) { /* a bad line between the big ones */
            li.kind = LINE_BAD;
            put_str(&line, "{\"text\": 1}");
        } else {
            size_t k = i < 3 ? i : i - 1;
            li.kind = LINE_DOC;
            li.doc_off = f.docs.n;
            gen_record(&line, &f.docs, "text", lens[k]);
            li.doc_len = f.docs.n - li.doc_off;
        }
        li.len = (int64_t)line.n;
        put(&f.data, line.d, line.n);
        if (i < sizeof lens / sizeof lens[0])
            put_byte(&f.data, '\n'); /* none after the last */
        add_line(&f, li);
    }
    buf_free(&line);
    CHECK(write_file(f.path, f.data.d, f.data.n) == 0);

    tokfs_config cfg;
    tokfs_err err = {""};
    tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
    cfg.val_shards = 0;
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/h", ev->root);
    cfg.source = strdup(dir);
    file_info *files[1] = {&f};
    static const uint64_t sizes[] = {250000, 1000000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        cfg.shard_size = sizes[k];
        tokfs_plan plan;
        CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
        if (!plan.npieces)
            continue;
        char desc[128];
        snprintf(desc, sizeof desc, "huge record, shard_size %" PRIu64, sizes[k]);
        buf got = {0};
        uint64_t docs = 0, skipped = 0;
        total_plans++;
        CHECK_EQ_INT(check_plan_shards(ev, &plan, files, &cfg, desc, &got, &docs, &skipped, 1), 0);
        expect e = {0};
        expect_range(&e, &f, 0, INT64_MAX, cfg.max_doc_bytes);
        CHECK(same_bytes(&got, &e.ids));
        CHECK_EQ_INT(docs, 6);
        CHECK_EQ_INT(skipped, 1);
        buf_free(&e.ids);
        buf_free(&got);
        tokfs_plan_free(&plan);
    }
    free(cfg.source);
    cfg.source = NULL;
    tokfs_config_free(&cfg);
    file_free(&f);
    rm_tree(dir);
}

/* ---- .txt read whole and in documents (txt_doc=) ------------------------------------------- */

static int collect_ids(void *ctx, const uint32_t *ids, size_t n)
{
    buf *out = ctx;
    for (size_t i = 0; i < n; i++) {
        uint8_t le[2] = {(uint8_t)ids[i], (uint8_t)(ids[i] >> 8)};
        put(out, le, 2);
    }
    return 0;
}

/* The bytes of a uint16 id stream (end-of-text ids left out), to check that no text is lost or
 * doubled at cuts where ids may legitimately differ (forced cuts). */
static void ids_text(const tokfs_tokenizer *tok, const buf *ids, buf *out)
{
    for (size_t i = 0; i + 1 < ids->n; i += 2) {
        size_t len = 0;
        uint32_t id = (uint32_t)(ids->d[i] | ids->d[i + 1] << 8);
        const uint8_t *t = tok->token_bytes(tok, id, &len);
        if (t && id != tok->eot_id)
            put(out, t, len);
    }
}

/* Build every piece of SOURCE dir with tokenizer tok; each piece is built twice and must be the
 * same bytes (a shard made again). Returns the number of pieces (0 on failure). */
static uint32_t build_twice(env *ev, const tokfs_tokenizer *tok, const char *dir,
                            tokfs_config *cfg, buf *got, uint32_t *empty)
{
    tokfs_err err = {""};
    free(cfg->source);
    cfg->source = strdup(dir);
    tokfs_plan plan;
    if (tokfs_plan_build(cfg, tok->bytes_per_token, ev->fetcher, &plan, &err)) {
        fprintf(stderr, "plan of %s: %s\n", dir, err.msg);
        check_failures++;
        return 0;
    }
    tokfs_tokenizer *saved = ev->tok;
    ev->tok = (tokfs_tokenizer *)tok;
    uint32_t n = plan.npieces;
    *empty = 0;
    for (uint32_t k = 0; k < plan.npieces && n; k++) {
        tokfs_build_stats st;
        buf first = {0};
        if (build_piece(ev, &plan, k, cfg, &st, &err, NULL) != 0) {
            fprintf(stderr, "piece %u of %s: %s\n", k, dir, err.msg);
            check_failures++;
            n = 0;
            break;
        }
        put(&first, ev->shard.d, ev->shard.n);
        *empty += ev->shard.n == 0;
        CHECK(build_piece(ev, &plan, k, cfg, &st, &err, NULL) == 0 && same_bytes(&first, &ev->shard));
        put(got, first.d, first.n);
        buf_free(&first);
    }
    ev->tok = saved;
    tokfs_plan_free(&plan);
    return n;
}

/* Prose-like valid UTF-8: words, punctuation, newlines and blank lines, numbers, CJK, emoji, and
 * runs of spaces, with a stretch of cjk_run bytes of CJK (GPT-2 has no cut place in it). */
static void gen_prose(buf *out, size_t n, size_t cjk_run)
{
    static const char *const words[] = {"the", "tokfs", "Shard", "of", "a", "mount", "don't",
                                        "x", "é", "naïve", "2026", "3.14", "(ok)", "—", "中文",
                                        "😀", "über", "_id", "A", "tok"};
    size_t cjk_at = n / 2;
    while (out->n < n) {
        if (cjk_run && out->n >= cjk_at) {
            for (size_t k = 0; k < cjk_run; k += 3)
                put_str(out, "字");
            cjk_run = 0;
        }
        put_str(out, words[rnd(sizeof words / sizeof words[0])]);
        unsigned r = (unsigned)rnd(40);
        put_str(out, r < 30 ? " " : r < 33 ? ", " : r < 35 ? ".\n" : r < 36 ? "\n\n" : r < 37 ? "   "
                   : r < 38 ? "\t" : r < 39 ? "\r\n" : "! ");
    }
}

/* txt_doc=file with GPT-2: a .txt far over max_doc_bytes cut into many shards whose
 * concatenation is exactly the whole file's ids (cuts at GPT-2's cut places, a stretch without
 * any included), each shard the same when made again; and text with no cut place at all cut
 * anyway (forced, at character starts): no byte lost or doubled, shards made again the same. */
static void test_txt_file_gpt2(env *ev)
{
    tokfs_tokenizer *gpt2 = NULL;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_tokenizer_open("gpt2", NULL, NULL, &gpt2, &err), 0);
    if (!gpt2)
        return;
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/txtfile", ev->root);
    for (int forced = 0; forced <= 1; forced++) {
        buf text = {0}, want = {0}, got = {0}, got_text = {0};
        if (forced)
            for (size_t k = 0; k < (1400u << 10); k += 3)
                put_str(&text, k % 300 == 0 ? "。" : "字"); /* no ' ' + letter anywhere */
        else
            gen_prose(&text, 3u << 20, 90u << 10); /* under a quarter piece */
        snprintf(path, sizeof path, "%s/big.txt", dir);
        CHECK(write_file(path, text.d, text.n) == 0);
        tokfs_id_sink sink = {collect_ids, &want};
        CHECK_EQ_INT(gpt2->encode(gpt2, text.d, text.n, &sink), 0);
        uint32_t eot = gpt2->eot_id;
        collect_ids(&want, &eot, 1);

        tokfs_config cfg;
        tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
        free(cfg.tokenizer);
        cfg.tokenizer = strdup("gpt2");
        cfg.max_doc_bytes = 1024; /* far under the file: it is cut, never skipped */
        cfg.shard_size = 100000; /* 400 KB pieces (GPT-2's 4 bytes a token) */
        cfg.val_shards = 0;
        uint32_t empty = 0;
        uint32_t n = build_twice(ev, gpt2, dir, &cfg, &got, &empty);
        CHECK(n >= (forced ? 3u : 7u));
        CHECK_EQ_INT(empty, 0);
        if (!forced) {
            CHECK_MEM(got.d, got.n, want.d, want.n);
        } else {
            ids_text(gpt2, &got, &got_text);
            CHECK_MEM(got_text.d, got_text.n, text.d, text.n);
            /* the forced cuts change ids only next to them */
            CHECK(got.n > want.n - 64 * n && got.n < want.n + 64 * n);
        }
        free(cfg.source);
        cfg.source = NULL;
        tokfs_config_free(&cfg);
        buf_free(&text);
        buf_free(&want);
        buf_free(&got);
        buf_free(&got_text);
        rm_tree(dir);
    }
    tokfs_tokenizer_close(gpt2);
}

static int all_ws(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] != ' ' && d[i] != '\t' && d[i] != '\r' && d[i] != '\v' && d[i] != '\f')
            return 0;
    return 1;
}

/* The documents of txt_doc=line / paragraph, computed from the text here: lines split at '\n';
 * a blank line is ASCII whitespace only; a document is a non-blank line (line) or a run of
 * non-blank lines joined by their '\n' (paragraph), less a final '\r'; one whose bytes with the
 * '\n's after its lines pass max is skipped. */
static void model_txt_docs(const buf *text, int paragraph, uint64_t max, buf *want,
                           uint64_t *docs, uint64_t *skips)
{
    buf para = {0};
    size_t s = 0;
    for (;;) {
        const uint8_t *nl = text->n > s ? memchr(text->d + s, '\n', text->n - s) : NULL;
        size_t e = nl ? (size_t)(nl - text->d) : text->n;
        int blank = all_ws(text->d + s, e - s);
        if (!blank) {
            put(&para, text->d + s, e - s);
            if (nl && paragraph)
                put_byte(&para, '\n');
        }
        if (para.n && (!paragraph || blank || !nl)) {
            if (para.n > max) {
                (*skips)++;
            } else {
                size_t len = para.n;
                if (len && para.d[len - 1] == '\n')
                    len--;
                if (len && para.d[len - 1] == '\r')
                    len--;
                put_doc_ids(want, para.d, len);
                (*docs)++;
            }
            para.n = 0;
        }
        if (!nl)
            break;
        s = e + 1;
    }
    buf_free(&para);
}

/* Random text of lines: words, spaces, tabs, '\r', blank and whitespace-only lines, long lines
 * over max, with or without a final newline. */
static void gen_lines(buf *out, size_t n)
{
    static const char *const bits[] = {"w", "word ", " ", "\t", "\r", "\n", "\n", "\n\n", " \n",
                                       "\r\n", "\r\n\r\n", "é", "\n \t\n"};
    while (out->n < n) {
        if (rnd(200) == 0) {
            size_t len = (size_t)rnd_range(900, 1200); /* around max: some kept, some skipped */
            for (size_t k = 0; k < len; k++)
                put_byte(out, (uint8_t)('a' + k % 26));
        }
        put_str(out, bits[rnd(sizeof bits / sizeof bits[0])]);
    }
    if (rnd(2))
        put_byte(out, '\n');
}

/* txt_doc=line and paragraph: at every shard_size (down to one byte a piece, cutting inside
 * lines, paragraphs and the whitespace between them), the shards in order give exactly the
 * documents of the model, each once, and the counts. */
static void test_txt_docs(env *ev)
{
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/txtdocs", ev->root);
    for (int paragraph = 0; paragraph <= 1; paragraph++) {
        for (int round = 0; round < 4; round++) {
            buf text = {0}, want = {0}, got = {0};
            uint64_t docs = 0, skips = 0;
            gen_lines(&text, round == 0 ? 0 : (size_t)rnd_range(1, 6000));
            snprintf(path, sizeof path, "%s/a.txt", dir);
            CHECK(write_file(path, text.d, text.n) == 0);
            model_txt_docs(&text, paragraph, 1024, &want, &docs, &skips);
            static const uint64_t sizes[] = {1, 7, 300, 5000, 1000000};
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
                if (sizes[z] < 300 && text.n > 1500 && round % 2)
                    continue; /* a byte or a few a piece is slow (a build each): every other round */
                tokfs_config cfg;
                tokfs_err err = {""};
                tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
                cfg.txt_doc = paragraph ? TOKFS_TXT_DOC_PARAGRAPH : TOKFS_TXT_DOC_LINE;
                cfg.max_doc_bytes = 1024;
                cfg.shard_size = sizes[z];
                cfg.val_shards = 0;
                tokfs_build_stats sum;
                got.n = 0;
                int rc = build_all(ev, dir, &cfg, &got, &sum, NULL);
                CHECK_EQ_INT(rc, 0);
                if (!same_bytes(&got, &want))
                    fprintf(stderr, "txt_doc=%s, %zu bytes, shard_size %" PRIu64 ":\n",
                            paragraph ? "paragraph" : "line", text.n, sizes[z]);
                if (got.n || want.n) /* (an empty text: both NULL, which memcmp may not get) */
                    CHECK_MEM(got.d, got.n, want.d, want.n);
                CHECK_EQ_INT(sum.documents, docs);
                CHECK_EQ_INT(sum.skipped_records, skips);
                free(cfg.source);
                cfg.source = NULL;
                tokfs_config_free(&cfg);
            }
            buf_free(&text);
            buf_free(&want);
            buf_free(&got);
            rm_tree(dir);
        }
    }
}

/* doc_sep= with a .txt read whole across shards: the end-of-text is placed once for the one
 * document, whatever the cuts — prepend: in front of the first shard only (the pieces after it
 * begin inside the document), none: nowhere; the ids in between untouched. */
static void test_txt_file_doc_sep(env *ev)
{
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/txtsep", ev->root);
    buf text = {0};
    for (int i = 0; i < 50000; i++)
        put_byte(&text, (uint8_t)(i * 7 % 251 + 1));
    snprintf(path, sizeof path, "%s/a.txt", dir);
    CHECK(write_file(path, text.d, text.n) == 0);
    for (int sep = TOKFS_SEP_PREPEND; sep <= TOKFS_SEP_NONE; sep++) {
        buf want = {0}, got = {0};
        uint8_t eot[2] = {0, 1};
        if (sep == TOKFS_SEP_PREPEND)
            put(&want, eot, 2);
        for (size_t i = 0; i < text.n; i++) {
            uint8_t id[2] = {text.d[i], 0};
            put(&want, id, 2);
        }
        tokfs_config cfg;
        tokfs_err err = {""};
        tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err);
        cfg.doc_sep = sep;
        cfg.shard_size = 7000; /* 8 pieces */
        cfg.val_shards = 0;
        tokfs_build_stats sum;
        tokfs_plan plan;
        CHECK_EQ_INT(build_all(ev, dir, &cfg, &got, &sum, &plan), 0);
        CHECK(plan.npieces >= 5);
        tokfs_plan_free(&plan);
        CHECK_MEM(got.d, got.n, want.d, want.n);
        free(cfg.source);
        cfg.source = NULL;
        tokfs_config_free(&cfg);
        buf_free(&want);
        buf_free(&got);
    }
    buf_free(&text);
    rm_tree(dir);
}

int main(void)
{
    const char *seed = getenv("TOKFS_TEST_SEED");
    if (seed)
        rng_state = strtoull(seed, NULL, 0);
    printf("test_shard_build: seed 0x%llx (set TOKFS_TEST_SEED to repeat)\n",
           (unsigned long long)rng_state);
    unsigned ncases = 120;
    const char *n = getenv("TOKFS_TEST_CASES");
    if (n)
        ncases = (unsigned)strtoul(n, NULL, 10);

    env ev = {.out_fd = -1};
    char tmpl[] = "/tmp/tokfs-test-shard-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, ev.root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(ev.out_path, sizeof ev.out_path, "%s/shard.bin", ev.root);
    ev.out_fd = open(ev.out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    tokfs_fetch_config fcfg = {.retries = 0, .timeout_ms = 5000, .backoff_base_ms = 0};
    ev.fetcher = tokfs_fetcher_new(&fcfg); /* local files only: no curl_global_init needed */
    tokfs_err err = {""};
    CHECK(ev.out_fd >= 0 && ev.fetcher);
    CHECK_EQ_INT(tokfs_tokenizer_open("bytes", NULL, NULL, &ev.tok, &err), 0);
    if (ev.out_fd < 0 || !ev.fetcher || !ev.tok)
        CHECK_DONE();
    CHECK_EQ_INT(tokfs_tokenizer_id_bytes(ev.tok), 2);
    CHECK_EQ_INT(ev.tok->eot_id, 256);

    const char *fixed = getenv("TOKFS_TEST_FIXED");
    if (!fixed || strcmp(fixed, "0") != 0) {
        test_fixed(&ev);
        test_max_doc_bytes(&ev);
        test_huge_record(&ev);
        test_txt_file_gpt2(&ev);
        test_txt_docs(&ev);
        test_txt_file_doc_sep(&ev);
    }
    for (unsigned k = 0; k < ncases && check_failures < 20; k++)
        one_case(&ev, k);
    printf("test_shard_build: %u random corpora, %u plans, %u shards built (%u empty), %u "
           "rebuilt; %" PRIu64 " skipped records seen; fetched %" PRIu64 " bytes for %" PRIu64
           " planned\n",
           total_cases, total_plans, total_pieces, total_empty_pieces, total_rebuilds,
           total_skipped_seen, total_fetched, total_source_bytes);
    CHECK(total_cases == ncases || check_failures);
    CHECK(total_empty_pieces > 0 || ncases < 20); /* tiny shard sizes were exercised */
    CHECK(total_skipped_seen > 0 || ncases < 20);

    tokfs_fetcher_free(ev.fetcher);
    tokfs_tokenizer_close(ev.tok);
    close(ev.out_fd);
    buf_free(&ev.shard);
    rm_tree(ev.root);
    CHECK_DONE();
}
