/* Helpers shared by the cache's unit tests (test_cache.c, test_cache_early.c): a request to the
 * cache answered by its callback and waited for, status.json parsed, waiting until the cache is
 * idle, a config string set, the stub builders' cancel check and timed wait, the temp dir with
 * its corpus of small .txt files. The includer defines WAIT_MS (the longest wait for an answer before
 * the check fails) and includes check.h and cache/cache_internal.h first. */
#ifndef TOKFS_TEST_CACHE_FIXTURE_H
#define TOKFS_TEST_CACHE_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One tokfs_cache_get's answer: how many times the callback ran and what it said last. */
typedef struct req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int status;
    uint64_t size;
    tokfs_backing *backing;
} req;

static inline void req_init(req *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static inline void req_destroy(req *r)
{
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

/* The callback given to tokfs_cache_get, with the req as its argument. */
static inline void req_ready(void *arg, int status, uint64_t size, tokfs_backing *backing)
{
    req *r = arg;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    r->status = status;
    r->size = size;
    r->backing = backing;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Wait for the callback; 0, or -ETIMEDOUT after WAIT_MS. */
static inline int req_wait(req *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    while (!r->calls && rc == 0)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    int calls = r->calls;
    pthread_mutex_unlock(&r->mu);
    return calls ? 0 : -ETIMEDOUT;
}

static inline int req_calls(req *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->calls;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The stub builders' check of the cache's cancel flag. */
static inline int cancelled(const tokfs_build_output *out)
{
    return out->cancel && atomic_load(out->cancel);
}

/* Wait on cv (mu held) for at most ms milliseconds: the stubs' callers loop, and look at the
 * cancel flag, which nothing signals on their condition. */
static inline void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000;
    while (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(cv, mu, &until);
}

static inline void set_str(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
}

/* Wait until no build runs and nothing is queued. */
static inline void wait_idle(tokfs_cache *c)
{
    for (int ms = 0; ms < WAIT_MS; ms++) {
        cache_lock(c);
        int idle = c->active_builds == 0 && c->demand_q.count == 0 && c->prefetch_q.count == 0;
        cache_unlock(c);
        if (idle)
            return;
        usleep(1000);
    }
    CHECK(!"the cache did not go idle");
}

/* status.json, parsed (it must parse and end with a newline); an empty object when it does not,
 * after the failed check. */
static inline json_t *status_of(tokfs_cache *c)
{
    size_t len;
    char *text = tokfs_cache_render_status(c, &len);
    CHECK(text != NULL);
    if (!text)
        return json_object();
    CHECK_EQ_INT(text[len - 1], '\n');
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc)
        fprintf(stderr, "status.json does not parse: %s\n%s", jerr.text, text);
    CHECK(doc != NULL);
    free(text);
    return doc ? doc : json_object();
}

/* A fresh temp dir (realpath into root, prefix e.g. "/tmp/tokfs-cache-") with src/ of nfiles
 * .txt files of file_bytes letters each (src_dir gets its path): a plan of one piece a file
 * under tokenizer=bytes and shard_size=file_bytes. 0, or -1 after a message. */
static inline int make_corpus(char root[PATH_MAX], const char *prefix, char *src_dir,
                              size_t src_size, int nfiles, size_t file_bytes)
{
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%sXXXXXX", prefix);
    if (!mkdtemp(tmpl) || !realpath(tmpl, root)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(src_dir, src_size, "%s/src", root);
    CHECK_EQ_INT(mkdir(src_dir, 0700), 0);
    char *text = malloc(file_bytes);
    if (!text)
        return -1;
    for (int f = 0; f < nfiles; f++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/part-%d.txt", src_dir, f);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        for (size_t k = 0; k < file_bytes; k++)
            text[k] = (char)('a' + (k * 7 + (size_t)f) % 26);
        CHECK(fd >= 0 && write(fd, text, file_bytes) == (ssize_t)file_bytes);
        if (fd >= 0)
            close(fd);
    }
    free(text);
    return 0;
}

static inline int rm_entry(const char *path, const struct stat *s, int flag, struct FTW *ftw)
{
    (void)s;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the temp dir and all below it. */
static inline void rm_tree(const char *root)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
