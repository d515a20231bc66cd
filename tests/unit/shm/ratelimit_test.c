/*
 * Unit tests of shm/ratelimit.c, the count-min sketch of failed authentications: counts
 * per key and minute, a new minute starts from zero, and a key sharing one row's bucket
 * with another is still counted by the other row (collisions only over-count).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "shm/ratelimit.h"
#include "shm/region.h"

static int setup(void **state)
{
    static struct shm_region r;
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 10, .intern = 64, .jti = 100};

    if (shm_region_create(&r, &sz) < 0)
        return -1;
    *state = &r;
    return 0;
}

static int teardown(void **state)
{
    shm_region_detach(*state);
    return 0;
}

/* A key whose row-0 bucket is b0 and row-1 bucket is b1 (the sketch reads key bytes 0-3
 * and 4-7). */
static void key_of(uint8_t key[32], uint32_t b0, uint32_t b1)
{
    memset(key, 0xa5, 32);
    memcpy(key, &b0, 4);
    memcpy(key + 4, &b1, 4);
}

static void test_counts_per_minute(void **state)
{
    struct shm_region *r = *state;
    uint8_t k[32];

    key_of(k, 1, 2);
    assert_int_equal(shm_ratelimit_count(r, k, 100), 0);
    for (uint32_t i = 1; i <= 5; i++)
        assert_int_equal(shm_ratelimit_hit(r, k, 100), i);
    assert_int_equal(shm_ratelimit_count(r, k, 100), 5);
    /* the next minute starts over; a late look at the old one sees nothing of it */
    assert_int_equal(shm_ratelimit_count(r, k, 101), 0);
    assert_int_equal(shm_ratelimit_hit(r, k, 101), 1);
    assert_int_equal(shm_ratelimit_count(r, k, 100), 0);
}

static void test_collisions_only_over_count(void **state)
{
    struct shm_region *r = *state;
    uint8_t a[32], b[32], c[32];

    key_of(a, 10, 20);
    key_of(b, 10, 21); /* shares a's row-0 bucket */
    key_of(c, 11, 20); /* shares a's row-1 bucket */
    for (int i = 0; i < 7; i++)
        shm_ratelimit_hit(r, a, 5);
    assert_int_equal(shm_ratelimit_count(r, b, 5), 0);
    assert_int_equal(shm_ratelimit_count(r, c, 5), 0);
    shm_ratelimit_hit(r, b, 5);
    shm_ratelimit_hit(r, c, 5);
    assert_int_equal(shm_ratelimit_count(r, a, 5), 8); /* at least its own 7 */
    assert_int_equal(shm_ratelimit_count(r, b, 5), 1);
    assert_int_equal(shm_ratelimit_count(r, c, 5), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_minute),
        cmocka_unit_test(test_collisions_only_over_count),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
