/*
 * The event log: one line per event, written with a single write(2) so lines from
 * concurrent processes never interleave.  The role and threshold are the only
 * process-wide state outside the master's and a worker's context: every module logs,
 * and threading a logger through every call would buy nothing.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/log.h"

static char log_role[32] = "tesserad";
static enum shm_log_level log_threshold = SHM_LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void shm_log_setup(const char *role, enum shm_log_level level)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
    log_threshold = level;
}

enum shm_log_level shm_log_current_level(void)
{
    return log_threshold;
}

int shm_log_level_parse(const char *name, enum shm_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (enum shm_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void shm_log_write(enum shm_log_level level, const char *module, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if (level < log_threshold)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%ld] %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 log_names[level], log_role, (long)getpid(), module);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* A failed log write has nowhere better to be reported. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
