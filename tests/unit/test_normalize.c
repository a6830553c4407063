/* Unit tests for core/tokenize/normalize.c: known answers of npm tokenizers 0.23.2 (the
 * reference) for each normalizer, the unchanged-text fast path, refusals, and a precompiled
 * charsmap built here as a darts-clone double array.
 *
 * Run with --apply it is also the driver of the differential check tests/tokref/norm_diff.js
 * (which compares whole corpora and every code point with the reference) and a benchmark:
 *
 *   test_normalize --apply SPEC.json INPUT [-o OUT] [-n REPEAT] [-l]
 *
 * SPEC.json holds the normalizer value alone (or a whole tokenizer.json: its "normalizer" is
 * used). Writes the normalized text to OUT, the speed to stderr. -l: normalize each line
 * (LF-separated, the LF kept apart from the normalizer), as documents one by one. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tokenize/normalize_internal.h"

static tokfs_norm *make(const char *json)
{
    json_error_t jerr;
    json_t *spec = json_loads(json, 0, &jerr);
    if (!spec) {
        fprintf(stderr, "bad test JSON %s: %s\n", json, jerr.text);
        return NULL;
    }
    tokfs_err err = {{0}};
    tokfs_norm *n = NULL;
    int rc = tokfs_norm_from_json("test.json", spec, &n, &err);
    json_decref(spec);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", json, err.msg);
    return n;
}

/* Normalize `in` with the normalizer `json` and compare with `want`; `same` is 1 when the
 * result must be `in` itself (the fast path). */
static void expect(const char *json, const char *in, const char *want, int same, int line)
{
    tokfs_norm *n = make(json);
    if (!n) {
        fprintf(stderr, "line %d: no normalizer\n", line);
        check_failures++;
        return;
    }
    tokfs_buf scratch = {0};
    const uint8_t *res;
    size_t res_len;
    size_t len = strlen(in);
    int rc = tokfs_norm_apply(n, (const uint8_t *)in, len, &scratch, &res, &res_len);
    if (rc != 0 || res_len != strlen(want) || memcmp(res, want, res_len) != 0 ||
        (same && res != (const uint8_t *)in)) {
        fprintf(stderr, "line %d: %s on \"%s\": got \"%.*s\" (rc %d, same %d), want \"%s\"\n", line,
                json, in, (int)res_len, (const char *)res, rc, res == (const uint8_t *)in, want);
        check_failures++;
    }
    tokfs_buf_free(&scratch);
    tokfs_norm_free(n);
}
#define EXPECT(json, in, want) expect(json, in, want, 0, __LINE__)
#define SAME(json, in) expect(json, in, in, 1, __LINE__)

