/*
 * Fuzz target of HTTP request parsing (proto/http/http.c), driven the way worker/conn.c drives
 * it: bytes are appended to one contiguous buffer in pieces (conn_input_plain), then feed,
 * answer through the router, next, drop the done bytes and shift (conn_process).  Every
 * parsed request, every refusal and every serialised response is checked against what
 * the worker relies on; a broken invariant aborts.  Under ASan the unused tail of the
 * input buffer is poisoned, so a span or a read past the received bytes is caught too.
 *
 * Input: byte 0 picks the limits (& 3) and readiness (& 4).  Byte 1: bit 7 set feeds the
 * stream one byte per read; else its low 4 bits are a count n of split points, which
 * follow as n 16-bit little-endian offsets (modulo the stream length).  The rest is the
 * stream.  Seeds start with two ASCII digits, e.g. "00GET / HTTP/1.1...".
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http/http.h"
#include "proto/http/response.h"
#include "proto/http/router.h"
#include "shm/region.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_IN_INITIAL 4096 /* conn.c's CONN_IN_INITIAL */
#define FUZZ_IN_SLACK 1024   /* conn.c's room beyond the largest request */
/* Bytes of a request head no span covers (" HTTP/1.1", line ends), which the header
 * limit lets through past header_bytes. */
#define FUZZ_HEAD_SLACK 64

static const struct proto_limits fuzz_limits[4] = {
    {8192, 16384, 64},                        /* master/config.c's defaults */
    {1024, 1024, 8},                          /* the smallest the configuration allows */
    {64, 16, 2},                              /* smaller still: short inputs hit each limit */
    {65536, 1048576, PROTO_HTTP_HEADERS_MAX}, /* the largest */
};

static const char fuzz_date[] = "Sun, 06 Nov 1994 08:49:37 GMT";

/* What worker_run() gives the handlers, made once per process like a worker's: a small
 * shared-memory region, the settings, and the scratch space reused by every request. */
static struct {
    bool made;
    struct shm_region region;
    struct proto_config cfg;
    struct proto_buf arena;
    struct proto_params params;
} fuzz_worker;

/* What of struct conn and struct worker conn_process() touches. */
struct fuzz_conn {
    struct proto_http http;
    const struct proto_limits *limits;
    char *in;
    size_t in_len, in_cap;
    struct proto_buf out;
    struct proto_response res;
    struct proto_ctx ctx;
    bool close_after;
    /* A request declared a body that was not read as one (CONNECT with Content-Length,
     * an upgrade with a Transfer-Encoding): what follows must not be taken for requests,
     * or a proxy in front and we would disagree on where requests start (smuggling). */
    bool framing_ignored;
};

static void fuzz_poison_tail(struct fuzz_conn *c)
{
    FUZZ_POISON(c->in + c->in_len, c->in_cap - c->in_len);
}

/* --- responses --------------------------------------------------------------------- */

static int fuzz_on_response_headers(llhttp_t *p)
{
    return *(const bool *)p->data; /* 1: no body follows (a response to HEAD) */
}

static int fuzz_on_response_complete(llhttp_t *p)
{
    return HPE_PAUSED;
}

static const llhttp_settings_t fuzz_response_settings = {
    .on_headers_complete = fuzz_on_response_headers,
    .on_message_complete = fuzz_on_response_complete,
};

/* p[0, len) is one serialised response: it must be exactly one valid HTTP/1.1 message,
 * with the status, Content-Length and Connection the worker asked for. */
