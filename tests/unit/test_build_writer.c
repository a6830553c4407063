/* Unit test of core/build's writer (writer.c) and of the builder's shared rules (shard_build.c):
 *   - the raw id formats: little-endian ids of 2 and 4 bytes, whatever the sizes of the calls,
 *     across block boundaries; the checksum is tokfs_hash64 of the file; ids counted;
 *   - the budget: reserve is called before every write of a block, with the file's size after
 *     it (whole 1 MiB blocks, then the rest), before the file grows, and never for nothing;
 *   - one error per build: a refusing reserve, a cancel, a failing write() are the build's error
 *     with a message, and a later failure does not replace the first; -ENOMEM and an empty
 *     message get their fixed texts;
 *   - skip accounting keeps the first skip in plan order (source, then offset), whatever order
 *     the skips are noted in, and counts them all;
 *   - the output layouts (out_format.h): the end-of-text id appended, prepended (also for a piece
 *     that begins or ends inside a document) or dropped, in calls cut anywhere; llm.c's header
 *     (magic, version, count; size 1024 + count * width), the .npy header (parsed back), the
 *     Megatron .idx field by field and its size as tokfs_layout_index_bytes says; the checksum
 *     of what follows the header; resolving the options against a tokenizer, refusing uint16
 *     for a vocabulary over 65536 and none/megatron when the eot id may be inside a document. */
#include "check.h"
#include "build/build_internal.h"
#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct reserve_log {
    int fd;
    uint64_t calls, last, refuse_from; /* refuse_from 0: never refuse */
    int grew_first;                    /* the file was already larger than the last reservation */
    int not_block;                     /* a reservation before the last was not a whole block */
} reserve_log;

static int reserve_cb(void *ctx, uint64_t new_size)
{
    reserve_log *r = ctx;
    struct stat st;
    if (fstat(r->fd, &st) != 0 || (uint64_t)st.st_size != r->last)
        r->grew_first = 1;
    if (r->calls && r->last % TOKFS_BUILD_WRITE_BLOCK != 0)
        r->not_block = 1;
    r->calls++;
    if (r->refuse_from && new_size >= r->refuse_from)
        return -ENOSPC;
    r->last = new_size;
    return 0;
}

