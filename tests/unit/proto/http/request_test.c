/*
 * Unit tests of proto/http/request.c, what handlers read from a parsed request: header
 * lookups (any case; the first of a repeated header, or only a single one), the media type
 * of a body, and the credentials of an Authorization scheme.  Requests are parsed by
 * proto/http/http.c from plain strings.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/http/http.h"

static const struct proto_limits limits = {8192, 16384, 64};

/* Parses one complete request; h must stay alive while the request is used. */
static const struct proto_request *parse_one(struct proto_http *h, const char *buf)
{
    proto_http_init(h, &limits);
    assert_int_equal(proto_http_feed(h, buf, strlen(buf)), PROTO_HTTP_REQUEST);
    return &h->req;
}

/* A GET with the given header lines (each ending in CRLF) after Host. */
static const struct proto_request *with_headers(struct proto_http *h, char *buf, size_t cap,
                                                const char *lines)
{
    snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", lines);
    return parse_one(h, buf);
}

static void test_header_lookup(void **state)
{
    char buf[512];
    struct proto_http h;
    struct proto_span v;
    const struct proto_request *r = with_headers(&h, buf, sizeof(buf), "X-A: 1\r\nx-a: 2\r\n");

    (void)state;
    assert_true(proto_request_header(r, "X-a", &v));
    assert_true(proto_span_eq(r, v, "1")); /* the first of two */
    assert_false(proto_request_single_header(r, "x-a", &v));
    assert_true(proto_request_single_header(r, "HOST", &v));
    assert_true(proto_span_eq(r, v, "h"));
    assert_false(proto_request_header(r, "x-b", &v));
    assert_int_equal(v.len, 0);
    assert_false(proto_request_single_header(r, "x-b", &v));
}

/* Content-Type as the endpoints read it: the media type, case-insensitive, then nothing
 * or parameters after optional whitespace (RFC 9110 §8.3.1). */
static void test_media_type(void **state)
{
    static const struct {
        const char *value;
        bool form, json;
    } cases[] = {
        {"application/json", false, true},
        {"APPLICATION/Json", false, true},
        {"application/json; charset=utf-8", false, true},
        {"application/json;charset=UTF-8", false, true},
        {"application/json ; charset=utf-8", false, true},
        {"application/json\t;x=y", false, true},
        {"application/json   ", false, true},
        {"application/x-www-form-urlencoded", true, false},
        {"Application/X-WWW-Form-Urlencoded; charset=utf-8", true, false},
        {"application/jsonx", false, false},
        {"application/json+x", false, false},
        {"application/json x", false, false},
        {"application/json,text/plain", false, false},
        {"application/x-www-form-urlencodedx", false, false},
        {"text/plain", false, false},
        {"text/plain; application/json", false, false},
        {"multipart/form-data; boundary=x", false, false},
        {"application/", false, false},
        {"", false, false},
    };
    char buf[256];
    struct proto_http h;
    const struct proto_request *r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: %s\r\n\r\n",
                 cases[i].value);
        r = parse_one(&h, buf);
        if (proto_request_media_type_is(r, "application/json") != cases[i].json ||
            proto_request_media_type_is(r, "application/x-www-form-urlencoded") != cases[i].form)
            print_error("Content-Type: %s\n", cases[i].value);
        assert_int_equal(proto_request_media_type_is(r, "application/json"), cases[i].json);
        assert_int_equal(proto_request_media_type_is(r, "application/x-www-form-urlencoded"),
                         cases[i].form);
    }
    r = parse_one(&h, "POST / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_false(proto_request_media_type_is(r, "application/json"));
    /* two Content-Types: one reader takes the first, another the last; neither is taken */
    r = parse_one(&h, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                      "content-type: application/json\r\n\r\n");
    assert_false(proto_request_media_type_is(r, "application/json"));
}

/* The credentials of a scheme: the scheme in any case and followed by a space, blanks
 * around the credentials dropped, nothing for another scheme or empty credentials. */
static void test_credentials(void **state)
{
    static const struct {
        const char *header; /* NULL: no Authorization header */
        const char *bearer; /* the Bearer credentials, NULL: none */
    } cases[] = {
        {"Authorization: Bearer abc", "abc"},      {"Authorization: bEARER abc", "abc"},
        {"Authorization: Bearer    abc  ", "abc"}, {"Authorization: Bearer a b", "a b"},
        {"Authorization: Bearer ", NULL},          {"Authorization: Bearer      ", NULL},
        {"Authorization: Bearer", NULL},           {"Authorization: Bearerabc", NULL},
        {"Authorization: Bearer\tabc", NULL},      {"Authorization: DPoP abc", NULL},
        {"Authorization: Basic YTpi", NULL},       {"Authorization: Bear abc", NULL},
        {"X-Authorization: Bearer abc", NULL},     {NULL, NULL},
    };
    char buf[512], lines[128];
    struct proto_http h;
    const struct proto_request *r;
    const char *got;
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(lines, sizeof(lines), "%s%s", cases[i].header ? cases[i].header : "",
                 cases[i].header ? "\r\n" : "");
        r = with_headers(&h, buf, sizeof(buf), lines);
        len = 12345;
        got = proto_request_credentials(r, "Bearer", &len);
        if ((got == NULL) != (cases[i].bearer == NULL))
            print_error("%s\n", cases[i].header ? cases[i].header : "(none)");
        if (cases[i].bearer == NULL) {
            assert_null(got);
            continue;
        }
        assert_non_null(got);
        assert_int_equal(len, strlen(cases[i].bearer));
        assert_memory_equal(got, cases[i].bearer, len);
    }
    /* another scheme by name; of two headers, the first */
    r = with_headers(&h, buf, sizeof(buf),
                     "authorization: DPoP tok\r\nAuthorization: Bearer other\r\n");
    got = proto_request_credentials(r, "DPoP", &len);
    assert_non_null(got);
    assert_int_equal(len, 3);
    assert_memory_equal(got, "tok", 3);
    assert_null(proto_request_credentials(r, "Bearer", &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_credentials),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
