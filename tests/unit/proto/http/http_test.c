/*
 * Unit tests of proto/http/http.c, the llhttp wrapper.  Most tests drive the parser the way
 * worker/conn.c does (feed, answer, proto_http_next, then drop proto_http_done_bytes with
 * memmove + proto_http_shift) and record a transcript of what it saw; the same input cut
 * into pieces of any size must give the same transcript, and the limits must refuse at
 * exactly one byte past them however the bytes arrive.
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

#include "proto/http/http.h"

#define WHOLE ((size_t)-1) /* feed the input in one piece */

static const struct proto_limits default_limits = {8192, 16384, 64};

/* ---- helpers ------------------------------------------------------------------------ */

struct transcript {
    char text[65536];
    size_t len;
};

static void tr_add(struct transcript *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tr_add(struct transcript *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->text + t->len, sizeof(t->text) - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(t->text) - t->len);
    t->len += (size_t)n;
}

static void tr_span(struct transcript *t, const struct proto_request *r, struct proto_span s)
{
    tr_add(t, "%.*s", (int)s.len, proto_span_ptr(r, s));
}

/* One line per request: method target path query keep_alive [headers] body. */
static void tr_request(struct transcript *t, const struct proto_request *r)
{
    tr_add(t, "%s ", llhttp_method_name((llhttp_method_t)r->method));
    tr_span(t, r, r->target);
    tr_add(t, " path=");
    tr_span(t, r, r->path);
    tr_add(t, " query=");
    tr_span(t, r, r->query);
    tr_add(t, " ka=%d [", r->keep_alive);
    for (uint32_t i = 0; i < r->nheaders; i++) {
        tr_span(t, r, r->headers[i].name);
        tr_add(t, "=");
        tr_span(t, r, r->headers[i].value);
        tr_add(t, ";");
    }
    tr_add(t, "] body=");
    tr_span(t, r, r->body);
    tr_add(t, "\n");
}

/* What a run ended with. */
struct outcome {
    int requests; /* complete requests seen */
    int status;   /* error_status of a refused request, 0 when none */
    bool partial; /* an unfinished request was pending at the end */
    size_t left;  /* bytes still in the buffer at the end */
};

/* Feeds input to a parser in pieces of `piece` bytes, as the connection does, moving the
 * unparsed bytes to a freshly allocated buffer before every read so that nothing may
 * keep a pointer into the old one.  Records each request in t. */
static struct outcome run(const char *input, size_t inlen, size_t piece,
                          const struct proto_limits *l, struct transcript *t)
{
    struct proto_http h;
    struct outcome o = {0, 0, false, 0};
    char *in = NULL;
    size_t in_len = 0, fed = 0;

    t->len = 0;
    t->text[0] = '\0';
    proto_http_init(&h, l);
    for (;;) {
        size_t n = inlen - fed < piece ? inlen - fed : piece, done;
        char *moved = malloc(in_len + n + 1);
        enum proto_http_result r;

        assert_non_null(moved);
        if (in_len)
            memcpy(moved, in, in_len);
        memcpy(moved + in_len, input + fed, n);
        free(in);
        in = moved;
        in_len += n;
        fed += n;
        while ((r = proto_http_feed(&h, in, in_len)) == PROTO_HTTP_REQUEST) {
            assert_ptr_equal(h.req.base, in + h.msg_off);
            tr_request(t, &h.req);
            o.requests++;
            proto_http_next(&h);
        }
        if (r == PROTO_HTTP_ERROR) {
            tr_add(t, "ERROR %d %s\n", h.error_status, h.error_text);
            o.status = h.error_status;
            break;
        }
        done = proto_http_done_bytes(&h);
        assert_true(done <= in_len);
        memmove(in, in + done, in_len - done);
        in_len -= done;
        proto_http_shift(&h, done);
        if (fed == inlen) {
            o.partial = proto_http_partial(&h);
            o.left = in_len;
            tr_add(t, "MORE partial=%d left=%zu\n", o.partial, in_len);
            break;
        }
    }
    free(in);
    return o;
}

static const size_t pieces[] = {WHOLE, 1, 2, 3, 5, 64};
#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))

/* Runs input whole and in pieces of 1, 2, 3, 5 and 64 bytes; every transcript must equal
 * expect. */
static void check_all_pieces(const char *input, size_t inlen, const struct proto_limits *l,
                             const char *expect)
{
    struct transcript *t = malloc(sizeof(*t));

    assert_non_null(t);
    for (size_t i = 0; i < NPIECES; i++) {
        run(input, inlen, pieces[i], l, t);
        if (strcmp(t->text, expect) != 0)
            print_error("pieces of %zu bytes:\n%s", pieces[i], t->text);
        assert_string_equal(t->text, expect);
    }
    free(t);
}

/* Runs input in every piece size, asserts that all agree, and returns the outcome. */
static struct outcome outcome_of(const char *input, size_t inlen, const struct proto_limits *l)
{
    struct transcript *t = malloc(sizeof(*t)), *first = malloc(sizeof(*first));
    struct outcome o = {0, 0, false, 0}, o1;

