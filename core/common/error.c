/* tokfs_err: the one message that goes with a negative errno. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

int tokfs_err_set(tokfs_err *err, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -errnum;
}

void tokfs_err_clear(tokfs_err *err)
{
    if (err)
        err->msg[0] = '\0';
}
