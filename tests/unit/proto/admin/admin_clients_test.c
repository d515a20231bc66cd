/*
 * Unit tests of the admin API's client handlers (proto/admin/admin_clients.c) through the route
 * table over a real shared-memory region, checking each answer and what it changed: the
 * record in shared memory, the journal's records, and the client's tokens.  Create (a
 * chosen or generated id and secret, 409), get, list, put (create or replace, keeping the
 * secret and the tokens), delete (its tokens die), secret rotation (with and without
 * revoke_tokens), bad fields (400 naming the field, nothing written), other media types
 * (415), a journal that fails and a full client table (503), and the admin token.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/ctx_fixture.h"

#define API "https://api.example"
#define BILLING                                                                                    \
    "{\"client_id\":\"billing\",\"name\":\"Billing\",\"scopes\":[\"read\",\"write\"],"             \
    "\"default_scopes\":[\"read\"],\"audiences\":[\"" API "\"],"                                   \
    "\"grant_types\":[\"client_credentials\",\"refresh_token\"],\"token_format\":\"jwt\","         \
    "\"access_token_ttl\":120,\"can_introspect\":true}"

/* Issues a token to id with secret (client_secret_basic); the status. */
static int token_with(struct cfx *f, const char *id, const char *secret)
{
    char auth[CFX_BASIC_MAX];

    cfx_form(f, "/oauth2/token", cfx_basic(id, secret, auth), "grant_type=client_credentials");
    return f->res.status;
}

/* The state of a token by validating it. */
static int validate(struct cfx *f, const char *token)
{
    char headers[CFX_TOKEN_MAX + 64];

    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", token);
    cfx_request(f, "GET /oauth2/validate", headers, NULL);
    return f->res.status;
}

/* The record of id in shared memory (asserted to exist); its slot. */
static int64_t record(struct cfx *f, const char *id, struct shm_client *c, uint32_t *gen)
{
    int64_t slot = shm_client_find(&f->fx.region, id, strlen(id), c, gen);

    assert_true(slot >= 0);
    return slot;
}

static void assert_last_event(struct cfx *f, enum cfx_event_kind kind, const char *id)
{
    assert_true(f->nev > 0);
    assert_int_equal(f->ev[f->nev - 1].kind, kind);
    assert_string_equal(f->ev[f->nev - 1].id, id);
}

static void test_create(void **state)
{
    struct cfx *f = *state;
    char secret[64], text[PROTO_SCOPE_MAX + 1], token[CFX_TOKEN_MAX];
    struct shm_client c;
    uint32_t gen;
    json_t *j;

    cfx_admin(f, "POST /admin/clients", BILLING);
    cfx_status(f, 201);
    j = cfx_json(f);
    assert_string_equal(cfx_str(f, "client_id"), "billing");
    assert_string_equal(cfx_str(f, "name"), "Billing");
    assert_string_equal(cfx_str(f, "token_format"), "jwt");
    assert_int_equal(json_integer_value(json_object_get(j, "access_token_ttl")), 120);
    assert_true(json_is_true(json_object_get(j, "can_introspect")));
    assert_int_equal(json_integer_value(json_object_get(j, "created_at")), FX_NOW);
    assert_int_equal(json_array_size(json_object_get(j, "scopes")), 2);
    snprintf(secret, sizeof(secret), "%s", cfx_str(f, "client_secret"));
    assert_int_equal(strlen(secret), PROTO_TOKEN_CHARS);
    cfx_header_is(f, "Location", "/admin/clients/billing");
    cfx_header_is(f, "Cache-Control", "no-store");
    /* stored: a generated secret's verifier is one SHA-256 */
    record(f, "billing", &c, &gen);
    assert_int_equal(c.verifier_kind, SHM_VERIFIER_SHA256);
    assert_true(proto_secret_verify(&c, secret, strlen(secret)));
    assert_string_equal(proto_interned(&f->fx.ctx, c.scopes, text, sizeof(text)), "read write");
    assert_string_equal(proto_interned(&f->fx.ctx, c.default_scopes, text, sizeof(text)), "read");
    assert_string_equal(proto_interned(&f->fx.ctx, c.audiences, text, sizeof(text)), API);
    assert_int_equal(c.flags, PROTO_CLIENT_CAN_INTROSPECT);
    assert_int_equal(c.token_format, PROTO_FORMAT_JWT);
    assert_int_equal(c.created, FX_NOW);
    /* journaled with its generation, which is the change's version */
    assert_int_equal(f->nev, 1);
    assert_last_event(f, CFX_CLIENT_PUT, "billing");
    assert_int_equal(f->ev[0].generation, gen);
    assert_true(f->ev[0].version == gen);
    /* and usable at once */
    assert_int_equal(token_with(f, "billing", secret), 200);
    snprintf(token, sizeof(token), "%s", cfx_str(f, "access_token"));
    assert_string_equal(cfx_str(f, "scope"), "read");
    assert_int_equal(validate(f, token), 200);
    /* an id is unique */
    f->nev = 0;
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"billing\"}");
    cfx_error(f, 409, "conflict");
    assert_int_equal(f->nev, 0);
    assert_true(proto_secret_verify(&c, secret, strlen(secret)));
}