    assert_non_null(t);
    assert_non_null(first);
    for (size_t i = 0; i < NPIECES; i++) {
        o1 = run(input, inlen, pieces[i], l, i ? t : first);
        if (i == 0) {
            o = o1;
            continue;
        }
        if (strcmp(t->text, first->text) != 0)
            print_error("whole:\n%s\npieces of %zu bytes:\n%s", first->text, pieces[i], t->text);
        assert_string_equal(t->text, first->text);
        assert_int_equal(o1.requests, o.requests);
        assert_int_equal(o1.status, o.status);
        assert_int_equal(o1.partial, o.partial);
        assert_int_equal(o1.left, o.left);
    }
    free(t);
    free(first);
    return o;
}

#define CHECK_ALL(input, limits, expect) check_all_pieces(input, sizeof(input) - 1, limits, expect)

/* Parses one complete request given as a string; h must stay alive while r is used. */
static const struct proto_request *parse_one(struct proto_http *h, const char *buf,
                                             const struct proto_limits *l)
{
    proto_http_init(h, l);
    assert_int_equal(proto_http_feed(h, buf, strlen(buf)), PROTO_HTTP_REQUEST);
    return &h->req;
}

/* A request whose header block (request line through the blank line) is exactly
 * `block` bytes, followed by `body` bytes of body announced by Content-Length when
 * with_length.  Written to out; returns its length. */
static size_t make_request(char *out, size_t cap, size_t block, size_t body, bool with_length)
{
    char head[256];
    int n;

    if (with_length)
        n = snprintf(head, sizeof(head),
                     "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\nX-Pad: ", body);
    else
        n = snprintf(head, sizeof(head), "GET /g HTTP/1.1\r\nHost: h\r\nX-Pad: ");
    assert_true(n > 0 && (size_t)n + 4 + 1 <= block && block + body <= cap);
    memcpy(out, head, (size_t)n);
    memset(out + n, 'p', block - (size_t)n - 4);
    memcpy(out + block - 4, "\r\n\r\n", 4);
    memset(out + block, 'b', body);
    return block + body;
}

/* ---- basic parsing ------------------------------------------------------------------ */

static void test_simple_get(void **state)
{
    static const char req[] = "GET /a/b?x=1&y=2 HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "X-Empty:\r\n"
                              "Accept: */*\r\n"
                              "\r\n";
    struct proto_http h;
    const struct proto_request *r;
    struct proto_span v = {99, 99};

    (void)state;
    r = parse_one(&h, req, &default_limits);
    assert_int_equal(r->method, HTTP_GET);
    assert_ptr_equal(r->base, req);
    assert_int_equal(r->target.off, 4);
    assert_int_equal(r->target.len, 12);
    assert_int_equal(r->path.off, 4);
    assert_int_equal(r->path.len, 4);
    assert_int_equal(r->query.off, 9);
    assert_int_equal(r->query.len, 7);
    assert_true(proto_span_eq(r, r->path, "/a/b"));
    assert_true(proto_span_eq(r, r->query, "x=1&y=2"));
    assert_false(proto_span_eq(r, r->path, "/a/b?"));
    assert_false(proto_span_eq(r, r->path, "/a/"));
    assert_int_equal(r->body.len, 0);
    assert_true(r->keep_alive);
    assert_int_equal(r->nheaders, 3);
    assert_int_equal(r->headers[0].name.off, 27);
    assert_int_equal(r->headers[0].name.len, 4);
    assert_int_equal(r->headers[0].value.off, 33);
    assert_int_equal(r->headers[0].value.len, 11);
    assert_int_equal(r->headers[1].name.off, 46);
    assert_int_equal(r->headers[1].name.len, 7);
    assert_int_equal(r->headers[1].value.len, 0);
    assert_int_equal(r->headers[2].name.off, 56);
    assert_int_equal(r->headers[2].value.off, 64);
    assert_int_equal(r->headers[2].value.len, 3);

    /* lookup is case-insensitive on the name, exact on length */
    assert_true(proto_request_header(r, "host", &v));
    assert_int_equal(v.off, 33);
    assert_int_equal(v.len, 11);
    assert_true(proto_span_eq(r, v, "example.com"));
    assert_true(proto_request_header(r, "HOST", &v));
    assert_true(proto_span_eq(r, v, "example.com"));
    assert_true(proto_request_header(r, "aCCePT", &v));
    assert_true(proto_span_eq(r, v, "*/*"));
    v.off = v.len = 99;
    assert_true(proto_request_header(r, "x-empty", &v));
    assert_int_equal(v.len, 0);
    assert_true(proto_span_eq(r, v, ""));
    v.off = v.len = 99;
    assert_false(proto_request_header(r, "Hos", &v));
    assert_int_equal(v.off, 0);
    assert_int_equal(v.len, 0);
    assert_false(proto_request_header(r, "Hostname", &v));
    assert_false(proto_request_header(r, "Content-Length", &v));

    /* the whole buffer is consumed and nothing is partial after next() */
    assert_int_equal(h.parsed, sizeof(req) - 1);
    proto_http_next(&h);
    assert_false(proto_http_partial(&h));
    assert_int_equal(proto_http_done_bytes(&h), sizeof(req) - 1);
    assert_int_equal(proto_http_feed(&h, req, sizeof(req) - 1), PROTO_HTTP_MORE);
}

