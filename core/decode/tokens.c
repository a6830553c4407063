/* Headers of pre-tokenized sources (tokens.h): llm.c's .bin header and NumPy's .npy header. */
#include "decode/tokens.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"

int tokfs_llmc_header_parse(const uint8_t *data, size_t len, tokfs_token_header *h,
                            tokfs_err *err)
{
    if (len < 4)
        return -EAGAIN;
    uint32_t magic = tokfs_le32(data);
    if (magic != TOKFS_LLMC_SRC_MAGIC_U16 && magic != TOKFS_LLMC_SRC_MAGIC_U32)
        return 0;
    if (len < 8)
        return -EAGAIN;
    uint32_t version = tokfs_le32(data + 4);
    uint32_t want = magic == TOKFS_LLMC_SRC_MAGIC_U16 ? 1 : 7;
    if (version != want)
        return tokfs_err_set(err, EINVAL,
                             "llm.c header with magic %u has version %u (expected %u)", magic,
                             version, want);
    if (len < TOKFS_LLMC_SRC_HEADER_BYTES)
        return tokfs_err_set(err, EINVAL, "llm.c header cut short: %zu of its %u bytes", len,
                             TOKFS_LLMC_SRC_HEADER_BYTES);
    int32_t count = (int32_t)tokfs_le32(data + 8);
    if (count < 0)
        return tokfs_err_set(err, EINVAL, "llm.c header with a negative token count (%d)",
                             (int)count);
    *h = (tokfs_token_header){.header_bytes = TOKFS_LLMC_SRC_HEADER_BYTES,
                              .id_bytes = magic == TOKFS_LLMC_SRC_MAGIC_U16 ? 2 : 4,
                              .count = count};
    return 1;
}

/* The value of key in a .npy header dict (a Python literal dict), or NULL: a pointer just past
 * "'key':" and any spaces. The dict is numpy's own output, so a plain search is enough; a key
 * inside a string value would need a quote in that value, which descr never has. */
static const char *dict_value(const char *dict, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 3 <= len; i++) {
        if ((dict[i] != '\'' && dict[i] != '"') || memcmp(dict + i + 1, key, klen) != 0 ||
            dict[i + 1 + klen] != dict[i])
            continue;
        size_t j = i + klen + 2;
        while (j < len && dict[j] == ' ')
            j++;
        if (j >= len || dict[j] != ':')
            continue;
        j++;
        while (j < len && dict[j] == ' ')
            j++;
        return dict + j;
    }
    return NULL;
}

int tokfs_npy_header_parse(const uint8_t *data, size_t len, tokfs_token_header *h, size_t *need,
                           tokfs_err *err)
{
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (len < 12) {
        /* enough to tell "not .npy" early; else ask for the fixed part */
        if (len >= 6 && memcmp(data, magic, 6) != 0)
            return tokfs_err_set(err, EINVAL, "not a .npy file (no \\x93NUMPY magic)");
        *need = 12;
        return -EAGAIN;
    }
    if (memcmp(data, magic, 6) != 0)
        return tokfs_err_set(err, EINVAL, "not a .npy file (no \\x93NUMPY magic)");
    unsigned major = data[6];
    size_t fixed, dict_len;
    if (major == 1) {
        fixed = 10;
        dict_len = tokfs_le16(data + 8);
    } else if (major == 2 || major == 3) {
        fixed = 12;
        dict_len = tokfs_le32(data + 8);
    } else {
        return tokfs_err_set(err, EINVAL, ".npy format version %u.%u is not one tokfs reads",
                             major, data[7]);
    }
    if (fixed + dict_len > TOKFS_NPY_SRC_MAX_HEADER)
        return tokfs_err_set(err, EINVAL, ".npy header of %zu bytes (at most %u read)",
                             fixed + dict_len, TOKFS_NPY_SRC_MAX_HEADER);
    if (len < fixed + dict_len) {
        *need = fixed + dict_len;
        return -EAGAIN;
    }
    const char *dict = (const char *)data + fixed;
    const char *descr = dict_value(dict, dict_len, "descr");
    const char *shape = dict_value(dict, dict_len, "shape");
    if (!descr || !shape)
        return tokfs_err_set(err, EINVAL, ".npy header without descr or shape");
    static const struct { const char *descr; unsigned bytes; } dtypes[] = {
        {"'<u2'", 2}, {"'<u4'", 4}, {"'<i4'", 4},
    };
    unsigned id_bytes = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        size_t dl = strlen(dtypes[i].descr);
        if ((size_t)(dict + dict_len - descr) >= dl && memcmp(descr, dtypes[i].descr, dl) == 0)
            id_bytes = dtypes[i].bytes;
    }
    if (!id_bytes) {
        const char *end = memchr(descr, ',', (size_t)(dict + dict_len - descr));
        int shown = end ? (int)(end - descr) : 8;
        return tokfs_err_set(err, EINVAL,
                             ".npy dtype %.*s is not token ids tokfs reads: give '<u2', '<u4' "
                             "or '<i4'", shown > 32 ? 32 : shown, descr);
    }
    /* shape: "(N,)" for a 1-D array; "(N)" accepted too */
    const char *p = shape, *end = dict + dict_len;
    if (p >= end || *p != '(')
        return tokfs_err_set(err, EINVAL, ".npy shape is not a tuple");
    p++;
    char *stop;
    errno = 0;
    long long n = p < end && *p >= '0' && *p <= '9' ? strtoll(p, &stop, 10) : -1;
    if (n < 0 || errno || stop >= end)
        return tokfs_err_set(err, EINVAL, ".npy array is not 1-D (shape must be (N,))");
    p = stop;
    if (*p == ',')
        p++;
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p != ')')
        return tokfs_err_set(err, EINVAL, ".npy array is not 1-D (shape must be (N,))");
    *h = (tokfs_token_header){.header_bytes = (uint32_t)(fixed + dict_len), .id_bytes = id_bytes,
                              .count = n};
    return 0;
}
