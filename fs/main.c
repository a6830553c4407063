/* tokfs — the program: parse the command line once into a tokfs_config, plan the corpus, mount,
 * daemonize, serve.
 *
 *   tokfs SOURCE MOUNTPOINT [-o OPT[,OPT...]] [-f] [-d]
 *
 * Everything that can fail because of what the user typed or where SOURCE points fails here,
 * before anything is mounted, with a one-line message and exit status 1. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "source/fetch.h"
#include "source/hf.h"
#include "source/s3.h"
#include "common/log.h"
#include "cmdline.h"
#include "subcommands.h"
#include "tokenize/tokenizer.h"
#include "tokfs_fs.h"

/* Default kernel read-ahead for the mount, KiB: four READs of the largest size a reply can be
 * spliced in (op_init), measured in docs/performance.md. */
#define TOKFS_READ_AHEAD_KB 4032u

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tokfs SOURCE MOUNTPOINT -o cache_size=SIZE[,OPT...] [-f] [-d]\n"
            "       tokfs encode [-o tokenizer=...,pattern=...,eot=...] [FILE]\n"
            "       tokfs decode [-o tokenizer=...,format=...,dtype=...] [--shard] [FILE]\n"
            "       tokfs build SOURCE DEST [-o OPTIONS] [--shards A-B | --task I/N] (--help)\n"
            "       tokfs status MOUNTPOINT [--json]\n"
            "       tokfs --help | --version\n"
            "\n"
            "Mount a text corpus as pre-tokenized shards: MOUNTPOINT/train/shard_NNNNN.bin,\n"
            "MOUNTPOINT/val/shard_NNNNN.bin (flat little-endian token ids, or the layout of\n"
            "format=), made on first read\n"
            "and kept in a disk cache that never exceeds cache_size.\n"
            "\n"
            "SOURCE: an http://, https:// or file:// URL or a local path of a .txt, .jsonl or\n"
            ".ndjson file, or of one compressed as .zst or .gz (.json.zst / .json.gz: JSON\n"
            "lines), or of a .parquet file (column text_field); a local directory (every such file below it, by path); @LIST, a local\n"
            "file or URL naming one source per line; or a Hugging Face dataset,\n"
            "hf://datasets/OWNER/NAME[@REVISION]/PATH_OR_GLOB ('*' within a directory, '**'\n"
            "across them; HF_TOKEN and HF_ENDPOINT from the environment); or an S3 bucket,\n"
            "s3://BUCKET/PREFIX_OR_GLOB (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
            "AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL from the environment).\n"
            "\n"
            "  -f                  stay in the foreground (log to stderr)\n"
            "  -d                  foreground with FUSE debug output\n"
            "  -o OPT[,OPT...]     options:\n"
            "%s"
            "  read_ahead_kb=N     kernel read-ahead for the mount in KiB, set when root (default %u;\n"
            "                      0: leave the kernel's, 128)\n"
            "  passthrough=auto|0|1  the kernel reads cached shards straight from the cache files\n"
            "                      (FUSE passthrough: Linux >= 6.9, root). auto (default): when\n"
            "                      the kernel and privileges allow; 1: the same, warning if not; 0: off\n"
            "  also accepted: the generic mount options ro, rw (mounted read-only anyway), dev,\n"
            "  nodev, suid, nosuid, exec, noexec, atime, noatime, relatime, async, sync, auto,\n"
            "  noauto, user, nouser, _netdev, nofail, defaults; and the FUSE options allow_other,\n"
            "  allow_root, default_permissions, auto_unmount, fsname=, subtype=.\n"
            "\n"
            "Unmount with: fusermount3 -u MOUNTPOINT\n",
            tokfs_options_help, TOKFS_READ_AHEAD_KB);
}

/* Mount options that only make sense to mount(8): accepted and ignored (the mount is always
 * read-only, nodev and nosuid as FUSE makes it). */
static int is_ignored_mount_option(const char *key)
{
    static const char *const names[] = {
        "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
        "nodiratime", "relatime", "strictatime", "async", "sync", "dirsync", "auto", "noauto",
        "user", "nouser", "users", "_netdev", "nofail", "defaults", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(key, names[i]) == 0)
            return 1;
    return 0;
}

