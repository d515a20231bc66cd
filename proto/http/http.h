/*
 * HTTP/1.1 request parsing on top of llhttp.  The connection keeps its unparsed input in
 * one contiguous buffer; the parser records where the parts of the current request lie in
 * it (offsets from the start of that request), so nothing is copied.  Parsing pauses after
 * each complete request, which is how pipelined requests are answered one by one in order.
 */
#ifndef PROTO_HTTP_H
#define PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

/* The hard ceiling of the configurable header count (limits.headers). */
#define PROTO_HTTP_HEADERS_MAX 128

struct proto_limits {
    uint32_t header_bytes; /* request line plus header block; beyond → 431 */
    uint32_t body_bytes;   /* Content-Length beyond → 413 */
    uint32_t headers;      /* header fields beyond → 431 */
};

/* A range of the current request: offset from the request's first byte, and length. */
struct proto_span {
    uint32_t off;
    uint32_t len;
};

struct proto_header {
    struct proto_span name;
    struct proto_span value;
};

struct proto_request {
    const char *base; /* first byte of the request; valid while it is being handled */
    int method;       /* enum llhttp_method */
    struct proto_span target, path, query, body;
    struct proto_header headers[PROTO_HTTP_HEADERS_MAX];
    uint32_t nheaders;
    bool keep_alive;
    bool http10; /* HTTP/1.0: keep-alive must be announced */
};

struct proto_http {
    llhttp_t parser;
    const struct proto_limits *limits;
    const char *base; /* the input buffer during a feed */
    size_t msg_off;   /* where the current request starts in the input */
    size_t parsed;    /* input bytes already handed to llhttp */
    int error_status; /* status to answer a refused request with */
    const char *error_text;
    bool in_message;
    bool headers_done;
    bool begin_paused;   /* llhttp paused at the first byte of a request */
    bool headers_paused; /* llhttp paused at the end of the header block */
    bool want_continue;  /* Expect: 100-continue and the body is still to come */
    bool version_seen;   /* the first byte of the request's HTTP version was checked */
    struct proto_request req;
};

enum proto_http_result {
    PROTO_HTTP_ERROR = -1, /* answer error_status with error_text, then close */
    PROTO_HTTP_MORE = 0,   /* every byte is parsed and no request is complete */
    PROTO_HTTP_REQUEST = 1 /* h->req is complete; call proto_http_next() when answered */
};

void proto_http_init(struct proto_http *h, const struct proto_limits *limits);
/* Parses buf[h->parsed, len).  Called by the connection after each read. */
enum proto_http_result proto_http_feed(struct proto_http *h, const char *buf, size_t len);
/* Resumes after an answered request. */
void proto_http_next(struct proto_http *h);
/* Input bytes at the front that no request needs any more; the caller drops them and
 * reports it with proto_http_shift(). */
size_t proto_http_done_bytes(const struct proto_http *h);
void proto_http_shift(struct proto_http *h, size_t n);
/* True once, when the request being read asked for 100 Continue (Expect: 100-continue)
 * and its body has not all arrived: the connection sends the interim response. */
bool proto_http_take_continue(struct proto_http *h);
/* True when some bytes of an unfinished request have arrived. */
bool proto_http_partial(const struct proto_http *h);

/* What handlers read from a request (proto/http/request.c). */

/* Case-insensitive lookup of a header's value; NULL span (len 0, found false) when absent.
 * A repeated header gives its first value. */
bool proto_request_header(const struct proto_request *r, const char *name, struct proto_span *v);
/* The same for a header that must occur once: false when absent or repeated. */
bool proto_request_single_header(const struct proto_request *r, const char *name,
                                 struct proto_span *v);

/* True when the Content-Type of r is the media type `type` ("application/json"), compared
 * case-insensitively, with or without parameters ("; charset=utf-8"), whitespace as
 * RFC 9110 §8.3.1 allows; false when absent, repeated, or another type
 * ("application/jsonx"). */
bool proto_request_media_type_is(const struct proto_request *r, const char *type);

/* The credentials after `scheme` ("Bearer", matched in any case, RFC 9110 §11.1) in the
 * Authorization header, blanks around them dropped, and their length in *len; NULL for
 * another scheme, none, or nothing after it.  A repeated header gives its first value. */
const char *proto_request_credentials(const struct proto_request *r, const char *scheme,
                                      size_t *len);

static inline const char *proto_span_ptr(const struct proto_request *r, struct proto_span s)
{
    return r->base + s.off;
}

/* True when span s of r equals the NUL-terminated string lit, byte for byte. */
bool proto_span_eq(const struct proto_request *r, struct proto_span s, const char *lit);

#endif
