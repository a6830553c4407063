/* tokfs — the growable byte buffer: one type for every buffer that grows (a record being
 * gathered, a document's repaired text, a rendered message, an output batch).
 *
 *   tokfs_buf b = {0};                  empty, nothing allocated
 *   tokfs_buf_append(&b, p, n)          grows by doubling (first allocation 4 KiB)
 *   tokfs_buf_reserve_exact(&b, n)      room for n more bytes, allocated exactly (scratch)
 *   b.data, b.len                       the bytes; b.data[b.len] is not guaranteed to exist
 *   tokfs_buf_trim(&b, 4 << 20)         give back memory grown for one large document
 *   tokfs_buf_free(&b)
 *
 * Errors are values: 0 or -ENOMEM (also for a size that would overflow size_t). */
#ifndef TOKFS_BUF_H
#define TOKFS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokfs_buf {
    uint8_t *data; /* NULL until the first allocation */
    size_t len;    /* bytes in use, at data[0..len) */
    size_t cap;    /* bytes allocated */
} tokfs_buf;

/* Room for at least `more` bytes past len (len unchanged). An empty buffer (len 0) that must
 * grow is freed and allocated again rather than realloc'd: nothing is copied. */
int tokfs_buf_reserve(tokfs_buf *b, size_t more);
/* As tokfs_buf_reserve, but a buffer that must grow gets exactly len + more bytes, not the next
 * doubling: for scratch sized anew for each item (a record's decoded text, a document's repaired
 * UTF-8), whose bound is the item's size, where doubling could hold up to twice that. */
int tokfs_buf_reserve_exact(tokfs_buf *b, size_t more);
/* Append n bytes from data. */
int tokfs_buf_append(tokfs_buf *b, const void *data, size_t n);
/* Append formatted text, keeping a NUL after it (so data is a C string when only text was put
 * in). */
int tokfs_buf_printf(tokfs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the contents (len = 0), keep the memory. */
static inline void tokfs_buf_clear(tokfs_buf *b) { b->len = 0; }
/* Free the memory when more than max_cap is allocated (contents are lost then); else only clear. */
void tokfs_buf_trim(tokfs_buf *b, size_t max_cap);
/* Free the memory; b is empty again and may be reused. */
void tokfs_buf_free(tokfs_buf *b);

/* Zeroed memory for a large table that will be touched all over (a hash table, an array by id),
 * freed with tokfs_table_free. From 1 MiB up it is mapped with MAP_POPULATE: the kernel fills
 * every page in one call instead of one page fault per 4 KiB on first touch — in a VM each fault
 * is an exit costing microseconds, and Gemma-3's tokenizer tables took 27k of them, a third of
 * its load. Smaller tables come from calloc. NULL when out of memory (n * size overflowing
 * included). Not for memory that grows (no realloc). */
void *tokfs_table_calloc(size_t n, size_t size);
void tokfs_table_free(void *p);
/* Grow a table from tokfs_table_calloc (or NULL) of old_n elements to n elements of size bytes,
 * the first old_n kept and the rest zeroed, like a zeroing realloc: for arrays whose final size
 * is not known ahead (a scanned vocabulary). A mapped table grows with mremap (no copy) and its
 * new pages are filled in one call (MADV_POPULATE_WRITE where the kernel has it). NULL when out
 * of memory; the old table is then still valid. */
void *tokfs_table_grow(void *p, size_t old_n, size_t n, size_t size);

#endif
