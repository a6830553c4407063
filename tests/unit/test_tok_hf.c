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

int main(void)
{
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
