/*
 * Unit tests of shm/client_tokens.c: a client's entries are counted on insert and
 * uncounted exactly once when freed — by removal, by the sweep or when found expired —,
 * never by an entry of an earlier generation; a revoked entry counts until it is freed;
 * the oldest live token is found in issue order, past revoked, expired, skipped and
 * dead-generation ones; recovery's sequences (in any order) rebuild the same order; the
 * sweep frees queue entries with their tokens.
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

#include "shm/client.h"
#include "shm/client_tokens.h"
#include "shm/token.h"

#define NOW 1000000

static const struct shm_owner me = {1, 1};

struct fx {
    struct shm_region r;
    uint64_t slot;
    uint32_t gen;
};

static int fx_setup(void **state)
{
    static struct fx f;
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 10, .intern = 64, .jti = 100};
    struct shm_client c = {0};
    int64_t slot;

    memset(&f, 0, sizeof(f));
    if (shm_region_create(&f.r, &sz) < 0)
        return -1;
    snprintf(c.id, sizeof(c.id), "svc");
    slot = shm_client_create(&f.r, &c, me, NULL);
    if (slot < 0)
        return -1;
    f.slot = (uint64_t)slot;
    f.gen = shm_client_generation(&f.r, f.slot);
    *state = &f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    shm_region_detach(&f->r);
    return 0;
}

/* Token number n of the client, with sequence seq (0: the next one), expiring at exp. */
static struct shm_token tok(struct fx *f, unsigned n, uint64_t seq, int64_t exp)
{
    struct shm_token t = {0};

    memcpy(t.hash, &n, sizeof(n));
    t.hash[31] = 0x5a;
    t.client_slot = (uint32_t)f->slot;
    t.client_gen = f->gen;
    t.iat = NOW - 10;
    t.exp = exp;
    t.kind = SHM_TOKEN_ACCESS;
    t.seq = seq ? seq : shm_client_tokens_next(&f->r, f->slot);
    return t;
}

static void add(struct fx *f, unsigned n, uint64_t seq, int64_t exp)
{
    struct shm_token t = tok(f, n, seq, exp);

    assert_int_equal(shm_token_insert(&f->r, &t, me), 0);
}

static uint32_t live(struct fx *f)
{
    return shm_client_tokens_live(&f->r, f->slot, f->gen);
}

/* The number of the client's oldest live token, or -1. */
static int oldest(struct fx *f, int64_t now, const uint8_t *skip)
{
    struct shm_entry e;
    unsigned n;

    if (shm_client_tokens_oldest(&f->r, f->slot, f->gen, now, skip, me, &e) < 0)
        return -1;
    memcpy(&n, e.words, sizeof(n));
    return (int)n;
}

static void revoke(struct fx *f, unsigned n)
{
    struct shm_token t = tok(f, n, 1, 0);

    assert_int_equal(shm_token_revoke(&f->r, t.hash), 0);
}

static void remove_token(struct fx *f, unsigned n)
{
    struct shm_token t = tok(f, n, 1, 0);
    struct shm_entry e;

    assert_int_equal(shm_table_lookup(f->r.tokens, t.hash, &e), 0);
    assert_int_equal(shm_token_remove_entry(&f->r, &e, me), 0);
    assert_int_equal(shm_token_remove_entry(&f->r, &e, me), -ENOENT);
}

static void test_count_and_order(void **state)
{
    struct fx *f = *state;
    struct shm_token t;
    struct shm_entry e;

    for (unsigned n = 1; n <= 5; n++)
        add(f, n, 0, NOW + 100);
    assert_int_equal(live(f), 5);
    assert_int_equal(oldest(f, NOW, NULL), 1);
    revoke(f, 1);
    revoke(f, 1);
    assert_int_equal(live(f), 5); /* a revoked entry holds its slot: it counts */
    remove_token(f, 3);
    assert_int_equal(live(f), 4);
    assert_int_equal(oldest(f, NOW, NULL), 2);
    t = tok(f, 2, 1, 0);
    assert_int_equal(shm_table_lookup(f->r.tokens, t.hash, &e), 0);
    assert_int_equal(shm_token_revoke_entry(&f->r, &e), 0);
    assert_int_equal(shm_token_revoke_entry(&f->r, &e), -EAGAIN); /* the copy is stale */
    assert_int_equal(shm_table_lookup(f->r.tokens, t.hash, &e), 0);
    assert_int_equal(shm_token_revoke_entry(&f->r, &e), -EALREADY);
    assert_int_equal(oldest(f, NOW, NULL), 4); /* past 1 and 2, revoked, and 3, removed */
    /* The one a refresh grant uses is passed over. */
    t = tok(f, 4, 1, 0);
    assert_int_equal(oldest(f, NOW, t.hash), 5);
    revoke(f, 5);
    assert_int_equal(oldest(f, NOW, t.hash), -1);
    assert_int_equal(oldest(f, NOW, NULL), 4);
    assert_int_equal(live(f), 4);
}

