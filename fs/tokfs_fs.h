/* tokfs — the FUSE adapter: a fixed tree of inodes over the core cache. */
#ifndef TOKFS_FS_H
#define TOKFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "cache/cache.h"

typedef struct tokfs_fs {
    tokfs_cache *cache;
    uid_t uid;
    gid_t gid;
    struct timespec mtime; /* one stable time for every inode: content never changes */
    /* The tokenizer as a file at the mount root (tokfs_tokenizer.file_name), made at mount so
     * that a trainer can decode what it reads; NULL name: none. Never changes. */
    const char *tok_file_name;
    const uint8_t *tok_file;
    size_t tok_file_len;
} tokfs_fs;

/* The low-level operations table. userdata passed to fuse_session_new is a tokfs_fs *. */
extern const struct fuse_lowlevel_ops tokfs_fs_ops;

#endif
