/* Pre-tokenized sources (docs/pretokenized.md): core/decode/tokens.c's header parsers, the plan's
 * cutting of token sources (core/plan/plan_tokens.c) and the build (core/build/reader_tokens.c).
 *
 *   - llm.c headers (v1 uint16, v7 uint32; no magic; wrong version; short; negative count) and
 *     .npy headers (v1 and v2, <u2/<u4/<i4, 1-D; refused dtypes and shapes; -EAGAIN with the
 *     bytes needed);
 *   - cutting, on random source counts (empty sources included) and shard sizes: pieces cover
 *     every id once and in order, every piece but the last holds exactly shard_size ids, the
 *     last one at most 1.25 × shard_size and none is empty (unless the corpus is), no piece ends
 *     at id 0 of a later source;
 *   - the build, on files written here (llm.c v1 and v7, a raw .bin, a .npy, a .zst of an llm.c
 *     shard and a .zst of a raw .bin): for several shard sizes and layouts the shards in plan
 *     order are exactly the sources' ids (after a plan save/load too), stats count the ids and
 *     the end-of-text ids; an id at or above vocab_size= is -EIO naming the source and offset;
 *     a raw .bin without src_dtype=, a text source among token sources, doc_sep=none and a
 *     .bin whose header disagrees with its size are refused by the plan; vocab_size= over 65536
 *     makes uint32 the default width and refuses dtype=uint16;
 *   - a seekable .bin.zst: exact ids, and its last piece fetches its frames, not the stream
 *     before them. */
#include "check.h"
#include "build/out_format.h"
#include "build/shard_build.h"
#include "common/config.h"
#include "decode/tokens.h"
#include "plan/plan.h"
#include "source/fetch.h"
#include "tokenize/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "common/hash.h"

#define EOT 50256u

static uint64_t rng_state = 0x746f6b656e73ull;

static uint64_t rnd(uint64_t n)
{
    return n ? tokfs_splitmix64(&rng_state) % n : 0;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- headers ------------------------------------------------------------------------------- */

static void test_llmc_header(void)
{
    uint8_t h[1024] = {0};
    tokfs_token_header th;
    tokfs_err err = {""};
    le32(h, 20240520);
    le32(h + 4, 1);
    le32(h + 8, 12345);
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, sizeof h, &th, &err), 1);
    CHECK_EQ_INT(th.id_bytes, 2);
    CHECK_EQ_INT(th.header_bytes, 1024);
    CHECK_EQ_INT(th.count, 12345);
    le32(h, 20240801);
    le32(h + 4, 7);
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, sizeof h, &th, &err), 1);
    CHECK_EQ_INT(th.id_bytes, 4);
    le32(h + 4, 1); /* v7's magic with v1's version */
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, sizeof h, &th, &err), -EINVAL);
    CHECK(strstr(err.msg, "version 1") != NULL);
    le32(h + 4, 7);
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, 1000, &th, &err), -EINVAL); /* cut short */
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, 6, &th, &err), -EAGAIN);
    le32(h + 8, 0x80000000u);
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, sizeof h, &th, &err), -EINVAL);
    le32(h, 20240521); /* no magic: a raw .bin */
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, sizeof h, &th, &err), 0);
    CHECK_EQ_INT(tokfs_llmc_header_parse(h, 3, &th, &err), -EAGAIN);
}

/* A .npy header as numpy writes it: dict padded with spaces to a multiple of 64, '\n' last. */
static size_t npy_header(uint8_t *out, int major, const char *dict)
{
    size_t fixed = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = (fixed + len + 1 + 63) / 64 * 64;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)major;
    out[7] = 0;
    size_t dl = total - fixed;
    if (major == 1) {
        out[8] = (uint8_t)dl;
        out[9] = (uint8_t)(dl >> 8);
    } else {
        le32(out + 8, (uint32_t)dl);
    }
    memcpy(out + fixed, dict, len);
    memset(out + fixed + len, ' ', dl - len - 1);
    out[total - 1] = '\n';
    return total;
}

