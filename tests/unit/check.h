/* Minimal assertion helpers for tokfs unit tests: a failed CHECK prints where and why and makes
 * the test exit non-zero at the end; no framework, no allocation. */
#ifndef TOKFS_TEST_CHECK_H
#define TOKFS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
    do {                                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                       \
        if (check_a_ != check_b_) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,        \
                    __LINE__, #a, #b, check_a_, check_b_);                                     \
            check_failures++;                                                                 \
        }                                                                                     \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                          \
    do {                                                                                     \
        size_t check_al_ = (alen), check_bl_ = (blen);                                       \
        if (check_al_ != check_bl_ || memcmp((a), (b), check_al_) != 0) {                   \
            fprintf(stderr, "%s:%d: CHECK failed: bytes of %s differ from %s (len %zu vs %zu)\n", \
                    __FILE__, __LINE__, #a, #b, check_al_, check_bl_);                        \
            check_failures++;                                                                \
        }                                                                                    \
    } while (0)

#define CHECK_DONE()                                                                  \
    do {                                                                              \
        if (check_failures) {                                                         \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                  \
            return 1;                                                                 \
        }                                                                             \
        printf("all checks passed\n");                                                \
        return 0;                                                                     \
    } while (0)

#endif
