/* The shard build's driver and what its readers share: walks one piece's sources and hands each
 * to the reader of its format (reader_*.c), with the tokenizing pool between the readers and the
 * shard writer (writer.c). Owns the builder (build_internal.h): the document sink into the pool,
 * skip accounting, stats, the readers' shared scratch and the build's one error. */
#include "build/shard_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build/build_internal.h"

/* ---- the builder --------------------------------------------------------------------------- */

int tokfs_builder_fail(tokfs_builder *b, int rc, const char *fmt, ...)
{
    pthread_mutex_lock(&b->mu);
    int first = atomic_load(&b->rc);
    if (first) {
        pthread_mutex_unlock(&b->mu);
        return first;
    }
    if (rc == -ENOMEM) {
        tokfs_err_set(b->err, ENOMEM, "out of memory while building shard");
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err->msg, sizeof b->err->msg, fmt, ap);
        va_end(ap);
        if (!b->err->msg[0])
            snprintf(b->err->msg, sizeof b->err->msg, "%s", strerror(-rc));
    }
    atomic_store(&b->rc, rc); /* after the message: who sees rc sees the message */
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int tokfs_builder_cancelled(tokfs_builder *b)
{
    if (b->cancel && atomic_load_explicit(b->cancel, memory_order_relaxed))
        return tokfs_builder_fail(b, -ECANCELED, "shard build cancelled");
    return 0;
}

int tokfs_builder_fetch(tokfs_builder *b, const tokfs_source *src, int64_t begin, int64_t end,
                        tokfs_fetch_cb cb, void *ctx)
{
    /* The fetcher's message, when the failure is its own (when cb failed, the fetcher only says
     * that its consumer stopped, and the build's error is already cb's). */
    tokfs_err fetch_err = {""};
    int rc = tokfs_fetch_range(b->fetcher, src->url, &src->info, begin, end, cb, ctx,
                               &b->stats->fetched_bytes, &fetch_err);
    return rc < 0 ? tokfs_builder_fail(b, rc, "%s", fetch_err.msg) : 0;
}

void tokfs_builder_count_documents(tokfs_builder *b, uint64_t n)
{
    pthread_mutex_lock(&b->mu);
    b->stats->documents += n;
    pthread_mutex_unlock(&b->mu);
}

int tokfs_builder_text(tokfs_builder *b, const uint8_t *text, size_t len, int last)
{
    int rc = tokfs_build_feed_text(b->feed, text, len, last);
    return rc ? tokfs_builder_fail(b, rc, "cannot tokenize: %s", strerror(-rc)) : 0;
}

int tokfs_builder_record(tokfs_builder *b, const uint8_t *rec, size_t len, int64_t tag,
                         const void *tag_ptr)
{
    int rc = tokfs_build_feed_record(b->feed, rec, len, tag, tag_ptr);
    return rc ? tokfs_builder_fail(b, rc, "cannot tokenize: %s", strerror(-rc)) : 0;
}

uint8_t *tokfs_builder_document_room(tokfs_builder *b, size_t max_len, int *rc)
{
    uint8_t *p = tokfs_build_feed_text_room(b->feed, max_len, rc);
    if (!p)
        *rc = tokfs_builder_fail(b, *rc, "cannot tokenize: %s", strerror(-*rc));
    return p;
}

int tokfs_builder_document_commit(tokfs_builder *b, size_t len)
{
    tokfs_builder_count_documents(b, 1);
    int rc = tokfs_build_feed_text_commit(b->feed, len, 1);
    return rc ? tokfs_builder_fail(b, rc, "cannot tokenize: %s", strerror(-rc)) : 0;
}

int tokfs_builder_document(tokfs_builder *b, const uint8_t *doc, size_t len)
{
    tokfs_builder_count_documents(b, 1);
    return tokfs_builder_text(b, doc, len, 1);
}