static int temp_fd(char *path, size_t size)
{
    snprintf(path, size, "/tmp/tokfs_test_writer.XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int read_all(int fd, uint8_t **out, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    *len = (size_t)st.st_size;
    *out = malloc(*len ? *len : 1);
    return *out && pread(fd, *out, *len, 0) == (ssize_t)*len ? 0 : -1;
}

static uint32_t id_at(size_t i, unsigned width)
{
    uint32_t v = (uint32_t)(i * 2654435761u) ^ (uint32_t)(i >> 3);
    return width == 2 ? v & 0xffff : v;
}

/* A writer on out, with the builder it reports to. Lives on the caller's stack: the builder and
 * the writer point into it. */
typedef struct writer_case {
    tokfs_build_output out;
    tokfs_err err;
    tokfs_build_stats stats;
    tokfs_builder b;
    tokfs_build_writer w;
    tokfs_id_sink sink;
} writer_case;

static void writer_case_open(writer_case *c, tokfs_build_output out, unsigned width)
{
    memset(c, 0, sizeof *c);
    c->out = out;
    c->b.stats = &c->stats;
    c->b.err = &c->err;
    c->b.cancel = out.cancel;
    tokfs_layout raw = tokfs_layout_raw(width, 0);
    CHECK_EQ_INT(tokfs_build_writer_open(&c->w, &c->b, &c->out, &raw), 0);
    c->sink = tokfs_build_writer_sink(&c->w);
}

/* n ids through the writer in calls of varying sizes; checks the file, the checksum and the
 * reservations. */
static void check_format(unsigned width, size_t n)
{
    char path[64];
    int fd = temp_fd(path, sizeof path);
    CHECK(fd >= 0);
    reserve_log rl = {.fd = fd};
    writer_case c;
    writer_case_open(&c, (tokfs_build_output){.fd = fd, .reserve = reserve_cb, .reserve_ctx = &rl},
                     width);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = id_at(i, width);
    static const size_t steps[] = {1, 7, 8192, 3, 65536, 100000, 0, 524289};
    size_t at = 0;
    for (unsigned k = 0; at < n; k++) {
        size_t take = steps[k % (sizeof steps / sizeof *steps)];
        if (take > n - at)
            take = n - at;
        CHECK_EQ_INT(c.sink.put(c.sink.ctx, ids + at, take), 0);
        at += take;
    }
    CHECK_EQ_INT(tokfs_build_writer_flush(&c.w), 0);
    CHECK_EQ_INT(c.w.ids, n);
    CHECK_EQ_INT(c.b.rc, 0);

    uint8_t *file = NULL;
    size_t len = 0;
    CHECK(read_all(fd, &file, &len) == 0);
    CHECK_EQ_INT(len, n * width);
    int same = len == n * width;
    for (size_t i = 0; same && i < n; i++) {
        uint32_t v = file[width * i] | (uint32_t)file[width * i + 1] << 8;
        if (width == 4)
            v |= (uint32_t)file[4 * i + 2] << 16 | (uint32_t)file[4 * i + 3] << 24;
        same = v == ids[i];
    }
    CHECK(same);
    CHECK(tokfs_build_writer_checksum(&c.w) == tokfs_hash64(file, len, 0));
    /* one reservation per block written, each before the file grew, the last the file's size */
    CHECK_EQ_INT(rl.calls, (len + TOKFS_BUILD_WRITE_BLOCK - 1) / TOKFS_BUILD_WRITE_BLOCK);
    CHECK_EQ_INT(rl.last, len);
    CHECK(!rl.grew_first);
    CHECK(!rl.not_block);
    tokfs_build_writer_free(&c.w);
    free(file);
    free(ids);
    close(fd);
}

/* The first failure is the build's error; what comes after does not replace it. */
static void check_errors(void)
{
    char path[64];
    uint32_t ids[4096];
    for (size_t i = 0; i < 4096; i++)
        ids[i] = id_at(i, 2);

    /* reserve refusing the second block: its code, a message, nothing more written */
    {
        int fd = temp_fd(path, sizeof path);
        reserve_log rl = {.fd = fd, .refuse_from = TOKFS_BUILD_WRITE_BLOCK + 1};
        writer_case c;
        writer_case_open(&c, (tokfs_build_output){.fd = fd, .reserve = reserve_cb,
                                                   .reserve_ctx = &rl}, 2);
        int rc = 0;
        for (int k = 0; k < 400 && rc == 0; k++)
            rc = c.sink.put(c.sink.ctx, ids, 4096); /* 400 x 8 KiB: past two blocks */
        CHECK_EQ_INT(rc, -ENOSPC);
        CHECK_EQ_INT(c.b.rc, -ENOSPC);
        CHECK(strstr(c.err.msg, "No space left") != NULL);
        CHECK_EQ_INT(c.w.written, TOKFS_BUILD_WRITE_BLOCK);
        char first[sizeof c.err.msg];
        snprintf(first, sizeof first, "%s", c.err.msg);
        CHECK_EQ_INT(tokfs_builder_fail(&c.b, -EIO, "a later failure"), -ENOSPC);
        CHECK(strcmp(c.err.msg, first) == 0);
        CHECK_EQ_INT(tokfs_build_writer_flush(&c.w), -ENOSPC);
        tokfs_build_writer_free(&c.w);
        close(fd);
    }
    /* cancel: checked before a write */
    {
        int fd = temp_fd(path, sizeof path);
        atomic_int cancel = 0;
        writer_case c;
        writer_case_open(&c, (tokfs_build_output){.fd = fd, .cancel = &cancel}, 4);
        CHECK_EQ_INT(c.sink.put(c.sink.ctx, ids, 100), 0);
        atomic_store(&cancel, 1);
        CHECK_EQ_INT(tokfs_build_writer_flush(&c.w), -ECANCELED);
        CHECK_EQ_INT(c.w.written, 0);
        CHECK(c.err.msg[0] != '\0');
        tokfs_build_writer_free(&c.w);
        close(fd);
    }
    /* write() failing (a read-only descriptor) */
    {
        int fd = open("/dev/null", O_RDONLY);
        writer_case c;
        writer_case_open(&c, (tokfs_build_output){.fd = fd}, 2);
        CHECK_EQ_INT(c.sink.put(c.sink.ctx, ids, 10), 0);
        CHECK_EQ_INT(tokfs_build_writer_flush(&c.w), -EBADF);
        CHECK(strstr(c.err.msg, "cannot write shard") != NULL);
        tokfs_build_writer_free(&c.w);
        close(fd);
    }
    /* the fixed texts */
    {
        tokfs_err err = {""};
        tokfs_builder b = {.err = &err};
        CHECK_EQ_INT(tokfs_builder_fail(&b, -ENOMEM, "cannot allocate %d", 5), -ENOMEM);
        CHECK(strcmp(err.msg, "out of memory while building shard") == 0);
        tokfs_builder b2 = {.err = &err};
        CHECK_EQ_INT(tokfs_builder_fail(&b2, -EIO, "%s", ""), -EIO);
        CHECK(strcmp(err.msg, strerror(EIO)) == 0);
    }
}

/* The first skip in plan order is kept, whatever order the notes come in. */
static void check_skips(void)
{
    tokfs_source src[2] = {
        {.url = "/data/a.jsonl", .format = TOKFS_FORMAT_JSONL},
        {.url = "/data/b.jsonl", .format = TOKFS_FORMAT_JSONL},
    };
    tokfs_err err = {""};
    tokfs_build_stats stats = {0};
    tokfs_builder b = {.stats = &stats, .err = &err};
    tokfs_builder_note_skips(&b, 1, "late", &src[1], 5);
    CHECK(strstr(stats.first_skip, "b.jsonl at byte 5") != NULL);
    tokfs_builder_note_skips(&b, 2, "earlier source", &src[0], 900);
    CHECK(strstr(stats.first_skip, "earlier source (/data/a.jsonl at byte 900)") != NULL);
    tokfs_builder_note_skips(&b, 1, "earlier offset", &src[0], 10);
    tokfs_builder_note_skips(&b, 1, "later offset", &src[0], 11);
    tokfs_builder_note_skips(&b, 0, "nothing", &src[0], 0);
    CHECK(strstr(stats.first_skip, "earlier offset (/data/a.jsonl at byte 10)") != NULL);
    CHECK_EQ_INT(stats.skipped_records, 5);
}

/* ---- layouts ------------------------------------------------------------------------------ */

#define EOT 9u

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ids through a writer of layout l, fed in calls of `step` ids; the file comes back in *file. */
static void write_layout(const tokfs_layout *l, int starts_document, const uint32_t *ids,
                         size_t n, size_t step, uint8_t **file, size_t *len, tokfs_build_writer *out)
{
    char path[64];
    int fd = temp_fd(path, sizeof path);
    CHECK(fd >= 0);
    reserve_log rl = {.fd = fd};
    writer_case c;
    memset(&c, 0, sizeof c);
    c.out = (tokfs_build_output){.fd = fd, .reserve = reserve_cb, .reserve_ctx = &rl};
    c.b.stats = &c.stats;
    c.b.err = &c.err;
    CHECK_EQ_INT(tokfs_build_writer_open(&c.w, &c.b, &c.out, l), 0);
    c.w.starts_document = starts_document;
    c.sink = tokfs_build_writer_sink(&c.w);
    for (size_t at = 0; at < n; at += step)
        CHECK_EQ_INT(c.sink.put(c.sink.ctx, ids + at, n - at < step ? n - at : step), 0);
    CHECK_EQ_INT(tokfs_build_writer_finish(&c.w), 0);
    CHECK(read_all(fd, file, len) == 0);
    CHECK_EQ_INT(rl.last, *len); /* the budget covers the whole file, header included */
    CHECK(tokfs_build_writer_checksum(&c.w) ==
          tokfs_hash64(*file + l->header_bytes, *len - l->header_bytes, 0));
    *out = c.w;
    tokfs_build_writer_free(&c.w);
    close(fd);
}

static void check_ids(const uint8_t *p, unsigned width, const uint32_t *want, size_t n)
{
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= (width == 2 ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) : rd32(p + 4 * i)) == want[i];
    CHECK(same);
}

