/* Unit tests for core/shared/ (the shard set in DEST) on local files, without FUSE: a corpus of
 * JSONL files planned with tokenizer=bytes; the set opened in a temp DEST (directories,
 * set.json, the plan saved once and taken by a second opener); every shard built and found again
 * (record and checksum read back); a damaged shard, a record that disagrees, a torn record and a
 * missing file are not "in DEST"; the manifest counts what is there and says when it is
 * complete; a DEST of another plan, tokenizer or layout is refused naming what differs; the set
 * identity changes with the layout only when it is not the original one. */
#include "check.h"
#include "common/config.h"
#include "shared/shared.h"
#include "source/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void make_corpus(const char *dir)
{
    char path[256];
    for (int f = 0; f < 3; f++) {
        snprintf(path, sizeof path, "%s/part-%d.jsonl", dir, f);
        FILE *out = fopen(path, "w");
        CHECK(out != NULL);
        for (int d = 0; out && d < 200; d++)
            fprintf(out, "{\"text\": \"file %d document %d: %s\"}\n", f, d,
                    "some words to make the shards a little longer than nothing");
        if (out)
            fclose(out);
    }
}

static void config(tokfs_config *cfg, const char *source)
{
    tokfs_err err = {{0}};
    CHECK_EQ_INT(tokfs_config_init(cfg, NULL, "/h", &err), 0);
    CHECK_EQ_INT(tokfs_config_set(cfg, "tokenizer", "bytes", &err), 0);
    CHECK_EQ_INT(tokfs_config_set(cfg, "shard_size", "6000", &err), 0);
    cfg->source = strdup(source);
    cfg->workers = 1;
}

static int json_int(const char *path, const char *key)
{
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    int v = o ? (int)json_integer_value(json_object_get(o, key)) : -1;
    json_decref(o);
    return v;
}

