/* Property test of compressed sources through core/plan/plan.c and core/build/shard_build.c: .zst and .gz
 * files listed, planned, and every piece built gives exactly the expected token stream.
 *
 * Each random corpus (an @list in a temp dir) holds a plain .jsonl; a seekable .jsonl.zst (zstd
 * seekable format: frames cut at random byte offsets, inside records and exactly at their
 * starts, empty frames included, a record spanning many frames, seek table with or without
 * checksums); a plain multi-frame .jsonl.zst (no seek table: never cut); a multi-member .json.gz
 * with an empty member; a .txt.gz and a .txt.zst; an .ndjson.zst seekable file ending without a
 * newline. Records are written here, so the expected stream (bytes tokenizer: every valid
 * record's text, then 256) does not come from parsing the files. For several shard sizes:
 *   - seekable files are cut, and only at frame starts of their seek table; the other compressed
 *     files are whole pieces; small compressed files pack into one piece at a large shard_size;
 *   - the pieces, built one by one, concatenate to the expected stream (every record in exactly
 *     one shard), rebuilding gives the same checksum.
 * (That a piece of a seekable file fetches only about its frames shows over HTTP, in
 * tests/integration/test_compressed.sh: local reads here go in 256 KiB chunks.)
 * Fixed cases: a flipped byte in a seekable file fails only the piece that reads it (-EIO, the
 * message names the file and a compressed byte offset); a truncated .gz and trailing garbage
 * fail (-EIO); a piece whose cut is not a frame start fails; plan cutting of compressed sources
 * weighs them by TOKFS_COMPRESSED_EXPANSION; a compressed .txt over max_doc_bytes in every
 * txt_doc= mode gives what the plain .txt of the same text gives.
 *
 * TOKFS_TEST_SEED varies the corpora, TOKFS_TEST_CASES sets their number (default 25). */
#include "check.h"
#include "common/config.h"
#include "common/endian.h"
#include "common/hash.h"
#include "decode/decompress.h"
#include "source/fetch.h"
#include "plan/plan.h"
#include "build/shard_build.h"
#include "tokenize/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static uint64_t rng = 0x636f6d7072657373ull;
static uint64_t rnd(uint64_t n)
{
    return n ? tokfs_splitmix64(&rng) % n : 0;
}

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_le32(buf *b, uint32_t v)
{
    uint8_t p[4];
    tokfs_store_le32(p, v);
    put(b, p, 4);
}

static void put_ids(buf *ids, const uint8_t *d, size_t n) /* bytes tokenizer, then eot */
{
    for (size_t i = 0; i < n; i++) {
        uint8_t id[2] = {d[i], 0};
        put(ids, id, 2);
    }
    uint8_t eot[2] = {0, 1};
    put(ids, eot, 2);
}

/* JSONL body of random records; their ids appended to want. */
static void make_jsonl(buf *body, buf *want, int nrec, int final_newline)
{
    static const char *words[] = {"alpha", "beta", "shard", "token", "x", "frame", "zstd", "gz"};
    for (int r = 0; r < nrec; r++) {
        uint64_t roll = rnd(100);
        if (roll < 4) {
            put(body, "{\"text\": broken\n", 16); /* malformed: skipped */
            continue;
        }
        if (roll < 7) {
            put(body, "\n", 1); /* blank: not a record */
            continue;
        }
        buf doc = {0};
        size_t words_n = roll < 10 ? 2000 + rnd(3000) : rnd(60); /* some span many frames */
        for (size_t w = 0; w < words_n; w++) {
            const char *word = words[rnd(8)];
            if (w)
                put(&doc, " ", 1);
            put(&doc, word, strlen(word));
        }
        put(body, "{\"id\": 1, \"text\": \"", 19);
        put(body, doc.d, doc.n);
        put(body, "\"}", 2);
        if (r + 1 < nrec || final_newline)
            put(body, "\n", 1);
        put_ids(want, doc.d, doc.n);
        free(doc.d);
    }
}

