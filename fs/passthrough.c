/* FUSE passthrough negotiated and used under libfuse 3.14 (passthrough.h). */
#include "passthrough.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"

/* ---- the kernel's side of /dev/fuse ------------------------------------------------------
 *
 * Spelled out here because the installed <linux/fuse.h> is protocol 7.38, which predates
 * passthrough (7.40): the bits and the fields below are the 7.40 ABI. The structures are not
 * libfuse's (it has no passthrough fields in 3.14) and the kernel reads them by offset. */

enum {
    PT_OP_INIT = 26,
    PT_INIT_EXT = 1u << 30,         /* fuse_init_{in,out}.flags: flags2 is meaningful */
    PT_FLAGS2_PASSTHROUGH = 1u << 5, /* FUSE_PASSTHROUGH = 1ULL << 37, in flags2 */
    PT_FOPEN_KEEP_CACHE = 1u << 1,
    PT_FOPEN_PASSTHROUGH = 1u << 7,
    PT_MAX_STACK_DEPTH = 2,          /* the kernel's FILESYSTEM_MAX_STACK_DEPTH */
};

struct pt_in_header {
    uint32_t len, opcode;
    uint64_t unique, nodeid;
    uint32_t uid, gid, pid;
    uint16_t total_extlen, padding;
};

struct pt_init_in {
    uint32_t major, minor, max_readahead, flags, flags2;
    uint32_t unused[11];
};

struct pt_out_header {
    uint32_t len;
    int32_t error;
    uint64_t unique;
};

struct pt_init_out {
    uint32_t major, minor, max_readahead, flags;
    uint16_t max_background, congestion_threshold;
    uint32_t max_write, time_gran;
    uint16_t max_pages, map_alignment;
    uint32_t flags2;
    uint32_t max_stack_depth; /* unused[0] in 7.38 */
    uint32_t unused[6];
};

struct pt_open_out {
    uint64_t fh;
    uint32_t open_flags;
    int32_t backing_id; /* padding in 7.38 */
};

struct pt_backing_map {
    int32_t fd;
    uint32_t flags;
    uint64_t padding;
};

_Static_assert(sizeof(struct pt_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct pt_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct pt_init_out) == 64, "fuse_init_out");
_Static_assert(offsetof(struct pt_init_out, flags2) == 32, "fuse_init_out.flags2");
_Static_assert(offsetof(struct pt_init_out, max_stack_depth) == 36, "max_stack_depth");
_Static_assert(sizeof(struct pt_open_out) == 16, "fuse_open_out");
_Static_assert(sizeof(struct pt_backing_map) == 16, "fuse_backing_map");

#define PT_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* What fi->fh says about an open tokfs_pt_open answered (0: an open it did not answer). */
enum { PT_FH_PASSTHROUGH = 1, PT_FH_CACHED = 2 };

/* Negotiation, in the order it happens. */
enum { NEG_NONE, NEG_WILL_PATCH, NEG_DONE };

/* One shard's live opens as the daemon counts them (see passthrough.h on why they may run
 * ahead of the kernel's, never behind). */
typedef struct pt_shard {
    uint32_t npt;         /* passthrough opens not yet released */
    uint32_t ncached;     /* cached-mode opens not yet released */
    int32_t backing_id;   /* with npt > 0: the id every passthrough open of it names */
    tokfs_backing *ref;   /* with npt > 0: the cache reference that pins the file */
} pt_shard;

struct tokfs_pt {
    tokfs_cache *cache;
    uint32_t max_stack_depth;
    int fd; /* the session's /dev/fuse descriptor, for the backing ioctls */

    /* Written by the first read (the INIT request), before any handler runs. */
    atomic_int init_seen;
    int offered;          /* the kernel's INIT flags2 has FUSE_PASSTHROUGH */
    uint64_t init_unique; /* the INIT request's id, to recognize its reply */
    atomic_int negotiation; /* NEG_* */
    atomic_int active;      /* the INIT reply with FUSE_PASSTHROUGH was written */
    atomic_int open_failure_logged;
    atomic_int stats_logged; /* the unmount's counts line was written */
    int refused; /* pt->lock: the kernel refused a backing file for a reason that holds for
                  * every shard (EPERM, ELOOP): later opens do not ask again */
    int asked; /* passthrough=1, not auto: a fallback is a warning */

    pthread_mutex_t lock; /* guards shards and the counters */
    pt_shard *shards;
    uint32_t nshards;
    uint64_t pt_opens, cached_opens, backings;
};