static void test_target_without_query(void **state)
{
    struct proto_http h;
    const struct proto_request *r;

    (void)state;
    r = parse_one(&h, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits);
    assert_true(proto_span_eq(r, r->target, "/healthz"));
    assert_true(proto_span_eq(r, r->path, "/healthz"));
    assert_int_equal(r->query.len, 0);
    assert_int_equal(r->query.off, 12); /* just past the path */
    assert_int_equal(r->nheaders, 1);

    r = parse_one(&h, "GET /x? HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits);
    assert_true(proto_span_eq(r, r->path, "/x"));
    assert_int_equal(r->query.off, 7);
    assert_int_equal(r->query.len, 0);

    /* only the first '?' splits */
    r = parse_one(&h, "GET /?a=?b HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits);
    assert_true(proto_span_eq(r, r->path, "/"));
    assert_true(proto_span_eq(r, r->query, "a=?b"));
}

static void test_methods(void **state)
{
    struct proto_http h;

    (void)state;
    assert_int_equal(parse_one(&h, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits)->method,
                     HTTP_HEAD);
    assert_int_equal(
        parse_one(&h, "DELETE /c/1 HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits)->method,
        HTTP_DELETE);
    assert_int_equal(
        parse_one(&h, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &default_limits)
            ->method,
        HTTP_PUT);
    assert_int_equal(
        parse_one(&h, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits)->method,
        HTTP_OPTIONS);
}

static void test_post_body(void **state)
{
    static const char req[] = "POST /token HTTP/1.1\r\nHost: h\r\n"
                              "Content-Type: application/x-www-form-urlencoded\r\n"
                              "Content-Length: 29\r\n"
                              "\r\n"
                              "grant_type=client_credentials";
    struct proto_http h;
    const struct proto_request *r;
    struct proto_span v;

    (void)state;
    r = parse_one(&h, req, &default_limits);
    assert_int_equal(r->method, HTTP_POST);
    assert_true(proto_span_eq(r, r->path, "/token"));
    assert_int_equal(r->body.off, sizeof(req) - 1 - 29);
    assert_int_equal(r->body.len, 29);
    assert_true(proto_span_eq(r, r->body, "grant_type=client_credentials"));
    assert_true(proto_request_header(r, "content-length", &v));
    assert_true(proto_span_eq(r, v, "29"));
    assert_true(proto_request_header(r, "Content-Type", &v));
    assert_true(proto_span_eq(r, v, "application/x-www-form-urlencoded"));
    assert_true(r->keep_alive);
    assert_int_equal(h.parsed, sizeof(req) - 1);
}

static void test_body_incomplete(void **state)
{
    static const char req[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc";
    struct proto_http h;

    (void)state;
    proto_http_init(&h, &default_limits);
    assert_int_equal(proto_http_feed(&h, req, sizeof(req) - 1), PROTO_HTTP_MORE);
    assert_true(proto_http_partial(&h));
    assert_int_equal(proto_http_done_bytes(&h), 0);
    /* feeding the same bytes again parses nothing new */
    assert_int_equal(proto_http_feed(&h, req, sizeof(req) - 1), PROTO_HTTP_MORE);
}

static void test_partial_flag(void **state)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct proto_http h;

    (void)state;
    proto_http_init(&h, &default_limits);
    assert_false(proto_http_partial(&h));
    assert_int_equal(proto_http_feed(&h, req, 0), PROTO_HTTP_MORE);
    assert_false(proto_http_partial(&h));
    assert_int_equal(proto_http_feed(&h, req, 1), PROTO_HTTP_MORE);
    assert_true(proto_http_partial(&h));
    assert_int_equal(proto_http_done_bytes(&h), 0);
    assert_int_equal(proto_http_feed(&h, req, sizeof(req) - 1), PROTO_HTTP_REQUEST);
    proto_http_next(&h);
    assert_false(proto_http_partial(&h));
}

/* ---- keep-alive --------------------------------------------------------------------- */

static void test_keep_alive(void **state)
{
    struct proto_http h;

    (void)state;
    assert_true(parse_one(&h, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &default_limits)->keep_alive);
    assert_false(parse_one(&h, "GET / HTTP/1.0\r\n\r\n", &default_limits)->keep_alive);
    assert_true(parse_one(&h, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &default_limits)
                    ->keep_alive);
    assert_false(
        parse_one(&h, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &default_limits)
            ->keep_alive);
    assert_false(
        parse_one(&h, "GET / HTTP/1.1\r\nHost: h\r\nconnection: CLOSE\r\n\r\n", &default_limits)
            ->keep_alive);
    assert_true(parse_one(&h, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
                          &default_limits)
                    ->keep_alive);
    assert_false(parse_one(&h, "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab", &default_limits)
                     ->keep_alive);
}

/* ---- pieces, pipelining, compaction ------------------------------------------------- */

static void test_bytewise_equals_whole(void **state)
{
    static const char in[] = "POST /token?a=b HTTP/1.1\r\n"
                             "Host: tessera.test\r\n"
                             "X-Empty:\r\n"
                             "Content-Length: 11\r\n"
                             "\r\n"
                             "hello=world";
    struct proto_http h;
    const struct proto_request *whole;

    (void)state;
    whole = parse_one(&h, in, &default_limits);
    assert_int_equal(whole->body.off, sizeof(in) - 1 - 11);
    CHECK_ALL(in, &default_limits,
              "POST /token?a=b path=/token query=a=b ka=1 "
              "[Host=tessera.test;X-Empty=;Content-Length=11;] body=hello=world\n"
              "MORE partial=0 left=0\n");
}

/* Feeds one byte at a time into one growing buffer and checks every span against the
 * spans of the same request parsed whole. */
static void test_bytewise_spans(void **state)
{
    static const char in[] = "PATCH /c/42?x=%20 HTTP/1.1\r\nHost: h\r\n"
                             "Authorization: Basic YTpi\r\n"
                             "Content-Length: 4\r\n"
                             "\r\n"
                             "{\"\"}";
    struct proto_http whole, bw;
    char buf[sizeof(in)];
    size_t i;
    enum proto_http_result r = PROTO_HTTP_MORE;

    (void)state;
    parse_one(&whole, in, &default_limits);
    proto_http_init(&bw, &default_limits);
    for (i = 1; i <= sizeof(in) - 1; i++) {
        buf[i - 1] = in[i - 1];
        r = proto_http_feed(&bw, buf, i);
        if (i < sizeof(in) - 1)
            assert_int_equal(r, PROTO_HTTP_MORE);
    }
    assert_int_equal(r, PROTO_HTTP_REQUEST);
    assert_int_equal(bw.req.method, whole.req.method);
    assert_int_equal(bw.req.method, HTTP_PATCH);
    assert_memory_equal(&bw.req.target, &whole.req.target, sizeof(struct proto_span));
    assert_memory_equal(&bw.req.path, &whole.req.path, sizeof(struct proto_span));
    assert_memory_equal(&bw.req.query, &whole.req.query, sizeof(struct proto_span));
    assert_memory_equal(&bw.req.body, &whole.req.body, sizeof(struct proto_span));
    assert_int_equal(bw.req.nheaders, 3);
    assert_int_equal(whole.req.nheaders, 3);
    assert_memory_equal(bw.req.headers, whole.req.headers, 3 * sizeof(struct proto_header));
    assert_int_equal(bw.req.keep_alive, whole.req.keep_alive);
    assert_true(proto_span_eq(&bw.req, bw.req.headers[1].value, "Basic YTpi"));
    assert_true(proto_span_eq(&bw.req, bw.req.body, "{\"\"}"));
    assert_int_equal(bw.parsed, sizeof(in) - 1);
}

static void test_pipelined_transcript(void **state)
{
    static const char in[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /two?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                             "HEAD /three HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
                             "GET /four HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

    (void)state;
    CHECK_ALL(in, &default_limits,
              "GET /one path=/one query= ka=1 [Host=a;] body=\n"
              "POST /two?q path=/two query=q ka=1 [Host=h;Content-Length=3;] body=xyz\n"
              "HEAD /three path=/three query= ka=1 [Host=h;X-A=1;X-B=2;] body=\n"
              "GET /four path=/four query= ka=0 [Host=h;Connection=close;] body=\n"
              "MORE partial=0 left=0\n");
}

static void test_pipelined_ends_mid_request(void **state)
{
    static const char in[] = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                             "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345";

    (void)state;
    /* the unfinished request's 56 bytes stay in the buffer, at its start */
    CHECK_ALL(in, &default_limits,
              "GET /one path=/one query= ka=1 [Host=h;] body=\n"
              "MORE partial=1 left=56\n");
}

/* Step by step what worker/conn.c does with one buffer: answer, next, compact. */
static void test_pipelined_compaction(void **state)
{
    static const char first[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"; /* 28 */
    static const char second[] =
        "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"; /* 52 */
    static const char third_a[] = "GET /c?d HTTP/1.1\r\nHo";
    static const char third_b[] = "st: x\r\n\r\n";
    struct proto_http h;
    char in[256];
    size_t len = 0, done;

    (void)state;
    proto_http_init(&h, &default_limits);
    memcpy(in, first, sizeof(first) - 1);
    len += sizeof(first) - 1;
    memcpy(in + len, second, sizeof(second) - 1);
    len += sizeof(second) - 1;
    memcpy(in + len, third_a, sizeof(third_a) - 1);
    len += sizeof(third_a) - 1;

    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_ptr_equal(h.req.base, in);
    assert_true(proto_span_eq(&h.req, h.req.path, "/a"));
    assert_int_equal(h.parsed, 28);
    proto_http_next(&h);

    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_ptr_equal(h.req.base, in + 28);
    assert_true(proto_span_eq(&h.req, h.req.path, "/b"));
    assert_int_equal(h.req.body.off, 48);
    assert_true(proto_span_eq(&h.req, h.req.body, "body"));
    assert_int_equal(h.parsed, 80);
    proto_http_next(&h);
    assert_int_equal(proto_http_done_bytes(&h), 80);

    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_MORE);
    assert_true(proto_http_partial(&h));
    assert_int_equal(h.parsed, len);
    /* the first two requests are answered; the third has begun */
    done = proto_http_done_bytes(&h);
    assert_int_equal(done, 80);
    memmove(in, in + done, len - done);
    len -= done;
    proto_http_shift(&h, done);
    assert_int_equal(h.msg_off, 0);
    assert_int_equal(h.parsed, len);
    assert_int_equal(proto_http_done_bytes(&h), 0);

    memcpy(in + len, third_b, sizeof(third_b) - 1);
    len += sizeof(third_b) - 1;
    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_ptr_equal(h.req.base, in);
    assert_true(proto_span_eq(&h.req, h.req.target, "/c?d"));
    assert_true(proto_span_eq(&h.req, h.req.query, "d"));
    assert_int_equal(h.req.nheaders, 1);
    assert_int_equal(h.req.headers[0].name.off, 19);
    assert_true(proto_span_eq(&h.req, h.req.headers[0].name, "Host"));
    assert_true(proto_span_eq(&h.req, h.req.headers[0].value, "x"));
    proto_http_next(&h);
    assert_int_equal(proto_http_done_bytes(&h), len);
    proto_http_shift(&h, len);
    assert_int_equal(h.parsed, 0);
    assert_int_equal(proto_http_feed(&h, in, 0), PROTO_HTTP_MORE);
    assert_false(proto_http_partial(&h));
}

/* A fresh request object per request: no header of an earlier request leaks into a
 * later one with fewer headers. */
static void test_pipelined_reset(void **state)
{
    static const char in[] = "GET /a HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
                             "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz"
                             "GET /c HTTP/1.1\r\nHost: h\r\nB:\r\n\r\n";
    struct proto_http h;
    struct proto_span v;
    size_t len = sizeof(in) - 1;

    (void)state;
    proto_http_init(&h, &default_limits);
    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_int_equal(h.req.nheaders, 4);
    proto_http_next(&h);
    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_int_equal(h.req.nheaders, 2);
    assert_false(proto_request_header(&h.req, "A", &v));
    assert_true(proto_span_eq(&h.req, h.req.body, "z"));
    proto_http_next(&h);
    assert_int_equal(proto_http_feed(&h, in, len), PROTO_HTTP_REQUEST);
    assert_int_equal(h.req.nheaders, 2);
    assert_int_equal(h.req.body.len, 0);
    assert_true(proto_request_header(&h.req, "b", &v));
    assert_int_equal(v.len, 0);
}

/* ---- limits ------------------------------------------------------------------------- */

/* Asserts that input, in every piece size, gives `requests` requests and then `status`
 * (0: no error). */
static void expect_outcome(const char *input, size_t inlen, const struct proto_limits *l,
                           int requests, int status)
{
    struct outcome o = outcome_of(input, inlen, l);

    if (o.requests != requests || o.status != status)
        print_error("%d requests, status %d; expected %d, %d\n", o.requests, o.status, requests,
                    status);
    assert_int_equal(o.requests, requests);
    assert_int_equal(o.status, status);
}

static void test_header_bytes_boundary(void **state)
{
    const struct proto_limits l = {1024, 16384, 64};
    char in[8192];
    size_t n;
    struct proto_http h;

    (void)state;
    /* the header block is the request line through the blank line */
    n = make_request(in, sizeof(in), 1024, 0, false);
    assert_int_equal(n, 1024);
    expect_outcome(in, n, &l, 1, 0);
    n = make_request(in, sizeof(in), 1025, 0, false);
    expect_outcome(in, n, &l, 0, 431);
    n = make_request(in, sizeof(in), 1026, 0, false);
    expect_outcome(in, n, &l, 0, 431);
    n = make_request(in, sizeof(in), 5000, 0, false);
    expect_outcome(in, n, &l, 0, 431);

    /* the body does not count */
    n = make_request(in, sizeof(in), 1024, 2000, true);
    expect_outcome(in, n, &l, 1, 0);
    n = make_request(in, sizeof(in), 1025, 10, true);
    expect_outcome(in, n, &l, 0, 431);

    /* an unfinished block is refused as soon as it holds more than the limit */
    n = make_request(in, sizeof(in), 1030, 0, false);
    expect_outcome(in, 1024, &l, 0, 0);
    assert_true(outcome_of(in, 1024, &l).partial);
    expect_outcome(in, 1025, &l, 0, 431);

    /* a long request line alone */
    memcpy(in, "GET /", 5);
    memset(in + 5, 'a', 2000);
    expect_outcome(in, 2005, &l, 0, 431);

    proto_http_init(&h, &l);
    n = make_request(in, sizeof(in), 1025, 0, false);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 431);
    assert_string_equal(h.error_text, "request header block too large");
}

/* The limit applies to each request, not to the buffer that holds several. */
static void test_header_bytes_per_request(void **state)
{
    const struct proto_limits l = {1024, 16384, 64};
    char in[8192];
    size_t n = 0;

    (void)state;
    n += make_request(in + n, sizeof(in) - n, 1024, 0, false);
    n += make_request(in + n, sizeof(in) - n, 1000, 100, true);
    n += make_request(in + n, sizeof(in) - n, 1024, 0, false);
    expect_outcome(in, n, &l, 3, 0);
    n += make_request(in + n, sizeof(in) - n, 1025, 0, false);
    expect_outcome(in, n, &l, 3, 431);
}

/* Empty lines before a request (RFC 9112 §2.2 lets a server skip them) are not part of
 * its header block, and its spans start at its first byte, however the bytes arrive. */
static void test_leading_empty_lines(void **state)
{
    const struct proto_limits l = {1024, 16384, 64};
    char in[4096];
    size_t n = 0;
    struct proto_http h;

    (void)state;
    memcpy(in, "\r\n\r\n", 4);
    n = 4 + make_request(in + 4, sizeof(in) - 4, 1024, 0, false);
    memcpy(in + n, "\r\n", 2);
    n += 2;
    n += make_request(in + n, sizeof(in) - n, 1024, 0, false);
    expect_outcome(in, n, &l, 2, 0);

    proto_http_init(&h, &l);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_REQUEST);
    assert_ptr_equal(h.req.base, in + 4);
    assert_int_equal(h.req.target.off, 4);
    assert_true(proto_span_eq(&h.req, h.req.target, "/g"));
    proto_http_next(&h);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_REQUEST);
    assert_ptr_equal(h.req.base, in + 4 + 1024 + 2);
    assert_int_equal(h.req.target.off, 4);

    CHECK_ALL(
        "\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n\r\n",
        &default_limits,
        "GET /a path=/a query= ka=1 [Host=h;] body=\n"
        "GET /b path=/b query= ka=1 [Host=h;] body=\n"
        "MORE partial=0 left=0\n");
}

/* A header value continued on the next line (obs-fold) would leave a CRLF inside the
 * value's span; it is refused. */
static void test_obs_fold(void **state)
{
    (void)state;
    CHECK_ALL("GET /a HTTP/1.1\r\nHost: h\r\nX-Long: one\r\n two\r\n\r\n", &default_limits,
              "ERROR 400 folded header lines (obs-fold) are not accepted\n");
}

/* Every limit, small and varied, refuses exactly one past it, in every piece size. */
static void test_many_small_limits(void **state)
{
    char in[512];
    size_t n;

    (void)state;
    for (uint32_t hb = 40; hb <= 72; hb++) {
        const struct proto_limits l = {hb, 0, 4};

        n = make_request(in, sizeof(in), hb - 1, 0, false);
        expect_outcome(in, n, &l, 1, 0);
        n = make_request(in, sizeof(in), hb, 0, false);
        expect_outcome(in, n, &l, 1, 0);
        n = make_request(in, sizeof(in), hb + 1, 0, false);
        expect_outcome(in, n, &l, 0, 431);
    }
    for (uint32_t bb = 0; bb <= 24; bb += 3) {
        const struct proto_limits l = {200, bb, 4};

        n = make_request(in, sizeof(in), 60, bb, true);
        expect_outcome(in, n, &l, 1, 0);
        n = make_request(in, sizeof(in), 60, bb + 1, true);
        expect_outcome(in, n, &l, 0, 413);
        /* refused as soon as the headers are in, before any of the body */
        expect_outcome(in, 60, &l, 0, 413);
    }
    for (uint32_t nh = 1; nh <= 10; nh++) {
        const struct proto_limits l = {4096, 0, nh};

        n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n");
        for (uint32_t i = 1; i < nh; i++)
            n += (size_t)snprintf(in + n, sizeof(in) - n, "H%u: %u\r\n", i, i);
        n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
        expect_outcome(in, n, &l, 1, 0);
        n -= 2;
        n += (size_t)snprintf(in + n, sizeof(in) - n, "Last: x\r\n\r\n");
        expect_outcome(in, n, &l, 0, 431);
    }
}

/* Builds a GET with `count` headers, Host and "H<i>: v<i>" for i from 1, into in;
 * returns its length. */
static size_t make_headers(char *in, size_t cap, uint32_t count)
{
    size_t n = (size_t)snprintf(in, cap, "GET / HTTP/1.1\r\nHost: h\r\n");

    for (uint32_t i = 1; i < count; i++)
        n += (size_t)snprintf(in + n, cap - n, "H%u: v%u\r\n", i, i);
    n += (size_t)snprintf(in + n, cap - n, "\r\n");
    assert_true(n < cap);
    return n;
}

static void test_header_count(void **state)
{
    const struct proto_limits l64 = {8192, 16384, 64};
    const struct proto_limits lmax = {8192, 16384, PROTO_HTTP_HEADERS_MAX};
    char in[8192];
    struct proto_http h;
    struct proto_span v;
    size_t n;

    (void)state;
    n = make_headers(in, sizeof(in), 64);
    expect_outcome(in, n, &l64, 1, 0);
    n = make_headers(in, sizeof(in), 65);
    expect_outcome(in, n, &l64, 0, 431);

    proto_http_init(&h, &l64);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 431);
    assert_string_equal(h.error_text, "too many request headers");

    /* the hard ceiling: every slot of the array is used, none beyond */
    n = make_headers(in, sizeof(in), PROTO_HTTP_HEADERS_MAX);
    proto_http_init(&h, &lmax);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_REQUEST);
    assert_int_equal(h.req.nheaders, PROTO_HTTP_HEADERS_MAX);
    assert_true(proto_span_eq(&h.req, h.req.headers[0].name, "Host"));
    assert_true(proto_span_eq(&h.req, h.req.headers[127].name, "H127"));
    assert_true(proto_span_eq(&h.req, h.req.headers[127].value, "v127"));
    assert_true(proto_request_header(&h.req, "h127", &v));
    assert_true(proto_span_eq(&h.req, v, "v127"));
    expect_outcome(in, n, &lmax, 1, 0);
    n = make_headers(in, sizeof(in), PROTO_HTTP_HEADERS_MAX + 1);
    expect_outcome(in, n, &lmax, 0, 431);
}

