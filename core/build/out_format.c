/* The output layouts (out_format.h): resolving format=, dtype= and doc_sep= against the
 * tokenizer, the sizes that follow from a token count, and the llm.c and .npy headers. */
#include "build/out_format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/endian.h"
#include "common/utf8.h"

/* Whether a document could hold the end-of-text id: its own text (special tokens keep theirs,
 * "<|endoftext|>") encodes to it. With special_tokens=text a special token's text encodes to
 * ordinary pieces; an ordinary token (eot=198, "\n") encodes to itself. Bytes that are not valid
 * UTF-8 never reach a text-based encoder as they are (documents are repaired first), so whether
 * some other text gives the id cannot be told this way: counted as "could". */
typedef struct eot_probe {
    uint32_t eot;
    int seen;
} eot_probe;

static int probe_put(void *ctx, const uint32_t *ids, size_t n)
{
    eot_probe *p = ctx;
    for (size_t i = 0; i < n; i++)
        p->seen |= ids[i] == p->eot;
    return 0;
}

static int eot_may_be_in_documents(const tokfs_tokenizer *tok, uint32_t eot)
{
    size_t len = 0;
    const uint8_t *bytes = tok->token_bytes ? tok->token_bytes(tok, eot, &len) : NULL;
    if (!bytes)
        return 0; /* no text gives an id without bytes */
    if (tok->text_based && !tokfs_utf8_valid(bytes, len))
        return 1;
    eot_probe p = {.eot = eot};
    tokfs_id_sink sink = {probe_put, &p};
    if (tok->encode(tok, bytes, len, &sink) != 0)
        return 1;
    return p.seen;
}

int tokfs_layout_resolve(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                         tokfs_layout *out, tokfs_err *err)
{
    tokfs_layout l = {.format = cfg->format, .eot_id = tok->eot_id};
    /* vocab_size= (token sources: docs/pretokenized.md) bounds the ids instead of the
     * tokenizer's vocabulary, so it chooses the default width too */
    uint32_t vocab = cfg->vocab_size ? cfg->vocab_size : tok->vocab_size;
    l.id_bytes = cfg->dtype_bytes ? cfg->dtype_bytes : vocab > 65536 ? 4 : 2;
    if (l.id_bytes == 2 && vocab > 65536)
        return tokfs_err_set(err, EINVAL,
                             "dtype=uint16 cannot hold the ids of %s (%u ids, over 65536): use "
                             "dtype=uint32, or leave dtype= out",
                             cfg->vocab_size ? "vocab_size=" : tok->name, vocab);
    if (cfg->doc_sep != TOKFS_SEP_DEFAULT)
        l.sep = cfg->doc_sep;
    else /* llm.c's fineweb.py puts the end-of-text token before each document */
        l.sep = l.format == TOKFS_OUT_LLMC ? TOKFS_SEP_PREPEND : TOKFS_SEP_APPEND;
    l.header_bytes = l.format == TOKFS_OUT_LLMC  ? TOKFS_LLMC_HEADER_BYTES
                     : l.format == TOKFS_OUT_NPY ? TOKFS_NPY_HEADER_BYTES
                                                 : 0;
    /* The pool appends the end-of-text id after every document; the writer finds documents by
     * it. Moving it to the front is exact whatever the documents hold (the stream is rotated),
     * but dropping it, or indexing documents, is exact only when the id never occurs inside
     * one: refuse the combinations where it may. */
    if (l.sep == TOKFS_SEP_NONE || l.format == TOKFS_OUT_MEGATRON) {
        const char *what = l.sep == TOKFS_SEP_NONE ? "doc_sep=none" : "format=megatron";
        if (cfg->match_special)
            return tokfs_err_set(err, EINVAL,
                                 "%s needs special_tokens=text: documents are told apart by the "
                                 "end-of-text id, which special_tokens=match lets a document "
                                 "contain", what);
        if (eot_may_be_in_documents(tok, l.eot_id))
            return tokfs_err_set(err, EINVAL,
                                 "%s needs an end-of-text id that is a special token: id %u is "
                                 "what its own text encodes to, so documents could contain it "
                                 "(choose another eot=)", what, l.eot_id);
    }
    *out = l;
    return 0;
}

tokfs_layout tokfs_layout_raw(unsigned id_bytes, uint32_t eot_id)
{
    return (tokfs_layout){.format = TOKFS_OUT_RAW, .id_bytes = id_bytes, .sep = TOKFS_SEP_APPEND,
                          .eot_id = eot_id};
}

int tokfs_layout_is_custom(const tokfs_layout *l, unsigned default_id_bytes)
{
    return l->format != TOKFS_OUT_RAW || l->id_bytes != default_id_bytes ||
           l->sep != TOKFS_SEP_APPEND;
}

uint64_t tokfs_layout_data_bytes(const tokfs_layout *l, uint64_t tokens)
{
    return l->header_bytes + tokens * l->id_bytes;
}

uint64_t tokfs_layout_index_bytes(const tokfs_layout *l, uint64_t sequences)
{
    if (l->format != TOKFS_OUT_MEGATRON)
        return 0;
    /* lengths (int32) and pointers (int64) per sequence; sequences + 1 document indices */
    return TOKFS_MEGATRON_IDX_FIXED + sequences * 12 + (sequences + 1) * 8;
}

void tokfs_layout_header(const tokfs_layout *l, uint64_t tokens, uint8_t *out)
{
    if (l->format == TOKFS_OUT_LLMC) {
        memset(out, 0, TOKFS_LLMC_HEADER_BYTES);
        tokfs_store_le32(out, l->id_bytes == 2 ? TOKFS_LLMC_MAGIC_U16 : TOKFS_LLMC_MAGIC_U32);
        tokfs_store_le32(out + 4, l->id_bytes == 2 ? 1 : 7);
        /* llm.c reads the count as an int32: the writer refuses a shard of more ids */
        tokfs_store_le32(out + 8, (uint32_t)tokens);
    } else if (l->format == TOKFS_OUT_NPY) {
        char dict[TOKFS_NPY_HEADER_BYTES];
        int n = snprintf(dict, sizeof dict, "{'descr': '<u%u', 'fortran_order': False, "
                         "'shape': (%llu,), }", l->id_bytes, (unsigned long long)tokens);
        size_t hlen = TOKFS_NPY_HEADER_BYTES - 10; /* the dict, spaces, and a final newline */
        memcpy(out, "\x93NUMPY\x01\x00", 8);
        out[8] = (uint8_t)(hlen & 0xff);
        out[9] = (uint8_t)(hlen >> 8);
        memset(out + 10, ' ', hlen);
        memcpy(out + 10, dict, (size_t)n); /* at most 76 bytes: fits in 117 */
        out[TOKFS_NPY_HEADER_BYTES - 1] = '\n';
    }
}

const char *tokfs_layout_format_name(const tokfs_layout *l)
{
    static const char *const names[] = {"raw", "llmc", "megatron", "npy"};
    return names[l->format];
}

const char *tokfs_layout_dtype_name(const tokfs_layout *l)
{
    return l->id_bytes == 2 ? "uint16" : "uint32";
}

const char *tokfs_layout_sep_name(const tokfs_layout *l)
{
    return l->sep == TOKFS_SEP_PREPEND ? "prepend" : l->sep == TOKFS_SEP_NONE ? "none" : "append";
}

const char *tokfs_layout_ext(const tokfs_layout *l)
{
    return l->format == TOKFS_OUT_NPY ? ".npy" : ".bin";
}