/* libfuse hands the hooks the session's userdata (the tokfs_fs), not ours: one mount per
 * process, so the hooks find their state here. Set once by tokfs_pt_install, before the session
 * reads its first request. */
static tokfs_pt *g_pt;

/* The backing id to put in the OPEN reply this thread is writing right now: set around
 * fuse_reply_open, which writes the reply synchronously from the calling thread (libfuse 3.14's
 * fuse_send_msg → io->writev), and consumed by the writev hook. */
static __thread int32_t tls_open_backing_id;

int tokfs_pt_create(tokfs_cache *cache, int stacked, int asked, tokfs_pt **out)
{
    tokfs_pt *pt = calloc(1, sizeof *pt);
    if (!pt)
        return -ENOMEM;
    pt->nshards = (uint32_t)tokfs_cache_plan(cache)->npieces;
    pt->shards = calloc(pt->nshards ? pt->nshards : 1, sizeof *pt->shards);
    if (!pt->shards) {
        free(pt);
        return -ENOMEM;
    }
    pt->cache = cache;
    pt->asked = asked;
    /* The kernel takes max_stack_depth as the FUSE superblock's own stack depth and refuses a
     * backing file whose superblock is as deep or deeper. 1 admits a cache dir on a plain
     * filesystem (depth 0) and still lets overlayfs stack on the mount (a container's layer:
     * overlayfs needs its layers below the maximum of 2). 2 is needed only when the cache dir
     * is itself on overlayfs (depth 1), and then nothing can stack on the mount. */
    pt->max_stack_depth = stacked ? 2 : 1;
    pt->fd = -1;
    pthread_mutex_init(&pt->lock, NULL);
    *out = pt;
    return 0;
}

void tokfs_pt_release_pins(tokfs_pt *pt)
{
    if (!pt)
        return;
    /* Once, here (tokfs_pt_destroy calls this again after the log file is closed). */
    if (atomic_load(&pt->active) && !atomic_exchange(&pt->stats_logged, 1))
        tokfs_log(TOKFS_LOG_INFO, "passthrough: %" PRIu64 " opens passthrough, %" PRIu64
                  " in cached mode, %" PRIu64 " backing files registered",
                  pt->pt_opens, pt->cached_opens, pt->backings);
    /* The session loop has ended: no open or release will be answered any more. The kernel
     * holds its own reference on every backing file it was given (until the unmount closes
     * the connection), so the cache's references can go now. */
    pthread_mutex_lock(&pt->lock);
    for (uint32_t i = 0; i < pt->nshards; i++)
        if (pt->shards[i].ref) {
            tokfs_cache_release(pt->cache, pt->shards[i].ref);
            pt->shards[i].ref = NULL;
        }
    pthread_mutex_unlock(&pt->lock);
}

void tokfs_pt_destroy(tokfs_pt *pt)
{
    if (!pt)
        return;
    tokfs_pt_release_pins(pt);
    if (g_pt == pt)
        g_pt = NULL;
    pthread_mutex_destroy(&pt->lock);
    free(pt->shards);
    free(pt);
}

int tokfs_pt_path_is_stacked(const char *path)
{
    struct statfs st;
    if (statfs(path, &st) != 0)
        return 0;
    /* OVERLAYFS_SUPER_MAGIC, ECRYPTFS_SUPER_MAGIC: the two that set s_stack_depth */
    return st.f_type == 0x794c7630 || st.f_type == 0xf15f;
}

