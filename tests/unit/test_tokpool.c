/* Unit tests of tokenizing one shard on several threads (core/tokenize/tokpool.c) and of the places
 * where a long document may be cut so that its parts are encoded on different threads
 * (tokfs_pretok_cut, tokenizer->cut):
 *   - for every hand-written pattern, on random text full of the pattern's hard cases, the
 *     pieces of the two parts of every cut are exactly the pieces of the whole;
 *   - a general regex, a ByteLevel add_prefix_space stage and added tokens never cut; bytes
 *     cuts anywhere;
 *   - the pool's output (1, 2 and 3 threads) equals encoding each document alone followed by
 *     the end-of-text id, for small documents, documents of several MB with cut places, one
 *     without any, invalid UTF-8 next to cuts, and empty documents.
 * TOKFS_TEST_POOL_ONLY=1 (tests/integration/test_tsan.sh, under ThreadSanitizer) runs only the
 * pool, on 20 documents instead of 60, the long ones 600 KB instead of 3 MiB (still cut: over
 * 1.5 batches). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenize/bpe_internal.h"
#include "check.h"
#include "common/hash.h"
#include "tokenize/pretok_internal.h"
#include "tokenize/tokenizer.h"
#include "tokenize/tokpool.h"
#include "common/utf8.h"

static uint64_t rng_state = 0x706f6f6c74657374ull;
static uint64_t rnd(void) { return tokfs_splitmix64(&rng_state); }

/* Fragments that exercise every alternative of the known patterns around spaces. */
static const char *const FRAGMENTS[] = {
    "The", "quick", "brown", "fox", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n",
    "x", "A", "it's", "WE'LL", "'s", "'", "''", "Ok", "camelCase", "HTTPServer", "123", "4567",
    "3.14", ".", ",", "!?", "...", "(a)", "[b]", "{", "}", "/", "//", "=", " = ", "+=", "-",
    "_", "__init__", "\"", "#", "naïve", "café", "日本語", "中文", "한국어", "Ελληνικά",
    "русский", "العربية", "हिन्दी", "😀", "👨‍👩‍👧", "e\xcc\x81", "\xc2\xa0", "\xc2\x85",
    "\xe3\x80\x80", "\x1c", "\xc5\xbf", "'\xc5\xbf", "\xe2\x80\x99s", "<|endoftext|>",
};
#define NFRAG (sizeof FRAGMENTS / sizeof FRAGMENTS[0])

/* Random text of about len bytes; with invalid = 1, also some invalid UTF-8 bytes. */
static size_t random_text(uint8_t *out, size_t len, int invalid)
{
    size_t n = 0;
    while (n < len) {
        const char *f = FRAGMENTS[rnd() % NFRAG];
        size_t fl = strlen(f);
        if (invalid && rnd() % 50 == 0) {
            static const char *const BAD[] = {"\xff", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf"};
            f = BAD[rnd() % 4];
            fl = strlen(f);
        }
        if (n + fl > len)
            break;
        memcpy(out + n, f, fl);
        n += fl;
    }
    return n;
}

/* ---- cut places -------------------------------------------------------------------------- */

typedef struct ends {
    size_t *v;
    size_t n, cap, pos;
} ends;

static int record_end(void *ctx, const uint8_t *p, size_t len)
{
    ends *e = ctx;
    (void)p;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 1024;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
    }
    e->pos += len;
    e->v[e->n++] = e->pos;
    return 0;
}

/* Append the end offsets (into text) of the pieces of text[from..to) to e. */
static void piece_ends(const tokfs_pretok *p, const uint8_t *text, size_t from, size_t to,
                       ends *e)
{
    e->pos = from;
    tokfs_pretok_split(p, text + from, to - from, record_end, e);
}

/* UTF-8 repair of text[0..len) (what the pool does to each part) into a new buffer. */
static uint8_t *repaired(const uint8_t *text, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(TOKFS_UTF8_OUT_MAX(len) + 1);
    tokfs_utf8_state st = {0};
    *out_len = tokfs_utf8_repair(&st, text, len, out, 1);
    return out;
}

/* The cut is looked for in the raw document (the pool cuts before repairing UTF-8, each part
 * on its own): the repaired parts must join into the repaired whole, and their pieces must be
 * the whole's pieces. */
