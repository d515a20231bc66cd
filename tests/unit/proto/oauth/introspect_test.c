/*
 * Unit tests of POST /oauth2/introspect (RFC 7662, proto/oauth/introspect.c) through the route
 * table, with tokens the token endpoint issued over a real shared-memory region: every
 * member of an active answer, a client asking about its own tokens, one with
 * can_introspect asking about anyone's, {"active":false} for whatever is not active or not
 * the caller's to see, refresh tokens (token_use), JWTs (their own jti, and one the table
 * never saw), DPoP-bound tokens (cnf.jkt), and the caller's authentication.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/ctx_fixture.h"

#define API "https://api.example"
#define INACTIVE "{\"active\":false}"

static int setup(void **state)
{
    struct cfx *f;

    if (cfx_setup(state) < 0)
        return -1;
    f = *state;
    cfx_client(f, &(struct cfx_client_spec){.id = "rs", .flags = PROTO_CLIENT_CAN_INTROSPECT});
    for (int i = 0; i < 2; i++)
        cfx_client(f, &(struct cfx_client_spec){.id = i ? "b" : "a",
                                                .scopes = "read write",
                                                .audiences = API,
                                                .grants = PROTO_GRANT_CLIENT_CREDENTIALS |
                                                          PROTO_GRANT_REFRESH_TOKEN});
    return 0;
}

static struct proto_response *introspect(struct cfx *f, const char *caller, const char *token)
{
    return cfx_token_call(f, "/oauth2/introspect", caller, token);
}

/* The last answer is exactly {"active":false}, not to be cached. */
static void assert_inactive(struct cfx *f)
{
    cfx_status(f, 200);
    assert_int_equal(f->res.body.len, strlen(INACTIVE));
    assert_memory_equal(f->res.body.data, INACTIVE, f->res.body.len);
    cfx_header_is(f, "Cache-Control", "no-store");
}

static json_int_t int_member(struct cfx *f, const char *name)
{
    json_t *v = json_object_get(cfx_json(f), name);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_active(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], jti[24];
    struct shm_token t;

    cfx_grant(f, "a", "grant_type=client_credentials&scope=write&audience=" API, token, NULL);
    assert_int_equal(cfx_entry(f, token, &t), 0);
    proto_token_id(&t, jti);
    f->fx.ctx.now += 5;
    introspect(f, "a", token);
    cfx_status(f, 200);
    assert_int_equal(json_object_size(cfx_json(f)), 10);
    assert_true(json_is_true(json_object_get(cfx_json(f), "active")));
    assert_string_equal(cfx_str(f, "scope"), "write");
    assert_string_equal(cfx_str(f, "client_id"), "a");
    assert_string_equal(cfx_str(f, "token_type"), "Bearer");
    assert_null(json_object_get(cfx_json(f), "token_use"));
    assert_int_equal(int_member(f, "exp"), FX_NOW + 600);
    assert_int_equal(int_member(f, "iat"), FX_NOW);
    assert_string_equal(cfx_str(f, "sub"), "a");
    assert_string_equal(cfx_str(f, "aud"), API);
    assert_string_equal(cfx_str(f, "iss"), FX_ISSUER);
    /* an opaque token's jti: a stable id from its hash, never the token */
    assert_string_equal(cfx_str(f, "jti"), jti);
    cfx_header_is(f, "Cache-Control", "no-store");
    cfx_header_is(f, "Pragma", "no-cache");
    /* no audience asked for, none answered */
    cfx_grant(f, "a", NULL, token, NULL);
    introspect(f, "a", token);
    cfx_status(f, 200);
    assert_null(json_object_get(cfx_json(f), "aud"));
    assert_string_equal(cfx_str(f, "scope"), "read write");
}

static void test_whose_tokens(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX];

    cfx_grant(f, "a", NULL, token, NULL);
    /* another client may not look... */
    introspect(f, "b", token);
    assert_inactive(f);
    /* ...one with can_introspect may, and sees the owner's id */
    introspect(f, "rs", token);
    cfx_status(f, 200);
    assert_true(json_is_true(json_object_get(cfx_json(f), "active")));
    assert_string_equal(cfx_str(f, "client_id"), "a");
    assert_string_equal(cfx_str(f, "sub"), "a");
}

