/*
 * Unit tests of GET /admin/sessions (proto/admin/admin_sessions.c) through the server's route
 * table: the admin token, the query's validation (each refusal a 400 JSON error), the
 * request line it defers to the store (store/control.h), and proto_response_store(), which
 * turns the store's reply into the answer.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/http/router.h"
#include "proto/oauth/secret.h"

#define ADMIN_TOKEN "admin-token-for-unit-tests"
#define AUTH "Authorization: Bearer " ADMIN_TOKEN "\r\n"

struct fx {
    struct proto_config cfg;
    struct proto_ctx ctx;
    struct proto_buf arena;
    struct proto_params params;
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    char in[8192];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->cfg.admin_enabled = true;
    proto_sha256(ADMIN_TOKEN, strlen(ADMIN_TOKEN), f->cfg.admin_token_hash);
    f->ctx.cfg = &f->cfg;
    f->ctx.arena = &f->arena;
    f->ctx.params = &f->params;
    f->ctx.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    f->limits = (struct proto_limits){8192, 16384, 64};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    proto_response_free(&f->res);
    proto_buf_free(&f->arena);
    free(f);
    return 0;
}

/* GET target with the given header lines, routed through the server's table. */
static struct proto_response *get(struct fx *f, const char *target, const char *headers)
{
    snprintf(f->in, sizeof(f->in), "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, headers);
    proto_http_init(&f->http, &f->limits);
    assert_int_equal(proto_http_feed(&f->http, f->in, strlen(f->in)), PROTO_HTTP_REQUEST);
    proto_response_reset(&f->res);
    proto_router_dispatch(proto_routes, proto_nroutes, &f->ctx, &f->http.req, &f->res);
    return &f->res;
}

static void assert_deferred(struct fx *f, const char *target, const char *want)
{
    struct proto_response *r = get(f, target, AUTH);

    if (!r->deferred)
        fail_msg("%s: not deferred (%d %.*s)", target, r->status, (int)r->body.len, r->body.data);
    assert_int_equal(r->store_req.len, strlen(want));
    assert_memory_equal(r->store_req.data, want, strlen(want));
}

static void assert_400(struct fx *f, const char *target, const char *why)
{
    struct proto_response *r = get(f, target, AUTH);
    char body[256];

    snprintf(body, sizeof(body), "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
             why);
    assert_false(r->deferred);
    assert_int_equal(r->status, 400);
    assert_int_equal(r->body.len, strlen(body));
    assert_memory_equal(r->body.data, body, r->body.len);
}

static void test_requests(void **state)
{
    struct fx *f = *state;

    assert_deferred(f, "/admin/sessions", "{\"op\":\"sessions\",\"limit\":100}");
    assert_deferred(f, "/admin/sessions?", "{\"op\":\"sessions\",\"limit\":100}");
    assert_deferred(f, "/admin/sessions?client_id=billing&limit=2",
                    "{\"op\":\"sessions\",\"client_id\":\"billing\",\"limit\":2}");
    assert_deferred(f, "/admin/sessions?limit=1000&after=AQIDBKWlpaWlpaWlpaWlpQ",
                    "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWlpQ\",\"limit\":1000}");
    /* Form-decoded, then written as JSON: quotes and backslashes escaped. */
    assert_deferred(f, "/admin/sessions?client_id=a%22b%5Cc+d&limit=0001",
                    "{\"op\":\"sessions\",\"client_id\":\"a\\\"b\\\\c d\",\"limit\":1}");
}

static void test_refusals(void **state)
{
    struct fx *f = *state;

    assert_400(f, "/admin/sessions?token=x", "unknown query parameter");
    assert_400(f, "/admin/sessions?limit=1&limit=2", "a query parameter was sent more than once");
    assert_400(f, "/admin/sessions?client_id=a&client_id=a",
               "a query parameter was sent more than once");
    assert_400(f, "/admin/sessions?limit=0", "limit must be a number from 1 to 1000");
    assert_400(f, "/admin/sessions?limit=1001", "limit must be a number from 1 to 1000");
    assert_400(f, "/admin/sessions?limit=", "limit must be a number from 1 to 1000");
    assert_400(f, "/admin/sessions?limit=-1", "limit must be a number from 1 to 1000");
    assert_400(f, "/admin/sessions?limit=12345", "limit must be a number from 1 to 1000");
    assert_400(f, "/admin/sessions?client_id=", "client_id is not a valid client id");
    assert_400(f, "/admin/sessions?client_id=a%00b", "a parameter holds a NUL byte");
    assert_400(f, "/admin/sessions?client_id=%C3%A9", "client_id is not a valid client id");
    assert_400(f, "/admin/sessions?after=short", "after is not a session id this server gave");
    assert_400(f, "/admin/sessions?after=AQIDBKWlpaWlpaWlpaWlpR",
               "after is not a session id this server gave"); /* unused bits set */
    assert_400(f, "/admin/sessions?after=AQIDBKWlpaWlpaWlpaWl%2BQ",
               "after is not a session id this server gave");
    assert_400(f, "/admin/sessions?after=AQIDBKWlpaWlpaWlpaWlpQ%3D%3D",
               "after is not a session id this server gave");
    assert_400(f, "/admin/sessions?a=%zz", "malformed form encoding in a parameter value");
}

static void test_admin_token(void **state)
{
    struct fx *f = *state;
    struct proto_response *r = get(f, "/admin/sessions", "");

    assert_false(r->deferred);
    assert_int_equal(r->status, 401);
    r = get(f, "/admin/sessions?limit=0", "Authorization: Bearer wrong-token-wrong-token\r\n");
    assert_int_equal(r->status, 401); /* before the query is looked at */
    /* Bearer is the admin scheme, in any case; DPoP or another one is refused */
    r = get(f, "/admin/sessions", "Authorization: DPoP " ADMIN_TOKEN "\r\n");
    assert_false(r->deferred);
    assert_int_equal(r->status, 401);
    r = get(f, "/admin/sessions", "Authorization: Basic " ADMIN_TOKEN "\r\n");
    assert_int_equal(r->status, 401);
    r = get(f, "/admin/sessions", "Authorization: bEARER " ADMIN_TOKEN "\r\n");
    assert_true(r->deferred);
    f->cfg.admin_enabled = false;
    r = get(f, "/admin/sessions", AUTH);
    assert_int_equal(r->status, 401);
    r = get(f, "/admin/sessions/x", AUTH);
    assert_int_equal(r->status, 404);
}

static void test_store_reply(void **state)
{
    struct fx *f = *state;
    struct proto_response *r = get(f, "/admin/sessions", AUTH);
    static const char body[] = "{\"sessions\":[],\"next\":null}";
    struct proto_buf out = {0};

    assert_true(r->deferred);
    assert_int_equal(proto_response_store(r, 200, body, strlen(body)), 0);
    assert_false(r->deferred);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->content_type, "application/json");
    assert_int_equal(proto_response_serialize(r, f->ctx.date, false, false, &out), 0);
    assert_non_null(memmem(out.data, out.len, "Cache-Control: no-store\r\n", 25));
    assert_non_null(memmem(out.data, out.len, "\r\n\r\n{\"sessions\":[],\"next\":null}", 31));
    proto_buf_free(&out);
    assert_int_equal(proto_response_store(r, 503, "{}", 2), 0);
    assert_int_equal(r->status, 503);
    assert_int_equal(proto_response_store(r, 299, "{}", 2), 0); /* not ours to send */
    assert_int_equal(r->status, 502);
    proto_response_reset(r);
    assert_false(r->deferred);
    assert_int_equal(r->store_req.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reply, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
