/*
 * Unit tests of proto/jose/keys.c: a worker's key cache over shared memory (active key per
 * algorithm, refresh when another worker rotates), the JWK Set and how long a retired key
 * stays in it, and rotation: persisting before publishing, retiring the replaced key,
 * freeing keys whose tokens are all expired, and refusing cleanly when it cannot finish.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/jose/jwt_fixture.h"

#define ALL_ALGS ((1u << PROTO_JWT_ALGS) - 1)

static size_t jwks_count(struct fx *f, const char *kid)
{
    const struct proto_buf *b = proto_keys_jwks(&f->ctx);
    json_t *j, *keys;
    size_t n = 0, i;
    json_t *k;

    assert_non_null(b);
    j = json_loadb(b->data, b->len, 0, NULL);
    assert_non_null(j);
    keys = json_object_get(j, "keys");
    assert_true(json_is_array(keys));
    json_array_foreach(keys, i, k)
    {
        if (kid == NULL || strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
            n++;
    }
    json_decref(j);
    return n;
}

static void actives(struct fx *f, char kids[PROTO_JWT_ALGS][SHM_KEY_KID_MAX])
{
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++) {
        const struct proto_key *k = proto_keys_active(&f->ctx, alg);

        assert_non_null(k);
        assert_int_equal(k->alg, alg);
        snprintf(kids[alg], SHM_KEY_KID_MAX, "%s", k->kid);
    }
}

static void test_active_and_find(void **state)
{
    struct fx *f = *state;
    char kids[PROTO_JWT_ALGS][SHM_KEY_KID_MAX];

    actives(f, kids);
    assert_string_not_equal(kids[0], kids[1]);
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++)
        assert_ptr_equal(proto_keys_find(&f->ctx, kids[alg], strlen(kids[alg])),
                         proto_keys_active(&f->ctx, alg));
    assert_null(proto_keys_find(&f->ctx, "nope", 4));
    assert_null(proto_keys_active(&f->ctx, 3));
    assert_int_equal(jwks_count(f, NULL), 3);
    assert_int_equal(jwks_count(f, kids[PROTO_JWT_RS256]), 1);
}

static void test_rotate_all(void **state)
{
    struct fx *f = *state;
    char before[PROTO_JWT_ALGS][SHM_KEY_KID_MAX], after[PROTO_JWT_ALGS][SHM_KEY_KID_MAX];
    struct proto_jwt_claims c = fx_claims(f);
    struct proto_buf old = {0}, fresh = {0};
    struct proto_jwt_verified v;

    actives(f, before);
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &c, &old), 0);
    assert_int_equal(proto_keys_rotate(&f->ctx, ALL_ALGS), 0);
    assert_int_equal(f->store.saves, 3);
    actives(f, after);
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++) {
        assert_string_not_equal(before[alg], after[alg]);
        assert_string_equal(f->store.saved[alg], after[alg]); /* persisted, in alg order */
        assert_int_equal(jwks_count(f, before[alg]), 1);      /* the retired key stays */
        assert_int_equal(jwks_count(f, after[alg]), 1);
    }
    assert_int_equal(jwks_count(f, NULL), 6);
    /* Tokens of the retired key still verify; new tokens carry the new kid. */
    assert_int_equal(proto_jwt_verify(&f->ctx, old.data, old.len, &v), 0);
    assert_string_equal(v.kid, before[PROTO_JWT_ES256]);
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &c, &fresh), 0);
    assert_int_equal(proto_jwt_verify(&f->ctx, fresh.data, fresh.len, &v), 0);
    assert_string_equal(v.kid, after[PROTO_JWT_ES256]);
    assert_int_equal(f->store.removes, 0);
    proto_buf_free(&old);
    proto_buf_free(&fresh);
}

static void test_rotate_one_alg(void **state)
{
    struct fx *f = *state;
    char before[PROTO_JWT_ALGS][SHM_KEY_KID_MAX], after[PROTO_JWT_ALGS][SHM_KEY_KID_MAX];

    actives(f, before);
    assert_int_equal(proto_keys_rotate(&f->ctx, 1u << PROTO_JWT_EDDSA), 0);
    actives(f, after);
    assert_string_equal(before[PROTO_JWT_ES256], after[PROTO_JWT_ES256]);
    assert_string_not_equal(before[PROTO_JWT_EDDSA], after[PROTO_JWT_EDDSA]);
    assert_string_equal(before[PROTO_JWT_RS256], after[PROTO_JWT_RS256]);
    assert_int_equal(jwks_count(f, NULL), 4);
}

