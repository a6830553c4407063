/* Unit test of the Hugging Face pipeline's own part (core/tokenize/tok_hf.c): added tokens as
 * Hugging Face matches them — leftmost-longest, single_word, lstrip, rstrip, normalized (matched
 * after the normalizer), HF's renumbering (a content in the vocabulary takes the vocabulary's id,
 * any other the next id from the vocabulary size, whatever the file says) — and
 * special_tokens=text|match. Expected ids are npm tokenizers 0.23.2's for the same file
 * (encode(text, null, {addSpecialTokens: false})); text mode is HF's encode_special_tokens=true:
 * a special token's match is dropped, so its text goes to the model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/buf.h"
#include "tokenize/tokenizer.h"

/* A character-level BPE over letters, space and a few symbols; Lowercase normalizer; the added
 * tokens [A], yes (single_word), <L> (lstrip), <R> (rstrip), Day (normalized), <s> (special),
 * zz (in the vocabulary; the file says 999), <LR> (both strips), </s> (special). */
static const char TOKENIZER_JSON[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[{\"id\":900,\"content\":\"[A]"
    "\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false},{\""
    "id\":901,\"content\":\"yes\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":fals"
    "e,\"special\":false},{\"id\":902,\"content\":\"<L>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":fa"
    "lse,\"normalized\":false,\"special\":false},{\"id\":903,\"content\":\"<R>\",\"single_word\":false,\"lst"
    "rip\":false,\"rstrip\":true,\"normalized\":false,\"special\":false},{\"id\":904,\"content\":\"Day\",\"si"
    "ngle_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false},{\"id\":90"
    "5,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"sp"
    "ecial\":true},{\"id\":999,\"content\":\"zz\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"n"
    "ormalized\":false,\"special\":false},{\"id\":906,\"content\":\"<LR>\",\"single_word\":false,\"lstrip\":"
    "true,\"rstrip\":true,\"normalized\":false,\"special\":false},{\"id\":907,\"content\":\"</s>\",\"single_"
    "word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],\"normalizer\""
    ":{\"type\":\"Lowercase\"},\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,\"model\":{\""
    "type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"continuing_subword_prefix\":null,\"end_of_wo"
    "rd_suffix\":null,\"fuse_unk\":true,\"byte_fallback\":false,\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"c\":3"
    ",\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16,\"q\":"
    "17,\"r\":18,\"s\":19,\"t\":20,\"u\":21,\"v\":22,\"w\":23,\"x\":24,\"y\":25,\"z\":26,\"A\":27,\"B\":28,\"C\":29,\"D\""
    ":30,\"E\":31,\"F\":32,\"G\":33,\"H\":34,\"I\":35,\"J\":36,\"K\":37,\"L\":38,\"M\":39,\"N\":40,\"O\":41,\"P\":42,\"Q"
    "\":43,\"R\":44,\"S\":45,\"T\":46,\"U\":47,\"V\":48,\"W\":49,\"X\":50,\"Y\":51,\"Z\":52,\" \":53,\".\":54,\",\":55,\""
    "<\":56,\">\":57,\"[\":58,\"]\":59,\"/\":60,\"ab\":61,\"abc\":62,\"ye\":63,\"yes\":64,\"da\":65,\"day\":66,\"zz\":"
    "67,\" a\":68,\" y\":69},\"merges\":[[\"a\",\"b\"],[\"ab\",\"c\"],[\"y\",\"e\"],[\"ye\",\"s\"],[\"d\",\"a\"],[\"da\",\"y"
    "\"],[\"z\",\"z\"],[\" \",\"a\"],[\" \",\"y\"]]}}";

typedef struct got {
    uint32_t ids[256];
    size_t n;
} got;

static int put(void *ctx, const uint32_t *ids, size_t n)
{
    got *g = ctx;
    for (size_t i = 0; i < n && g->n < 256; i++)
        g->ids[g->n++] = ids[i];
    return 0;
}

static char path[64];

static void expect(const tokfs_tokenizer *tok, const char *text, const uint32_t *want, size_t nwant)
{
    got g = {.n = 0};
    tokfs_id_sink sink = {put, &g};
    CHECK_EQ_INT(tok->encode(tok, (const uint8_t *)text, strlen(text), &sink), 0);
    int same = g.n == nwant && (!nwant || memcmp(g.ids, want, nwant * sizeof *want) == 0);
    if (!same) {
        fprintf(stderr, "encode(\"%s\") gave", text);
        for (size_t i = 0; i < g.n; i++)
            fprintf(stderr, " %u", g.ids[i]);
        fprintf(stderr, ", want");
        for (size_t i = 0; i < nwant; i++)
            fprintf(stderr, " %u", want[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
}

#define EXPECT(tok, text, ...)                                                              \
    do {                                                                                    \
        static const uint32_t want_[] = {__VA_ARGS__};                                      \
        expect(tok, text, want_, sizeof want_ / sizeof want_[0]);                           \
    } while (0)

static tokfs_tokenizer *open_mode(int match_special)
{
    tokfs_tokenizer_opts o = {.name = path, .eot = "</s>", .match_special = match_special};
    tokfs_tokenizer *tok = NULL;
    tokfs_err err = {{0}};
    int rc = tokfs_tokenizer_open_opts(&o, &tok, &err);
    if (rc)
        fprintf(stderr, "open %s: %s\n", path, err.msg);
    CHECK_EQ_INT(rc, 0);
    return rc ? NULL : tok;
}

/* Both modes agree wherever no special token is in the text. */
static void common_cases(const tokfs_tokenizer *tok)
{
    EXPECT(tok, "x [A] y", 24, 53, 70, 69);
    /* "yes" is in the vocabulary (64); single_word refuses the match inside "yesno", "ayes" */
    EXPECT(tok, "yes yesno ayes yes.", 64, 53, 64, 14, 15, 68, 64, 53, 64, 54);
    EXPECT(tok, "a   <L>b", 1, 71, 2);           /* lstrip takes the spaces before */
    EXPECT(tok, "a<R>   b", 1, 72, 2);           /* rstrip the spaces after */
    /* "Day" (normalized) is matched as "day" after Lowercase, under its new id 73 */
    EXPECT(tok, "I said Day and DAY", 9, 53, 19, 1, 9, 4, 53, 73, 68, 14, 4, 53, 73);
    EXPECT(tok, "zz zzz", 67, 53, 67, 26);       /* the vocabulary's id, not the file's 999 */
    EXPECT(tok, "a  <LR>  b", 1, 75, 2);
    EXPECT(tok, "q\xc3\xa9q", 17, 0, 17);        /* not in the vocabulary: <unk> */
    expect(tok, "", NULL, 0);                /* no text, no ids */
}

/* ---- the vocabulary scanner (tok_hf_scan.c): model.vocab and model.merges read from the
 * file's bytes, the rest by jansson ------------------------------------------------------- */

static char scan_path[80];

static int write_json(const char *json)
{
    FILE *f = fopen(scan_path, "w");
    if (!f || fputs(json, f) < 0 || fclose(f)) {
        perror(scan_path);
        return -1;
    }
    return 0;
}

/* Open json with eot; NULL (and the message in msg) when refused. */
static tokfs_tokenizer *open_json(const char *json, const char *eot, char *msg, size_t cap)
{
    tokfs_tokenizer *tok = NULL;
    tokfs_err err = {{0}};
    tokfs_tokenizer_opts o = {.name = scan_path, .eot = eot};
    if (write_json(json))
        return NULL;
    int rc = tokfs_tokenizer_open_opts(&o, &tok, &err);
    snprintf(msg, cap, "%s", rc ? err.msg : "");
    return rc ? NULL : tok;
}

static void refused(const char *json, const char *needle)
{
    char msg[512];
    tokfs_tokenizer *tok = open_json(json, "0", msg, sizeof msg);
    if (tok || !strstr(msg, needle)) {
        fprintf(stderr, "%s\n  gave \"%s\", want a refusal naming \"%s\"\n", json, msg, needle);
        CHECK(0);
    }
    if (tok)
        tokfs_tokenizer_close(tok);
}

static void test_scan(void)
{
    snprintf(scan_path, sizeof scan_path, "/tmp/tokfs-test-tok-hf-scan-%ld.json", (long)getpid());
    char msg[512];
    tokfs_tokenizer *tok;
    /* escapes in vocabulary strings (decoded, "\u0061b" is "ab"), "\u0000" allowed as serde_json
     * allows it, both merge forms, members in any order, whitespace everywhere */
    static const char *const forms[] = {
        "{ \"model\" : { \"merges\" : [ \"a b\" , \"ab c\" ] , \"type\" : \"BPE\" ,\n"
        "  \"vocab\" : { \"a\" : 0 , \"b\" : 1 , \"\\u0061b\" : 2 , \"c\" : 3 , \"abc\" : 4 ,\n"
        "  \"\\u0000\" : 5 , \"\\\"\" : 6 , \"\\ud83d\\ude00\" : 7 } } }",
        "{\"added_tokens\":[],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,"
        "\"c\":3,\"abc\":4,\"\\u0000\":5,\"\\\"\":6,\"\xf0\x9f\x98\x80\":7},\"merges\":"
        "[[\"a\",\"b\"],[\"ab\",\"c\"]]},\"normalizer\":null}",
    };
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        tok = open_json(forms[k], "0", msg, sizeof msg);
        if (!tok) {
            fprintf(stderr, "form %zu refused: %s\n", k, msg);
            CHECK(0);
            continue;
        }
        got g = {.n = 0};
        tokfs_id_sink sink = {put, &g};
        static const uint8_t text[] = "abc\0\"ab\xf0\x9f\x98\x80";
        CHECK_EQ_INT(tok->encode(tok, text, sizeof text - 1, &sink), 0);
        static const uint32_t want[] = {4, 5, 6, 2, 7};
        CHECK(g.n == 5 && memcmp(g.ids, want, sizeof want) == 0);
        CHECK_EQ_INT(tok->vocab_size, 8);
        /* the decoder (made on first use, from the file read again) */
        size_t n = 0;
        const uint8_t *b = tok->token_bytes(tok, 4, &n);
        CHECK(b && n == 3 && memcmp(b, "abc", 3) == 0);
        b = tok->token_bytes(tok, 5, &n);
        CHECK(b && n == 1 && b[0] == 0);
        b = tok->token_bytes(tok, 7, &n);
        CHECK(b && n == 4 && memcmp(b, "\xf0\x9f\x98\x80", 4) == 0);
        CHECK(tok->token_bytes(tok, 8, &n) == NULL);
        tokfs_tokenizer_close(tok);
    }
    /* character-level names: ▁ decodes as a space, <0xNN> as its byte; a file changed after the
     * load decodes nothing (it is not the tokenizer the ids came from) */
    tok = open_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\u2581x\":0,\"<0x41>\":1,"
                    "\"x\":2,\"\u2581\":3},\"merges\":[\"\u2581 x\"]}}", "2", msg, sizeof msg);
    CHECK(tok != NULL);
    if (tok) {
        size_t n = 0;
        const uint8_t *b = tok->token_bytes(tok, 0, &n);
        CHECK(b && n == 2 && memcmp(b, " x", 2) == 0);
        b = tok->token_bytes(tok, 1, &n);
        CHECK(b && n == 1 && b[0] == 'A');
        tokfs_tokenizer_close(tok);
    }
    tok = open_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"x\":0},\"merges\":[]}}", "0", msg,
                    sizeof msg);
    CHECK(tok != NULL);
    if (tok) {
        CHECK(write_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"y\":0},\"merges\":[]}}") == 0);
        size_t n = 0;
        CHECK(tok->token_bytes(tok, 0, &n) == NULL);
        tokfs_tokenizer_close(tok);
    }
    tok = NULL;
    /* Byte-level BPE with a vocabulary entry outside the byte alphabet ("中": the model can never
     * produce it, so it is not in the BPE's table): an added token with that text still gets
     * its vocabulary id, found through the string index; a new one gets the next id */
    {
        tokfs_buf j = {0};
        tokfs_buf_printf(&j, "{\"added_tokens\":[{\"id\":0,\"content\":\"\u4e2d\",\"special\":false,"
                             "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                             "\"normalized\":false},{\"id\":0,\"content\":\"\u65b0\",\"special\":"
                             "false,\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                             "\"normalized\":false}],\"pre_tokenizer\":{\"type\":\"ByteLevel\","
                             "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
                             "\"model\":{\"type\":\"BPE\",\"merges\":[],\"vocab\":{");
        unsigned next = 0x100;
        for (unsigned b = 0; b < 256; b++) {
            int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            unsigned cp = printable ? b : next++;
            tokfs_buf_printf(&j, "\"\\u%04x\":%u,", cp, b);
        }
        tokfs_buf_printf(&j, "\"\\u4e2d\":256}}}");
        tok = open_json((const char *)j.data, "0", msg, sizeof msg);
        tokfs_buf_free(&j);
        CHECK(tok != NULL);
        if (tok) {
            EXPECT(tok, "a\xe4\xb8\xad\xe6\x96\xb0", 'a', 256, 257);
            CHECK_EQ_INT(tok->vocab_size, 258);
            tokfs_tokenizer_close(tok);
        } else {
            fprintf(stderr, "byte-level refused: %s\n", msg);
        }
    }
    /* Unigram pieces given twice: the last one is the piece's id (HF's token_to_ids) */
    tok = open_json("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":"
                                     "[[\"<unk>\",0.0],[\"x\",-1.5e0],[\"x\",-2],[\"</s>\",0]]}}",
                                     "x", msg, sizeof msg);
    CHECK(tok != NULL);
    if (tok) {
        CHECK_EQ_INT(tok->eot_id, 2);
        EXPECT(tok, "xx", 2, 2);
        tokfs_tokenizer_close(tok);
    } else {
        fprintf(stderr, "unigram refused: %s\n", msg);
    }
    /* malformed in the scanned values: jansson's verdict on the whole file (a line number) */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\n\"b\":},\"merges\":[]}}",
            "not valid JSON (line 2");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\" \"b\"]}}",
            "not valid JSON");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\\x\":0},\"merges\":[]}}", "not valid JSON");
    /* valid JSON that the scanner refuses: named */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0.5},\"merges\":[]}}",
            "vocab entry \"a\" has no valid id");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "no valid id");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":2147483648},\"merges\":[]}}",
            "no valid id");
    /* ids are dense in tokfs's tables: one far beyond the entries would cost gigabytes (the
     * fuzzer's regressions/tokenizer_json/oom-sparse-id) */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1908888888},\"merges\":[]}}",
            "vocab id 1908888888 is far beyond");
    {
        tokfs_tokenizer *t2 = NULL;
        tokfs_err e2 = {{0}};
        tokfs_tokenizer_opts o2 = {.name = scan_path, .eot = "2000000000"};
        CHECK(write_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}") == 0);
        CHECK(tokfs_tokenizer_open_opts(&o2, &t2, &e2) < 0 && strstr(e2.msg, "far beyond"));
        if (t2)
            tokfs_tokenizer_close(t2);
    }
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}}",
            "ids 0 and 1 are the same token"); /* BPE: its own table refuses it */
    refused("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"a\":1}}}",
            "the vocabulary has \"a\" twice");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}",
            "merge #0 is not two tokens");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b c\"]}}",
            "merge #0 is not two");
    refused("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\",\"x\"]]}}",
            "Unigram vocab[0] has no valid score");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\udc00\":0},\"merges\":[]}}",
            "tokenizer="); /* a lone surrogate: serde_json refuses it */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xff\":0},\"merges\":[]}}",
            "tokenizer="); /* not UTF-8 */
    /* an error after the scanned values: its line in the user's file, not in the cut copy */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\n\"a\":0,\n\"b\":1\n},\"merges\":[\n]},\n"
            "\"normalizer\": nul}", "not valid JSON (line 6");
    /* a second model member, a second vocab: duplicates are refused as before */
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"model\":{}}",
            "not valid JSON");
    refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"vocab\":{},\"merges\":[]}}",
            "duplicate object key");
    unlink(scan_path);
}

int main(void)
{
    test_scan();
    snprintf(path, sizeof path, "/tmp/tokfs-test-tok-hf-%ld.json", (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f || fputs(TOKENIZER_JSON, f) < 0 || fclose(f)) {
        perror(path);
        return 1;
    }
    tokfs_tokenizer *tok = open_mode(1);
    if (tok) {
        common_cases(tok);
        EXPECT(tok, "a<s>b</s>", 1, 74, 2, 76);
        EXPECT(tok, "<s><L>", 74, 71);
        CHECK_EQ_INT(tok->eot_id, 76);
        CHECK_EQ_INT(tok->vocab_size, 77);
        tokfs_tokenizer_close(tok);
    }
    tok = open_mode(0);
    if (tok) {
        common_cases(tok);
        EXPECT(tok, "a<s>b</s>", 1, 56, 19, 57, 2, 56, 60, 19, 57);
        EXPECT(tok, "<s><L>", 56, 19, 57, 71);
        CHECK(tok->fingerprint != 0);
        tokfs_tokenizer_close(tok);
    }
    unlink(path);
    CHECK_DONE();
}
