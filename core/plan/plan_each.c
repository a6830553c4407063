/* Running one step of planning for every source on several HTTP connections at once (Parquet
 * footers, token-file headers): a corpus of a thousand files on a CDN is a thousand round trips
 * (two with the hub's redirect), so they are made on up to a few connections in parallel. Owns
 * tokfs_plan_each_source (plan_internal.h). */
#include "plan/plan_internal.h"

#include <pthread.h>

typedef struct each_pass {
    tokfs_plan_each_fn fn;
    void *ctx;
    uint32_t count;
    pthread_mutex_t mu;
    uint32_t next;        /* mu: the next index to start */
    uint32_t failed_at;   /* mu: the lowest failing index so far (valid when failed_rc) */
    int failed_rc;        /* mu */
    tokfs_err failed_err; /* mu: its message */
} each_pass;

typedef struct each_worker {
    each_pass *pass;
    tokfs_fetcher *fetcher; /* this thread's own connection */
} each_worker;

static void *each_worker_main(void *arg)
{
    each_worker *w = arg;
    each_pass *p = w->pass;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        uint32_t i = p->next++;
        /* after a failure, only indices before it: the error reported is the first one's */
        int stop = i >= p->count || (p->failed_rc && i >= p->failed_at);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        tokfs_err e = {{0}};
        int rc = p->fn(p->ctx, w->fetcher, i, &e);
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (!p->failed_rc || i < p->failed_at) {
                p->failed_at = i;
                p->failed_rc = rc;
                p->failed_err = e;
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int tokfs_plan_each_source(tokfs_fetcher *fetcher, uint32_t count, uint32_t threads,
                           tokfs_plan_each_fn fn, void *ctx, tokfs_err *err)
{
    if (!count)
        return 0;
    if (threads > TOKFS_PLAN_EACH_MAX_THREADS)
        threads = TOKFS_PLAN_EACH_MAX_THREADS;
    if (threads > count)
        threads = count;
    if (threads < 1)
        threads = 1;
    each_pass pass = {.fn = fn, .ctx = ctx, .count = count, .mu = PTHREAD_MUTEX_INITIALIZER};
    each_worker workers[TOKFS_PLAN_EACH_MAX_THREADS];
    pthread_t ids[TOKFS_PLAN_EACH_MAX_THREADS];
    uint32_t started = 0;
    workers[0] = (each_worker){&pass, fetcher};
    for (uint32_t t = 1; t < threads; t++) {
        workers[t] = (each_worker){&pass, tokfs_fetcher_dup(fetcher)};
        if (!workers[t].fetcher ||
            pthread_create(&ids[t], NULL, each_worker_main, &workers[t]) != 0) {
            tokfs_fetcher_free(workers[t].fetcher);
            break; /* fewer connections: the ones started (and this thread) do the rest */
        }
        started = t;
    }
    each_worker_main(&workers[0]);
    for (uint32_t t = 1; t <= started; t++) {
        pthread_join(ids[t], NULL);
        tokfs_fetcher_free(workers[t].fetcher);
    }
    pthread_mutex_destroy(&pass.mu);
    if (pass.failed_rc) {
        if (err)
            *err = pass.failed_err;
        return pass.failed_rc;
    }
    return 0;
}
