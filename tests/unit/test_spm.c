/* Unit tests of tokenizer=PATH/tekken.json and tokenizer=PATH.model. The test writes small files
 * (a tekken.json of 256 bytes + a few tokens; SentencePiece ModelProtos serialized here, piece
 * by piece) and checks the ids against answers taken from the references: npm tiktoken 1.0.22
 * (`new Tiktoken(ranks, {}, pattern).encode_ordinary`, + num_special_tokens) and
 * python3-sentencepiece 0.1.97 (`SentencePieceProcessor(model_proto=...).encode_as_ids` on the
 * same bytes). Also: end-of-text choices, vocabulary cut, and the refusals with their messages.
 * Exactness on a corpus (trained models, nmt_nfkc charsmaps) is checked by hand, see the report
 * in the commit log. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/buf.h"
#include "tokenize/tokenizer.h"

static char tmpdir[] = "/tmp/tokfs_test_spm_XXXXXX";

static const char *write_file(const char *name, const void *data, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
    return path;
}

typedef struct collected {
    uint32_t ids[256];
    size_t n;
} collected;

static int put(void *ctx, const uint32_t *ids, size_t n)
{
    collected *c = ctx;
    for (size_t i = 0; i < n && c->n < 256; i++)
        c->ids[c->n++] = ids[i];
    return 0;
}

/* Encode text; compare with want[0..nwant). */
static void check_ids(const tokfs_tokenizer *tok, const char *text, const uint32_t *want,
                      size_t nwant, int line)
{
    collected c = {.n = 0};
    tokfs_id_sink sink = {put, &c};
    int rc = tok->encode(tok, (const uint8_t *)text, strlen(text), &sink);
    int same = rc == 0 && c.n == nwant && memcmp(c.ids, want, nwant * sizeof *want) == 0;
    if (!same) {
        fprintf(stderr, "line %d: \"%s\": rc %d, got", line, text, rc);
        for (size_t i = 0; i < c.n; i++)
            fprintf(stderr, " %u", c.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
}

#define IDS(...) ((const uint32_t[]){__VA_ARGS__})
#define NIDS(...) (sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define EXPECT(tok, text, ...) check_ids(tok, text, IDS(__VA_ARGS__), NIDS(__VA_ARGS__), __LINE__)

static int open_tok(const char *path, const char *eot, tokfs_tokenizer **tok, tokfs_err *err)
{
    *tok = NULL;
    return tokfs_tokenizer_open(path, NULL, eot, tok, err);
}

/* ---- tekken.json -------------------------------------------------------------------------- */

static const char TEKKEN_PATTERN[] =
    "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*[\\\\p{Ll}"
    "\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}"
    "\\\\p{Lo}\\\\p{M}]+[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*|\\\\p{N}| ?[^\\\\s\\\\p{L}"
    "\\\\p{N}]+[\\\\r\\\\n/]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[w >> 18];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = i + 1 < n ? a[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[w & 63] : '=';
    }
    out[o] = 0;
}

static const char *const TEKKEN_EXTRA[] = {"he", "ll", "llo", "hello", " w", "or",
                                           " wor", " world", "ld", "12", "Wor", "!!"};
#define NEXTRA (sizeof TEKKEN_EXTRA / sizeof TEKKEN_EXTRA[0])

/* A tekken.json: 5 special ids (3 listed unless `legacy`), the 256 bytes and TEKKEN_EXTRA
 * (the last one cut off by default_vocab_size). */
static const char *tekken_file(const char *name, const char *version, int legacy, int nspecial,
                               int bad_rank)
{
    tokfs_buf b = {0};
    tokfs_buf_printf(&b, "{\"config\": {\"pattern\": \"%s\", \"num_vocab_tokens\": %zu, "
                     "\"default_vocab_size\": %zu, \"default_num_special_tokens\": %d, "
                     "\"version\": \"%s\"}, \"vocab\": [", TEKKEN_PATTERN, 256 + NEXTRA,
                     (size_t)nspecial + 256 + NEXTRA - 1, nspecial, version);
    char enc[64];
    for (size_t i = 0; i < 256 + NEXTRA; i++) {
        uint8_t byte = (uint8_t)i;
        const uint8_t *tok = i < 256 ? &byte : (const uint8_t *)TEKKEN_EXTRA[i - 256];
        b64(tok, i < 256 ? 1 : strlen(TEKKEN_EXTRA[i - 256]), enc);
        tokfs_buf_printf(&b, "%s{\"rank\": %zu, \"token_bytes\": \"%s\", \"token_str\": null}",
                         i ? ", " : "", (int)i == bad_rank ? i + 1 : i, enc);
    }
    tokfs_buf_printf(&b, "]");
    if (!legacy)
        tokfs_buf_printf(&b, ", \"special_tokens\": [{\"rank\": 0, \"token_str\": \"<unk>\", "
                         "\"is_control\": true}, {\"rank\": 1, \"token_str\": \"<s>\", "
                         "\"is_control\": true}, {\"rank\": 2, \"token_str\": \"</s>\", "
                         "\"is_control\": true}]");
    tokfs_buf_printf(&b, "}");
    const char *path = write_file(name, b.data, b.len);
    tokfs_buf_free(&b);
    return path;
}

