/* The log: one line per event to stderr, a log file or syslog, serialized by log_lock. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <syslog.h>
#include <time.h>

static FILE *log_file;
static int log_syslog;
static int log_verbose;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void tokfs_log_setup(FILE *file, int use_syslog, int verbose)
{
    log_file = file;
    log_syslog = use_syslog;
    log_verbose = verbose;
    if (use_syslog)
        openlog("tokfs", LOG_PID, LOG_DAEMON);
}

void tokfs_log(enum tokfs_log_level level, const char *fmt, ...)
{
    if (level > TOKFS_LOG_WARN && !log_verbose && level != TOKFS_LOG_INFO)
        return;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", line);
        return;
    }
    FILE *out = log_file ? log_file : stderr;
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    pthread_mutex_lock(&log_lock);
    fprintf(out, "%s tokfs %s: %s\n", stamp, names[level], line);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}