static void test_body_bytes(void **state)
{
    const struct proto_limits l = {8192, 1024, 64};
    char in[4096];
    struct proto_http h;
    size_t n;

    (void)state;
    n = make_request(in, sizeof(in), 100, 1024, true);
    expect_outcome(in, n, &l, 1, 0);
    proto_http_init(&h, &l);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_REQUEST);
    assert_int_equal(h.req.body.off, 100);
    assert_int_equal(h.req.body.len, 1024);

    n = make_request(in, sizeof(in), 100, 1025, true);
    expect_outcome(in, n, &l, 0, 413);
    expect_outcome(in, 100, &l, 0, 413);
    proto_http_init(&h, &l);
    assert_int_equal(proto_http_feed(&h, in, 100), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 413);
    assert_string_equal(h.error_text, "request body too large");

    n = make_request(in, sizeof(in), 100, 0, true);
    expect_outcome(in, n, &l, 1, 0);
    CHECK_ALL("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", &l,
              "ERROR 400 malformed HTTP request\n");
}

static void test_chunked(void **state)
{
    struct proto_http h;
    static const char in[] = "POST /token HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n\r\n";

    (void)state;
    CHECK_ALL(in, &default_limits,
              "ERROR 411 chunked request bodies are not accepted; send Content-Length\n");
    /* refused when the headers end, before any chunk */
    proto_http_init(&h, &default_limits);
    assert_int_equal(proto_http_feed(&h, in, 61), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 411);
    CHECK_ALL("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
              "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
              &default_limits,
              "GET /a path=/a query= ka=1 [Host=h;] body=\n"
              "ERROR 411 chunked request bodies are not accepted; send Content-Length\n");
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "HELLO WORLD\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        "GET / XTTP/1.1\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello on a plain port */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct outcome o = outcome_of(bad[i], strlen(bad[i]), &default_limits);

        if (o.status != 400)
            print_error("input %zu: status %d\n", i, o.status);
        assert_int_equal(o.status, 400);
        assert_int_equal(o.requests, 0);
    }
    /* a good request, then garbage: the good one is answered first */
    CHECK_ALL("GET /ok HTTP/1.1\r\nHost: h\r\n\r\nnonsense\r\n\r\n", &default_limits,
              "GET /ok path=/ok query= ka=1 [Host=h;] body=\n"
              "ERROR 400 malformed HTTP request\n");
}