static void fuzz_check_response(const char *p, size_t len, const struct proto_response *res,
                                bool head, bool close)
{
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    char want[64];
    size_t head_len;
    llhttp_t parser;

    FUZZ_CHECK(len > 13 && memcmp(p, "HTTP/1.1 ", 9) == 0);
    FUZZ_CHECK(strcmp(proto_status_reason(res->status), "Unknown") != 0);
    snprintf(want, sizeof(want), "%03d ", res->status);
    FUZZ_CHECK(memcmp(p + 9, want, 4) == 0);
    FUZZ_CHECK(end != NULL);
    head_len = (size_t)(end - p) + 4;
    FUZZ_CHECK(len == head_len + (head ? 0 : res->body.len));
    for (size_t i = 0; i < head_len; i++) {
        if (p[i] == '\r')
            FUZZ_CHECK(p[i + 1] == '\n');
        else if (p[i] == '\n')
            FUZZ_CHECK(p[i - 1] == '\r');
    }
    snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", res->body.len);
    FUZZ_CHECK(memmem(p, head_len, want, strlen(want)) != NULL);
    FUZZ_CHECK((memmem(p, head_len, "\r\nConnection: close\r\n", 21) != NULL) == close);

    llhttp_init(&parser, HTTP_RESPONSE, &fuzz_response_settings);
    parser.data = &head;
    FUZZ_CHECK(llhttp_execute(&parser, p, len) == HPE_PAUSED);
    FUZZ_CHECK(llhttp_get_error_pos(&parser) == p + len);
}

static void fuzz_serialize(struct fuzz_conn *c, bool head, bool close)
{
    size_t before = c->out.len;

    FUZZ_CHECK(proto_response_serialize(&c->res, fuzz_date, head, close, &c->out) == 0);
    fuzz_check_response(c->out.data + before, c->out.len - before, &c->res, head, close);
}

/* --- requests ---------------------------------------------------------------------- */

/* s lies inside the first `used` bytes of the request and, when it must, inside the
 * header limit. */
static void fuzz_check_span(const struct proto_request *r, struct proto_span s, size_t used,
                            size_t limit)
{
    FUZZ_CHECK((size_t)s.off + s.len <= used);
    FUZZ_CHECK((size_t)s.off + s.len <= limit || s.len == 0);
}

static bool fuzz_span_has(const struct proto_request *r, struct proto_span s, const char *set)
{
    const char *p = proto_span_ptr(r, s);

    for (uint32_t i = 0; i < s.len; i++)
        if (memchr(set, p[i], strlen(set)) != NULL)
            return true;
    return false;
}

/* RFC 9110 tchar, what a header name is made of, one at least: llhttp in strict mode
 * refuses the rest (whitespace before the colon above all), proto/http/http.c an empty name. */
static bool fuzz_span_is_token(const struct proto_request *r, struct proto_span s)
{
    const char *p = proto_span_ptr(r, s);

    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (!(ch >= '0' && ch <= '9') && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') &&
            (ch == '\0' || strchr("!#$%&'*+-.^_`|~", ch) == NULL))
            return false;
    }
    return s.len > 0;
}

static void fuzz_check_target(const struct proto_request *r, size_t used, size_t limit)
{
    fuzz_check_span(r, r->target, used, limit);
    /* llhttp 8 lets "CONNECT \r\n" (HTTP/0.9 style) through with an empty target. */
    FUZZ_CHECK(r->target.len > 0 || r->method == HTTP_CONNECT);
    FUZZ_CHECK(!fuzz_span_has(r, r->target, " \r\n"));
    FUZZ_CHECK(r->path.off >= r->target.off &&
               r->path.off + r->path.len <= r->target.off + r->target.len);
    /* The path starts the target but in the absolute form, after "http[s]://authority". */
    if (r->path.off > r->target.off) {
        const char *t = proto_span_ptr(r, r->target);
        size_t scheme = strncasecmp(t, "http://", 7) == 0 ? 7 : 8;

        FUZZ_CHECK(strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0);
        FUZZ_CHECK(r->path.off - r->target.off >= scheme);
        for (size_t i = scheme; i < r->path.off - r->target.off; i++)
            FUZZ_CHECK(t[i] != '/' && t[i] != '?');
    }
    FUZZ_CHECK(memchr(proto_span_ptr(r, r->path), '?', r->path.len) == NULL);
    if (r->path.off + r->path.len < r->target.off + r->target.len) {
        FUZZ_CHECK(r->base[r->path.off + r->path.len] == '?');
        FUZZ_CHECK(r->query.off == r->path.off + r->path.len + 1);
        FUZZ_CHECK(r->query.off + r->query.len == r->target.off + r->target.len);
    } else {
        FUZZ_CHECK(r->query.len == 0);
    }
}

