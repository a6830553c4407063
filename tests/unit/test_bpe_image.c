/* BPE images (core/tokenize/bpe_image.c): a BPE mapped from its image encodes, cuts, looks up and
 * decodes exactly as the BPE it was saved from, for character-level BPE with byte fallback (the
 * Llama-2 / Gemma shape) and byte-level BPE with ranks (tiktoken) and with merges; an image that
 * is damaged, torn, from another format version or with other extra bytes is refused (-EINVAL),
 * a missing one is -ENOENT; and a tokenizer.json loaded with an image directory makes an image,
 * is loaded from it the next time with the same ids, and replaces a damaged one. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/buf.h"
#include "common/hash.h"
#include "tokenize/bpe_internal.h"
#include "tokenize/tokenizer.h"

static char dir[64];

/* A random word over a small alphabet: some ASCII, "▁" (3 bytes), and a character that no
 * token holds (é: byte fallback in character mode). */
static size_t random_text(uint64_t *rng, uint8_t *out, size_t max)
{
    static const char *const units[] = {"a", "b", "c", "d", "e", "f", "\xe2\x96\x81", "x", "y",
                                        "\xc3\xa9", " ", "z"};
    size_t n = 0, want = 1 + tokfs_splitmix64(rng) % (max / 4);
    while (n < want) {
        const char *u = units[tokfs_splitmix64(rng) % (sizeof units / sizeof units[0])];
        size_t l = strlen(u);
        if (n + l > max)
            break;
        memcpy(out + n, u, l);
        n += l;
    }
    return n ? n : 1;
}

/* A vocabulary grown by merging random pairs of tokens already in it, each merge a rule. */
static tokfs_bpe *make_bpe(int chars, tokfs_bpe_rules rules, uint64_t seed)
{
    tokfs_err err = {0};
    tokfs_bpe *b = tokfs_bpe_create(rules, 0);
    CHECK(b != NULL);
    if (chars) {
        tokfs_bpe_chars o = {.byte_fallback = 1, .unk_id = -1};
        CHECK_EQ_INT(tokfs_bpe_set_chars(b, &o, &err), 0);
    }
    uint8_t tok[4096][24];
    size_t len[4096], n = 0;
    uint32_t id = 0;
    if (chars) {
        static const char *const base[] = {"a", "b", "c", "d", "e", "f", "\xe2\x96\x81", "x",
                                           "y", " ", "z"};
        for (size_t k = 0; k < sizeof base / sizeof base[0]; k++, n++) {
            len[n] = strlen(base[k]);
            memcpy(tok[n], base[k], len[n]);
            CHECK_EQ_INT(tokfs_bpe_add_token(b, tok[n], len[n], id++, &err), 0);
        }
        for (int c = 0; c < 256; c++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            CHECK_EQ_INT(tokfs_bpe_add_token(b, (const uint8_t *)name, 6, id++, &err), 0);
        }
    } else {
        for (int c = 0; c < 256; c++, n++) {
            tok[n][0] = (uint8_t)c;
            len[n] = 1;
            CHECK_EQ_INT(tokfs_bpe_add_token(b, tok[n], 1, id++, &err), 0);
        }
    }
    uint64_t rng = seed;
    uint32_t priority = 0;
    for (int tries = 0; tries < 20000 && n < 4096; tries++) {
        size_t l = tokfs_splitmix64(&rng) % n, r = tokfs_splitmix64(&rng) % n;
        if (len[l] + len[r] > sizeof tok[0])
            continue;
        uint8_t cat[48];
        memcpy(cat, tok[l], len[l]);
        memcpy(cat + len[l], tok[r], len[r]);
        if (tokfs_bpe_lookup(b, cat, len[l] + len[r]) >= 0)
            continue;
        memcpy(tok[n], cat, len[l] + len[r]);
        len[n] = len[l] + len[r];
        CHECK_EQ_INT(tokfs_bpe_add_token(b, tok[n], len[n], id++, &err), 0);
        if (rules == TOKFS_BPE_MERGES)
            CHECK_EQ_INT(tokfs_bpe_add_merge(b, tok[l], len[l], tok[r], len[r], priority++, &err),
                         0);
        n++;
    }
    CHECK_EQ_INT(tokfs_bpe_finish(b, rules == TOKFS_BPE_RANKS, &err), 0);
    return b;
}

