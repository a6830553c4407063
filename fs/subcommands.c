/* tokfs encode / tokfs decode: the tokenizer on its own, for checking ids against a reference
 * and for looking inside shards.
 *
 *   tokfs encode [-o tokenizer=...,pattern=...,eot=...] [FILE]
 *       FILE (or stdin) is one text: its ids, in decimal, separated by single spaces, then a
 *       newline. No end-of-text is added. Invalid UTF-8 becomes U+FFFD first (Python's
 *       errors='replace'), as in the shards. One thread.
 *   tokfs decode [-o ...] [--shard] [FILE]
 *       ids (decimal, whitespace-separated; with --shard, a shard file in the layout that -o
 *       format=,dtype= name as the mount did: raw little-endian ids of the vocabulary's width by
 *       default, llm.c's header checked and skipped, the .npy header parsed, a megatron .bin as
 *       raw) back to bytes on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "build/out_format.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/endian.h"
#include "subcommands.h"
#include "tokenize/tokenizer.h"
#include "common/utf8.h"

/* All of f, appended to b. */
static int read_all(FILE *f, tokfs_buf *b)
{
    /* a file's size known: one buffer of that size, not a doubling series of copies */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        int rc = tokfs_buf_reserve_exact(b, (size_t)st.st_size + 1);
        if (rc)
            return rc;
    }
    for (;;) {
        int rc = b->cap == b->len ? tokfs_buf_reserve(b, 1 << 20) : 0;
        if (rc)
            return rc;
        size_t got = fread(b->data + b->len, 1, b->cap - b->len, f);
        b->len += got;
        if (got == 0)
            return ferror(f) ? -EIO : 0;
    }
}

typedef struct sub_args {
    const char *file;
    int shard;
} sub_args;

/* -o tokenizer=,pattern=,eot=,special_tokens=,tokenizer_cache= (and format=,dtype= for decode
 * --shard) and one FILE. Other tokfs options do not apply here. */
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
                int layout_opt = (strcmp(opt, "format") == 0 || strcmp(opt, "dtype") == 0) &&
                                 strcmp(cmd, "decode") == 0;
                if (strcmp(opt, "tokenizer") && strcmp(opt, "pattern") && strcmp(opt, "eot") &&
                    strcmp(opt, "special_tokens") && strcmp(opt, "tokenizer_cache") && !layout_opt)
                    rc = tokfs_err_set(err, EINVAL, "tokfs %s takes only the options tokenizer=, "
                                       "pattern=, eot=, special_tokens=, tokenizer_cache=%s, not "
                                       "%s", cmd,
                                       strcmp(cmd, "decode") == 0 ? ", format=, dtype=" : "",
                                       opt);
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

/* The ids as text, written to stdout in batches of about OUT_BATCH bytes. */
#define OUT_BATCH (64u << 10)
#define ID_ROOM 24 /* a space and an id's digits, with put_decimal's overwrite */

typedef struct id_printer {
    tokfs_buf out; /* OUT_BATCH bytes reserved: ids are written straight into out.data */
    int first;
} id_printer;

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

static int flush_ids(id_printer *o)
{
    size_t len = o->out.len;
    tokfs_buf_clear(&o->out);
    return fwrite(o->out.data, 1, len, stdout) == len ? 0 : -EIO;
}

static int print_ids(void *ctx, const uint32_t *ids, size_t n)
{
    id_printer *o = ctx;
    char *buf = (char *)o->out.data;
    size_t len = o->out.len;
    for (size_t i = 0; i < n; i++) {
        if (len > OUT_BATCH - ID_ROOM) {
            o->out.len = len;
            if (flush_ids(o))
                return -EIO;
            len = 0;
        }
        buf[len] = ' ';
        len += !o->first;
        o->first = 0;
        len += put_decimal(buf + len, ids[i]);
    }
    o->out.len = len;
    return 0;
}

