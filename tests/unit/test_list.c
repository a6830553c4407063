/* Unit tests for core/source/list.c without network: @LIST text (comments, blanks, trimming,
 * entries taken as they are, relative entries joined to a local list's directory or resolved
 * against a list's URL, refusals naming the entry without its secrets), and tokfs_list_source
 * on a temp dir: one file, a directory walk (path order, hidden entries and other formats left
 * out), a local @LIST, and the errors (no such SOURCE, an empty directory, an empty list).
 * tests/integration covers lists read over HTTP and the hub (test_hf.sh). */
#include "check.h"
#include "common/config.h"
#include "source/list.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parse text as a list at `list` and compare with want (NULL-terminated). */
static void parses_to(const char *text, const char *list, const char *const *want)
{
    tokfs_listing l;
    tokfs_err err = {{0}};
    int rc = tokfs_list_parse(text, list, &l, &err);
    if (rc != 0) {
        fprintf(stderr, "list at %s: %d (%s)\n", list, rc, err.msg);
        check_failures++;
        return;
    }
    size_t n = 0;
    while (want[n])
        n++;
    CHECK_EQ_INT(l.count, n);
    CHECK(l.sizes == NULL);
    for (size_t i = 0; i < n && i < l.count; i++) {
        if (strcmp(l.names[i], want[i]) != 0) {
            fprintf(stderr, "list at %s: entry %zu is %s, want %s\n", list, i, l.names[i], want[i]);
            check_failures++;
        }
    }
    tokfs_listing_free(&l);
}

static void refused(const char *text, const char *list, int want_rc, const char *msg_part)
{
    tokfs_listing l;
    tokfs_err err = {{0}};
    int rc = tokfs_list_parse(text, list, &l, &err);
    CHECK_EQ_INT(rc, want_rc);
    CHECK(l.names == NULL && l.count == 0);
    if (!strstr(err.msg, msg_part)) {
        fprintf(stderr, "list at %s: message \"%s\" lacks \"%s\"\n", list, err.msg, msg_part);
        check_failures++;
    }
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK(strstr(err.msg, "secret") == NULL);
    if (rc == 0)
        tokfs_listing_free(&l);
}

