/* BPE images: a finished BPE's tables written to a file as they lie in memory, and mapped back
 * read-only. Building Gemma-3's tables from its 33 MB tokenizer.json costs about 0.4 s, nearly
 * all of it cache misses in hash tables of tens of MB (one insert per token, three lookups per
 * merge); mapping the same tables from an image costs the page faults of the mapping and one
 * pass of the checksum. The tokenizer that owns the BPE decides where images live and how they
 * are named (tok_hf.c keys them by the content of the tokenizer file).
 *
 * File layout (little-endian, this build's struct layout; the version changes whenever the
 * tables or their hash functions do):
 *
 *   head     struct image_head: magic, version, sizes, the checksum, the sections' places
 *   scalars  struct tokfs_bpe with every pointer cleared
 *   bytes, ents, slots, by_id, pairs, cut_bits, char_tok   the arrays, each 64-byte aligned
 *   extra    the owner's bytes (tokfs_bpe_image_save's extra)
 *
 * The checksum (tokfs_hash64_wide chained over the head, checksum field zero, then every section in
 * order) is verified on every load: a torn or damaged image is refused, never used. A build
 * whose table code changed without a new version is caught by tokfs_bpe_tables_check. */
#include "tokenize/bpe_internal.h"
#include "tokenize/bpe_tables_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"

#define IMAGE_MAGIC "tokfsBPE"
#define IMAGE_VERSION 1u
#define IMAGE_ALIGN 64u

enum { SEC_SCALARS, SEC_BYTES, SEC_ENTS, SEC_SLOTS, SEC_BY_ID, SEC_PAIRS, SEC_CUT_BITS,
       SEC_CHAR_TOK, SEC_EXTRA, NSECTIONS };

typedef struct image_head {
    char magic[8];
    uint32_t version;
    uint32_t head_size;     /* sizeof(image_head) */
    uint64_t struct_size;   /* sizeof(struct tokfs_bpe) of the build that wrote it */
    uint64_t total_len;     /* the file's length */
    uint64_t checksum;
    uint64_t off[NSECTIONS], len[NSECTIONS];
} image_head;

static size_t align_up(size_t n) { return (n + IMAGE_ALIGN - 1) & ~(size_t)(IMAGE_ALIGN - 1); }

/* The sections of b (and extra) with their lengths, in file order. */
static void sections_of(const tokfs_bpe *b, const struct tokfs_bpe *scalars, const void *extra,
                        size_t extra_len, const void *ptr[NSECTIONS], size_t len[NSECTIONS])
{
    ptr[SEC_SCALARS] = scalars;
    len[SEC_SCALARS] = sizeof *scalars;
    ptr[SEC_BYTES] = b->bytes;
    len[SEC_BYTES] = b->bytes_len;
    ptr[SEC_ENTS] = b->ents;
    len[SEC_ENTS] = b->count * sizeof(tok_ent);
    ptr[SEC_SLOTS] = b->slots;
    len[SEC_SLOTS] = b->nslots * sizeof(vocab_slot);
    ptr[SEC_BY_ID] = b->by_id;
    len[SEC_BY_ID] = (size_t)(b->id_limit ? b->id_limit : 1) * sizeof(uint32_t);
    ptr[SEC_PAIRS] = b->pairs;
    len[SEC_PAIRS] = b->pairs ? b->pair_slots * sizeof(pair_slot) : 0;
    ptr[SEC_CUT_BITS] = b->cut_bits;
    len[SEC_CUT_BITS] = b->cut_bits ? (size_t)((b->cut_mask + 1) / 8) : 0;
    ptr[SEC_CHAR_TOK] = b->char_tok;
    len[SEC_CHAR_TOK] = b->char_tok ? CP_LIMIT / 8 : 0;
    ptr[SEC_EXTRA] = extra;
    len[SEC_EXTRA] = extra_len;
}

static uint64_t head_hash(const image_head *h)
{
    image_head copy = *h;
    copy.checksum = 0;
    return tokfs_hash64_wide(&copy, sizeof copy, 0x696d616765);
}

static int write_all(int fd, const void *p, size_t n, off_t at)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t w = pwrite(fd, q, n, at);
        if (w < 0)
            return -errno;
        q += w;
        n -= (size_t)w;
        at += w;
    }
    return 0;
}

