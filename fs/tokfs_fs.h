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
} tokfs_fs;

/* The low-level operations table. userdata passed to fuse_session_new is a tokfs_fs *. */
extern const struct fuse_lowlevel_ops tokfs_fs_ops;

#endif
