/* A shard set in DEST (shared.h): its identity, the names of its shards, opening DEST (the
 * directories, set.json written once or checked, the plan every task builds from). Publishing
 * shards and the manifest are publish.c's. */
#include "shared/shared_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"

uint64_t tokfs_shard_set_id(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                            const tokfs_layout *layout)
{
    uint64_t plan_id = tokfs_plan_identity(cfg);
    uint64_t id = tok->fingerprint ? tokfs_hash64(&tok->fingerprint, sizeof tok->fingerprint,
                                                  plan_id)
                                   : plan_id;
    if (tokfs_layout_is_custom(layout, tokfs_tokenizer_id_bytes(tok))) {
        char what[64];
        int n = snprintf(what, sizeof what, "layout=%s/%s/%s", tokfs_layout_format_name(layout),
                         tokfs_layout_dtype_name(layout), tokfs_layout_sep_name(layout));
        id = tokfs_hash64(what, (size_t)n, id);
    }
    return id;
}

void tokfs_shard_set_name(const tokfs_plan *plan, const tokfs_layout *layout, uint32_t i,
                          char *out, size_t size)
{
    int val = i >= plan->ntrain;
    snprintf(out, size, "%s/shard_%05u%s", val ? "val" : "train", val ? i - plan->ntrain : i,
             tokfs_layout_ext(layout));
}

int shared_publish_file(const char *tmp, const char *final, int fd, tokfs_err *err)
{
    if (fsync(fd) != 0)
        return tokfs_err_set(err, errno, "cannot sync %s: %s", tmp, strerror(errno));
    if (rename(tmp, final) != 0)
        return tokfs_err_set(err, errno, "cannot move %s to %s: %s", tmp, final, strerror(errno));
    return 0;
}

int shared_write_text(const tokfs_shard_set *s, const char *final, const char *text,
                      int exclusive, tokfs_err *err)
{
    char tmp[PATH_MAX];
    static _Atomic unsigned serial;
    if (snprintf(tmp, sizeof tmp, "%s/tmp/%ld.%u.json", s->dest, (long)getpid(), serial++) >=
        (int)sizeof tmp)
        return tokfs_err_set(err, ENAMETOOLONG, "DEST path too long: %s", s->dest);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return tokfs_err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return tokfs_err_set(err, e, "cannot write %s: %s", tmp, strerror(e));
        }
        done += (size_t)n;
    }
    int rc;
    if (exclusive) {
        /* link() fails when the name exists: the first writer wins, atomically */
        rc = fsync(fd) != 0 ? tokfs_err_set(err, errno, "cannot sync %s: %s", tmp,
                                            strerror(errno))
             : link(tmp, final) != 0 && errno != EEXIST
                 ? tokfs_err_set(err, errno, "cannot create %s: %s", final, strerror(errno))
                 : 0;
        unlink(tmp);
    } else {
        rc = shared_publish_file(tmp, final, fd, err);
        if (rc)
            unlink(tmp);
    }
    close(fd);
    return rc;
}

/* ---- set.json ---------------------------------------------------------------------------- */

static void layout_text(const tokfs_layout *l, char *out, size_t size)
{
    snprintf(out, size, "%s/%s/%s", tokfs_layout_format_name(l), tokfs_layout_dtype_name(l),
             tokfs_layout_sep_name(l));
}

static char *hex64(uint64_t v, char *buf)
{
    sprintf(buf, "%016" PRIx64, v);
    return buf;
}

static int parse_hex64(json_t *o, const char *key, uint64_t *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *end;
    if (!s || strlen(s) != 16)
        return -1;
    *out = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}

int tokfs_set_info_parse(const char *text, size_t len, const char *where, tokfs_set_info *info,
                         tokfs_err *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, 0, &jerr);
    if (!o)
        return tokfs_err_set(err, EIO, "%s is not valid JSON (line %d: %s)", where, jerr.line,
                             jerr.text);
    memset(info, 0, sizeof *info);
    const char *format = json_string_value(json_object_get(o, "format"));
    const char *tok = json_string_value(json_object_get(o, "tokenizer"));
    const char *layout = json_string_value(json_object_get(o, "layout"));
    json_int_t version = json_integer_value(json_object_get(o, "version"));
    int rc = 0;
    if (!format || strcmp(format, "tokfs-shard-set") != 0 || version != 1 || !tok || !layout ||
        parse_hex64(o, "set_id", &info->set_id) || parse_hex64(o, "plan_id", &info->plan_id) ||
        parse_hex64(o, "tokenizer_fingerprint", &info->tokenizer_fingerprint) ||
        !json_is_integer(json_object_get(o, "pieces")))
        rc = tokfs_err_set(err, EIO, "%s is not a tokfs shard set (version 1) description",
                           where);
    if (rc == 0) {
        snprintf(info->tokenizer, sizeof info->tokenizer, "%s", tok);
        snprintf(info->layout, sizeof info->layout, "%s", layout);
        info->npieces = (uint32_t)json_integer_value(json_object_get(o, "pieces"));
        info->ntrain = (uint32_t)json_integer_value(json_object_get(o, "train_pieces"));
        info->nval = (uint32_t)json_integer_value(json_object_get(o, "val_pieces"));
    }
    json_decref(o);
    return rc;
}