static void zstd_frame(buf *out, const uint8_t *data, size_t n)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *tmp = malloc(cap ? cap : 1);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    size_t r = ZSTD_compress2(c, tmp, cap, data, n);
    CHECK(!ZSTD_isError(r));
    put(out, tmp, r);
    ZSTD_freeCCtx(c);
    free(tmp);
}

static void gzip_member(buf *out, const uint8_t *data, size_t n)
{
    z_stream z = {0};
    CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, n) + 64;
    uint8_t *tmp = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = tmp;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    put(out, tmp, cap - z.avail_out);
    deflateEnd(&z);
    free(tmp);
}

/* Frames cut at random offsets (some at record starts, some empty); seek table if seekable.
 * frame_starts gets each frame's compressed offset. */
static void write_zst(buf *out, const buf *body, int seekable, int checksums, int64_t *frame_starts,
                     int *nframes)
{
    size_t cuts[256];
    int n = 0;
    size_t pos = 0;
    while (n < 200) {
        uint64_t roll = rnd(10);
        size_t next;
        if (roll < 2) {
            next = pos; /* an empty frame */
        } else if (roll < 5) {
            const uint8_t *nl = memchr(body->d + pos, '\n', body->n - pos);
            next = nl ? (size_t)(nl - body->d) + 1 : body->n; /* at a record start */
        } else {
            next = pos + 1 + rnd(1500);
        }
        if (next >= body->n)
            break;
        cuts[n++] = next;
        pos = next;
    }
    cuts[n++] = body->n;
    uint32_t csize[256], dsize[256];
    pos = 0;
    for (int f = 0; f < n; f++) {
        size_t before = out->n;
        frame_starts[f] = (int64_t)before;
        zstd_frame(out, body->d + pos, cuts[f] - pos);
        csize[f] = (uint32_t)(out->n - before);
        dsize[f] = (uint32_t)(cuts[f] - pos);
        pos = cuts[f];
    }
    *nframes = n;
    frame_starts[n] = (int64_t)out->n; /* where the seek table (if any) starts */
    if (!seekable)
        return;
    size_t entry = checksums ? 12 : 8;
    put_le32(out, 0x184D2A5Eu);
    put_le32(out, (uint32_t)((size_t)n * entry + 9));
    for (int f = 0; f < n; f++) {
        put_le32(out, csize[f]);
        put_le32(out, dsize[f]);
        if (checksums)
            put_le32(out, (uint32_t)rnd(1u << 31));
    }
    put_le32(out, (uint32_t)n);
    uint8_t desc = checksums ? 0x80 : 0;
    put(out, &desc, 1);
    put_le32(out, 0x8F92EAB1u);
}

static int write_file(const char *path, const buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = b->n ? write(fd, b->d, b->n) : 0;
    close(fd);
    return w == (ssize_t)b->n ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

typedef struct env {
    char root[PATH_MAX];
    tokfs_fetcher *fetcher;
    tokfs_tokenizer *tok;
} env;

typedef struct corpus {
    char list[PATH_MAX + 32];
    buf want;
    int nsources;
    /* seekable sources: index in the list and frame starts */
    int seek_source[2];
    int64_t seek_starts[2][257];
    int seek_nframes[2];
    int64_t seek_size[2];
} corpus;

static void add_file(env *ev, buf *list, const char *name, const buf *data)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", ev->root, name);
    CHECK(write_file(path, data) == 0);
    put(list, name, strlen(name));
    put(list, "\n", 1);
}