static void test_cut_places(void)
{
    static const tokfs_pattern KINDS[] = {TOKFS_PATTERN_GPT2, TOKFS_PATTERN_CL100K,
                                          TOKFS_PATTERN_QWEN2, TOKFS_PATTERN_O200K};
    size_t cap = 6000;
    uint8_t *text = malloc(cap);
    int cuts_checked = 0;
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        tokfs_pretok p;
        tokfs_pretok_init_kind(&p, KINDS[k]);
        for (int round = 0; round < 500; round++) {
            size_t len = random_text(text, 100 + rnd() % (cap - 100), round % 3 == 0), wlen;
            uint8_t *whole_text = repaired(text, len, &wlen);
            ends whole = {0};
            piece_ends(&p, whole_text, 0, wlen, &whole);
            for (size_t from = 0; from < len; from += 1 + rnd() % 37) {
                size_t cut = tokfs_pretok_cut(&p, text, len, from);
                CHECK(cut >= from && cut <= len);
                if (cut == len)
                    break;
                CHECK(cut > 0 && text[cut] == ' ');
                size_t alen, blen;
                uint8_t *a = repaired(text, cut, &alen);
                uint8_t *b = repaired(text + cut, len - cut, &blen);
                CHECK(alen + blen == wlen && memcmp(a, whole_text, alen) == 0 &&
                      memcmp(b, whole_text + alen, blen) == 0);
                ends parts = {0};
                piece_ends(&p, a, 0, alen, &parts);
                size_t na = parts.n;
                piece_ends(&p, b, 0, blen, &parts);
                for (size_t q = na; q < parts.n; q++)
                    parts.v[q] += alen;
                if (parts.n != whole.n ||
                    memcmp(parts.v, whole.v, whole.n * sizeof *whole.v) != 0) {
                    fprintf(stderr, "pattern %d: cutting at %zu of %zu changes the pieces:",
                            (int)KINDS[k], cut, len);
                    size_t lo = cut > 20 ? cut - 20 : 0, hi = cut + 20 < len ? cut + 20 : len;
                    for (size_t q = lo; q < hi; q++)
                        fprintf(stderr, q == cut ? " |%02x" : " %02x", text[q]);
                    fprintf(stderr, "\n");
                    check_failures++;
                }
                free(parts.v);
                free(a);
                free(b);
                cuts_checked++;
                from = cut;
            }
            free(whole.v);
            free(whole_text);
        }
        tokfs_pretok_free(&p);
    }
    printf("cut places checked: %d\n", cuts_checked);
    CHECK(cuts_checked > 5000);

    /* a general regex never cuts */
    tokfs_pretok re;
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_pretok_init_regex(&re, "\\w+|\\s+|[^\\w\\s]+", &err), 0);
    size_t len = random_text(text, 5000, 0);
    CHECK_EQ_INT(tokfs_pretok_cut(&re, text, len, 0), len);
    tokfs_pretok_free(&re);
    free(text);
}

/* ---- tokenizer.json files whose first stage must not be cut ------------------------------ */

static char tmpdir[] = "/tmp/tokfs-pool-XXXXXX";

/* A byte-level tokenizer.json with the 256 byte tokens (GPT-2's byte-to-character map), no
 * merges, the given pre_tokenizer and added_tokens members. */
static const char *write_hf(const char *name, const char *pre_tokenizer, const char *added)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs("{\"model\":{\"type\":\"BPE\",\"vocab\":{", f);
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        fprintf(f, "%s\"\\u%04x\":%d", b ? "," : "", printable ? b : 256 + extra++, b);
    }
    fprintf(f, "},\"merges\":[]},\"pre_tokenizer\":%s,\"added_tokens\":[%s]}", pre_tokenizer,
            added);
    fclose(f);
    return path;
}

static void test_tokenizer_cut(void)
{
    static const char *const TEXT = "Hello world. This is a test, with words.";
    size_t len = strlen(TEXT);
    const uint8_t *t = (const uint8_t *)TEXT;
    tokfs_tokenizer *tok;
    tokfs_err err = {{0}};

    CHECK_EQ_INT(tokfs_tokenizer_open("gpt2", NULL, NULL, &tok, &err), 0);
    CHECK(tok->cut && tok->cut(tok, t, len, 0) == 5); /* "Hello| world" */
    tokfs_tokenizer_close(tok);

    const char *plain = write_hf("plain.json",
                                 "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}", "");
    CHECK_EQ_INT(tokfs_tokenizer_open(plain, NULL, "255", &tok, &err), 0);
    CHECK(tok->cut && tok->cut(tok, t, len, 0) == 5);
    tokfs_tokenizer_close(tok);

    /* add_prefix_space: the second part would get a space of its own */
    const char *prefix = write_hf("prefix.json",
                                  "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}", "");
    CHECK_EQ_INT(tokfs_tokenizer_open(prefix, NULL, "255", &tok, &err), 0);
    CHECK(tok->cut && tok->cut(tok, t, len, 0) == len);
    tokfs_tokenizer_close(tok);

    /* an added token matched in the text could straddle the cut */
    const char *added = write_hf(
        "added.json", "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}",
        "{\"id\":256,\"content\":\"o w\",\"special\":false,\"single_word\":false,\"lstrip\":false,"
        "\"rstrip\":false,\"normalized\":false}");
    if (tokfs_tokenizer_open(added, NULL, "255", &tok, &err) == 0) {
        CHECK(tok->cut && tok->cut(tok, t, len, 0) == len);
        tokfs_tokenizer_close(tok);
    } else {
        fprintf(stderr, "added.json refused: %s\n", err.msg);
        check_failures++;
    }

    /* bytes: one id per byte, any place is a cut place */
    CHECK_EQ_INT(tokfs_tokenizer_open("bytes", NULL, NULL, &tok, &err), 0);
    CHECK(tok->cut && tok->cut(tok, t, len, 7) == 7 && tok->cut(tok, t, len, len + 3) == len);
    tokfs_tokenizer_close(tok);
}

