/* tokfs — the headers of pre-tokenized sources (docs/pretokenized.md): llm.c's .bin header (1024
 * bytes: magic, version, token count) and NumPy's .npy header (magic, version, a dict giving
 * dtype and shape). Pure parsing of the first bytes of a file, which the plan fetches with one
 * range request (or decodes from the start of a compressed stream): what it learns is where the
 * ids start, their width and, when the header says, how many there are. */
#ifndef TOKFS_TOKENS_H
#define TOKFS_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* llm.c: 256 little-endian int32; [0] magic, [1] version, [2] token count. Magic 20240520 with
 * version 1 holds uint16 ids (GPT-2 shards); 20240801 with version 7 uint32 ids (Llama-3). */
#define TOKFS_LLMC_SRC_HEADER_BYTES 1024u
#define TOKFS_LLMC_SRC_MAGIC_U16 20240520u
#define TOKFS_LLMC_SRC_MAGIC_U32 20240801u

/* The longest .npy header tokfs reads (numpy writes 64..128 bytes for a 1-D array; a header up
 * to this size is accepted, anything longer is refused rather than fetched without bound). */
#define TOKFS_NPY_SRC_MAX_HEADER 65536u

typedef struct tokfs_token_header {
    uint32_t header_bytes;   /* bytes before the first id */
    unsigned id_bytes;       /* 2 or 4 */
    int64_t count;           /* ids the file holds by its header; -1 when it does not say */
} tokfs_token_header;

/* data: the first len bytes of a file. Returns 1 with h filled when they begin with an llm.c
 * header (magic, then a known version for it); 0 when they do not begin with either magic (a raw
 * .bin: the caller needs src_dtype=); -EINVAL (err says why) when the magic is there but the
 * version is not the magic's, or the count is negative; -EAGAIN when len < 8 and more bytes may
 * follow (the magic and version are not all there yet). A header of magic and version needs all
 * 1024 bytes to be read: with len < 1024 (a file shorter than its header) -EINVAL. */
int tokfs_llmc_header_parse(const uint8_t *data, size_t len, tokfs_token_header *h,
                            tokfs_err *err);

/* data: the first len bytes of a .npy file. Returns 0 with h filled (dtype <u2, <u4 or <i4 —
 * int32 ids are read as their bytes, so a negative one is a huge id and fails the vocabulary
 * check —, a 1-D shape); -EAGAIN with *need (the bytes the header takes) when len is shorter;
 * -EINVAL (err says why) for anything else: not .npy, another dtype, another shape, a header
 * longer than TOKFS_NPY_SRC_MAX_HEADER. */
int tokfs_npy_header_parse(const uint8_t *data, size_t len, tokfs_token_header *h, size_t *need,
                           tokfs_err *err);

#endif
