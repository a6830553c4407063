/* tokfs — inside core/build: what the pieces of a shard build share, and the two interfaces they
 * meet at.
 *
 *   driver (shard_build.c)   walks the piece's sources, hands each to the reader of its format
 *   readers (reader_*.c)     a source's bytes → documents (and skipped records), each format with
 *                            its own state behind tokfs_build_reader
 *   tokfs_builder            what readers share: the document sink into the tokenizing pool, skip
 *                            accounting (first_skip in plan order), stats, scratch buffers, and
 *                            the build's one error
 *   feed (feed.c)            the readers' documents and records → the pool, on a feeder thread,
 *                            through a bounded queue: reading overlaps tokenizing and writing
 *   writer (writer.c)        the pool's ids → the shard file: a tokfs_build_format turns ids into
 *                            bytes, the writer owns buffering, checksum, budget and cancel
 *
 * Errors, one way: every function here returns 0 or the build's error, a negative errno. The
 * failure is recorded where it is first seen, with its message, by tokfs_builder_fail; whatever
 * comes back up afterwards (the same failure returned through the fetcher, a decoder or the pool,
 * or a consequence of it) does not replace it. No other error state exists.
 *
 * Threads: the readers run on the build's thread; the pool's sink (the writer) and its records'
 * done callbacks run on the feed's thread. What both touch — the error, the document and skip
 * counts, first_skip — goes through tokfs_builder_fail, tokfs_builder_count_documents and
 * tokfs_builder_note_skips, which hold the builder's lock. */
#ifndef TOKFS_BUILD_INTERNAL_H
#define TOKFS_BUILD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "build/out_format.h"
#include "build/shard_build.h"
#include "common/buf.h"
#include "common/hash.h"
#include "tokenize/tokpool.h"

/* Buffers grown for one large record or document are given back above this. */
#define TOKFS_BUILD_KEEP_BYTES (4u << 20)

/* Past a cut, the record in progress is finished by fetching this much past the cut first, then
 * windows growing from TOKFS_BUILD_LOOKAHEAD_GROW, doubling (plain and compressed JSONL). */
#define TOKFS_BUILD_LOOKAHEAD_BYTES (64u << 10)
#define TOKFS_BUILD_LOOKAHEAD_GROW (1u << 20)

/* ---- the feed (feed.c) --------------------------------------------------------------------- */

/* Items are packed into chunks of this size (an item larger gets a chunk of its own); at most
 * TOKFS_FEED_QUEUE_BYTES of published chunks wait for the feeder (one chunk always passes an
 * empty queue); up to TOKFS_FEED_FREE_CHUNKS spent chunks are kept for reuse, and
 * TOKFS_FEED_BIG_SPARES larger ones (a long document's) until the build ends. */
#define TOKFS_FEED_CHUNK_BYTES TOKFS_TOKPOOL_BATCH
#define TOKFS_FEED_QUEUE_BYTES (4 * TOKFS_FEED_CHUNK_BYTES)
#define TOKFS_FEED_FREE_CHUNKS 6
#define TOKFS_FEED_BIG_SPARES 2

typedef struct tokfs_build_feed tokfs_build_feed;

/* Start the feeder thread, which adds what is pushed to pool (and so runs its sink and its
 * records' done callbacks). 0, -ENOMEM or -EAGAIN. */
int tokfs_build_feed_start(tokfs_tokpool *pool, tokfs_build_feed **out);
/* Push a record (tokfs_tokpool_add_record) or text of a document (tokfs_tokpool_add_text),
 * copied. May wait while the queue is full. 0, -ENOMEM, or the feeder's error (the pool's or
 * the sink's, already recorded by whoever saw it first). */
int tokfs_build_feed_record(tokfs_build_feed *f, const uint8_t *rec, size_t len, int64_t tag,
                            const void *tag_ptr);
int tokfs_build_feed_text(tokfs_build_feed *f, const uint8_t *text, size_t len, int last);
/* The same without the copy, for text made in place (a long JSON line's decoded member): room
 * for up to max_len bytes (NULL with *rc set: -ENOMEM or the feeder's error); then commit the
 * first len of them — or push nothing else before dropping the room unused. */