int shared_read_set_info(const tokfs_shard_set *s, tokfs_set_info *info, tokfs_err *err)
{
    char where[PATH_MAX], *text = NULL;
    size_t len = 0;
    store_name(s, "set.json", where, sizeof where);
    tokfs_err gerr = {{0}};
    int rc = store_get_text(s, s->own, "set.json", &text, &len, &gerr);
    if (rc == -ENOENT)
        return -ENOENT;
    if (rc)
        return tokfs_err_set(err, -rc, "%s", gerr.msg);
    rc = tokfs_set_info_parse(text, len, where, info, err);
    free(text);
    return rc;
}

void tokfs_set_info_of(const tokfs_config *cfg, const tokfs_tokenizer *tok,
                       const tokfs_layout *layout, const tokfs_plan *plan, tokfs_set_info *info)
{
    memset(info, 0, sizeof *info);
    info->set_id = tokfs_shard_set_id(cfg, tok, layout);
    info->plan_id = tokfs_plan_identity(cfg);
    info->tokenizer_fingerprint = tok->fingerprint;
    snprintf(info->tokenizer, sizeof info->tokenizer, "%s", tok->name ? tok->name : "");
    layout_text(layout, info->layout, sizeof info->layout);
    if (plan) {
        info->npieces = plan->npieces;
        info->ntrain = plan->ntrain;
        info->nval = plan->nval;
    }
}

int tokfs_set_info_compare(const tokfs_set_info *want, const tokfs_set_info *have,
                           const char *where, tokfs_err *err)
{
    char a[20], b[20];
    if (have->plan_id != want->plan_id)
        return tokfs_err_set(err, EINVAL,
                             "%s holds shards of another plan (plan %s, this one %s): another "
                             "SOURCE or other content options (shard_size, val_shards, "
                             "text_field, filter, ...)", where, hex64(have->plan_id, a),
                             hex64(want->plan_id, b));
    if (have->tokenizer_fingerprint != want->tokenizer_fingerprint)
        return tokfs_err_set(err, EINVAL,
                             "%s holds shards of another tokenizer (%s, fingerprint %s; this one "
                             "%s, %s)", where, have->tokenizer,
                             hex64(have->tokenizer_fingerprint, a), want->tokenizer,
                             hex64(want->tokenizer_fingerprint, b));
    if (strcmp(have->layout, want->layout) != 0 || have->set_id != want->set_id)
        return tokfs_err_set(err, EINVAL,
                             "%s holds shards of another layout (%s; this one %s): give the same "
                             "format=, dtype= and doc_sep=", where, have->layout, want->layout);
    return 0;
}

static char *set_json_text(const tokfs_config *cfg, const tokfs_set_info *info)
{
    char a[20], b[20], c[20];
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
                          "format", "tokfs-shard-set", "version", 1,
                          "set_id", hex64(info->set_id, a), "plan_id", hex64(info->plan_id, b),
                          "tokenizer_fingerprint", hex64(info->tokenizer_fingerprint, c),
                          "tokenizer", info->tokenizer, "layout", info->layout,
                          "pieces", (json_int_t)info->npieces,
                          "train_pieces", (json_int_t)info->ntrain,
                          "val_pieces", (json_int_t)info->nval,
                          "tokfs_version", TOKFS_VERSION);
    if (!o)
        return NULL;
    /* SOURCE for people (URLs redacted: a presigned URL's signature is a credential) */
    char redacted[1024];
    tokfs_url_redact(cfg->source, redacted, sizeof redacted);
    json_object_set_new(o, "source", json_string(redacted));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* ---- open ------------------------------------------------------------------------------------ */

static int make_dir(const char *path, tokfs_err *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return tokfs_err_set(err, errno, "cannot create %s: %s", path, strerror(errno));
}