static void test_tekken(void)
{
    tokfs_tokenizer *tok;
    tokfs_err err;
    const char *path = tekken_file("tekken.json", "v7", 0, 5, -1);
    int rc = open_tok(path, NULL, &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(strcmp(tok->kind, "tekken") == 0);
    CHECK_EQ_INT(tok->eot_id, 2); /* </s> */
    CHECK_EQ_INT(tok->vocab_size, 5 + 256 + NEXTRA - 1);
    /* from npm tiktoken on the same ranks and pattern, + 5 */
    EXPECT(tok, "hello world", 264, 268);
    EXPECT(tok, "Hello World!!", 77, 106, 263, 37, 271, 269, 38, 38); /* "!!" is cut off */
    EXPECT(tok, "12345", 54, 55, 56, 57, 58);
    EXPECT(tok, "</s> hello", 65, 52, 120, 67, 37, 264); /* special text is ordinary text */
    EXPECT(tok, "a\n\nb  c", 102, 15, 15, 103, 37, 37, 104);
    size_t len;
    const uint8_t *bytes = tok->token_bytes(tok, 264, &len);
    CHECK(bytes && len == 5 && memcmp(bytes, "hello", 5) == 0);
    bytes = tok->token_bytes(tok, 2, &len);
    CHECK(bytes && len == 4 && memcmp(bytes, "</s>", 4) == 0);
    tokfs_tokenizer_close(tok);

    /* eot by name, by filler name, by id */
    CHECK_EQ_INT(open_tok(path, "<s>", &tok, &err), 0);
    CHECK_EQ_INT(tok ? tok->eot_id : 99, 1);
    tokfs_tokenizer_close(tok);
    CHECK_EQ_INT(open_tok(path, "<SPECIAL_4>", &tok, &err), 0);
    CHECK_EQ_INT(tok ? tok->eot_id : 99, 4);
    tokfs_tokenizer_close(tok);
    CHECK_EQ_INT(open_tok(path, "<SPECIAL_2>", &tok, &err), -EINVAL); /* 2 is listed: </s> */
    CHECK_EQ_INT(open_tok(path, "3", &tok, &err), 0);
    CHECK_EQ_INT(tok ? tok->eot_id : 99, 3);
    tokfs_tokenizer_close(tok);
    CHECK_EQ_INT(open_tok(path, "[INST]", &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "[INST]") != NULL);
    tokfs_tokenizer *t2 = NULL;
    CHECK_EQ_INT(tokfs_tokenizer_open(path, "o200k_base", NULL, &t2, &err), -EINVAL);
    CHECK(strstr(err.msg, "pattern=") != NULL);

    /* a file without special_tokens: the v1..v7 list, where [INST] is 3 */
    path = tekken_file("legacy_tekken.json", "v3", 1, 20, -1);
    CHECK_EQ_INT(open_tok(path, "[INST]", &tok, &err), 0);
    CHECK_EQ_INT(tok ? tok->eot_id : 99, 3);
    if (tok)
        EXPECT(tok, "hello world", 279, 283);
    tokfs_tokenizer_close(tok);
    path = tekken_file("new_tekken.json", "v13", 1, 20, -1);
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "special_tokens") != NULL);
    path = tekken_file("rank_tekken.json", "v7", 0, 5, 260);
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "vocab[260]") != NULL);
    path = tekken_file("bytes_tekken.json", "v7", 0, 5, 7);
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "vocab[7]") != NULL);
}

/* ---- SentencePiece ------------------------------------------------------------------------ */

enum { N = 1, U = 2, C = 3, UD = 4, UN = 5, B = 6 };

typedef struct piece {
    const char *text;
    float score;
    int type;
} piece;

static void varint(tokfs_buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            c |= 0x80;
        tokfs_buf_append(b, &c, 1);
    } while (v);
}

static void field_len(tokfs_buf *b, unsigned num, const void *data, size_t len)
{
    varint(b, (uint64_t)num << 3 | 2);
    varint(b, len);
    tokfs_buf_append(b, data, len);
}

static void field_varint(tokfs_buf *b, unsigned num, uint64_t v)
{
    varint(b, (uint64_t)num << 3);
    varint(b, v);
}

typedef struct flags {
    int model_type, byte_fallback, suffix, no_dummy, no_rmws, no_esc;
} flags;

static const piece BASE[] = {{"<unk>", 0, U}, {"<s>", 0, C}, {"</s>", 0, C}};

