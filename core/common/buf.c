/* The growable byte buffer (buf.h). */
#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUF_FIRST_CAP 4096

int tokfs_buf_reserve(tokfs_buf *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return -ENOMEM;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *grown;
    if (b->len == 0) {
        /* Nothing to keep: free and allocate, so a large buffer is not copied. */
        free(b->data);
        b->data = NULL;
        b->cap = 0;
        grown = malloc(cap);
    } else {
        grown = realloc(b->data, cap);
    }
    if (!grown)
        return -ENOMEM;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int tokfs_buf_reserve_exact(tokfs_buf *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return -ENOMEM;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    if (b->len == 0) /* as in tokfs_buf_reserve: nothing to keep, nothing copied */
        tokfs_buf_free(b);
    uint8_t *grown = realloc(b->data, need);
    if (!grown)
        return -ENOMEM;
    b->data = grown;
    b->cap = need;
    return 0;
}

int tokfs_buf_append(tokfs_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    int rc = tokfs_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int tokfs_buf_printf(tokfs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int rc = tokfs_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void tokfs_buf_trim(tokfs_buf *b, size_t max_cap)
{
    if (b->cap > max_cap)
        tokfs_buf_free(b);
    else
        b->len = 0;
}

void tokfs_buf_free(tokfs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Each table starts with this header (64 bytes: the table stays cache-line aligned). */
typedef struct table_head {
    size_t total; /* bytes mapped, header included; 0: from calloc */
    unsigned char pad[64 - sizeof(size_t)];
} table_head;

/* Under AddressSanitizer every table comes from calloc, so that its bounds are checked. */
#if defined(__SANITIZE_ADDRESS__)
#define TABLE_MAP_MIN SIZE_MAX
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TABLE_MAP_MIN SIZE_MAX
#endif
#endif
#ifndef TABLE_MAP_MIN
#define TABLE_MAP_MIN ((size_t)1 << 20)
#endif

void *tokfs_table_calloc(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - sizeof(table_head)) / size)
        return NULL;
    size_t total = n * size + sizeof(table_head);
    table_head *h;
    if (total >= TABLE_MAP_MIN) {
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        h = m;
        h->total = total; /* fresh anonymous pages are zero already */
    } else {
        if (!(h = calloc(1, total)))
            return NULL;
        h->total = 0;
    }
    return h + 1;
}

void tokfs_table_free(void *p)
{
    if (!p)
        return;
    table_head *h = (table_head *)p - 1;
    if (h->total)
        munmap(h, h->total);
    else
        free(h);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL: pages then fault */
#endif

void *tokfs_table_grow(void *p, size_t old_n, size_t n, size_t size)
{
    if (!p)
        return tokfs_table_calloc(n, size);
    if (size && n > (SIZE_MAX - sizeof(table_head)) / size)
        return NULL;
    size_t total = n * size + sizeof(table_head);
    table_head *h = (table_head *)p - 1;
    if (n <= old_n)
        return p;
    if (h->total) { /* mapped: move the mapping, populate what it gained */
        size_t old = h->total;
        if (total <= old)
            return p;
        void *m = mremap(h, old, total, MREMAP_MAYMOVE);
        if (m == MAP_FAILED)
            return NULL;
        h = m;
        h->total = total;
        size_t page = (size_t)sysconf(_SC_PAGESIZE), from = (old + page - 1) & ~(page - 1);
        if (total > from)
            (void)madvise((char *)h + from, total - from, MADV_POPULATE_WRITE);
        return h + 1;
    }
    void *q = tokfs_table_calloc(n, size); /* mapped once it is large enough */
    if (!q)
        return NULL;
    memcpy(q, p, old_n * size);
    free(h);
    return q;
}
