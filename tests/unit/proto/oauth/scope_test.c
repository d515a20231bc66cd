/*
 * Unit tests of proto/oauth/scope.c: scope lists as RFC 6749 §3.3 writes them — the
 * characters a token may hold, membership and subsets, the normal form of a requested
 * scope (single spaces, each token once, in the order given) and a list as a JSON array.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proto/oauth/scope.h"

static void test_chars(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        bool ok = c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);

        assert_int_equal(proto_scope_char_ok((unsigned char)c), ok);
    }
    assert_false(proto_scope_char_ok(' '));
    assert_false(proto_scope_char_ok('"'));
    assert_false(proto_scope_char_ok('\\'));
}

static void test_has_and_subset(void **state)
{
    static const char have[] = "read  write admin:all";

    (void)state;
    assert_true(proto_scope_has(have, strlen(have), "write", 5));
    assert_true(proto_scope_has(have, strlen(have), "admin:all", 9));
    assert_false(proto_scope_has(have, strlen(have), "writ", 4));
    assert_false(proto_scope_has(have, strlen(have), "admin", 5));
    assert_false(proto_scope_has("", 0, "read", 4));
    assert_true(proto_scope_subset("write read", 10, have, strlen(have)));
    assert_true(proto_scope_subset("  read  ", 8, have, strlen(have)));
    assert_true(proto_scope_subset("", 0, have, strlen(have)));
    assert_true(proto_scope_subset("", 0, "", 0));
    assert_false(proto_scope_subset("read delete", 11, have, strlen(have)));
    assert_false(proto_scope_subset("read", 4, "", 0));
}

static void test_normalize(void **state)
{
    char out[PROTO_SCOPE_MAX + 1], small[8];

    (void)state;
    assert_int_equal(proto_scope_normalize("b  a b c a", 10, out, sizeof(out)), 5);
    assert_string_equal(out, "b a c");
    assert_int_equal(proto_scope_normalize("   ", 3, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(proto_scope_normalize("a \"b\"", 5, out, sizeof(out)), -EINVAL);
    assert_int_equal(proto_scope_normalize("a\tb", 3, out, sizeof(out)), -EINVAL);
    /* out holds the text and its NUL: 7 characters fit in 8 bytes, 8 do not */
    assert_int_equal(proto_scope_normalize("abc defg", 8, small, sizeof(small)), -ENOSPC);
    assert_int_equal(proto_scope_normalize("abc def", 7, small, sizeof(small)), 7);
    assert_string_equal(small, "abc def");
    assert_int_equal(proto_scope_normalize("abc def abc", 11, small, sizeof(small)), 7);
}

static void test_list_json(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_buf_append(&b, "{", 1), 0);
    assert_int_equal(proto_scope_list_json(&b, "scopes", " a  b\"c "), 0);
    assert_int_equal(proto_scope_list_json(&b, "none", ""), 0);
    assert_int_equal(proto_buf_append(&b, "}", 2), 0);
    assert_string_equal(b.data, "{\"scopes\":[\"a\",\"b\\\"c\"],\"none\":[]}");
    proto_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chars),
        cmocka_unit_test(test_has_and_subset),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_list_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