void tokfs_builder_note_skips(tokfs_builder *b, uint64_t count, const char *why,
                              const tokfs_source *src, int64_t offset)
{
    if (!count)
        return;
    pthread_mutex_lock(&b->mu);
    b->stats->skipped_records += count;
    if (b->first_skip_src && (src > b->first_skip_src ||
                              (src == b->first_skip_src && offset >= b->first_skip_offset))) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    b->first_skip_src = src;
    b->first_skip_offset = offset;
    char redacted[512];
    tokfs_url_redact(src->url, redacted, sizeof redacted);
    if (tokfs_format_kind(src->format) == TOKFS_FORMAT_PARQUET)
        snprintf(b->stats->first_skip, sizeof b->stats->first_skip, "%s (%s, row group %lld)",
                 why, redacted, (long long)offset);
    else
        snprintf(b->stats->first_skip, sizeof b->stats->first_skip, "%s (%s at %sbyte %lld)",
                 why, redacted, tokfs_format_codec(src->format) ? "decompressed " : "",
                 (long long)offset);
    pthread_mutex_unlock(&b->mu);
}

/* ---- early writeback ------------------------------------------------------------------------ */

/* The cache fsyncs a made shard before it names it (workers.c, build_one): the file's bytes are
 * on disk before the catalog's record and the name vouch for them after a crash. Left to the
 * end, that fsync writes the whole shard while nothing else happens (38 ms of a 0.5 s build of
 * 20 MB here). So writeback is started as the shard is written, every TOKFS_BUILD_KICK_BYTES,
 * on the thread that writes (the feeder), and the final fsync waits only for the tail. */
#define TOKFS_BUILD_KICK_BYTES (4u << 20)

typedef struct kick_sink {
    tokfs_id_sink inner;         /* the writer's */
    const tokfs_build_writer *w;
    int fd;
    uint64_t kicked;             /* writeback started for bytes below this */
} kick_sink;

static int kick_put(void *ctx, const uint32_t *ids, size_t n)
{
    kick_sink *k = ctx;
    int rc = k->inner.put(k->inner.ctx, ids, n);
    if (rc == 0 && k->w->written >= k->kicked + TOKFS_BUILD_KICK_BYTES) {
        /* A hint: an I/O error here shows again in the fsync, which fails the build. */
        (void)sync_file_range(k->fd, (off64_t)k->kicked, (off64_t)(k->w->written - k->kicked),
                              SYNC_FILE_RANGE_WRITE);
        k->kicked = k->w->written;
    }
    return rc;
}

/* ---- the driver ---------------------------------------------------------------------------- */

/* The readers, by the format they read; made when a piece first has a source of theirs. */
enum { READER_JSONL, READER_TXT, READER_COMPRESSED, READER_PARQUET, NREADERS };

static int (*const READER_NEW[NREADERS])(tokfs_builder *, tokfs_build_reader **) = {
    [READER_JSONL] = tokfs_reader_jsonl_new,
    [READER_TXT] = tokfs_reader_txt_new,
    [READER_COMPRESSED] = tokfs_reader_compressed_new,
    [READER_PARQUET] = tokfs_reader_parquet_new,
};

static int reader_of(const tokfs_source *src)
{
    if (tokfs_format_kind(src->format) == TOKFS_FORMAT_PARQUET)
        return READER_PARQUET;
    if (tokfs_format_codec(src->format))
        return READER_COMPRESSED;
    return src->format == TOKFS_FORMAT_JSONL ? READER_JSONL : READER_TXT;
}

