/* core/build/feed.c through tokfs_build_shard: the hand-off between the readers and the pool on
 * a corpus of long JSON lines, where the feed's own paths run — a long line's member decoded into
 * a chunk of its own, several long lines in a row (the third waits for one of two chunks to come
 * back), a longer one than every spare (the largest spare grown in place), a long line that is no
 * document (its room dropped unused, small records then packed after it), escapes and a
 * duplicate member in long lines — with 1, 2 and 3 pool threads; and errors on either side of the
 * feed: the writer's reserve refusing mid-build (the feeder fails while the reader pushes) and a
 * cancel, which must come back as the build's error without hanging.
 *
 * tokenizer=bytes: the expected shard is every document's bytes, each followed by 256, as
 * little-endian uint16, computed here from the documents as written. */
#include "check.h"
#include "common/config.h"
#include "source/fetch.h"
#include "plan/plan.h"
#include "build/shard_build.h"
#include "tokenize/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t len)
{
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        b->d = realloc(b->d, cap);
        if (!b->d)
            abort();
        b->cap = cap;
    }
    memcpy(b->d + b->n, data, len);
    b->n += len;
}

static void put_str(bytes *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The expected ids of one document: its bytes, then the end-of-text id. */
static void expect_doc(bytes *want, const bytes *doc)
{
    for (size_t i = 0; i <= doc->n; i++) {
        unsigned id = i < doc->n ? doc->d[i] : 256;
        uint8_t le[2] = {(uint8_t)id, (uint8_t)(id >> 8)};
        put(want, le, 2);
    }
}

static uint64_t rng = 0x666565645f746573ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A record {"text": DOC} of about len document bytes (escapes included), appended to file; the
 * document to want's ids unless dup (then a first "text" member that the second replaces). */
static void put_record(bytes *file, bytes *want, size_t len, int dup)
{
    bytes doc = {0};
    put_str(file, dup ? "{\"text\": \"replaced\\n\", \"id\": 7, \"text\": \"" : "{\"text\": \"");
    while (doc.n < len) {
        unsigned r = rnd(40);
        if (r == 0) {
            put_str(file, "\\n");
            put_str(&doc, "\n");
        } else if (r == 1) {
            put_str(file, "\\\"");
            put_str(&doc, "\"");
        } else if (r == 2) {
            put_str(file, "\\u00e9");
            put_str(&doc, "\xc3\xa9");
        } else {
            char c = (char)('a' + rnd(26));
            if (r < 8)
                c = ' ';
            put(file, &c, 1);
            put(&doc, &c, 1);
        }
    }
    put_str(file, "\"}\n");
    expect_doc(want, &doc);
    free(doc.d);
}

typedef struct refuse {
    uint64_t above; /* 0: never */
    atomic_int *cancel_above_flag;
    uint64_t cancel_above;
} refuse;

static int reserve_cb(void *ctx, uint64_t new_size)
{
    refuse *r = ctx;
    if (r->cancel_above_flag && new_size > r->cancel_above)
        atomic_store(r->cancel_above_flag, 1);
    return r->above && new_size > r->above ? -ENOSPC : 0;
}

static int read_all(int fd, bytes *out)
{
    out->n = 0;
    uint8_t tmp[1 << 16];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, tmp, sizeof tmp, off);
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        put(out, tmp, (size_t)n);
        off += n;
    }
}

