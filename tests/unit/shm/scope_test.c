/*
 * Unit tests of shm/scope.c: canonical lists are sorted by bytes, each token once, and
 * refuse what does not fit; a subset asked for in any order and with repeats has one
 * bitmap over its base and reads back in the base's order; a token not in the base, or
 * past the bitmap, is refused; the largest list a client can have fits the bitmap.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/intern.h"
#include "shm/scope.h"

static int canon(const char *s, char *out, size_t cap)
{
    return shm_scope_canon(s, strlen(s), out, cap);
}

static void test_canon(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(canon("write read  admin read", out, sizeof(out)), 16);
    assert_string_equal(out, "admin read write");
    assert_int_equal(canon("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(canon("   ", out, sizeof(out)), 0);
    /* Bytes order: upper case first, a prefix before what extends it. */
    assert_int_equal(canon("ab a B", out, sizeof(out)), 6);
    assert_string_equal(out, "B a ab");
    /* Exactly the room for "a b" and its NUL, then one byte short. */
    assert_int_equal(canon("b a", out, 4), 3);
    assert_int_equal(canon("b a", out, 3), -1);
    assert_int_equal(canon("a", out, 0), -1);
}

static void test_canon_token_limit(void **state)
{
    char in[2 * 200], out[2 * 200];
    size_t o = 0;

    (void)state;
    /* 129 distinct tokens do not fit a bitmap; 128 do. */
    for (int i = 0; i < 129; i++) {
        in[o++] = (char)(0x21 + i % 90);
        in[o++] = (char)(0x21 + i / 90);
        in[o++] = ' ';
    }
    in[o - 1] = '\0';
    assert_int_equal(shm_scope_canon(in, strlen(in), out, sizeof(out)), -1);
    in[128 * 3 - 1] = '\0';
    assert_int_equal(shm_scope_canon(in, strlen(in), out, sizeof(out)), 128 * 3 - 1);
}

static void test_bits_any_order(void **state)
{
    const char *base = "a b c d e f g h";
    struct shm_scope_bits x, y;
    char out[64];

    (void)state;
    assert_int_equal(shm_scope_bits_of(base, strlen(base), "h c a", 5, &x), 0);
    assert_int_equal(shm_scope_bits_of(base, strlen(base), "a  c h c", 8, &y), 0);
    assert_memory_equal(&x, &y, sizeof(x));
    assert_int_equal(x.w[0], 0x85);
    assert_int_equal(x.w[1], 0);
    assert_int_equal(shm_scope_text(base, strlen(base), &x, out, sizeof(out)), 5);
    assert_string_equal(out, "a c h");
    assert_int_equal(shm_scope_text(base, strlen(base), &x, out, 5), -1);
    assert_int_equal(shm_scope_bits_of(base, strlen(base), "", 0, &x), 0);
    assert_int_equal(shm_scope_text(base, strlen(base), &x, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* Not in the base, or only a prefix of a token of it. */
    assert_int_equal(shm_scope_bits_of(base, strlen(base), "a z", 3, &x), -ENOENT);
    assert_int_equal(shm_scope_bits_of("read", 4, "rea", 3, &x), -ENOENT);
}

/* The longest allowed list with the most tokens: 92 one-byte and 32 two-byte tokens. */
static void test_largest_client_list(void **state)
{
    char list[SHM_INTERN_MAX_LEN + 1], canonical[SHM_INTERN_MAX_LEN + 1], out[512];
    struct shm_scope_bits b;
    size_t o = 0;
    int n = 0;

    (void)state;
    for (int c = 0x21; c <= 0x7e; c++) {
        if (c == 0x22 || c == 0x5c)
            continue; /* RFC 6749 §3.3 leaves out '"' and '\' */
        list[o++] = (char)c;
        list[o++] = ' ';
        n++;
    }
    for (int i = 0; i < 32; i++, n++) {
        list[o++] = 'x';
        list[o++] = (char)('0' + i);
        list[o++] = ' ';
    }
    list[o - 1] = '\0';
    assert_true(strlen(list) <= SHM_INTERN_MAX_LEN);
    assert_int_equal(n, 124);
    assert_int_equal(shm_scope_canon(list, strlen(list), canonical, sizeof(canonical)),
                     (int)strlen(list));
    assert_int_equal(shm_scope_bits_of(canonical, strlen(canonical), list, strlen(list), &b), 0);
    assert_int_equal(shm_scope_text(canonical, strlen(canonical), &b, out, sizeof(out)),
                     (int)strlen(canonical));
    assert_string_equal(out, canonical);
}

static void test_base_past_bitmap(void **state)
{
    char base[200 * 4];
    struct shm_scope_bits b;
    size_t o = 0;

    (void)state;
    for (int i = 0; i < 130; i++)
        o += (size_t)snprintf(base + o, sizeof(base) - o, "%s%03d", i ? " " : "", i);
    assert_int_equal(shm_scope_bits_of(base, o, "127", 3, &b), 0);
    assert_int_equal(b.w[1], UINT64_C(1) << 63);
    assert_int_equal(shm_scope_bits_of(base, o, "128", 3, &b), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canon),
        cmocka_unit_test(test_canon_token_limit),
        cmocka_unit_test(test_bits_any_order),
        cmocka_unit_test(test_largest_client_list),
        cmocka_unit_test(test_base_past_bitmap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