/* ---- RFC 9112 syntax llhttp lets through -------------------------------------------- */

static void expect_status(const char *input, int status)
{
    struct outcome o = outcome_of(input, strlen(input), &default_limits);

    if (o.status != status)
        print_error("%s: status %d, want %d\n", input, o.status, status);
    assert_int_equal(o.status, status);
    assert_int_equal(o.requests, status ? 0 : 1);
}

/* RFC 9112 §5.1: no whitespace between a field name and the colon (llhttp outside its
 * strict mode kept "X-A " as the name, so "Content-Length : 3" was silently ignored), and
 * a name is a non-empty token.  This fails if llhttp is built without strict mode. */
static void test_header_name_syntax(void **state)
{
    (void)state;
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A\t: 1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX A: 1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX\"A: 1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A!#$%&'*+.^_`|~0: 1\r\n\r\n", 0);
}

/* RFC 9112 §5.2: obs-fold is refused, also when its first line is empty: llhttp read
 * "Content-Length:\r\n 3" as a length of 3 and no span showed the fold. */
static void test_obs_fold_any_form(void **state)
{
    (void)state;
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc", 400);
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\t3\r\n\r\nabc", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n \r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost:\r\n h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", 400);
    CHECK_ALL("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
              "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc",
              &default_limits,
              "GET /a path=/a query= ka=1 [Host=h;] body=\n"
              "ERROR 400 folded header lines (obs-fold) are not accepted\n");
}