static void test_forms(void)
{
    /* Hangul: algorithmic composition and decomposition */
    EXPECT("{\"type\":\"NFC\"}", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81");
    EXPECT("{\"type\":\"NFD\"}", "\xEA\xB0\x81", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
    EXPECT("{\"type\":\"NFC\"}", "e\xCC\x81", "\xC3\xA9");
    /* canonical ordering: U+0316 (class 220) before U+0301 (230); then composition over it */
    EXPECT("{\"type\":\"NFD\"}", "a\xCC\x81\xCC\x96", "a\xCC\x96\xCC\x81");
    EXPECT("{\"type\":\"NFC\"}", "a\xCC\x81\xCC\x96", "\xC3\xA1\xCC\x96");
    /* The reference's data is Unicode 9.0: Kirat Rai (Unicode 16.0) U+16D63 U+16D67 does not
     * compose to U+16D68, U+16D68 does not decompose, U+0898 (14.0) has class 0 (no reordering
     * with U+0316), U+32FF (12.1) has no compatibility mapping. */
    SAME("{\"type\":\"NFC\"}", "\xF0\x96\xB5\xA3\xF0\x96\xB5\xA7");
    SAME("{\"type\":\"NFD\"}", "\xF0\x96\xB5\xA8");
    SAME("{\"type\":\"NFD\"}", "a\xE0\xA2\x98\xCC\x96");
    EXPECT("{\"type\":\"NFKC\"}", "\xEF\xAC\x81 \xE2\x91\xA0 \xE1\xBA\x9B\xCC\xA3 \xE3\x8B\xBF",
           "fi 1 \xE1\xB9\xA9 \xE3\x8B\xBF");
    EXPECT("{\"type\":\"NFKD\"}", "\xC2\xBD", "1\xE2\x81\x84" "2");
    /* NFC of NFC text, NFD of ASCII: the text itself */
    SAME("{\"type\":\"NFC\"}", "plain ASCII, caf\xC3\xA9, \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4");
    SAME("{\"type\":\"NFKD\"}", "only ascii here");
    SAME("{\"type\":\"NFC\"}", "");
}

static void test_simple(void)
{
    /* per character (Rust char::to_lowercase): U+0130 → i + U+0307, Σ → σ even at a word's end */
    EXPECT("{\"type\":\"Lowercase\"}", "\xCE\x91\xCE\xA3 \xCE\xA3\xCE\x91\xCE\xA3. \xC4\xB0stanbul",
           "\xCE\xB1\xCF\x83 \xCF\x83\xCE\xB1\xCF\x83. i\xCC\x87stanbul");
    SAME("{\"type\":\"Lowercase\"}", "already lower \xC3\xA9");
    EXPECT("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}",
           "\xE3\x80\x80 \tab c\xC2\xA0\n", "ab c");
    EXPECT("{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true}", " x ", " x");
    SAME("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "x");
    EXPECT("{\"type\":\"StripAccents\"}", "e\xCC\x84\xCC\x84o", "eo");
    EXPECT("{\"type\":\"Nmt\"}", "a\x01" "b\tc\xE2\x80\x8B" "d\xEF\xBB\xBF", "ab c d ");
    EXPECT("{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"}", "Hello", "\xE2\x96\x81Hello");
    SAME("{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"}", "");
    EXPECT("{\"type\":\"ByteLevel\"}", "H\xC3\xA9 llo", "H\xC3\x83\xC2\xA9\xC4\xA0llo");
}

static void test_replace(void)
{
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}",
           "This     is \xE3\x80\x80 a\ttest", "This is a test");
    /* empty matches: none right after a match (onig's find_iter) */
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a*\"},\"content\":\"-\"}", "baaac", "-b-c-");
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"-\"}", "bac", "-b-a-c-");
    SAME("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a*\"},\"content\":\"-\"}", "");
    /* Oniguruma's escapes: \h is a hex digit, \s White_Space (U+0085 yes, U+180E no), \w
     * takes marks; ^ and $ are line anchors */
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\h\"},\"content\":\"#\"}", "a g 1", "# g #");
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s\"},\"content\":\"#\"}",
           "a\xC2\x85" "b\xE1\xA0\x8E", "a#b\xE1\xA0\x8E");
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"content\":\"#\"}",
           "c\xCC\x81" "d-e", "#-#");
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"$\"},\"content\":\"#\"}", "a\nb", "a#\nb#");
    /* literal matches do not overlap */
    EXPECT("{\"type\":\"Replace\",\"pattern\":{\"String\":\"aa\"},\"content\":\"b\"}", "aaaaa", "bba");
    SAME("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}", "none");
}

static void test_sequences(void)
{
    SAME("{\"type\":\"Sequence\",\"normalizers\":[]}", "Hello world");
    EXPECT("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},"
           "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]}",
           "Hello world", "\xE2\x96\x81Hello\xE2\x96\x81world");
    /* three steps: the text moves between the two buffers */
    EXPECT("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKD\"},{\"type\":\"StripAccents\"},"
           "{\"type\":\"Lowercase\"}]}", "C\xE1\xBB\xA5 TH\xE1\xBB\x82\xE2\x80\xA6", "cu the...");
    EXPECT("{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
           "\"strip_accents\":null,\"lowercase\":true}",
           "H\xC3\xA9llo\xC2\xAD W\xC3\xB6rld\t\xE4\xB8\xAD\xE6\x96\x87!\xEF\xBF\xBD",
           "hello world  \xE4\xB8\xAD  \xE6\x96\x87 !");
    EXPECT("{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":false,"
           "\"strip_accents\":null,\"lowercase\":false}", "H\xC3\xA9llo\r\n", "H\xC3\xA9llo  ");
}

