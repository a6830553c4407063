/* bench/tokpool_bench.c — the tokenizing of one shard on 1..N threads, and nothing else.
 *
 * A shard build is fetch -> JSON decode -> tokenize -> write. bench/shard_threads.sh times all
 * of it through a mount; this program isolates the tokenizing stage (core/tokenize/tokpool.c, the code a
 * shard build runs), so its speed-up with threads is measured without the builder's own serial
 * work (reading, JSON decoding, writing), which already overlaps a single tokenizer thread.
 *
 * It reads a JSONL file, decodes every record's "text" member into memory (untimed), then for
 * each thread count feeds all documents through tokfs_tokpool (start, add each document,
 * finish) into a sink that folds the ids into a checksum, as a shard would receive them. Every
 * run starts new threads, so the per-thread piece caches start cold, as in a real build. The
 * best of --runs counts; the checksums of all thread counts must agree (output order and ids
 * do not depend on the thread count), else it exits 1.
 *
 *   tokpool_bench [--tokenizer gpt2] [--runs 3] [--threads 1,2] FILE.jsonl
 *
 * Prints one markdown table row per thread count: threads, seconds, MB/s of document text,
 * speed-up over the first count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/error.h"
#include "decode/jsonl.h"
#include "tokenize/tokenizer.h"
#include "tokenize/tokpool.h"

typedef struct corpus {
    tokfs_buf text; /* documents back to back */
    size_t *ends;   /* end offset of each */
    size_t ndocs;
} corpus;

/* A Fletcher-style checksum of the ids in order: cheap, so that the thread handing documents
 * in (which also runs the sink, as a shard build's does) takes little of the CPU. */
typedef struct fold {
    uint64_t sum, sum2;
    uint64_t count;
} fold;

static int fold_put(void *ctx, const uint32_t *ids, size_t n)
{
    fold *f = ctx;
    uint64_t a = f->sum, b = f->sum2;
    for (size_t i = 0; i < n; i++) {
        a += ids[i];
        b += a;
    }
    f->sum = a;
    f->sum2 = b;
    f->count += n;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int load_corpus(const char *path, corpus *c, tokfs_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tokfs_err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, ends_cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        /* a decoded text member is never longer than its line */
        if ((rc = tokfs_buf_reserve(&c->text, (size_t)n)) != 0)
            break;
        if (c->ndocs == ends_cap) {
            size_t *grown = realloc(c->ends, (ends_cap ? ends_cap * 2 : 1024) * sizeof *grown);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            c->ends = grown;
            ends_cap = ends_cap ? ends_cap * 2 : 1024;
        }
        size_t out_len = 0;
        if (tokfs_jsonl_field((const uint8_t *)line, (size_t)n, "text", 4,
                              c->text.data + c->text.len, &out_len))
            continue; /* not a record with text: skipped, as a shard build would */
        c->text.len += out_len;
        c->ends[c->ndocs++] = c->text.len;
    }
    free(line);
    fclose(f);
    return rc ? tokfs_err_set(err, -rc, "%s: out of memory", path) : 0;
}

static int run_once(const tokfs_tokenizer *tok, unsigned threads, const corpus *c, fold *out,
                    double *seconds)
{
    fold f = {0, 0, 0};
    tokfs_id_sink sink = {fold_put, &f};
    tokfs_tokpool *pool;
    double t0 = now();
    int rc = tokfs_tokpool_start(tok, threads, &sink, NULL, &pool);
    if (rc)
        return rc;
    size_t start = 0;
    for (size_t d = 0; d < c->ndocs && !rc; d++) {
        rc = tokfs_tokpool_add(pool, c->text.data + start, c->ends[d] - start);
        start = c->ends[d];
    }
    if (!rc)
        rc = tokfs_tokpool_finish(pool);
    tokfs_tokpool_free(pool);
    *seconds = now() - t0;
    *out = f;
    return rc;
}

int main(int argc, char **argv)
{
    const char *tokname = "gpt2", *threads_arg = "1,2", *path = NULL;
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            tokname = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads_arg = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: tokpool_bench [--tokenizer NAME] [--runs N] "
                            "[--threads 1,2,...] FILE.jsonl\n");
            return 2;
        }
    }
    if (!path || runs < 1) {
        fprintf(stderr, "usage: tokpool_bench [--tokenizer NAME] [--runs N] "
                        "[--threads 1,2,...] FILE.jsonl\n");
        return 2;
    }
    tokfs_err err = {0};
    tokfs_tokenizer *tok;
    if (tokfs_tokenizer_open(tokname, NULL, NULL, &tok, &err)) {
        fprintf(stderr, "tokpool_bench: %s\n", err.msg);
        return 1;
    }
    corpus c = {0};
    if (load_corpus(path, &c, &err)) {
        fprintf(stderr, "tokpool_bench: %s\n", err.msg);
        return 1;
    }
    printf("| tokenizer=%s, %zu documents, %.1f MB of text | seconds (best of %d) | MB/s | "
           "speed-up |\n| --- | --- | --- | --- |\n",
           tokname, c.ndocs, c.text.len / 1e6, runs);
    /* Runs interleave the thread counts (1, 2, 1, 2, ...) so that a change in the machine's
     * load during the benchmark hits every count alike; the best run of each counts. */
    unsigned counts[16];
    size_t ncounts = 0;
    char *list = strdup(threads_arg);
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item && ncounts < 16;
         item = strtok_r(NULL, ",", &save))
        if (atoi(item) > 0)
            counts[ncounts++] = (unsigned)atoi(item);
    double best[16];
    fold folds[16];
    for (int r = 0; r < runs; r++)
        for (size_t k = 0; k < ncounts; k++) {
            double seconds;
            int rc = run_once(tok, counts[k], &c, &folds[k], &seconds);
            if (rc) {
                fprintf(stderr, "tokpool_bench: encoding failed: %s\n", strerror(-rc));
                return 1;
            }
            if (!r || seconds < best[k])
                best[k] = seconds;
        }
    int status = 0;
    for (size_t k = 0; k < ncounts; k++) {
        if (folds[k].sum != folds[0].sum || folds[k].sum2 != folds[0].sum2 ||
            folds[k].count != folds[0].count) {
            fprintf(stderr, "tokpool_bench: %u threads gave other ids than %u\n", counts[k],
                    counts[0]);
            status = 1;
        }
        printf("| threads=%u | %.3f | %.1f | %.2fx |\n", counts[k], best[k],
               c.text.len / 1e6 / best[k], best[0] / best[k]);
    }
    free(list);
    tokfs_buf_free(&c.text);
    free(c.ends);
    tokfs_tokenizer_close(tok);
    return status;
}
