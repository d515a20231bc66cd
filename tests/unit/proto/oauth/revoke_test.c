/*
 * Unit tests of token revocation (proto/oauth/revoke.c) through the route table, with tokens
 * the token endpoint issued over a real shared-memory region: POST /oauth2/revoke
 * (RFC 7009) revokes only the caller's own tokens and answers 200 whatever the token was;
 * a refresh token ends its whole grant; what cannot be recorded (a journal that fails, a
 * JWT the full table cannot take) is a 503 with Retry-After; and Aidbox's DELETE /Session,
 * where the bearer of a token revokes it.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/ctx_fixture.h"

#define BOTH (PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN)

static int setup(void **state)
{
    struct cfx *f;

    if (cfx_setup(state) < 0)
        return -1;
    f = *state;
    cfx_client(f, &(struct cfx_client_spec){.id = "a", .scopes = "read", .grants = BOTH});
    cfx_client(f, &(struct cfx_client_spec){.id = "b", .scopes = "read", .grants = BOTH});
    cfx_client(f, &(struct cfx_client_spec){.id = "rs", .flags = PROTO_CLIENT_CAN_INTROSPECT});
    return 0;
}

static struct proto_response *revoke(struct cfx *f, const char *caller, const char *token)
{
    return cfx_token_call(f, "/oauth2/revoke", caller, token);
}

/* The last answer is RFC 7009's 200 with an empty body, not to be cached. */
static void assert_revoke_ok(struct cfx *f)
{
    cfx_status(f, 200);
    assert_int_equal(f->res.body.len, 0);
    cfx_header_is(f, "Cache-Control", "no-store");
}

/* The last answer is a 503 that tells the client when to try again. */
static void assert_unavailable(struct cfx *f)
{
    cfx_error(f, 503, "temporarily_unavailable");
    cfx_header_is(f, "Retry-After", "10");
}

static void test_own_token(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], other[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];
    struct shm_token t;

    cfx_grant(f, "a", NULL, token, rt);
    cfx_grant(f, "a", NULL, other, NULL);
    assert_int_equal(cfx_entry(f, token, &t), 0);
    f->nev = 0;
    revoke(f, "a", token);
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, token), SHM_TOKEN_REVOKED);
    /* an access token ends alone: not its grant's refresh token, not other tokens */
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_state(f, other), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].kind, CFX_REVOKED);
    assert_memory_equal(f->ev[0].token.hash, t.hash, 32);
    /* again: still 200 */
    revoke(f, "a", token);
    assert_revoke_ok(f);
    /* the hint is only a hint */
    cfx_post_as(f, "/oauth2/revoke", "a", "token_type_hint=refresh_token&token=x");
    assert_revoke_ok(f);
}

static void test_only_own_tokens(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];

    cfx_grant(f, "a", NULL, token, rt);
    f->nev = 0;
    /* answered as if done (RFC 7009 §2.2), and nothing done */
    revoke(f, "b", token);
    assert_revoke_ok(f);
    revoke(f, "b", rt);
    assert_revoke_ok(f);
    revoke(f, "rs", token); /* can_introspect is no right to revoke */
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, token), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, 0);
}

static void test_unknown_token(void **state)
{
    struct cfx *f = *state;

    for (size_t i = 0; i < CFX_UNKNOWN_TOKENS; i++) {
        revoke(f, "a", cfx_unknown_tokens[i]);
        assert_revoke_ok(f);
    }
    assert_int_equal(f->nev, 0);
}

static void test_refresh_token_ends_its_grant(void **state)
{
    struct cfx *f = *state;
    char a1[CFX_TOKEN_MAX], r1[CFX_TOKEN_MAX], a2[CFX_TOKEN_MAX], r2[CFX_TOKEN_MAX];
    char lone[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];
    char params[CFX_TOKEN_MAX + 64];

    cfx_grant(f, "a", NULL, a1, r1);
    snprintf(params, sizeof(params), "grant_type=refresh_token&refresh_token=%s", r1);
    cfx_grant(f, "a", params, a2, r2);
    cfx_grant(f, "a", NULL, lone, rt);
    f->nev = 0;
    revoke(f, "a", r2);
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, a1), SHM_TOKEN_REVOKED);
    assert_int_equal(cfx_state(f, a2), SHM_TOKEN_REVOKED);
    assert_int_equal(cfx_state(f, r2), SHM_TOKEN_REVOKED);
    /* another grant of the same client is another family */
    assert_int_equal(cfx_state(f, lone), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    /* r2 itself, a1 and a2 (r1 was used up by the refresh) */
    assert_int_equal(cfx_events(f, CFX_REVOKED), 3);
    /* a used refresh token's entry was freed when it was used: presented again it is an
     * unknown token (200, RFC 7009 §2.2), and the grant goes on with its successor */
    cfx_grant(f, "b", NULL, a1, r1);
    snprintf(params, sizeof(params), "grant_type=refresh_token&refresh_token=%s", r1);
    cfx_grant(f, "b", params, a2, r2);
    revoke(f, "b", r1);
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, a2), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_state(f, r2), SHM_TOKEN_ACTIVE);
    revoke(f, "b", r2);
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, a2), SHM_TOKEN_REVOKED);
}