static void test_npy_header(void)
{
    uint8_t h[512];
    tokfs_token_header th;
    tokfs_err err = {""};
    size_t need = 0;
    size_t n = npy_header(h, 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (777,), }");
    CHECK_EQ_INT(n, 128);
    CHECK_EQ_INT(tokfs_npy_header_parse(h, n, &th, &need, &err), 0);
    CHECK_EQ_INT(th.header_bytes, 128);
    CHECK_EQ_INT(th.id_bytes, 2);
    CHECK_EQ_INT(th.count, 777);
    CHECK_EQ_INT(tokfs_npy_header_parse(h, 40, &th, &need, &err), -EAGAIN);
    CHECK_EQ_INT(need, 128);
    CHECK_EQ_INT(tokfs_npy_header_parse(h, 5, &th, &need, &err), -EAGAIN);
    n = npy_header(h, 2, "{'descr': '<u4', 'fortran_order': True, 'shape': (0,), }");
    CHECK_EQ_INT(tokfs_npy_header_parse(h, n, &th, &need, &err), 0);
    CHECK_EQ_INT(th.id_bytes, 4);
    CHECK_EQ_INT(th.count, 0);
    CHECK_EQ_INT(th.header_bytes, n);
    n = npy_header(h, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (5), }");
    CHECK_EQ_INT(tokfs_npy_header_parse(h, n, &th, &need, &err), 0);
    CHECK_EQ_INT(th.count, 5);
    const char *refused[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
        "{'descr': '>u2', 'fortran_order': False, 'shape': (5,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }",
        "{'descr': '<u2', 'fortran_order': False, 'shape': (5, 2), }",
        "{'descr': '<u2', 'fortran_order': False, 'shape': (), }",
        "{'descr': '<u2', 'fortran_order': False}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        n = npy_header(h, 1, refused[i]);
        CHECK_EQ_INT(tokfs_npy_header_parse(h, n, &th, &need, &err), -EINVAL);
    }
    memcpy(h, "\x93NUMPZ", 6);
    CHECK_EQ_INT(tokfs_npy_header_parse(h, 128, &th, &need, &err), -EINVAL);
    CHECK(strstr(err.msg, "not a .npy") != NULL);
}

/* ---- cutting ------------------------------------------------------------------------------- */

static void test_cut(void)
{
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err), 0);
    cfg.val_shards = 0;
    for (int round = 0; round < 3000 && check_failures < 10; round++) {
        tokfs_source srcs[8];
        uint32_t ns = 1 + (uint32_t)rnd(8);
        int64_t total = 0;
        memset(srcs, 0, sizeof srcs);
        for (uint32_t s = 0; s < ns; s++) {
            srcs[s].format = TOKFS_FORMAT_TOKENS_BIN;
            srcs[s].tok_id_bytes = 2;
            srcs[s].tok_count = rnd(4) == 0 ? 0 : (int64_t)rnd(rnd(2) ? 100 : 3000);
            total += srcs[s].tok_count;
        }
        if (total == 0)
            srcs[0].tok_count = total = 1;
        cfg.shard_size = 1 + rnd(rnd(2) ? 10 : 600);
        tokfs_plan plan = {.sources = srcs, .nsources = ns};
        CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
        int64_t target = (int64_t)cfg.shard_size;
        /* pieces contiguous in the id stream, in order, covering every id once */
        int64_t prefix[9] = {0};
        for (uint32_t t = 0; t < ns; t++)
            prefix[t + 1] = prefix[t] + srcs[t].tok_count;
        int64_t seen = 0;
        for (uint32_t k = 0; k < plan.npieces; k++) {
            const tokfs_piece *p = &plan.pieces[k];
            CHECK(p->first_source <= p->last_source && p->last_source < ns);
            CHECK(p->begin >= 0 && p->begin <= srcs[p->first_source].tok_count);
            CHECK(p->end >= 0 && p->end <= srcs[p->last_source].tok_count);
            int64_t start = prefix[p->first_source] + p->begin;
            int64_t stop = prefix[p->last_source] + p->end;
            int64_t ids = stop - start;
            CHECK_EQ_INT(start, seen);
            /* never ending at id 0 of a later source: it ends at the previous one's end */
            CHECK(!(p->last_source > p->first_source && p->end == 0 &&
                    srcs[p->last_source].tok_count > 0));
            if (k + 1 < plan.npieces) {
                CHECK_EQ_INT(ids, target);
            } else {
                CHECK(ids > 0 && ids <= target + target / 4);
                if (plan.npieces > 1)
                    CHECK(ids >= target / 4);
            }
            CHECK_EQ_INT(p->source_bytes, ids);
            seen = stop;
        }
        CHECK_EQ_INT(seen, total);
        CHECK_EQ_INT(plan.pieces[plan.npieces - 1].last_source, ns - 1);
        free(plan.pieces);
    }
    tokfs_config_free(&cfg);
}

