/*
 * Unit tests of store/crc.c: ISA-L's crc32_iscsi() wrapped into the standard CRC32C,
 * checked against the catalogue check value, the iSCSI test vectors of RFC 3720 B.4 and a
 * bitwise reference over many lengths and alignments.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "store/crc.h"

/* CRC32C one bit at a time: reflected polynomial 0x82f63b78, init and xor-out ~0. */
static uint32_t crc_reference(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return crc ^ 0xffffffffu;
}

static void test_check_value(void **state)
{
    (void)state;
    assert_int_equal(store_crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(store_crc32c("", 0), 0);
}

/* RFC 3720 B.4 lists the CRC as sent, least significant byte first. */
static void test_rfc3720_vectors(void **state)
{
    uint8_t buf[32];

    (void)state;
    memset(buf, 0, sizeof(buf));
    assert_int_equal(store_crc32c(buf, sizeof(buf)), 0x8a9136aau);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(store_crc32c(buf, sizeof(buf)), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(store_crc32c(buf, sizeof(buf)), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(store_crc32c(buf, sizeof(buf)), 0x113fdb5cu);
}

static void test_matches_reference(void **state)
{
    static uint8_t buf[4096 + 16];
    uint32_t x = 2463534242u;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= 4096; len += len < 80 ? 1 : 61)
            assert_int_equal(store_crc32c(buf + align, len), crc_reference(buf + align, len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_matches_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
