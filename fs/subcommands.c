/* tokfs encode / tokfs decode: the tokenizer on its own, for checking ids against a reference
 * and for looking inside shards.
 *
 *   tokfs encode [-o tokenizer=...,pattern=...,eot=...] [FILE]
 *       FILE (or stdin) is one text: its ids, in decimal, separated by single spaces, then a
 *       newline. No end-of-text is added. Invalid UTF-8 becomes U+FFFD first (Python's
 *       errors='replace'), as in the shards. One thread.
 *   tokfs decode [-o ...] [--shard] [FILE]
 *       ids (decimal, whitespace-separated; with --shard, a shard file of little-endian uint16 or
 *       uint32 ids as the tokenizer's vocabulary needs) back to bytes on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "subcommands.h"
#include "tokenize/tokenizer.h"
#include "common/utf8.h"

static int read_all(FILE *f, uint8_t **data, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                return -ENOMEM;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                return -EIO;
            }
            break;
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

typedef struct sub_args {
    const char *file;
    int shard;
} sub_args;

/* -o tokenizer=,pattern=,eot= and one FILE. Other tokfs options do not apply here. */
static int parse_args(const char *cmd, int argc, char **argv, tokfs_config *cfg, sub_args *a,
                      tokfs_err *err)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "-o", 2) == 0) {
            const char *list = arg[2] ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!list)
                return tokfs_err_set(err, EINVAL, "-o needs a list of options");
            char *copy = strdup(list), *save = NULL;
            if (!copy)
                return -ENOMEM;
            int rc = 0;
            for (char *opt = strtok_r(copy, ",", &save); opt && !rc;
                 opt = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(opt, '=');
                if (eq)
                    *eq = 0;
                if (strcmp(opt, "tokenizer") && strcmp(opt, "pattern") && strcmp(opt, "eot"))
                    rc = tokfs_err_set(err, EINVAL, "tokfs %s takes only the options tokenizer=, "
                                       "pattern= and eot=, not %s", cmd, opt);
                else
                    rc = tokfs_config_set(cfg, opt, eq ? eq + 1 : NULL, err);
            }
            free(copy);
            if (rc)
                return rc;
        } else if (strcmp(arg, "--shard") == 0 && strcmp(cmd, "decode") == 0) {
            a->shard = 1;
        } else if (arg[0] == '-' && arg[1]) {
            return tokfs_err_set(err, EINVAL, "unknown flag %s: usage: tokfs %s [-o "
                                 "tokenizer=...] [FILE]", arg, cmd);
        } else if (!a->file) {
            a->file = arg;
        } else {
            return tokfs_err_set(err, EINVAL, "tokfs %s reads one FILE (or stdin)", cmd);
        }
    }
    return 0;
}

typedef struct out_buf {
    char buf[1 << 16];
    size_t len;
    int first;
} out_buf;

/* "0000".."9999": an id is printed as at most three 4-digit groups copied from here. */
static char digit_groups[10000][4];

static void digit_groups_init(void)
{
    for (int v = 0; v < 10000; v++) {
        digit_groups[v][0] = (char)('0' + v / 1000);
        digit_groups[v][1] = (char)('0' + v / 100 % 10);
        digit_groups[v][2] = (char)('0' + v / 10 % 10);
        digit_groups[v][3] = (char)('0' + v % 10);
    }
}

/* Write v's decimal digits at p (room for 16 bytes; bytes after the digits may be
 * overwritten); returns how many. Below 10^8 (every real id) without a branch: both 4-digit
 * groups side by side in one little-endian word, shifted right past the leading zeros. */
static inline size_t put_decimal(char *p, uint32_t v)
{
    if (v >= 100000000) {
        size_t n = put_decimal(p, v / 10000);
        memcpy(p + n, digit_groups[v % 10000], 4);
        return n + 4;
    }
    uint64_t hi = 0, lo = 0;
    memcpy(&hi, digit_groups[v / 10000], 4);
    memcpy(&lo, digit_groups[v % 10000], 4);
    size_t digits = (size_t)1 + (v >= 10) + (v >= 100) + (v >= 1000) + (v >= 10000) +
                    (v >= 100000) + (v >= 1000000) + (v >= 10000000);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t word = (hi | lo << 32) >> (8 * (8 - digits));
    memcpy(p, &word, 8);
#else
    char both[8];
    memcpy(both, &hi, 4);
    memcpy(both + 4, &lo, 4);
    memcpy(p, both + 8 - digits, digits);
#endif
    return digits;
}

static int print_ids(void *ctx, const uint32_t *ids, size_t n)
{
    out_buf *o = ctx;
    size_t len = o->len;
    for (size_t i = 0; i < n; i++) {
        if (len > sizeof o->buf - 24) {
            if (fwrite(o->buf, 1, len, stdout) != len)
                return -EIO;
            len = 0;
        }
        o->buf[len] = ' ';
        len += !o->first;
        o->first = 0;
        len += put_decimal(o->buf + len, ids[i]);
    }
    o->len = len;
    return 0;
}

static int open_input(const char *file, FILE **f, tokfs_err *err)
{
    *f = file && strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!*f)
        return tokfs_err_set(err, errno, "cannot open %s: %s", file, strerror(errno));
    return 0;
}