static void test_create_generated_id_and_chosen_secret(void **state)
{
    struct cfx *f = *state;
    char id[64], loc[128];
    struct shm_client c;

    cfx_admin(f, "POST /admin/clients", "{\"client_secret\":\"correct horse battery staple\"}");
    cfx_status(f, 201);
    snprintf(id, sizeof(id), "%s", cfx_str(f, "client_id"));
    assert_int_equal(strlen(id), PROTO_CLIENT_ID_CHARS);
    assert_string_equal(cfx_str(f, "client_secret"), "correct horse battery staple");
    snprintf(loc, sizeof(loc), "/admin/clients/%s", id);
    cfx_header_is(f, "Location", loc);
    /* a secret a person chose is stored with Argon2id */
    record(f, id, &c, NULL);
    assert_int_equal(c.verifier_kind, SHM_VERIFIER_ARGON2ID);
    assert_int_equal(token_with(f, id, "correct+horse+battery+staple"), 200);
    assert_int_equal(token_with(f, id, "correct+horse"), 401);
    /* two generated ids differ */
    cfx_admin(f, "POST /admin/clients", "{}");
    cfx_status(f, 201);
    assert_string_not_equal(cfx_str(f, "client_id"), id);
}

struct bad {
    const char *body;
    const char *field;
};

static const struct bad bad_fields[] = {
    {"{\"scopes\":\"read\"}", "scopes"},
    {"{\"scopes\":[\"a b\"]}", "scopes"},
    {"{\"scopes\":[\"a\"],\"default_scopes\":[\"b\"]}", "default_scopes"},
    {"{\"audiences\":[\"\"]}", "audiences"},
    {"{\"grant_types\":[\"password\"]}", "grant_types"},
    {"{\"token_format\":\"paseto\"}", "token_format"},
    {"{\"jwt_alg\":\"HS256\"}", "jwt_alg"},
    {"{\"access_token_ttl\":0}", "access_token_ttl"},
    {"{\"max_access_token_ttl\":-5}", "max_access_token_ttl"},
    {"{\"refresh_token_ttl\":\"60\"}", "refresh_token_ttl"},
    {"{\"can_introspect\":\"yes\"}", "can_introspect"},
    {"{\"client_id\":\"\"}", "client_id"},
    {"{\"client_secret\":\"\"}", "client_secret"},
    {"{\"name\":5}", "name"},
    {"{\"colour\":\"red\"}", "colour"},
    {"[\"client_id\"]", "object"},
    {"{\"name\":", "JSON"},
};

static void test_bad_fields(void **state)
{
    struct cfx *f = *state;
    const char *why;

    for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
        cfx_admin(f, "POST /admin/clients", bad_fields[i].body);
        cfx_error(f, 400, "invalid_request");
        why = cfx_str(f, "error_description");
        if (strstr(why, bad_fields[i].field) == NULL)
            print_error("%s: \"%s\" does not name %s\n", bad_fields[i].body, why,
                        bad_fields[i].field);
        assert_non_null(strstr(why, bad_fields[i].field));
        cfx_admin(f, "PUT /admin/clients/x", bad_fields[i].body);
        cfx_error(f, 400, "invalid_request");
        assert_non_null(strstr(cfx_str(f, "error_description"), bad_fields[i].field));
    }
    /* nothing was written */
    assert_int_equal(f->nev, 0);
    assert_true(shm_client_find(&f->fx.region, "x", 1, &(struct shm_client){0}, NULL) < 0);
    cfx_admin(f, "GET /admin/clients", NULL);
    cfx_status(f, 200);
    assert_int_equal(json_array_size(json_object_get(cfx_json(f), "clients")), 0);
}