static void same_behaviour(const tokfs_bpe *a, const tokfs_bpe *m, uint64_t seed)
{
    CHECK_EQ_INT(tokfs_bpe_count(a), tokfs_bpe_count(m));
    CHECK_EQ_INT(tokfs_bpe_id_limit(a), tokfs_bpe_id_limit(m));
    for (uint32_t id = 0; id < tokfs_bpe_id_limit(a); id++) {
        size_t la = 0, lm = 0;
        const uint8_t *ta = tokfs_bpe_token(a, id, &la), *tm = tokfs_bpe_token(m, id, &lm);
        CHECK((ta == NULL) == (tm == NULL));
        if (ta && tm) {
            CHECK_MEM(ta, la, tm, lm);
            CHECK_EQ_INT(tokfs_bpe_lookup(m, ta, la), id);
        }
    }
    uint64_t rng = seed;
    uint8_t text[512];
    int differ = 0;
    for (int k = 0; k < 3000; k++) {
        size_t n = random_text(&rng, text, sizeof text);
        tokfs_ids ia = {0}, im = {0};
        CHECK_EQ_INT(tokfs_bpe_encode_piece(a, NULL, text, n, &ia), 0);
        CHECK_EQ_INT(tokfs_bpe_encode_piece(m, tokfs_bpe_thread_cache(m), text, n, &im), 0);
        if (ia.len != im.len || (ia.len && memcmp(ia.ids, im.ids, ia.len * sizeof *ia.ids)))
            differ++;
        CHECK_EQ_INT(tokfs_bpe_cut(a, text, n, 1), tokfs_bpe_cut(m, text, n, 1));
        tokfs_ids_free(&ia);
        tokfs_ids_free(&im);
    }
    CHECK_EQ_INT(differ, 0);
}

static void write_byte(const char *path, off_t at, int xor)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t c = 0;
    CHECK_EQ_INT(pread(fd, &c, 1, at), 1);
    c ^= (uint8_t)xor;
    CHECK_EQ_INT(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static ino_t file_ino(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void test_round_trip(int chars, tokfs_bpe_rules rules, uint64_t seed)
{
    tokfs_bpe *b = make_bpe(chars, rules, seed);
    char path[128];
    snprintf(path, sizeof path, "%s/b%d%d.bpe", dir, chars, (int)rules);
    const char extra[] = "the owner's facts";
    CHECK_EQ_INT(tokfs_bpe_image_save(b, extra, sizeof extra, path), 0);
    tokfs_bpe *m = NULL;
    const void *got = NULL;
    size_t got_len = 0;
    CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), 0);
    if (m) {
        CHECK_MEM(got, got_len, extra, sizeof extra);
        same_behaviour(b, m, seed + 1);
        CHECK_EQ_INT(tokfs_bpe_image_save(m, extra, sizeof extra, path), -EINVAL); /* mapped */
        tokfs_bpe_destroy(m);
    }
    /* damaged at several places (the extra bytes too), torn, another version: all refused */
    m = NULL;
    off_t size = file_size(path);
    off_t places[] = {8 /* version */, 100, size / 3, size / 2, size - 1};
    for (size_t k = 0; k < sizeof places / sizeof places[0]; k++) {
        write_byte(path, places[k], 0x10);
        CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), -EINVAL);
        write_byte(path, places[k], 0x10);
    }
    CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), 0);
    tokfs_bpe_destroy(m);
    CHECK_EQ_INT(truncate(path, size - 64), 0);
    CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), -EINVAL);
    CHECK_EQ_INT(truncate(path, 10), 0);
    CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), -EINVAL);
    unlink(path);
    CHECK_EQ_INT(tokfs_bpe_image_load(path, &m, &got, &got_len), -ENOENT);
    tokfs_bpe_destroy(b);
}

/* ---- through tokenizer.json ------------------------------------------------------------- */

static int collect(void *ctx, const uint32_t *ids, size_t n)
{
    tokfs_buf *b = ctx;
    return tokfs_buf_append(b, ids, n * sizeof *ids);
}

/* A character-level BPE tokenizer.json of more than 1 MiB (images are made from that size
 * up): the Gemma shape (Replace " " by "▁", Split on it, byte fallback), tokens of "▁" and
 * letters grown by merges. */
