/*
 * Unit tests of the event log (shm/log.c): line format, the level threshold, and the
 * per-site repeat limit — a format site that logs in a tight loop writes
 * SHM_LOG_SITE_BURST lines a second and then one summary of what it suppressed.
 * stderr is redirected to a temporary file the tests read back.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "test"
#include "shm/log.h"

static int saved_stderr = -1;
static FILE *capture;

static int capture_setup(void **state)
{
    (void)state;
    capture = tmpfile();
    if (capture == NULL)
        return -1;
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
    shm_log_setup("worker/7", SHM_LOG_INFO);
    return 0;
}

static int capture_teardown(void **state)
{
    (void)state;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    fclose(capture);
    return 0;
}

/* Everything written so far, NUL-terminated (static buffer). */
static const char *captured(void)
{
    static char buf[65536];
    ssize_t n = pread(fileno(capture), buf, sizeof(buf) - 1, 0);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_line_format(void **state)
{
    (void)state;
    log_warn("accept4() failed: %s", "Too many open files");
    assert_non_null(strstr(captured(), "Z warn worker/7["));
    assert_non_null(strstr(captured(), "] test: accept4() failed: Too many open files\n"));
}

static void test_threshold(void **state)
{
    (void)state;
    log_debug("not shown %d", 1);
    assert_null(strstr(captured(), "not shown"));
}

static void spin_until_summary(const char *needle)
{
    struct timespec start, now, pause = {0, 5 * 1000 * 1000};

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        shm_log_flush();
        if (strstr(captured(), needle))
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        assert_true(now.tv_sec - start.tv_sec < 3); /* a summary within the next second */
        nanosleep(&pause, NULL);
    }
}

/* 10,000 lines from one site in well under a second: SHM_LOG_SITE_BURST are written (a
 * second boundary in between may admit one more burst), the rest summarised once. */
static void test_repeats_are_suppressed_and_summarised(void **state)
{
    const char *text;
    size_t written;

    (void)state;
    for (int i = 0; i < 10000; i++)
        log_warn("flood line %d", i);
    log_warn("another site %d", 1); /* a different site is not limited by the first */
    text = captured();
    written = count(text, "flood line ");
    assert_true(written >= SHM_LOG_SITE_BURST && written <= 2 * SHM_LOG_SITE_BURST);
    assert_non_null(strstr(text, "another site 1"));
    spin_until_summary("similar lines suppressed: \"flood line %d\")");
    text = captured();
    assert_true(count(text, "similar lines suppressed") >= 1);
    /* The counts add up: every line was either written or counted. */
    {
        size_t total = written;

        for (const char *p = strstr(text, "warn worker/7"); p; p = strstr(p + 1, "warn worker/7")) {
            const char *msg = strstr(p, "test: (");

            if (msg && msg < strchr(p, '\n'))
                total += strtoull(msg + 7, NULL, 10);
        }
        assert_int_equal(total, 10000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_repeats_are_suppressed_and_summarised),
    };

    return cmocka_run_group_tests(tests, capture_setup, capture_teardown);
}
