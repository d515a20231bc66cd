/*
 * Unit tests of proto/http/response.c: responses are compared byte for byte with what must go
 * on the wire (status line, Date, Server, Content-Type, Content-Length, Connection,
 * extra headers, body), for GET and HEAD, and the JSON error bodies.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/http/response.h"

#define DATE "Sun, 06 Nov 1994 08:49:37 GMT"

static int setup(void **state)
{
    struct proto_response *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return -1;
    proto_response_reset(r);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    proto_response_free(*state);
    free(*state);
    return 0;
}

/* Asserts that b holds exactly the string s; prints both on a mismatch. */
static void assert_buf(const struct proto_buf *b, const char *s)
{
    if (b->len != strlen(s) || memcmp(b->data, s, b->len) != 0)
        print_error("got:\n%.*s\nexpected:\n%s\n", (int)b->len, b->data ? b->data : "", s);
    assert_int_equal(b->len, strlen(s));
    assert_memory_equal(b->data, s, b->len);
}

/* Serialises r into a fresh buffer and compares it with expect. */
static void check_serialized(const struct proto_response *r, bool head, bool close,
                             const char *expect)
{
    struct proto_buf out = {0};

    assert_int_equal(proto_response_serialize(r, DATE, head, close, &out), 0);
    assert_buf(&out, expect);
    proto_buf_free(&out);
}

static void test_reset_defaults(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(r->status, 200);
    assert_null(r->content_type);
    assert_false(r->close);
    assert_int_equal(r->headers.len, 0);
    assert_int_equal(r->body.len, 0);
}

static void test_empty_200(void **state)
{
    check_serialized(*state, false, false,
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
}

static void test_json(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_json(r, 200, "{\"status\":\"ok\"}"), 0);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->content_type, "application/json");
    check_serialized(r, false, false,
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 15\r\n"
                     "\r\n"
                     "{\"status\":\"ok\"}");
    /* a second call replaces the body */
    assert_int_equal(proto_response_json(r, 201, "{}"), 0);
    check_serialized(r, false, false,
                     "HTTP/1.1 201 Created\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 2\r\n"
                     "\r\n"
                     "{}");
}

static void test_close(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_json(r, 200, "{}"), 0);
    check_serialized(r, false, true,
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 2\r\n"
                     "Connection: close\r\n"
                     "\r\n"
                     "{}");
}

static void test_extra_headers(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_header(r, "X-One", "1"), 0);
    assert_int_equal(proto_response_header(r, "WWW-Authenticate", "Basic realm=\"tessera\""), 0);
    assert_buf(&r->headers, "X-One: 1\r\nWWW-Authenticate: Basic realm=\"tessera\"\r\n");
    r->status = 204;
    check_serialized(r, false, true,
                     "HTTP/1.1 204 No Content\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Length: 0\r\n"
                     "Connection: close\r\n"
                     "X-One: 1\r\n"
                     "WWW-Authenticate: Basic realm=\"tessera\"\r\n"
                     "\r\n");
}

static void test_head_omits_body(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_json(r, 200, "{\"status\":\"ready\"}"), 0);
    check_serialized(r, true, false,
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 18\r\n"
                     "\r\n");
    check_serialized(r, true, true,
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 18\r\n"
                     "Connection: close\r\n"
                     "\r\n");
}

static void test_error_body(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_error(r, 400, "invalid_request", "grant_type is missing"), 0);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->content_type, "application/json");
    assert_buf(&r->body,
               "{\"error\":\"invalid_request\",\"error_description\":\"grant_type is missing\"}");
    assert_buf(&r->headers, "Cache-Control: no-store\r\n");
    check_serialized(
        r, false, true,
        "HTTP/1.1 400 Bad Request\r\n"
        "Date: " DATE "\r\n"
        "Server: tessera\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 71\r\n"
        "Connection: close\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
        "{\"error\":\"invalid_request\",\"error_description\":\"grant_type is missing\"}");
}

/* A description may quote request text: it is escaped, never passed through as JSON. */
static void test_error_escapes(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_error(r, 400, "invalid_request", "a \"b\" \\u0000\n"), 0);
    assert_buf(&r->body, "{\"error\":\"invalid_request\",\"error_description\":"
                         "\"a \\\"b\\\" \\\\u0000\\u000a\"}");
}

