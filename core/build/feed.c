/* The feed: the hand-off between a build's readers and its tokenizing pool. Owns the feeder
 * thread and the bounded queue of chunks between the two.
 *
 * Why a thread: the readers (fetch, decompress, split lines, decode a long JSON line) run on
 * the build's thread; before the feed they also called the pool, whose add blocks while every
 * batch is in flight and whose sink (the shard writer: encoding, checksum, write) runs on the
 * adding thread. A reader that gathered and decoded a multi-megabyte line therefore left the
 * pool idle for as long (the pool held only a few batches of the line before), and the writer's
 * work sat between two reads. With the feed, the readers only copy what they hand over into a
 * chunk; the feeder thread adds the chunks' items to the pool and so runs the sink and the
 * records' done callbacks. Reading line k + 1 overlaps tokenizing line k.
 *
 * Items (a record, or text of a document with its `last` flag) are packed back to back into
 * chunks of about a pool batch; an item larger than a chunk gets a chunk of its own. Published
 * chunks wait in a FIFO of at most TOKFS_FEED_QUEUE_BYTES, except that one chunk is always
 * admitted into an empty queue (a long document must pass). Spent chunks come back to a free
 * list, so their pages are not faulted in again for every chunk; two large ones are kept too
 * (one being fed while the next long document is read into the other): a corpus of long
 * documents would otherwise map and fault a new chunk per document.
 *
 * Errors: the first failure of either side stops both. The feeder's (the pool's or the sink's)
 * comes back to the reader from its next push; the reader's stops the feeder at its next chunk
 * (tokfs_build_feed_stop). The build's error itself is recorded by tokfs_builder_fail, which
 * either thread may call (build_internal.h). */
#include "build/build_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* What an item is. */
enum { ITEM_RECORD, ITEM_TEXT };

/* An item's header in a chunk, followed by len bytes (and padding to the header's alignment). */
typedef struct item {
    uint32_t kind;   /* ITEM_* */
    uint32_t last;   /* ITEM_TEXT: the document ends with this text */
    size_t len;
    int64_t tag;     /* ITEM_RECORD: given back by records.done */
    const void *tag_ptr;
} item;

#define ITEM_ALIGN _Alignof(item)
#define ITEM_SPACE(len) (sizeof(item) + (((len) + ITEM_ALIGN - 1) & ~(size_t)(ITEM_ALIGN - 1)))

typedef struct chunk {
    struct chunk *next;
    tokfs_buf buf; /* items back to back */
} chunk;

struct tokfs_build_feed {
    tokfs_tokpool *pool;
    pthread_t thread;
    int started;

    pthread_mutex_t mu;
    pthread_cond_t cv;        /* the queue, free list or state changed */
    chunk *head, *tail;       /* published chunks, oldest first */
    size_t queued_bytes;
    chunk *free_list;         /* spent chunks of about a batch, their memory kept */
    size_t nfree;
    int big_in_use;           /* chunks larger than a batch being filled, queued or added */
    chunk *spare_big[TOKFS_FEED_BIG_SPARES]; /* spent chunks larger than that, kept for the
                                              * next long documents (NULL: none) */
    int closed;               /* the reader published its last chunk */
    atomic_int stop;          /* the reader failed: the feeder drops what is left (read
                               * between items without mu) */
    int rc;                   /* the feeder's first error (pool or sink), 0 */
    int done;                 /* the feeder finished the pool (tokfs_tokpool_finish) */

    chunk *filling;           /* the reader's chunk being filled (not yet published) */
};

static void chunk_free(chunk *c)
{
    if (!c)
        return;
    tokfs_buf_free(&c->buf);
    free(c);
}

/* A chunk with room for at least `need` bytes, from the free list or the spare when one fits.
 * With mu held. NULL when out of memory. */