int main(void)
{
    char root[] = "/tmp/tokfs-test-feed-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char src[PATH_MAX], out_path[PATH_MAX];
    snprintf(src, sizeof src, "%s/long.jsonl", root);
    snprintf(out_path, sizeof out_path, "%s/shard.bin", root);

    /* The corpus: small records around runs of long lines (over a 256 KiB batch). */
    bytes file = {0}, want = {0};
    uint64_t docs = 0, skips = 0;
    static const size_t run1[] = {300000, 700000, 1200000, 2500000}; /* 4 long in a row */
    static const size_t run2[] = {400000, 2600000, 3100000, 270000}; /* longer than any spare */
    for (int i = 0; i < 50; i++, docs++)
        put_record(&file, &want, 1 + rnd(3000), 0);
    for (size_t i = 0; i < sizeof run1 / sizeof *run1; i++, docs++)
        put_record(&file, &want, run1[i], 0);
    /* a long line that is no document (cut short before its closing quote): skipped */
    put_str(&file, "{\"text\": \"");
    for (int i = 0; i < 400000; i++)
        put_str(&file, "x");
    put_str(&file, "\n");
    skips++;
    for (int i = 0; i < 30; i++, docs++)
        put_record(&file, &want, 1 + rnd(2000), 0);
    put_record(&file, &want, 600000, 1); /* a duplicate member: the last one is the document */
    docs++;
    for (size_t i = 0; i < sizeof run2 / sizeof *run2; i++, docs++) {
        put_record(&file, &want, run2[i], 0);
        put_record(&file, &want, 1 + rnd(500), 0);
        docs++;
    }
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, file.d, file.n) == (ssize_t)file.n);
    close(fd);

    tokfs_err err = {""};
    tokfs_config cfg;
    CHECK_EQ_INT(tokfs_config_init(&cfg, NULL, "/nonexistent-home", &err), 0);
    cfg.source = strdup(src);
    cfg.shard_size = 1000000000; /* one piece */
    cfg.val_shards = 0;
    tokfs_fetch_config fcfg = {.retries = 0, .timeout_ms = 5000, .backoff_base_ms = 0};
    tokfs_fetcher *fetcher = tokfs_fetcher_new(&fcfg);
    tokfs_tokenizer *tok = NULL;
    CHECK_EQ_INT(tokfs_tokenizer_open("bytes", NULL, NULL, &tok, &err), 0);
    tokfs_plan plan;
    CHECK_EQ_INT(tokfs_plan_build(&cfg, tok->bytes_per_token, fetcher, &plan, &err), 0);
    CHECK_EQ_INT(plan.npieces, 1);
    int out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(out_fd >= 0);
    bytes got = {0};

    for (unsigned workers = 1; workers <= 3; workers++) {
        cfg.workers = workers;
        CHECK(ftruncate(out_fd, 0) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
        tokfs_build_output out = {.fd = out_fd};
        tokfs_build_stats st;
        int rc = tokfs_build_shard(&plan, 0, tok, &cfg, fetcher, &out, &st, &err);
        if (rc)
            fprintf(stderr, "workers=%u: %d (%s)\n", workers, rc, err.msg);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(read_all(out_fd, &got), 0);
        CHECK_MEM(got.d, got.n, want.d, want.n);
        CHECK_EQ_INT(st.tokens, want.n / 2);
        CHECK_EQ_INT(st.documents, docs);
        CHECK_EQ_INT(st.skipped_records, skips);
        CHECK(strstr(st.first_skip, "malformed JSON line") != NULL);

        /* The writer's reserve refuses once the file passes 3 MB: the feeder fails while the
         * reader is still pushing long lines; the build ends with that error. */
        CHECK(ftruncate(out_fd, 0) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
        refuse r = {.above = 3000000};
        out.reserve = reserve_cb;
        out.reserve_ctx = &r;
        rc = tokfs_build_shard(&plan, 0, tok, &cfg, fetcher, &out, &st, &err);
        CHECK_EQ_INT(rc, -ENOSPC);
        CHECK(strstr(err.msg, "cannot reserve cache space") != NULL);

        /* Cancelled once the file passes 2 MB: -ECANCELED, from whichever side sees it first. */
        CHECK(ftruncate(out_fd, 0) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
        atomic_int cancel = 0;
        refuse c = {.cancel_above_flag = &cancel, .cancel_above = 2000000};
        out.reserve_ctx = &c;
        out.cancel = &cancel;
        rc = tokfs_build_shard(&plan, 0, tok, &cfg, fetcher, &out, &st, &err);
        CHECK_EQ_INT(rc, -ECANCELED);
    }

    tokfs_plan_free(&plan);
    tokfs_config_free(&cfg);
    tokfs_tokenizer_close(tok);
    tokfs_fetcher_free(fetcher);
    close(out_fd);
    unlink(out_path);
    unlink(src);
    rmdir(root);
    free(file.d);
    free(want.d);
    free(got.d);
    printf("test_build_feed: %llu documents, %zu ids, workers 1..3\n", (unsigned long long)docs,
           want.n / 2);
    CHECK_DONE();
}
