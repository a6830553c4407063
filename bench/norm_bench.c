/* tokfs — normalizer benchmark and driver: applies a tokenizer.json "normalizer" value to a file.
 *
 *   norm_bench SPEC.json INPUT [-o OUT] [-n REPEAT] [-l]
 *
 * SPEC.json holds the normalizer value alone (or a whole tokenizer.json: its "normalizer" is
 * used). Writes the normalized text to OUT when given (tests/tokref/norm_diff.js compares it with
 * the reference's), and the speed to stderr. -l: normalize each line (LF-separated, the LF kept
 * apart from the normalizer) instead of the whole file, as documents one by one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenize/normalize_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    int repeat = 1, lines = 0;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "-l") == 0)
            lines = 1;
        else if (npos < 2)
            pos[npos++] = argv[i];
    }
    if (npos != 2 || repeat < 1) {
        fprintf(stderr, "usage: norm_bench SPEC.json INPUT [-o OUT] [-n REPEAT] [-l]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *root = json_load_file(pos[0], JSON_ALLOW_NUL, &jerr);
    if (!root) {
        fprintf(stderr, "%s: %s\n", pos[0], jerr.text);
        return 1;
    }
    json_t *spec = json_object_get(root, "model") ? json_object_get(root, "normalizer") : root;
    tokfs_err err = {{0}};
    tokfs_norm *n;
    if (tokfs_norm_from_json(pos[0], spec, &n, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(pos[1], "rb");
    if (!f) {
        perror(pos[1]);
        return 1;
    }
    tokfs_buf in = {0};
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tokfs_buf_append(&in, chunk, got) < 0)
            return 1;
    fclose(f);
    tokfs_buf scratch = {0}, all = {0};
    double t0 = now();
    for (int r = 0; r < repeat; r++) {
        tokfs_buf_clear(&all);
        size_t start = 0;
        while (start <= in.len) {
            size_t end = in.len;
            if (lines) {
                const uint8_t *nl = in.len > start ? memchr(in.data + start, '\n', in.len - start)
                                                   : NULL;
                end = nl ? (size_t)(nl - in.data) : in.len;
            }
            const uint8_t *res;
            size_t res_len;
            if (tokfs_norm_apply(n, in.data ? in.data + start : (const uint8_t *)"", end - start,
                                 &scratch, &res, &res_len) < 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            if (out_path && r == 0) {
                if (tokfs_buf_append(&all, res, res_len) < 0 ||
                    (end < in.len && tokfs_buf_append(&all, "\n", 1) < 0))
                    return 1;
            }
            if (end >= in.len)
                break;
            start = end + 1;
        }
    }
    double dt = now() - t0;
    fprintf(stderr, "norm_bench: %zu bytes x %d in %.3f s: %.1f MB/s\n", in.len, repeat, dt,
            (double)in.len * repeat / dt / 1e6);
    if (out_path) {
        FILE *o = fopen(out_path, "wb");
        if (!o || fwrite(all.data ? (const void *)all.data : "", 1, all.len, o) != all.len ||
            fclose(o) != 0) {
            perror(out_path);
            return 1;
        }
    }
    tokfs_buf_free(&in);
    tokfs_buf_free(&scratch);
    tokfs_buf_free(&all);
    tokfs_norm_free(n);
    json_decref(root);
    return 0;
}
