/*
 * Unit tests of GET /oauth2/validate (proto/oauth/validate.c) through the route table, with
 * tokens issued by the token endpoint over a real shared-memory region: an active token
 * (the JSON answer and the Tessera-* headers a gateway copies), a missing, unknown,
 * expired or revoked one, a refresh token, a deleted client and a bumped generation
 * (401), scope and audience requirements of the query (403), a malformed query (400), and
 * a JWT the table does not know, validated by its signature.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/ctx_fixture.h"

#define API "https://api.example"
#define WEBID "https://alice.example/profile/card#me"

/* GET /oauth2/validate?query (none when NULL) presenting token with `scheme`. */
static struct proto_response *validate_as(struct cfx *f, const char *scheme, const char *token,
                                          const char *query)
{
    char line[512], headers[CFX_TOKEN_MAX + 64];

    snprintf(line, sizeof(line), "GET /oauth2/validate%s%s", query ? "?" : "", query ? query : "");
    snprintf(headers, sizeof(headers), "Authorization: %s %s\r\n", scheme, token);
    return cfx_request(f, line, headers, NULL);
}

static struct proto_response *validate(struct cfx *f, const char *token, const char *query)
{
    return validate_as(f, "Bearer", token, query);
}

/* A token of the client "svc" (scopes read and write, audience API, or per params). */
static void issue(struct cfx *f, const char *params, char token[CFX_TOKEN_MAX])
{
    cfx_grant(f, "svc",
              params ? params : "grant_type=client_credentials&scope=read+write&audience=" API,
              token, NULL);
}

static uint64_t add_svc(struct cfx *f)
{
    return cfx_client(f, &(struct cfx_client_spec){.id = "svc",
                                                   .scopes = "read write admin",
                                                   .audiences = API " https://other.example",
                                                   .grants = PROTO_GRANT_CLIENT_CREDENTIALS |
                                                             PROTO_GRANT_REFRESH_TOKEN});
}

/* The last answer is status with error, and the RFC 6750 challenge naming it. */
static void assert_refused(struct cfx *f, int status, const char *error)
{
    char want[128];

    cfx_error(f, status, error);
    snprintf(want, sizeof(want), "Bearer realm=\"tessera\", error=\"%s\"", error);
    cfx_header_is(f, "WWW-Authenticate", want);
}

static void test_valid(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX];
    json_t *j;
    int nev;

    add_svc(f);
    issue(f, NULL, token);
    nev = f->nev;
    validate(f, token, NULL);
    cfx_status(f, 200);
    j = cfx_json(f);
    assert_int_equal(json_object_size(j), 5);
    assert_true(json_is_true(json_object_get(j, "active")));
    assert_string_equal(cfx_str(f, "client_id"), "svc");
    assert_string_equal(cfx_str(f, "scope"), "read write");
    assert_string_equal(cfx_str(f, "sub"), "svc");
    assert_int_equal(json_integer_value(json_object_get(j, "exp")), FX_NOW + 600);
    cfx_header_is(f, "Tessera-Client-Id", "svc");
    cfx_header_is(f, "Tessera-Scope", "read write");
    cfx_header_is(f, "Tessera-Subject", "svc");
    cfx_header_is(f, "Cache-Control", "no-store");
    /* the scheme in any case; DPoP too */
    validate_as(f, "bearer", token, NULL);
    cfx_status(f, 200);
    validate_as(f, "DPoP", token, NULL);
    cfx_status(f, 200);
    /* validation changes nothing */
    assert_int_equal(f->nev, nev);
}

static void test_subject(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX];

    cfx_client(f, &(struct cfx_client_spec){.id = "acct", .scopes = "openid", .subject = WEBID});
    cfx_grant(f, "acct", NULL, token, NULL);
    validate(f, token, NULL);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "sub"), WEBID);
    assert_string_equal(cfx_str(f, "client_id"), "acct");
    cfx_header_is(f, "Tessera-Subject", WEBID);
}

static void test_no_token(void **state)
{
    struct cfx *f = *state;

    cfx_request(f, "GET /oauth2/validate", NULL, NULL);
    cfx_error(f, 401, "invalid_request");
    cfx_header_is(f, "WWW-Authenticate", "Bearer realm=\"tessera\"");
    cfx_request(f, "GET /oauth2/validate", "Authorization: Basic c3ZjOng=\r\n", NULL);
    cfx_error(f, 401, "invalid_request");
    cfx_request(f, "GET /oauth2/validate", "Authorization: Bearer \r\n", NULL);
    cfx_error(f, 401, "invalid_request");
}