static void make_corpus(env *ev, corpus *c)
{
    memset(c, 0, sizeof *c);
    buf list = {0};
    /* 0: plain JSONL */
    buf body = {0}, z = {0};
    make_jsonl(&body, &c->want, 10 + (int)rnd(40), 1);
    add_file(ev, &list, "a.jsonl", &body);
    /* 1: seekable .jsonl.zst */
    body.n = 0;
    make_jsonl(&body, &c->want, 60 + (int)rnd(200), 1);
    write_zst(&z, &body, 1, (int)rnd(2), c->seek_starts[0], &c->seek_nframes[0]);
    c->seek_source[0] = 1;
    c->seek_size[0] = (int64_t)z.n;
    add_file(ev, &list, "s.jsonl.zst", &z);
    /* 2: plain multi-frame .jsonl.zst */
    body.n = z.n = 0;
    int64_t starts[257];
    int nf;
    make_jsonl(&body, &c->want, 20 + (int)rnd(60), 1);
    write_zst(&z, &body, 0, 0, starts, &nf);
    add_file(ev, &list, "m.jsonl.zst", &z);
    /* 3: multi-member .json.gz with an empty member */
    body.n = z.n = 0;
    make_jsonl(&body, &c->want, 20 + (int)rnd(60), (int)rnd(2));
    size_t half = rnd(body.n + 1);
    gzip_member(&z, body.d, half);
    gzip_member(&z, NULL, 0);
    gzip_member(&z, body.d + half, body.n - half);
    add_file(ev, &list, "g.json.gz", &z);
    /* 4, 5: .txt.gz and .txt.zst: one document each, raw bytes */
    body.n = z.n = 0;
    for (size_t i = 0, n = rnd(3) ? rnd(5000) : 0; i < n; i++) { /* empty at times */
        uint8_t ch = (uint8_t)rnd(256);
        put(&body, &ch, 1);
    }
    gzip_member(&z, body.d, body.n);
    add_file(ev, &list, "t.txt.gz", &z);
    put_ids(&c->want, body.d, body.n);
    z.n = 0;
    zstd_frame(&z, body.d, body.n / 2);
    zstd_frame(&z, body.d + body.n / 2, body.n - body.n / 2);
    add_file(ev, &list, "u.txt.zst", &z);
    put_ids(&c->want, body.d, body.n);
    /* 6: seekable .ndjson.zst without a final newline */
    body.n = z.n = 0;
    make_jsonl(&body, &c->want, 30 + (int)rnd(100), 0);
    write_zst(&z, &body, 1, (int)rnd(2), c->seek_starts[1], &c->seek_nframes[1]);
    c->seek_source[1] = 6;
    c->seek_size[1] = (int64_t)z.n;
    add_file(ev, &list, "n.ndjson.zst", &z);
    c->nsources = 7;
    snprintf(c->list, sizeof c->list, "%s/list.txt", ev->root);
    CHECK(write_file(c->list, &list) == 0);
    free(list.d);
    free(body.d);
    free(z.d);
}

/* Build piece k into got (appended). */
static int build_piece(env *ev, const tokfs_plan *plan, uint32_t k, const tokfs_config *cfg,
                       buf *got, tokfs_build_stats *st, tokfs_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/shard.bin", ev->root);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    tokfs_build_output out = {.fd = fd};
    int rc = tokfs_build_shard(plan, k, ev->tok, cfg, ev->fetcher, &out, st, err);
    if (rc == 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        uint8_t *d = malloc((size_t)size + 1);
        CHECK(pread(fd, d, (size_t)size, 0) == size);
        put(got, d, (size_t)size);
        free(d);
    }
    close(fd);
    unlink(path);
    return rc;
}

static int is_frame_start(const corpus *c, int which, int64_t off)
{
    if (off == 0 || off == c->seek_size[which])
        return 1;
    for (int f = 0; f < c->seek_nframes[which]; f++)
        if (c->seek_starts[which][f] == off)
            return 1;
    return 0;
}

static void init_cfg(tokfs_config *cfg, const char *source, uint64_t shard_size)
{
    tokfs_err err = {""};
    tokfs_config_init(cfg, NULL, "/nonexistent-home", &err);
    cfg->source = strdup(source);
    cfg->shard_size = shard_size;
    cfg->val_shards = 0;
}