int tokfs_bpe_image_save(const tokfs_bpe *b, const void *extra, size_t extra_len,
                         const char *path)
{
    if (!b->by_id || b->image)
        return -EINVAL; /* not finished, or a mapped image already */
    struct tokfs_bpe scalars = *b;
    scalars.serial = 0;
    scalars.bytes = NULL;
    scalars.ents = NULL;
    scalars.slots = NULL;
    scalars.by_id = NULL;
    scalars.pairs = NULL;
    scalars.cut_bits = NULL;
    scalars.char_tok = NULL;
    scalars.image = NULL;
    scalars.bytes_cap = b->bytes_len;
    scalars.ents_cap = b->count;
    const void *ptr[NSECTIONS];
    size_t len[NSECTIONS];
    sections_of(b, &scalars, extra, extra_len, ptr, len);

    image_head h = {.version = IMAGE_VERSION, .head_size = sizeof h,
                    .struct_size = sizeof(struct tokfs_bpe)};
    memcpy(h.magic, IMAGE_MAGIC, sizeof h.magic);
    size_t at = align_up(sizeof h);
    for (int k = 0; k < NSECTIONS; k++) {
        h.off[k] = at;
        h.len[k] = len[k];
        at = k + 1 < NSECTIONS ? align_up(at + len[k]) : at + len[k]; /* the file ends with extra */
    }
    h.total_len = at;
    uint64_t sum = head_hash(&h);
    for (int k = 0; k < NSECTIONS; k++)
        sum = tokfs_hash64_wide(ptr[k], len[k], sum);
    h.checksum = sum;

    /* a temp name of its own, renamed over the final one when whole: readers see no torn file,
     * and two processes writing the same image both succeed */
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = ftruncate(fd, (off_t)h.total_len) ? -errno : 0;
    if (!rc)
        rc = write_all(fd, &h, sizeof h, 0);
    for (int k = 0; !rc && k < NSECTIONS; k++)
        if (len[k])
            rc = write_all(fd, ptr[k], len[k], (off_t)h.off[k]);
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* The mapped file's head and sections make sense together: every section inside the file, the
 * lengths the scalars imply. */
static int image_shape_ok(const image_head *h, const struct tokfs_bpe *s, size_t file_len)
{
    if (memcmp(h->magic, IMAGE_MAGIC, sizeof h->magic) || h->version != IMAGE_VERSION ||
        h->head_size != sizeof *h || h->struct_size != sizeof(struct tokfs_bpe) ||
        h->total_len != file_len)
        return 0;
    for (int k = 0; k < NSECTIONS; k++)
        if (h->off[k] % IMAGE_ALIGN || h->off[k] > file_len || h->len[k] > file_len - h->off[k])
            return 0;
    if (h->len[SEC_SCALARS] != sizeof *s)
        return 0;
    return s->nslots && (s->nslots & (s->nslots - 1)) == 0 &&
           h->len[SEC_BYTES] == s->bytes_len && h->len[SEC_ENTS] == s->count * sizeof(tok_ent) &&
           h->len[SEC_SLOTS] == s->nslots * sizeof(vocab_slot) &&
           h->len[SEC_BY_ID] == (size_t)(s->id_limit ? s->id_limit : 1) * sizeof(uint32_t) &&
           h->len[SEC_PAIRS] == s->pair_slots * sizeof(pair_slot) &&
           (!s->pair_slots || (s->pair_slots & (s->pair_slots - 1)) == 0) &&
           (h->len[SEC_CUT_BITS] == 0 ||
            (h->len[SEC_CUT_BITS] == (s->cut_mask + 1) / 8 && (s->cut_mask & (s->cut_mask + 1)) == 0)) &&
           (h->len[SEC_CHAR_TOK] == 0 || h->len[SEC_CHAR_TOK] == CP_LIMIT / 8) &&
           (s->rules == TOKFS_BPE_RANKS || s->rules == TOKFS_BPE_MERGES) &&
           s->plen <= sizeof s->prefix && s->slen <= sizeof s->suffix;
}

int tokfs_bpe_image_load(const char *path, tokfs_bpe **out, const void **extra,
                         size_t *extra_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(image_head)) {
        close(fd);
        return -EINVAL;
    }
    if (st.st_uid != geteuid()) { /* tables are trusted code-adjacent data: only our own */
        close(fd);
        return -EPERM;
    }
    size_t file_len = (size_t)st.st_size;
    /* populated in one call: the checksum reads every page at once anyway */
    uint8_t *map = mmap(NULL, file_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    const image_head *h = (const image_head *)map;
    struct tokfs_bpe *b = malloc(sizeof *b);
    int rc = b ? 0 : -ENOMEM;
    if (!rc && (h->head_size != sizeof *h || h->len[SEC_SCALARS] != sizeof *b ||
                h->off[SEC_SCALARS] > file_len - sizeof *b))
        rc = -EINVAL;
    if (!rc) {
        memcpy(b, map + h->off[SEC_SCALARS], sizeof *b);
        if (!image_shape_ok(h, b, file_len))
            rc = -EINVAL;
    }
    if (!rc) {
        uint64_t sum = head_hash(h);
        for (int k = 0; k < NSECTIONS; k++)
            sum = tokfs_hash64_wide(map + h->off[k], h->len[k], sum);
        if (sum != h->checksum)
            rc = -EINVAL;
    }
    if (!rc) {
        b->bytes = map + h->off[SEC_BYTES];
        b->ents = (tok_ent *)(map + h->off[SEC_ENTS]);
        b->slots = (vocab_slot *)(map + h->off[SEC_SLOTS]);
        b->by_id = (uint32_t *)(map + h->off[SEC_BY_ID]);
        b->pairs = h->len[SEC_PAIRS] ? (pair_slot *)(map + h->off[SEC_PAIRS]) : NULL;
        b->cut_bits = h->len[SEC_CUT_BITS] ? (uint64_t *)(map + h->off[SEC_CUT_BITS]) : NULL;
        b->char_tok = h->len[SEC_CHAR_TOK] ? (uint64_t *)(map + h->off[SEC_CHAR_TOK]) : NULL;
        b->image = map;
        b->image_len = file_len;
        b->serial = tokfs_bpe_next_serial();
        if (tokfs_bpe_tables_check(b))
            rc = -EINVAL;
    }
    if (rc) {
        munmap(map, file_len);
        free(b);
        return rc;
    }
    *extra = map + h->off[SEC_EXTRA];
    *extra_len = h->len[SEC_EXTRA];
    *out = b;
    return 0;
}