static void test_refusals(void)
{
    const char *specs[] = {
        "{\"type\":\"Uppercase\"}",
        "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Mystery\"}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        json_t *spec = json_loads(specs[i], 0, NULL);
        tokfs_err err = {{0}};
        tokfs_norm *n = (tokfs_norm *)1;
        CHECK_EQ_INT(tokfs_norm_from_json("t.json", spec, &n, &err), -ENOTSUP);
        CHECK(n == NULL);
        CHECK(strstr(err.msg, "tokenizer=t.json: normalizer ") != NULL);
        CHECK(strstr(err.msg, "is not supported; tokfs refuses rather than approximate it") != NULL);
        json_decref(spec);
    }
    tokfs_norm *n = (tokfs_norm *)1;
    CHECK_EQ_INT(tokfs_norm_from_json("t.json", json_null(), &n, NULL), 0);
    CHECK(n == NULL);
    const uint8_t *res;
    size_t res_len;
    tokfs_buf scratch = {0};
    CHECK_EQ_INT(tokfs_norm_apply(NULL, (const uint8_t *)"x", 1, &scratch, &res, &res_len), 0);
    CHECK(res_len == 1 && res[0] == 'x');
}

/* ---- a darts-clone double array built here: each node's children sit at base ^ label, base a
 * multiple of 256 used by no other node; a node with a value has a leaf unit at base ^ 0. */
struct tnode {
    int child[256];
    int value;
};

static void build_charsmap(const char *const *keys, const char *const *repls, size_t n,
                           tokfs_buf *blob)
{
    static struct tnode nodes[64];
    int nn = 1;
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < 64; i++)
        nodes[i].value = -1;
    tokfs_buf strings = {0};
    for (size_t k = 0; k < n; k++) {
        int at = 0;
        for (const char *p = keys[k]; *p; p++) {
            int c = (uint8_t)*p;
            if (!nodes[at].child[c])
                nodes[at].child[c] = nn++;
            at = nodes[at].child[c];
        }
        nodes[at].value = (int)strings.len;
        tokfs_buf_append(&strings, repls[k], strlen(repls[k]) + 1);
    }
    static uint32_t units[64 * 256 + 256];
    memset(units, 0, sizeof units);
    int queue[64], index[64], qh = 0, qt = 0, next_base = 256;
    queue[qt] = 0;
    index[qt++] = 0;
    size_t nunits = 1;
    while (qh < qt) {
        int node = queue[qh], p = index[qh++];
        int base = next_base; /* a fresh block per node: never shared, never colliding */
        next_base += 256;
        units[p] |= (uint32_t)(p ^ base) << 10;
        if (nodes[node].value >= 0)
            units[base] = (uint32_t)nodes[node].value | 0x80000000u;
        for (int c = 1; c < 256; c++) {
            int ch = nodes[node].child[c];
            if (!ch)
                continue;
            units[base ^ c] = (uint32_t)c | (nodes[ch].value >= 0 ? 1u << 8 : 0);
            queue[qt] = ch;
            index[qt++] = base ^ c;
        }
        if ((size_t)base + 256 > nunits)
            nunits = (size_t)base + 256;
    }
    uint8_t hdr[4];
    uint32_t size = (uint32_t)(nunits * 4);
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(size >> (8 * i));
    tokfs_buf_append(blob, hdr, 4);
    for (size_t i = 0; i < nunits; i++) {
        uint8_t u[4];
        for (int b = 0; b < 4; b++)
            u[b] = (uint8_t)(units[i] >> (8 * b));
        tokfs_buf_append(blob, u, 4);
    }
    tokfs_buf_append(blob, strings.data, strings.len);
    tokfs_buf_free(&strings);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void test_precompiled(void)
{
    const char *keys[] = {"a", "ab", "\r", "\xEF\xAC\x81", "e\xCC\x81", "\xE2\x80\x8B"};
    const char *repls[] = {"X", "Y", " ", "fi", "\xC3\xA9", ""};
    tokfs_buf blob = {0};
    build_charsmap(keys, repls, 6, &blob);

    tokfs_charsmap *cm;
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_charsmap_open(blob.data, blob.len, &cm, &err), 0);
    const uint8_t *r;
    size_t rl;
    CHECK_EQ_INT(tokfs_charsmap_longest(cm, (const uint8_t *)"abc", 3, &r, &rl), 2);
    CHECK_MEM(r, rl, "Y", 1);
    CHECK_EQ_INT(tokfs_charsmap_shortest(cm, (const uint8_t *)"abc", 3, &r, &rl), 1);
    CHECK_MEM(r, rl, "X", 1);
    CHECK_EQ_INT(tokfs_charsmap_longest(cm, (const uint8_t *)"\xE2\x80\x8Bx", 4, &r, &rl), 3);
    CHECK_EQ_INT(rl, 0);
    CHECK_EQ_INT(tokfs_charsmap_longest(cm, (const uint8_t *)"b", 1, &r, &rl), 0);
    tokfs_charsmap_free(cm);
    CHECK(tokfs_charsmap_open(blob.data, 3, &cm, &err) == -EINVAL);

    /* the same blob as a tokenizer.json Precompiled normalizer (base64) */
    tokfs_buf json = {0};
    tokfs_buf_printf(&json, "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"");
    for (size_t i = 0; i < blob.len; i += 3) {
        uint32_t v = (uint32_t)blob.data[i] << 16;
        size_t k = blob.len - i;
        if (k > 1)
            v |= (uint32_t)blob.data[i + 1] << 8;
        if (k > 2)
            v |= blob.data[i + 2];
        char q[5] = {B64[v >> 18], B64[(v >> 12) & 63], k > 1 ? B64[(v >> 6) & 63] : '=',
                     k > 2 ? B64[v & 63] : '=', 0};
        tokfs_buf_printf(&json, "%s", q);
    }
    tokfs_buf_printf(&json, "\"}");
    const char *spec = (const char *)json.data;
    /* Answers of the reference on this blob. A cluster under 6 bytes is replaced as a whole by
     * its shortest rule ("a" + U+0301 → X; e + U+0301 U+0301 → é), one of 6 bytes or more is
     * looked up per character; CR LF is one cluster ("\r" → " "). */
    EXPECT(spec, "a\xCC\x81" "b", "Xb");
    EXPECT(spec, "ab", "Xb");
    EXPECT(spec, "e\xCC\x81\xCC\x81", "\xC3\xA9");
    EXPECT(spec, "\r\n", " ");
    EXPECT(spec, "\xEF\xAC\x81", "fi");
    EXPECT(spec, "x\xE2\x80\x8By", "xy");
    EXPECT(spec, "a\xCC\x81\xCC\x81\xCC\x81", "X\xCC\x81\xCC\x81\xCC\x81");
    SAME(spec, "e\xCC\x81\xCC\x81\xCC\x81");
    SAME(spec, "hello");
    tokfs_buf_free(&json);
    tokfs_buf_free(&blob);
}

