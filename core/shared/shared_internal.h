/* tokfs — inside core/shared: the shard set handle, where it lives (store.c: a directory or an
 * S3 prefix), and the helpers set.c, publish.c and attach.c share. */
#ifndef TOKFS_SHARED_INTERNAL_H
#define TOKFS_SHARED_INTERNAL_H

#include <limits.h>
#include <stdarg.h>

#include "common/log.h"
#include "shared/shared.h"
#include "source/fetch.h"

struct tokfs_shard_set {
    const tokfs_config *cfg;
    const tokfs_tokenizer *tok;
    tokfs_layout layout;
    const tokfs_plan *plan;     /* the plan DEST holds (tokfs_shard_set_open's *plan) */
    char dest[PATH_MAX - 64];   /* as given: a directory, or s3://BUCKET/PREFIX */
    int s3;                     /* DEST is an S3 prefix */
    char bucket[64];            /* s3: the bucket */
    char prefix[1024];          /* s3: the key prefix, "" or ending in '/' */
    char base_url[3200];        /* s3: the prefix's URL (bucket URL + '/' + quoted prefix) */
    tokfs_fetcher *own;         /* s3: for the calls made by the thread that opened the set
                                 * (open, attach, manifest, records); NULL for a directory */
};

/* ---- the store (store.c): objects named by their path in DEST ------------------------------ */

/* Parse dest into s (s->cfg set first): a directory or s3://BUCKET/PREFIX. */
int store_init(tokfs_shard_set *s, const char *dest, tokfs_err *err);
/* rel's name for messages: DEST/rel or s3://BUCKET/PREFIX/rel. */
int store_name(const tokfs_shard_set *s, const char *rel, char *out, size_t size);
/* rel's whole content, NUL-terminated (malloc'd): 0 or -ENOENT or another error with a message.
 * f: a fetcher of tokfs_shard_set_fetcher (NULL for a directory). */
int store_get_text(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, char **text,
                   size_t *len, tokfs_err *err);
/* Publish text as rel; exclusive: only if rel does not exist yet (the first writer wins; on S3
 * a look then a PUT, docs/shared.md says why that is enough). */
int store_put_text(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel,
                   const char *text, int exclusive, tokfs_err *err);
/* A temp file to build an object in (DEST/tmp for a directory, $TMPDIR for S3): its fd, its path
 * in tmp. Then store_commit publishes it as rel (fsync + rename; or PUT, and the temp file is
 * removed) and the caller closes fd; on failure the temp file is removed too. */
int store_stage(const tokfs_shard_set *s, const char *what, char *tmp, size_t size,
                tokfs_err *err);
int store_commit(const tokfs_shard_set *s, tokfs_fetcher *f, const char *tmp, int fd,
                 const char *rel, uint64_t size, tokfs_err *err);
/* S3 only: PUT size bytes of fd (from offset 0) as rel. */
int store_put_fd(const tokfs_shard_set *s, tokfs_fetcher *f, int fd, const char *rel,
                 uint64_t size, tokfs_err *err);
/* rel's size: 0, -ENOENT, or another negative errno. */
int store_size(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, uint64_t *size);
/* Stream rel's first size bytes (its whole size) into cb, in order. */
int store_read(const tokfs_shard_set *s, tokfs_fetcher *f, const char *rel, uint64_t size,
               tokfs_fetch_cb cb, void *ctx, tokfs_err *err);
/* fn(index) for every records/NNNNNN.json in DEST (any order). */
int store_list_records(const tokfs_shard_set *s, tokfs_fetcher *f,
                       int (*fn)(void *ctx, uint32_t index), void *ctx, tokfs_err *err);

/* ---- directory helpers (set.c) --------------------------------------------------------------- */

/* fsync fd (the complete file tmp) and rename tmp to final: published. 0 or a negative errno. */
int shared_publish_file(const char *tmp, const char *final, int fd, tokfs_err *err);

/* Write text to the file final through a temp file in DEST/tmp: renamed over final, or, when
 * exclusive, linked to final only if final does not exist yet (the first writer wins). */
int shared_write_text(const tokfs_shard_set *s, const char *final, const char *text,
                      int exclusive, tokfs_err *err);

/* ---- records (publish.c) ---------------------------------------------------------------------- */

/* Shard i's record: 0, -ENOENT (none), or -EIO (unreadable or inconsistent: logged, to be
 * ignored like none). Writing one publishes it (after the shard). */
int shared_record_read(const tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                       tokfs_set_record *r);
int shared_record_write(const tokfs_shard_set *s, tokfs_fetcher *f, uint32_t i,
                        const tokfs_set_record *r, tokfs_err *err);

/* ---- set.json (set.c) ------------------------------------------------------------------------ */

/* Parse set.json's text (-EIO with a message when it is not a version 1 description), the
 * description of cfg's set, and their comparison (a message saying what differs: plan,
 * tokenizer or layout; where names the DEST). */
int tokfs_set_info_parse(const char *text, size_t len, const char *where, tokfs_set_info *info,
                         tokfs_err *err);
void tokfs_set_info_of(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                       const tokfs_layout *layout, const tokfs_plan *plan, tokfs_set_info *info);
int tokfs_set_info_compare(const tokfs_set_info *want, const tokfs_set_info *have,
                           const char *where, tokfs_err *err);
/* DEST's set.json, read and parsed: 0, -ENOENT, or an error with a message. */
int shared_read_set_info(const tokfs_shard_set *s, tokfs_set_info *info, tokfs_err *err);

#endif