static void check_layouts(void)
{
    /* documents [1 2 3] [] [4 5] [6] as the pool gives them: each followed by EOT */
    static const uint32_t in[] = {1, 2, 3, EOT, EOT, 4, 5, EOT, 6, EOT};
    static const uint32_t prepended[] = {EOT, 1, 2, 3, EOT, EOT, 4, 5, EOT, 6};
    static const uint32_t dropped[] = {1, 2, 3, 4, 5, 6};
    size_t n = sizeof in / sizeof *in;
    for (size_t step = 1; step <= n; step++) {
        for (unsigned width = 2; width <= 4; width += 2) {
            uint8_t *f;
            size_t len;
            tokfs_build_writer w;
            tokfs_layout l = tokfs_layout_raw(width, EOT);
            l.sep = TOKFS_SEP_PREPEND;
            write_layout(&l, 1, in, n, step, &f, &len, &w);
            CHECK_EQ_INT(len, n * width);
            check_ids(f, width, prepended, n);
            free(f);
            l.sep = TOKFS_SEP_NONE;
            write_layout(&l, 1, in, n, step, &f, &len, &w);
            CHECK_EQ_INT(len, 6 * width);
            CHECK_EQ_INT(w.ids, 6);
            check_ids(f, width, dropped, 6);
            free(f);

            /* llm.c: header then the prepended stream */
            l = tokfs_layout_raw(width, EOT);
            l.format = TOKFS_OUT_LLMC;
            l.sep = TOKFS_SEP_PREPEND;
            l.header_bytes = TOKFS_LLMC_HEADER_BYTES;
            write_layout(&l, 1, in, n, step, &f, &len, &w);
            CHECK_EQ_INT(len, 1024 + n * width);
            CHECK_EQ_INT(len, tokfs_layout_data_bytes(&l, n));
            CHECK_EQ_INT(rd32(f), width == 2 ? 20240520 : 20240801);
            CHECK_EQ_INT(rd32(f + 4), width == 2 ? 1 : 7);
            CHECK_EQ_INT(rd32(f + 8), n);
            check_ids(f + 1024, width, prepended, n);
            free(f);

            /* .npy: the header numpy parses (format 1.0, 64-byte aligned, shape (n,)) */
            l.format = TOKFS_OUT_NPY;
            l.sep = TOKFS_SEP_APPEND;
            l.header_bytes = TOKFS_NPY_HEADER_BYTES;
            write_layout(&l, 1, in, n, step, &f, &len, &w);
            CHECK_EQ_INT(len, 128 + n * width);
            CHECK(memcmp(f, "\x93NUMPY\x01\x00", 8) == 0);
            CHECK_EQ_INT(f[8] | f[9] << 8, 118);
            CHECK_EQ_INT(f[127], '\n');
            char want[96];
            snprintf(want, sizeof want, "{'descr': '<u%u', 'fortran_order': False, 'shape': (%zu,), }",
                     width, n);
            CHECK(memcmp(f + 10, want, strlen(want)) == 0);
            check_ids(f + 128, width, in, n);
            free(f);

            /* megatron: the .bin then the .idx; one sequence per document */
            for (int sep = TOKFS_SEP_APPEND; sep <= TOKFS_SEP_NONE; sep++) {
                l = tokfs_layout_raw(width, EOT);
                l.format = TOKFS_OUT_MEGATRON;
                l.sep = sep;
                write_layout(&l, 1, in, n, step, &f, &len, &w);
                static const uint32_t lens[3][4] = {{4, 1, 3, 2}, {4, 1, 3, 2}, {3, 0, 2, 1}};
                const uint32_t *want_lens = lens[sep - TOKFS_SEP_APPEND];
                size_t ids = sep == TOKFS_SEP_NONE ? 6 : n;
                size_t bin = ids * width;
                CHECK_EQ_INT(len, bin + tokfs_layout_index_bytes(&l, 4));
                const uint8_t *x = f + bin;
                CHECK(memcmp(x, "MMIDIDX\0\0", 9) == 0);
                CHECK_EQ_INT(rd64(x + 9), 1);
                CHECK_EQ_INT(x[17], width == 2 ? 8 : 4);
                CHECK_EQ_INT(rd64(x + 18), 4);
                CHECK_EQ_INT(rd64(x + 26), 5);
                uint64_t ptr = 0;
                for (int k = 0; k < 4; k++) {
                    CHECK_EQ_INT(rd32(x + 34 + 4 * k), want_lens[k]);
                    CHECK_EQ_INT(rd64(x + 50 + 8 * k), ptr);
                    ptr += want_lens[k] * width;
                }
                for (int k = 0; k < 5; k++)
                    CHECK_EQ_INT(rd64(x + 82 + 8 * k), k);
                CHECK_EQ_INT(82 + 40, tokfs_layout_index_bytes(&l, 4));
                free(f);
            }
        }
    }
    /* a piece that begins inside a document (continued from the previous piece) and ends inside
     * another: prepend puts no id before the first, and keeps the last (it is not an EOT) */
    {
        static const uint32_t mid[] = {7, 8, EOT, 1, 2};
        static const uint32_t mid_prepended[] = {7, 8, EOT, 1, 2};
        uint8_t *f;
        size_t len;
        tokfs_build_writer w;
        tokfs_layout l = tokfs_layout_raw(2, EOT);
        l.sep = TOKFS_SEP_PREPEND;
        write_layout(&l, 0, mid, 5, 2, &f, &len, &w);
        CHECK_EQ_INT(len, 10);
        check_ids(f, 2, mid_prepended, 5);
        free(f);
        /* megatron appends: the trailing part is a sequence of its own */
        l.format = TOKFS_OUT_MEGATRON;
        l.sep = TOKFS_SEP_APPEND;
        write_layout(&l, 0, mid, 5, 3, &f, &len, &w);
        CHECK_EQ_INT(len, 10 + tokfs_layout_index_bytes(&l, 2));
        CHECK_EQ_INT(rd32(f + 10 + 34), 3);
        CHECK_EQ_INT(rd32(f + 10 + 38), 2);
        free(f);
    }
    /* an empty piece: a header alone, count 0 */
    {
        uint8_t *f;
        size_t len;
        tokfs_build_writer w;
        tokfs_layout l = tokfs_layout_raw(2, EOT);
        l.format = TOKFS_OUT_LLMC;
        l.header_bytes = TOKFS_LLMC_HEADER_BYTES;
        write_layout(&l, 1, in, 0, 1, &f, &len, &w);
        CHECK_EQ_INT(len, 1024);
        CHECK_EQ_INT(rd32(f), 20240520);
        CHECK_EQ_INT(rd32(f + 8), 0);
        free(f);
    }
}

