/* FUSE low-level handlers. The tree is fixed at mount:
 *
 *   /                         ino 1
 *   /train/                   ino 2      shard_NNNNN.bin  ino SHARD_INO_BASE + plan index
 *                                        (.npy for format=npy; format=megatron adds
 *                                        shard_NNNNN.idx, ino SHARD_INO_BASE + npieces + index)
 *   /val/                     ino 3
 *   /dataset_metadata.json    ino 4 in readdir; a lookup answers with the inode of its current
 *                                        rendering (see "dynamic documents" below)
 *   /tokenizer.json           ino 7      the tokenizer, as a file a trainer loads (or
 *                                        tokenizer.model / tekken.json: tokfs_fs.tok_file_name)
 *   /.tokfs/                  ino 5
 *   /.tokfs/status.json       ino 6 in readdir; the same as dataset_metadata.json
 *
 * Fixed and shard inodes never go away, so their lookup counts need no bookkeeping (forget is a
 * no-op for them); only the renderings of the two JSON documents are counted and freed. A request
 * that needs a shard not yet made is handed to the cache with a callback and answered later by
 * the worker that makes it; this thread returns at once to serve other requests. */
#include "tokfs_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/known_empty.h"
#include "common/log.h"

enum {
    INO_ROOT = FUSE_ROOT_ID,
    INO_TRAIN = 2,
    INO_VAL = 3,
    INO_METADATA = 4,
    INO_DOTDIR = 5,
    INO_STATUS = 6,
    INO_TOKFILE = 7,
    SHARD_INO_BASE = 16,
};

#define SHARD_TIMEOUT_S 86400.0 /* shard content and size never change once known */

static tokfs_fs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }

static int is_megatron(tokfs_fs *fs)
{
    return tokfs_cache_layout(fs->cache)->format == TOKFS_OUT_MEGATRON;
}

/* A shard's file: part 0 is the data file (.bin/.npy), part 1 megatron's .idx. Both live in the
 * one cache file, the .idx after the data. */
static int is_shard_ino_part(tokfs_fs *fs, fuse_ino_t ino, uint32_t *index, int *part)
{
    uint64_t n = tokfs_cache_plan(fs->cache)->npieces;
    if (ino < SHARD_INO_BASE)
        return 0;
    uint64_t k = ino - SHARD_INO_BASE;
    if (k >= (is_megatron(fs) ? 2 * n : n))
        return 0;
    *part = k >= n;
    *index = (uint32_t)(k % n);
    return 1;
}

static int is_shard_ino(tokfs_fs *fs, fuse_ino_t ino, uint32_t *index)
{
    int part;
    return is_shard_ino_part(fs, ino, index, &part);
}

static fuse_ino_t shard_ino(tokfs_fs *fs, uint32_t index, int part)
{
    return SHARD_INO_BASE + (fuse_ino_t)index +
           (part ? (fuse_ino_t)tokfs_cache_plan(fs->cache)->npieces : 0);
}

/* Where a part lies in the shard's cache file: [*begin, *begin + *len). Known once the cache
 * answered for the shard (or its size was known). 0 or -ENODATA. */
static int part_range(tokfs_fs *fs, uint32_t index, int part, uint64_t *begin, uint64_t *len)
{
    uint64_t data, idx;
    int rc = tokfs_cache_known_parts(fs->cache, index, &data, &idx);
    if (rc)
        return rc;
    *begin = part ? data : 0;
    *len = part ? idx : data;
    return 0;
}

static void fill_dir(tokfs_fs *fs, fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_mtim = st->st_ctim = st->st_atim = fs->mtime;
}

static void fill_file(tokfs_fs *fs, fuse_ino_t ino, uint64_t size, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = (off_t)size;
    st->st_blksize = 1 << 20;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_mtim = st->st_ctim = st->st_atim = fs->mtime;
}