static void test_inactive(void **state)
{
    struct cfx *f = *state;
    char token[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];

    add_svc(f);
    issue(f, NULL, token);
    validate(f, cfx_unknown_tokens[0], NULL);
    assert_refused(f, 401, "invalid_token");
    token[PROTO_TOKEN_CHARS - 1] ^= 1;
    validate(f, token, NULL);
    assert_refused(f, 401, "invalid_token");
    token[PROTO_TOKEN_CHARS - 1] ^= 1;
    /* it expires at exp, not a second later */
    f->fx.ctx.now = FX_NOW + 599;
    validate(f, token, NULL);
    cfx_status(f, 200);
    f->fx.ctx.now = FX_NOW + 600;
    validate(f, token, NULL);
    assert_refused(f, 401, "invalid_token");
    f->fx.ctx.now = FX_NOW;
    /* a refresh token is no access token */
    cfx_grant(f, "svc", NULL, NULL, rt);
    validate(f, rt, NULL);
    assert_refused(f, 401, "invalid_token");
    /* revoked */
    cfx_token_call(f, "/oauth2/revoke", "svc", token);
    cfx_status(f, 200);
    validate(f, token, NULL);
    assert_refused(f, 401, "invalid_token");
}

static void test_client_changes(void **state)
{
    struct cfx *f = *state;
    char kept[CFX_TOKEN_MAX], token[CFX_TOKEN_MAX];

    add_svc(f);
    issue(f, NULL, kept);
    /* a new secret alone keeps the tokens; revoke_tokens=true moves the generation on */
    cfx_admin(f, "POST /admin/clients/svc/secret", NULL);
    cfx_status(f, 200);
    validate(f, kept, NULL);
    cfx_status(f, 200);
    cfx_admin(f, "POST /admin/clients/svc/secret?revoke_tokens=true", NULL);
    cfx_status(f, 200);
    validate(f, kept, NULL);
    assert_refused(f, 401, "invalid_token");
    /* deleted, and deleted then created again under the same id */
    cfx_admin(f, "DELETE /admin/clients/svc", NULL);
    cfx_status(f, 200);
    add_svc(f);
    issue(f, NULL, token);
    validate(f, token, NULL);
    cfx_status(f, 200);
    cfx_admin(f, "DELETE /admin/clients/svc", NULL);
    cfx_status(f, 200);
    validate(f, token, NULL);
    assert_refused(f, 401, "invalid_token");
    add_svc(f);
    validate(f, token, NULL);
    assert_refused(f, 401, "invalid_token");
}

static void test_requirements(void **state)
{
    struct cfx *f = *state;
    static const char *const met[] = {
        "scope=read",
        "scope=read+write",
        "scope=write%20read",
        "scope=",
        "audience=" API,
        "scope=read&audience=" API,
        "other=x",
        "audience=https%3A%2F%2Fapi.example",
    };
    static const char *const unmet[] = {
        "scope=admin",
        "scope=read+admin",
        "scope=rea",
        "audience=https://other.example",
        "audience=https://api.exampl",
        "audience=",
        "scope=read&audience=https://other.example",
    };
    char token[CFX_TOKEN_MAX], bare[CFX_TOKEN_MAX];

    add_svc(f);
    issue(f, NULL, token);
    issue(f, "grant_type=client_credentials&scope=read", bare);
    for (size_t i = 0; i < sizeof(met) / sizeof(met[0]); i++) {
        validate(f, token, met[i]);
        cfx_status(f, 200);
    }
    for (size_t i = 0; i < sizeof(unmet) / sizeof(unmet[0]); i++) {
        validate(f, token, unmet[i]);
        assert_refused(f, 403, "insufficient_scope");
    }
    /* a token without an audience meets no audience requirement */
    validate(f, bare, "audience=" API);
    assert_refused(f, 403, "insufficient_scope");
    validate(f, bare, "scope=read");
    cfx_status(f, 200);
    validate(f, token, "scope=%zz");
    assert_refused(f, 400, "invalid_request");
    validate(f, token, "scope=read%00");
    assert_refused(f, 400, "invalid_request");
}

static void test_jwt_unknown_to_the_table(void **state)
{
    struct cfx *f = *state;
    struct proto_jwt_claims cl = fx_claims(&f->fx);
    struct proto_buf jwt = {0};

    add_svc(f);
    cl.aud = API;
    /* signed by this server (before a restart, say): the table has never seen it */
    assert_int_equal(fx_mint(&f->fx, PROTO_JWT_ES256, &cl, &jwt), 0);
    validate(f, jwt.data, "scope=write&audience=" API);
    cfx_status(f, 200);
    cfx_header_is(f, "Tessera-Scope", "read write");
    /* ... and from now on it obeys the table */
    cfx_admin(f, "DELETE /admin/clients/svc", NULL);
    validate(f, jwt.data, NULL);
    assert_refused(f, 401, "invalid_token");
    /* a forged signature is no token */
    add_svc(f);
    assert_int_equal(fx_mint(&f->fx, PROTO_JWT_ES256, &cl, &jwt), 0);
    jwt.data[jwt.len - 2] = jwt.data[jwt.len - 2] == 'A' ? 'B' : 'A';
    validate(f, jwt.data, NULL);
    assert_refused(f, 401, "invalid_token");
    proto_buf_free(&jwt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_subject, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_no_token, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_inactive, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_client_changes, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_requirements, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_jwt_unknown_to_the_table, cfx_setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