/* ---- building ------------------------------------------------------------------------------ */

typedef struct ids {
    uint32_t *v;
    size_t n, cap;
} ids;

static void ids_put(ids *a, uint32_t v)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4096;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v)
            abort();
    }
    a->v[a->n++] = v;
}

/* llm.c-style documents: the end-of-text id before each. */
static void gen_stream(ids *out, size_t docs)
{
    for (size_t d = 0; d < docs; d++) {
        ids_put(out, EOT);
        size_t len = 1 + rnd(300);
        for (size_t i = 0; i < len; i++)
            ids_put(out, (uint32_t)rnd(EOT));
    }
}

static int write_all(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* ids [from, from + n) of all as little-endian ids of width bytes after a header. */
static uint8_t *encode(const ids *all, size_t from, size_t n, unsigned width,
                       const uint8_t *header, size_t header_len, size_t *len)
{
    *len = header_len + n * width;
    uint8_t *b = malloc(*len ? *len : 1);
    memcpy(b, header, header_len);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = all->v[from + i];
        if (width == 2) {
            b[header_len + 2 * i] = (uint8_t)v;
            b[header_len + 2 * i + 1] = (uint8_t)(v >> 8);
        } else {
            le32(b + header_len + 4 * i, v);
        }
    }
    return b;
}

static int write_ids(const char *dir, const char *name, const ids *all, size_t from, size_t n,
                     int kind, int zst)
{
    uint8_t header[1024] = {0};
    size_t header_len = 0;
    unsigned width = 2;
    if (kind == 1 || kind == 2) { /* llm.c v1 / v7 */
        width = kind == 1 ? 2 : 4;
        le32(header, kind == 1 ? 20240520 : 20240801);
        le32(header + 4, kind == 1 ? 1 : 7);
        le32(header + 8, (uint32_t)n);
        header_len = 1024;
    } else if (kind == 3) { /* .npy */
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '<u2', 'fortran_order': False, 'shape': (%zu,), }",
                 n);
        header_len = npy_header(header, 1, dict);
    }
    size_t len;
    uint8_t *b = encode(all, from, n, width, header, header_len, &len);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc;
    if (zst) {
        size_t cap = ZSTD_compressBound(len);
        uint8_t *c = malloc(cap);
        size_t clen = ZSTD_compress(c, cap, b, len, 3);
        rc = ZSTD_isError(clen) ? -1 : write_all(path, c, clen);
        free(c);
    } else {
        rc = write_all(path, b, len);
    }
    free(b);
    return rc;
}

static int read_file(int fd, uint8_t **data, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    *len = (size_t)st.st_size;
    *data = malloc(*len ? *len : 1);
    if (!*data)
        abort();
    return pread(fd, *data, *len, 0) == (ssize_t)*len ? 0 : -1;
}

typedef struct env {
    char dir[PATH_MAX];
    int fd;
    tokfs_fetcher *fetcher;
    tokfs_tokenizer *tok;
} env;