int tokfs_build_shard(const tokfs_plan *plan, uint32_t piece_index, const tokfs_tokenizer *tok,
                      const tokfs_config *cfg, tokfs_fetcher *fetcher,
                      const tokfs_build_output *out, tokfs_build_stats *stats, tokfs_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (piece_index >= plan->npieces)
        return tokfs_err_set(err, EINVAL, "no piece %u in the plan", piece_index);
    const tokfs_piece *piece = &plan->pieces[piece_index];
    tokfs_err dropped; /* err may be NULL: the message is dropped */
    tokfs_builder b = {
        .cfg = cfg, .tok = tok, .fetcher = fetcher, .stats = stats, .cancel = out->cancel,
        .err = err ? err : &dropped,
    };
    pthread_mutex_init(&b.mu, NULL);
    tokfs_build_writer w = {0};
    tokfs_build_reader *readers[NREADERS] = {0};
    tokfs_layout layout; /* checked at mount: an error here is the options' own */
    int rc = tokfs_layout_resolve(cfg, tok, &layout, b.err);
    if (rc == 0)
        rc = tokfs_build_writer_open(&w, &b, out, &layout);
    b.starts_document = &w.starts_document;
    /* Every document goes through the pool (also tokenizer=bytes: one path, and its JSON
     * decoding runs on the threads too). */
    kick_sink kick = {tokfs_build_writer_sink(&w), &w, out->fd, 0};
    tokfs_id_sink sink = {kick_put, &kick};
    tokfs_tokpool_records records = tokfs_build_jsonl_records(&b);
    /* A token piece (plans never mix text and tokens): its ids go to the writer as they are. */
    int tokens = tokfs_format_is_tokens(plan->sources[piece->first_source].format);
    if (rc == 0 && tokens)
        rc = tokfs_build_tokens(&b, &w, plan, piece,
                                cfg->vocab_size ? cfg->vocab_size : tok->vocab_size);
    /* workers= shards are made at once, each on workers= threads, but never more threads per
     * shard than the machine has CPUs: workers=4 on 2 cores would run 16 tokenizing threads,
     * each with its batches in flight, for no more speed (docs/design.md, "Memory"). */
    unsigned threads = cfg->workers ? cfg->workers : 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu >= 1 && threads > (unsigned long)ncpu)
        threads = (unsigned)ncpu;
    if (rc == 0 && !tokens &&
        ((rc = tokfs_tokpool_start(tok, threads, &sink, &records, &b.pool)) ||
         (rc = tokfs_build_feed_start(b.pool, &b.feed))))
        rc = tokfs_builder_fail(&b, rc, "cannot start %u tokenizing threads: %s", threads,
                                strerror(-rc));
    for (uint32_t s = piece->first_source; rc == 0 && !tokens && s <= piece->last_source; s++) {
        const tokfs_source *src = &plan->sources[s];
        int64_t begin = s == piece->first_source ? piece->begin : 0;
        int64_t end = s == piece->last_source ? piece->end : -1;
        int k = reader_of(src);
        if (!readers[k] && (rc = READER_NEW[k](&b, &readers[k])))
            break;
        rc = readers[k]->read(readers[k], src, begin, end);
    }
    /* The feeder adds what is queued and finishes the pool (every id to the writer); on a
     * reader's failure it is stopped instead. Either way it is joined before the pool goes. */
    if (rc == 0 && !tokens && (rc = tokfs_build_feed_finish(b.feed)))
        rc = tokfs_builder_fail(&b, rc, "cannot tokenize: %s", strerror(-rc));
    tokfs_build_feed_free(b.feed);
    tokfs_tokpool_free(b.pool);
    if (rc == 0)
        rc = tokfs_build_writer_finish(&w);
    stats->tokens = w.ids;
    stats->checksum = tokfs_build_writer_checksum(&w);
    for (int k = 0; k < NREADERS; k++)
        if (readers[k])
            readers[k]->free(readers[k]);
    tokfs_build_writer_free(&w);
    tokfs_buf_free(&b.line);
    tokfs_buf_free(&b.doc);
    if (rc)
        rc = tokfs_builder_fail(&b, rc, "%s", strerror(-rc)); /* the first error */
    pthread_mutex_destroy(&b.mu);
    return rc;
}
