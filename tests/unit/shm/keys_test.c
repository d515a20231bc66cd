/*
 * Unit tests of shm/keys.c: records are copied whole, retirement and freeing are seen by
 * readers, the version moves once per unlock, one writer at a time, a full table says so,
 * and the master's reclaim releases the lock of a dead writer and frees what it left
 * half-written.
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

#include "shm/keys.h"
#include "shm/region.h"

static const struct shm_owner me = {1, 1}, dead = {2, 7};

static int setup(void **state)
{
    static struct shm_region r;
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 10, .intern = 64, .jti = 100};

    memset(&r, 0, sizeof(r));
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

static void key(struct shm_key *k, const char *kid, uint32_t alg, uint64_t serial)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    k->alg = alg;
    k->serial = serial;
    k->created = 1000 + (int64_t)serial;
    k->der_len = SHM_KEY_DER_MAX;
    for (size_t i = 0; i < SHM_KEY_DER_MAX; i++)
        k->der[i] = (uint8_t)(i * 7 + serial);
}

static void test_add_read_retire_free(void **state)
{
    struct shm_region *r = *state;
    struct shm_key k, got;
    uint64_t v0 = shm_keys_version(r);
    int slot;

    assert_int_equal(shm_keys_read(r, 0, &got), -ENOENT);
    assert_int_equal(shm_keys_read(r, SHM_KEYS_MAX, &got), -ENOENT);
    key(&k, "kid-a", 1, 41);
    assert_int_equal(shm_keys_lock(r, me), 0);
    slot = shm_keys_add(r, &k);
    assert_true(slot >= 0);
    shm_keys_unlock(r);
    assert_int_equal(shm_keys_version(r), v0 + 1);
    assert_int_equal(shm_keys_read(r, (unsigned)slot, &got), 0);
    assert_memory_equal(&got, &k, sizeof(k));
    /* Serials handed out later come after every key added. */
    assert_true(shm_keys_next_serial(r) > 41);

    assert_int_equal(shm_keys_lock(r, me), 0);
    shm_keys_retire(r, (unsigned)slot, 5000);
    shm_keys_unlock(r);
    assert_int_equal(shm_keys_read(r, (unsigned)slot, &got), 0);
    assert_int_equal(got.retired_at, 5000);
    assert_int_equal(shm_keys_version(r), v0 + 2);

    assert_int_equal(shm_keys_lock(r, me), 0);
    shm_keys_free(r, (unsigned)slot);
    shm_keys_unlock(r);
    assert_int_equal(shm_keys_read(r, (unsigned)slot, &got), -ENOENT);
}

static void test_one_writer_and_full(void **state)
{
    struct shm_region *r = *state;
    struct shm_key k;
    char kid[16];

    assert_int_equal(shm_keys_lock(r, me), 0);
    assert_int_equal(shm_keys_lock(r, dead), -EBUSY);
    for (int i = 0; i < SHM_KEYS_MAX; i++) {
        snprintf(kid, sizeof(kid), "k%d", i);
        key(&k, kid, 0, (uint64_t)i + 1);
        assert_int_equal(shm_keys_add(r, &k), i);
    }
    assert_int_equal(shm_keys_add(r, &k), -ENOSPC);
    shm_keys_unlock(r);
    assert_int_equal(shm_keys_lock(r, dead), 0);
    shm_keys_unlock(r);
}

static void test_reclaim_dead_writer(void **state)
{
    struct shm_region *r = *state;
    struct shm_key k, got;
    uint64_t v;
    int slot;

    key(&k, "half", 2, 9);
    assert_int_equal(shm_keys_lock(r, dead), 0);
    slot = shm_keys_add(r, &k);
    /* As if the writer died in the middle of its next add: a BUSY slot. */
    atomic_store(&r->keys->slots[slot + 1].state, 1ULL << 62 | 3);
    v = shm_keys_version(r);
    assert_int_equal(shm_keys_reclaim(r, me), 0); /* not the holder: nothing happens */
    assert_int_equal(shm_keys_lock(r, me), -EBUSY);
    assert_int_equal(shm_keys_reclaim(r, dead), 1);
    assert_int_equal(shm_keys_version(r), v + 1);
    assert_int_equal(shm_keys_read(r, (unsigned)slot, &got), 0); /* finished: published */
    assert_int_equal(atomic_load(&r->keys->slots[slot + 1].state) >> 62, 0);
    assert_int_equal(shm_keys_lock(r, me), 0);
    assert_int_equal(shm_keys_add(r, &k), slot + 1); /* the half-written slot is free again */
    shm_keys_unlock(r);
    assert_int_equal(shm_keys_reclaim(r, dead), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_read_retire_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_writer_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_dead_writer, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