/* ---- the pool ---------------------------------------------------------------------------- */

typedef struct idvec {
    uint32_t *v;
    size_t n, cap;
} idvec;

static int idvec_put(void *ctx, const uint32_t *ids, size_t n)
{
    idvec *o = ctx;
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
    }
    memcpy(o->v + o->n, ids, n * sizeof *ids);
    o->n += n;
    return 0;
}

/* Each document encoded alone (UTF-8 repaired first for a text tokenizer) and followed by the
 * end-of-text id. */
static void encode_alone(const tokfs_tokenizer *tok, uint8_t **docs, const size_t *lens,
                         size_t ndocs, idvec *out)
{
    tokfs_id_sink sink = {idvec_put, out};
    for (size_t d = 0; d < ndocs; d++) {
        size_t cap = lens[d] * 3 + 16, n;
        uint8_t *fixed = malloc(cap);
        tokfs_utf8_state st = {0};
        n = tok->text_based ? tokfs_utf8_repair(&st, docs[d], lens[d], fixed, 1) : lens[d];
        CHECK_EQ_INT(tok->encode(tok, tok->text_based ? fixed : docs[d], n, &sink), 0);
        uint32_t eot = tok->eot_id;
        idvec_put(out, &eot, 1);
        free(fixed);
    }
}

static size_t big_doc_bytes = 3u << 20, ndocs = 60;

static void test_pool(const char *tokname, const char *eot)
{
    tokfs_tokenizer *tok;
    tokfs_err err = {{0}};
    if (tokfs_tokenizer_open(tokname, NULL, eot, &tok, &err)) {
        fprintf(stderr, "cannot open %s: %s\n", tokname, err.msg);
        check_failures++;
        return;
    }
    uint8_t *docs[60];
    size_t lens[60];
    for (size_t d = 0; d < ndocs; d++) {
        size_t want;
        switch (d % 10) {
        case 3: want = big_doc_bytes; break;                  /* several batches */
        case 7: want = TOKFS_TOKPOOL_BATCH * 2 + 12345; break; /* a few */
        case 9: want = 0; break;                              /* empty */
        default: want = rnd() % 20000; break;
        }
        docs[d] = malloc(want + 1);
        lens[d] = random_text(docs[d], want, d % 4 == 0);
    }
    /* one long document with no cut place at all: no spaces */
    free(docs[13]);
    lens[13] = big_doc_bytes - big_doc_bytes / 3 + 7;
    docs[13] = malloc(lens[13]);
    for (size_t i = 0; i < lens[13]; i++)
        docs[13][i] = "abcdefghij0123456789+/="[rnd() % 23];

    idvec want = {0};
    encode_alone(tok, docs, lens, ndocs, &want);
    for (unsigned threads = 1; threads <= 3; threads++) {
        idvec got = {0};
        tokfs_id_sink sink = {idvec_put, &got};
        tokfs_tokpool *pool;
        CHECK_EQ_INT(tokfs_tokpool_start(tok, threads, &sink, NULL, &pool), 0);
        for (size_t d = 0; d < ndocs; d++)
            CHECK_EQ_INT(tokfs_tokpool_add(pool, docs[d], lens[d]), 0);
        CHECK_EQ_INT(tokfs_tokpool_finish(pool), 0);
        tokfs_tokpool_free(pool);
        if (got.n != want.n || memcmp(got.v, want.v, want.n * sizeof *want.v) != 0) {
            fprintf(stderr, "%s, %u threads: %zu ids, want %zu (other ids)\n", tokname, threads,
                    got.n, want.n);
            check_failures++;
        }
        free(got.v);
    }
    free(want.v);
    for (size_t d = 0; d < ndocs; d++)
        free(docs[d]);
    tokfs_tokenizer_close(tok);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *pool_only = getenv("TOKFS_TEST_POOL_ONLY");
    if (pool_only && strcmp(pool_only, "1") == 0) {
        big_doc_bytes = 600000;
        ndocs = 20;
    } else {
        test_cut_places();
        test_tokenizer_cut();
    }
    test_pool("gpt2", NULL);
    test_pool("bytes", NULL);
    test_pool(write_hf("prefix.json", "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}", ""),
              "255");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}