static void test_corpora(env *ev, int cases)
{
    uint64_t pieces_total = 0, seek_cuts = 0;
    for (int k = 0; k < cases; k++) {
        corpus c;
        make_corpus(ev, &c);
        char source[PATH_MAX + 40];
        snprintf(source, sizeof source, "@%s", c.list);
        const uint64_t sizes[] = {40, 200, 1500, 6000, 40000, 100000000};
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            tokfs_config cfg;
            init_cfg(&cfg, source, sizes[si]);
            tokfs_plan plan;
            tokfs_err err = {""};
            int rc = tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err);
            CHECK_EQ_INT(rc, 0);
            if (rc) {
                fprintf(stderr, "plan: %s\n", err.msg);
                tokfs_config_free(&cfg);
                continue;
            }
            CHECK_EQ_INT(plan.nsources, c.nsources);
            int cuts_in[2] = {0, 0};
            for (uint32_t p = 0; p < plan.npieces; p++) {
                const tokfs_piece *pc = &plan.pieces[p];
                for (uint32_t s = pc->first_source; s <= pc->last_source; s++) {
                    int64_t b = s == pc->first_source ? pc->begin : 0;
                    int64_t e = s == pc->last_source ? pc->end : plan.sources[s].info.size;
                    int which = (int)s == c.seek_source[0] ? 0 : (int)s == c.seek_source[1] ? 1 : -1;
                    if (which >= 0) {
                        CHECK(is_frame_start(&c, which, b) && is_frame_start(&c, which, e));
                        cuts_in[which] += e < c.seek_size[which];
                    } else if (tokfs_format_codec(plan.sources[s].format)) {
                        CHECK(b == 0 && e == plan.sources[s].info.size); /* whole */
                    }
                }
            }
            seek_cuts += (uint64_t)(cuts_in[0] + cuts_in[1]);
            if (sizes[si] <= 200)
                CHECK(cuts_in[0] > 0); /* the seekable file is cut */
            if (sizes[si] >= 100000000)
                CHECK_EQ_INT(plan.npieces, 1); /* everything packs into one piece */
            buf got = {0};
            for (uint32_t p = 0; p < plan.npieces; p++) {
                tokfs_build_stats st, st2;
                size_t before = got.n;
                rc = build_piece(ev, &plan, p, &cfg, &got, &st, &err);
                CHECK_EQ_INT(rc, 0);
                if (rc) {
                    fprintf(stderr, "case %d shard_size %" PRIu64 " piece %u: %s\n", k, sizes[si],
                            p, err.msg);
                    break;
                }
                CHECK_EQ_INT(st.tokens * 2, got.n - before);
                if (p % 5 == 0) { /* rebuilding gives the same shard */
                    buf again = {0};
                    CHECK_EQ_INT(build_piece(ev, &plan, p, &cfg, &again, &st2, &err), 0);
                    CHECK_EQ_INT(st2.checksum, st.checksum);
                    free(again.d);
                }
            }
            pieces_total += plan.npieces;
            if (got.n != c.want.n || memcmp(got.d, c.want.d, got.n) != 0) {
                size_t i = 0;
                while (i < got.n && i < c.want.n && got.d[i] == c.want.d[i])
                    i++;
                fprintf(stderr, "case %d shard_size %" PRIu64 ": stream differs (%zu vs %zu bytes, "
                        "first difference at token %zu)\n", k, sizes[si], got.n, c.want.n, i / 2);
                check_failures++;
            }
            free(got.d);
            tokfs_plan_free(&plan);
            tokfs_config_free(&cfg);
        }
        free(c.want.d);
    }
    printf("test_compressed_build: %d corpora, %" PRIu64 " pieces, %" PRIu64
           " cuts at frame boundaries\n", cases, pieces_total, seek_cuts);
}

static void replace_file(const char *path, const buf *data)
{
    CHECK(write_file(path, data) == 0);
}

static int read_file(const char *path, buf *out)
{
    out->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        put(out, tmp, (size_t)n);
    close(fd);
    return 0;
}