/* Build every piece of cfg's SOURCE; the ids of the shards in plan order must be all's. */
static void check_mount(env *ev, tokfs_config *cfg, const ids *all, const char *what)
{
    tokfs_plan plan;
    tokfs_err err = {""};
    int rc = tokfs_plan_build(cfg, ev->tok->bytes_per_token, ev->fetcher, &plan, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        return;
    }
    /* through the saved plan, as a remount reads it */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plan.tsv", ev->dir);
    tokfs_plan loaded;
    CHECK_EQ_INT(tokfs_plan_save(&plan, path, &err), 0);
    CHECK_EQ_INT(tokfs_plan_load(&loaded, path, plan.id, &err), 0);
    CHECK_EQ_INT(loaded.npieces, plan.npieces);
    for (uint32_t i = 0; i < plan.nsources && i < loaded.nsources; i++) {
        CHECK_EQ_INT(loaded.sources[i].tok_count, plan.sources[i].tok_count);
        CHECK_EQ_INT(loaded.sources[i].tok_header, plan.sources[i].tok_header);
        CHECK_EQ_INT(loaded.sources[i].tok_id_bytes, plan.sources[i].tok_id_bytes);
    }
    tokfs_plan_free(&plan);
    unsigned width = cfg->dtype_bytes ? cfg->dtype_bytes : 2;
    size_t header = cfg->format == TOKFS_OUT_LLMC ? 1024 : 0, at = 0;
    uint64_t eots = 0;
    for (uint32_t k = 0; k < loaded.npieces && check_failures < 10; k++) {
        tokfs_build_stats stats;
        tokfs_build_output out = {.fd = ev->fd};
        CHECK(ftruncate(ev->fd, 0) == 0 && lseek(ev->fd, 0, SEEK_SET) == 0);
        rc = tokfs_build_shard(&loaded, k, ev->tok, cfg, ev->fetcher, &out, &stats, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "%s: piece %u: %s\n", what, k, err.msg);
            break;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        if (read_file(ev->fd, &data, &len) != 0) {
            CHECK(0);
            free(data);
            break;
        }
        CHECK_EQ_INT(len, header + stats.tokens * width);
        CHECK_EQ_INT(stats.checksum, tokfs_hash64(data + header, len - header, 0));
        for (size_t i = 0; i < stats.tokens && at < all->n; i++, at++) {
            const uint8_t *p = data + header + i * width;
            uint32_t v = width == 2 ? (uint32_t)(p[0] | p[1] << 8)
                                    : (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                          (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            if (v != all->v[at]) {
                fprintf(stderr, "%s: piece %u id %zu: %u, source has %u\n", what, k, i, v,
                        all->v[at]);
                CHECK(v == all->v[at]);
                break;
            }
        }
        eots += stats.documents;
        free(data);
    }
    CHECK_EQ_INT(at, all->n);
    uint64_t want_eots = 0;
    for (size_t i = 0; i < all->n; i++)
        want_eots += all->v[i] == EOT;
    CHECK_EQ_INT(eots, want_eots);
    tokfs_plan_free(&loaded);
}

static void test_build(env *ev)
{
    ids all = {0};
    /* sources in list order: llm.c v1, llm.c v7, raw .bin, .npy, .zst of llm.c, .zst of raw */
    static const struct { const char *name; int kind, zst; size_t docs; } files[] = {
        {"a.bin", 1, 0, 40}, {"b.bin", 2, 0, 25}, {"c.bin", 0, 0, 30}, {"d.npy", 3, 0, 20},
        {"e.bin.zst", 1, 1, 30}, {"f.bin.zst", 0, 1, 15},
    };
    char list[PATH_MAX];
    snprintf(list, sizeof list, "%s/list.txt", ev->dir);
    FILE *lf = fopen(list, "w");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t from = all.n;
        gen_stream(&all, files[i].docs);
        CHECK_EQ_INT(write_ids(ev->dir, files[i].name, &all, from, all.n - from, files[i].kind,
                               files[i].zst), 0);
        fprintf(lf, "%s\n", files[i].name);
    }
    fclose(lf);
    char source[PATH_MAX + 1];
    snprintf(source, sizeof source, "@%s", list);
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err), 0);
    cfg.source = strdup(source);
    cfg.src_dtype_bytes = 2;
    const uint64_t sizes[] = {1, 997, 5000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cfg.shard_size = sizes[i];
        cfg.val_shards = sizes[i] == 100000 ? 0 : 1;
        char what[64];
        snprintf(what, sizeof what, "shard_size=%" PRIu64, sizes[i]);
        check_mount(ev, &cfg, &all, what);
    }
    cfg.shard_size = 3000;
    cfg.format = TOKFS_OUT_LLMC;
    cfg.dtype_bytes = 4;
    check_mount(ev, &cfg, &all, "format=llmc dtype=uint32");
    cfg.format = TOKFS_OUT_RAW;
    cfg.dtype_bytes = 0;

    /* an id at or above vocab_size=: -EIO naming the source and where */
    cfg.vocab_size = EOT; /* the end-of-text id itself is then out of range */
    tokfs_plan plan;
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    tokfs_build_stats stats;
    tokfs_build_output out = {.fd = ev->fd};
    CHECK(ftruncate(ev->fd, 0) == 0 && lseek(ev->fd, 0, SEEK_SET) == 0);
    CHECK_EQ_INT(tokfs_build_shard(&plan, 0, ev->tok, &cfg, ev->fetcher, &out, &stats, &err),
                 -EIO);
    CHECK(strstr(err.msg, "a.bin: id 50256 at id 0 (byte 1024 of the file) is not below "
                          "the vocabulary size 50256") != NULL);
    tokfs_plan_free(&plan);
    /* the same in a compressed source: the offset is in its decompressed stream */
    char zsource[PATH_MAX];
    snprintf(zsource, sizeof zsource, "%s/f.bin.zst", ev->dir);
    free(cfg.source);
    cfg.source = strdup(zsource);
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    CHECK(ftruncate(ev->fd, 0) == 0 && lseek(ev->fd, 0, SEEK_SET) == 0);
    CHECK_EQ_INT(tokfs_build_shard(&plan, 0, ev->tok, &cfg, ev->fetcher, &out, &stats, &err),
                 -EIO);
    CHECK(strstr(err.msg, "f.bin.zst: id 50256 at id 0 (byte 0 of the decompressed stream)") !=
          NULL);
    tokfs_plan_free(&plan);
    free(cfg.source);
    cfg.source = strdup(source);
    cfg.vocab_size = 0;

    /* vocab_size= over 65536 makes uint32 the default width, and refuses dtype=uint16 */
    tokfs_layout layout;
    cfg.vocab_size = 70000;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, ev->tok, &layout, &err), 0);
    CHECK_EQ_INT(layout.id_bytes, 4);
    cfg.dtype_bytes = 2;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, ev->tok, &layout, &err), -EINVAL);
    cfg.dtype_bytes = 0;
    cfg.vocab_size = 0;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, ev->tok, &layout, &err), 0);
    CHECK_EQ_INT(layout.id_bytes, 2);

    /* refusals by the plan */
    struct { const char *list, *msg; unsigned src_dtype; int doc_sep; } refused[] = {
        {"c.bin\n", "has no llm.c header", 0, 0},
        {"a.bin\nnotes.txt\n", "SOURCE mixes text and token ids", 2, 0},
        {"a.bin\n", "doc_sep=none cannot apply", 2, TOKFS_SEP_NONE},
        {"short.bin\n", "but the file has", 2, 0},
        {"notes.txt\n", "src_dtype= applies to token sources", 2, 0},
    };
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/notes.txt", ev->dir);
    CHECK_EQ_INT(write_all(path, "hello\n", 6), 0);
    /* an llm.c header saying more ids than the file holds */
    CHECK_EQ_INT(write_ids(ev->dir, "short.bin", &all, 0, 100, 1, 0), 0);
    snprintf(path, sizeof path, "%s/short.bin", ev->dir);
    CHECK_EQ_INT(truncate(path, 1024 + 150), 0);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_EQ_INT(write_all(list, refused[i].list, strlen(refused[i].list)), 0);
        cfg.src_dtype_bytes = refused[i].src_dtype;
        cfg.doc_sep = refused[i].doc_sep;
        err.msg[0] = '\0';
        CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), -EINVAL);
        if (!strstr(err.msg, refused[i].msg)) {
            fprintf(stderr, "refusal %zu: %s\n", i, err.msg);
            CHECK(0);
        }
    }
    tokfs_config_free(&cfg);
    free(all.v);
}