static void write_big_json(const char *path)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<eos>\","
               "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
               "\"special\":true}],\"normalizer\":{\"type\":\"Replace\",\"pattern\":"
               "{\"String\":\" \"},\"content\":\"\\u2581\"},\"pre_tokenizer\":{\"type\":"
               "\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithPrevious\","
               "\"invert\":false},\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":"
               "\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
               "\"end_of_word_suffix\":null,\"fuse_unk\":true,\"byte_fallback\":true,"
               "\"ignore_merges\":false,\"vocab\":{\"<eos>\":0");
    uint32_t id = 1;
    for (int c = 0; c < 256; c++)
        fprintf(f, ",\"<0x%02X>\":%u", c, id++);
    /* letters, then every 2- and 3-letter word over 16 letters and the same after "▁" */
    static const char letters[] = "abcdefghijklmnop";
    for (int i = 0; i < 16; i++)
        fprintf(f, ",\"%c\":%u", letters[i], id++);
    fprintf(f, ",\"\\u2581\":%u", id++);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            fprintf(f, ",\"%c%c\":%u,\"\\u2581%c%c\":%u", letters[i], letters[j], id,
                    letters[i], letters[j], id + 1);
            id += 2;
            for (int k = 0; k < 16; k++) {
                fprintf(f, ",\"%c%c%c\":%u,\"\\u2581%c%c%c\":%u", letters[i], letters[j],
                        letters[k], id, letters[i], letters[j], letters[k], id + 1);
                id += 2;
            }
        }
    fprintf(f, "},\"merges\":[");
    int first = 1;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            fprintf(f, "%s\"%c %c\",\"\\u2581 %c%c\"", first ? "" : ",", letters[i], letters[j],
                    letters[i], letters[j]);
            first = 0;
        }
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            for (int k = 0; k < 16; k++)
                fprintf(f, ",\"%c%c %c\",\"\\u2581%c%c %c\"", letters[i], letters[j], letters[k],
                        letters[i], letters[j], letters[k]);
    fprintf(f, "]}}");
    /* padding to past 1 MiB: JSON whitespace at the end */
    for (long pad = ftell(f); pad < (1 << 20) + 4096; pad++)
        fputc(' ', f);
    fclose(f);
}

static int encode_all(const char *json, const char *images, tokfs_buf *out)
{
    tokfs_tokenizer_opts o = {.name = json, .eot_optional = 1, .image_dir = images};
    tokfs_tokenizer *tok = NULL;
    tokfs_err err = {0};
    int rc = tokfs_tokenizer_open_opts(&o, &tok, &err);
    if (rc) {
        fprintf(stderr, "open: %s\n", err.msg);
        return rc;
    }
    static const char text[] = "abc abd ponm  aaa\xc3\xa9 b  <eos> mnop qq ";
    tokfs_id_sink sink = {collect, out};
    for (int k = 0; k < 50 && !rc; k++)
        rc = tok->encode(tok, (const uint8_t *)text, sizeof text - 1 - (size_t)k % 7, &sink);
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)tok->fingerprint);
    rc = rc ? rc : tokfs_buf_append(out, fp, strlen(fp));
    tok->destroy(tok);
    return rc;
}

static int count_images(const char *images, char *name, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null", images);
    FILE *p = popen(cmd, "r");
    int n = 0;
    char line[256];
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strstr(line, ".bpe") && !strstr(line, ".tmp")) {
            n++;
            snprintf(name, cap, "%s/%s", images, line);
        }
    }
    if (p)
        pclose(p);
    return n;
}

static void test_tokenizer_json(void)
{
    char json[128], images[128], image[300] = "";
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    snprintf(images, sizeof images, "%s/images/sub", dir); /* made with its parents */
    write_big_json(json);
    tokfs_buf plain = {0}, made = {0}, mapped = {0}, again = {0};
    CHECK_EQ_INT(encode_all(json, NULL, &plain), 0);
    CHECK_EQ_INT(count_images(images, image, sizeof image), 0);
    CHECK_EQ_INT(encode_all(json, images, &made), 0); /* builds the tables, saves the image */
    CHECK_EQ_INT(count_images(images, image, sizeof image), 1);
    ino_t ino = file_ino(image);
    CHECK_EQ_INT(encode_all(json, images, &mapped), 0); /* maps it: the same file, not remade */
    CHECK(ino != 0 && file_ino(image) == ino);
    CHECK(plain.len > 100);
    CHECK_MEM(made.data, made.len, plain.data, plain.len); /* ids and fingerprint */
    CHECK_MEM(mapped.data, mapped.len, plain.data, plain.len);
    /* a damaged image: removed, the tables built from the file, a good image saved again */
    off_t size = file_size(image);
    write_byte(image, size / 2, 0x01);
    CHECK_EQ_INT(encode_all(json, images, &again), 0);
    CHECK_MEM(again.data, again.len, plain.data, plain.len);
    tokfs_bpe *m = NULL; /* the damaged image was replaced by a good one */
    const void *facts = NULL;
    size_t facts_len = 0;
    CHECK_EQ_INT(tokfs_bpe_image_load(image, &m, &facts, &facts_len), 0);
    tokfs_bpe_destroy(m);
    /* the file changed: another key, another image; the old one stays for the old bytes */
    FILE *f = fopen(json, "a");
    CHECK(f != NULL);
    if (f) {
        fputs("  ", f);
        fclose(f);
    }
    tokfs_buf changed = {0};
    CHECK_EQ_INT(encode_all(json, images, &changed), 0);
    CHECK_EQ_INT(count_images(images, image, sizeof image), 2);
    /* same ids, another fingerprint (the file's bytes differ) */
    CHECK(changed.len == plain.len && memcmp(changed.data, plain.data, plain.len - 16) == 0 &&
          memcmp(changed.data + plain.len - 16, plain.data + plain.len - 16, 16) != 0);
    tokfs_buf_free(&plain);
    tokfs_buf_free(&made);
    tokfs_buf_free(&mapped);
    tokfs_buf_free(&again);
    tokfs_buf_free(&changed);
}