static chunk *chunk_get(tokfs_build_feed *f, size_t need)
{
    chunk *c = NULL;
    if (need <= TOKFS_FEED_CHUNK_BYTES && f->free_list) {
        c = f->free_list;
        f->free_list = c->next;
        f->nfree--;
    } else if (need > TOKFS_FEED_CHUNK_BYTES) {
        /* the smallest spare that fits */
        int best = -1;
        for (int k = 0; k < TOKFS_FEED_BIG_SPARES; k++)
            if (f->spare_big[k] && f->spare_big[k]->buf.cap >= need &&
                (best < 0 || f->spare_big[k]->buf.cap < f->spare_big[best]->buf.cap))
                best = k;
        /* none fits: the largest, grown in place (realloc keeps its pages mapped, so only the
         * growth is faulted in) */
        for (int k = 0; best < 0 && k < TOKFS_FEED_BIG_SPARES; k++)
            if (f->spare_big[k])
                for (int j = k; j < TOKFS_FEED_BIG_SPARES; j++)
                    if (f->spare_big[j] && f->spare_big[j]->buf.cap >= f->spare_big[k]->buf.cap)
                        best = j;
        if (best >= 0) {
            c = f->spare_big[best];
            f->spare_big[best] = NULL;
            if (c->buf.cap < need) {
                uint8_t *grown = realloc(c->buf.data, need);
                if (!grown) {
                    chunk_free(c);
                    return NULL;
                }
                c->buf.data = grown;
                c->buf.cap = need;
            }
        }
    }
    if (!c && !(c = calloc(1, sizeof *c)))
        return NULL;
    c->next = NULL;
    c->buf.len = 0;
    /* exactly what a large item needs; a small one gets a whole chunk's room */
    if (tokfs_buf_reserve_exact(&c->buf, need > TOKFS_FEED_CHUNK_BYTES ? need
                                                                      : TOKFS_FEED_CHUNK_BYTES)) {
        chunk_free(c);
        return NULL;
    }
    if (need > TOKFS_FEED_CHUNK_BYTES)
        f->big_in_use++;
    return c;
}

/* A spent chunk back to the free list (or the spare, or freed). With mu held. */
static void chunk_put(tokfs_build_feed *f, chunk *c)
{
    c->buf.len = 0;
    if (c->buf.cap > TOKFS_FEED_CHUNK_BYTES) {
        f->big_in_use--;
        pthread_cond_broadcast(&f->cv); /* a reader may wait for it (item_room) */
    }
    if (c->buf.cap <= TOKFS_FEED_CHUNK_BYTES && f->nfree < TOKFS_FEED_FREE_CHUNKS) {
        c->next = f->free_list;
        f->free_list = c;
        f->nfree++;
        return;
    }
    if (c->buf.cap > TOKFS_FEED_CHUNK_BYTES) {
        /* into an empty place, else over the smallest spare if c is larger (it fits more) */
        int k = 0;
        for (int j = 1; j < TOKFS_FEED_BIG_SPARES && f->spare_big[k]; j++)
            if (!f->spare_big[j] || f->spare_big[j]->buf.cap < f->spare_big[k]->buf.cap)
                k = j;
        if (!f->spare_big[k] || f->spare_big[k]->buf.cap < c->buf.cap) {
            chunk_free(f->spare_big[k]);
            f->spare_big[k] = c;
            return;
        }
    }
    chunk_free(c);
}

/* Add one chunk's items to the pool, in order. Runs on the feeder thread. */
static int feed_chunk(tokfs_build_feed *f, const chunk *c)
{
    size_t off = 0;
    while (off < c->buf.len && !atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        item it;
        memcpy(&it, c->buf.data + off, sizeof it);
        const uint8_t *data = c->buf.data + off + sizeof it;
        int rc = it.kind == ITEM_RECORD
                     ? tokfs_tokpool_add_record(f->pool, data, it.len, it.tag, it.tag_ptr)
                     : tokfs_tokpool_add_text(f->pool, data, it.len, (int)it.last);
        if (rc)
            return rc;
        off += ITEM_SPACE(it.len);
    }
    return 0;
}

static void *feeder_thread(void *arg)
{
    tokfs_build_feed *f = arg;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->head && !f->closed && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop || (!f->head && f->closed))
            break;
        chunk *c = f->head;
        f->head = c->next;
        if (!f->head)
            f->tail = NULL;
        f->queued_bytes -= c->buf.len;
        pthread_cond_broadcast(&f->cv); /* room in the queue for the reader */
        pthread_mutex_unlock(&f->mu);
        rc = feed_chunk(f, c);
        pthread_mutex_lock(&f->mu);
        chunk_put(f, c);
        if (rc)
            break;
    }
    int finish = !rc && !f->stop;
    pthread_mutex_unlock(&f->mu);
    /* Everything is in the pool: encode the rest and hand it to the sink, here, since the sink
     * runs on the thread that adds. */
    if (finish)
        rc = tokfs_tokpool_finish(f->pool);
    pthread_mutex_lock(&f->mu);
    f->rc = rc;
    f->done = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int tokfs_build_feed_start(tokfs_tokpool *pool, tokfs_build_feed **out)
{
    tokfs_build_feed *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->pool = pool;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, feeder_thread, f)) {
        tokfs_build_feed_free(f);
        return -EAGAIN;
    }
    f->started = 1;
    *out = f;
    return 0;
}

/* Publish the reader's filling chunk, waiting while the queue is full. 0 or the feeder's
 * error. */
