/* tokfs build SOURCE DEST: the shards of the plan a mount of SOURCE with the same options would
 * serve, made into DEST (core/shared/, docs/shared.md) — all of them, a range, or task I's share
 * of N (a Slurm job array or a Kubernetes Indexed Job), with a progress bar on a terminal,
 * progress lines in a log, and a summary. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"
#include "common/config.h"
#include "common/log.h"
#include "shared/shared.h"
#include "source/fetch_config.h"
#include "subcommands.h"
#include "tokenize/tokenizer.h"

static const char build_usage[] =
    "usage: tokfs build SOURCE DEST [-o OPTIONS] [--shards FIRST-LAST | --task I/N]\n"
    "                   [--progress bar|lines|none]\n"
    "\n"
    "Makes the shards a mount of SOURCE with the same -o OPTIONS would serve into DEST, a\n"
    "directory (local, NFS, Lustre) or s3://BUCKET/PREFIX, each published atomically with its\n"
    "count and checksum, and\n"
    "writes DEST/manifest.json. A shard already in DEST with the right checksum is skipped, so a\n"
    "re-run resumes. Mount options that do not change shard content (cache_size, cache_dir,\n"
    "prefetch, ...) are accepted and ignored; workers= threads tokenize each shard.\n"
    "\n"
    "  --shards FIRST-LAST  only plan shards FIRST..LAST (train first, then val)\n"
    "  --task I/N           task I (0-based) of N takes shards I, I+N, I+2N, ...: in a Slurm\n"
    "                       job array --task $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\n"
    "  --progress MODE      bar (default on a terminal), lines (default otherwise), none\n"
    "\n"
    "Exit status: 0 when every shard asked for is in DEST, 1 otherwise.\n";

enum progress_mode { PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };

typedef struct build_args {
    const char *source, *dest;
    int64_t first, last;       /* --shards; -1: all */
    uint32_t task, ntasks;     /* --task; ntasks 0: none */
    int progress;
} build_args;

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int apply_options(tokfs_config *cfg, const char *list, tokfs_err *err)
{
    char *copy = strdup(list);
    if (!copy)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt && rc == 0;
         opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = '\0';
        rc = tokfs_config_set(cfg, opt, eq ? eq + 1 : NULL, err);
        if (rc == -ENOENT)
            rc = tokfs_err_set(err, EINVAL, "unknown option %s: see tokfs --help", opt);
    }
    free(copy);
    return rc;
}

static int parse_build_args(int argc, char **argv, tokfs_config *cfg, build_args *a,
                            tokfs_err *err)
{
    const char *pos[2] = {0};
    int npos = 0;
    a->first = a->last = -1;
    a->progress = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(build_usage, stdout);
            return 1;
        } else if (strncmp(arg, "-o", 2) == 0) {
            const char *list = arg[2] ? arg + 2 : next;
            if (!list)
                return tokfs_err_set(err, EINVAL, "-o needs a list of options");
            if (!arg[2])
                i++;
            int rc = apply_options(cfg, list, err);
            if (rc)
                return rc;
        } else if (strcmp(arg, "--shards") == 0 && next) {
            uint32_t f, l;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", next);
            char *dash = strchr(buf, '-');
            if (dash)
                *dash = '\0';
            if (!dash || parse_u32(buf, &f) || parse_u32(dash + 1, &l) || l < f)
                return tokfs_err_set(err, EINVAL, "bad --shards %s: give FIRST-LAST, e.g. 0-99",
                                     next);
            a->first = f;
            a->last = l;
            i++;
        } else if (strcmp(arg, "--task") == 0 && next) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", next);
            char *slash = strchr(buf, '/');
            if (slash)
                *slash = '\0';
            if (!slash || parse_u32(buf, &a->task) || parse_u32(slash + 1, &a->ntasks) ||
                a->ntasks == 0 || a->task >= a->ntasks)
                return tokfs_err_set(err, EINVAL, "bad --task %s: give I/N with 0 <= I < N, e.g. "
                                     "--task $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT", next);
            i++;
        } else if (strcmp(arg, "--progress") == 0 && next) {
            if (strcmp(next, "bar") == 0)
                a->progress = PROGRESS_BAR;
            else if (strcmp(next, "lines") == 0)
                a->progress = PROGRESS_LINES;
            else if (strcmp(next, "none") == 0)
                a->progress = PROGRESS_NONE;
            else
                return tokfs_err_set(err, EINVAL, "bad --progress %s: bar, lines or none", next);
            i++;
        } else if (arg[0] == '-' && arg[1]) {
            return tokfs_err_set(err, EINVAL, "unknown flag %s: see tokfs build --help", arg);
        } else if (npos < 2) {
            pos[npos++] = arg;
        } else {
            return tokfs_err_set(err, EINVAL, "unexpected argument %s: give SOURCE and DEST", arg);
        }
    }
    if (npos < 2)
        return tokfs_err_set(err, EINVAL, "missing %s: %s", npos ? "DEST" : "SOURCE and DEST",
                             "usage: tokfs build SOURCE DEST [-o OPTIONS] [--task I/N]");
    if (a->first >= 0 && a->ntasks)
        return tokfs_err_set(err, EINVAL, "give --shards or --task, not both");
    a->source = pos[0];
    a->dest = pos[1];
    return 0;
}