static int json_is_true_at(const char *path, const char *key)
{
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    int v = o ? json_is_true(json_object_get(o, key)) : -1;
    json_decref(o);
    return v;
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/tokfs-test-shared.XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    char corpus[128], dest[128], path[256];
    snprintf(corpus, sizeof corpus, "%s/corpus", root);
    snprintf(dest, sizeof dest, "%s/dest", root);
    CHECK(mkdir(corpus, 0755) == 0 && mkdir(dest, 0755) == 0);
    make_corpus(corpus);

    tokfs_config cfg;
    config(&cfg, corpus);
    tokfs_err err = {{0}};
    tokfs_tokenizer *tok = NULL;
    CHECK_EQ_INT(tokfs_tokenizer_open("bytes", NULL, NULL, &tok, &err), 0);
    tokfs_layout layout;
    CHECK_EQ_INT(tokfs_layout_resolve(&cfg, tok, &layout, &err), 0);
    tokfs_fetcher *fetcher = tokfs_fetcher_new(NULL); /* local files only */

    /* nothing in DEST yet */
    tokfs_plan loaded;
    CHECK_EQ_INT(tokfs_shard_set_load_plan(dest, &cfg, &loaded, &err), -ENOENT);

    tokfs_plan plan;
    CHECK_EQ_INT(tokfs_plan_build(&cfg, tok->bytes_per_token, fetcher, &plan, &err), 0);
    CHECK(plan.npieces >= 4);
    tokfs_shard_set *set = NULL;
    CHECK_EQ_INT(tokfs_shard_set_open(dest, &cfg, tok, &layout, &plan, &set, &err), 0);
    if (!set) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    const char *made[] = {"set.json", "plan.tsv", "shards", "records", "tmp"};
    for (size_t k = 0; k < sizeof made / sizeof made[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dest, made[k]);
        CHECK(access(path, F_OK) == 0);
    }

    /* every shard built, then found again with its record */
    uint64_t total = 0;
    for (uint32_t i = 0; i < plan.npieces; i++) {
        tokfs_set_record rec;
        CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, i, &rec), 0);
        tokfs_build_stats stats;
        CHECK_EQ_INT(tokfs_shard_set_build(set, i, fetcher, NULL, &stats, &err), 0);
        CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, i, &rec), 1);
        CHECK(rec.tokens == stats.tokens && rec.checksum == stats.checksum);
        CHECK(rec.bytes == stats.tokens * 2 && rec.index_bytes == 0);
        total += rec.tokens;
    }
    uint32_t present = 0;
    CHECK_EQ_INT(tokfs_shard_set_write_manifest(set, &present, &err), 0);
    CHECK_EQ_INT(present, plan.npieces);
    snprintf(path, sizeof path, "%s/manifest.json", dest);
    CHECK_EQ_INT(json_is_true_at(path, "complete"), 1);
    CHECK_EQ_INT(json_int(path, "tokens_present"), (int)total);
    CHECK_EQ_INT(json_int(path, "pieces"), (int)plan.npieces);

    /* a damaged shard (same size, other bytes) is not in DEST */
    tokfs_set_record rec;
    snprintf(path, sizeof path, "%s/shards/000001.bin", dest);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "XY", 2, 4) == 2);
    close(fd);
    CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, 1, &rec), 0);
    /* a torn record, a record whose size does not fit its count, a missing file */
    snprintf(path, sizeof path, "%s/records/000002.json", dest);
    write_file(path, "{\"index\": 2, \"tokens\": ");
    CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, 2, &rec), 0);
    snprintf(path, sizeof path, "%s/records/000003.json", dest);
    write_file(path, "{\"index\": 3, \"tokens\": 10, \"bytes\": 21, \"index_bytes\": 0, "
                     "\"checksum\": \"0000000000000000\"}");
    CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, 3, &rec), 0);
    snprintf(path, sizeof path, "%s/shards/000000.bin", dest);
    CHECK(unlink(path) == 0);
    CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, 0, &rec), 0);
    CHECK_EQ_INT(tokfs_shard_set_write_manifest(set, &present, &err), 0);
    CHECK_EQ_INT(present, plan.npieces - 2); /* records 2 and 3 are unreadable */
    snprintf(path, sizeof path, "%s/manifest.json", dest);
    CHECK_EQ_INT(json_is_true_at(path, "complete"), 0);
    /* made again, all are back */
    for (uint32_t i = 0; i < 4; i++) {
        tokfs_build_stats stats;
        if (!tokfs_shard_set_has(set, NULL, i, &rec))
            CHECK_EQ_INT(tokfs_shard_set_build(set, i, fetcher, NULL, &stats, &err), 0);
        CHECK_EQ_INT(tokfs_shard_set_has(set, NULL, i, &rec), 1);
    }
    tokfs_shard_set_close(set);

    /* the read side: a mount attaches, learns every record, copies a shard out, and publishes */
    tokfs_shard_set *att = NULL;
    CHECK_EQ_INT(tokfs_shard_set_attach(dest, &cfg, tok, &layout, &plan, &att, &err), 0);
    if (att) {
        tokfs_set_record *recs = calloc(plan.npieces, sizeof *recs);
        uint8_t *present_v = calloc(plan.npieces, 1);
        CHECK_EQ_INT(tokfs_shard_set_records(att, recs, present_v), (int)plan.npieces);
        char tmpl[128];
        snprintf(tmpl, sizeof tmpl, "%s/copyXXXXXX", root);
        int cfd = mkstemp(tmpl);
        tokfs_build_output out = {.fd = cfd};
        CHECK_EQ_INT(tokfs_shard_set_copy(att, NULL, 1, &recs[1], &out, &err), 0);
        snprintf(path, sizeof path, "%s/shards/000001.bin", dest);
        FILE *a = fopen(path, "rb"), *b = fopen(tmpl, "rb");
        static char ba[1 << 16], bb[1 << 16];
        size_t na = a ? fread(ba, 1, sizeof ba, a) : 0, nb = b ? fread(bb, 1, sizeof bb, b) : 1;
        CHECK_MEM(ba, na, bb, nb);
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        /* a shard in DEST that fails its checksum is not copied */
        fd = open(path, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "Z", 1, 7) == 1);
        close(fd);
        CHECK(ftruncate(cfd, 0) == 0);
        CHECK_EQ_INT(tokfs_shard_set_copy(att, NULL, 1, &recs[1], &out, &err), -EIO);
        CHECK(strstr(err.msg, "fails its checksum"));
        /* published again from a good copy (what shared_write does with a shard it made) */
        CHECK(unlink(path) == 0);
        snprintf(path, sizeof path, "%s/records/000001.json", dest);
        CHECK(unlink(path) == 0);
        CHECK_EQ_INT(tokfs_shard_set_records(att, recs, present_v), (int)plan.npieces - 1);
        CHECK(ftruncate(cfd, 0) == 0);
        out.fd = cfd;
        CHECK_EQ_INT(tokfs_shard_set_copy(att, NULL, 2, &recs[2], &out, &err), 0);
        CHECK_EQ_INT(tokfs_shard_set_publish_fd(att, NULL, 1, cfd, &recs[2], &err), 0);
        close(cfd);
        tokfs_set_record back;
        CHECK_EQ_INT(tokfs_shard_set_has(att, NULL, 1, &back), 1); /* shard 2's bytes, as recorded */
        CHECK(back.checksum == recs[2].checksum);
        free(recs);
        free(present_v);
        tokfs_shard_set_close(att);
    }

    /* a second opener takes DEST's plan */
    tokfs_plan again;
    CHECK_EQ_INT(tokfs_shard_set_load_plan(dest, &cfg, &again, &err), 0);
    CHECK_EQ_INT(again.npieces, plan.npieces);
    tokfs_plan_free(&again);

    /* another plan, another layout: refused, saying what differs */
    tokfs_config other;
    config(&other, corpus);
    CHECK_EQ_INT(tokfs_config_set(&other, "shard_size", "7000", &err), 0);
    tokfs_plan p2;
    CHECK_EQ_INT(tokfs_plan_build(&other, tok->bytes_per_token, fetcher, &p2, &err), 0);
    CHECK_EQ_INT(tokfs_shard_set_open(dest, &other, tok, &layout, &p2, &set, &err), -EINVAL);
    CHECK(strstr(err.msg, "another plan") && strstr(err.msg, dest));
    CHECK_EQ_INT(tokfs_shard_set_attach(dest, &other, tok, &layout, &p2, &att, &err), -EINVAL);
    CHECK(strstr(err.msg, "another plan"));
    tokfs_plan_free(&p2);
    tokfs_config_free(&other);

    config(&other, corpus);
    CHECK_EQ_INT(tokfs_config_set(&other, "format", "llmc", &err), 0);
    tokfs_layout llmc;
    CHECK_EQ_INT(tokfs_layout_resolve(&other, tok, &llmc, &err), 0);
    CHECK(tokfs_shard_set_id(&other, tok, &llmc) != tokfs_shard_set_id(&cfg, tok, &layout));
    CHECK_EQ_INT(tokfs_plan_build(&other, tok->bytes_per_token, fetcher, &p2, &err), 0);
    CHECK_EQ_INT(tokfs_shard_set_open(dest, &other, tok, &llmc, &p2, &set, &err), -EINVAL);
    CHECK(strstr(err.msg, "another layout") && strstr(err.msg, "llmc"));
    tokfs_plan_free(&p2);
    tokfs_config_free(&other);

    /* names as the mount shows them */
    char name[64];
    tokfs_shard_set_name(&plan, &layout, 0, name, sizeof name);
    CHECK(strcmp(name, "train/shard_00000.bin") == 0);
    tokfs_shard_set_name(&plan, &layout, plan.ntrain, name, sizeof name);
    CHECK(strcmp(name, "val/shard_00000.bin") == 0);

    tokfs_plan_free(&plan);
    tokfs_fetcher_free(fetcher);
    tokfs_tokenizer_close(tok);
    tokfs_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    CHECK_DONE();
}
