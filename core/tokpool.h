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

#include "tokenizer.h"

#define TOKFS_TOKPOOL_BATCH (1u << 18)

typedef struct tokfs_tokpool tokfs_tokpool;

/* Start `threads` encoding threads for tok (text-based tokenizers get UTF-8 repair first);
 * finished ids go to sink, always called from the thread that calls add/finish. */
int tokfs_tokpool_start(const tokfs_tokenizer *tok, unsigned threads, const tokfs_id_sink *sink,
                        tokfs_tokpool **out);

/* Add one document (copied). May block while every batch is in flight, and may call the sink
 * for finished batches. Returns 0 or the first error of an encode or of the sink. */
int tokfs_tokpool_add(tokfs_tokpool *p, const uint8_t *doc, size_t len);

/* Encode what is left and hand every id to the sink. 0 or the first error. */
int tokfs_tokpool_finish(tokfs_tokpool *p);

/* Stop the threads and free everything (after finish, or to abandon the work). */
void tokfs_tokpool_free(tokfs_tokpool *p);

#endif