int tokfs_cmd_encode(int argc, char **argv)
{
    tokfs_config cfg;
    tokfs_err err = {{0}};
    sub_args a = {0};
    tokfs_tokenizer *tok = NULL;
    uint8_t *text = NULL, *repaired = NULL;
    size_t len = 0;
    FILE *in = NULL;
    int rc = tokfs_config_init(&cfg, NULL, NULL, &err);
    if (!rc)
        rc = parse_args("encode", argc, argv, &cfg, &a, &err);
    if (!rc)
        rc = tokfs_tokenizer_open(cfg.tokenizer, cfg.pattern, cfg.eot, &tok, &err);
    if (!rc)
        rc = open_input(a.file, &in, &err);
    if (!rc && (rc = read_all(in, &text, &len)))
        tokfs_err_set(&err, -rc, "cannot read %s: %s", a.file ? a.file : "stdin", strerror(-rc));
    const uint8_t *input = text;
    if (!rc && tok->text_based && !tokfs_utf8_valid(text, len)) {
        tokfs_utf8_state st = {0};
        if (!(repaired = malloc(TOKFS_UTF8_OUT_MAX(len))))
            rc = -ENOMEM;
        else {
            len = tokfs_utf8_repair(&st, text, len, repaired, 1);
            input = repaired;
        }
    }
    static out_buf o;
    o.first = 1;
    digit_groups_init();
    if (!rc) {
        tokfs_id_sink sink = {print_ids, &o};
        rc = tok->encode(tok, input, len, &sink);
        if (rc)
            tokfs_err_set(&err, -rc, "encoding failed: %s", strerror(-rc));
    }
    if (!rc) {
        o.buf[o.len++] = '\n';
        if (fwrite(o.buf, 1, o.len, stdout) != o.len || fflush(stdout))
            rc = tokfs_err_set(&err, EIO, "cannot write the ids to stdout");
    }
    if (rc)
        fprintf(stderr, "tokfs encode: %s\n", err.msg[0] ? err.msg : strerror(-rc));
    if (in && in != stdin)
        fclose(in);
    free(text);
    free(repaired);
    tokfs_tokenizer_close(tok);
    tokfs_config_free(&cfg);
    return rc ? 1 : 0;
}

int tokfs_cmd_decode(int argc, char **argv)
{
    tokfs_config cfg;
    tokfs_err err = {{0}};
    sub_args a = {0};
    tokfs_tokenizer *tok = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    FILE *in = NULL;
    int rc = tokfs_config_init(&cfg, NULL, NULL, &err);
    if (!rc)
        rc = parse_args("decode", argc, argv, &cfg, &a, &err);
    if (!rc)
        rc = tokfs_tokenizer_open(cfg.tokenizer, cfg.pattern, cfg.eot, &tok, &err);
    if (!rc)
        rc = open_input(a.file, &in, &err);
    if (!rc && (rc = read_all(in, &data, &len)))
        tokfs_err_set(&err, -rc, "cannot read %s: %s", a.file ? a.file : "stdin", strerror(-rc));
    size_t pos = 0;
    unsigned width = tok ? tokfs_tokenizer_id_bytes(tok) : 2;
    while (!rc) {
        uint32_t id;
        if (a.shard) {
            if (pos + width > len)
                break;
            id = data[pos] | (uint32_t)data[pos + 1] << 8;
            if (width == 4)
                id |= (uint32_t)data[pos + 2] << 16 | (uint32_t)data[pos + 3] << 24;
            pos += width;
        } else {
            while (pos < len && (data[pos] == ' ' || data[pos] == '\n' || data[pos] == '\t' ||
                                 data[pos] == '\r'))
                pos++;
            if (pos == len)
                break;
            uint64_t v = 0;
            size_t start = pos;
            while (pos < len && data[pos] >= '0' && data[pos] <= '9' && v <= 0xffffffffu)
                v = v * 10 + (data[pos++] - '0');
            if (pos == start || v > 0xffffffffu ||
                (pos < len && data[pos] != ' ' && data[pos] != '\n' && data[pos] != '\t' &&
                 data[pos] != '\r')) {
                rc = tokfs_err_set(&err, EINVAL, "byte %zu of the input: expected decimal ids",
                                   start);
                break;
            }
            id = (uint32_t)v;
        }
        size_t n;
        const uint8_t *bytes = tok->token_bytes(tok, id, &n);
        if (!bytes) {
            rc = tokfs_err_set(&err, EINVAL, "id %u is not a token of tokenizer=%s", id,
                               tok->name);
            break;
        }
        if (fwrite(bytes, 1, n, stdout) != n)
            rc = tokfs_err_set(&err, EIO, "cannot write to stdout");
    }
    if (!rc && fflush(stdout))
        rc = tokfs_err_set(&err, EIO, "cannot write to stdout");
    if (rc)
        fprintf(stderr, "tokfs decode: %s\n", err.msg[0] ? err.msg : strerror(-rc));
    if (in && in != stdin)
        fclose(in);
    free(data);
    tokfs_tokenizer_close(tok);
    tokfs_config_free(&cfg);
    return rc ? 1 : 0;
}
