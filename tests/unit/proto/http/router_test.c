/*
 * Unit tests of proto/http/router.c over a route table of our own whose handlers record every
 * call (exact rows, prefix rows ending in '*', HEAD answered by GET rows, 404 and 405 with
 * the exact Allow header), and of the operational rows of proto/http/routes.c.
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

#include "proto/http/router.h"

/* ---- a route table that records calls ----------------------------------------------- */

struct call_log {
    int n;            /* handler calls so far */
    const char *last; /* name of the last handler called */
    const struct proto_ctx *ctx;
    const struct proto_request *req;
};

static struct call_log calls;

static void record(const char *name, const struct proto_ctx *ctx, const struct proto_request *req,
                   struct proto_response *res)
{
    calls.n++;
    calls.last = name;
    calls.ctx = ctx;
    calls.req = req;
    proto_response_json(res, 200, name);
}

#define HANDLER(fn)                                                                                \
    static void fn(const struct proto_ctx *ctx, const struct proto_request *req,                   \
                   struct proto_response *res)                                                     \
    {                                                                                              \
        record(#fn, ctx, req, res);                                                                \
    }

HANDLER(get_a)
HANDLER(post_a)
HANDLER(post_token)
HANDLER(get_clients)
HANDLER(delete_clients)
HANDLER(get_x_any)
HANDLER(get_x_special)

static const struct proto_route table[] = {
    {HTTP_GET, "/a", get_a},
    {HTTP_POST, "/a", post_a},
    {HTTP_POST, "/token", post_token},
    {HTTP_GET, "/admin/clients/*", get_clients},
    {HTTP_DELETE, "/admin/clients/*", delete_clients},
    {HTTP_GET, "/x/*", get_x_any},
    {HTTP_GET, "/x/special", get_x_special}, /* never reached: the prefix row comes first */
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

struct fixture {
    struct proto_ctx ctx;
    struct proto_response res;
    struct proto_request req;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->ctx.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    f->ctx.ready = 1;
    proto_response_reset(&f->res);
    memset(&calls, 0, sizeof(calls));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    proto_response_free(&f->res);
    free(f);
    return 0;
}

/* Dispatches `method path` through routes; the path is placed after a prefix so that the
 * router must honour the span's offset. */
static void dispatch_in(struct fixture *f, const struct proto_route *routes, size_t n, int method,
                        const char *path)
{
    static char buf[512];
    size_t len = strlen(path);

    assert_true(len + 8 < sizeof(buf));
    memcpy(buf, "GARBAGE!", 8);
    memcpy(buf + 8, path, len);
    buf[8 + len] = '?'; /* a query follows the path, as in a real request */
    buf[9 + len] = '\0';
    memset(&f->req, 0, sizeof(f->req));
    f->req.base = buf;
    f->req.method = method;
    f->req.path.off = 8;
    f->req.path.len = (uint32_t)len;
    f->req.target.off = 8;
    f->req.target.len = (uint32_t)len + 1;
    proto_response_reset(&f->res);
    proto_router_dispatch(routes, n, &f->ctx, &f->req, &f->res);
}

static void dispatch(struct fixture *f, int method, const char *path)
{
    dispatch_in(f, table, NTABLE, method, path);
}

static void assert_buf(const struct proto_buf *b, const char *s)
{
    if (b->len != strlen(s) || memcmp(b->data, s, b->len) != 0)
        print_error("got:\n%.*s\nexpected:\n%s\n", (int)b->len, b->data ? b->data : "", s);
    assert_int_equal(b->len, strlen(s));
    assert_memory_equal(b->data, s, b->len);
}

/* Asserts that handler `name` ran, once since the last check, with our ctx and req. */
static void assert_called(struct fixture *f, const char *name, int n)
{
    assert_int_equal(calls.n, n);
    assert_non_null(calls.last);
    assert_string_equal(calls.last, name);
    assert_ptr_equal(calls.ctx, &f->ctx);
    assert_ptr_equal(calls.req, &f->req);
    assert_int_equal(f->res.status, 200);
    assert_buf(&f->res.body, name);
}

static void assert_404(struct fixture *f)
{
    assert_int_equal(f->res.status, 404);
    assert_string_equal(f->res.content_type, "application/json");
    assert_buf(&f->res.body,
               "{\"error\":\"not_found\",\"error_description\":\"no such endpoint\"}");
    assert_buf(&f->res.headers, "Cache-Control: no-store\r\n");
}

static void assert_405(struct fixture *f, const char *allow)
{
    char headers[256];

    snprintf(headers, sizeof(headers), "Cache-Control: no-store\r\nAllow: %s\r\n", allow);
    assert_int_equal(f->res.status, 405);
    assert_string_equal(f->res.content_type, "application/json");
    assert_buf(&f->res.body, "{\"error\":\"method_not_allowed\","
                             "\"error_description\":\"the method is not allowed for this path\"}");
    assert_buf(&f->res.headers, headers);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_exact_match(void **state)
{
    struct fixture *f = *state;

    dispatch(f, HTTP_GET, "/a");
    assert_called(f, "get_a", 1);
    dispatch(f, HTTP_POST, "/a");
    assert_called(f, "post_a", 2);
    dispatch(f, HTTP_POST, "/token");
    assert_called(f, "post_token", 3);
}

static void test_head_routes_to_get(void **state)
{
    struct fixture *f = *state;

    dispatch(f, HTTP_HEAD, "/a");
    assert_called(f, "get_a", 1);
    assert_int_equal(calls.req->method, HTTP_HEAD); /* the handler still sees HEAD */
    dispatch(f, HTTP_HEAD, "/admin/clients/7");
    assert_called(f, "get_clients", 2);
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    static const char *const paths[] = {
        "/",      "",   "/ab", "/A", "/a/", "/tok", "/token/", "/admin/clients", "/admin/clientsX",
        "/admin", "/x",
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        dispatch(f, HTTP_GET, paths[i]);
        assert_404(f);
        dispatch(f, HTTP_POST, paths[i]);
        assert_404(f);
    }
    assert_int_equal(calls.n, 0);
}

static void test_method_not_allowed(void **state)
{
    struct fixture *f = *state;

    dispatch(f, HTTP_PUT, "/a");
    assert_405(f, "GET, HEAD, POST");
    dispatch(f, HTTP_DELETE, "/a");
    assert_405(f, "GET, HEAD, POST");
    dispatch(f, HTTP_GET, "/token");
    assert_405(f, "POST");
    dispatch(f, HTTP_HEAD, "/token");
    assert_405(f, "POST");
    dispatch(f, HTTP_POST, "/admin/clients/abc");
    assert_405(f, "GET, HEAD, DELETE");
    assert_int_equal(calls.n, 0);
}

static void test_method_not_allowed_get_only(void **state)
{
    static const struct proto_route only_get[] = {{HTTP_GET, "/healthz", get_a}};
    struct fixture *f = *state;

    dispatch_in(f, only_get, 1, HTTP_POST, "/healthz");
    assert_405(f, "GET, HEAD");
    dispatch_in(f, only_get, 1, HTTP_OPTIONS, "/healthz");
    assert_405(f, "GET, HEAD");
    dispatch_in(f, only_get, 1, HTTP_POST, "/other");
    assert_404(f);
    assert_int_equal(calls.n, 0);
}

static void test_prefix(void **state)
{
    struct fixture *f = *state;

    dispatch(f, HTTP_GET, "/admin/clients/abc");
    assert_called(f, "get_clients", 1);
    /* the handler parses the rest from the request's path */
    assert_true(proto_span_eq(calls.req, calls.req->path, "/admin/clients/abc"));
    dispatch(f, HTTP_GET, "/admin/clients/");
    assert_called(f, "get_clients", 2);
    dispatch(f, HTTP_GET, "/admin/clients/a/b/c");
    assert_called(f, "get_clients", 3);
    dispatch(f, HTTP_DELETE, "/admin/clients/abc");
    assert_called(f, "delete_clients", 4);
}

static void test_first_row_wins(void **state)
{
    struct fixture *f = *state;

    dispatch(f, HTTP_GET, "/x/special");
    assert_called(f, "get_x_any", 1);
    dispatch(f, HTTP_GET, "/x/");
    assert_called(f, "get_x_any", 2);
}

static void test_star_alone_and_empty_table(void **state)
{
    static const struct proto_route any[] = {{HTTP_POST, "*", post_a}};
    struct fixture *f = *state;

    dispatch_in(f, any, 1, HTTP_POST, "/anything/at/all");
    assert_called(f, "post_a", 1);
    dispatch_in(f, any, 1, HTTP_POST, "");
    assert_called(f, "post_a", 2);
    dispatch_in(f, any, 1, HTTP_GET, "/x");
    assert_405(f, "POST");
    dispatch_in(f, table, 0, HTTP_GET, "/a");
    assert_404(f);
    assert_int_equal(calls.n, 2);
}

/* A request parsed by proto/http/http.c: the path span excludes the query. */
static void test_parsed_request(void **state)
{
    static const char in[] = "GET /admin/clients/42?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    struct fixture *f = *state;
    const struct proto_limits limits = {8192, 16384, 64};
    struct proto_http *h = malloc(sizeof(*h));

    assert_non_null(h);
    proto_http_init(h, &limits);
    assert_int_equal(proto_http_feed(h, in, sizeof(in) - 1), PROTO_HTTP_REQUEST);
    proto_router_dispatch(table, NTABLE, &f->ctx, &h->req, &f->res);
    assert_int_equal(calls.n, 1);
    assert_string_equal(calls.last, "get_clients");
    assert_ptr_equal(calls.req, &h->req);
    free(h);
}

/* ---- the server's own rows ---------------------------------------------------------- */

static void test_routes_healthz(void **state)
{
    struct fixture *f = *state;

    dispatch_in(f, proto_routes, proto_nroutes, HTTP_GET, "/healthz");
    assert_int_equal(f->res.status, 200);
    assert_string_equal(f->res.content_type, "application/json");
    assert_buf(&f->res.body, "{\"status\":\"ok\"}");
    assert_int_equal(f->res.headers.len, 0);
    dispatch_in(f, proto_routes, proto_nroutes, HTTP_HEAD, "/healthz");
    assert_int_equal(f->res.status, 200);
    assert_buf(&f->res.body, "{\"status\":\"ok\"}");
    dispatch_in(f, proto_routes, proto_nroutes, HTTP_POST, "/healthz");
    assert_405(f, "GET, HEAD");
    dispatch_in(f, proto_routes, proto_nroutes, HTTP_GET, "/healthz/");
    assert_404(f);
}

static void test_routes_readyz(void **state)
{
    struct fixture *f = *state;

    dispatch_in(f, proto_routes, proto_nroutes, HTTP_GET, "/readyz");
    assert_int_equal(f->res.status, 200);
    assert_buf(&f->res.body, "{\"status\":\"ready\"}");
    f->ctx.ready = 0;
    dispatch_in(f, proto_routes, proto_nroutes, HTTP_GET, "/readyz");
    assert_int_equal(f->res.status, 503);
    assert_buf(&f->res.body, "{\"error\":\"temporarily_unavailable\","
                             "\"error_description\":\"the server is starting\"}");
    assert_buf(&f->res.headers, "Cache-Control: no-store\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_routes_to_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed_get_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_row_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_star_alone_and_empty_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parsed_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_readyz, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
