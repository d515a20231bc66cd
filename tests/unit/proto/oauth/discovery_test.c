/*
 * Unit tests of proto/oauth/discovery.c: the RFC 8414 document (URLs from the issuer, the lists
 * it promises, scopes_supported only when configured), and the routed endpoints over real
 * parsed requests: both well-known paths, and the JWK Set with its cache lifetime.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/oauth/discovery.h"
#include "tests/unit/proto/routed_fixture.h"

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

static void test_wellknown_endpoints(void **state)
{
    struct rfx *h = *state;
    static const char *const paths[] = {"/.well-known/oauth-authorization-server",
                                        "/.well-known/openid-configuration"};
    char raw[256];

    for (int i = 0; i < 2; i++) {
        struct proto_response *r;
        json_t *j;

        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        r = rfx_request(h, raw);
        assert_int_equal(r->status, 200);
        assert_string_equal(r->content_type, "application/json");
        assert_true(rfx_has_header(r, "Cache-Control: public, max-age=" PROTO_METADATA_MAX_AGE));
        j = json_loadb(r->body.data, r->body.len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "issuer")), FX_ISSUER);
        json_decref(j);
    }
    /* Built once by the master: served as is. */
    h->f->cfg.metadata = "{\"issuer\":\"prebuilt\"}";
    h->f->cfg.metadata_len = strlen(h->f->cfg.metadata);
    rfx_request(h, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(h->res.body.len, h->f->cfg.metadata_len);
    h->f->cfg.metadata = NULL;
}

static void test_jwks_endpoint(void **state)
{
    struct rfx *h = *state;
    struct proto_response *r = rfx_request(h, "GET /oauth2/jwks HTTP/1.1\r\nHost: x\r\n\r\n");
    json_t *j;

    assert_int_equal(r->status, 200);
    assert_true(rfx_has_header(r, "Cache-Control: public, max-age=" PROTO_JWKS_MAX_AGE));
    j = json_loadb(r->body.data, r->body.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 3);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document),
        cmocka_unit_test_setup_teardown(test_wellknown_endpoints, rfx_setup, rfx_teardown),
        cmocka_unit_test_setup_teardown(test_jwks_endpoint, rfx_setup, rfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