/* A zstd seekable file of data: frames of frame_bytes, then the seek table (a skippable frame:
 * per frame its compressed and decompressed sizes, then the frame count, a descriptor and the
 * seekable magic). */
static int write_seekable(const char *path, const uint8_t *data, size_t len, size_t frame_bytes)
{
    size_t nframes = (len + frame_bytes - 1) / frame_bytes, cap = ZSTD_compressBound(len) +
                     nframes * (ZSTD_compressBound(0) + 8) + 64;
    uint8_t *out = malloc(cap);
    uint32_t *sizes = malloc(2 * nframes * sizeof *sizes);
    if (!out || !sizes)
        abort();
    size_t n = 0;
    for (size_t f = 0; f < nframes; f++) {
        size_t dlen = len - f * frame_bytes < frame_bytes ? len - f * frame_bytes : frame_bytes;
        size_t c = ZSTD_compress(out + n, cap - n, data + f * frame_bytes, dlen, 3);
        if (ZSTD_isError(c))
            abort();
        sizes[2 * f] = (uint32_t)c;
        sizes[2 * f + 1] = (uint32_t)dlen;
        n += c;
    }
    le32(out + n, 0x184D2A5Eu);
    le32(out + n + 4, (uint32_t)(nframes * 8 + 9));
    n += 8;
    for (size_t f = 0; f < 2 * nframes; f++, n += 4)
        le32(out + n, sizes[f]);
    le32(out + n, (uint32_t)nframes);
    out[n + 4] = 0;
    le32(out + n + 5, 0x8F92EAB1u);
    n += 9;
    int rc = write_all(path, out, n);
    free(out);
    free(sizes);
    return rc;
}

