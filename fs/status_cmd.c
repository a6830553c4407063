/* tokfs status MOUNTPOINT [--json]: what a person wants at a glance about a running mount — cache
 * use against the cap, shards cached / known / total, hit rate, bytes fetched, shared-tier hits,
 * the last error — read from the mount's own .tokfs/status.json and dataset_metadata.json (the
 * daemon renders them on open, so this needs no other channel to it). --json prints the same
 * summary as one JSON object for machines. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subcommands.h"

static const char status_usage[] =
    "usage: tokfs status MOUNTPOINT [--json]\n"
    "\n"
    "Prints a running mount's cache use against its cap, shards cached / known / total, read\n"
    "hit rate, bytes fetched from sources and from the shared tier, and the last error. --json:\n"
    "the same as one JSON object.\n";

typedef struct summary {
    int64_t pid;
    const char *source, *cache_dir, *last_error, *tokenizer, *layout;
    uint64_t used, cap, metadata, hits, misses, evictions, made, failures, fetched;
    uint64_t shared_hits, shared_bytes;
    int has_shared;
    uint32_t total, train, val, cached, materializing, known, failed, empty_hidden;
    uint64_t tokens_known;
} summary;

static uint64_t u64_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v)) /* status.json writes counters past 2^53 exactly as numbers */
        return (uint64_t)json_real_value(v);
    return 0;
}

