/* tokfs — log lines. One sink for the whole program, chosen once by the program at start:
 * stderr (foreground), a file (log_file=), or syslog (background). */
#ifndef TOKFS_LOG_H
#define TOKFS_LOG_H

#include <stdio.h>

enum tokfs_log_level { TOKFS_LOG_ERROR, TOKFS_LOG_WARN, TOKFS_LOG_INFO, TOKFS_LOG_DEBUG };

/* file: where lines go (NULL with use_syslog = 1: syslog). verbose: also print INFO/DEBUG. */
void tokfs_log_setup(FILE *file, int use_syslog, int verbose);

void tokfs_log(enum tokfs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