/* A seekable .bin.zst (an llm.c shard in 64 KiB frames): every piece's ids exact, and a piece
 * near the end fetches about its own frames (the seek table lets it start there), not the
 * stream before it. */
static void test_seekable(env *ev)
{
    ids all = {0};
    gen_stream(&all, 1500); /* ~225k ids, ~450 KB */
    uint8_t header[1024] = {0};
    le32(header, 20240520);
    le32(header + 4, 1);
    le32(header + 8, (uint32_t)all.n);
    size_t len;
    uint8_t *data = encode(&all, 0, all.n, 2, header, sizeof header, &len);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/g.bin.zst", ev->dir);
    CHECK_EQ_INT(write_seekable(path, data, len, 64 << 10), 0);
    free(data);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    tokfs_config cfg;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err), 0);
    cfg.source = strdup(path);
    cfg.shard_size = 20000;
    check_mount(ev, &cfg, &all, "seekable .bin.zst");
    tokfs_plan plan;
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    if (plan.npieces > 3) {
        tokfs_build_stats stats;
        tokfs_build_output out = {.fd = ev->fd};
        CHECK(ftruncate(ev->fd, 0) == 0 && lseek(ev->fd, 0, SEEK_SET) == 0);
        uint32_t last = plan.npieces - 1;
        CHECK_EQ_INT(tokfs_build_shard(&plan, last, ev->tok, &cfg, ev->fetcher, &out, &stats,
                                       &err), 0);
        /* the pieces' ids are 40 KB of ~450 KB: its frames and the table, not the whole file */
        if (stats.fetched_bytes > (uint64_t)st.st_size / 2) {
            fprintf(stderr, "the last piece fetched %" PRIu64 " of %lld bytes\n",
                    stats.fetched_bytes, (long long)st.st_size);
            CHECK(0);
        }
    } else {
        CHECK(plan.npieces > 3);
    }
    tokfs_plan_free(&plan);
    tokfs_config_free(&cfg);
    free(all.v);
}

int main(void)
{
    test_llmc_header();
    test_npy_header();
    test_cut();

    env ev = {.fd = -1};
    char tmpl[] = "/tmp/tokfs-test-tokens-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, ev.dir)) {
        perror("mkdtemp");
        return 1;
    }
    char out_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/shard.out", ev.dir);
    ev.fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    tokfs_fetch_config fcfg = {.retries = 0, .timeout_ms = 5000, .backoff_base_ms = 0};
    ev.fetcher = tokfs_fetcher_new(&fcfg); /* local files only: no curl_global_init needed */
    tokfs_err err = {""};
    CHECK(ev.fd >= 0 && ev.fetcher);
    CHECK_EQ_INT(tokfs_tokenizer_open("gpt2", NULL, NULL, &ev.tok, &err), 0);
    if (ev.fd >= 0 && ev.fetcher && ev.tok) {
        test_build(&ev);
        test_seekable(&ev);
    }
    if (ev.tok)
        tokfs_tokenizer_close(ev.tok);
    tokfs_fetcher_free(ev.fetcher);
    if (ev.fd >= 0)
        close(ev.fd);
    /* the files written here, then the dir */
    const char *names[] = {"a.bin", "b.bin", "c.bin", "d.npy", "e.bin.zst", "f.bin.zst",
                           "list.txt", "plan.tsv", "notes.txt", "short.bin", "shard.out",
                           "g.bin.zst"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", ev.dir, names[i]);
        unlink(path);
    }
    CHECK(rmdir(ev.dir) == 0);
    CHECK_DONE();
}