/* The tokenizer file's bytes, made on first use (tokfs_fs.tok_file); 0 or a negative errno. */
static int tok_file_ready(tokfs_fs *fs)
{
    pthread_mutex_lock(&fs->tok_file_lock);
    if (!fs->tok_file_made) {
        fs->tok_file_rc = fs->tok->file_bytes(fs->tok, &fs->tok_file);
        if (fs->tok_file_rc)
            tokfs_log(TOKFS_LOG_ERROR, "%s for the mount root could not be made: %s",
                      fs->tok_file_name, strerror(-fs->tok_file_rc));
        fs->tok_file_made = 1;
    }
    int rc = fs->tok_file_rc;
    pthread_mutex_unlock(&fs->tok_file_lock);
    return rc;
}

/* Attributes of a non-shard inode; 0 or a positive errno. */
static int fixed_attr(tokfs_fs *fs, fuse_ino_t ino, struct stat *st)
{
    switch (ino) {
    case INO_ROOT:
    case INO_TRAIN:
    case INO_VAL:
    case INO_DOTDIR:
        fill_dir(fs, ino, st);
        return 0;
    case INO_TOKFILE:
        if (!fs->tok_file_name)
            return ENOENT;
        if (tok_file_ready(fs))
            return EIO;
        fill_file(fs, ino, fs->tok_file.len, st);
        return 0;
    default:
        return ENOENT;
    }
}

/* ---- dynamic documents ------------------------------------------------------------------
 *
 * dataset_metadata.json and status.json change while the mount runs, yet every open must see
 * them as they are now, and each open must read one consistent text however many READs the
 * kernel splits it into. The kernel opens files without asking the daemon
 * (FUSE_CAP_NO_OPEN_SUPPORT), so no open can mark them direct_io or snapshot them, and their
 * pages stay in the page cache (keep_cache is the default of an open the daemon never saw).
 * So each rendering is its own immutable file: a lookup renders the document and answers with
 * the inode of that text, a new inode number whenever the text differs from the last one (the
 * same one while it does not, so an unchanged document keeps its cached pages). Lookups of
 * these names are never cached (entry timeout 0): every path walk to them asks again, so every
 * open gets the current text; an open file keeps the inode, and the text, it was opened with.
 * A rendering lives while the kernel holds a lookup of it (FORGET drops it: FUSE inodes are
 * evicted as soon as their last dentry and file are gone) and while a READ is replying. */

enum { DOC_METADATA = 0, DOC_STATUS = 1 };

/* Inode numbers of renderings: far above every shard's (SHARD_INO_BASE + 2 * pieces). */
#define DOC_INO_BASE ((fuse_ino_t)1 << 48)

struct tokfs_doc {
    tokfs_doc *next;
    fuse_ino_t ino;
    int kind;
    uint64_t nlookup; /* the kernel's references (lookups not yet forgotten) */
    unsigned busy;    /* READs replying from text right now */
    struct timespec mtime;
    char *text;
    size_t len;
};

static int is_doc_ino(fuse_ino_t ino) { return ino >= DOC_INO_BASE; }

/* Frees doc if nothing refers to it any more; called with docs_lock held. */
static void doc_maybe_free(tokfs_fs *fs, tokfs_doc *doc)
{
    if (doc->nlookup || doc->busy)
        return;
    for (tokfs_doc **p = &fs->docs; *p; p = &(*p)->next)
        if (*p == doc) {
            *p = doc->next;
            break;
        }
    if (fs->latest[doc->kind] == doc)
        fs->latest[doc->kind] = NULL;
    free(doc->text);
    free(doc);
}

static tokfs_doc *doc_find(tokfs_fs *fs, fuse_ino_t ino)
{
    for (tokfs_doc *d = fs->docs; d; d = d->next)
        if (d->ino == ino)
            return d;
    return NULL;
}

/* Answer a lookup of a document of this kind with the inode of its current text; counts the
 * lookup. */