/* GPT-2's bytes_to_unicode: the code point byte b is written as in a byte-level vocabulary. */
static unsigned byte_char(unsigned b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    unsigned n = 0;
    for (unsigned k = 0; k < b; k++)
        n += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF));
    return 256 + n;
}

/* A byte-level BPE tokenizer.json of more than 1 MiB whose vocabulary has an entry outside the
 * byte-level alphabet ("<\uff5cend\uff5c>", as DeepSeek-V3's files have), named by an added
 * token: its id must come from the vocabulary, with tables built or mapped. */
static void write_byte_level_json(const char *path)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":300,\"content\":"
               "\"<\\uff5cend\\uff5c>\",\"single_word\":false,\"lstrip\":false,"
               "\"rstrip\":false,\"normalized\":false,\"special\":true}],"
               "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
               "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
               "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"BPE\","
               "\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
               "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
               "\"ignore_merges\":false,\"vocab\":{");
    for (unsigned b = 0; b < 256; b++)
        fprintf(f, "%s\"\\u%04x\":%u", b ? "," : "", byte_char(b), b);
    /* letter pairs and "Ġ" + letter (a space before a word) */
    unsigned id = 256;
    for (char x = 'a'; x <= 'f'; x++)
        for (char y = 'a'; y <= 'f'; y++)
            fprintf(f, ",\"%c%c\":%u", x, y, id++);
    fprintf(f, ",\"<\\uff5cend\\uff5c>\":300");
    id = 301;
    for (char x = 'a'; x <= 'f'; x++)
        fprintf(f, ",\"\\u0120%c\":%u", x, id++);
    fprintf(f, "},\"merges\":[");
    int first = 1;
    for (char x = 'a'; x <= 'f'; x++)
        for (char y = 'a'; y <= 'f'; y++) {
            fprintf(f, "%s\"%c %c\"", first ? "" : ",", x, y);
            first = 0;
        }
    for (char x = 'a'; x <= 'f'; x++)
        fprintf(f, ",\"\\u0120 %c\"", x);
    fprintf(f, "]}}");
    for (long pad = ftell(f); pad < (1 << 20) + 4096; pad++)
        fputc(' ', f);
    fclose(f);
}

static int encode_special(const char *json, const char *images, int match, tokfs_buf *out)
{
    tokfs_tokenizer_opts o = {.name = json, .eot_optional = 1, .image_dir = images,
                              .match_special = match};
    tokfs_tokenizer *tok = NULL;
    tokfs_err err = {0};
    int rc = tokfs_tokenizer_open_opts(&o, &tok, &err);
    if (rc) {
        fprintf(stderr, "open: %s\n", err.msg);
        return rc;
    }
    static const char text[] = "ab cafe<\xef\xbd\x9c" "end\xef\xbd\x9c>fa bad";
    tokfs_id_sink sink = {collect, out};
    rc = tok->encode(tok, (const uint8_t *)text, sizeof text - 1, &sink);
    tok->destroy(tok);
    return rc;
}

static void test_skipped_entries(void)
{
    char json[128], images[128], image[300] = "";
    snprintf(json, sizeof json, "%s/byte-level.json", dir);
    snprintf(images, sizeof images, "%s/images-bl", dir);
    write_byte_level_json(json);
    for (int match = 0; match < 2; match++) {
        tokfs_buf plain = {0}, made = {0}, mapped = {0};
        CHECK_EQ_INT(encode_special(json, NULL, match, &plain), 0);
        CHECK_EQ_INT(encode_special(json, images, match, &made), 0);
        CHECK_EQ_INT(count_images(images, image, sizeof image), 1);
        CHECK_EQ_INT(encode_special(json, images, match, &mapped), 0);
        CHECK_MEM(made.data, made.len, plain.data, plain.len);
        CHECK_MEM(mapped.data, mapped.len, plain.data, plain.len);
        /* matched, the added token is the vocabulary's 300 (not renumbered past the vocab) */
        int has300 = 0;
        for (size_t k = 0; k + 4 <= mapped.len; k += 4) {
            uint32_t v;
            memcpy(&v, mapped.data + k, 4);
            has300 |= v == 300;
        }
        CHECK_EQ_INT(has300, match);
        tokfs_buf_free(&plain);
        tokfs_buf_free(&made);
        tokfs_buf_free(&mapped);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tokfs-bpe-image.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip(1, TOKFS_BPE_MERGES, 11);
    test_round_trip(0, TOKFS_BPE_MERGES, 12);
    test_round_trip(0, TOKFS_BPE_RANKS, 13);
    test_tokenizer_json();
    test_skipped_entries();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
