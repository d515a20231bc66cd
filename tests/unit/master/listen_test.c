/*
 * Unit tests of master_listen_parse (master/listen.c): how "HOST:PORT" and "[V6]:PORT"
 * split, and the exact reason given for each kind of bad address.  Nothing is bound.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "master/listen.h"

/* Asserts that spec splits into host and port. */
static void expect_ok(const char *spec, const char *host, const char *port)
{
    char h[256], p[8], err[128] = "";

    memset(h, 'X', sizeof(h));
    memset(p, 'X', sizeof(p));
    if (master_listen_parse(spec, h, sizeof(h), p, sizeof(p), err, sizeof(err)) != 0)
        print_error("'%s': %s\n", spec, err);
    assert_int_equal(master_listen_parse(spec, h, sizeof(h), p, sizeof(p), err, sizeof(err)), 0);
    assert_string_equal(h, host);
    assert_string_equal(p, port);
    /* validation only, as master_config_validate calls it */
    assert_int_equal(master_listen_parse(spec, NULL, 0, NULL, 0, err, sizeof(err)), 0);
}

/* Asserts that spec is refused with exactly the reason why, and host/port untouched. */
static void expect_err(const char *spec, const char *why)
{
    char h[256] = "untouched", p[8] = "same", err[128] = "";

    assert_int_equal(master_listen_parse(spec, h, sizeof(h), p, sizeof(p), err, sizeof(err)), -1);
    assert_string_equal(err, why);
    assert_string_equal(h, "untouched");
    assert_string_equal(p, "same");
    err[0] = '\0';
    assert_int_equal(master_listen_parse(spec, NULL, 0, NULL, 0, err, sizeof(err)), -1);
    assert_string_equal(err, why);
}

static void test_ipv4(void **state)
{
    (void)state;
    expect_ok("127.0.0.1:8443", "127.0.0.1", "8443");
    expect_ok("0.0.0.0:443", "0.0.0.0", "443");
    expect_ok("10.1.2.3:65535", "10.1.2.3", "65535");
}

static void test_ipv6(void **state)
{
    (void)state;
    expect_ok("[::1]:8443", "::1", "8443");
    expect_ok("[::]:443", "::", "443");
    expect_ok("[fe80::1%lo]:9000", "fe80::1%lo", "9000");
    expect_ok("[2001:db8::a:b]:1", "2001:db8::a:b", "1");
}

static void test_names(void **state)
{
    (void)state;
    expect_ok("localhost:1", "localhost", "1");
    expect_ok("auth.example.com:8443", "auth.example.com", "8443");
    /* leading zeros are read as decimal and written back without them */
    expect_ok("localhost:08443", "localhost", "8443");
}

static void test_missing_port(void **state)
{
    (void)state;
    expect_err("127.0.0.1", "expected HOST:PORT");
    expect_err("localhost", "expected HOST:PORT");
    expect_err("", "expected HOST:PORT");
    expect_err("127.0.0.1:", "port must be a number from 1 to 65535");
    expect_err("[::1]", "expected [IPV6]:PORT");
    expect_err("[::1]:", "port must be a number from 1 to 65535");
    expect_err("[::1]8443", "expected [IPV6]:PORT");
    expect_err("[::1:8443", "expected [IPV6]:PORT");
}

static void test_bad_port(void **state)
{
    static const char *const bad[] = {
        "127.0.0.1:0",     "127.0.0.1:65536", "127.0.0.1:99999999999999999999",
        "127.0.0.1:https", "127.0.0.1:80x",   "127.0.0.1:-1",
        "127.0.0.1:+80",   "127.0.0.1: 80",   "[::1]:0",
        "[::1]:65536",     "[::1]:1:2",       "localhost:8443 ",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_err(bad[i], "port must be a number from 1 to 65535");
}

static void test_unbracketed_ipv6(void **state)
{
    (void)state;
    expect_err("::1:8443", "write IPv6 addresses in brackets: [::1]:PORT");
    expect_err("2001:db8::1:443", "write IPv6 addresses in brackets: [::1]:PORT");
    expect_err(":::80", "write IPv6 addresses in brackets: [::1]:PORT");
}

static void test_empty_host(void **state)
{
    (void)state;
    expect_err(":8443", "missing host (use 0.0.0.0 or [::] for every address)");
    expect_err("[]:8443", "missing host (use 0.0.0.0 or [::] for every address)");
}

static void test_host_length(void **state)
{
    char spec[300], host[256], port[8], err[128];

    (void)state;
    memset(spec, 'h', 255);
    memcpy(spec + 255, ":80", 4);
    assert_int_equal(
        master_listen_parse(spec, host, sizeof(host), port, sizeof(port), err, sizeof(err)), 0);
    assert_int_equal(strlen(host), 255);
    assert_string_equal(port, "80");
    memset(spec, 'h', 256);
    memcpy(spec + 256, ":80", 4);
    expect_err(spec, "host name too long");
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_missing_port),
        cmocka_unit_test(test_bad_port),
        cmocka_unit_test(test_unbracketed_ipv6),
        cmocka_unit_test(test_empty_host),
        cmocka_unit_test(test_host_length),
    };
    /* clang-format on */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
