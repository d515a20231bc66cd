/*
 * Unit tests of proto/oauth/token_resolve.c: a token the table knows is found there; a JWT it
 * does not know is refused unverified and counted, or, with tokens.jwt_verify_unknown, is
 * verified by signature, recorded once (its scope over its client's list, or its own when
 * the client lost one), and from then on obeys revocation, mass revocation of its client
 * and client deletion; a client recreated after the token was issued does not inherit it;
 * a full table is reported.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/oauth/token_resolve.h"
#include "proto/oauth/tokens.h"
#include "shm/stats.h"
#include "shm/token.h"
#include "tests/unit/proto/jose/jwt_fixture.h"

static void test_table_token(void **state)
{
    struct fx *f = *state;
    struct shm_token t = {0}, got;
    struct shm_client c;
    const char *opaque = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

    proto_token_hash(opaque, strlen(opaque), t.hash);
    t.client_slot = (uint32_t)f->client_slot;
    t.client_gen = f->client_gen;
    t.exp = FX_NOW + 60;
    t.kind = SHM_TOKEN_ACCESS;
    assert_int_equal(shm_token_insert(&f->region, &t, f->ctx.owner), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, opaque, strlen(opaque), &got, &c), 0);
    assert_string_equal(c.id, "svc");
    assert_int_equal(got.flags, 0);
    assert_int_equal(proto_token_resolve(&f->ctx, opaque, strlen(opaque) - 1, &got, &c), -ENOENT);
    assert_int_equal(proto_token_resolve(&f->ctx, "eyJ.x.y", 7, &got, &c), -ENOENT);
}

static void test_unknown_jwt_is_verified_and_recorded(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf jwt = {0};
    struct shm_token t, again;
    struct shm_client c;
    char scope[64];

    cl.aud = "api";
    assert_int_equal(fx_mint(f, PROTO_JWT_RS256, &cl, &jwt), 0);
    assert_int_equal(proto_token_find(&f->ctx, jwt.data, jwt.len, &t), -ENOENT);
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), 0);
    assert_string_equal(c.id, "svc");
    assert_int_equal(t.kind, SHM_TOKEN_ACCESS);
    assert_int_equal(t.flags, SHM_TOKEN_JWT);
    assert_int_equal(t.client_slot, f->client_slot);
    assert_int_equal(t.iat, FX_NOW);
    assert_int_equal(t.exp, FX_NOW + 600);
    assert_int_equal(shm_token_scope(&f->region, &t, scope, sizeof(scope)), 10);
    assert_string_equal(scope, "read write");
    assert_int_equal(t.scope, c.scope_base); /* its client's list: no string of its own */
    assert_string_equal(proto_interned(&f->ctx, t.audience, scope, sizeof(scope)), "api");
    assert_int_equal(shm_token_state(&f->region, &t, f->ctx.now), SHM_TOKEN_ACTIVE);
    /* Recorded: the next lookup is the table's. */
    assert_int_equal(proto_token_find(&f->ctx, jwt.data, jwt.len, &again), 0);
    assert_memory_equal(again.hash, t.hash, 32);
    proto_buf_free(&jwt);
}

/* A JWT with a scope its client no longer has keeps it, over its own (canonical) text. */
static void test_scope_the_client_lost(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf jwt = {0};
    struct shm_token t;
    struct shm_client c;
    char scope[64];
    uint64_t before = shm_intern_used(&f->region);

    cl.scope = "write gone";
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &cl, &jwt), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), 0);
    assert_int_not_equal(t.scope, c.scope_base);
    assert_int_equal(shm_token_scope(&f->region, &t, scope, sizeof(scope)), 10);
    assert_string_equal(scope, "gone write");
    assert_int_equal(shm_intern_used(&f->region), before + 1);
    proto_buf_free(&jwt);
}