static void test_error_replaces_body(void **state)
{
    struct proto_response *r = *state;

    assert_int_equal(proto_response_json(r, 200, "{\"a\":1}"), 0);
    assert_int_equal(proto_response_error(r, 503, "temporarily_unavailable", "starting"), 0);
    check_serialized(r, true, false,
                     "HTTP/1.1 503 Service Unavailable\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 66\r\n"
                     "Cache-Control: no-store\r\n"
                     "\r\n");
    assert_buf(&r->body,
               "{\"error\":\"temporarily_unavailable\",\"error_description\":\"starting\"}");
}

static void test_reset_keeps_memory(void **state)
{
    struct proto_response *r = *state;
    char *hdata, *bdata;

    assert_int_equal(proto_response_error(r, 404, "not_found", "no such endpoint"), 0);
    r->close = true;
    hdata = r->headers.data;
    bdata = r->body.data;
    proto_response_reset(r);
    assert_int_equal(r->status, 200);
    assert_null(r->content_type);
    assert_false(r->close);
    assert_int_equal(r->headers.len, 0);
    assert_int_equal(r->body.len, 0);
    assert_ptr_equal(r->headers.data, hdata);
    assert_ptr_equal(r->body.data, bdata);
    test_empty_200(state);
}

static void test_reasons(void **state)
{
    static const struct {
        int status;
        const char *reason;
    } want[] = {
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {502, "Bad Gateway"}, /* a deferred answer the store gave badly */
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
        {0, "Unknown"},
        {299, "Unknown"},
        {501, "Unknown"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(proto_status_reason(want[i].status), want[i].reason);
}

static void test_status_lines(void **state)
{
    struct proto_response *r = *state;
    static const struct {
        int status;
        const char *line;
    } want[] = {
        {401, "HTTP/1.1 401 Unauthorized\r\n"},
        {413, "HTTP/1.1 413 Content Too Large\r\n"},
        {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
        {500, "HTTP/1.1 500 Internal Server Error\r\n"},
        {299, "HTTP/1.1 299 Unknown\r\n"},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct proto_buf out = {0};
        size_t n = strlen(want[i].line);

        r->status = want[i].status;
        assert_int_equal(proto_response_serialize(r, DATE, false, false, &out), 0);
        assert_true(out.len > n);
        assert_memory_equal(out.data, want[i].line, n);
        proto_buf_free(&out);
    }
}

/* Responses to pipelined requests go one after the other into the same buffer. */
static void test_serialize_appends(void **state)
{
    struct proto_response *r = *state;
    struct proto_buf out = {0};

    assert_int_equal(proto_buf_append_str(&out, "previous"), 0);
    assert_int_equal(proto_response_json(r, 200, "{}"), 0);
    assert_int_equal(proto_response_serialize(r, DATE, false, false, &out), 0);
    proto_response_reset(r);
    assert_int_equal(proto_response_error(r, 404, "not_found", "no such endpoint"), 0);
    assert_int_equal(proto_response_serialize(r, DATE, true, true, &out), 0);
    assert_buf(&out, "previous"
                     "HTTP/1.1 200 OK\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 2\r\n"
                     "\r\n"
                     "{}"
                     "HTTP/1.1 404 Not Found\r\n"
                     "Date: " DATE "\r\n"
                     "Server: tessera\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 60\r\n"
                     "Connection: close\r\n"
                     "Cache-Control: no-store\r\n"
                     "\r\n");
    proto_buf_free(&out);
}

static void test_large_body(void **state)
{
    struct proto_response *r = *state;
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Date: " DATE "\r\n"
                               "Server: tessera\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 100000\r\n"
                               "\r\n";
    struct proto_buf out = {0};

    r->content_type = "text/plain";
    for (int i = 0; i < 100000; i++)
        assert_int_equal(proto_buf_append(&r->body, &"0123456789"[i % 10], 1), 0);
    assert_int_equal(proto_response_serialize(r, DATE, false, false, &out), 0);
    assert_int_equal(out.len, sizeof(head) - 1 + 100000);
    assert_memory_equal(out.data, head, sizeof(head) - 1);
    assert_memory_equal(out.data + sizeof(head) - 1, r->body.data, 100000);
    proto_buf_reset(&out);
    assert_int_equal(proto_response_serialize(r, DATE, true, false, &out), 0);
    assert_buf(&out, head);
    proto_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_200, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_omits_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_replaces_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_keeps_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serialize_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
