/* Helpers shared by the libFuzzer targets: hand fuzz data to loaders that take a path. */
#ifndef TOKFS_FUZZ_UTIL_H
#define TOKFS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* An anonymous file holding data; its path is written to path. Returns the fd (close it). */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

/* An id sink (ctx: the tokenizer) that aborts on an id outside the vocabulary. */
#include "tokenize/tokenizer.h"
static inline int fuzz_check_ids(void *ctx, const uint32_t *ids, size_t n)
{
    const tokfs_tokenizer *tok = ctx;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= tok->vocab_size)
            abort();
    return 0;
}

#endif