static void test_failures(env *ev)
{
    corpus c;
    make_corpus(ev, &c);
    char source[PATH_MAX + 40], path[PATH_MAX + 64];
    snprintf(source, sizeof source, "@%s", c.list);
    tokfs_config cfg;
    init_cfg(&cfg, source, 200);

    /* a flipped byte in the middle of the seekable file: only the piece reading it fails */
    snprintf(path, sizeof path, "%s/s.jsonl.zst", ev->root);
    buf orig = {0}, bad = {0};
    read_file(path, &orig);
    int big = 0; /* flip a byte in the middle of the largest frame */
    for (int f = 1; f < c.seek_nframes[0]; f++) {
        if (c.seek_starts[0][f + 1] - c.seek_starts[0][f] >
            c.seek_starts[0][big + 1] - c.seek_starts[0][big])
            big = f;
    }
    int64_t flip_at = (c.seek_starts[0][big] + c.seek_starts[0][big + 1]) / 2;
    put(&bad, orig.d, orig.n);
    bad.d[flip_at] ^= 0x5a;
    replace_file(path, &bad);
    tokfs_plan plan;
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    int failed = 0, ok = 0;
    for (uint32_t p = 0; p < plan.npieces; p++) {
        buf got = {0};
        tokfs_build_stats st;
        err.msg[0] = '\0';
        int rc = build_piece(ev, &plan, p, &cfg, &got, &st, &err);
        if (rc) {
            CHECK_EQ_INT(rc, -EIO);
            CHECK(strstr(err.msg, "s.jsonl.zst") && strstr(err.msg, "compressed byte"));
            failed++;
        } else {
            ok++;
        }
        free(got.d);
    }
    /* its piece; maybe the one before (finishing a record) and the one after (its last byte) */
    if (failed < 1 || failed > 3) {
        fprintf(stderr, "flip at %lld: %d pieces failed\n", (long long)flip_at, failed);
        check_failures++;
    }
    CHECK(ok >= 3);
    tokfs_plan_free(&plan);

    /* a cut that is not a frame start */
    replace_file(path, &orig);
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    for (uint32_t p = 0; p < plan.npieces; p++)
        if ((int)plan.pieces[p].first_source == c.seek_source[0] && plan.pieces[p].begin > 0) {
            plan.pieces[p].begin += 1;
            buf got = {0};
            tokfs_build_stats st;
            CHECK_EQ_INT(build_piece(ev, &plan, p, &cfg, &got, &st, &err), -EIO);
            CHECK(strstr(err.msg, "does not match") != NULL);
            free(got.d);
            break;
        }
    tokfs_plan_free(&plan);

    /* a truncated .gz, trailing garbage after the last member */
    snprintf(path, sizeof path, "%s/g.json.gz", ev->root);
    read_file(path, &orig);
    for (int variant = 0; variant < 2; variant++) {
        bad.n = 0;
        put(&bad, orig.d, variant ? orig.n : orig.n - 3);
        if (variant)
            put(&bad, "GARBAGE", 7);
        replace_file(path, &bad);
        CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
        int fails = 0;
        for (uint32_t p = 0; p < plan.npieces; p++) {
            buf got = {0};
            tokfs_build_stats st;
            int rc = build_piece(ev, &plan, p, &cfg, &got, &st, &err);
            if (rc) {
                fails++;
                CHECK_EQ_INT(rc, -EIO);
                CHECK(strstr(err.msg, "g.json.gz") != NULL);
                CHECK(strstr(err.msg, variant ? "corrupt gzip" : "truncated gzip") != NULL);
            }
            free(got.d);
        }
        CHECK_EQ_INT(fails, 1);
        tokfs_plan_free(&plan);
    }
    replace_file(path, &orig);
    free(orig.d);
    free(bad.d);
    free(c.want.d);
    tokfs_config_free(&cfg);
}

