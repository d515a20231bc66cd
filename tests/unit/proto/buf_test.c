/*
 * Unit tests of proto/buf.c: appends, decimal formatting, consume, and how reserve grows
 * (powers of two from 256, never shrinking, -ENOMEM instead of wrapping on huge sizes).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proto/buf.h"

/* Asserts that b holds exactly the NUL-terminated string s. */
static void assert_buf(const struct proto_buf *b, const char *s)
{
    assert_int_equal(b->len, strlen(s));
    assert_memory_equal(b->data, s, b->len);
}

static void test_append_and_str(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_buf_append(&b, "abc", 3), 0);
    assert_int_equal(proto_buf_append_str(&b, "defg"), 0);
    assert_int_equal(proto_buf_append(&b, "x\0y", 3), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "abcdefgx\0y", 10);
    proto_buf_free(&b);
}

static void test_append_empty_to_null(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    /* An empty append to a fresh buffer allocates nothing and copies nothing. */
    assert_int_equal(proto_buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(proto_buf_append_str(&b, ""), 0);
    assert_int_equal(b.len, 0);
    proto_buf_free(&b);
}

static void test_append_uint(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_buf_append_uint(&b, 0), 0);
    assert_buf(&b, "0");
    proto_buf_reset(&b);
    assert_int_equal(proto_buf_append_uint(&b, 7), 0);
    assert_int_equal(proto_buf_append(&b, ",", 1), 0);
    assert_int_equal(proto_buf_append_uint(&b, 10), 0);
    assert_int_equal(proto_buf_append(&b, ",", 1), 0);
    assert_int_equal(proto_buf_append_uint(&b, 16384), 0);
    assert_int_equal(proto_buf_append(&b, ",", 1), 0);
    assert_int_equal(proto_buf_append_uint(&b, 4294967296ULL), 0);
    assert_buf(&b, "7,10,16384,4294967296");
    proto_buf_reset(&b);
    assert_int_equal(proto_buf_append_uint(&b, UINT64_MAX), 0);
    assert_buf(&b, "18446744073709551615");
    proto_buf_free(&b);
}

static void test_consume(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_buf_append_str(&b, "hello world"), 0);
    proto_buf_consume(&b, 0);
    assert_buf(&b, "hello world");
    proto_buf_consume(&b, 6);
    assert_buf(&b, "world");
    proto_buf_consume(&b, 4);
    assert_buf(&b, "d");
    proto_buf_consume(&b, 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(proto_buf_append_str(&b, "abc"), 0);
    proto_buf_consume(&b, 100); /* more than held: empties */
    assert_int_equal(b.len, 0);
    assert_non_null(b.data); /* memory kept for reuse */
    proto_buf_free(&b);
}

static void test_reserve_growth(void **state)
{
    struct proto_buf b = {0};
    char *before;

    (void)state;
    assert_int_equal(proto_buf_reserve(&b, 0), 0);
    assert_null(b.data); /* nothing needed, nothing allocated */
    assert_int_equal(proto_buf_reserve(&b, 1), 0);
    assert_int_equal(b.cap, 256);
    assert_int_equal(proto_buf_reserve(&b, 256), 0);
    assert_int_equal(b.cap, 256);
    assert_int_equal(proto_buf_reserve(&b, 257), 0);
    assert_int_equal(b.cap, 512);
    assert_int_equal(proto_buf_reserve(&b, 3000), 0);
    assert_int_equal(b.cap, 4096);
    /* reserve counts from len, not from 0 */
    memset(b.data, 'a', 4000);
    b.len = 4000;
    assert_int_equal(proto_buf_reserve(&b, 96), 0);
    assert_int_equal(b.cap, 4096);
    assert_int_equal(proto_buf_reserve(&b, 97), 0);
    assert_int_equal(b.cap, 8192);
    assert_int_equal(b.len, 4000);
    for (size_t i = 0; i < 4000; i++)
        assert_int_equal(b.data[i], 'a');
    /* reset keeps memory; a reserve that fits does not move it */
    proto_buf_reset(&b);
    before = b.data;
    assert_int_equal(proto_buf_reserve(&b, 8192), 0);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, 8192);
    proto_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_append_grows(void **state)
{
    struct proto_buf b = {0};
    char chunk[100];

    (void)state;
    for (int i = 0; i < 100; i++)
        chunk[i] = (char)('A' + i % 26);
    for (int i = 0; i < 50; i++)
        assert_int_equal(proto_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 5000);
    assert_int_equal(b.cap, 8192);
    for (int i = 0; i < 50; i++)
        assert_memory_equal(b.data + i * 100, chunk, sizeof(chunk));
    proto_buf_free(&b);
}

static void test_reserve_overflow(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_buf_append_str(&b, "keep"), 0);
    /* len + extra wraps around */
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX), -ENOMEM);
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX - 3), -ENOMEM);
    /* no wrap, but doubling the capacity past SIZE_MAX / 2 would */
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX / 2 + 2), -ENOMEM);
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX - 4), -ENOMEM);
    assert_int_equal(proto_buf_append(&b, "x", SIZE_MAX - 4), -ENOMEM);
    /* the buffer is untouched */
    assert_int_equal(b.cap, 256);
    assert_buf(&b, "keep");
    proto_buf_free(&b);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_str),
        cmocka_unit_test(test_append_empty_to_null),
        cmocka_unit_test(test_append_uint),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_reserve_growth),
        cmocka_unit_test(test_append_grows),
        cmocka_unit_test(test_reserve_overflow),
    };
    /* clang-format on */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
