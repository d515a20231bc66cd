/*
 * llhttp glue: turns llhttp's callbacks into offsets of one request and enforces the
 * request limits as bytes arrive (header block → 431, header count → 431, Content-Length
 * → 413, chunked body → 411) and the message syntax RFC 9112 requires that llhttp, built in
 * its strict mode (Makefile.am: header names are tokens, so no whitespace before the
 * colon), still lets through: an empty header name, obs-fold, a missing or repeated Host,
 * and HTTP versions other than 1.x (→ 505).
 * Pure: runs inside a worker on bytes the connection read, and in unit tests and fuzzers
 * on plain buffers.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/http/http.h"

static struct proto_http *http_of(llhttp_t *p)
{
    return (struct proto_http *)p->data;
}

/* Records why the request is refused: the status to answer and its text.  -EINVAL. */
static int http_refuse(struct proto_http *h, int status, const char *text)
{
    h->error_status = status;
    h->error_text = text;
    return -EINVAL;
}

/* The same from an llhttp callback: llhttp stops on -1 (HPE_USER), not on an errno. */
static int http_cb_refuse(struct proto_http *h, int status, const char *text)
{
    http_refuse(h, status, text);
    return -1;
}

/* Extends span s with data at `at`: llhttp hands a field over in pieces when it spans
 * two reads, and the pieces lie back to back in the input buffer.  The one other case,
 * a header value folded onto a further line (obs-fold), leaves a CRLF between pieces
 * that the span would take in; RFC 9112 §5.2 lets a server refuse it with 400. */
static int http_span(struct proto_http *h, struct proto_span *s, const char *at, size_t len)
{
    size_t off = (size_t)(at - h->base) - h->msg_off;

    if (!h->headers_done && off + len > h->limits->header_bytes)
        return http_cb_refuse(h, 431, "request header block too large");
    if (s->len == 0)
        s->off = (uint32_t)off;
    else if (off != (size_t)s->off + s->len)
        return http_cb_refuse(h, 400, "folded header lines (obs-fold) are not accepted");
    s->len += (uint32_t)len;
    return 0;
}

/* Pauses so that proto_http_feed() learns where the request starts: the empty lines
 * llhttp skips before a request are not part of its header block. */
static int on_message_begin(llhttp_t *p)
{
    struct proto_http *h = http_of(p);

    h->in_message = h->begin_paused = true;
    h->headers_done = h->version_seen = false;
    return HPE_PAUSED;
}

/* RFC 9112 §2.3: only HTTP/1.x is spoken here.  The first byte of the version is its
 * major digit; llhttp would take "HTTP/2.0" (and "HTTP/0.9") and call any other digit a
 * syntax error, where RFC 9110 §15.6.6 has 505 for every version not supported. */
