/* The filter= option's value: "COLUMN=VALUE[|VALUE...]", parsed once with the options and
 * matched by the Parquet reader against each row's COLUMN value. It lives in common/ because it
 * is option syntax: config.c checks it when the option is set, plan/ and build/ hand it to
 * decode/. */
#include "common/filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tokfs_filter_free(tokfs_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_values; i++)
        free(f->values[i]);
    free(f->values);
    free(f->lens);
    free(f->column);
    memset(f, 0, sizeof *f);
}

int tokfs_filter_parse(const char *spec, tokfs_filter *out, tokfs_err *err)
{
    memset(out, 0, sizeof *out);
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!eq || eq == spec)
        return tokfs_err_set(err, EINVAL,
                             "filter: expected COLUMN=VALUE[|VALUE...], got '%s'",
                             spec ? spec : "");
    size_t n = 1;
    for (const char *p = eq + 1; *p; p++)
        n += *p == '|';
    out->column = strndup(spec, (size_t)(eq - spec));
    out->values = calloc(n, sizeof *out->values);
    out->lens = calloc(n, sizeof *out->lens);
    if (!out->column || !out->values || !out->lens) {
        tokfs_filter_free(out);
        return tokfs_err_set(err, ENOMEM, "filter: out of memory");
    }
    const char *p = eq + 1;
    for (size_t i = 0; i < n; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        out->values[i] = strndup(p, len);
        out->lens[i] = len;
        out->n_values = i + 1;
        if (!out->values[i]) {
            tokfs_filter_free(out);
            return tokfs_err_set(err, ENOMEM, "filter: out of memory");
        }
        p += len + 1;
    }
    return 0;
}

int tokfs_filter_match(const tokfs_filter *f, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < f->n_values; i++)
        if (f->lens[i] == len && memcmp(f->values[i], s, len) == 0)
            return 1;
    return 0;
}