static void human_bytes(uint64_t b, char *out, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static int load_json(const char *mnt, const char *rel, json_t **out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", mnt, rel);
    json_error_t jerr;
    *out = json_load_file(path, 0, &jerr);
    if (*out)
        return 0;
    fprintf(stderr, "tokfs status: cannot read %s: %s (is %s a tokfs mount?)\n", path,
            jerr.text, mnt);
    return -EIO;
}

static void summarize(json_t *st, json_t *meta, summary *s)
{
    memset(s, 0, sizeof *s);
    s->pid = json_integer_value(json_object_get(st, "pid"));
    s->cache_dir = json_string_value(json_object_get(st, "cache_dir"));
    s->last_error = json_string_value(json_object_get(st, "last_error"));
    s->source = json_string_value(json_object_get(meta, "source"));
    s->tokenizer = json_string_value(json_object_get(meta, "tokenizer"));
    s->layout = json_string_value(json_object_get(meta, "layout"));
    s->used = u64_of(st, "cache_bytes_used");
    s->cap = u64_of(st, "cache_bytes_cap");
    s->metadata = u64_of(st, "cache_bytes_metadata");
    s->hits = u64_of(st, "hits");
    s->misses = u64_of(st, "misses");
    s->evictions = u64_of(st, "evictions");
    s->made = u64_of(st, "materializations");
    s->failures = u64_of(st, "failures");
    s->fetched = u64_of(st, "bytes_fetched");
    s->has_shared = json_object_get(st, "shared_hits") != NULL;
    s->shared_hits = u64_of(st, "shared_hits");
    s->shared_bytes = u64_of(st, "shared_bytes");
    json_t *shards = json_object_get(st, "shards");
    size_t k;
    json_t *sh;
    json_array_foreach(shards, k, sh) {
        const char *state = json_string_value(json_object_get(sh, "state"));
        const char *name = json_string_value(json_object_get(sh, "name"));
        s->total++;
        if (name && strncmp(name, "val/", 4) == 0)
            s->val++;
        else
            s->train++;
        if (state && strcmp(state, "cached") == 0)
            s->cached++;
        else if (state && strcmp(state, "materializing") == 0)
            s->materializing++;
        if (json_is_integer(json_object_get(sh, "tokens"))) {
            s->known++;
            s->tokens_known += u64_of(sh, "tokens");
        }
        if (!json_is_null(json_object_get(sh, "error")) && json_object_get(sh, "error"))
            s->failed++;
    }
}

static void print_text(const char *mnt, const summary *s)
{
    char used[32], cap[32], meta[32], fetched[32], shared[32];
    human_bytes(s->used, used, sizeof used);
    human_bytes(s->cap, cap, sizeof cap);
    human_bytes(s->metadata, meta, sizeof meta);
    human_bytes(s->fetched, fetched, sizeof fetched);
    human_bytes(s->shared_bytes, shared, sizeof shared);
    uint64_t reads = s->hits + s->misses;
    printf("tokfs at %s (pid %" PRId64 ")\n", mnt, s->pid);
    printf("  source     %s\n", s->source ? s->source : "?");
    printf("  tokenizer  %s, layout %s\n", s->tokenizer ? s->tokenizer : "?",
           s->layout ? s->layout : "?");
    printf("  cache      %s of %s (%.0f%%), metadata %s, in %s\n", used, cap,
           s->cap ? 100.0 * (double)s->used / (double)s->cap : 0.0, meta,
           s->cache_dir ? s->cache_dir : "?");
    printf("  shards     %u cached, %u being made, %u known, %u total (train %u, val %u)",
           s->cached, s->materializing, s->known, s->total, s->train, s->val);
    if (s->failed)
        printf(", %u failed", s->failed);
    printf("\n");
    if (reads)
        printf("  reads      hit rate %.1f%% (%" PRIu64 " hits, %" PRIu64 " misses)\n",
               100.0 * (double)s->hits / (double)reads, s->hits, s->misses);
    else
        printf("  reads      none yet\n");
    printf("  made       %" PRIu64 " shard(s), %" PRIu64 " evicted, %" PRIu64 " failure(s)\n",
           s->made, s->evictions, s->failures);
    printf("  fetched    %s from sources\n", fetched);
    if (s->has_shared)
        printf("  shared     %" PRIu64 " shard(s), %s from the shared tier\n", s->shared_hits,
               shared);
    printf("  last error %s\n", s->last_error ? s->last_error : "none");
}

static int print_json(const char *mnt, const summary *s)
{
    json_t *o = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:{s:I, s:I, s:I}, "
                          "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I, "
                          "s:I, s:s?}",
                          "mountpoint", mnt, "pid", (json_int_t)s->pid, "source", s->source,
                          "tokenizer", s->tokenizer, "cache_dir", s->cache_dir,
                          "cache", "used", (json_int_t)s->used, "cap", (json_int_t)s->cap,
                          "metadata", (json_int_t)s->metadata,
                          "shards", "total", (json_int_t)s->total, "train", (json_int_t)s->train,
                          "val", (json_int_t)s->val, "cached", (json_int_t)s->cached,
                          "materializing", (json_int_t)s->materializing,
                          "known", (json_int_t)s->known, "failed", (json_int_t)s->failed,
                          "reads", "hits", (json_int_t)s->hits, "misses", (json_int_t)s->misses,
                          "made", (json_int_t)s->made, "evictions", (json_int_t)s->evictions,
                          "failures", (json_int_t)s->failures,
                          "bytes_fetched", (json_int_t)s->fetched, "last_error", s->last_error);
    if (!o)
        return -ENOMEM;
    uint64_t reads = s->hits + s->misses;
    json_object_set_new(o, "hit_rate", reads ? json_real((double)s->hits / (double)reads)
                                             : json_null());
    json_object_set_new(o, "shared",
                        s->has_shared ? json_pack("{s:I, s:I}", "hits", (json_int_t)s->shared_hits,
                                                  "bytes", (json_int_t)s->shared_bytes)
                                      : json_null());
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    puts(text);
    free(text);
    return 0;
}

int tokfs_cmd_status(int argc, char **argv)
{
    const char *mnt = NULL;
    int as_json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(status_usage, stdout);
            return 0;
        } else if (argv[i][0] == '-' || mnt) {
            fprintf(stderr, "tokfs status: unexpected argument %s\n%s", argv[i], status_usage);
            return 2;
        } else {
            mnt = argv[i];
        }
    }
    if (!mnt) {
        fputs(status_usage, stderr);
        return 2;
    }
    json_t *st = NULL, *meta = NULL;
    if (load_json(mnt, ".tokfs/status.json", &st) || load_json(mnt, "dataset_metadata.json",
                                                               &meta)) {
        json_decref(st);
        return 1;
    }
    summary s;
    summarize(st, meta, &s);
    int rc = as_json ? print_json(mnt, &s) : (print_text(mnt, &s), 0);
    json_decref(st);
    json_decref(meta);
    return rc ? 1 : 0;
}