static int on_version(llhttp_t *p, const char *at, size_t len)
{
    struct proto_http *h = http_of(p);

    if (h->version_seen || len == 0)
        return 0;
    h->version_seen = true;
    if (at[0] >= '0' && at[0] <= '9' && at[0] != '1')
        return http_cb_refuse(h, 505, "only HTTP/1.1 and HTTP/1.0 are supported");
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct proto_http *h = http_of(p);

    return http_span(h, &h->req.target, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct proto_http *h = http_of(p);

    if (h->req.nheaders >= h->limits->headers)
        return http_cb_refuse(h, 431, "too many request headers");
    return http_span(h, &h->req.headers[h->req.nheaders].name, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct proto_http *h = http_of(p);

    return http_span(h, &h->req.headers[h->req.nheaders].value, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct proto_http *h = http_of(p);
    struct proto_request *r = &h->req;

    /* RFC 9112 §5.1: a field name is a token.  Strict llhttp refuses the rest (whitespace
     * before the colon above all) but lets an empty name through. */
    if (r->headers[r->nheaders].name.len == 0)
        return http_cb_refuse(h, 400, "a header has no name");
    if (++r->nheaders < PROTO_HTTP_HEADERS_MAX)
        r->headers[r->nheaders].name.len = r->headers[r->nheaders].value.len = 0;
    return 0;
}

/* Where the path of an absolute-form target ("https://host/p?q", RFC 9112 §3.2.2)
 * starts: past "http://" or "https://" (any case) and the authority; 0 for any other
 * form (origin-form "/p?q", "*", a CONNECT's authority), whose path starts at once. */
static uint32_t http_path_start(const char *t, uint32_t len)
{
    uint32_t i;

    if (len == 0 || t[0] == '/')
        return 0;
    if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
        i = 7;
    else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    while (i < len && t[i] != '/' && t[i] != '?')
        i++;
    return i;
}

/* Splits the target into path and query.  An absolute-form target is routed by its path
 * like origin-form (a server MUST accept it, RFC 9112 §3.2.2); its authority is ignored, as
 * Host is: the configured issuer names this server.  "http://host" has an empty path. */
static void http_split_target(struct proto_request *r)
{
    const char *t = r->base + r->target.off;
    uint32_t start = http_path_start(t, r->target.len), i;

    r->path.off = r->target.off + start;
    r->path.len = r->target.len - start;
    r->query.off = r->target.off + r->target.len;
    r->query.len = 0;
    for (i = start; i < r->target.len; i++) {
        if (t[i] == '?') {
            r->path.len = i - start;
            r->query.off = r->target.off + i + 1;
            r->query.len = r->target.len - i - 1;
            break;
        }
    }
}

/* Pauses so that proto_http_feed() learns where the header block ends: the limits are
 * checked there (http_headers_check), whatever way the bytes were split across reads. */
static int on_headers_complete(llhttp_t *p)
{
    struct proto_http *h = http_of(p);

    h->headers_done = h->headers_paused = true;
    return HPE_PAUSED;
}

/* The header block of the current request ends at buf offset end. */
/* RFC 9110 §10.1.1: a client that sent Expect: 100-continue waits for an interim answer
 * (curl for a second) before the body; tell it to go on when the body is still to come. */
static void http_expect(struct proto_http *h)
{
    struct proto_span v;

    if (h->parser.content_length > 0 && proto_request_header(&h->req, "expect", &v) &&
        v.len == 12 && strncasecmp(proto_span_ptr(&h->req, v), "100-continue", 12) == 0)
        h->want_continue = true;
}

/* RFC 9112 §5.2: a line of the header block that starts with a blank continues the one
 * before (obs-fold).  llhttp joins such lines, and when the first one is empty
 * ("Content-Length:\r\n 3") no span shows it; the header block [start, end) is scanned. */
static bool http_has_obs_fold(const char *start, const char *end)
{
    const char *nl = start;

    while ((nl = memchr(nl, '\n', (size_t)(end - nl))) != NULL && ++nl < end)
        if (*nl == ' ' || *nl == '\t')
            return true;
    return false;
}

/* RFC 9110 §7.2: Host = uri-host [ ":" port ], which is made of these characters (an
 * IP-literal's brackets and colons, reg-name's unreserved, sub-delims and %-escapes). */
static bool http_host_valid(const char *v, size_t len)
{
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
              strchr("-._~%!$&'()*+,;=:[]", c) != NULL) ||
            c == '\0')
            return false;
    }
    return true;
}

/* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to
 * any request with two or with an invalid one; HTTP/1.0 may omit it. */
static int http_host_check(struct proto_http *h)
{
    const struct proto_request *r = &h->req;
    struct proto_span v;

    if (proto_request_single_header(r, "host", &v)) {
        if (!http_host_valid(proto_span_ptr(r, v), v.len))
            return http_refuse(h, 400, "the Host header is not a valid host and port");
        return 0;
    }
    if (proto_request_header(r, "host", &v))
        return http_refuse(h, 400, "a request may have only one Host header");
    if (h->parser.http_minor >= 1)
        return http_refuse(h, 400, "an HTTP/1.1 request must have a Host header");
    return 0;
}

/* What RFC 9112 requires of the request line and header block as a whole.  A request
 * without a version (HTTP/0.9) gets 505 like HTTP/2.0. */
static int http_syntax_check(struct proto_http *h, size_t end)
{
    if (h->parser.http_major != 1)
        return http_refuse(h, 505, "only HTTP/1.1 and HTTP/1.0 are supported");
    if (http_has_obs_fold(h->base + h->msg_off, h->base + end))
        return http_refuse(h, 400, "folded header lines (obs-fold) are not accepted");
    return http_host_check(h);
}

static int http_headers_check(struct proto_http *h, size_t end)
{
    const llhttp_t *p = &h->parser;

    if (end - h->msg_off > h->limits->header_bytes)
        return http_refuse(h, 431, "request header block too large");
    h->req.base = h->base + h->msg_off;
    if (http_syntax_check(h, end) < 0)
        return -EINVAL;
    if (p->flags & F_CHUNKED)
        return http_refuse(h, 411, "chunked request bodies are not accepted; send Content-Length");
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->limits->body_bytes)
        return http_refuse(h, 413, "request body too large");
    /* llhttp reads no body for a CONNECT, nor for an upgrade whose Transfer-Encoding it
     * does not check; the connection stays HTTP, so such a body would be parsed as the
     * next request, where a proxy in front may see content (request smuggling). */
    if (p->upgrade &&
        ((p->flags & F_TRANSFER_ENCODING) || (p->method == HTTP_CONNECT && p->content_length > 0)))
        return http_refuse(h, 400, "a request that switches protocols may not have a body");
    http_expect(h);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct proto_http *h = http_of(p);

    return http_span(h, &h->req.body, at, len);
}

