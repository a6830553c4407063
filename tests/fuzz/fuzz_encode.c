/* The whole text path on arbitrary bytes, for each built-in pattern: UTF-8 repair, the
 * hand-written pre-tokenizers, BPE (scan, heap and caches). Properties: decoding the ids gives
 * the repaired text back exactly, and every id is below the vocabulary size; cutting the raw
 * bytes at every place tok->cut gives and encoding the repaired parts one by one gives exactly
 * the ids of the whole (what core/tokenize/tokpool.c relies on). The first byte picks the pattern. */
#include <stdlib.h>
#include <string.h>

#include "tokenize/bpe_internal.h"
#include "tokenize/tokenizer.h"
#include "common/utf8.h"

static int collect(void *ctx, const uint32_t *ids, size_t n)
{
    tokfs_ids *v = ctx;
    if (tokfs_ids_reserve(v, n))
        return -12;
    memcpy(v->ids + v->len, ids, n * sizeof *ids);
    v->len += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tokfs_tokenizer *toks[4];
    static const char *patterns[4] = {"gpt2", "cl100k_base", "o200k_base", "qwen2"};
    if (size < 1)
        return 0;
    int which = data[0] % 4;
    if (!toks[which]) {
        tokfs_err err;
        if (tokfs_tokenizer_open("gpt2", patterns[which], NULL, &toks[which], &err))
            abort();
    }
    const tokfs_tokenizer *tok = toks[which];
    data++;
    size--;
    uint8_t *text = malloc(TOKFS_UTF8_OUT_MAX(size));
    tokfs_utf8_state st = {0};
    size_t n = tokfs_utf8_repair(&st, data, size, text, 1);
    tokfs_ids ids = {0};
    tokfs_id_sink sink = {collect, &ids};
    if (tok->encode(tok, text, n, &sink))
        abort();
    size_t off = 0;
    for (size_t i = 0; i < ids.len; i++) {
        size_t l;
        if (ids.ids[i] >= tok->vocab_size)
            abort();
        const uint8_t *b = tok->token_bytes(tok, ids.ids[i], &l);
        if (!b || off + l > n || memcmp(text + off, b, l) != 0)
            abort(); /* the ids do not spell the text */
        off += l;
    }
    if (off != n)
        abort();

    tokfs_ids parts = {0};
    tokfs_id_sink part_sink = {collect, &parts};
    uint8_t *part = malloc(TOKFS_UTF8_OUT_MAX(size) + 1);
    for (size_t start = 0; start < size;) {
        size_t cut = tok->cut(tok, data, size, start + 1);
        if (cut < start + 1 || cut > size)
            abort();
        tokfs_utf8_state pst = {0};
        size_t pn = tokfs_utf8_repair(&pst, data + start, cut - start, part, 1);
        if (tok->encode(tok, part, pn, &part_sink))
            abort();
        start = cut;
    }
    if (parts.len != ids.len ||
        (ids.len && memcmp(parts.ids, ids.ids, ids.len * sizeof *ids.ids) != 0))
        abort(); /* a cut changed the ids */
    free(part);
    tokfs_ids_free(&parts);
    tokfs_ids_free(&ids);
    free(text);
    return 0;
}