static void test_media_types(void **state)
{
    struct cfx *f = *state;

    cfx_request(f, "POST /admin/clients",
                "Authorization: " CFX_ADMIN
                "\r\nContent-Type: application/x-www-form-urlencoded\r\n",
                "client_id=x");
    cfx_error(f, 415, "invalid_request");
    cfx_request(f, "POST /admin/clients",
                "Authorization: " CFX_ADMIN "\r\nContent-Type: text/plain\r\n", "{}");
    cfx_error(f, 415, "invalid_request");
    cfx_request(f, "POST /admin/clients", "Authorization: " CFX_ADMIN "\r\n", "{}");
    cfx_error(f, 415, "invalid_request");
    cfx_request(f, "PUT /admin/clients/x",
                "Authorization: " CFX_ADMIN "\r\nContent-Type: text/plain\r\n", "{}");
    cfx_error(f, 415, "invalid_request");
    /* no body at all: the parser says a client is required */
    cfx_request(f, "POST /admin/clients", "Authorization: " CFX_ADMIN "\r\n", NULL);
    cfx_error(f, 400, "invalid_request");
    cfx_request(f, "POST /admin/clients",
                "Authorization: " CFX_ADMIN "\r\nContent-Type: application/json; charset=utf-8\r\n",
                "{\"client_id\":\"typed\"}");
    cfx_status(f, 201);
    assert_int_equal(f->nev, 1);
}

/* An admin call without a body that must be refused. */
struct refusal {
    const char *line;
    int status;
    const char *error;
};

static void refusals(struct cfx *f, const struct refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cfx_admin(f, r[i].line, NULL);
        if (f->res.status != r[i].status)
            print_error("%s: ", r[i].line);
        cfx_error(f, r[i].status, r[i].error);
    }
}

static const struct refusal list_refusals[] = {
    {"GET /admin/clients?limit=2&limit=3", 400, "invalid_request"},
    {"GET /admin/clients?page=2", 400, "invalid_request"},
    {"GET /admin/clients?limit=two", 400, "invalid_request"},
    {"GET /admin/clients?after=xyz", 400, "invalid_request"},
};

static void test_get_and_list(void **state)
{
    struct cfx *f = *state;
    char next[PROTO_CLIENT_CURSOR_MAX], target[64];
    json_t *list;

    cfx_admin(f, "POST /admin/clients", BILLING);
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"a/b c\"}");
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"third\"}");
    cfx_admin(f, "GET /admin/clients/billing", NULL);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "client_id"), "billing");
    assert_null(json_object_get(cfx_json(f), "client_secret"));
    assert_null(json_object_get(cfx_json(f), "verifier"));
    cfx_admin(f, "GET /admin/clients/a%2Fb%20c", NULL);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "client_id"), "a/b c");
    cfx_admin(f, "GET /admin/clients/nobody", NULL);
    cfx_error(f, 404, "not_found");
    cfx_admin(f, "GET /admin/clients/billing/secret", NULL);
    cfx_status(f, 405);
    /* pages in slot order, with a cursor to the next */
    cfx_admin(f, "GET /admin/clients?limit=2", NULL);
    cfx_status(f, 200);
    list = json_object_get(cfx_json(f), "clients");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "client_id")),
                        "billing");
    assert_null(json_object_get(json_array_get(list, 0), "client_secret"));
    snprintf(next, sizeof(next), "%s", cfx_str(f, "next"));
    snprintf(target, sizeof(target), "GET /admin/clients?limit=2&after=%s", next);
    cfx_admin(f, target, NULL);
    cfx_status(f, 200);
    list = json_object_get(cfx_json(f), "clients");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "client_id")),
                        "third");
    assert_true(json_is_null(json_object_get(cfx_json(f), "next")));
    refusals(f, list_refusals, sizeof(list_refusals) / sizeof(list_refusals[0]));
}