/* FUSE options handed through to libfuse as they are. */
static int is_fuse_option(const char *key)
{
    static const char *const names[] = {"allow_other", "allow_root", "default_permissions",
                                        "auto_unmount", "fsname", "subtype", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(key, names[i]) == 0)
            return 1;
    return 0;
}

typedef struct cmdline {
    const char *positional[2];
    int npositional;
    int show_help, show_version;
    unsigned read_ahead_kb;
    int read_ahead_given; /* read_ahead_kb= was on the command line (not the default) */
    int passthrough;      /* passthrough=: PASSTHROUGH_AUTO (the default), 0 or 1 */
    char fuse_opts[4096]; /* comma-separated options for libfuse */
} cmdline;

/* read_ahead_kb=N: a property of the mount, not of the corpus or the cache, so main.c keeps it
 * (docs/performance.md, "Warm path"). */
static int set_read_ahead(cmdline *cl, const char *value, tokfs_err *err)
{
    char *end;
    errno = 0;
    unsigned long kb = value && *value ? strtoul(value, &end, 10) : 0;
    if (!value || !*value || *end || errno || kb > 1048576 || value[0] == '-')
        return tokfs_err_set(err, EINVAL,
                             "bad read_ahead_kb=%s: give KiB 0..1048576 (0: the kernel's)",
                             value ? value : "");
    cl->read_ahead_kb = (unsigned)kb;
    cl->read_ahead_given = 1;
    return 0;
}

/* passthrough=auto|0|1: like read_ahead_kb, a property of the mount (how the kernel reads), not
 * of the corpus or the cache (docs/performance.md, "Warm path"). */
enum { PASSTHROUGH_AUTO = -1 };
static int set_passthrough(cmdline *cl, const char *value, tokfs_err *err)
{
    if (value && strcmp(value, "auto") == 0)
        cl->passthrough = PASSTHROUGH_AUTO;
    else if (value && (strcmp(value, "0") == 0 || strcmp(value, "1") == 0))
        cl->passthrough = value[0] == '1';
    else
        return tokfs_err_set(err, EINVAL, "bad passthrough=%s: give auto, 0 or 1",
                             value ? value : "");
    return 0;
}

static int apply_option_list(tokfs_config *cfg, cmdline *cl, const char *list, tokfs_err *err)
{
    char *copy = strdup(list);
    if (!copy)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt && rc == 0; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = '\0';
        const char *value = eq ? eq + 1 : NULL;
        if (strcmp(opt, "read_ahead_kb") == 0) {
            rc = set_read_ahead(cl, value, err);
            continue;
        }
        if (strcmp(opt, "passthrough") == 0) {
            rc = set_passthrough(cl, value, err);
            continue;
        }
        rc = tokfs_config_set(cfg, opt, value, err);
        if (rc != -ENOENT)
            continue;
        rc = 0;
        if (is_ignored_mount_option(opt))
            continue;
        if (is_fuse_option(opt)) {
            size_t used = strlen(cl->fuse_opts);
            snprintf(cl->fuse_opts + used, sizeof cl->fuse_opts - used, ",%s%s%s", opt,
                     value ? "=" : "", value ? value : "");
            continue;
        }
        rc = tokfs_err_set(err, EINVAL, "unknown option %s: see tokfs --help for the options",
                           opt);
    }
    free(copy);
    return rc;
}

static int parse_command_line(int argc, char **argv, tokfs_config *cfg, cmdline *cl,
                              tokfs_err *err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cl->show_help = 1;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            cl->show_version = 1;
        } else if (strcmp(arg, "-f") == 0) {
            cfg->foreground = 1;
        } else if (strcmp(arg, "-d") == 0) {
            cfg->foreground = 1;
            cfg->debug = 1;
        } else if (strcmp(arg, "-o") == 0 || strncmp(arg, "-o", 2) == 0) {
            const char *list = arg[2] ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!list)
                return tokfs_err_set(err, EINVAL, "-o needs a list of options");
            int rc = apply_option_list(cfg, cl, list, err);
            if (rc)
                return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return tokfs_err_set(err, EINVAL, "unknown flag %s: see tokfs --help", arg);
        } else if (cl->npositional < 2) {
            cl->positional[cl->npositional++] = arg;
        } else {
            return tokfs_err_set(err, EINVAL,
                                 "unexpected argument %s: give SOURCE and MOUNTPOINT only", arg);
        }
    }
    return 0;
}

