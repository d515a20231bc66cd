/*
 * Unit tests of proto/oauth/discovery.c: the RFC 8414 document (URLs from the issuer, the lists
 * it promises, scopes_supported only when configured), and the routed endpoints over real
 * parsed requests: both well-known paths, the JWK Set with its cache lifetime, and
 * POST /admin/keys/rotate (admin token, alg from the query or a JSON or form body).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/oauth/discovery.h"
#include "proto/http/http.h"
#include "proto/http/response.h"
#include "proto/http/router.h"
#include "tests/unit/proto/jose/jwt_fixture.h"

#define ADMIN_TOKEN "admin-token-0123456789abcdef"

static json_t *build(const char *issuer, const char *scopes)
{
    struct proto_config cfg = {.issuer = issuer, .scopes_supported = scopes};
    struct proto_buf b = {0};
    json_t *j = NULL;

    if (proto_discovery_build(&cfg, &b) == 0)
        j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    proto_buf_free(&b);
    return j;
}

static void assert_list(const json_t *j, const char *name, const char *joined)
{
    const json_t *a = json_object_get(j, name), *v;
    char got[256] = "";
    size_t i;

    assert_true(json_is_array(a));
    json_array_foreach(a, i, v)
    {
        strcat(got, i ? " " : "");
        strcat(got, json_string_value(v));
    }
    assert_string_equal(got, joined);
}

static void test_document(void **state)
{
    json_t *j = build("https://auth.example.com/", NULL);
    static const char *const auth = "client_secret_basic client_secret_post";

    assert_non_null(j);
    /* The issuer byte for byte; URLs without a doubled slash. */
    assert_string_equal(json_string_value(json_object_get(j, "issuer")),
                        "https://auth.example.com/");
    assert_string_equal(json_string_value(json_object_get(j, "token_endpoint")),
                        "https://auth.example.com/oauth2/token");
    assert_string_equal(json_string_value(json_object_get(j, "introspection_endpoint")),
                        "https://auth.example.com/oauth2/introspect");
    assert_string_equal(json_string_value(json_object_get(j, "revocation_endpoint")),
                        "https://auth.example.com/oauth2/revoke");
    assert_string_equal(json_string_value(json_object_get(j, "jwks_uri")),
                        "https://auth.example.com/oauth2/jwks");
    assert_list(j, "grant_types_supported", "client_credentials refresh_token");
    assert_list(j, "token_endpoint_auth_methods_supported", auth);
    assert_list(j, "introspection_endpoint_auth_methods_supported", auth);
    assert_list(j, "revocation_endpoint_auth_methods_supported", auth);
    assert_list(j, "dpop_signing_alg_values_supported", "ES256 EdDSA RS256");
    assert_list(j, "response_types_supported", "");
    assert_null(json_object_get(j, "scopes_supported"));
    json_decref(j);

    j = build("https://h.example:8443/tessera", "  read write  webid ");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "jwks_uri")),
                        "https://h.example:8443/tessera/oauth2/jwks");
    assert_list(j, "scopes_supported", "read write webid");
    json_decref(j);
    /* An issuer JSON would have to escape is not a URL we publish. */
    assert_null(build("https://a\"b", NULL));
}

/* ---- routed requests ------------------------------------------------------------------ */

struct http_fx {
    struct fx *f;
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    char in[8192];
};

static int http_setup(void **state)
{
    struct http_fx *h = calloc(1, sizeof(*h));
    void *inner;

    if (h == NULL || fx_setup(&inner) < 0)
        return -1;
    h->f = inner;
    h->f->cfg.admin_enabled = true;
    proto_sha256(ADMIN_TOKEN, strlen(ADMIN_TOKEN), h->f->cfg.admin_token_hash);
    h->limits = (struct proto_limits){8192, 16384, 64};
    *state = h;
    return 0;
}

static int http_teardown(void **state)
{
    struct http_fx *h = *state;
    void *inner = h->f;

    proto_response_free(&h->res);
    fx_teardown(&inner);
    free(h);
    return 0;
}

/* Parses `raw` as one request and routes it through the server's table. */
static struct proto_response *request(struct http_fx *h, const char *raw)
{
    snprintf(h->in, sizeof(h->in), "%s", raw);
    proto_http_init(&h->http, &h->limits);
    assert_int_equal(proto_http_feed(&h->http, h->in, strlen(h->in)), PROTO_HTTP_REQUEST);
    proto_response_reset(&h->res);
    proto_router_dispatch(proto_routes, proto_nroutes, &h->f->ctx, &h->http.req, &h->res);
    return &h->res;
}

static bool has_header(const struct proto_response *r, const char *line)
{
    return r->headers.len && memmem(r->headers.data, r->headers.len, line, strlen(line));
}

static void test_wellknown_endpoints(void **state)
{
    struct http_fx *h = *state;
    static const char *const paths[] = {"/.well-known/oauth-authorization-server",
                                        "/.well-known/openid-configuration"};
    char raw[256];

    for (int i = 0; i < 2; i++) {
        struct proto_response *r;
        json_t *j;

        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        r = request(h, raw);
        assert_int_equal(r->status, 200);
        assert_string_equal(r->content_type, "application/json");
        assert_true(has_header(r, "Cache-Control: public, max-age=" PROTO_METADATA_MAX_AGE));
        j = json_loadb(r->body.data, r->body.len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "issuer")), FX_ISSUER);
        json_decref(j);
    }
    /* Built once by the master: served as is. */
    h->f->cfg.metadata = "{\"issuer\":\"prebuilt\"}";
    h->f->cfg.metadata_len = strlen(h->f->cfg.metadata);
    request(h, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(h->res.body.len, h->f->cfg.metadata_len);
    h->f->cfg.metadata = NULL;
}

static void test_jwks_endpoint(void **state)
{
    struct http_fx *h = *state;
    struct proto_response *r = request(h, "GET /oauth2/jwks HTTP/1.1\r\nHost: x\r\n\r\n");
    json_t *j;

    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "Cache-Control: public, max-age=" PROTO_JWKS_MAX_AGE));
    j = json_loadb(r->body.data, r->body.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 3);
    json_decref(j);
}

static int keys_in_jwks(struct http_fx *h)
{
    struct proto_response *r = request(h, "GET /oauth2/jwks HTTP/1.1\r\nHost: x\r\n\r\n");
    json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
    int n = (int)json_array_size(json_object_get(j, "keys"));

    json_decref(j);
    return n;
}

static void test_rotate_endpoint(void **state)
{
    struct http_fx *h = *state;
    struct proto_response *r;

    r = request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(r->status, 401);
    r = request(h, "POST /admin/keys/rotate?alg=ES256 HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer " ADMIN_TOKEN "\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "Cache-Control: no-store"));
    assert_int_equal(keys_in_jwks(h), 4);
    r = request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer " ADMIN_TOKEN "\r\nContent-Type: application/json\r\n"
                   "Content-Length: 15\r\n\r\n{\"alg\":\"EdDSA\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(keys_in_jwks(h), 5);
    r = request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer " ADMIN_TOKEN "\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: 9\r\n\r\nalg=HS256");
    assert_int_equal(r->status, 400);
    r = request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer " ADMIN_TOKEN "\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(keys_in_jwks(h), 8);
    assert_int_equal(h->f->store.saves, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document),
        cmocka_unit_test_setup_teardown(test_wellknown_endpoints, http_setup, http_teardown),
        cmocka_unit_test_setup_teardown(test_jwks_endpoint, http_setup, http_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_endpoint, http_setup, http_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