static void doc_lookup(fuse_req_t req, tokfs_fs *fs, int kind)
{
    size_t len = 0;
    char *text = kind == DOC_METADATA ? tokfs_cache_render_metadata(fs->cache, &len)
                                      : tokfs_cache_render_status(fs->cache, &len);
    if (!text) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_lock(&fs->docs_lock);
    tokfs_doc *doc = fs->latest[kind];
    if (doc && (doc->len != len || memcmp(doc->text, text, len) != 0))
        doc = NULL;
    if (doc) {
        free(text);
    } else {
        if (!(doc = calloc(1, sizeof *doc))) {
            pthread_mutex_unlock(&fs->docs_lock);
            free(text);
            fuse_reply_err(req, ENOMEM);
            return;
        }
        doc->ino = DOC_INO_BASE + fs->doc_serial++;
        doc->kind = kind;
        doc->text = text;
        doc->len = len;
        clock_gettime(CLOCK_REALTIME, &doc->mtime);
        doc->next = fs->docs;
        fs->docs = doc;
        fs->latest[kind] = doc;
    }
    doc->nlookup++;
    struct fuse_entry_param e = {0};
    e.ino = doc->ino;
    e.generation = 1;
    e.attr_timeout = SHARD_TIMEOUT_S; /* this text never changes */
    e.entry_timeout = 0;              /* but the name may lead to another text next time */
    fill_file(fs, doc->ino, doc->len, &e.attr);
    e.attr.st_mtim = e.attr.st_ctim = doc->mtime;
    pthread_mutex_unlock(&fs->docs_lock);
    /* If the lookup was interrupted the kernel never learns the inode and never forgets it:
     * give the count back. */
    if (fuse_reply_entry(req, &e) == -ENOENT) {
        pthread_mutex_lock(&fs->docs_lock);
        if ((doc = doc_find(fs, e.ino))) {
            doc->nlookup--;
            doc_maybe_free(fs, doc);
        }
        pthread_mutex_unlock(&fs->docs_lock);
    }
}

static void doc_getattr(fuse_req_t req, tokfs_fs *fs, fuse_ino_t ino)
{
    pthread_mutex_lock(&fs->docs_lock);
    tokfs_doc *doc = doc_find(fs, ino);
    struct stat st;
    if (doc) {
        fill_file(fs, ino, doc->len, &st);
        st.st_mtim = st.st_ctim = doc->mtime;
    }
    pthread_mutex_unlock(&fs->docs_lock);
    if (doc)
        fuse_reply_attr(req, &st, SHARD_TIMEOUT_S);
    else
        fuse_reply_err(req, ESTALE); /* the kernel forgot it: it cannot ask (never reached) */
}

static void doc_read(fuse_req_t req, tokfs_fs *fs, fuse_ino_t ino, size_t size, off_t off)
{
    pthread_mutex_lock(&fs->docs_lock);
    tokfs_doc *doc = doc_find(fs, ino);
    if (doc)
        doc->busy++;
    pthread_mutex_unlock(&fs->docs_lock);
    if (!doc) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    /* Outside the lock: the text never changes, and busy keeps it alive until the reply has
     * been written (the kernel may forget the inode as soon as it has the bytes). */
    if ((uint64_t)off >= doc->len)
        fuse_reply_buf(req, NULL, 0);
    else
        fuse_reply_buf(req, doc->text + off,
                       (uint64_t)off + size > doc->len ? doc->len - (size_t)off : size);
    pthread_mutex_lock(&fs->docs_lock);
    doc->busy--;
    doc_maybe_free(fs, doc);
    pthread_mutex_unlock(&fs->docs_lock);
}

static void doc_forget(tokfs_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&fs->docs_lock);
    tokfs_doc *doc = doc_find(fs, ino);
    if (doc) {
        doc->nlookup = nlookup < doc->nlookup ? doc->nlookup - nlookup : 0;
        doc_maybe_free(fs, doc);
    }
    pthread_mutex_unlock(&fs->docs_lock);
}

/* ---- shards whose size may not be known yet --------------------------------------------- */

typedef struct size_request {
    fuse_req_t req;
    tokfs_fs *fs;
    fuse_ino_t ino;
    uint32_t index;
    int part;
    int want_entry; /* 1: answer a lookup, 0: a getattr */
} size_request;

