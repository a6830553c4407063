/* tokfs — one small error type carried through every layer.
 *
 * Functions return 0 or a negative errno; when they fail they may also fill a tokfs_err with a
 * one-line, human-readable message that names the thing and, where possible, the fix. The message
 * never contains credentials (see tokfs_url_redact in source/url.h). */
#ifndef TOKFS_ERROR_H
#define TOKFS_ERROR_H

#include <stddef.h>

#define TOKFS_ERR_MSG_MAX 512

typedef struct tokfs_err {
    char msg[TOKFS_ERR_MSG_MAX]; /* "" when no message was set */
} tokfs_err;

/* Set err->msg (printf-style) and return -errnum so callers can write `return tokfs_err_set(...)`.
 * err may be NULL (the message is dropped). errnum is a positive errno value. */
int tokfs_err_set(tokfs_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear a message. */
void tokfs_err_clear(tokfs_err *err);

#endif