/* Another worker (its own cache over the same memory) sees a rotation at once. */
static void test_other_worker_sees_rotation(void **state)
{
    struct fx *f = *state;
    struct proto_ctx other = f->ctx;
    const struct proto_key *k;
    char kid[SHM_KEY_KID_MAX];

    other.keys = proto_keys_new();
    other.owner.slot = 4;
    k = proto_keys_active(&other, PROTO_JWT_ES256);
    assert_non_null(k);
    snprintf(kid, sizeof(kid), "%s", k->kid);
    assert_int_equal(proto_keys_rotate(&f->ctx, 1u << PROTO_JWT_ES256), 0);
    k = proto_keys_active(&other, PROTO_JWT_ES256);
    assert_string_not_equal(k->kid, kid);
    assert_string_equal(k->kid, proto_keys_active(&f->ctx, PROTO_JWT_ES256)->kid);
    proto_keys_free(other.keys);
}

static void test_retention_and_prune(void **state)
{
    struct fx *f = *state;
    char before[PROTO_JWT_ALGS][SHM_KEY_KID_MAX];
    int64_t keep = proto_keys_retention(&f->cfg);

    assert_int_equal(keep, FX_MAX_TTL + PROTO_KEYS_LEEWAY);
    actives(f, before);
    assert_int_equal(proto_keys_rotate(&f->ctx, ALL_ALGS), 0);
    f->ctx.now += keep - 1;
    assert_int_equal(jwks_count(f, NULL), 6);
    assert_non_null(proto_keys_find(&f->ctx, before[0], strlen(before[0])));
    /* Every token the retired keys signed has expired: they leave the set, by time alone. */
    f->ctx.now += 1;
    assert_int_equal(jwks_count(f, NULL), 3);
    assert_null(proto_keys_find(&f->ctx, before[0], strlen(before[0])));
    /* The next rotation frees their slots and deletes their files. */
    assert_int_equal(proto_keys_rotate(&f->ctx, 1u << PROTO_JWT_ES256), 0);
    assert_int_equal(f->store.removes, 3);
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++)
        assert_string_equal(f->store.removed[alg], before[alg]);
    assert_int_equal(jwks_count(f, NULL), 4);
}

static void test_rotate_refusals(void **state)
{
    struct fx *f = *state;
    char before[PROTO_JWT_ALGS][SHM_KEY_KID_MAX], after[PROTO_JWT_ALGS][SHM_KEY_KID_MAX];
    struct shm_owner other = {9, 1};

    actives(f, before);
    /* The key cannot be stored: nothing is published. */
    f->store.fail_saves = 1;
    assert_int_equal(proto_keys_rotate(&f->ctx, ALL_ALGS), -EIO);
    f->store.fail_saves = 0;
    /* Another rotation holds the lock: the stored keys are deleted again. */
    assert_int_equal(shm_keys_lock(&f->region, other), 0);
    assert_int_equal(proto_keys_rotate(&f->ctx, 1u << PROTO_JWT_ES256), -EBUSY);
    assert_int_equal(f->store.saves, 1);
    assert_int_equal(f->store.removes, 1);
    assert_string_equal(f->store.removed[0], f->store.saved[0]);
    shm_keys_unlock(&f->region);
    actives(f, after);
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++)
        assert_string_equal(before[alg], after[alg]);
    assert_int_equal(jwks_count(f, NULL), 3);
    /* No keystore (a process that cannot persist) never rotates. */
    f->ctx.keystore = NULL;
    assert_int_equal(proto_keys_rotate(&f->ctx, ALL_ALGS), -EIO);
    f->ctx.keystore = &f->keystore;
}

static void test_rotate_table_full(void **state)
{
    struct fx *f = *state;
    int rc = 0, n = 0;

    while ((rc = proto_keys_rotate(&f->ctx, 1u << PROTO_JWT_ES256)) == 0)
        n++;
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(n, SHM_KEYS_MAX - 3);
    assert_int_equal(jwks_count(f, NULL), SHM_KEYS_MAX);
    assert_non_null(proto_keys_active(&f->ctx, PROTO_JWT_ES256));
}

static void test_list(void **state)
{
    struct fx *f = *state;
    struct proto_buf b = {0};
    json_t *j, *k;
    size_t i, active = 0, retired = 0;

    assert_int_equal(proto_keys_rotate(&f->ctx, ALL_ALGS), 0);
    assert_int_equal(proto_keys_list(&f->ctx, &b), 0);
    j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 6);
    json_array_foreach(json_object_get(j, "keys"), i, k)
    {
        if (json_is_true(json_object_get(k, "active"))) {
            active++;
            assert_null(json_object_get(k, "retired_at"));
        } else {
            retired++;
            assert_int_equal(json_integer_value(json_object_get(k, "retired_at")), FX_NOW);
            assert_int_equal(json_integer_value(json_object_get(k, "published_until")),
                             FX_NOW + proto_keys_retention(&f->cfg));
        }
        assert_true(json_is_true(json_object_get(k, "published")));
    }
    assert_int_equal(active, 3);
    assert_int_equal(retired, 3);
    json_decref(j);
    proto_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_active_and_find, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_all, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_one_alg, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_worker_sees_rotation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention_and_prune, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_table_full, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