static void test_put(void **state)
{
    struct cfx *f = *state;
    char secret[64], token[CFX_TOKEN_MAX], text[PROTO_SCOPE_MAX + 1];
    struct shm_client c;
    uint32_t gen, gen2;
    uint64_t version;

    /* PUT of a new id creates it */
    cfx_admin(f, "PUT /admin/clients/svc", "{\"scopes\":[\"read\",\"write\"]}");
    cfx_status(f, 201);
    snprintf(secret, sizeof(secret), "%s", cfx_str(f, "client_secret"));
    cfx_header_is(f, "Location", "/admin/clients/svc");
    record(f, "svc", &c, &gen);
    version = f->ev[f->nev - 1].version;
    assert_int_equal(token_with(f, "svc", secret), 200);
    snprintf(token, sizeof(token), "%s", cfx_str(f, "access_token"));
    /* PUT over it replaces the policy, keeping secret, creation time and tokens */
    f->fx.ctx.now += 30;
    cfx_admin(f, "PUT /admin/clients/svc", "{\"client_id\":\"svc\",\"scopes\":[\"read\"]}");
    cfx_status(f, 200);
    assert_null(json_object_get(cfx_json(f), "client_secret"));
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "created_at")), FX_NOW);
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "updated_at")), FX_NOW + 30);
    record(f, "svc", &c, &gen2);
    assert_int_equal(gen2, gen);
    assert_string_equal(proto_interned(&f->fx.ctx, c.scopes, text, sizeof(text)), "read");
    assert_last_event(f, CFX_CLIENT_PUT, "svc");
    assert_int_equal(f->ev[f->nev - 1].generation, gen);
    assert_true(f->ev[f->nev - 1].version > version);
    assert_int_equal(validate(f, token), 200);
    assert_int_equal(token_with(f, "svc", secret), 200);
    assert_string_equal(cfx_str(f, "scope"), "read");
    /* a secret in the body replaces it */
    cfx_admin(f, "PUT /admin/clients/svc", "{\"client_secret\":\"a new chosen one\"}");
    cfx_status(f, 200);
    assert_int_equal(token_with(f, "svc", secret), 401);
    assert_int_equal(token_with(f, "svc", "a+new+chosen+one"), 200);
    /* the body may not name another client */
    cfx_admin(f, "PUT /admin/clients/svc", "{\"client_id\":\"other\"}");
    cfx_error(f, 400, "invalid_request");
    assert_true(shm_client_find(&f->fx.region, "other", 5, &c, NULL) < 0);
}

static void test_delete(void **state)
{
    struct cfx *f = *state;
    char secret[64], token[CFX_TOKEN_MAX];

    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"gone\"}");
    snprintf(secret, sizeof(secret), "%s", cfx_str(f, "client_secret"));
    assert_int_equal(token_with(f, "gone", secret), 200);
    snprintf(token, sizeof(token), "%s", cfx_str(f, "access_token"));
    cfx_admin(f, "DELETE /admin/clients/gone", NULL);
    cfx_status(f, 200);
    assert_string_equal(cfx_str(f, "client_id"), "gone");
    assert_null(json_object_get(cfx_json(f), "client_secret"));
    assert_last_event(f, CFX_CLIENT_DELETED, "gone");
    /* its tokens and its secret are dead, its id free */
    assert_int_equal(validate(f, token), 401);
    assert_int_equal(token_with(f, "gone", secret), 401);
    cfx_admin(f, "GET /admin/clients/gone", NULL);
    cfx_error(f, 404, "not_found");
    cfx_admin(f, "DELETE /admin/clients/gone", NULL);
    cfx_error(f, 404, "not_found");
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"gone\"}");
    cfx_status(f, 201);
    assert_int_equal(validate(f, token), 401);
}

static const struct refusal rotate_refusals[] = {
    {"POST /admin/clients/svc/secret?revoke_tokens=yes", 400, "invalid_request"},
    {"POST /admin/clients/svc/secret?revoke=true", 400, "invalid_request"},
    {"POST /admin/clients/nobody/secret", 404, "not_found"},
    {"POST /admin/clients/svc/other", 404, "not_found"},
};