uint8_t *tokfs_build_feed_text_room(tokfs_build_feed *f, size_t max_len, int *rc);
int tokfs_build_feed_text_commit(tokfs_build_feed *f, size_t len, int last);
/* Everything is pushed: wait until the feeder has added it and finished the pool (every id
 * given to the sink). 0 or the first error of either side. */
int tokfs_build_feed_finish(tokfs_build_feed *f);
/* The reader failed: the feeder stops at the next item, without finishing the pool. */
void tokfs_build_feed_stop(tokfs_build_feed *f);
/* Stop (if running), join and free. NULL is fine. */
void tokfs_build_feed_free(tokfs_build_feed *f);

/* ---- what readers share -------------------------------------------------------------------- */

typedef struct tokfs_builder {
    const tokfs_config *cfg;
    const tokfs_tokenizer *tok;   /* its cut places decide where a .txt read whole is cut */
    int *starts_document;         /* the writer's (tokfs_build_writer.starts_document): set to 0
                                   * before any id when the piece begins inside a document */
    tokfs_fetcher *fetcher;
    tokfs_tokpool *pool;          /* every document is encoded there, on cfg->workers threads */
    tokfs_build_feed *feed;       /* ... reached through the feed: readers push, never add */
    tokfs_build_stats *stats;
    const atomic_int *cancel;     /* the output's cancel flag (may be NULL) */

    /* The build's one error: 0, or the first failure's negative errno; its message in *err.
     * Set under mu (tokfs_builder_fail); atomic so either thread may look at it. */
    atomic_int rc;
    tokfs_err *err;
    pthread_mutex_t mu;           /* rc and err, stats->documents and the skip accounting */

    /* Scratch shared by the readers, so that a piece mixing formats holds one of each, as the
     * memory bound counts them (design.md, "Memory"). Each is empty between records. */
    tokfs_buf line;               /* JSONL: the line being gathered (at most max_doc_bytes;
                                   * kept grown until the build ends) */
    tokfs_buf doc;                /* a document gathered or decoded whole: a .txt line or
                                   * paragraph, the text of a JSON line too long for the pool to
                                   * decode; or the part of a .txt read whole not yet handed on */

    /* Where stats->first_skip is (NULL: no skip yet), to keep the first in plan order. */
    const tokfs_source *first_skip_src;
    int64_t first_skip_offset;
} tokfs_builder;

/* Record the build's error (rc < 0) unless one is recorded already; the message is printf-style
 * ("" or a message that is only "%s" of "": strerror of rc; -ENOMEM always gets "out of memory
 * while building shard"). Returns the build's error (the first one). */