/* By default a JWT the table does not know is refused unverified, and counted. */
static void test_unknown_jwt_refused_by_default(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf jwt = {0};
    struct shm_token t;
    struct shm_client c;

    f->cfg.jwt_verify_unknown = false;
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &cl, &jwt), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), -ENOENT);
    assert_int_equal(proto_token_find(&f->ctx, jwt.data, jwt.len, &t), -ENOENT); /* not recorded */
    assert_int_equal(shm_stats_sum(f->region.stats, SHM_STAT_JWT_UNKNOWN), 1);
    /* An opaque token unknown to the table is not counted: it never had a signature. */
    assert_int_equal(proto_token_resolve(&f->ctx, "opaque", 6, &t, &c), -ENOENT);
    assert_int_equal(shm_stats_sum(f->region.stats, SHM_STAT_JWT_UNKNOWN), 1);
    /* Once recorded (here by the signature path), the table answers whatever the setting. */
    f->cfg.jwt_verify_unknown = true;
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), 0);
    f->cfg.jwt_verify_unknown = false;
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), 0);
    assert_int_equal(shm_stats_sum(f->region.stats, SHM_STAT_JWT_UNKNOWN), 1);
    proto_buf_free(&jwt);
}

static void test_revocation_reaches_jwts(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf a = {0}, b = {0};
    struct shm_token t;
    struct shm_client c;

    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &cl, &a), 0);
    cl.jti = "jti-0002";
    assert_int_equal(fx_mint(f, PROTO_JWT_EDDSA, &cl, &b), 0);
    /* Revoked the way /oauth2/revoke does it: resolve, then flag the entry. */
    assert_int_equal(proto_token_resolve(&f->ctx, a.data, a.len, &t, &c), 0);
    proto_token_revoke_grant(&f->ctx, &t);
    assert_int_equal(proto_token_resolve(&f->ctx, a.data, a.len, &t, &c), 0);
    assert_int_equal(shm_token_state(&f->region, &t, f->ctx.now), SHM_TOKEN_REVOKED);
    /* Revoking every token of the client reaches a recorded JWT... */
    assert_int_equal(proto_token_resolve(&f->ctx, b.data, b.len, &t, &c), 0);
    assert_int_equal(
        shm_client_update(&f->region, f->client_slot, &c, true, f->ctx.owner, NULL, NULL), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, b.data, b.len, &t, &c), 0);
    assert_int_equal(shm_token_state(&f->region, &t, f->ctx.now), SHM_TOKEN_REVOKED);
    /* ...and deleting the client ends it. */
    assert_int_equal(shm_client_delete(&f->region, f->client_slot, f->ctx.owner, NULL), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, b.data, b.len, &t, &c), -ENOENT);
    proto_buf_free(&a);
    proto_buf_free(&b);
}

static void test_recreated_client_does_not_inherit(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf jwt = {0};
    struct shm_token t;
    struct shm_client c;

    cl.sub = cl.client_id = "later";
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &cl, &jwt), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), -ENOENT);
    assert_int_equal(fx_client(f, "later", FX_NOW + 1), 0);
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), -ENOENT);
    proto_buf_free(&jwt);
}

static void test_full_table(void **state)
{
    struct fx *f = *state;
    struct proto_jwt_claims cl = fx_claims(f);
    struct proto_buf jwt = {0};
    struct shm_token t = {0};
    struct shm_client c;
    uint64_t i = 0;
    int misses = 0;

    t.client_slot = (uint32_t)f->client_slot;
    t.client_gen = f->client_gen;
    t.exp = FX_NOW + 60;
    t.kind = SHM_TOKEN_ACCESS;
    /* Fill every slot: an insert fails only when its whole probe range is full. */
    while (misses < 3000) {
        i++;
        memcpy(t.hash, &i, sizeof(i));
        proto_sha256(t.hash, 8, t.hash);
        misses = shm_token_insert(&f->region, &t, f->ctx.owner) == 0 ? 0 : misses + 1;
    }
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &cl, &jwt), 0);
    /* Valid, usable, but not recorded (so not revocable now: the revoke endpoint says 503). */
    assert_int_equal(proto_token_resolve(&f->ctx, jwt.data, jwt.len, &t, &c), 1);
    assert_int_equal(t.exp, FX_NOW + 600);
    assert_int_equal(shm_token_state(&f->region, &t, f->ctx.now), SHM_TOKEN_ACTIVE);
    proto_buf_free(&jwt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table_token, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_jwt_is_verified_and_recorded, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_scope_the_client_lost, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_jwt_refused_by_default, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revocation_reaches_jwts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_recreated_client_does_not_inherit, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_table, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