static void test_parse(void)
{
    const char *text = "# a comment\n"
                       "\n"
                       "  a.jsonl \r\n"
                       "\tsub/b.txt\n"
                       "/abs/c.jsonl\n"
                       "https://o/d.jsonl?token=x\n"
                       "file:///e.jsonl\n"
                       "../f.jsonl\n"
                       "   # indented comment\n"
                       "g:h.jsonl"; /* no newline at the end */
    parses_to(text, "/data/lists/list.txt",
              (const char *const[]){"/data/lists/a.jsonl", "/data/lists/sub/b.txt",
                                    "/abs/c.jsonl", "https://o/d.jsonl?token=x",
                                    "file:///e.jsonl", "/data/lists/../f.jsonl",
                                    "/data/lists/g:h.jsonl", NULL});
    parses_to(text, "list.txt", /* no directory: the current one */
              (const char *const[]){"./a.jsonl", "./sub/b.txt", "/abs/c.jsonl",
                                    "https://o/d.jsonl?token=x", "file:///e.jsonl",
                                    "./../f.jsonl", "./g:h.jsonl", NULL});
    parses_to(text, "/list.txt",
              (const char *const[]){"/a.jsonl", "/sub/b.txt", "/abs/c.jsonl",
                                    "https://o/d.jsonl?token=x", "file:///e.jsonl", "/../f.jsonl",
                                    "/g:h.jsonl", NULL});
    /* a list read from a URL: relative entries are relative to that URL */
    parses_to(text, "http://h:8080/lists/list.txt?v=2",
              (const char *const[]){"http://h:8080/lists/a.jsonl", "http://h:8080/lists/sub/b.txt",
                                    "/abs/c.jsonl", "https://o/d.jsonl?token=x",
                                    "file:///e.jsonl", "http://h:8080/f.jsonl",
                                    "http://h:8080/lists/g:h.jsonl", NULL});
    parses_to("a.jsonl\nsub dir/b.jsonl\n", "http://h",
              (const char *const[]){"http://h/a.jsonl", "http://h/sub%20dir/b.jsonl", NULL});
    parses_to("a.jsonl\n", "file:///data/list.txt",
              (const char *const[]){"file:///data/a.jsonl", NULL});
    parses_to("# nothing\n\n   \n", "/l", (const char *const[]){NULL});
    parses_to("", "/l", (const char *const[]){NULL});

    refused("ok.jsonl\na\tb.jsonl\n", "/l", -EINVAL, "list entry contains a tab");
    refused("https://u:secret@h/a\tb\n", "/l", -EINVAL, "https://***@h/a");
    char long_line[PATH_MAX + 16];
    memset(long_line, 'x', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    refused(long_line, "/l", -ENAMETOOLONG, "list entry too long: xxx");
    refused("a\x01z.jsonl\n", "https://u:secret@h/l.txt", -EINVAL, "list entry a\x01z.jsonl: ");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int list_source(const char *source, tokfs_fetcher *fetcher, tokfs_listing *l,
                       tokfs_err *err)
{
    tokfs_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.source = (char *)source;
    return tokfs_list_source(&cfg, fetcher, l, err);
}

static void test_source(void)
{
    char dir[] = "/tmp/tokfs-test-list-XXXXXX", path[PATH_MAX + 64], src[PATH_MAX + 64];
    CHECK(mkdtemp(dir) != NULL);
    if (check_failures)
        return;
    const char *files[] = {"b.jsonl", "a/z.txt", "a/y.parquet", "a/.hidden.jsonl", "c.csv",
                           ".dot/x.jsonl", "a/deep/x.jsonl.zst", "empty/"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            mkdir(path, 0700);
            *s = '/';
        }
        if (path[strlen(path) - 1] != '/')
            write_file(path, "x");
    }
    tokfs_fetcher *fetcher = tokfs_fetcher_new(NULL);
    tokfs_listing l;
    tokfs_err err = {{0}};

    /* a directory: the files tokfs reads, hidden ones left out, in path order */
    CHECK_EQ_INT(list_source(dir, fetcher, &l, &err), 0);
    const char *walk[] = {"a/deep/x.jsonl.zst", "a/y.parquet", "a/z.txt", "b.jsonl"};
    CHECK_EQ_INT(l.count, 4);
    for (size_t i = 0; i < 4 && i < l.count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, walk[i]);
        CHECK(strcmp(l.names[i], path) == 0);
    }
    CHECK(l.sizes == NULL);
    tokfs_listing_free(&l);

    /* one file (even of a format tokfs does not read: the plan says so), one URL */
    snprintf(src, sizeof src, "%s/c.csv", dir);
    CHECK_EQ_INT(list_source(src, fetcher, &l, &err), 0);
    CHECK(l.count == 1 && strcmp(l.names[0], src) == 0);
    tokfs_listing_free(&l);
    CHECK_EQ_INT(list_source("https://h/x.jsonl", fetcher, &l, &err), 0);
    CHECK(l.count == 1 && strcmp(l.names[0], "https://h/x.jsonl") == 0);
    tokfs_listing_free(&l);

    /* a local @LIST */
    snprintf(path, sizeof path, "%s/a/list.txt", dir);
    write_file(path, "# corpus\nz.txt\n../b.jsonl\nhttps://h/x.jsonl\n");
    snprintf(src, sizeof src, "@%s", path);
    CHECK_EQ_INT(list_source(src, fetcher, &l, &err), 0);
    CHECK_EQ_INT(l.count, 3);
    if (l.count == 3) {
        snprintf(path, sizeof path, "%s/a/z.txt", dir);
        CHECK(strcmp(l.names[0], path) == 0);
        snprintf(path, sizeof path, "%s/a/../b.jsonl", dir);
        CHECK(strcmp(l.names[1], path) == 0);
        CHECK(strcmp(l.names[2], "https://h/x.jsonl") == 0);
    }
    tokfs_listing_free(&l);

    /* errors name what is wrong */
    snprintf(path, sizeof path, "%s/a/empty-list.txt", dir);
    write_file(path, "# nothing yet\n");
    snprintf(src, sizeof src, "@%s", path);
    CHECK_EQ_INT(list_source(src, fetcher, &l, &err), -ENOENT);
    CHECK(strstr(err.msg, "names no sources") && strstr(err.msg, path));
    CHECK(l.names == NULL && l.count == 0);
    snprintf(src, sizeof src, "@%s/no-list.txt", dir);
    CHECK(list_source(src, fetcher, &l, &err) < 0);
    CHECK(strstr(err.msg, "no-list.txt") != NULL);
    snprintf(src, sizeof src, "%s/empty", dir);
    CHECK_EQ_INT(list_source(src, fetcher, &l, &err), -ENOENT);
    CHECK(strstr(err.msg, "point SOURCE at a corpus") && strstr(err.msg, src));
    snprintf(src, sizeof src, "%s/missing", dir);
    CHECK_EQ_INT(list_source(src, fetcher, &l, &err), -ENOENT);
    CHECK(strstr(err.msg, "cannot open SOURCE") && strstr(err.msg, src));
    CHECK(l.names == NULL && l.count == 0);

    tokfs_fetcher_free(fetcher);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_parse();
    test_source();
    CHECK_DONE();
}
