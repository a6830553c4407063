/* tokfs — the FUSE adapter: a fixed tree of inodes over the core cache. */
#ifndef TOKFS_FS_H
#define TOKFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <pthread.h>

#include "cache/cache.h"
#include "passthrough.h"
#include "common/buf.h"
#include "tokenize/tokenizer.h"

/* One rendering of dataset_metadata.json or status.json, served under its own inode number
 * (tokfs_fs.c: "dynamic documents"). */
typedef struct tokfs_doc tokfs_doc;

typedef struct tokfs_fs {
    tokfs_cache *cache;
    uid_t uid;
    gid_t gid;
    struct timespec mtime; /* one stable time for every inode: content never changes */
    /* The tokenizer as a file at the mount root (tokfs_tokenizer.file_name; NULL: none), so that
     * a trainer can decode what it reads. Made on its first lookup, getattr or read, not at
     * mount: a tokenizer.json generated from ranks takes 0.2-1 s and 2-12 MB (o200k), which a
     * mount nobody asks it of should not pay. Never changes once made. */
    const char *tok_file_name;
    const tokfs_tokenizer *tok;
    pthread_mutex_t tok_file_lock; /* guards the three below */
    int tok_file_made;             /* 1 once file_bytes has run (tok_file_rc says how) */
    int tok_file_rc;
    tokfs_buf tok_file;
    /* Kernel read-ahead for the mount in KiB, written to the mount's bdi by main.c before the
     * session starts and announced as max_readahead in INIT (0: the kernel's default). */
    unsigned read_ahead_kb;
    /* Set at INIT: the kernel opens files without asking (FUSE_CAP_NO_OPEN_SUPPORT). Never
     * with passthrough: a backing file is named in an OPEN reply, so every open is asked. */
    int no_open;
    /* passthrough=auto or 1 (NULL: 0). Whether the kernel took it is tokfs_pt_active: then every open
     * reaches op_open, and shards' opens are answered by tokfs_pt_open (passthrough.h). */
    tokfs_pt *pt;
    /* The live renderings of the two JSON documents, each with the kernel's lookup count. */
    pthread_mutex_t docs_lock;
    tokfs_doc *docs;
    tokfs_doc *latest[2]; /* the newest of each kind, reused while its text stays the same */
    uint64_t doc_serial;
} tokfs_fs;

/* The low-level operations table. userdata passed to fuse_session_new is a tokfs_fs *. */
extern const struct fuse_lowlevel_ops tokfs_fs_ops;

#endif
