/*
 * Unit tests of proto/oauth/client_auth.c: which method a request uses (client_secret_basic
 * in the Authorization header, client_secret_post in the body), that two at once and none
 * are refused, the checks of each method's credentials, the one 401 for an unknown client
 * and a wrong secret, and the method list the metadata publishes.  Requests are parsed by
 * proto/http/http.c over a small real shared-memory region.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/oauth/client_auth.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/secret.h"

#define SECRET "Gq8vG2oYt0ZyHkA1rVJd2dqUVQ4e0Kb8nJ3c7wXyZ1s" /* generated: 43 characters */
#define BASIC_OK "Basic c3ZjOkdxOHZHMm9ZdDBaeUhrQTFyVkpkMmRxVVZRNGUwS2I4bkozYzd3WHlaMXM="

struct fixture {
    struct shm_region region;
    struct proto_config cfg;
    struct proto_ctx ctx;
    struct proto_buf arena;
    struct proto_params params;
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    struct proto_client client;
    char in[2048];
};

static int setup(void **state)
{
    struct shm_region_sizes sz = {.tokens = 100, .clients = 8, .intern = 64, .jti = 16};
    struct fixture *f = calloc(1, sizeof(*f));
    struct shm_client c = {.id = "svc", .grant_types = PROTO_GRANT_CLIENT_CREDENTIALS};

    if (f == NULL || shm_region_create(&f->region, &sz) < 0)
        return -1;
    f->cfg.auth_fail_per_client_address = f->cfg.auth_fail_per_address = 1000;
    f->cfg.auth_fail_per_client = 1000;
    f->ctx = (struct proto_ctx){.cfg = &f->cfg, .region = &f->region, .now = 1700000000};
    f->ctx.owner = (struct shm_owner){1, 1};
    f->ctx.arena = &f->arena;
    f->ctx.params = &f->params;
    f->limits = (struct proto_limits){8192, 16384, 64};
    if (proto_secret_set(&c, SECRET, strlen(SECRET), true) < 0 ||
        shm_client_create(&f->region, &c, f->ctx.owner, NULL) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    shm_region_detach(&f->region);
    proto_buf_free(&f->arena);
    proto_response_free(&f->res);
    free(f);
    return 0;
}

/* Authenticates a token request with the Authorization value auth (NULL: none) and a form
 * body; returns proto_client_authenticate's result, the answer in f->res. */
static int authenticate(struct fixture *f, const char *auth, const char *body)
{
    char header[256] = "";

    if (auth)
        snprintf(header, sizeof(header), "Authorization: %s\r\n", auth);
    snprintf(f->in, sizeof(f->in),
             "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n%s"
             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
             header, strlen(body), body);
    proto_http_init(&f->http, &f->limits);
    assert_int_equal(proto_http_feed(&f->http, f->in, strlen(f->in)), PROTO_HTTP_REQUEST);
    proto_response_reset(&f->res);
    memset(&f->client, 0xa5, sizeof(f->client));
    assert_int_equal(proto_oauth_params(&f->ctx, &f->http.req, &f->res), 0);
    return proto_client_authenticate(&f->ctx, &f->http.req, &f->client, &f->res);
}

/* The last answer is status with this error and a description containing why. */
static void assert_refused(struct fixture *f, int status, const char *error, const char *why)
{
    char body[512];

    assert_int_equal(f->res.status, status);
    snprintf(body, sizeof(body), "%.*s", (int)f->res.body.len, f->res.body.data);
    assert_non_null(strstr(body, error));
    assert_non_null(strstr(body, why));
}

static void test_each_method(void **state)
{
    struct fixture *f = *state;
    char auth[128];

    assert_int_equal(authenticate(f, BASIC_OK, "grant_type=client_credentials"), 0);
    assert_int_equal(f->client.method, PROTO_AUTH_BASIC);
    assert_string_equal(f->client.rec.id, "svc");
    assert_int_equal(f->client.gen, shm_client_generation(&f->region, f->client.slot));
    /* the scheme in any case; the id may be repeated in the body */
    snprintf(auth, sizeof(auth), "bASIC%s", BASIC_OK + 5);
    assert_int_equal(authenticate(f, auth, "client_id=svc"), 0);
    assert_int_equal(f->client.method, PROTO_AUTH_BASIC);
    assert_int_equal(authenticate(f, NULL, "client_id=svc&client_secret=" SECRET), 0);
    assert_int_equal(f->client.method, PROTO_AUTH_POST);
    assert_string_equal(f->client.rec.id, "svc");
    /* another scheme is no client authentication: the body's credentials count */
    assert_int_equal(authenticate(f, "Bearer x", "client_id=svc&client_secret=" SECRET), 0);
    assert_int_equal(f->client.method, PROTO_AUTH_POST);
}

static void test_one_method_exactly(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(authenticate(f, BASIC_OK, "client_secret=" SECRET), -EINVAL);
    assert_refused(f, 400, "invalid_request", "not two");
    assert_int_equal(f->client.method, PROTO_AUTH_NONE);
    assert_int_equal(authenticate(f, NULL, "grant_type=client_credentials"), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication is required");
    assert_int_equal(f->client.method, PROTO_AUTH_NONE);
    assert_int_equal(authenticate(f, NULL, "client_id=svc"), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication is required");
    assert_int_equal(authenticate(f, "Basic", "client_id=svc"), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication is required");
}

static void test_credentials_checked(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(authenticate(f, NULL, "client_secret=" SECRET), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication is required");
    assert_int_equal(f->client.method, PROTO_AUTH_POST);
    assert_int_equal(authenticate(f, BASIC_OK, "client_id=other"), -EINVAL);
    assert_refused(f, 400, "invalid_request", "does not match");
    assert_int_equal(authenticate(f, "Basic !!!!", ""), -EACCES);
    assert_refused(f, 401, "invalid_client", "malformed Basic");
    assert_int_equal(authenticate(f, "Basic    ", ""), -EACCES);
    assert_refused(f, 401, "invalid_client", "malformed Basic");
    assert_int_equal(authenticate(f, "Basic c3ZjJTAwOng=", ""), -EINVAL); /* svc%00:x */
    assert_refused(f, 400, "invalid_request", "NUL");
}

static void test_unknown_and_wrong_alike(void **state)
{
    struct fixture *f = *state;
    char challenge[256];

    assert_int_equal(authenticate(f, NULL, "client_id=svc&client_secret=wrong"), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication failed");
    assert_int_equal(authenticate(f, NULL, "client_id=nobody&client_secret=" SECRET), -EACCES);
    assert_refused(f, 401, "invalid_client", "client authentication failed");
    snprintf(challenge, sizeof(challenge), "%.*s", (int)f->res.headers.len, f->res.headers.data);
    assert_non_null(strstr(challenge, "WWW-Authenticate: Basic realm=\"tessera\""));
}

static void test_methods_json(void **state)
{
    struct proto_buf b = {0};

    (void)state;
    assert_int_equal(proto_client_auth_methods_json(&b), 0);
    assert_int_equal(proto_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "[\"client_secret_basic\",\"client_secret_post\"]");
    proto_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_method_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_wrong_alike, setup, teardown),
        cmocka_unit_test(test_methods_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
