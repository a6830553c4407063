/* The tokenizing pool of one shard: documents (and JSON lines) packed into batches,
 * encoded on `workers` threads, and written out in order; long documents cut where the
 * tokenizer proves the parts encode to the whole's ids. */
#include "tokenize/tokpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "tokenize/bpe_internal.h"

enum { SLOT_EMPTY, SLOT_READY, SLOT_BUSY, SLOT_DONE };

/* A slot's text grown for one large part, and a thread's scratch grown for one large document,
 * are given back above these. */
#define SLOT_TEXT_KEEP (2 * TOKFS_TOKPOOL_BATCH)
#define THREAD_SCRATCH_KEEP (4u << 20)

/* A document, a part of one that tok->cut allows to encode on its own, or a record. */
typedef struct part {
    size_t end;          /* end offset in the slot's text */
    uint8_t eot;         /* 1: the last part of its document, followed by the end-of-text id */
    uint8_t record;      /* 1: a record, decoded into a document first */
    int reason;          /* a record: 0 when it was a document, else why it was skipped */
    int64_t tag;         /* a record's tag and tag_ptr, for records.done */
    const void *tag_ptr;
} part;

typedef struct slot {
    int state;
    int rc;
    tokfs_buf text; /* parts back to back */
    part *parts;
    size_t nparts, parts_cap;
    tokfs_ids ids;
} slot;

struct tokfs_tokpool {
    const tokfs_tokenizer *tok;
    tokfs_id_sink sink;
    tokfs_tokpool_records records;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a slot became READY, or stop */
    pthread_cond_t done_cv; /* a slot became DONE */
    int stop;
    unsigned nthreads;
    pthread_t *threads;
    unsigned nslots;
    slot *slots;
    uint64_t head; /* oldest slot not yet handed to the sink */
    uint64_t tail; /* slot being filled */
    int error;     /* first error seen (sticky) */
};

static int ids_put(void *ctx, const uint32_t *ids, size_t n)
{
    tokfs_ids *v = ctx;
    if (tokfs_ids_reserve(v, n))
        return -ENOMEM;
    memcpy(v->ids + v->len, ids, n * sizeof *ids);
    v->len += n;
    return 0;
}

/* A pool thread's scratch: a decoded record, and repaired UTF-8. Each is filled anew per part,
 * so it is reserved empty (nothing copied) and exactly (the bound is the part's size). */
typedef struct thread_bufs {
    tokfs_buf decoded, repair;
} thread_bufs;

/* Encode every part of a slot into s->ids; runs on a pool thread without the lock. Parts are
 * cut at ASCII bytes, so repairing each part's UTF-8 on its own gives the same text. */
static int encode_slot(const tokfs_tokpool *p, slot *s, thread_bufs *tb)
{
    const tokfs_tokenizer *tok = p->tok;
    tokfs_id_sink sink = {ids_put, &s->ids};
    s->ids.len = 0;
    size_t start = 0;
    for (size_t d = 0; d < s->nparts; d++) {
        part *pt = &s->parts[d];
        const uint8_t *text = s->text.data + start;
        size_t len = pt->end - start;
        start = pt->end;
        if (pt->record) {
            tokfs_buf_clear(&tb->decoded);
            if (tokfs_buf_reserve_exact(&tb->decoded, len ? len : 1))
                return -ENOMEM;
            size_t doc_len = 0;
            pt->reason = p->records.decode(p->records.decode_ctx, text, len, tb->decoded.data,
                                           &doc_len);
            if (pt->reason)
                continue;
            text = tb->decoded.data;
            len = doc_len;
        }
        if (tok->text_based && !tokfs_utf8_valid(text, len)) {
            tokfs_buf_clear(&tb->repair);
            if (tokfs_buf_reserve_exact(&tb->repair, TOKFS_UTF8_OUT_MAX(len)))
                return -ENOMEM;
            tokfs_utf8_state st = {0};
            len = tokfs_utf8_repair(&st, text, len, tb->repair.data, 1);
            text = tb->repair.data;
        }
        int rc = tok->encode(tok, text, len, &sink);
        if (rc)
            return rc;
        if (!pt->eot)
            continue;
        uint32_t eot = tok->eot_id;
        if ((rc = ids_put(&s->ids, &eot, 1)))
            return rc;
    }
    return 0;
}

static void *pool_thread(void *arg)
{
    tokfs_tokpool *p = arg;
    thread_bufs tb = {0};
    pthread_mutex_lock(&p->mu);
    for (;;) {
        slot *s = NULL;
        for (uint64_t k = p->head; k < p->tail + 1 && !s; k++) {
            slot *c = &p->slots[k % p->nslots];
            if (c->state == SLOT_READY)
                s = c;
        }
        if (!s) {
            if (p->stop)
                break;
            pthread_cond_wait(&p->work_cv, &p->mu);
            continue;
        }
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);
        int rc = encode_slot(p, s, &tb);
        tokfs_buf_trim(&tb.repair, THREAD_SCRATCH_KEEP); /* grown for one large document */
        tokfs_buf_trim(&tb.decoded, THREAD_SCRATCH_KEEP);
        pthread_mutex_lock(&p->mu);
        s->rc = rc;
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    tokfs_buf_free(&tb.repair);
    tokfs_buf_free(&tb.decoded);
    return NULL;
}