static void reply_shard_attr(fuse_req_t req, tokfs_fs *fs, fuse_ino_t ino, uint64_t size,
                             int want_entry)
{
    if (want_entry) {
        struct fuse_entry_param e = {0};
        e.ino = ino;
        e.generation = 1;
        e.attr_timeout = SHARD_TIMEOUT_S;
        e.entry_timeout = SHARD_TIMEOUT_S;
        fill_file(fs, ino, size, &e.attr);
        fuse_reply_entry(req, &e);
    } else {
        struct stat st;
        fill_file(fs, ino, size, &st);
        fuse_reply_attr(req, &st, SHARD_TIMEOUT_S);
    }
}

static void size_ready(void *arg, int status, uint64_t size, tokfs_backing *backing)
{
    size_request *r = arg;
    (void)backing;
    (void)size; /* the whole cache file's; the part's own comes from the known parts */
    uint64_t begin, len;
    if (!status && part_range(r->fs, r->index, r->part, &begin, &len))
        status = -EIO; /* answered 0, so the parts are known: never reached */
    if (!status && tokfs_cache_known_empty(r->fs->cache, r->index))
        status = -ENOENT; /* made just now and empty: hidden (docs/parquet-filter.md) */
    if (status)
        fuse_reply_err(r->req, -status);
    else
        reply_shard_attr(r->req, r->fs, r->ino, len, r->want_entry);
    free(r);
}

/* Answer with the shard's size, making the shard first when its size is not known yet.
 *
 * Except a lookup: the kernel holds the parent directory's lock across a LOOKUP (libfuse 3.14
 * never asks for FUSE_PARALLEL_DIROPS), so a lookup waiting for a build would hold up every
 * other first lookup in train/ (one build at a time however many readers open shards, and
 * none at all while a source stalls). A lookup of a shard of unknown size is answered at once
 * with attributes that expire at once (attr timeout 0, size 0): the kernel asks getattr, which
 * takes no directory lock and makes the shard, before stat, read, lseek or anything else that
 * uses the size. */
static void shard_attr(fuse_req_t req, tokfs_fs *fs, uint32_t index, int part, int want_entry)
{
    fuse_ino_t ino = shard_ino(fs, index, part);
    uint64_t begin, size;
    if (tokfs_cache_known_empty(fs->cache, index)) {
        fuse_reply_err(req, ENOENT); /* a shard of 0 tokens is hidden (docs/parquet-filter.md) */
        return;
    }
    if (part_range(fs, index, part, &begin, &size) == 0) {
        reply_shard_attr(req, fs, ino, size, want_entry);
        return;
    }
    if (want_entry) {
        struct fuse_entry_param e = {0};
        e.ino = ino;
        e.generation = 1;
        e.attr_timeout = 0;
        e.entry_timeout = SHARD_TIMEOUT_S;
        fill_file(fs, ino, 0, &e.attr);
        fuse_reply_entry(req, &e);
        return;
    }
    size_request *r = malloc(sizeof *r);
    if (!r) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    *r = (size_request){.req = req, .fs = fs, .ino = ino, .index = index, .part = part,
                        .want_entry = want_entry};
    tokfs_cache_get(fs->cache, index, 0, 0, size_ready, r);
}

/* The name readdir shows for shard n's part. */
static void part_name(tokfs_fs *fs, uint32_t n, int part, char *out, size_t size)
{
    snprintf(out, size, "shard_%05u%s", n,
             part ? ".idx" : tokfs_layout_ext(tokfs_cache_layout(fs->cache)));
}

/* "shard_00042.bin" → 42 (part 0; "shard_00042.idx" → 42, part 1 with format=megatron), only
 * in the exact form readdir shows. */
static int parse_shard_name(tokfs_fs *fs, const char *name, uint32_t *n, int *part)
{
    unsigned value;
    if (sscanf(name, "shard_%u.", &value) != 1)
        return -1;
    for (int p = 0; p <= is_megatron(fs); p++) {
        char canonical[40];
        part_name(fs, value, p, canonical, sizeof canonical);
        if (strcmp(canonical, name) == 0) {
            *n = value;
            *part = p;
            return 0;
        }
    }
    return -1;
}