/* A tokenizer whose ids below 256 are bytes and whose 50256 is a special token with a text
 * ("<|endoftext|>", which encodes to byte ids), as GPT-2's; 50300 has no bytes at all. */
static uint8_t byte_values[256];

static const uint8_t *fake_token_bytes(const tokfs_tokenizer *tok, uint32_t id, size_t *len)
{
    if (id < 256) {
        *len = 1;
        return byte_values + id;
    }
    *len = 13;
    return id == 50256 ? (const uint8_t *)"<|endoftext|>" : NULL;
}

static int fake_encode(const tokfs_tokenizer *tok, const uint8_t *text, size_t len,
                       const tokfs_id_sink *sink)
{
    for (size_t i = 0; i < len; i++) {
        uint32_t id = text[i];
        int rc = sink->put(sink->ctx, &id, 1);
        if (rc)
            return rc;
    }
    return 0;
}

static void check_resolve(void)
{
    tokfs_config cfg;
    tokfs_err err;
    CHECK_EQ_INT(tokfs_config_init(&cfg, "/tmp", NULL, &err), 0);
    for (int v = 0; v < 256; v++)
        byte_values[v] = (uint8_t)v;
    tokfs_tokenizer tok = {.name = "big", .vocab_size = 100277, .eot_id = 100257,
                           .token_bytes = fake_token_bytes, .encode = fake_encode};
    tokfs_layout l;
    /* default: the vocabulary's width, appended, raw */
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    CHECK_EQ_INT(l.id_bytes, 4);
    CHECK_EQ_INT(l.sep, TOKFS_SEP_APPEND);
    CHECK(!tokfs_layout_is_custom(&l, 4));
    cfg.dtype_bytes = 2;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), -EINVAL);
    CHECK(strstr(err.msg, "dtype=uint32") != NULL);
    tok.vocab_size = 50257;
    tok.eot_id = 50256;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    CHECK_EQ_INT(l.id_bytes, 2);
    cfg.dtype_bytes = 4;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    CHECK(tokfs_layout_is_custom(&l, 2));
    /* llmc prepends unless told; its header is 1024 bytes */
    cfg.format = TOKFS_OUT_LLMC;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    CHECK_EQ_INT(l.sep, TOKFS_SEP_PREPEND);
    CHECK_EQ_INT(l.header_bytes, 1024);
    cfg.doc_sep = TOKFS_SEP_APPEND;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    CHECK_EQ_INT(l.sep, TOKFS_SEP_APPEND);
    /* none and megatron: only when the eot id cannot be inside a document */
    cfg.doc_sep = TOKFS_SEP_NONE;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    cfg.match_special = 1;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), -EINVAL);
    CHECK(strstr(err.msg, "special_tokens=text") != NULL);
    cfg.match_special = 0;
    cfg.doc_sep = TOKFS_SEP_DEFAULT;
    cfg.format = TOKFS_OUT_MEGATRON;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0); /* a special with its text */
    tok.eot_id = 50300; /* a special without bytes */
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    tok.eot_id = 10; /* an ordinary token: "\n" encodes to it */
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), -EINVAL);
    CHECK(strstr(err.msg, "eot=") != NULL);
    tok.text_based = 1;
    tok.eot_id = 198; /* a lone byte 0xC6: not UTF-8, so not decidable by encoding: refused */
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), -EINVAL);
    tok.text_based = 0;
    cfg.format = TOKFS_OUT_LLMC; /* prepend is exact whatever the documents hold */
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, &tok, &l, &err), 0);
    tokfs_config_free(&cfg);
}

int main(void)
{
    check_layouts();
    check_resolve();
    size_t sizes[] = {0, 1, 5, 524287, 524288, 524289, 1500000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        check_format(2, sizes[k]);
        check_format(4, sizes[k]);
    }
    check_errors();
    check_skips();
    CHECK_DONE();
}
