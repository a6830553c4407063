/* tokfs — the filter= option: keep the rows whose string column COLUMN equals one of the values.
 * Parsed from "COLUMN=VALUE[|VALUE...]" (a value may be empty; no escapes). */
#ifndef TOKFS_FILTER_H
#define TOKFS_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct tokfs_filter {
    char *column;
    size_t n_values;
    char **values;        /* NUL-terminated copies */
    size_t *lens;
} tokfs_filter;

/* Parse spec into out (zeroed first). 0, -EINVAL (with a message naming the spec) or -ENOMEM. */
int tokfs_filter_parse(const char *spec, tokfs_filter *out, tokfs_err *err);
/* Free what parse allocated; f is zeroed (freeing twice is harmless). */
void tokfs_filter_free(tokfs_filter *f);
/* 1 when the len bytes at s equal one of the filter's values, else 0. */
int tokfs_filter_match(const tokfs_filter *f, const uint8_t *s, size_t len);

#endif