static int on_message_complete(llhttp_t *p)
{
    struct proto_http *h = http_of(p);

    h->req.method = p->method;
    h->req.keep_alive = llhttp_should_keep_alive(p);
    h->req.http10 = p->http_major == 1 && p->http_minor == 0;
    return HPE_PAUSED;
}

static const llhttp_settings_t http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void http_request_reset(struct proto_request *r)
{
    r->target = r->path = r->query = r->body = (struct proto_span){0, 0};
    r->nheaders = 0;
    r->headers[0].name.len = r->headers[0].value.len = 0;
}

void proto_http_init(struct proto_http *h, const struct proto_limits *limits)
{
    llhttp_init(&h->parser, HTTP_REQUEST, &http_settings);
    h->parser.data = h;
    h->limits = limits;
    h->base = NULL;
    h->msg_off = h->parsed = 0;
    h->error_status = 0;
    h->error_text = NULL;
    h->in_message = h->headers_done = h->begin_paused = h->headers_paused = false;
    h->want_continue = h->version_seen = false;
    http_request_reset(&h->req);
}

static enum proto_http_result http_failed(struct proto_http *h, llhttp_errno_t err)
{
    if (h->error_status == 0) {
        h->error_status = 400;
        h->error_text = err == HPE_PAUSED_UPGRADE ? "protocol upgrade is not supported"
                                                  : "malformed HTTP request";
    }
    return PROTO_HTTP_ERROR;
}

enum proto_http_result proto_http_feed(struct proto_http *h, const char *buf, size_t len)
{
    llhttp_errno_t err;
    const char *stop;

    if (h->error_status)
        return PROTO_HTTP_ERROR;
    if (h->parsed >= len)
        return PROTO_HTTP_MORE;
    h->base = buf;
    if (!h->in_message)
        h->msg_off = h->parsed;
    err = llhttp_execute(&h->parser, buf + h->parsed, len - h->parsed);
    if (err == HPE_PAUSED_UPGRADE) {
        /* The request before asked to switch protocols (Upgrade, CONNECT) and was answered
         * in HTTP/1.1, which declines (RFC 9110 §7.8, §9.3.6): the connection stays HTTP. */
        llhttp_resume_after_upgrade(&h->parser);
        err = llhttp_execute(&h->parser, buf + h->parsed, len - h->parsed);
    }
    while (err == HPE_PAUSED && (h->begin_paused || h->headers_paused)) {
        stop = llhttp_get_error_pos(&h->parser);
        if (h->begin_paused) {
            h->begin_paused = false;
            h->msg_off = (size_t)(stop - buf);
        } else {
            h->headers_paused = false;
            if (http_headers_check(h, (size_t)(stop - buf)) < 0)
                return PROTO_HTTP_ERROR;
        }
        llhttp_resume(&h->parser);
        err = llhttp_execute(&h->parser, stop, (size_t)(buf + len - stop));
    }
    if (err == HPE_OK) {
        h->parsed = len;
        if (h->in_message && !h->headers_done && len - h->msg_off > h->limits->header_bytes)
            return http_refuse(h, 431, "request header block too large"), PROTO_HTTP_ERROR;
        return PROTO_HTTP_MORE;
    }
    if (err != HPE_PAUSED)
        return http_failed(h, err);
    stop = llhttp_get_error_pos(&h->parser);
    h->parsed = (size_t)(stop - buf);
    h->req.base = buf + h->msg_off;
    http_split_target(&h->req);
    return PROTO_HTTP_REQUEST;
}

void proto_http_next(struct proto_http *h)
{
    llhttp_resume(&h->parser);
    h->in_message = h->headers_done = false;
    h->msg_off = h->parsed;
    http_request_reset(&h->req);
    h->want_continue = false;
}

size_t proto_http_done_bytes(const struct proto_http *h)
{
    return h->in_message ? h->msg_off : h->parsed;
}

void proto_http_shift(struct proto_http *h, size_t n)
{
    h->msg_off -= n;
    h->parsed -= n;
}

bool proto_http_take_continue(struct proto_http *h)
{
    bool want = h->want_continue;

    h->want_continue = false;
    return want;
}

bool proto_http_partial(const struct proto_http *h)
{
    return h->in_message;
}