static void test_earlier_client_generation(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], secret[64], auth[CFX_BASIC_MAX], body[CFX_TOKEN_MAX + 16];

    /* all of a's tokens were revoked at once (a new generation, the same slot): the
     * tokens of the old generation are no longer a's to revoke one by one */
    cfx_grant(f, "a", NULL, token, NULL);
    cfx_admin(f, "POST /admin/clients/a/secret?revoke_tokens=true", NULL);
    cfx_status(f, 200);
    snprintf(secret, sizeof(secret), "%s", cfx_str(f, "client_secret"));
    snprintf(body, sizeof(body), "token=%s", token);
    f->nev = 0;
    cfx_form(f, "/oauth2/revoke", cfx_basic("a", secret, auth), body);
    assert_revoke_ok(f);
    assert_int_equal(f->nev, 0);
    /* nor are they a new client's of the same id */
    cfx_grant(f, "b", NULL, token, NULL);
    cfx_admin(f, "DELETE /admin/clients/b", NULL);
    cfx_status(f, 200);
    cfx_client(f, &(struct cfx_client_spec){.id = "b", .scopes = "read", .grants = BOTH});
    f->nev = 0;
    revoke(f, "b", token);
    assert_revoke_ok(f);
    assert_int_equal(f->nev, 0);
}

static void test_unrecordable(void **state)
{
    struct cfx *f = *state;
    struct proto_jwt_claims cl = fx_claims(&f->fx);
    struct proto_buf jwt = {0};
    char token[CFX_TOKEN_MAX];
    struct shm_client c;
    uint32_t gen;
    int64_t slot;

    cfx_grant(f, "a", NULL, token, NULL);
    f->journal_fails = true;
    revoke(f, "a", token);
    assert_unavailable(f);
    f->journal_fails = false;
    /* a JWT the table never saw, while the table is full: it could not be recorded
     * as revoked, and its signature would keep it valid */
    cfx_client(f, &(struct cfx_client_spec){.id = "svc", .format = PROTO_FORMAT_JWT});
    slot = shm_client_find(&f->fx.region, "svc", 3, &c, &gen);
    assert_true(slot >= 0);
    assert_int_equal(fx_mint(&f->fx, PROTO_JWT_ES256, &cl, &jwt), 0);
    assert_true(cfx_fill_tokens(f, (uint64_t)slot, FX_NOW + 60) > 0);
    revoke(f, "svc", jwt.data);
    assert_unavailable(f);
    /* once there is room, it is recorded and revoked */
    f->fx.ctx.now += 61;
    assert_true(shm_region_sweep(&f->fx.region, f->fx.ctx.now, f->fx.ctx.owner) > 0);
    cl.iat = f->fx.ctx.now;
    cl.exp = f->fx.ctx.now + 600;
    assert_int_equal(fx_mint(&f->fx, PROTO_JWT_ES256, &cl, &jwt), 0);
    revoke(f, "svc", jwt.data);
    assert_revoke_ok(f);
    assert_int_equal(cfx_state(f, jwt.data), SHM_TOKEN_REVOKED);
    proto_buf_free(&jwt);
}

static void test_caller(void **state)
{
    struct cfx *f = *state;

    cfx_post_as(f, "/oauth2/revoke", "a", "token_type_hint=access_token");
    cfx_error(f, 400, "invalid_request");
    cfx_form(f, "/oauth2/revoke", NULL, "token=x");
    cfx_error(f, 401, "invalid_client");
    cfx_form(f, "/oauth2/revoke", NULL, "client_id=a&client_secret=wrong&token=x");
    cfx_error(f, 401, "invalid_client");
}

static struct proto_response *session_delete(struct cfx *f, const char *token)
{
    char headers[CFX_TOKEN_MAX + 64];

    if (token)
        snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", token);
    return cfx_request(f, "DELETE /Session", token ? headers : NULL, NULL);
}

static void test_session_delete(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX], other[CFX_TOKEN_MAX];

    cfx_grant(f, "a", NULL, token, rt);
    cfx_grant(f, "a", NULL, other, NULL);
    session_delete(f, token);
    cfx_status(f, 200);
    assert_int_equal(f->res.body.len, 2);
    assert_memory_equal(f->res.body.data, "{}", 2);
    assert_int_equal(cfx_state(f, token), SHM_TOKEN_REVOKED);
    assert_int_equal(cfx_state(f, other), SHM_TOKEN_ACTIVE);
    /* the bearer of a revoked, unknown or no token is refused */
    session_delete(f, token);
    cfx_error(f, 401, "invalid_token");
    cfx_header_is(f, "WWW-Authenticate", "Bearer realm=\"tessera\", error=\"invalid_token\"");
    session_delete(f, cfx_unknown_tokens[0]);
    cfx_error(f, 401, "invalid_token");
    session_delete(f, NULL);
    cfx_error(f, 401, "invalid_token");
    /* the bearer of a refresh token ends its grant */
    cfx_grant(f, "b", NULL, token, rt);
    session_delete(f, rt);
    cfx_status(f, 200);
    assert_int_equal(cfx_state(f, token), SHM_TOKEN_REVOKED);
    f->journal_fails = true;
    session_delete(f, other);
    assert_unavailable(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_own_token, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_only_own_tokens, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_token, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_token_ends_its_grant, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_earlier_client_generation, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_unrecordable, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_caller, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_session_delete, setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