/* ---- handlers --------------------------------------------------------------------------- */

/* The largest READ reply, in pages, that libfuse 3.14 can still splice: it sizes its pipe to
 * the reply plus three pages of slack, and a pipe cannot grow past /proc/sys/fs/pipe-max-size
 * without CAP_SYS_RESOURCE. A bigger reply falls back to a fresh buffer per request (mmap'd by
 * malloc, filled by pread, written, unmapped), measured 10-30 times slower per byte than the
 * splice on this machine: so 252 pages (1008 KiB) with the default 1 MiB pipe limit, rather
 * than 256. */
static unsigned splice_max_pages(void)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned long pipe_max = 1 << 20;
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    if (f) {
        if (fscanf(f, "%lu", &pipe_max) != 1)
            pipe_max = 1 << 20;
        fclose(f);
    }
    unsigned long pages = pipe_max / (unsigned long)page;
    pages = pages > 4 ? pages - 4 : 1; /* three pages of libfuse's slack, one for the header */
    return pages > 256 ? 256 : (unsigned)pages; /* the kernel's FUSE_MAX_MAX_PAGES */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    tokfs_fs *fs = userdata;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
    /* Warm opens and closes never reach the daemon: ENOSYS from the first OPEN makes the kernel
     * open every later file itself, with keep_cache and no RELEASE (fs/fuse/file.c,
     * fuse_file_open). Not so for directories: an opendir the kernel does itself caches the
     * listing (FOPEN_CACHE_DIR) until the directory's mtime changes, and a listing must drop a
     * shard once it is found empty; listing is not on a trainer's hot path. */
    fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
    /* Passthrough names its backing file in the OPEN reply: with it, opens must be asked. */
    if (tokfs_pt_negotiate(fs->pt))
        fs->no_open = 0;
    /* Shards never change once made (an evicted shard is re-made byte for byte): no read needs
     * the attribute check that auto_inval_data adds to every read(2). A size learnt late (0
     * answered to a lookup, the real size to the getattr that made the shard) still drops the
     * cached pages, which the kernel does on any size change. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    /* READs as large as a splice can carry (see splice_max_pages); read-ahead windows are cut
     * into requests of this size. max_write sets max_pages in libfuse 3.14. */
    conn->max_write = splice_max_pages() * (unsigned)sysconf(_SC_PAGESIZE);
    /* INIT's reply lowers the mount's read-ahead to max_readahead (fs/fuse/inode.c,
     * process_init_reply): announce what main.c wrote to the bdi, or it is undone. */
    if (fs->read_ahead_kb)
        conn->max_readahead = fs->read_ahead_kb * 1024;
    /* Readers stream whole shards: let many read-ahead requests be in flight at once (the
     * kernel's default is 12 for the whole mount). */
    conn->max_background = 64;
    conn->congestion_threshold = 48;
}

static void op_destroy(void *userdata)
{
    tokfs_fs *fs = userdata;
    while (fs->docs) {
        tokfs_doc *doc = fs->docs;
        fs->docs = doc->next;
        free(doc->text);
        free(doc);
    }
    fs->latest[DOC_METADATA] = fs->latest[DOC_STATUS] = NULL;
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    if (is_doc_ino(ino))
        doc_forget(fuse_req_userdata(req), ino, nlookup);
    fuse_reply_none(req);
}

/* A lookup of a shard whose size is not known yet, when the kernel opens files itself: as
 * shard_attr's (size 0, attributes expiring at once, answered without waiting for the build),
 * and the name itself not cached either. The shard may turn out to hold no token, and then it
 * must vanish: stat asks getattr, which says ENOENT, but an open the kernel does without asking
 * only walks the path, and would succeed on a cached name. With the name expiring at once, the
 * next walk asks lookup again, which says ENOENT (or caches the name for good once the size is
 * known). */