static int check_mountpoint(const char *given, char **out, tokfs_err *err)
{
    if (strncmp(given, "/dev/fd/", 8) == 0) { /* mount.fuse3 with drop_privileges */
        *out = strdup(given);
        return *out ? 0 : -ENOMEM;
    }
    char abs_path[PATH_MAX];
    struct stat st;
    if (!realpath(given, abs_path) || stat(abs_path, &st) != 0)
        return tokfs_err_set(err, ENOENT, "mountpoint %s does not exist: create it with mkdir -p %s",
                             given, given);
    if (!S_ISDIR(st.st_mode))
        return tokfs_err_set(err, ENOTDIR, "mountpoint %s is not a directory", given);
    DIR *dir = opendir(abs_path);
    if (!dir)
        return tokfs_err_set(err, errno, "cannot open mountpoint %s: %s", given, strerror(errno));
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    closedir(dir);
    if (!empty)
        return tokfs_err_set(err, ENOTEMPTY,
                             "mountpoint %s is not empty (or is already mounted): pick an empty "
                             "directory, or unmount it with fusermount3 -u %s",
                             given, given);
    *out = strdup(abs_path);
    return *out ? 0 : -ENOMEM;
}

/* The "MAJOR:MINOR" of the tokfs mount at mountpoint, from /proc/self/mountinfo (the newest
 * such mount). Asking the mount itself (stat) would wait for the daemon, which does not serve
 * yet. 0 or a negative errno. */
