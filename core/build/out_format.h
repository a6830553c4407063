/* tokfs — the output layout of the shard files (format=, dtype=, doc_sep=; docs/layouts.md):
 * what a shard file holds around its ids (llm.c's 1024-byte header, a .npy header, Megatron's
 * .idx beside the .bin), where the end-of-text id goes, and every size that follows from a
 * token count, so the cache, the budget and getattr report exact sizes without the file.
 *
 * One cache file holds a whole shard: for megatron it is the .bin bytes followed by the .idx
 * bytes (the .idx is known only at the end of the build); the mount serves each part as its own
 * file. For the other formats the cache file is the served file, header included. */
#ifndef TOKFS_OUT_FORMAT_H
#define TOKFS_OUT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "tokenize/tokenizer.h"

/* llm.c: 256 int32 little-endian. */
#define TOKFS_LLMC_HEADER_BYTES 1024u
#define TOKFS_LLMC_MAGIC_U16 20240520u
#define TOKFS_LLMC_MAGIC_U32 20240801u
/* .npy v1.0: magic, version, header length, the dict padded with spaces to this total (a
 * multiple of 64, as numpy aligns; room for a 20-digit shape), so the size depends on nothing. */
#define TOKFS_NPY_HEADER_BYTES 128u
/* Megatron .idx: 9-byte magic, version (u64), dtype code (u8), sequence count (u64), document
 * count (u64), then per sequence 4 + 8 bytes and per document index 8 bytes. */
#define TOKFS_MEGATRON_IDX_FIXED 34u

typedef struct tokfs_layout {
    int format;              /* enum tokfs_out_format */
    unsigned id_bytes;       /* 2 or 4 */
    int sep;                 /* TOKFS_SEP_APPEND, _PREPEND or _NONE (never _DEFAULT) */
    uint32_t eot_id;
    uint32_t header_bytes;   /* before the ids: 1024 llmc, 128 npy, 0 raw and megatron */
} tokfs_layout;

/* The layout the options ask for with this tokenizer. -EINVAL with a message naming the fix
 * when it cannot be made: dtype=uint16 with a vocabulary over 65536 ids; doc_sep=none or
 * format=megatron when the end-of-text id may occur inside a document (special_tokens=match,
 * or an eot= that is an ordinary token: its own text encodes to it), since document boundaries
 * are found by that id. */
int tokfs_layout_resolve(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                         tokfs_layout *out, tokfs_err *err);

/* Raw ids of id_bytes with the end-of-text id appended (what tokfs always wrote before). */
tokfs_layout tokfs_layout_raw(unsigned id_bytes, uint32_t eot_id);

/* 1 unless the layout is raw with the vocabulary's default width and appended separators:
 * such a mount keeps the cache identity it had before layouts existed. */
int tokfs_layout_is_custom(const tokfs_layout *l, unsigned default_id_bytes);

/* Bytes of the served data file (.bin or .npy): header + tokens ids. */
uint64_t tokfs_layout_data_bytes(const tokfs_layout *l, uint64_t tokens);
/* Bytes of the megatron .idx for `sequences` sequences (0 for other formats). */
uint64_t tokfs_layout_index_bytes(const tokfs_layout *l, uint64_t sequences);

/* The header of a data file of `tokens` ids (header_bytes bytes; nothing for raw/megatron). */
void tokfs_layout_header(const tokfs_layout *l, uint64_t tokens, uint8_t *out);

/* Names as options and dataset_metadata.json spell them. */
const char *tokfs_layout_format_name(const tokfs_layout *l);   /* "raw", "llmc", ... */
const char *tokfs_layout_dtype_name(const tokfs_layout *l);    /* "uint16" / "uint32" */
const char *tokfs_layout_sep_name(const tokfs_layout *l);      /* "append", ... */
/* The data file's extension: ".npy" for npy, else ".bin". */
const char *tokfs_layout_ext(const tokfs_layout *l);

#endif