/* Cutting without I/O: compressed sources weigh TOKFS_COMPRESSED_EXPANSION x their size. */
static void test_cut_weights(void)
{
    tokfs_plan plan = {0};
    plan.nsources = 5;
    plan.sources = calloc(5, sizeof *plan.sources);
    const char *urls[] = {"/a.json.gz", "/b.txt.zst", "/c.jsonl.zst", "/d.jsonl", "/e.jsonl.gz"};
    int64_t sizes[] = {100, 100, 100, 100, 2000};
    for (int s = 0; s < 5; s++) {
        plan.sources[s].url = strdup(urls[s]);
        plan.sources[s].format = tokfs_format_from_name(urls[s]);
        plan.sources[s].info.size = sizes[s];
        plan.sources[s].info.accepts_ranges = 1;
    }
    tokfs_config cfg;
    init_cfg(&cfg, "@/list", 1000);
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
    /* 400 + 400 (+ 400 would overflow 1000) | 400 + 100 (+ 8000 would) | 8000 whole */
    CHECK_EQ_INT(plan.npieces, 3);
    if (plan.npieces == 3) {
        CHECK_EQ_INT(plan.pieces[0].last_source, 1);
        CHECK_EQ_INT(plan.pieces[0].source_bytes, 800);
        CHECK_EQ_INT(plan.pieces[1].first_source, 2);
        CHECK_EQ_INT(plan.pieces[1].last_source, 3);
        CHECK_EQ_INT(plan.pieces[2].first_source, 4);
        CHECK_EQ_INT(plan.pieces[2].begin, 0);
        CHECK_EQ_INT(plan.pieces[2].end, 2000); /* a compressed source is never cut by bytes */
        CHECK_EQ_INT(plan.pieces[2].source_bytes, 8000);
    }
    /* a seek table: cut at frame starts by decompressed sizes */
    tokfs_seek_table *t = calloc(1, sizeof *t);
    t->nframes = 4;
    int64_t cs[] = {0, 10, 20, 30, 40}, ds[] = {0, 600, 1200, 1250, 2500};
    t->c_start = malloc(sizeof cs);
    t->d_start = malloc(sizeof ds);
    memcpy(t->c_start, cs, sizeof cs);
    memcpy(t->d_start, ds, sizeof ds);
    plan.sources[2].frames = t;
    plan.sources[2].info.size = 57;
    CHECK_EQ_INT(tokfs_plan_cut(&plan, &cfg, 1.0, &err), 0);
    /* like a byte-cuttable source, it continues the open piece: 400 + 400 + frame 0 (600) |
     * frames 1-3 (1900, through 57) | d 100 (+ 8000 would overflow) | e */
    CHECK_EQ_INT(plan.npieces, 4);
    if (plan.npieces == 4) {
        CHECK_EQ_INT(plan.pieces[0].last_source, 2);
        CHECK_EQ_INT(plan.pieces[0].end, 10);
        CHECK_EQ_INT(plan.pieces[0].source_bytes, 1400);
        CHECK_EQ_INT(plan.pieces[1].first_source, 2);
        CHECK_EQ_INT(plan.pieces[1].last_source, 2);
        CHECK_EQ_INT(plan.pieces[1].begin, 10);
        CHECK_EQ_INT(plan.pieces[1].end, 57);
        CHECK_EQ_INT(plan.pieces[1].source_bytes, 1900);
        CHECK_EQ_INT(plan.pieces[2].first_source, 3);
        CHECK_EQ_INT(plan.pieces[3].first_source, 4);
    }
    tokfs_plan_free(&plan); /* frees the seek table too */
    tokfs_config_free(&cfg);
}

/* Every piece of SOURCE (one file) with txt_doc=mode, concatenated into got. */
static void build_txt(env *ev, const char *source, int mode, uint64_t shard_size, buf *got,
                      uint64_t *docs, uint64_t *skips)
{
    tokfs_config cfg;
    init_cfg(&cfg, source, shard_size);
    cfg.txt_doc = mode;
    cfg.max_doc_bytes = 1024;
    tokfs_plan plan;
    tokfs_err err = {""};
    *docs = *skips = 0;
    CHECK_EQ_INT(tokfs_plan_build(&cfg, 1.0, ev->fetcher, &plan, &err), 0);
    for (uint32_t k = 0; k < plan.npieces; k++) {
        tokfs_build_stats st;
        CHECK_EQ_INT(build_piece(ev, &plan, k, &cfg, got, &st, &err), 0);
        *docs += st.documents;
        *skips += st.skipped_records;
    }
    tokfs_plan_free(&plan);
    tokfs_config_free(&cfg);
}