static int mount_dev(const char *mountpoint, char *dev, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -errno;
    char line[8192];
    int rc = -ENOENT;
    while (fgets(line, sizeof line, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPEROPTIONS */
        char majmin[64], point[PATH_MAX], unescaped[PATH_MAX];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %63s %*s %4095s", majmin, point) != 2 ||
            strncmp(sep + 3, "fuse.tokfs ", 11) != 0)
            continue;
        /* mountinfo writes space, tab, newline and backslash as \ooo */
        size_t o = 0;
        for (const char *p = point; *p && o + 1 < sizeof unescaped; p++) {
            if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                p[3] >= '0' && p[3] <= '7') {
                unescaped[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                p += 3;
            } else {
                unescaped[o++] = *p;
            }
        }
        unescaped[o] = '\0';
        if (strcmp(unescaped, mountpoint) == 0) {
            snprintf(dev, size, "%s", majmin);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Raise the kernel's read-ahead for this mount (its bdi's read_ahead_kb; FUSE starts at 128
 * KiB), before the session answers INIT. Root may; anyone else gets a log line saying how (a
 * warning when the user asked for the value, else information: the default is tried on every
 * mount). 0 if set, else a negative errno (the mount works either way). */
static int set_mount_read_ahead(const char *mountpoint, unsigned kb, int given)
{
    char dev[64], path[128];
    enum tokfs_log_level level = given ? TOKFS_LOG_WARN : TOKFS_LOG_INFO;
    int rc = mount_dev(mountpoint, dev, sizeof dev);
    if (rc) {
        tokfs_log(level, "read_ahead_kb=%u not set: the mount is not in "
                                  "/proc/self/mountinfo (%s)", kb, strerror(-rc));
        return rc;
    }
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%u\n", kb) < 0 || fflush(f) != 0) {
        rc = -errno;
        tokfs_log(level, "read_ahead_kb=%u not set (%s: %s): reads still work, with "
                  "the kernel's read-ahead; as root: echo %u > %s", kb, path, strerror(-rc), kb,
                  path);
    } else {
        tokfs_log(TOKFS_LOG_INFO, "read-ahead %u KiB (%s)", kb, path);
    }
    if (f && fclose(f) != 0 && rc == 0) {
        rc = -errno;
        tokfs_log(level, "read_ahead_kb=%u not set (%s: %s)", kb, path, strerror(-rc));
    }
    return rc;
}

/* Mount, daemonize and run the session; fs lives on this frame for the session's life. */
static int serve(tokfs_config *cfg, const cmdline *cl, tokfs_cache *cache,
                 const tokfs_tokenizer *tok)
{
    const char *fuse_opts = cl->fuse_opts;
    tokfs_fs fs = {.cache = cache, .uid = getuid(), .gid = getgid()};
    clock_gettime(CLOCK_REALTIME, &fs.mtime);
    /* The tokenizer file at the mount root: made on its first use (tokfs_fs.h). */
    if (tok->file_name && tok->file_bytes) {
        fs.tok_file_name = tok->file_name;
        fs.tok = tok;
    }
    pthread_mutex_init(&fs.tok_file_lock, NULL);
    pthread_mutex_init(&fs.docs_lock, NULL);

    if (cl->passthrough &&
        tokfs_pt_create(cache, tokfs_pt_path_is_stacked(cfg->cache_dir), cl->passthrough == 1,
                        &fs.pt) != 0) {
        fprintf(stderr, "tokfs: out of memory\n");
        return 1;
    }

    char opts[4352];
    snprintf(opts, sizeof opts, "-oro,fsname=tokfs,subtype=tokfs%s", fuse_opts);
    char *fuse_argv[4] = {"tokfs", opts, NULL, NULL};
    int fuse_argc = 2;
    if (cfg->debug)
        fuse_argv[fuse_argc++] = "-d";
    struct fuse_args args = FUSE_ARGS_INIT(fuse_argc, fuse_argv);

    struct fuse_session *se = fuse_session_new(&args, &tokfs_fs_ops, sizeof tokfs_fs_ops, &fs);
    if (!se) {
        fprintf(stderr, "tokfs: cannot start a FUSE session (bad FUSE option in -o?)\n");
        return 1;
    }
    int status = 1;
    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, "tokfs: cannot install signal handlers\n");
    } else if (fuse_session_mount(se, cfg->mountpoint) != 0) {
        fprintf(stderr, "tokfs: cannot mount at %s: is /dev/fuse available and fusermount3 "
                        "installed?\n", cfg->mountpoint);
        fuse_remove_signal_handlers(se);
    } else {
        /* Hooks on the mounted fd, before the session reads INIT. Failing, the mount works as
         * with passthrough=0 (tokfs_pt_negotiate then logs why). */
        if (fs.pt && tokfs_pt_install(fs.pt, se) != 0)
            fprintf(stderr, "tokfs: passthrough: cannot install the FUSE I/O hooks\n");
        FILE *log_out = NULL;
        if (cfg->log_file && !(log_out = fopen(cfg->log_file, "a")))
            fprintf(stderr, "tokfs: cannot open log_file %s: %s; logging to syslog\n",
                    cfg->log_file, strerror(errno));
        /* Returns in the child once it is ready; the parent exits 0 then. */
        if (fuse_daemonize(cfg->foreground) != 0) {
            fuse_session_unmount(se);
        } else {
            tokfs_log_setup(log_out ? log_out : (cfg->foreground ? stderr : NULL),
                            !log_out && !cfg->foreground, cfg->debug);
            tokfs_err err = {{0}};
            if (tokfs_cache_start(cache, &err) != 0) {
                tokfs_log(TOKFS_LOG_ERROR, "%s", err.msg);
            } else {
                tokfs_log(TOKFS_LOG_INFO, "serving %u train and %u val shards at %s",
                          tokfs_cache_train_shards(cache), tokfs_cache_val_shards(cache),
                          cfg->mountpoint);
                /* Announced to the kernel in INIT (op_init) only when it was set here. */
                if (cl->read_ahead_kb &&
                    set_mount_read_ahead(cfg->mountpoint, cl->read_ahead_kb,
                                         cl->read_ahead_given) == 0)
                    fs.read_ahead_kb = cl->read_ahead_kb;
                struct fuse_loop_config *loop = fuse_loop_cfg_create();
                fuse_loop_cfg_set_max_threads(loop, 64);
                status = fuse_session_loop_mt(se, loop) == 0 ? 0 : 1;
                fuse_loop_cfg_destroy(loop);
            }
            /* Give back the shards passthrough pins: the cache frees what it still references
             * when it closes. (The kernel keeps its own reference on each backing file until
             * the unmount below.) */
            tokfs_pt_release_pins(fs.pt);
            /* Stop the workers first: they answer parked requests before the session goes. */
            tokfs_cache_close(cache);
            cache = NULL;
            fuse_session_unmount(se);
            tokfs_log(TOKFS_LOG_INFO, "unmounted %s", cfg->mountpoint);
        }
        fuse_remove_signal_handlers(se);
        if (log_out)
            fclose(log_out);
    }
    fuse_session_destroy(se);
    fuse_opt_free_args(&args);
    tokfs_pt_destroy(fs.pt); /* after the session: its I/O hooks read it until then */
    tokfs_cache_close(cache);
    tokfs_buf_free(&fs.tok_file);
    pthread_mutex_destroy(&fs.tok_file_lock);
    pthread_mutex_destroy(&fs.docs_lock);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "encode") == 0)
        return tokfs_cmd_encode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "decode") == 0)
        return tokfs_cmd_decode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "build") == 0)
        return tokfs_cmd_build(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return tokfs_cmd_status(argc, argv);
    tokfs_config cfg;
    tokfs_err err = {{0}};
    cmdline cl = {.read_ahead_kb = TOKFS_READ_AHEAD_KB, .passthrough = PASSTHROUGH_AUTO};
    int rc = tokfs_config_init(&cfg, getenv("XDG_CACHE_HOME"), getenv("HOME"), &err);
    if (rc == 0)
        rc = tokfs_config_from_environment(&cfg, &err);
    if (rc == 0)
        rc = parse_command_line(argc, argv, &cfg, &cl, &err);
    if (rc == 0 && cl.show_help) {
        usage(stdout);
        tokfs_config_free(&cfg);
        return 0;
    }
    if (rc == 0 && cl.show_version) {
        printf("tokfs %s (libfuse %d.%d, %s)\n", TOKFS_VERSION, FUSE_MAJOR_VERSION,
               FUSE_MINOR_VERSION, curl_version());
        tokfs_config_free(&cfg);
        return 0;
    }
    if (rc == 0 && cl.npositional < 2)
        rc = tokfs_err_set(&err, EINVAL,
                           "missing %s: usage: tokfs SOURCE MOUNTPOINT -o cache_size=SIZE",
                           cl.npositional ? "MOUNTPOINT" : "SOURCE and MOUNTPOINT");
    if (rc == 0)
        rc = tokfs_config_finish(&cfg, &err);
    if (rc == 0)
        rc = tokfs_resolve_source(cl.positional[0], &cfg.source, &err);
    if (rc == 0)
        rc = check_mountpoint(cl.positional[1], &cfg.mountpoint, &err);
    if (rc) {
        fprintf(stderr, "tokfs: %s\n", err.msg[0] ? err.msg : strerror(-rc));
        tokfs_config_free(&cfg);
        return 1;
    }
    if (cfg.insecure)
        fprintf(stderr, "tokfs: WARNING: insecure: TLS certificates are NOT verified; anyone on "
                        "the network path can change the corpus\n");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    tokfs_log_setup(stderr, 0, cfg.debug);
    tokfs_tokenizer *tok = NULL;
    tokfs_cache *cache = NULL;
    char images[4096];
    tokfs_tokenizer_opts topts = {
        .name = cfg.tokenizer, .pattern = cfg.pattern, .eot = cfg.eot,
        .match_special = cfg.match_special,
        .image_dir = tokfs_config_tokenizer_cache(&cfg, images, sizeof images)};
    rc = tokfs_tokenizer_open_opts(&topts, &tok, &err);
    if (rc == 0)
        rc = tokfs_cache_open(&cfg, tok, &cache, &err);
    int status;
    if (rc) {
        fprintf(stderr, "tokfs: %s\n", err.msg[0] ? err.msg : strerror(-rc));
        status = 1;
    } else {
        status = serve(&cfg, &cl, cache, tok);
    }
    tokfs_tokenizer_close(tok);
    curl_global_cleanup();
    tokfs_config_free(&cfg);
    return status;
}