/* A ModelProto of BASE, optionally the 256 byte pieces, then pieces[0..n) (the same bytes as
 * the Python serialization the reference answers come from). */
static const char *spm_file(const char *name, const piece *pieces, size_t n, int with_bytes,
                            flags f)
{
    tokfs_buf out = {0}, p = {0}, m = {0};
    size_t total = 3 + (with_bytes ? 256 : 0) + n;
    for (size_t i = 0; i < total; i++) {
        piece pc;
        char hex[8];
        if (i < 3) {
            pc = BASE[i];
        } else if (with_bytes && i < 259) {
            snprintf(hex, sizeof hex, "<0x%02X>", (unsigned)(i - 3));
            pc = (piece){hex, 0, B};
        } else {
            pc = pieces[i - 3 - (with_bytes ? 256 : 0)];
        }
        p.len = 0;
        field_len(&p, 1, pc.text, strlen(pc.text));
        uint32_t bits;
        memcpy(&bits, &pc.score, 4);
        uint8_t le[4] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16),
                         (uint8_t)(bits >> 24)};
        varint(&p, 2 << 3 | 5);
        tokfs_buf_append(&p, le, 4);
        field_varint(&p, 3, (uint64_t)pc.type);
        field_len(&out, 1, p.data, p.len);
    }
    m.len = 0;
    field_varint(&m, 3, (uint64_t)f.model_type);
    field_varint(&m, 35, (uint64_t)f.byte_fallback);
    field_varint(&m, 24, (uint64_t)f.suffix);
    field_len(&out, 2, m.data, m.len);
    m.len = 0;
    field_varint(&m, 3, (uint64_t)!f.no_dummy);
    field_varint(&m, 4, (uint64_t)!f.no_rmws);
    field_varint(&m, 5, (uint64_t)!f.no_esc);
    field_len(&out, 3, m.data, m.len);
    const char *path = write_file(name, out.data, out.len);
    tokfs_buf_free(&out);
    tokfs_buf_free(&p);
    tokfs_buf_free(&m);
    return path;
}

#define SP "\xe2\x96\x81" /* U+2581 */

/* BPE: ties go to the leftmost pair, <tag> is frozen, "dd" is UNUSED (merged, then split back
 * into what it was made from). */
static const piece MODEL_A[] = {
    {"<tag>", 0, UD}, {SP, 0, N},       {"a", 0, N},        {"b", 0, N},
    {"c", 0, N},      {"d", 0, N},      {"ab", -1, N},      {"bc", -1, N},
    {"cd", -0.5f, N}, {SP "a", -3, N},  {SP "ab", -2, N},   {"abcd", -4, N},
    {"dd", -6, UN},   {"ddd", -7, N},   {SP "d", -8, N},
};

/* Unigram with byte_fallback and a user-defined piece. */
static const piece MODEL_B[] = {
    {"<tag>", 0, UD},  {SP, -2, N},      {"a", -3, N},       {"b", -3, N},
    {"c", -3.5f, N},   {"ab", -4, N},    {"bc", -4, N},      {"abc", -7.5f, N},
    {SP "a", -3, N},   {SP "ab", -5, N}, {"\xc3\xa9", -6, N}, {SP "abc", -9, N},
};

/* Unigram without byte_fallback (unknowns fuse), spaces not escaped. */
static const piece MODEL_C[] = {
    {"a", -1, N}, {"b", -1, N}, {"c", -1, N},    {"ab", -2, N},  {"bc", -2, N},
    {" ", -3, N}, {" a", -1.5f, N}, {"x", -2, UD}, {"xy", -2, N},
};