static int open_input(const char *file, FILE **f, tokfs_err *err)
{
    *f = file && strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!*f)
        return tokfs_err_set(err, errno, "cannot open %s: %s", file, strerror(errno));
    return 0;
}

/* What both subcommands begin with (options, the tokenizer, all of the input) and end with. */
typedef struct sub_run {
    const char *cmd; /* "encode" or "decode" */
    tokfs_config cfg;
    tokfs_err err;
    sub_args args;
    tokfs_tokenizer *tok;
    tokfs_buf input;
} sub_run;

static int sub_start(sub_run *r, const char *cmd, int argc, char **argv)
{
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    FILE *in = NULL;
    /* the environment only for the default tokenizer_cache (cache_dir/tokenizers) */
    int rc = tokfs_config_init(&r->cfg, getenv("XDG_CACHE_HOME"), getenv("HOME"), &r->err);
    if (!rc)
        rc = parse_args(cmd, argc, argv, &r->cfg, &r->args, &r->err);
    if (!rc) {
        /* encoding needs no end-of-text token (only a mount appends one) */
        char images[4096];
        tokfs_tokenizer_opts o = {
            .name = r->cfg.tokenizer, .pattern = r->cfg.pattern, .eot = r->cfg.eot,
            .eot_optional = 1, .match_special = r->cfg.match_special,
            .image_dir = tokfs_config_tokenizer_cache(&r->cfg, images, sizeof images)};
        rc = tokfs_tokenizer_open_opts(&o, &r->tok, &r->err);
    }
    if (!rc)
        rc = open_input(r->args.file, &in, &r->err);
    if (!rc && (rc = read_all(in, &r->input)))
        tokfs_err_set(&r->err, -rc, "cannot read %s: %s", r->args.file ? r->args.file : "stdin",
                      strerror(-rc));
    if (in && in != stdin)
        fclose(in);
    return rc;
}

/* The exit status: 0, or 1 once the failure is told on stderr. */
static int sub_finish(sub_run *r, int rc)
{
    if (rc)
        fprintf(stderr, "tokfs %s: %s\n", r->cmd, r->err.msg[0] ? r->err.msg : strerror(-rc));
    tokfs_buf_free(&r->input);
    tokfs_tokenizer_close(r->tok);
    tokfs_config_free(&r->cfg);
    return rc ? 1 : 0;
}

int tokfs_cmd_encode(int argc, char **argv)
{
    sub_run r;
    uint8_t *repaired = NULL;
    id_printer o = {.first = 1};
    int rc = sub_start(&r, "encode", argc, argv);
    if (!rc)
        rc = tokfs_buf_reserve(&o.out, OUT_BATCH);
    const uint8_t *input = r.input.data;
    size_t len = r.input.len;
    if (!rc && r.tok->text_based && !tokfs_utf8_valid(input, len)) {
        tokfs_utf8_state st = {0};
        if (!(repaired = malloc(TOKFS_UTF8_OUT_MAX(len))))
            rc = -ENOMEM;
        else {
            len = tokfs_utf8_repair(&st, input, len, repaired, 1);
            input = repaired;
        }
    }
    digit_groups_init();
    if (!rc) {
        tokfs_id_sink sink = {print_ids, &o};
        rc = r.tok->encode(r.tok, input, len, &sink);
        if (rc)
            tokfs_err_set(&r.err, -rc, "encoding failed: %s", strerror(-rc));
    }
    if (!rc) {
        o.out.data[o.out.len++] = '\n'; /* within the batch's room */
        if (flush_ids(&o) || fflush(stdout))
            rc = tokfs_err_set(&r.err, EIO, "cannot write the ids to stdout");
    }
    tokfs_buf_free(&o.out);
    free(repaired);
    return sub_finish(&r, rc);
}

/* Where the ids of a shard file in layout l start, and their width (the file's own header says
 * it for llmc and npy). 0, or -EINVAL with a message when the header is not the layout's. */