static void test_rotate_secret(void **state)
{
    struct cfx *f = *state;
    char old[64], secret[64], token[CFX_TOKEN_MAX];
    uint32_t gen, gen2;

    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"svc\"}");
    snprintf(old, sizeof(old), "%s", cfx_str(f, "client_secret"));
    record(f, "svc", &(struct shm_client){0}, &gen);
    assert_int_equal(token_with(f, "svc", old), 200);
    snprintf(token, sizeof(token), "%s", cfx_str(f, "access_token"));
    cfx_admin(f, "POST /admin/clients/svc/secret", NULL);
    cfx_status(f, 200);
    assert_int_equal(json_object_size(cfx_json(f)), 2);
    assert_string_equal(cfx_str(f, "client_id"), "svc");
    snprintf(secret, sizeof(secret), "%s", cfx_str(f, "client_secret"));
    assert_int_equal(strlen(secret), PROTO_TOKEN_CHARS);
    assert_last_event(f, CFX_CLIENT_PUT, "svc");
    assert_int_equal(f->ev[f->nev - 1].generation, gen);
    /* the old secret stops working at once; its tokens only when asked */
    assert_int_equal(token_with(f, "svc", old), 401);
    assert_int_equal(token_with(f, "svc", secret), 200);
    assert_int_equal(validate(f, token), 200);
    cfx_admin(f, "POST /admin/clients/svc/secret?revoke_tokens=false", NULL);
    cfx_status(f, 200);
    assert_int_equal(validate(f, token), 200);
    cfx_admin(f, "POST /admin/clients/svc/secret?revoke_tokens=true", NULL);
    cfx_status(f, 200);
    record(f, "svc", &(struct shm_client){0}, &gen2);
    assert_true(gen2 != gen);
    assert_int_equal(f->ev[f->nev - 1].generation, gen2);
    assert_int_equal(validate(f, token), 401);
    refusals(f, rotate_refusals, sizeof(rotate_refusals) / sizeof(rotate_refusals[0]));
}

static void test_journal_fails(void **state)
{
    struct cfx *f = *state;

    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"svc\"}");
    cfx_status(f, 201);
    f->journal_fails = true;
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"new\"}");
    cfx_error(f, 503, "temporarily_unavailable");
    cfx_admin(f, "PUT /admin/clients/svc", "{\"name\":\"x\"}");
    cfx_error(f, 503, "temporarily_unavailable");
    cfx_admin(f, "POST /admin/clients/svc/secret", NULL);
    cfx_error(f, 503, "temporarily_unavailable");
    cfx_admin(f, "DELETE /admin/clients/svc", NULL);
    cfx_error(f, 503, "temporarily_unavailable");
}

static int setup_two_clients(void **state)
{
    struct shm_region_sizes sz = {.tokens = 64, .clients = 2, .intern = 16, .jti = 4};

    return cfx_setup_sized(state, &sz);
}

static void test_full_client_table(void **state)
{
    struct cfx *f = *state;

    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"one\"}");
    cfx_status(f, 201);
    cfx_admin(f, "PUT /admin/clients/two", "{}");
    cfx_status(f, 201);
    f->nev = 0;
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"three\"}");
    cfx_error(f, 503, "temporarily_unavailable");
    cfx_admin(f, "PUT /admin/clients/three", "{}");
    cfx_error(f, 503, "temporarily_unavailable");
    assert_int_equal(f->nev, 0);
    /* a deleted client's place is free again */
    cfx_admin(f, "DELETE /admin/clients/one", NULL);
    cfx_admin(f, "POST /admin/clients", "{\"client_id\":\"three\"}");
    cfx_status(f, 201);
}

static void test_admin_token(void **state)
{
    struct cfx *f = *state;
    static const char *const lines[] = {
        "GET /admin/clients",   "POST /admin/clients",     "GET /admin/clients/x",
        "PUT /admin/clients/x", "DELETE /admin/clients/x", "POST /admin/clients/x/secret",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cfx_request(f, lines[i], "Content-Type: application/json\r\n", "{}");
        cfx_error(f, 401, "invalid_token");
        cfx_header_is(f, "WWW-Authenticate", "Bearer realm=\"tessera-admin\"");
        cfx_request(
            f, lines[i],
            "Authorization: Bearer not-the-admin-token\r\nContent-Type: application/json\r\n",
            "{}");
        cfx_error(f, 401, "invalid_token");
    }
    f->fx.cfg.admin_enabled = false;
    cfx_admin(f, "GET /admin/clients", NULL);
    cfx_error(f, 401, "invalid_token");
    assert_int_equal(f->nev, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_create_generated_id_and_chosen_secret, cfx_setup,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_media_types, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_get_and_list, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_put, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_delete, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_secret, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_journal_fails, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_full_client_table, setup_two_clients, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_admin_token, cfx_setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