/* A set handle for dest (nothing read or created yet): the store parsed, its own fetcher. */
static int set_new(const char *dest, const tokfs_config *cfg, const tokfs_tokenizer *tok,
                   const tokfs_layout *layout, const tokfs_plan *plan, tokfs_shard_set **out,
                   tokfs_err *err)
{
    tokfs_shard_set *s = calloc(1, sizeof *s);
    if (!s)
        return tokfs_err_set(err, ENOMEM, "out of memory");
    s->cfg = cfg;
    s->tok = tok;
    if (layout)
        s->layout = *layout;
    s->plan = plan;
    int rc = store_init(s, dest, err);
    if (rc == 0 && s->s3 && !(s->own = tokfs_shard_set_fetcher(s)))
        rc = tokfs_err_set(err, ENOMEM, "cannot start an HTTP client");
    if (rc) {
        tokfs_shard_set_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* DEST's plan.tsv into plan (checked against cfg's plan identity): 0, -ENOENT, or an error. A
 * plan in S3 is copied to a local temp file for tokfs_plan_load. */
static int load_plan(tokfs_shard_set *s, tokfs_plan *plan, uint64_t id, tokfs_err *err)
{
    if (!s->s3) {
        char path[PATH_MAX];
        store_name(s, "plan.tsv", path, sizeof path);
        return tokfs_plan_load(plan, path, id, err);
    }
    char *text = NULL, tmp[PATH_MAX];
    size_t len = 0;
    int rc = store_get_text(s, s->own, "plan.tsv", &text, &len, err);
    if (rc)
        return rc;
    int fd = store_stage(s, "plan", tmp, sizeof tmp, err);
    if (fd < 0) {
        free(text);
        return fd;
    }
    rc = write(fd, text, len) == (ssize_t)len ? 0 : tokfs_err_set(err, EIO, "cannot write %s",
                                                                   tmp);
    close(fd);
    free(text);
    if (rc == 0)
        rc = tokfs_plan_load(plan, tmp, id, err);
    unlink(tmp);
    return rc;
}

int tokfs_shard_set_load_plan(const char *dest, const tokfs_config *cfg, tokfs_plan *plan,
                              tokfs_err *err)
{
    tokfs_shard_set *s = NULL;
    int rc = set_new(dest, cfg, NULL, NULL, NULL, &s, err);
    if (rc)
        return rc;
    rc = load_plan(s, plan, tokfs_plan_identity(cfg), err);
    tokfs_shard_set_close(s);
    return rc;
}

/* plan's text as tokfs_plan_save writes it (malloc'd), through a temp file. */
static char *plan_text(tokfs_shard_set *s, const tokfs_plan *plan, tokfs_err *err)
{
    char tmp[PATH_MAX];
    int fd = store_stage(s, "plan", tmp, sizeof tmp, err);
    if (fd < 0)
        return NULL;
    close(fd);
    char *text = NULL;
    if (tokfs_plan_save(plan, tmp, err) == 0) {
        FILE *in = fopen(tmp, "rb");
        long n = -1;
        if (in && fseek(in, 0, SEEK_END) == 0 && (n = ftell(in)) >= 0 &&
            fseek(in, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) &&
            fread(text, 1, (size_t)n, in) == (size_t)n) {
            text[n] = '\0';
        } else {
            free(text);
            text = NULL;
            tokfs_err_set(err, EIO, "cannot read back %s", tmp);
        }
        if (in)
            fclose(in);
    }
    unlink(tmp);
    return text;
}

int tokfs_shard_set_open(const char *dest, const tokfs_config *cfg, const tokfs_tokenizer *tok,
                         const tokfs_layout *layout, tokfs_plan *plan, tokfs_shard_set **out,
                         tokfs_err *err)
{
    tokfs_shard_set *s = NULL;
    int rc = set_new(dest, cfg, tok, layout, plan, &s, err);
    if (rc)
        return rc;
    char path[PATH_MAX];
    const char *subdirs[] = {"", "/shards", "/records", "/tmp"};
    for (size_t k = 0; rc == 0 && !s->s3 && k < sizeof subdirs / sizeof subdirs[0]; k++) {
        snprintf(path, sizeof path, "%s%s", s->dest, subdirs[k]);
        rc = make_dir(path, err);
    }

    /* set.json: the first task writes it; every later one must build the same set */
    tokfs_set_info want, have;
    tokfs_set_info_of(cfg, tok, layout, plan, &want);
    if (rc == 0) {
        char *text = set_json_text(cfg, &want);
        rc = text ? store_put_text(s, s->own, "set.json", text, 1, err)
                  : tokfs_err_set(err, ENOMEM, "out of memory");
        free(text);
    }
    if (rc == 0 && (rc = shared_read_set_info(s, &have, err)) == -ENOENT)
        rc = tokfs_err_set(err, EIO, "%s: set.json vanished after it was written", dest);
    if (rc == 0)
        rc = tokfs_set_info_compare(&want, &have, dest, err);

    /* plan.tsv: the first task's plan is everyone's (the listing could change between tasks) */
    tokfs_plan theirs;
    if (rc == 0 && (rc = load_plan(s, &theirs, plan->id, err)) == -ENOENT) {
        tokfs_err_clear(err);
        char *text = plan_text(s, plan, err);
        rc = text ? store_put_text(s, s->own, "plan.tsv", text, 1, err) : -EIO;
        free(text);
        if (rc == 0)
            rc = load_plan(s, &theirs, plan->id, err);
    }
    if (rc == 0) {
        if (theirs.npieces != want.npieces || theirs.ntrain != want.ntrain)
            tokfs_log(TOKFS_LOG_WARN, "%s: building its plan (%u pieces), not this listing's "
                                      "(%u): the sources changed since it was made",
                      dest, theirs.npieces, want.npieces);
        tokfs_plan_free(plan);
        *plan = theirs;
    }
    if (rc) {
        tokfs_shard_set_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tokfs_shard_set_close(tokfs_shard_set *s)
{
    if (!s)
        return;
    tokfs_fetcher_free(s->own);
    free(s);
}