static void test_spm(void)
{
    tokfs_tokenizer *tok;
    tokfs_err err;
    const char *path =
        spm_file("a.model", MODEL_A, sizeof MODEL_A / sizeof MODEL_A[0], 0, (flags){.model_type = 2});
    int rc = open_tok(path, NULL, &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        CHECK(strcmp(tok->kind, "sentencepiece") == 0);
        CHECK_EQ_INT(tok->eot_id, 2);
        CHECK_EQ_INT(tok->vocab_size, 18);
        EXPECT(tok, "abc", 13, 7);
        EXPECT(tok, "bcd", 4, 6, 11);
        EXPECT(tok, "abcd", 13, 11);
        EXPECT(tok, "a <tag>b", 12, 4, 3, 6);
        EXPECT(tok, "dddd", 4, 8, 8, 8, 8);
        EXPECT(tok, "ddd d", 4, 16, 17);
        EXPECT(tok, "x", 4, 0);
        EXPECT(tok, "  a  b  ", 12, 4, 6);
        EXPECT(tok, "abcabc dd", 13, 7, 9, 7, 4, 8, 8);
        EXPECT(tok, "<tag><tag>ab", 4, 3, 3, 9);
        size_t len;
        const uint8_t *bytes = tok->token_bytes(tok, 13, &len);
        CHECK(bytes && len == 3 && memcmp(bytes, " ab", 3) == 0);
        tokfs_tokenizer_close(tok);
    }

    /* BPE cut into runs before each space symbol (no piece spans one), and the same model with
     * a piece "c▁" that does span such a cut (then the text is one run, as in SentencePiece) */
    piece e2[13];
    memcpy(e2, MODEL_A, 12 * sizeof *e2);
    e2[12] = (piece){"c" SP, -0.1f, N};
    path = spm_file("e1.model", e2, 12, 0, (flags){.model_type = 2});
    rc = open_tok(path, NULL, &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        EXPECT(tok, "abc abcd  ab", 13, 7, 13, 11, 13);
        EXPECT(tok, "bc abc", 4, 10, 13, 7);
        tokfs_tokenizer_close(tok);
    }
    path = spm_file("e2.model", e2, 13, 0, (flags){.model_type = 2});
    rc = open_tok(path, NULL, &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        EXPECT(tok, "abc abcd  ab", 13, 15, 14, 13);
        EXPECT(tok, "abc abc", 13, 15, 9, 7);
        EXPECT(tok, "bc abc", 4, 6, 15, 9, 7);
        tokfs_tokenizer_close(tok);
    }

    path = spm_file("b.model", MODEL_B, sizeof MODEL_B / sizeof MODEL_B[0], 1,
                    (flags){.model_type = 1, .byte_fallback = 1});
    rc = open_tok(path, NULL, &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        EXPECT(tok, "abc", 267, 265);
        EXPECT(tok, "a \xc3\xa9 z", 267, 260, 269, 260, 125);
        EXPECT(tok, "  ab  abc ", 268, 267, 265);
        EXPECT(tok, "<tag>abc", 260, 259, 261, 265);
        EXPECT(tok, "zz", 260, 125, 125);
        EXPECT(tok, "\xe6\x97\xa5\xe6\x9c\xac", 260, 233, 154, 168, 233, 159, 175);
        EXPECT(tok, "abcabcab", 267, 265, 261, 265, 264);
        size_t len;
        const uint8_t *bytes = tok->token_bytes(tok, 125, &len);
        CHECK(bytes && len == 1 && bytes[0] == 'z');
        tokfs_tokenizer_close(tok);
    }

    path = spm_file("c.model", MODEL_C, sizeof MODEL_C / sizeof MODEL_C[0], 0,
                    (flags){.model_type = 1, .no_dummy = 1, .no_rmws = 1, .no_esc = 1});
    rc = open_tok(path, "</s>", &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        EXPECT(tok, "ab c", 6, 8, 5);
        EXPECT(tok, "  a", 8, 9);
        EXPECT(tok, "zzq ab", 0, 9, 4);
        EXPECT(tok, "xy x", 11, 8, 10);
        EXPECT(tok, "abcz zz", 3, 7, 0, 8, 0);
        tokfs_tokenizer_close(tok);
    }
    path = spm_file("d.model", MODEL_C, sizeof MODEL_C / sizeof MODEL_C[0], 0,
                    (flags){.model_type = 1, .suffix = 1, .no_esc = 1});
    rc = open_tok(path, "1", &tok, &err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
        CHECK_EQ_INT(tok->eot_id, 1);
        EXPECT(tok, "ab c ", 6, 8, 5, 8);
        EXPECT(tok, "  a b", 3, 8, 4, 8);
        EXPECT(tok, " xy  c", 11, 8, 5, 8);
        tokfs_tokenizer_close(tok);
    }

    /* refusals and broken files */
    path = spm_file("e.model", MODEL_C, sizeof MODEL_C / sizeof MODEL_C[0], 0,
                    (flags){.model_type = 7});
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -ENOTSUP);
    CHECK(strstr(err.msg, "model_type 7") != NULL);
    path = spm_file("f.model", MODEL_C, sizeof MODEL_C / sizeof MODEL_C[0], 1,
                    (flags){.model_type = 1});
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "byte_fallback") != NULL);
    path = spm_file("g.model", MODEL_C, sizeof MODEL_C / sizeof MODEL_C[0], 0,
                    (flags){.model_type = 1});
    CHECK_EQ_INT(open_tok(path, "<nope>", &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "<nope>") != NULL);
    CHECK_EQ_INT(tokfs_tokenizer_open(path, "gpt2", NULL, &tok, &err), -EINVAL);
    static const uint8_t junk[] = {0x0a, 0x7f, 0x01};
    path = write_file("junk.model", junk, sizeof junk);
    CHECK_EQ_INT(open_tok(path, NULL, &tok, &err), -EINVAL);
    CHECK(strstr(err.msg, "junk.model") != NULL);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_tekken();
    test_spm();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}