static void test_expiry_and_sweep(void **state)
{
    struct fx *f = *state;
    struct shm_table_stats st;

    add(f, 1, 0, NOW - 1);
    add(f, 2, 0, NOW + 5);
    add(f, 3, 0, NOW + 50);
    add(f, 4, 0, NOW + 5);
    revoke(f, 4);
    assert_int_equal(live(f), 4);
    /* The walk frees the expired oldest at once: the count falls without a sweep. */
    assert_int_equal(oldest(f, NOW, NULL), 2);
    assert_int_equal(live(f), 3);
    /* The sweep frees 2 and 4 (revoked, and counted until freed), their queue entries too. */
    assert_int_equal(shm_token_sweep(&f->r, NOW + 10, me), 2);
    assert_int_equal(live(f), 1);
    shm_table_stats(f->r.token_queue, &st);
    assert_int_equal(st.live, 1);
    assert_int_equal(oldest(f, NOW + 10, NULL), 3);
    assert_int_equal(shm_token_sweep(&f->r, NOW + 100, me), 1);
    assert_int_equal(live(f), 0);
    shm_table_stats(f->r.token_queue, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(oldest(f, NOW + 100, NULL), -1);
}

/* Revoking every token of the client (a new generation) restarts the count: the old
 * generation's tokens, dying later, take nothing off the new one's. */
static void test_generation(void **state)
{
    struct fx *f = *state;
    struct shm_client c;
    uint32_t old = f->gen;

    add(f, 1, 0, NOW + 5);
    add(f, 2, 0, NOW + 50);
    assert_int_equal(shm_client_read(&f->r, f->slot, &c, NULL), 0);
    assert_int_equal(shm_client_update(&f->r, f->slot, &c, true, me, NULL, &f->gen), 0);
    assert_int_not_equal(f->gen, old);
    assert_int_equal(live(f), 0);
    add(f, 3, 0, NOW + 50);
    assert_int_equal(live(f), 1);
    revoke(f, 2);
    assert_int_equal(shm_token_sweep(&f->r, NOW + 10, me), 1); /* token 1 */
    assert_int_equal(live(f), 1);
    assert_int_equal(oldest(f, NOW, NULL), 3);
    assert_int_equal(shm_client_tokens_live(&f->r, f->slot, old), 0);
}

/* Recovery inserts tokens with their stored sequences, in any order: the same order comes
 * back, and new sequences continue after them.  A revoked entry counts, but is not queued. */
static void test_recovered_sequences(void **state)
{
    struct fx *f = *state;
    struct shm_token t = tok(f, 9, 60, NOW + 50);

    add(f, 1, 100, NOW + 50);
    add(f, 2, 50, NOW + 50);
    add(f, 3, 70, NOW + 50);
    t.revoked = true;
    assert_int_equal(shm_token_insert(&f->r, &t, me), 0);
    assert_int_equal(live(f), 4);
    assert_int_equal(shm_client_tokens_next(&f->r, f->slot), 101);
    assert_int_equal(oldest(f, NOW, NULL), 2);
    revoke(f, 2);
    assert_int_equal(oldest(f, NOW, NULL), 3);
    revoke(f, 3);
    assert_int_equal(oldest(f, NOW, NULL), 1);
}

/* Sequences handed out and never queued (a process died between the two) are skipped. */
static void test_missing_sequences(void **state)
{
    struct fx *f = *state;

    add(f, 1, 0, NOW + 50);
    for (int i = 0; i < 300; i++)
        shm_client_tokens_next(&f->r, f->slot);
    add(f, 2, 0, NOW + 50);
    revoke(f, 1);
    assert_int_equal(oldest(f, NOW, NULL), 2);
    assert_int_equal(oldest(f, NOW, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_count_and_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_sweep, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_generation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_recovered_sequences, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_sequences, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