static void test_graphemes(void)
{
    struct { const char *s; size_t first; } cases[] = {
        {"\r\n", 2},
        {"a\xCC\x81" "b", 3},
        {"\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9x", 11}, /* emoji ZWJ emoji */
        {"\xF0\x9F\x87\xA6\xF0\x9F\x87\xB7\xF0\x9F\x87\xA6", 8}, /* two RIs pair, the third not */
        {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8" "a", 9},      /* L V T */
        {"\xD8\x80" "a", 3},                                 /* Prepend */
        {"\xE0\xA4\x95\xE0\xA4\xBF", 6},                     /* SpacingMark */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_EQ_INT(tokfs_grapheme_len((const uint8_t *)cases[i].s, strlen(cases[i].s)),
                     cases[i].first);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int apply_main(int argc, char **argv)
{
    const char *out_path = NULL;
    int repeat = 1, lines = 0;
    const char *pos[2];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
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
        fprintf(stderr, "usage: test_normalize --apply SPEC.json INPUT [-o OUT] [-n REPEAT] [-l]\n");
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
    fprintf(stderr, "test_normalize: %zu bytes x %d in %.3f s: %.1f MB/s\n", in.len, repeat, dt,
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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--apply") == 0)
        return apply_main(argc, argv);
    test_forms();
    test_simple();
    test_replace();
    test_sequences();
    test_refusals();
    test_precompiled();
    test_graphemes();
    CHECK_DONE();
}
