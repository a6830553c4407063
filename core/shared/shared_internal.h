/* tokfs — inside core/shared: the shard set handle and the file helpers set.c and publish.c
 * share. */
#ifndef TOKFS_SHARED_INTERNAL_H
#define TOKFS_SHARED_INTERNAL_H

#include <limits.h>
#include <stdarg.h>

#include "common/log.h"
#include "shared/shared.h"

struct tokfs_shard_set {
    const tokfs_config *cfg;
    const tokfs_tokenizer *tok;
    tokfs_layout layout;
    const tokfs_plan *plan;     /* the plan DEST holds (tokfs_shard_set_open's *plan) */
    char dest[PATH_MAX - 64];   /* room left for "/records/NNNNNN.json" and the like */
};

/* DEST/<printf fmt> into out. 0 or -ENAMETOOLONG. */
int shared_path(const tokfs_shard_set *s, char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* fsync fd (the complete file tmp) and rename tmp to final: published. 0 or a negative errno. */
int shared_publish_file(const char *tmp, const char *final, int fd, tokfs_err *err);

/* Write text to final through a temp file in DEST/tmp: renamed over final, or, when exclusive,
 * linked to final only if final does not exist yet (the first writer wins). */
int shared_write_text(const tokfs_shard_set *s, const char *final, const char *text,
                      int exclusive, tokfs_err *err);

/* Shard i's record in records/: 0, -ENOENT (none), or -EIO (unreadable or inconsistent: logged,
 * to be ignored like none). Writing one: temp + rename. */
int shared_record_read(const tokfs_shard_set *s, uint32_t i, tokfs_set_record *r);
int shared_record_write(const tokfs_shard_set *s, uint32_t i, const tokfs_set_record *r,
                        tokfs_err *err);

/* set.json: read (-ENOENT when absent), the description of cfg's set, and their comparison (a
 * message saying what differs: plan, tokenizer or layout; where names the DEST). */
int tokfs_set_info_read(const char *path, tokfs_set_info *info, tokfs_err *err);
void tokfs_set_info_of(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                       const tokfs_layout *layout, const tokfs_plan *plan, tokfs_set_info *info);
int tokfs_set_info_compare(const tokfs_set_info *want, const tokfs_set_info *have,
                           const char *where, tokfs_err *err);

#endif
