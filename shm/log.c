/*
 * The event log: one line per event, written with a single write(2) so lines from
 * concurrent processes never interleave.  The logger's state (role, threshold, the
 * repeat counters) is one struct private to this file, per process: every module logs,
 * and threading a logger through every call would buy nothing.
 *
 * Repeats are limited per format site (the format string's address): a site writes at
 * most SHM_LOG_SITE_BURST lines a second; the rest are counted, not formatted, and one
 * summary line "(N similar lines suppressed: "<format>")" follows once that second is
 * over — at the site's next line, at any later line, or at shm_log_flush().  A loop that
 * fails the same way on every turn (accept4 at EMFILE) cannot flood the disk.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/log.h"

#define LOG_SITES 64 /* direct-mapped by format address; a collision only restarts a count */

struct log_site {
    const char *fmt; /* NULL: unused */
    const char *module;
    enum shm_log_level level;
    int64_t sec;         /* the second `lines` counts in (monotonic) */
    uint32_t lines;      /* written in that second */
    uint64_t suppressed; /* counted, not written, since the site's last summary */
};

static struct {
    char role[32];
    enum shm_log_level threshold;
    struct log_site sites[LOG_SITES];
    unsigned pending;    /* sites with suppressed lines not yet summarised */
    int64_t scanned_sec; /* the last second pending sites were looked at */
} log_ctx = {.role = "tesserad", .threshold = SHM_LOG_INFO};

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void shm_log_setup(const char *role, enum shm_log_level level)
{
    snprintf(log_ctx.role, sizeof(log_ctx.role), "%s", role);
    log_ctx.threshold = level;
}

enum shm_log_level shm_log_current_level(void)
{
    return log_ctx.threshold;
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

static void log_vemit(enum shm_log_level level, const char *module, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    int n, m;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%ld] %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 log_names[level], log_ctx.role, (long)getpid(), module);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
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

static void log_emit(enum shm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void log_emit(enum shm_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(level, module, fmt, ap);
    va_end(ap);
}

/* Writes the summary of what site s suppressed, if anything. */
static void log_summarise(struct log_site *s)
{
    if (s->suppressed == 0)
        return;
    log_emit(s->level, s->module, "(%llu similar lines suppressed: \"%s\")",
             (unsigned long long)s->suppressed, s->fmt);
    s->suppressed = 0;
    log_ctx.pending--;
}

static int64_t log_now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

/* Summarises every site whose suppressing second is over. */
static void log_flush_at(int64_t now)
{
    log_ctx.scanned_sec = now;
    for (size_t i = 0; i < LOG_SITES && log_ctx.pending; i++)
        if (log_ctx.sites[i].sec != now)
            log_summarise(&log_ctx.sites[i]);
}

void shm_log_flush(void)
{
    if (log_ctx.pending)
        log_flush_at(log_now_sec());
}

/* Counts a line of site fmt; false when it is one too many for this second. */
static bool log_admit(enum shm_log_level level, const char *module, const char *fmt)
{
    struct log_site *s = &log_ctx.sites[((uintptr_t)fmt >> 3) % LOG_SITES];
    int64_t now = log_now_sec();

    if (log_ctx.pending && now != log_ctx.scanned_sec)
        log_flush_at(now);
    if (s->fmt != fmt || s->sec != now) {
        log_summarise(s);
        *s = (struct log_site){fmt, module, level, now, 0, 0};
    }
    if (s->lines < SHM_LOG_SITE_BURST) {
        s->lines++;
        return true;
    }
    if (s->suppressed++ == 0)
        log_ctx.pending++;
    return false;
}

void shm_log_write(enum shm_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;

    if (level < log_ctx.threshold || !log_admit(level, module, fmt))
        return;
    va_start(ap, fmt);
    log_vemit(level, module, fmt, ap);
    va_end(ap);
}
