/* Unit tests of common/buf.c: the growable buffer's contract (append, printf keeps a NUL, trim,
 * reserve_exact), tokfs_table_calloc (zeroed, usable to its last byte, mapped or from calloc
 * on either side of the 1 MiB threshold, freed without leaks under ASan) and tokfs_table_grow
 * (contents kept, the new part zeroed, across the threshold). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"

static void test_buf(void)
{
    tokfs_buf b = {0};
    CHECK_EQ_INT(tokfs_buf_append(&b, "abc", 3), 0);
    CHECK_EQ_INT(tokfs_buf_printf(&b, "-%d", 42), 0);
    CHECK(b.len == 6 && memcmp(b.data, "abc-42", 6) == 0 && b.data[6] == 0);
    tokfs_buf_clear(&b);
    CHECK(b.len == 0 && b.cap >= 6);
    CHECK_EQ_INT(tokfs_buf_reserve_exact(&b, 100000), 0);
    CHECK(b.cap >= 100000);
    tokfs_buf_trim(&b, 4096); /* more than 4096 allocated: freed */
    CHECK(b.cap == 0 && b.len == 0);
    CHECK_EQ_INT(tokfs_buf_append(&b, "x", 1), 0);
    tokfs_buf_free(&b);
    CHECK(b.data == NULL && b.cap == 0);
}

static void test_table(void)
{
    /* small (calloc), just under and well over the 1 MiB threshold (mapped, populated) */
    static const size_t counts[] = {1, 100, (1u << 20) / 8 - 16, (1u << 20) / 8 + 1, 3u << 20};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        size_t n = counts[k];
        uint64_t *t = tokfs_table_calloc(n, sizeof *t);
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK(((uintptr_t)t & 15) == 0);
        int zero = 1;
        for (size_t i = 0; i < n; i++)
            zero &= t[i] == 0;
        CHECK(zero);
        for (size_t i = 0; i < n; i++)
            t[i] = i * 0x9E3779B97F4A7C15ull;
        CHECK(t[n - 1] == (n - 1) * 0x9E3779B97F4A7C15ull);
        tokfs_table_free(t);
    }
    /* growing: from nothing, within calloc, across the threshold, mapped to larger mapped */
    size_t have = 0;
    uint32_t *g = NULL;
    static const size_t steps[] = {10, 1000, 100000, 1000000, 3000000};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        uint32_t *h = tokfs_table_grow(g, have, steps[k], sizeof *h);
        CHECK(h != NULL);
        if (!h)
            break;
        int kept = 1, zero = 1;
        for (size_t i = 0; i < have; i++)
            kept &= h[i] == (uint32_t)(i * 2654435761u);
        for (size_t i = have; i < steps[k]; i++)
            zero &= h[i] == 0;
        CHECK(kept);
        CHECK(zero);
        for (size_t i = have; i < steps[k]; i++)
            h[i] = (uint32_t)(i * 2654435761u);
        g = h;
        have = steps[k];
    }
    CHECK(tokfs_table_grow(g, have, have / 2, sizeof *g) == g); /* shrinking is a no-op */
    tokfs_table_free(g);
    tokfs_table_free(NULL);
    CHECK(tokfs_table_calloc(SIZE_MAX / 2, 4) == NULL); /* n * size overflows */
}

int main(void)
{
    test_buf();
    test_table();
    CHECK_DONE();
}