int tokfs_tokpool_start(const tokfs_tokenizer *tok, unsigned threads, const tokfs_id_sink *sink,
                        const tokfs_tokpool_records *records, tokfs_tokpool **out)
{
    if (threads < 1)
        threads = 1;
    tokfs_tokpool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->tok = tok;
    p->sink = *sink;
    if (records)
        p->records = *records;
    /* Two batches per thread (one encoding, one ready), the one being filled, and two of slack:
     * the adding thread (a shard build's feeder) also runs the sink, or waits for a CPU, and the
     * encoders should not run dry meanwhile. */
    p->nslots = 2 * threads + 3;
    p->slots = calloc(p->nslots, sizeof *p->slots);
    p->threads = calloc(threads, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (!p->slots || !p->threads) {
        tokfs_tokpool_free(p);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_thread, p)) {
            tokfs_tokpool_free(p);
            return -EAGAIN;
        }
        p->nthreads++;
    }
    *out = p;
    return 0;
}

/* Wait for the oldest slot, hand its ids to the sink, and empty it. Called with the lock. */
static int drain_oldest(tokfs_tokpool *p)
{
    slot *s = &p->slots[p->head % p->nslots];
    while (s->state != SLOT_DONE)
        pthread_cond_wait(&p->done_cv, &p->mu);
    int rc = s->rc;
    if (!rc && !p->error) {
        pthread_mutex_unlock(&p->mu); /* the sink writes to disk: not under the lock */
        for (size_t d = 0; d < s->nparts && !rc; d++)
            if (s->parts[d].record)
                rc = p->records.done(p->records.done_ctx, s->parts[d].reason, s->parts[d].tag,
                                     s->parts[d].tag_ptr);
        if (!rc)
            rc = p->sink.put(p->sink.ctx, s->ids.ids, s->ids.len);
        pthread_mutex_lock(&p->mu);
    }
    if (rc && !p->error)
        p->error = rc;
    s->state = SLOT_EMPTY;
    s->nparts = 0;
    s->ids.len = 0;
    tokfs_buf_trim(&s->text, SLOT_TEXT_KEEP); /* empty again; memory kept up to two batches */
    if (s->ids.cap > TOKFS_TOKPOOL_BATCH)
        tokfs_ids_free(&s->ids);
    p->head++;
    return p->error;
}

/* Hand the slot being filled to the threads; make sure the next one is free. With the lock. */
static int submit_tail(tokfs_tokpool *p)
{
    slot *s = &p->slots[p->tail % p->nslots];
    if (!s->nparts)
        return p->error;
    s->state = SLOT_READY;
    s->rc = 0;
    p->tail++;
    pthread_cond_signal(&p->work_cv);
    if (p->tail - p->head >= p->nslots)
        return drain_oldest(p);
    return p->error;
}

/* Append text as one part to the slot being filled, handing that slot to the threads first
 * when the part would take it past the batch size. */
static int add_part(tokfs_tokpool *p, const uint8_t *text, size_t len, part what)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->error;
    slot *s = &p->slots[p->tail % p->nslots];
    if (!rc && s->nparts && s->text.len + len > TOKFS_TOKPOOL_BATCH) {
        rc = submit_tail(p);
        s = &p->slots[p->tail % p->nslots];
    }
    pthread_mutex_unlock(&p->mu);
    if (rc)
        return rc;
    /* the tail slot belongs to this thread until it is submitted */
    if (s->nparts == s->parts_cap) {
        size_t cap = s->parts_cap ? s->parts_cap * 2 : 256;
        part *grown = realloc(s->parts, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        s->parts = grown;
        s->parts_cap = cap;
    }
    if (tokfs_buf_append(&s->text, text, len))
        return -ENOMEM;
    what.end = s->text.len;
    s->parts[s->nparts++] = what;
    return 0;
}

int tokfs_tokpool_add(tokfs_tokpool *p, const uint8_t *doc, size_t len)
{
    return tokfs_tokpool_add_text(p, doc, len, 1);
}

int tokfs_tokpool_add_text(tokfs_tokpool *p, const uint8_t *doc, size_t len, int last)
{
    if (!len && !last)
        return 0; /* nothing to encode, and no end-of-text to place */
    /* A document longer than a batch is cut where the tokenizer allows, into parts of about a
     * batch, so that it is encoded on all threads instead of holding up the others on one. */
    size_t start = 0;
    while (p->tok->cut && len - start > TOKFS_TOKPOOL_BATCH + TOKFS_TOKPOOL_BATCH / 2) {
        size_t cut = p->tok->cut(p->tok, doc, len, start + TOKFS_TOKPOOL_BATCH);
        if (cut >= len)
            break;
        int rc = add_part(p, doc + start, cut - start, (part){.eot = 0});
        if (rc)
            return rc;
        start = cut;
    }
    return add_part(p, doc + start, len - start, (part){.eot = (uint8_t)(last != 0)});
}

int tokfs_tokpool_add_record(tokfs_tokpool *p, const uint8_t *rec, size_t len, int64_t tag,
                             const void *tag_ptr)
{
    if (!p->records.decode || !p->records.done)
        return -EINVAL;
    return add_part(p, rec, len, (part){.eot = 1, .record = 1, .tag = tag, .tag_ptr = tag_ptr});
}

int tokfs_tokpool_finish(tokfs_tokpool *p)
{
    pthread_mutex_lock(&p->mu);
    int rc = submit_tail(p);
    while (p->head < p->tail) {
        int r = drain_oldest(p);
        if (!rc)
            rc = r;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void tokfs_tokpool_free(tokfs_tokpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    /* slots still READY are left to the threads, which finish what they hold and exit */
    for (unsigned k = 0; k < p->nslots && p->slots; k++)
        if (p->slots[k].state == SLOT_READY)
            p->slots[k].state = SLOT_EMPTY;
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    for (unsigned k = 0; k < p->nslots && p->slots; k++) {
        tokfs_buf_free(&p->slots[k].text);
        free(p->slots[k].parts);
        tokfs_ids_free(&p->slots[k].ids);
    }
    free(p->slots);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}