static int publish(tokfs_build_feed *f)
{
    chunk *c = f->filling;
    pthread_mutex_lock(&f->mu);
    while (!f->rc && !f->done && f->head &&
           f->queued_bytes + (c ? c->buf.len : 0) > TOKFS_FEED_QUEUE_BYTES)
        pthread_cond_wait(&f->cv, &f->mu);
    int rc = f->rc ? f->rc : f->done ? -EPIPE : 0;
    if (!rc && c && c->buf.len) {
        c->next = NULL;
        if (f->tail)
            f->tail->next = c;
        else
            f->head = c;
        f->tail = c;
        f->queued_bytes += c->buf.len;
        f->filling = NULL;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Room for an item of len bytes at the end of the filling chunk (publishing the chunk first
 * when the item does not fit): where the item's bytes go, or NULL with *rc set. The item is
 * not in the chunk until commit. */
static uint8_t *item_room(tokfs_build_feed *f, size_t len, int *rc)
{
    size_t need = ITEM_SPACE(len);
    if (f->filling && f->filling->buf.cap - f->filling->buf.len < need && (*rc = publish(f)))
        return NULL;
    if (!f->filling) {
        pthread_mutex_lock(&f->mu);
        /* At most two long documents in chunks (one being added, one queued): the third waits
         * here, after its line was read but before it is decoded, which keeps the overlap and
         * bounds the memory (the line buffer and two chunks). */
        while (need > TOKFS_FEED_CHUNK_BYTES && f->big_in_use >= 2 && !f->rc && !f->done)
            pthread_cond_wait(&f->cv, &f->mu);
        *rc = f->rc ? f->rc : f->done ? -EPIPE : 0;
        if (!*rc && !(f->filling = chunk_get(f, need)))
            *rc = -ENOMEM;
        pthread_mutex_unlock(&f->mu);
        if (*rc)
            return NULL;
    }
    return f->filling->buf.data + f->filling->buf.len + sizeof(item);
}

/* The item whose bytes are in the room item_room gave (it.len of them, at most what was asked)
 * joins the filling chunk. */
static int item_commit(tokfs_build_feed *f, item it)
{
    tokfs_buf *b = &f->filling->buf;
    memcpy(b->data + b->len, &it, sizeof it);
    b->len += ITEM_SPACE(it.len);
    /* A chunk of its own (a long document) goes at once: nothing else would fit after it, and
     * the pool can start on it while the next one is read. */
    if (b->len >= TOKFS_FEED_CHUNK_BYTES)
        return publish(f);
    return 0;
}

static int push(tokfs_build_feed *f, item it, const uint8_t *data)
{
    int rc = 0;
    uint8_t *p = item_room(f, it.len, &rc);
    if (!p)
        return rc;
    if (it.len)
        memcpy(p, data, it.len);
    return item_commit(f, it);
}

int tokfs_build_feed_record(tokfs_build_feed *f, const uint8_t *rec, size_t len, int64_t tag,
                            const void *tag_ptr)
{
    return push(f, (item){.kind = ITEM_RECORD, .len = len, .tag = tag, .tag_ptr = tag_ptr}, rec);
}

int tokfs_build_feed_text(tokfs_build_feed *f, const uint8_t *text, size_t len, int last)
{
    if (!len && !last)
        return 0; /* as tokfs_tokpool_add_text: nothing to encode, no end-of-text to place */
    return push(f, (item){.kind = ITEM_TEXT, .len = len, .last = last != 0}, text);
}

uint8_t *tokfs_build_feed_text_room(tokfs_build_feed *f, size_t max_len, int *rc)
{
    return item_room(f, max_len, rc);
}

int tokfs_build_feed_text_commit(tokfs_build_feed *f, size_t len, int last)
{
    if (!len && !last)
        return 0;
    return item_commit(f, (item){.kind = ITEM_TEXT, .len = len, .last = last != 0});
}

int tokfs_build_feed_finish(tokfs_build_feed *f)
{
    int rc = publish(f);
    pthread_mutex_lock(&f->mu);
    if (rc)
        f->stop = 1;
    f->closed = 1;
    pthread_cond_broadcast(&f->cv);
    while (!f->done)
        pthread_cond_wait(&f->cv, &f->mu);
    if (!rc)
        rc = f->rc;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void tokfs_build_feed_stop(tokfs_build_feed *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void tokfs_build_feed_free(tokfs_build_feed *f)
{
    if (!f)
        return;
    if (f->started) {
        tokfs_build_feed_stop(f);
        pthread_join(f->thread, NULL);
    }
    chunk_free(f->filling);
    for (chunk *c = f->head, *next; c; c = next) {
        next = c->next;
        chunk_free(c);
    }
    for (chunk *c = f->free_list, *next; c; c = next) {
        next = c->next;
        chunk_free(c);
    }
    for (int k = 0; k < TOKFS_FEED_BIG_SPARES; k++)
        chunk_free(f->spare_big[k]);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}