static void unknown_size_entry(fuse_req_t req, tokfs_fs *fs, fuse_ino_t ino)
{
    struct fuse_entry_param e = {0};
    e.ino = ino;
    e.generation = 1;
    e.attr_timeout = 0;
    e.entry_timeout = 0;
    fill_file(fs, ino, 0, &e.attr);
    fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    tokfs_fs *fs = fs_of(req);
    fuse_ino_t ino = 0;
    if (parent == INO_ROOT) {
        if (strcmp(name, "train") == 0)
            ino = INO_TRAIN;
        else if (strcmp(name, "val") == 0)
            ino = INO_VAL;
        else if (strcmp(name, "dataset_metadata.json") == 0) {
            doc_lookup(req, fs, DOC_METADATA);
            return;
        } else if (strcmp(name, ".tokfs") == 0)
            ino = INO_DOTDIR;
        else if (fs->tok_file_name && strcmp(name, fs->tok_file_name) == 0)
            ino = INO_TOKFILE;
    } else if (parent == INO_DOTDIR) {
        if (strcmp(name, "status.json") == 0) {
            doc_lookup(req, fs, DOC_STATUS);
            return;
        }
    } else if (parent == INO_TRAIN || parent == INO_VAL) {
        uint32_t n;
        int part;
        int64_t index;
        if (parse_shard_name(fs, name, &n, &part) == 0 &&
            (index = tokfs_cache_shard_index(fs->cache, parent == INO_VAL, n)) >= 0) {
            uint64_t begin, size;
            if (fs->no_open && !tokfs_cache_known_empty(fs->cache, (uint32_t)index) &&
                part_range(fs, (uint32_t)index, part, &begin, &size) != 0) {
                unknown_size_entry(req, fs, shard_ino(fs, (uint32_t)index, part));
                return;
            }
            shard_attr(req, fs, (uint32_t)index, part, 1);
            return;
        }
    }
    if (!ino) {
        struct fuse_entry_param e = {0}; /* negative entry, cached: the tree never changes */
        e.entry_timeout = SHARD_TIMEOUT_S;
        fuse_reply_entry(req, &e);
        return;
    }
    struct fuse_entry_param e = {0};
    e.ino = ino;
    e.generation = 1;
    e.attr_timeout = SHARD_TIMEOUT_S;
    e.entry_timeout = SHARD_TIMEOUT_S;
    fixed_attr(fs, ino, &e.attr);
    fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    tokfs_fs *fs = fs_of(req);
    uint32_t index;
    int part;
    if (is_shard_ino_part(fs, ino, &index, &part)) {
        shard_attr(req, fs, index, part, 0);
        return;
    }
    if (is_doc_ino(ino)) {
        doc_getattr(req, fs, ino);
        return;
    }
    struct stat st;
    int rc = fixed_attr(fs, ino, &st);
    if (rc)
        fuse_reply_err(req, rc);
    else
        fuse_reply_attr(req, &st, SHARD_TIMEOUT_S);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    tokfs_fs *fs = fs_of(req);
    /* Entry k of the listing (0 ".", 1 ".."); returns 0 past the end. */
    struct { const char *name; fuse_ino_t ino; int dir; } fixed[5];
    uint32_t nfixed = 0, nshards = 0;
    uint32_t parts = is_megatron(fs) ? 2 : 1; /* files per shard: .bin (+ .idx) */
    int split = -1;
    switch (ino) {
    case INO_ROOT:
        fixed[nfixed++] = (typeof(fixed[0])){"train", INO_TRAIN, 1};
        fixed[nfixed++] = (typeof(fixed[0])){"val", INO_VAL, 1};
        fixed[nfixed++] = (typeof(fixed[0])){"dataset_metadata.json", INO_METADATA, 0};
        fixed[nfixed++] = (typeof(fixed[0])){".tokfs", INO_DOTDIR, 1};
        if (fs->tok_file_name)
            fixed[nfixed++] = (typeof(fixed[0])){fs->tok_file_name, INO_TOKFILE, 0};
        break;
    case INO_DOTDIR:
        fixed[nfixed++] = (typeof(fixed[0])){"status.json", INO_STATUS, 0};
        break;
    case INO_TRAIN:
        split = 0;
        nshards = tokfs_cache_train_shards(fs->cache);
        break;
    case INO_VAL:
        split = 1;
        nshards = tokfs_cache_val_shards(fs->cache);
        break;
    default:
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    uint64_t total = 2 + (uint64_t)nfixed + (uint64_t)nshards * parts;
    for (uint64_t k = (uint64_t)off; k < total; k++) {
        struct stat st = {0};
        char name[32];
        const char *entry_name;
        if (k < 2) {
            entry_name = k == 0 ? "." : "..";
            st.st_ino = ino;
            st.st_mode = S_IFDIR;
        } else if (k - 2 < nfixed) {
            entry_name = fixed[k - 2].name;
            st.st_ino = fixed[k - 2].ino;
            st.st_mode = fixed[k - 2].dir ? S_IFDIR : S_IFREG;
        } else {
            uint32_t n = (uint32_t)((k - 2 - nfixed) / parts);
            int part = (int)((k - 2 - nfixed) % parts);
            uint32_t index = (uint32_t)tokfs_cache_shard_index(fs->cache, split, n);
            if (tokfs_cache_known_empty(fs->cache, index))
                continue; /* a shard of 0 tokens is not listed (docs/parquet-filter.md) */
            part_name(fs, n, part, name, sizeof name);
            entry_name = name;
            st.st_ino = shard_ino(fs, index, part);
            st.st_mode = S_IFREG;
        }
        size_t need = fuse_add_direntry(req, buf + used, size - used, entry_name, &st,
                                        (off_t)(k + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

/* Only a kernel without FUSE_CAP_NO_OPEN_SUPPORT (or the first open of a mount) gets here. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    tokfs_fs *fs = fs_of(req);
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS); /* the mount is read-only: the kernel refuses these first */
        return;
    }
    uint32_t index;
    if (is_shard_ino(fs, ino, &index) && tokfs_cache_known_empty(fs->cache, index)) {
        fuse_reply_err(req, ENOENT); /* hidden: a shard of 0 tokens (docs/parquet-filter.md) */
        return;
    }
    if (fs->no_open) {
        /* "Opened": from now on the kernel opens every file itself, with keep_cache. */
        fuse_reply_err(req, ENOSYS);
        return;
    }
    /* With passthrough on, a shard's data file that is its cache file may be handed to the
     * kernel (tokfs_pt_open decides, by what else has it open). Megatron's .bin and .idx share
     * one cache file, so offsets would not map one to one: never passthrough. */
    int part;
    if (tokfs_pt_active(fs->pt) && is_shard_ino_part(fs, ino, &index, &part) && part == 0 &&
        !is_megatron(fs)) {
        tokfs_pt_open(fs->pt, req, index, fi);
        return;
    }
    /* Shards, the tokenizer file and each rendering of a document never change: keep their
     * pages across opens (trainers re-open a shard every batch). */
    fi->keep_cache = 1;
    fi->fh = 0;
    fuse_reply_open(req, fi);
}

typedef struct read_request {
    fuse_req_t req;
    tokfs_fs *fs;
    uint32_t index;
    int part;
    off_t off;
    size_t size;
} read_request;

/* The cache's answer to a read: the backing is the cached shard's file, or the file of its
 * build in progress whose bytes up to the end this read asked for are final (op_read). Either
 * way only [off, off + size) of the part, bounded by its length, is sent. */
static void read_ready(void *arg, int status, uint64_t shard_size, tokfs_backing *backing)
{
    read_request *r = arg;
    (void)shard_size; /* the whole cache file's: the part's range is what bounds the read */
    uint64_t begin = 0, len = 0;
    if (!status && part_range(r->fs, r->index, r->part, &begin, &len))
        status = -EIO; /* answered 0, so the parts are known: never reached */
    if (status) {
        fuse_reply_err(r->req, -status);
    } else if ((uint64_t)r->off >= len) {
        fuse_reply_buf(r->req, NULL, 0);
    } else {
        size_t size = r->size;
        if ((uint64_t)r->off + size > len)
            size = (size_t)(len - (uint64_t)r->off);
        struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(size);
        bufv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        bufv.buf[0].fd = tokfs_backing_fd(backing);
        bufv.buf[0].pos = (off_t)begin + r->off;
        fuse_reply_data(r->req, &bufv, FUSE_BUF_SPLICE_MOVE);
    }
    tokfs_cache_release(r->fs->cache, backing);
    free(r);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    tokfs_fs *fs = fs_of(req);
    (void)fi; /* fh is 0 or was never set: every file is read by its inode */
    uint32_t index;
    int part;
    if (is_shard_ino_part(fs, ino, &index, &part)) {
        read_request *r = malloc(sizeof *r);
        if (!r) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        *r = (read_request){.req = req, .fs = fs, .index = index, .part = part, .off = off,
                            .size = size};
        /* The bytes this read returns, as read_ready bounds them: with the size known (the
         * catalog's), a shard being re-made answers it as soon as they are written and checked
         * (tokfs_cache_read), not when the whole shard is done. */
        uint64_t begin, len, end = UINT64_MAX;
        if (part_range(fs, index, part, &begin, &len) == 0)
            end = begin + ((uint64_t)off >= len ? 0 /* past the end: no bytes */
                           : (uint64_t)off + size < len ? (uint64_t)off + size : len);
        tokfs_cache_read(fs->cache, index, end, read_ready, r);
        return;
    }
    if (ino == INO_TOKFILE) {
        if (tok_file_ready(fs))
            fuse_reply_err(req, EIO);
        else if ((uint64_t)off >= fs->tok_file.len)
            fuse_reply_buf(req, NULL, 0);
        else
            fuse_reply_buf(req, (const char *)fs->tok_file.data + off,
                           (uint64_t)off + size > fs->tok_file.len ? fs->tok_file.len - (size_t)off
                                                                  : size);
        return;
    }
    if (is_doc_ino(ino)) {
        doc_read(req, fs, ino, size, off);
        return;
    }
    fuse_reply_err(req, EISDIR);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    tokfs_fs *fs = fs_of(req);
    uint64_t used, cap;
    tokfs_cache_usage(fs->cache, &used, &cap);
    struct statvfs st = {0};
    st.f_bsize = st.f_frsize = 4096;
    st.f_blocks = cap / 4096;
    st.f_bfree = st.f_bavail = cap > used ? (cap - used) / 4096 : 0;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
}

/* Everything that would change the tree: read-only. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)ino; (void)attr; (void)to_set; (void)fi;
    fuse_reply_err(req, EROFS);
}
static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{
    (void)p; (void)n; (void)m; (void)d;
    fuse_reply_err(req, EROFS);
}
static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
    (void)p; (void)n; (void)m;
    fuse_reply_err(req, EROFS);
}
static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
    (void)p; (void)n;
    fuse_reply_err(req, EROFS);
}
static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
                      unsigned int flags)
{
    (void)p; (void)n; (void)np; (void)nn; (void)flags;
    fuse_reply_err(req, EROFS);
}
static void op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
                      struct fuse_file_info *fi)
{
    (void)p; (void)n; (void)m; (void)fi;
    fuse_reply_err(req, EROFS);
}
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino; (void)buf; (void)size; (void)off; (void)fi;
    fuse_reply_err(req, EROFS);
}

/* Only opens answered by tokfs_pt_open are counted; every other RELEASE (of the files opened
 * with plain keep_cache, or of any file without passthrough, where the kernel opens files
 * itself and sends none) is just acknowledged. */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    tokfs_fs *fs = fs_of(req);
    uint32_t index;
    if (fs->pt && is_shard_ino(fs, ino, &index))
        tokfs_pt_release(fs->pt, index, fi);
    fuse_reply_err(req, 0);
}

/* No flush or opendir handlers: libfuse answers FLUSH with ENOSYS (after which the kernel never
 * sends another), OPENDIR with success. */
const struct fuse_lowlevel_ops tokfs_fs_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .forget = op_forget,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readdir = op_readdir,
    .open = op_open,
    .release = op_release,
    .read = op_read,
    .statfs = op_statfs,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .rename = op_rename,
    .create = op_create,
    .write = op_write,
};