static int shard_ids_start(const tokfs_layout *l, const uint8_t *data, size_t len, size_t *pos,
                           unsigned *width, tokfs_err *err)
{
    *pos = 0;
    *width = l->id_bytes;
    if (l->format == TOKFS_OUT_LLMC) {
        if (len < TOKFS_LLMC_HEADER_BYTES)
            return tokfs_err_set(err, EINVAL, "not an llm.c shard: %zu bytes, no header", len);
        uint32_t magic = tokfs_le32(data), version = tokfs_le32(data + 4);
        uint32_t count = tokfs_le32(data + 8);
        if (magic == TOKFS_LLMC_MAGIC_U16 && version == 1)
            *width = 2;
        else if (magic == TOKFS_LLMC_MAGIC_U32 && version == 7)
            *width = 4;
        else
            return tokfs_err_set(err, EINVAL, "not an llm.c shard: magic %u, version %u", magic,
                                 version);
        if (len != TOKFS_LLMC_HEADER_BYTES + (uint64_t)count * *width)
            return tokfs_err_set(err, EINVAL, "llm.c shard of %zu bytes, but its header says "
                                 "%u tokens", len, count);
        *pos = TOKFS_LLMC_HEADER_BYTES;
    } else if (l->format == TOKFS_OUT_NPY) {
        if (len < 10 || memcmp(data, "\x93NUMPY\x01\x00", 8) != 0)
            return tokfs_err_set(err, EINVAL, "not a .npy file of format 1.0");
        size_t end = 10 + (size_t)(data[8] | data[9] << 8);
        const char *descr = end <= len ? memmem(data + 10, end - 10, "'descr': '<u", 12) : NULL;
        if (!descr || (descr[12] != '2' && descr[12] != '4'))
            return tokfs_err_set(err, EINVAL, ".npy file of other than <u2 or <u4 ids");
        *width = (unsigned)(descr[12] - '0');
        *pos = end;
    }
    return 0;
}

int tokfs_cmd_decode(int argc, char **argv)
{
    sub_run r;
    int rc = sub_start(&r, "decode", argc, argv);
    const tokfs_tokenizer *tok = r.tok;
    const uint8_t *data = r.input.data;
    size_t pos = 0, len = r.input.len;
    unsigned width = 2;
    if (!rc && r.args.shard) {
        /* the layout as the mount resolved it (dtype=uint16 over a large vocabulary refused) */
        r.cfg.doc_sep = TOKFS_SEP_APPEND; /* placement does not change how ids are read */
        if (r.cfg.format == TOKFS_OUT_MEGATRON)
            r.cfg.format = TOKFS_OUT_RAW; /* its .bin is raw ids (the .idx is not for decode) */
        tokfs_layout l;
        if (!(rc = tokfs_layout_resolve(&r.cfg, tok, &l, &r.err)))
            rc = shard_ids_start(&l, data, len, &pos, &width, &r.err);
    }
    while (!rc) {
        uint32_t id;
        if (r.args.shard) {
            if (pos + width > len)
                break;
            id = width == 4 ? tokfs_le32(data + pos) : tokfs_le16(data + pos);
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
                rc = tokfs_err_set(&r.err, EINVAL, "byte %zu of the input: expected decimal ids",
                                   start);
                break;
            }
            id = (uint32_t)v;
        }
        size_t n;
        const uint8_t *bytes = tok->token_bytes(tok, id, &n);
        if (!bytes) {
            rc = tokfs_err_set(&r.err, EINVAL, "id %u is not a token of tokenizer=%s", id,
                               tok->name);
            break;
        }
        if (fwrite(bytes, 1, n, stdout) != n)
            rc = tokfs_err_set(&r.err, EIO, "cannot write to stdout");
    }
    if (!rc && fflush(stdout))
        rc = tokfs_err_set(&r.err, EIO, "cannot write to stdout");
    return sub_finish(&r, rc);
}
