/* tokfs — tokenizing one shard on several threads, output in document order.
 *
 * The shard builder hands documents over one by one; they are packed into batches of about
 * TOKFS_TOKPOOL_BATCH bytes, the batches are encoded by `threads` threads, and the ids (each
 * document followed by the end-of-text id) come back to the builder's sink in the order the
 * documents were added. A document longer than 1.5 batches is cut into parts of about a batch
 * where the tokenizer allows (tokenizer->cut: the parts encode to the ids of the whole), so that
 * it is spread over the threads too; without such a place it stays one part. Memory is bounded:
 * a few batches in flight (a batch grows beyond the target only to hold one part larger than
 * it). */
#ifndef TOKFS_TOKPOOL_H
#define TOKFS_TOKPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize/tokenizer.h"

#define TOKFS_TOKPOOL_BATCH (1u << 18)

typedef struct tokfs_tokpool tokfs_tokpool;

/* Records: raw items that a pool thread turns into documents before encoding them (a JSONL
 * line into its text member), so that this decoding runs on all threads too. */
typedef struct tokfs_tokpool_records {
    /* On a pool thread: decode rec[0..len) into out (room for len bytes) and set *out_len;
     * return 0 for a document, or a positive reason (the caller's code) to skip the record.
     * Must be thread-safe: ctx is shared by the threads. */
    int (*decode)(const void *ctx, const uint8_t *rec, size_t len, uint8_t *out,
                  size_t *out_len);
    const void *decode_ctx;
    /* On the thread that calls add/finish, once per record in the order they were added, before
     * any later ids reach the sink: 0 (it was a document) or the skip reason, and the tag and
     * tag_ptr given to tokfs_tokpool_add_record. Returns 0, or an error that stops the pool. */
    int (*done)(void *ctx, int reason, int64_t tag, const void *tag_ptr);
    void *done_ctx;
} tokfs_tokpool_records;

/* Start `threads` encoding threads for tok (text-based tokenizers get UTF-8 repair first);
 * finished ids go to sink, always called from the thread that calls add/finish. records (NULL:
 * none) is needed only for tokfs_tokpool_add_record; it is copied. */
int tokfs_tokpool_start(const tokfs_tokenizer *tok, unsigned threads, const tokfs_id_sink *sink,
                        const tokfs_tokpool_records *records, tokfs_tokpool **out);

/* Add one document (copied). May block while every batch is in flight, and may call the sink
 * for finished batches. Returns 0 or the first error of an encode or of the sink. */
int tokfs_tokpool_add(tokfs_tokpool *p, const uint8_t *doc, size_t len);

/* Add text (copied) that continues the document in progress, cut from the rest of it where
 * tokenizer->cut allows (the caller's promise), ending it with the end-of-text id when last is
 * 1: one document given in parts, as a .txt that spans shards is. tokfs_tokpool_add is this with
 * the whole document and last = 1. */
int tokfs_tokpool_add_text(tokfs_tokpool *p, const uint8_t *text, size_t len, int last);

/* Add one record (copied), decoded on a pool thread by records->decode; tag and tag_ptr come
 * back with it in records->done. A record longer than a batch is better decoded by the caller
 * and added as a document: a document can be cut across threads, a record cannot. */
int tokfs_tokpool_add_record(tokfs_tokpool *p, const uint8_t *rec, size_t len, int64_t tag,
                             const void *tag_ptr);

/* Encode what is left and hand every id to the sink. 0 or the first error. */
int tokfs_tokpool_finish(tokfs_tokpool *p);

/* Stop the threads and free everything (after finish, or to abandon the work). */
void tokfs_tokpool_free(tokfs_tokpool *p);

#endif