/* ---- the I/O hooks ------------------------------------------------------------------------
 *
 * Each is the plain syscall libfuse would have made. Only the read hook and the writev hook look
 * at the bytes: the INIT request is always read with read(2) (libfuse splices requests only
 * after INIT, once the protocol version is known), and INIT and OPEN replies are always written
 * with writev(2) (only READ data is spliced). */

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    tokfs_pt *pt = g_pt;
    if (pt && n >= (ssize_t)(sizeof(struct pt_in_header) + offsetof(struct pt_init_in, unused)) &&
        !atomic_load_explicit(&pt->init_seen, memory_order_relaxed)) {
        struct pt_in_header h;
        memcpy(&h, buf, sizeof h);
        if (h.opcode == PT_OP_INIT) {
            struct pt_init_in in;
            memcpy(&in, (const char *)buf + sizeof h, offsetof(struct pt_init_in, unused));
            pt->offered = (in.flags & PT_INIT_EXT) && (in.flags2 & PT_FLAGS2_PASSTHROUGH);
            pt->init_unique = h.unique;
            atomic_store_explicit(&pt->init_seen, 1, memory_order_release);
        }
    }
    return n;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    tokfs_pt *pt = g_pt;
    if (!pt || count != 2 || iov[0].iov_len != sizeof(struct pt_out_header))
        return writev(fd, iov, count);
    struct pt_out_header h;
    memcpy(&h, iov[0].iov_base, sizeof h);
    int32_t backing_id = tls_open_backing_id;
    if (backing_id > 0 && h.error == 0 && iov[1].iov_len == sizeof(struct pt_open_out)) {
        /* libfuse's copy is its own stack frame's: patch a copy. */
        struct pt_open_out out;
        memcpy(&out, iov[1].iov_base, sizeof out);
        out.open_flags = (out.open_flags | PT_FOPEN_PASSTHROUGH) & ~(uint32_t)PT_FOPEN_KEEP_CACHE;
        out.backing_id = backing_id;
        tls_open_backing_id = 0;
        struct iovec v[2] = {iov[0], {.iov_base = &out, .iov_len = sizeof out}};
        return writev(fd, v, 2);
    }
    if (atomic_load(&pt->negotiation) == NEG_WILL_PATCH && h.unique == pt->init_unique &&
        h.error == 0 && iov[1].iov_len >= sizeof(struct pt_init_out)) {
        struct pt_init_out out;
        memcpy(&out, iov[1].iov_base, sizeof out);
        out.flags |= PT_INIT_EXT;
        out.flags2 |= PT_FLAGS2_PASSTHROUGH;
        out.max_stack_depth = pt->max_stack_depth;
        struct iovec v[2] = {iov[0], {.iov_base = &out, .iov_len = sizeof out}};
        /* Active before the reply is written: the kernel lets requests through as soon as it
         * has taken the reply, and another session thread may answer an OPEN before this
         * writev returns — it must answer it as a passthrough mount does. */
        atomic_store(&pt->active, 1);
        ssize_t n = writev(fd, v, 2);
        int saved = errno;
        atomic_store(&pt->negotiation, NEG_DONE);
        if (n < 0) {
            atomic_store(&pt->active, 0); /* no INIT reply: the connection is gone anyway */
        } else {
            tokfs_log(TOKFS_LOG_INFO, "passthrough: on (max_stack_depth %u): cached shards "
                      "are read from the cache files by the kernel", pt->max_stack_depth);
        }
        errno = saved;
        return n;
    }
    return writev(fd, iov, count);
}

static ssize_t hook_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                   unsigned int flags, void *userdata)
{
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t hook_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                unsigned int flags, void *userdata)
{
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}