/* DEST as an absolute path, created when missing (with its parents); an s3:// prefix as it
 * is. */
static int prepare_dest(const char *given, char *out, size_t size, tokfs_err *err)
{
    if (strncmp(given, "s3://", 5) == 0) {
        if (snprintf(out, size, "%s", given) >= (int)size)
            return tokfs_err_set(err, ENAMETOOLONG, "DEST too long: %s", given);
        return 0;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", given) >= (int)sizeof path)
        return tokfs_err_set(err, ENAMETOOLONG, "DEST too long: %s", given);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return tokfs_err_set(err, errno, "cannot create %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return tokfs_err_set(err, errno, "cannot create DEST %s: %s", path, strerror(errno));
    if (!realpath(path, out) || strlen(out) >= size)
        return tokfs_err_set(err, errno ? errno : ENAMETOOLONG, "cannot resolve DEST %s", path);
    return 0;
}

/* ---- progress ------------------------------------------------------------------------------ */

typedef struct progress {
    int mode;
    uint32_t total, done, built, skipped, failed;
    uint64_t source_bytes, tokens;
    double start, build_seconds;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void duration(double s, char *out, size_t size)
{
    if (s < 0 || s > 1e7)
        snprintf(out, size, "?");
    else if (s < 60)
        snprintf(out, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(out, size, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, size, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static void progress_show(progress *p, const char *name, const char *what)
{
    double elapsed = now_s() - p->start;
    double mbs = p->build_seconds > 0 ? p->source_bytes / 1e6 / p->build_seconds : 0;
    /* time left: the shards still to make at the mean time of those made so far */
    double left = p->built ? (p->total - p->done) * (p->build_seconds / p->built) : -1;
    char eta[32];
    duration(p->done == p->total ? 0 : left, eta, sizeof eta);
    if (p->mode == PROGRESS_BAR) {
        int width = 30, filled = p->total ? (int)((uint64_t)width * p->done / p->total) : width;
        char bar[64];
        for (int k = 0; k < width; k++)
            bar[k] = k < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] %u/%u shards  %.1f MB/s  %s left   ", bar, p->done, p->total,
                mbs, eta);
        if (p->done == p->total)
            fputc('\n', stderr);
    } else if (p->mode == PROGRESS_LINES) {
        fprintf(stderr, "tokfs build: %s %s (%u/%u done, %.1f MB/s, %.0fs elapsed, %s left)\n",
                name, what, p->done, p->total, mbs, elapsed, eta);
    }
    fflush(stderr);
}

/* ---- the command ----------------------------------------------------------------------------- */

static int in_share(const build_args *a, uint32_t i)
{
    if (a->first >= 0)
        return (int64_t)i >= a->first && (int64_t)i <= a->last;
    if (a->ntasks)
        return i % a->ntasks == a->task;
    return 1;
}

int tokfs_cmd_build(int argc, char **argv)
{
    tokfs_config cfg;
    tokfs_err err = {{0}};
    build_args a = {0};
    tokfs_tokenizer *tok = NULL;
    tokfs_fetcher *fetcher = NULL, *dest_fetcher = NULL;
    tokfs_shard_set *set = NULL;
    tokfs_plan plan = {0};
    int have_plan = 0;
    char dest[PATH_MAX - 64];
    int rc = tokfs_config_init(&cfg, getenv("XDG_CACHE_HOME"), getenv("HOME"), &err);
    if (rc == 0)
        rc = tokfs_config_from_environment(&cfg, &err);
    if (rc == 0 && (rc = parse_build_args(argc, argv, &cfg, &a, &err)) == 1) {
        tokfs_config_free(&cfg);
        return 0; /* --help */
    }
    if (rc == 0)
        rc = tokfs_resolve_source(a.source, &cfg.source, &err);
    if (rc == 0)
        rc = prepare_dest(a.dest, dest, sizeof dest, &err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tokfs_log_setup(stderr, 0, 0);
    char images[4096];
    tokfs_tokenizer_opts topts = {
        .name = cfg.tokenizer, .pattern = cfg.pattern, .eot = cfg.eot,
        .match_special = cfg.match_special,
        .image_dir = tokfs_config_tokenizer_cache(&cfg, images, sizeof images)};
    if (rc == 0)
        rc = tokfs_tokenizer_open_opts(&topts, &tok, &err);
    tokfs_layout layout;
    if (rc == 0)
        rc = tokfs_layout_resolve(&cfg, tok, &layout, &err);
    if (rc == 0 && !(fetcher = tokfs_fetcher_for_config(&cfg)))
        rc = tokfs_err_set(&err, ENOMEM, "cannot start an HTTP client");
    /* DEST's plan when a task made it already (no listing), else the sources' */
    if (rc == 0) {
        tokfs_err perr = {{0}};
        rc = tokfs_shard_set_load_plan(dest, &cfg, &plan, &perr);
        if (rc == -ENOENT)
            rc = tokfs_plan_build(&cfg, tok->bytes_per_token, fetcher, &plan, &err);
        else if (rc)
            err = perr;
        have_plan = rc == 0;
    }
    if (rc == 0)
        rc = tokfs_shard_set_open(dest, &cfg, tok, &layout, &plan, &set, &err);
    if (rc == 0 && strncmp(dest, "s3://", 5) == 0 && !(dest_fetcher = tokfs_shard_set_fetcher(set)))
        rc = tokfs_err_set(&err, ENOMEM, "cannot start an HTTP client");
    if (rc) {
        fprintf(stderr, "tokfs build: %s\n", err.msg[0] ? err.msg : strerror(-rc));
        goto out;
    }

    progress p = {.mode = a.progress, .start = now_s()};
    for (uint32_t i = 0; i < plan.npieces; i++)
        p.total += in_share(&a, i);
    if (a.first >= 0 && a.last >= plan.npieces)
        tokfs_log(TOKFS_LOG_WARN, "--shards %" PRId64 "-%" PRId64 ": the plan has %u shards",
                  a.first, a.last, plan.npieces);
    tokfs_log(TOKFS_LOG_INFO, "building %u of %u shards into %s%s", p.total, plan.npieces, dest,
              a.ntasks ? " (a task's share)" : "");
    char first_failure[512] = "";
    for (uint32_t i = 0; i < plan.npieces; i++) {
        if (!in_share(&a, i))
            continue;
        char name[64];
        tokfs_shard_set_name(&plan, &layout, i, name, sizeof name);
        tokfs_set_record rec;
        if (tokfs_shard_set_has(set, dest_fetcher, i, &rec)) {
            p.skipped++;
            p.done++;
            p.tokens += rec.tokens;
            if (p.mode == PROGRESS_LINES)
                progress_show(&p, name, "already in DEST");
            continue;
        }
        tokfs_build_stats stats;
        tokfs_err berr = {{0}};
        double t0 = now_s();
        int brc = tokfs_shard_set_build(set, i, fetcher, dest_fetcher, &stats, &berr);
        p.build_seconds += now_s() - t0;
        p.done++;
        char what[160];
        if (brc) {
            p.failed++;
            if (p.mode == PROGRESS_BAR)
                fputc('\n', stderr);
            fprintf(stderr, "tokfs build: %s\n", berr.msg);
            if (!first_failure[0])
                snprintf(first_failure, sizeof first_failure, "%s", berr.msg);
            snprintf(what, sizeof what, "FAILED");
        } else {
            p.built++;
            p.tokens += stats.tokens;
            p.source_bytes += stats.fetched_bytes;
            snprintf(what, sizeof what, "made: %" PRIu64 " tokens from %.1f MB in %.1fs",
                     stats.tokens, stats.fetched_bytes / 1e6, now_s() - t0);
        }
        progress_show(&p, name, what);
    }
    uint32_t present = 0;
    tokfs_err merr = {{0}};
    int mrc = tokfs_shard_set_write_manifest(set, &present, &merr);
    if (mrc)
        fprintf(stderr, "tokfs build: %s\n", merr.msg);
    char took[32];
    duration(now_s() - p.start, took, sizeof took);
    fprintf(stderr,
            "tokfs build: %u shard(s) asked for: %u made, %u already in DEST, %u failed; %" PRIu64
            " tokens; %.1f MB of source at %.1f MB/s; %s. DEST has %u of %u shards%s\n",
            p.total, p.built, p.skipped, p.failed, p.tokens, p.source_bytes / 1e6,
            p.build_seconds > 0 ? p.source_bytes / 1e6 / p.build_seconds : 0.0, took, present,
            plan.npieces, present == plan.npieces ? " (complete)" : "");
    if (first_failure[0])
        fprintf(stderr, "tokfs build: first failure: %s\n", first_failure);
    rc = p.failed || mrc ? -EIO : 0;
out:
    tokfs_shard_set_close(set);
    if (have_plan)
        tokfs_plan_free(&plan);
    tokfs_fetcher_free(fetcher);
    tokfs_fetcher_free(dest_fetcher);
    tokfs_tokenizer_close(tok);
    curl_global_cleanup();
    tokfs_config_free(&cfg);
    return rc ? 1 : 0;
}