int tokfs_builder_fail(tokfs_builder *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* -ECANCELED (recorded) once the output's cancel flag is set, else 0. Readers ask per chunk. */
int tokfs_builder_cancelled(tokfs_builder *b);

/* tokfs_fetch_range of src's bytes [begin, end) (end -1: to the end) into cb, counting
 * stats->fetched_bytes. A failure of the fetch itself becomes the build's error with the
 * fetcher's message ("source changed upstream", HTTP status...); when cb failed, its recorded
 * error stands. Returns 0 (all delivered, or cb stopped with 1) or the build's error. */
int tokfs_builder_fetch(tokfs_builder *b, const tokfs_source *src, int64_t begin, int64_t end,
                        tokfs_fetch_cb cb, void *ctx);

/* One document (copied) into the pool; counted. 0 or the build's error. */
int tokfs_builder_document(tokfs_builder *b, const uint8_t *doc, size_t len);

/* Text (copied) continuing the document in progress, ending it when last is 1
 * (tokfs_tokpool_add_text through the feed); a record (copied) decoded on a pool thread
 * (tokfs_tokpool_add_record). 0 or the build's error. */
int tokfs_builder_text(tokfs_builder *b, const uint8_t *text, size_t len, int last);
int tokfs_builder_record(tokfs_builder *b, const uint8_t *rec, size_t len, int64_t tag,
                         const void *tag_ptr);

/* The same for a document decoded in place: room for up to max_len bytes (NULL: the build's
 * error in *rc), then the document is its first len bytes (counted). */
uint8_t *tokfs_builder_document_room(tokfs_builder *b, size_t max_len, int *rc);
int tokfs_builder_document_commit(tokfs_builder *b, size_t len);

/* stats->documents += n, from either thread. */
void tokfs_builder_count_documents(tokfs_builder *b, uint64_t n);

/* `count` records of src skipped at offset (a byte offset; decompressed for compressed sources;
 * a row group for Parquet), `why` naming the reason. Counted; the message of the first in plan
 * order (source, then offset) is kept in stats->first_skip, whatever order the calls come in
 * (records decoded on pool threads are noted when their batch is written). */
void tokfs_builder_note_skips(tokfs_builder *b, uint64_t count, const char *why,
                              const tokfs_source *src, int64_t offset);

/* ---- readers ------------------------------------------------------------------------------- */

/* The reader of one source format, made once per build when the piece first has a source of
 * that format, and kept for its other sources (their state is the reader's own). */
typedef struct tokfs_build_reader tokfs_build_reader;
struct tokfs_build_reader {
    const char *name;
    /* Hand the documents of src that belong to the piece to the builder: those starting in
     * [begin, end), in the units the plan cuts this format in (bytes; compressed offsets of frame
     * starts for a seekable .jsonl.zst; row groups for Parquet), end -1 meaning the source's end.
     * 0 or the build's error. */
    int (*read)(tokfs_build_reader *r, const tokfs_source *src, int64_t begin, int64_t end);
    void (*free)(tokfs_build_reader *r);
};

/* Readers of plain JSONL (byte ranges), plain .txt (byte ranges), compressed sources (the
 * decoding layer in front of the JSONL and .txt record logic) and Parquet. 0 or the build's
 * error (-ENOMEM, or for Parquet a filter= that does not parse). */
int tokfs_reader_jsonl_new(tokfs_builder *b, tokfs_build_reader **out);
int tokfs_reader_txt_new(tokfs_builder *b, tokfs_build_reader **out);
int tokfs_reader_compressed_new(tokfs_builder *b, tokfs_build_reader **out);
int tokfs_reader_parquet_new(tokfs_builder *b, tokfs_build_reader **out);

/* ---- record logic shared by a plain reader and the decoding layer -------------------------- */

/* JSONL records in a stream of bytes (reader_jsonl.c): the lines that start in the piece's range
 * go to the pool, the others are skipped over. Offsets are the stream's (decompressed ones for a
 * compressed source). */
typedef struct tokfs_build_lines {
    tokfs_builder *b;
    const tokfs_source *src;
    int64_t pos;          /* offset of the next byte fed */
    int64_t line_start;   /* offset where the current line starts */
    int64_t seg_end;      /* records starting at or after this belong to the next piece (-1:
                           * none do) */
    int skipping_head;    /* discarding up to the first newline (the stream starts inside the
                           * record before the piece's) */
    int done;             /* the first record at or after seg_end has been reached */
    int oversize;         /* the current line passed max_doc_bytes: skipped to its end */
} tokfs_build_lines;

/* Start reading src's lines: the next byte fed is at offset pos; with skip_head, everything up to
 * the first newline belongs to the record before the piece. */
void tokfs_build_lines_start(tokfs_build_lines *l, tokfs_builder *b, const tokfs_source *src,
                             int64_t pos, int64_t seg_end, int skip_head);
/* The next bytes (a tokfs_fetch_cb): 0, 1 once the next record belongs to the next piece, or
 * the build's error. */
int tokfs_build_lines_feed(void *lines, const uint8_t *data, size_t len);
/* The piece ends here, at offset pos (not known at the start: a compressed frame boundary).
 * 1 when no record of the piece is left to finish, else 0. */
int tokfs_build_lines_cut(tokfs_build_lines *l);
/* The stream ended: a last line without a newline is still a record. 0 or the build's error. */
int tokfs_build_lines_finish(tokfs_build_lines *l);

/* The pool's half of JSONL: lines of at most a batch are handed over as records and decoded on
 * the pool threads; this is how (decode) and what becomes of each (done, in line order). */
tokfs_tokpool_records tokfs_build_jsonl_records(tokfs_builder *b);

/* .txt documents in a stream of bytes (reader_txt.c), by cfg->txt_doc. Offsets are the stream's
 * (decompressed ones for a compressed source).
 *   file: the bytes fed are one span of the file's one document. They are gathered in b->doc and
 *         handed to the pool in parts of about a batch, each ending where the tokenizer can cut,
 *         so memory stays a few batches; the end-of-text id follows the span that ends the file.
 *   line, paragraph: the documents (non-blank lines; runs of non-blank lines) starting before
 *         seg_end go to the pool, as JSONL records do; a document over max_doc_bytes is skipped
 *         and counted. A document's bytes exclude the newline that ends it (and a \r before it). */
typedef struct tokfs_build_txt {
    tokfs_builder *b;
    const tokfs_source *src;
    int mode;             /* TOKFS_TXT_DOC_* */
    int64_t pos;          /* offset of the next byte fed */
    /* file */
    int ends_file;        /* the span ends where the file does: end-of-text after it */
    size_t searched;      /* b->doc has no cut place in [TOKFS_TOKPOOL_BATCH, searched) */
    int forced;           /* parts were cut where the tokenizer has no cut place (logged once) */
    /* line, paragraph */
    int64_t seg_end;      /* documents starting at or after this belong to the next piece (-1:
                           * none do) */
    int skipping_head;    /* discarding up to the first newline (the stream starts inside the
                           * line before the piece's) */
    int head_ws;          /* the discarded head is whitespace only so far */
    int head_blank;       /* paragraph: the line the head ends is blank if its discarded part
                           * is (what came before the stream: tokfs_build_txt_start) */
    int prev_blank;       /* paragraph: the line before the current one is blank, or none */
    int64_t line_start;   /* offset where the current line starts */
    int line_ws;          /* the current line is whitespace only so far */
    int line_keep;        /* the current line's bytes go to b->doc */
    size_t line_mark;     /* b->doc's length where the current line's bytes start */
    int in_doc;           /* a document is in b->doc (a paragraph: its lines so far) */
    int64_t doc_start;    /* where it starts */
    int oversize;         /* it passed max_doc_bytes: skipped at its end */
    int line_over;        /* ... and the current line is where it did */
    int done;             /* the first document at or after seg_end has been reached */
} tokfs_build_txt;

/* Start at offset pos. file: ends_file says whether the span ends the document. line and
 * paragraph: skip_head discards up to the first newline; head_blank says whether the bytes of
 * that line before pos are whitespace only (or there are none); seg_end as above. */
void tokfs_build_txt_start(tokfs_build_txt *t, tokfs_builder *b, const tokfs_source *src,
                           int64_t pos, int ends_file, int64_t seg_end, int skip_head,
                           int head_blank);
/* The next bytes (a tokfs_fetch_cb): 0, 1 once the next document belongs to the next piece, or
 * the build's error. */
int tokfs_build_txt_feed(void *txt, const uint8_t *data, size_t len);
/* The stream ended (or the span was fed whole): what is left goes to the pool. 0 or the build's
 * error. */
int tokfs_build_txt_finish(tokfs_build_txt *t);

/* ---- the shard writer ---------------------------------------------------------------------- */

typedef struct tokfs_build_writer tokfs_build_writer;

/* How ids become bytes: little-endian ids of the layout's width, encoded into the writer's
 * block through tokfs_build_writer_room / _advance. 0 or the build's error. */
typedef struct tokfs_build_format {
    const char *name;
    int (*put)(const struct tokfs_build_format *f, tokfs_build_writer *w, const uint32_t *ids,
               size_t n);
} tokfs_build_format;

/* Raw little-endian ids, id_bytes (2 or 4) each. */
const tokfs_build_format *tokfs_build_format_ids(unsigned id_bytes);

/* Bytes go to the output fd in blocks of TOKFS_BUILD_WRITE_BLOCK: before each write the budget
 * for the file's new size is reserved (out->reserve) and the cancel flag checked; the checksum
 * (tokfs_hash64, seed 0) covers every byte written after the layout's header (the header is a
 * function of the id count, written last at offset 0 over a hole the writer skips).
 *
 * The pool hands over ids with the end-of-text id after every document (the append stream);
 * the writer places it as the layout says (out_format.h): prepend rotates the stream by one id
 * (the first document gets one in front, the last one's is dropped), none drops it. Where a
 * document ends is also where the megatron index puts a sequence boundary. */
/* 256 KiB: each write completes one of the cache's chunks (TOKFS_CACHE_CHUNK_BYTES), so a read of
 * a shard being re-made waits for little more than its own bytes. */
#define TOKFS_BUILD_WRITE_BLOCK (256u << 10)

struct tokfs_build_writer {
    tokfs_builder *b;
    const tokfs_build_output *out;
    const tokfs_build_format *format;
    tokfs_layout layout;
    tokfs_buf block;              /* bytes not yet written (cap TOKFS_BUILD_WRITE_BLOCK) */
    uint64_t written;             /* bytes of the file so far (header hole included) */
    uint64_t reserved;            /* the file size the budget was last reserved for */
    uint64_t ids;                 /* ids put into the file (after placing separators) */
    tokfs_hash hash;              /* of the bytes written after the header */
    /* 1 (the default): the piece begins with a document, so prepend puts an end-of-text id
     * before its first id; a piece that begins inside a document continued from the previous
     * piece sets it to 0 before the first id. */
    int starts_document;
    int held;                     /* prepend: one id held back (the stream's last so far) */
    uint32_t held_id;
    /* megatron: the length of every sequence ended so far, and where the current one began
     * (an index into the file's ids). */
    uint32_t *seq_lens;
    size_t nseq, seq_cap;
    uint64_t seq_start;
};

/* 0 or the build's error (-ENOMEM, or -errno when the header's hole cannot be skipped). */
int tokfs_build_writer_open(tokfs_build_writer *w, tokfs_builder *b,
                            const tokfs_build_output *out, const tokfs_layout *layout);
/* Where the pool's ids go: separators placed, then the format's put. */
tokfs_id_sink tokfs_build_writer_sink(tokfs_build_writer *w);
/* At least min (<= TOKFS_BUILD_WRITE_BLOCK) bytes of room at the block's end, writing the block
 * first when it has less; *room says how much there is. NULL on failure (the build's error). */
uint8_t *tokfs_build_writer_room(tokfs_build_writer *w, size_t min, size_t *room);
/* n bytes at the block's end (given by _room) are now part of the output. */
static inline void tokfs_build_writer_advance(tokfs_build_writer *w, size_t n)
{
    w->block.len += n;
}
/* Token sources: ids put into the file exactly as given — no end-of-text id placed, moved or
 * dropped (the source's own are kept where they are); megatron still notes sequence boundaries
 * at end-of-text ids, after them (append) or before them (prepend). 0 or the build's error. */
int tokfs_build_writer_put_verbatim(tokfs_build_writer *w, const uint32_t *ids, size_t n);
/* Write what is in the block. 0 or the build's error. */
int tokfs_build_writer_flush(tokfs_build_writer *w);
/* All ids are in: the last separator placed, the megatron .idx appended, everything written and
 * the header filled in. The file is then exactly the layout's bytes. 0 or the build's error. */
int tokfs_build_writer_finish(tokfs_build_writer *w);
/* The checksum of everything written after the header. */
uint64_t tokfs_build_writer_checksum(const tokfs_build_writer *w);
void tokfs_build_writer_free(tokfs_build_writer *w);

/* ---- pre-tokenized sources ----------------------------------------------------------------- */

/* Pre-tokenized sources (reader_tokens.c; docs/pretokenized.md): the ids of every source of the
 * piece between its id indexes go to the writer verbatim (tokfs_build_writer_put_verbatim),
 * each checked to be below bound; an id that is not fails the build with -EIO, naming the source
 * and its offset. No pool is involved. 0 or the build's error. */
int tokfs_build_tokens(tokfs_builder *b, tokfs_build_writer *w, const tokfs_plan *plan,
                       const tokfs_piece *piece, uint32_t bound);

#endif