int tokfs_pt_install(tokfs_pt *pt, struct fuse_session *se)
{
    /* Both splice hooks: without one, libfuse 3.14 drops the matching FUSE_CAP_SPLICE_*
     * (do_init), and READ replies would be copied through a buffer again. */
    static const struct fuse_custom_io io = {
        .read = hook_read,
        .writev = hook_writev,
        .splice_receive = hook_splice_receive,
        .splice_send = hook_splice_send,
    };
    int fd = fuse_session_fd(se);
    if (fd < 0)
        return -EBADF;
    g_pt = pt;
    pt->fd = fd;
    /* The same fd fuse_session_mount opened: the session keeps it and closes it once. */
    int rc = fuse_session_custom_io(se, &io, fd);
    if (rc) {
        g_pt = NULL;
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

/* The kernel checks CAP_SYS_ADMIN in the initial user namespace (fuse_backing_open): root in a
 * container's own namespace has it only there. 1 when ours is the initial one (uid_map maps all
 * of 0..2^32-2 to itself), else 0. */
static int in_initial_user_namespace(void)
{
    FILE *f = fopen("/proc/self/uid_map", "r");
    if (!f)
        return 1; /* no /proc to ask: let the kernel say */
    unsigned long inside = 1, outside = 1, count = 0;
    int n = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
    int more = fgetc(f) != EOF && fgetc(f) != EOF; /* a second mapping line */
    fclose(f);
    return n == 3 && inside == 0 && outside == 0 && count == 4294967295ul && !more;
}

static int has_cap_sys_admin(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0;
    return (data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) != 0;
}

int tokfs_pt_negotiate(tokfs_pt *pt)
{
    if (!pt)
        return 0;
    const char *why = NULL;
    if (!atomic_load_explicit(&pt->init_seen, memory_order_acquire))
        why = "the INIT request was not seen by the I/O hooks";
    else if (!pt->offered)
        why = "the kernel does not offer FUSE_PASSTHROUGH (needs Linux >= 6.9 built with "
              "CONFIG_FUSE_PASSTHROUGH)";
    else if (!has_cap_sys_admin())
        why = "registering backing files (FUSE_DEV_IOC_BACKING_OPEN) needs CAP_SYS_ADMIN: "
              "mount as root";
    else if (!in_initial_user_namespace())
        why = "registering backing files needs CAP_SYS_ADMIN in the initial user namespace, "
              "and this daemon runs in another (a container's)";
    if (why) {
        tokfs_log(pt->asked ? TOKFS_LOG_WARN : TOKFS_LOG_INFO, "passthrough%s not used: %s; "
                  "reads go through the FUSE page cache as with passthrough=0",
                  pt->asked ? "=1" : " (auto)", why);
        atomic_store(&pt->negotiation, NEG_DONE);
        return 0;
    }
    atomic_store(&pt->negotiation, NEG_WILL_PATCH);
    return 1;
}

int tokfs_pt_active(const tokfs_pt *pt)
{
    return pt && atomic_load(&((tokfs_pt *)pt)->active);
}

/* ---- opens and releases ------------------------------------------------------------------ */

/* A tokfs_cache_get asked from an open, which must not wait: if the cache answers before
 * tokfs_cache_get returns, the shard is cached and the answer is the open's; if not, the shard
 * is being made, the open goes on in cached mode, and the late answer (from a worker) gives
 * its reference back and frees the probe. Whichever side moves state off PROBE_WAITING first
 * owns the answer. */
enum { PROBE_WAITING, PROBE_ANSWERED, PROBE_ABANDONED };

typedef struct open_probe {
    atomic_int state;
    tokfs_cache *cache;
    int status;
    uint64_t size;
    tokfs_backing *backing;
} open_probe;

static void probe_ready(void *arg, int status, uint64_t size, tokfs_backing *backing)
{
    open_probe *p = arg;
    p->status = status;
    p->size = size;
    p->backing = backing;
    int expected = PROBE_WAITING;
    if (atomic_compare_exchange_strong(&p->state, &expected, PROBE_ANSWERED))
        return; /* the open still waits for it */
    tokfs_cache_release(p->cache, backing);
    free(p);
}

/* A reference on shard index's cache file if it is cached now; NULL when it is not (a build is
 * started: its reads follow) or on error. Not counted as a read: an open that ends in cached
 * mode is counted by its READs, a passthrough one by tokfs_pt_open. */
static tokfs_backing *backing_if_cached(tokfs_pt *pt, uint32_t index, uint64_t *size)
{
    open_probe *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->state, PROBE_WAITING);
    p->cache = pt->cache;
    p->backing = NULL;
    tokfs_cache_get(pt->cache, index, 0, 1, probe_ready, p);
    int expected = PROBE_WAITING;
    if (atomic_compare_exchange_strong(&p->state, &expected, PROBE_ABANDONED))
        return NULL; /* parked: probe_ready frees p */
    tokfs_backing *b = p->status == 0 ? p->backing : NULL;
    if (p->status != 0)
        tokfs_cache_release(pt->cache, p->backing);
    *size = p->size;
    free(p);
    return b;
}

static void count_only_ready(void *arg, int status, uint64_t size, tokfs_backing *backing)
{
    (void)arg; (void)status; (void)size; (void)backing; /* want_backing 0: never a reference */
}

/* Register shard index's cached file (b) as a backing file; the id (> 0) or a negative errno,
 * logged once per mount. Called with pt->lock held. */
static int32_t register_backing(tokfs_pt *pt, uint32_t index, tokfs_backing *b, uint64_t size)
{
    uint64_t data, idx;
    /* Passthrough maps offsets one to one: only a cache file that is exactly the served file.
     * (Megatron's .idx shares the file after the ids; the caller excludes it, this is the
     * check that the layout really is one file per shard.) */
    if (tokfs_cache_known_parts(pt->cache, index, &data, &idx) != 0 || idx != 0 || data != size)
        return -EINVAL; /* not the served file as it is: cached mode (nothing the kernel said) */
    if (pt->refused)
        return pt->refused;
    struct pt_backing_map map = {.fd = tokfs_backing_fd(b), .flags = 0, .padding = 0};
    int id = ioctl(pt->fd, PT_DEV_IOC_BACKING_OPEN, &map);
    if (id > 0) {
        pt->backings++;
        return id;
    }
    int rc = id < 0 ? -errno : -EIO;
    if (rc == -EPERM || rc == -ELOOP)
        pt->refused = rc; /* the capability, or the cache dir's stacking: the same for all */
    if (!atomic_exchange(&pt->open_failure_logged, 1)) {
        char name[64];
        tokfs_cache_shard_name(pt->cache, index, name, sizeof name);
        tokfs_log(TOKFS_LOG_WARN, "passthrough: the kernel refused %s's cache file as a "
                  "backing file (%s%s); such shards are served in cached mode", name,
                  strerror(-rc), rc == -ELOOP ? ": the cache dir is on a stacking filesystem "
                  "too deep for max_stack_depth" : "");
    }
    return rc;
}

void tokfs_pt_open(tokfs_pt *pt, fuse_req_t req, uint32_t index, struct fuse_file_info *fi)
{
    pt_shard *s = &pt->shards[index];
    int32_t backing_id = 0;
    tokfs_backing *spare = NULL; /* a reference taken but not kept */
    /* The lock is held across the cache's answer and the ioctl (both quick: a cached shard is
     * answered at once, and a shard not cached is only queued) so that a shard's mode and its
     * backing id change in one step. The cache calls no pt function under its own lock. */
    pthread_mutex_lock(&pt->lock);
    if (s->npt > 0) {
        s->npt++;
        backing_id = s->backing_id;
        pt->pt_opens++;
    } else if (s->ncached > 0) {
        s->ncached++;
        pt->cached_opens++;
    } else {
        uint64_t size = 0;
        tokfs_backing *b = backing_if_cached(pt, index, &size);
        int32_t id = b ? register_backing(pt, index, b, size) : -ENODATA;
        if (id > 0) {
            s->npt = 1;
            s->backing_id = backing_id = id;
            s->ref = b;
            pt->pt_opens++;
        } else {
            spare = b;
            s->ncached = 1;
            pt->cached_opens++;
        }
    }
    pthread_mutex_unlock(&pt->lock);
    tokfs_cache_release(pt->cache, spare);
    if (backing_id > 0)
        /* Reads of a passthrough file never reach the daemon: this open is the shard's read
         * for the LRU, the hit counter and prefetch. Its size is known (cached, or held and
         * evicted since), so this is answered before it returns and makes nothing. */
        tokfs_cache_get(pt->cache, index, 1, 0, count_only_ready, NULL);
    if (backing_id > 0) {
        fi->fh = PT_FH_PASSTHROUGH;
        fi->keep_cache = 0; /* nothing of it lives in the FUSE page cache; drop what does */
    } else {
        fi->fh = PT_FH_CACHED;
        fi->keep_cache = 1; /* as without passthrough: shards never change */
    }
    fi->direct_io = 0;
    tls_open_backing_id = backing_id;
    int rc = fuse_reply_open(req, fi);
    tls_open_backing_id = 0;
    if (rc != 0)
        /* The reply did not reach the kernel (the open was interrupted): no RELEASE will come
         * for it, so undo its count here. */
        tokfs_pt_release(pt, index, fi);
}

void tokfs_pt_release(tokfs_pt *pt, uint32_t index, const struct fuse_file_info *fi)
{
    if (fi->fh != PT_FH_PASSTHROUGH && fi->fh != PT_FH_CACHED)
        return;
    pt_shard *s = &pt->shards[index];
    tokfs_backing *unpin = NULL;
    pthread_mutex_lock(&pt->lock);
    if (fi->fh == PT_FH_CACHED) {
        if (s->ncached > 0)
            s->ncached--;
    } else if (s->npt > 0 && --s->npt == 0) {
        /* The kernel dropped its use of the id before sending RELEASE; closing it under the
         * lock keeps a concurrent first open from seeing a half-closed shard. */
        uint32_t id = (uint32_t)s->backing_id;
        if (ioctl(pt->fd, PT_DEV_IOC_BACKING_CLOSE, &id) != 0)
            tokfs_log(TOKFS_LOG_WARN, "passthrough: closing backing id %u: %s", id,
                      strerror(errno));
        s->backing_id = 0;
        unpin = s->ref;
        s->ref = NULL;
    }
    pthread_mutex_unlock(&pt->lock);
    /* The shard may be evicted again from here on. */
    tokfs_cache_release(pt->cache, unpin);
}

void tokfs_pt_counts(tokfs_pt *pt, uint64_t *pt_opens, uint64_t *cached_opens,
                     uint64_t *backings)
{
    pthread_mutex_lock(&pt->lock);
    *pt_opens = pt->pt_opens;
    *cached_opens = pt->cached_opens;
    *backings = pt->backings;
    pthread_mutex_unlock(&pt->lock);
}