/* A compressed .txt (gzip, two zstd frames) over max_doc_bytes is read whole, one piece: with
 * txt_doc=file one document (no longer skipped), with line and paragraph the same documents
 * as the plain .txt of the same text (whose documents test_shard_build checks against a
 * model), cut into pieces or not. */
static void test_txt_modes(env *ev)
{
    buf text = {0}, z = {0};
    static const char *const bits[] = {"word ", "w", "\n", "\n\n", " \t\n", "\r\n", "é", "x"};
    while (text.n < 60000) {
        if (rnd(150) == 0)
            for (int k = 0; k < 1100; k++)
                put(&text, "y", 1); /* a line and a paragraph over max_doc_bytes */
        const char *b = bits[rnd(sizeof bits / sizeof bits[0])];
        put(&text, b, strlen(b));
    }
    char plain[PATH_MAX + 32], gz[PATH_MAX + 32], zs[PATH_MAX + 32];
    snprintf(plain, sizeof plain, "%s/p.txt", ev->root);
    snprintf(gz, sizeof gz, "%s/p.txt.gz", ev->root);
    snprintf(zs, sizeof zs, "%s/p.txt.zst", ev->root);
    CHECK(write_file(plain, &text) == 0);
    gzip_member(&z, text.d, text.n);
    CHECK(write_file(gz, &z) == 0);
    z.n = 0;
    zstd_frame(&z, text.d, text.n / 3);
    zstd_frame(&z, text.d + text.n / 3, text.n - text.n / 3);
    CHECK(write_file(zs, &z) == 0);
    for (int mode = TOKFS_TXT_DOC_FILE; mode <= TOKFS_TXT_DOC_PARAGRAPH; mode++) {
        buf want = {0};
        uint64_t want_docs, want_skips;
        build_txt(ev, plain, mode, 5000, &want, &want_docs, &want_skips); /* ~12 pieces */
        if (mode == TOKFS_TXT_DOC_FILE) {
            buf whole = {0};
            put_ids(&whole, text.d, text.n);
            CHECK_MEM(want.d, want.n, whole.d, whole.n);
            CHECK_EQ_INT(want_docs, 1);
            free(whole.d);
        } else {
            CHECK(want_docs > 10 && want_skips > 0);
        }
        const char *compressed[] = {gz, zs};
        for (int c = 0; c < 2; c++) {
            buf got = {0};
            uint64_t docs, skips;
            build_txt(ev, compressed[c], mode, 5000, &got, &docs, &skips);
            CHECK_MEM(got.d, got.n, want.d, want.n);
            CHECK_EQ_INT(docs, want_docs);
            CHECK_EQ_INT(skips, want_skips);
            free(got.d);
        }
        free(want.d);
    }
    unlink(plain);
    unlink(gz);
    unlink(zs);
    free(text.d);
    free(z.d);
}

int main(void)
{
    const char *seed = getenv("TOKFS_TEST_SEED");
    if (seed)
        rng = strtoull(seed, NULL, 0);
    const char *cases_env = getenv("TOKFS_TEST_CASES");
    int cases = cases_env ? atoi(cases_env) : 25;
    printf("test_compressed_build: seed 0x%016" PRIx64 " (set TOKFS_TEST_SEED to repeat)\n", rng);
    env ev;
    memset(&ev, 0, sizeof ev);
    char tmpl[] = "/tmp/tokfs-zbuild-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, ev.root)) {
        perror("mkdtemp");
        return 1;
    }
    tokfs_fetch_config fcfg = {.retries = 0, .timeout_ms = 1000};
    ev.fetcher = tokfs_fetcher_new(&fcfg);
    tokfs_err err = {""};
    CHECK_EQ_INT(tokfs_tokenizer_open("bytes", NULL, NULL, &ev.tok, &err), 0);
    test_cut_weights();
    test_corpora(&ev, cases);
    test_failures(&ev);
    test_txt_modes(&ev);
    tokfs_tokenizer_close(ev.tok);
    tokfs_fetcher_free(ev.fetcher);
    nftw(ev.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    CHECK_DONE();
}
