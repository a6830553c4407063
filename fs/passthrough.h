/* tokfs — FUSE passthrough on libfuse 3.14 (option passthrough=auto|0|1, auto by default;
 * docs/performance.md, "Warm path").
 *
 * Kernel ≥ 6.9 can hand the reads and mmap of a FUSE file to a backing file the daemon
 * registered, so a cached shard reads as fast as the cache file itself (ext4's page cache, large
 * folios, one copy of the bytes in memory). libfuse 3.14 neither negotiates FUSE_PASSTHROUGH nor
 * fills the backing id of an OPEN reply, so this module does it on the wire: it installs
 * fuse_session_custom_io() hooks that are plain syscalls on the session's /dev/fuse fd, looks at
 * the kernel's INIT request as it is read, and patches two replies as they are written — INIT
 * (flags2 bit FUSE_PASSTHROUGH, max_stack_depth) and the OPEN of a shard served by passthrough
 * (FOPEN_PASSTHROUGH and the backing id).
 *
 * The kernel allows one open mode per inode at a time (fs/fuse/iomode.c): every passthrough open
 * of an inode must name the same backing, and passthrough and cached (page-cache) opens of one
 * inode must not overlap. The daemon counts the live opens of each shard by mode and picks the
 * mode of a new open from those counts; RELEASE decrements them (it arrives after the kernel has
 * already dropped its own count, so the daemon's counts are never below the kernel's and the
 * mode it picks is always one the kernel accepts). */
#ifndef TOKFS_PASSTHROUGH_H
#define TOKFS_PASSTHROUGH_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdint.h>

#include "cache/cache.h"

typedef struct tokfs_pt tokfs_pt;

/* State for a mount with passthrough=auto or 1, with one slot per shard of the plan. stacked:
 * the cache dir lives on a stacking filesystem (overlayfs, ecryptfs) — decides max_stack_depth.
 * asked: passthrough=1 was given, so a mount that cannot have it says so as a warning (with
 * auto, the default, the same line is information: the mount works as with passthrough=0).
 * 0 or -ENOMEM. */
int tokfs_pt_create(tokfs_cache *cache, int stacked, int asked, tokfs_pt **out);
/* Once the session loop has ended, before the cache closes: give back the cache references
 * that passthrough opens pinned (the kernel holds its own on the backing files). The I/O hooks
 * still run (the cache's workers answer parked READs until it closes): pt stays. */
void tokfs_pt_release_pins(tokfs_pt *pt);
/* After the session is destroyed (no hook can run any more): release what is left and free. */
void tokfs_pt_destroy(tokfs_pt *pt);

/* 1 when the filesystem at path is a stacking one (its files' superblocks have a stack depth
 * of 1 or more), else 0; 0 too when it cannot be asked. */
int tokfs_pt_path_is_stacked(const char *path);

/* Install the I/O hooks on the mounted session (after fuse_session_mount, before the loop).
 * 0 or a negative errno (then the session is unchanged and works as without passthrough). */
int tokfs_pt_install(tokfs_pt *pt, struct fuse_session *se);

/* Called from the filesystem's init handler (the INIT request has been read, its reply not yet
 * written): 1 if the reply will turn passthrough on, else 0 after one log line saying why
 * (kernel does not offer it, no CAP_SYS_ADMIN). pt may be NULL (option off): 0, no log. */
int tokfs_pt_negotiate(tokfs_pt *pt);

/* 1 once the INIT reply carrying FUSE_PASSTHROUGH was written: every open then reaches the
 * daemon and must be answered through tokfs_pt_open. */
int tokfs_pt_active(const tokfs_pt *pt);

/* Answer the OPEN of shard `index`'s data file (part 0, the cache file itself: not megatron):
 * passthrough when the shard is cached and no cached-mode open of it is live, else a cached-mode
 * open with keep_cache. A passthrough open counts as a read of the shard (LRU, hits, prefetch:
 * its reads will not reach the daemon); a cached-mode one is counted by its READs. A shard not
 * cached yet starts being made. Sets fi->fh to what op_release hands back to tokfs_pt_release. */
void tokfs_pt_open(tokfs_pt *pt, fuse_req_t req, uint32_t index, struct fuse_file_info *fi);

/* A RELEASE: the last passthrough open of a shard closes its backing id and gives back its
 * cache reference (the shard may be evicted again). Files not opened by tokfs_pt_open (fh 0)
 * are ignored. */
void tokfs_pt_release(tokfs_pt *pt, uint32_t index, const struct fuse_file_info *fi);

/* Counters for tests and status: opens answered in each mode, backing ids registered. */
void tokfs_pt_counts(tokfs_pt *pt, uint64_t *pt_opens, uint64_t *cached_opens,
                     uint64_t *backings);

#endif