/* Content-Length as llhttp must have read it: digits between optional blanks. */
static bool fuzz_content_length(const struct proto_request *r, struct proto_span v, uint64_t *out)
{
    const char *p = proto_span_ptr(r, v), *end = p + v.len;
    bool digits = false;

    *out = 0;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits = true) {
        if (*out > (UINT64_MAX - 9) / 10)
            return false;
        *out = *out * 10 + (uint64_t)(*p - '0');
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return digits && p == end;
}

static void fuzz_check_body(struct fuzz_conn *c, size_t used)
{
    const struct proto_request *r = &c->http.req;
    struct proto_span v;
    uint64_t length = 0;
    uint32_t ncl = 0;

    for (uint32_t i = 0; i < r->nheaders; i++) {
        const struct proto_header *hd = &r->headers[i];

        /* llhttp refuses chunked (we answer 411) and any other transfer coding, but for
         * an upgrade (CONNECT included), whose body it does not frame; an empty
         * Transfer-Encoding it takes as absent. */
        if (hd->name.len == 17 &&
            strncasecmp(proto_span_ptr(r, hd->name), "Transfer-Encoding", 17) == 0 &&
            fuzz_span_has(r, hd->value,
                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,")) {
            FUZZ_CHECK(c->http.parser.upgrade);
            c->framing_ignored = true;
        }
        if (hd->name.len == 14 &&
            strncasecmp(proto_span_ptr(r, hd->name), "Content-Length", 14) == 0)
            ncl++;
    }
    FUZZ_CHECK(ncl <= 1);
    if (proto_request_header(r, "content-length", &v))
        FUZZ_CHECK(fuzz_content_length(r, v, &length));
    if (r->method == HTTP_CONNECT && length > 0) { /* llhttp reads no body for CONNECT */
        c->framing_ignored = true;
        length = 0;
    }
    FUZZ_CHECK(r->body.len == length);
    FUZZ_CHECK(r->body.len <= c->limits->body_bytes);
    fuzz_check_span(r, r->body, used, SIZE_MAX);
    if (r->body.len) /* the body ends the request */
        FUZZ_CHECK(r->body.off + r->body.len == used);
    /* The request head (after blank lines llhttp skips) stays near the header limit. */
    {
        size_t lead = 0;

        while (lead < used && (r->base[lead] == '\r' || r->base[lead] == '\n'))
            lead++;
        FUZZ_CHECK(used - r->body.len - lead <= c->limits->header_bytes + FUZZ_HEAD_SLACK);
    }
}

/* RFC 9112 as proto/http/http.c enforces it: HTTP/1.x, no line of the header block starting
 * with a blank (obs-fold), one Host at most and one exactly in HTTP/1.1. */
static void fuzz_check_syntax(const struct proto_http *h, size_t used)
{
    const struct proto_request *r = &h->req;
    size_t head = r->body.len ? r->body.off : used;
    uint32_t hosts = 0;

    FUZZ_CHECK(h->parser.http_major == 1 && h->parser.http_minor <= 1);
    for (size_t i = 0; i + 1 < head; i++)
        FUZZ_CHECK(r->base[i] != '\n' || (r->base[i + 1] != ' ' && r->base[i + 1] != '\t'));
    for (uint32_t i = 0; i < r->nheaders; i++)
        hosts += r->headers[i].name.len == 4 &&
                 strncasecmp(proto_span_ptr(r, r->headers[i].name), "host", 4) == 0;
    FUZZ_CHECK(hosts == 1 || (hosts == 0 && h->parser.http_minor == 0));
}

static void fuzz_check_request(struct fuzz_conn *c)
{
    const struct proto_http *h = &c->http;
    const struct proto_request *r = &h->req;
    size_t used, limit = c->limits->header_bytes;

    FUZZ_CHECK(h->msg_off <= h->parsed && h->parsed <= c->in_len);
    FUZZ_CHECK(r->base == c->in + h->msg_off);
    used = h->parsed - h->msg_off;
    FUZZ_CHECK(used > 0);
    FUZZ_CHECK(r->method >= 0 && strcmp(llhttp_method_name(r->method), "<unknown>") != 0);
    fuzz_check_target(r, used, limit);
    FUZZ_CHECK(r->nheaders <= c->limits->headers && r->nheaders <= PROTO_HTTP_HEADERS_MAX);
    for (uint32_t i = 0; i < r->nheaders; i++) {
        const struct proto_header *hd = &r->headers[i];

        fuzz_check_span(r, hd->name, used, limit);
        fuzz_check_span(r, hd->value, used, limit);
        FUZZ_CHECK(fuzz_span_is_token(r, hd->name));
        FUZZ_CHECK(!fuzz_span_has(r, hd->value, "\r\n"));
        FUZZ_CHECK(hd->name.off + hd->name.len <= hd->value.off || hd->value.len == 0);
    }
    FUZZ_CHECK(!c->framing_ignored); /* see struct fuzz_conn */
    fuzz_check_syntax(h, used);
    fuzz_check_body(c, used);
}

/* conn_answer(). */
static void fuzz_answer(struct fuzz_conn *c)
{
    const struct proto_request *req = &c->http.req;
    bool close;

    proto_response_reset(&c->res);
    proto_router_dispatch(proto_routes, proto_nroutes, &c->ctx, req, &c->res);
    close = !req->keep_alive || c->res.close;
    fuzz_serialize(c, req->method == HTTP_HEAD, close);
    if (close)
        c->close_after = true;
}

/* conn_process()'s answer to a refused request. */
static void fuzz_refuse(struct fuzz_conn *c)
{
    const struct proto_http *h = &c->http;
    int status = h->error_status;

    FUZZ_CHECK(status == 400 || status == 411 || status == 413 || status == 431 || status == 505);
    FUZZ_CHECK(h->error_text != NULL && h->error_text[0] != '\0');
    /* A refusal sticks: the connection answers it and closes. */
    FUZZ_CHECK(proto_http_feed(&c->http, c->in, c->in_len) == PROTO_HTTP_ERROR);
    proto_response_reset(&c->res);
    FUZZ_CHECK(proto_response_error(&c->res, status, "invalid_request", h->error_text) == 0);
    fuzz_serialize(c, false, true);
    c->close_after = true;
}

/* conn_process(). */
static void fuzz_process(struct fuzz_conn *c)
{
    size_t done;

    while (!c->close_after) {
        enum proto_http_result r = proto_http_feed(&c->http, c->in, c->in_len);

        FUZZ_CHECK(c->http.parsed <= c->in_len);
        if (r == PROTO_HTTP_MORE) {
            FUZZ_CHECK(c->http.parsed == c->in_len);
            break;
        }
        if (r == PROTO_HTTP_ERROR) {
            fuzz_refuse(c);
            break;
        }
        FUZZ_CHECK(r == PROTO_HTTP_REQUEST);
        fuzz_check_request(c);
        fuzz_answer(c);
        proto_http_next(&c->http);
    }
    done = proto_http_done_bytes(&c->http);
    FUZZ_CHECK(done <= c->in_len);
    /* Past a refusal nothing more is parsed, and shift may leave `parsed` meaningless. */
    FUZZ_CHECK(done <= c->http.parsed || c->http.error_status != 0);
    if (done) {
        memmove(c->in, c->in + done, c->in_len - done);
        c->in_len -= done;
        proto_http_shift(&c->http, done);
        fuzz_poison_tail(c);
    }
}

/* conn_in_room(). */
static bool fuzz_in_room(struct fuzz_conn *c)
{
    size_t max = (size_t)c->limits->header_bytes + c->limits->body_bytes + FUZZ_IN_SLACK, cap;
    char *p;

    if (c->in_cap - c->in_len >= 1024 || c->in_cap >= max)
        return c->in_len < c->in_cap;
    cap = c->in_cap ? c->in_cap * 2 : FUZZ_IN_INITIAL;
    if (cap > max)
        cap = max;
    FUZZ_UNPOISON(c->in, c->in_cap);
    p = realloc(c->in, cap);
    FUZZ_CHECK(p != NULL);
    c->in = p;
    c->in_cap = cap;
    fuzz_poison_tail(c);
    return true;
}

/* conn_input_plain(), then conn_flush(). */
static void fuzz_read(struct fuzz_conn *c, const uint8_t *data, size_t len)
{
    while (len && !c->close_after) {
        size_t n;

        /* conn.c closes the connection unanswered when the buffer is full; the limits
         * are meant to refuse any request before that happens. */
        FUZZ_CHECK(fuzz_in_room(c));
        n = c->in_cap - c->in_len;
        if (n > len)
            n = len;
        FUZZ_UNPOISON(c->in + c->in_len, n);
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        fuzz_process(c);
    }
    proto_buf_reset(&c->out);
}

static void fuzz_worker_make(void)
{
    /* The smallest tables the configuration allows. */
    static const struct shm_region_sizes sizes = {
        .tokens = 1000, .clients = 10, .intern = 64, .jti = 100};

    if (fuzz_worker.made)
        return;
    FUZZ_CHECK(shm_region_create(&fuzz_worker.region, &sizes) == 0);
    fuzz_worker.cfg.issuer = "https://auth.example.com";
    fuzz_worker.cfg.default_access_ttl = 3600;
    fuzz_worker.cfg.default_refresh_ttl = 2592000;
    fuzz_worker.params.arena = &fuzz_worker.arena;
    fuzz_worker.made = true;
}

static void fuzz_ctx_init(struct proto_ctx *ctx, bool ready)
{
    fuzz_worker_make();
    ctx->date = fuzz_date;
    ctx->ready = ready;
    ctx->now = 784111777; /* fuzz_date */
    ctx->cfg = &fuzz_worker.cfg;
    ctx->region = &fuzz_worker.region;
    ctx->owner = (struct shm_owner){0, 1};
    ctx->arena = &fuzz_worker.arena;
    ctx->params = &fuzz_worker.params;
}

static int fuzz_offset_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_conn c; /* struct proto_http is large; keep it off the stack */
    size_t cut[17], ncut = 0, len;
    bool bytewise;

    if (size < 2)
        return 0;
    memset(&c, 0, sizeof(c));
    c.limits = &fuzz_limits[data[0] & 3];
    fuzz_ctx_init(&c.ctx, (data[0] & 4) != 0);
    bytewise = (data[1] & 0x80) != 0;
    ncut = bytewise ? 0 : data[1] & 15;
    data += 2;
    size -= 2;
    if (size < 2 * ncut)
        return 0;
    len = size - 2 * ncut;
    for (size_t i = 0; i < ncut; i++)
        cut[i] = (data[2 * i] | (size_t)data[2 * i + 1] << 8) % (len + 1);
    data += 2 * ncut;
    cut[ncut++] = len;
    qsort(cut, ncut, sizeof(cut[0]), fuzz_offset_cmp);

    proto_http_init(&c.http, c.limits);
    for (size_t i = 0, at = 0; i < ncut && !c.close_after; at = cut[i++]) {
        if (!bytewise) {
            fuzz_read(&c, data + at, cut[i] - at);
            continue;
        }
        for (; at < len && !c.close_after; at++)
            fuzz_read(&c, data + at, 1);
    }
    FUZZ_UNPOISON(c.in, c.in_cap);
    free(c.in);
    proto_buf_free(&c.out);
    proto_response_free(&c.res);
    return 0;
}