static void test_inactive(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], revoked[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];

    for (size_t i = 0; i < CFX_UNKNOWN_TOKENS; i++) {
        introspect(f, "rs", cfx_unknown_tokens[i]);
        assert_inactive(f);
    }
    cfx_grant(f, "a", NULL, token, NULL);
    cfx_grant(f, "a", NULL, revoked, rt);
    cfx_token_call(f, "/oauth2/revoke", "a", revoked);
    cfx_status(f, 200);
    introspect(f, "rs", revoked);
    assert_inactive(f);
    introspect(f, "a", revoked);
    assert_inactive(f);
    f->fx.ctx.now = FX_NOW + 600;
    introspect(f, "rs", token);
    assert_inactive(f);
    f->fx.ctx.now = FX_NOW + 599;
    introspect(f, "rs", token);
    cfx_status(f, 200);
    cfx_admin(f, "POST /admin/clients/a/secret?revoke_tokens=true", NULL);
    cfx_status(f, 200);
    introspect(f, "rs", token);
    assert_inactive(f);
    introspect(f, "rs", rt);
    assert_inactive(f);
}

static void test_refresh_token(void **state)
{
    struct cfx *f = *state;
    char rt[CFX_TOKEN_MAX];

    cfx_grant(f, "a", "grant_type=client_credentials&scope=read", NULL, rt);
    introspect(f, "a", rt);
    cfx_status(f, 200);
    /* token_type is for access tokens; a refresh token says what it is in token_use */
    assert_string_equal(cfx_str(f, "token_use"), "refresh_token");
    assert_null(json_object_get(cfx_json(f), "token_type"));
    assert_string_equal(cfx_str(f, "scope"), "read");
    assert_int_equal(int_member(f, "exp"), FX_NOW + 86400);
}

static void test_jwt(void **state)
{
    struct cfx *f = *state;
    struct proto_jwt_claims cl = fx_claims(&f->fx);
    struct proto_buf jwt = {0};
    char token[CFX_TOKEN_MAX];
    json_t *claims;

    cfx_client(f, &(struct cfx_client_spec){
                      .id = "svc", .scopes = "read write", .format = PROTO_FORMAT_JWT});
    cfx_grant(f, "svc", NULL, token, NULL);
    claims = fx_part(token, 1);
    introspect(f, "svc", token);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "jti"), json_string_value(json_object_get(claims, "jti")));
    assert_string_equal(cfx_str(f, "aud"), FX_ISSUER);
    json_decref(claims);
    /* one the table never saw: verified, then answered like any other */
    cl.jti = "jti-of-a-jwt-from-before";
    assert_int_equal(fx_mint(&f->fx, PROTO_JWT_ES256, &cl, &jwt), 0);
    introspect(f, "rs", jwt.data);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "jti"), "jti-of-a-jwt-from-before");
    assert_string_equal(cfx_str(f, "client_id"), "svc");
    introspect(f, "a", jwt.data);
    assert_inactive(f);
    proto_buf_free(&jwt);
}

static void test_dpop_bound(void **state)
{
    struct cfx *f = *state;
    const char *token = "a-dpop-bound-token-for-the-unit-test-0123456";
    struct shm_token t = {0};
    struct shm_client c;
    char jkt[48];

    proto_token_hash(token, strlen(token), t.hash);
    t.client_slot = (uint32_t)shm_client_find(&f->fx.region, "a", 1, &c, &t.client_gen);
    t.kind = SHM_TOKEN_ACCESS;
    t.flags = SHM_TOKEN_DPOP;
    t.iat = FX_NOW;
    t.exp = FX_NOW + 60;
    for (int i = 0; i < 32; i++)
        t.jkt[i] = (uint8_t)i;
    assert_int_equal(shm_token_insert(&f->fx.region, &t, f->fx.ctx.owner), 0);
    proto_b64url_encode(t.jkt, 32, jkt);
    introspect(f, "a", token);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "token_type"), "DPoP");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(cfx_json(f), "cnf"), "jkt")), jkt);
}

static void test_caller(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX];
    int nev;

    cfx_grant(f, "a", NULL, token, NULL);
    nev = f->nev;
    cfx_post_as(f, "/oauth2/introspect", "a", "token_type_hint=access_token");
    cfx_error(f, 400, "invalid_request");
    cfx_form(f, "/oauth2/introspect", NULL, "token=x");
    cfx_error(f, 401, "invalid_client");
    cfx_form(f, "/oauth2/introspect", NULL, "client_id=rs&client_secret=wrong&token=x");
    cfx_error(f, 401, "invalid_client");
    cfx_post_as(f, "/oauth2/introspect", "rs", "token=x&token=y");
    cfx_error(f, 400, "invalid_request");
    cfx_request(f, "GET /oauth2/introspect", NULL, NULL);
    cfx_status(f, 405);
    introspect(f, "rs", token);
    cfx_status(f, 200);
    /* introspection changes nothing */
    assert_int_equal(f->nev, nev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_active, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_whose_tokens, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_inactive, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_token, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_jwt, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_dpop_bound, setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_caller, setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