/* RFC 9112 §3.2: exactly one valid Host in HTTP/1.1, at most one in HTTP/1.0. */
static void test_host(void **state)
{
    (void)state;
    expect_status("GET / HTTP/1.1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400);
    expect_status("GET / HTTP/1.0\r\n\r\n", 0);
    expect_status("GET / HTTP/1.1\r\nHOST: auth.example.com:8443 \r\n\r\n", 0);
    expect_status("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 0);
    expect_status("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0);
    expect_status("GET / HTTP/1.1\r\nHost: xn--caf-dma.example%2e\r\n\r\n", 0);
    expect_status("GET / HTTP/1.1\r\nHost:\r\n\r\n", 0); /* no authority: RFC 9112 §3.2 */
    CHECK_ALL("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n", &default_limits,
              "GET / path=/ query= ka=1 [Host=a;] body=\n"
              "ERROR 400 an HTTP/1.1 request must have a Host header\n");
}

/* RFC 9110 §15.6.6: 505 for a major version other than 1, however llhttp would take it. */
static void test_version(void **state)
{
    (void)state;
    expect_status("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    expect_status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    expect_status("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505);
    expect_status("GET / HTTP/9.9\r\nHost: h\r\n\r\n", 505);
    expect_status("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
    expect_status("GET /\r\n\r\n", 505); /* HTTP/0.9's simple request */
    expect_status("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.0\r\n\r\n", 0);
    CHECK_ALL("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/2.0\r\nHost: h\r\n\r\n",
              &default_limits,
              "GET /a path=/a query= ka=1 [Host=h;] body=\n"
              "ERROR 505 only HTTP/1.1 and HTTP/1.0 are supported\n");
}

/* RFC 9112 §3.2.2: a server accepts the absolute form and routes it by its path. */
static void test_absolute_form(void **state)
{
    (void)state;
    CHECK_ALL("GET https://auth.example.com/healthz?x=1 HTTP/1.1\r\nHost: auth.example.com\r\n\r\n"
              "GET HTTP://A:8443/a/b HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET http://a?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"
              "OPTIONS http://a HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /https://x/y HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET ftp://x/y HTTP/1.1\r\nHost: a\r\n\r\n",
              &default_limits,
              "GET https://auth.example.com/healthz?x=1 path=/healthz query=x=1 ka=1 "
              "[Host=auth.example.com;] body=\n"
              "GET HTTP://A:8443/a/b path=/a/b query= ka=1 [Host=a;] body=\n"
              "GET http://a?q=1 path= query=q=1 ka=1 [Host=a;] body=\n"
              "OPTIONS http://a path= query= ka=1 [Host=a;] body=\n"
              "GET /https://x/y path=/https://x/y query= ka=1 [Host=a;] body=\n"
              "GET ftp://x/y path=ftp://x/y query= ka=1 [Host=a;] body=\n"
              "MORE partial=0 left=0\n");
}

static void test_error_is_sticky(void **state)
{
    static const char good[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    const struct proto_limits l = {64, 1024, 8};
    char in[256];
    struct proto_http h;
    size_t n;

    (void)state;
    n = make_request(in, sizeof(in), 65, 0, false);
    proto_http_init(&h, &l);
    assert_int_equal(proto_http_feed(&h, in, n), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 431);
    memcpy(in + n, good, sizeof(good) - 1);
    assert_int_equal(proto_http_feed(&h, in, n + sizeof(good) - 1), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 431);
    assert_string_equal(h.error_text, "request header block too large");
    /* even a buffer holding only a valid request */
    assert_int_equal(proto_http_feed(&h, good, sizeof(good) - 1), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 431);

    proto_http_init(&h, &default_limits);
    assert_int_equal(proto_http_feed(&h, "BLAH\r\n", 6), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 400);
    assert_string_equal(h.error_text, "malformed HTTP request");
    assert_int_equal(proto_http_feed(&h, good, sizeof(good) - 1), PROTO_HTTP_ERROR);
    assert_int_equal(h.error_status, 400);

    /* init starts over */
    proto_http_init(&h, &default_limits);
    assert_int_equal(proto_http_feed(&h, good, sizeof(good) - 1), PROTO_HTTP_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_target_without_query),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_post_body),
        cmocka_unit_test(test_body_incomplete),
        cmocka_unit_test(test_partial_flag),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_bytewise_equals_whole),
        cmocka_unit_test(test_bytewise_spans),
        cmocka_unit_test(test_pipelined_transcript),
        cmocka_unit_test(test_pipelined_ends_mid_request),
        cmocka_unit_test(test_pipelined_compaction),
        cmocka_unit_test(test_pipelined_reset),
        cmocka_unit_test(test_header_bytes_boundary),
        cmocka_unit_test(test_header_bytes_per_request),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_obs_fold),
        cmocka_unit_test(test_many_small_limits),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_body_bytes),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_header_name_syntax),
        cmocka_unit_test(test_obs_fold_any_form),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_absolute_form),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
