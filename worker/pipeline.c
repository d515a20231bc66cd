/*
 * HTTP/1.1 pipelining on one connection: the input buffer, parsing (proto/http/http.c over
 * llhttp), and answering requests strictly in order into the output buffer — every
 * request a read completes, so a batch goes out with one TLS write and one socket write.
 * A response a handler deferred to the store process (proto_response_defer) pauses
 * parsing (CONN_DEFERRED) until the store answers through storeq.c; the requests that
 * arrived meanwhile are answered after it.  Invariant: c->in holds, from offset 0, the
 * bytes of requests not yet answered; the parser records offsets into it, no copies.
 */
#include "autoconfig.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "conn"
#include "proto/http/router.h"
#include "shm/log.h"
#include "worker/conn.h"
#include "worker/storeq.h"

#define PIPELINE_IN_INITIAL 4096
#define PIPELINE_IN_SLACK 1024 /* room beyond the largest request the limits allow */

bool worker__pipeline_idle(const struct conn *c)
{
    return !proto_http_partial(&c->http) && c->in_len == 0;
}

static const char *pipeline_error_code(int status)
{
    switch (status) {
    case 408:
        return "request_timeout";
    case 411:
        return "length_required";
    case 413:
        return "request_too_large";
    case 431:
        return "request_header_fields_too_large";
    case 505:
        return "http_version_not_supported";
    default:
        return "invalid_request";
    }
}

void worker__pipeline_error(struct conn *c, int status, const char *text)
{
    struct worker *w = c->w;

    worker__clock(w);
    proto_response_reset(&w->res);
    proto_response_error(&w->res, status, pipeline_error_code(status), text);
    proto_response_serialize(&w->res, w->date, false, true, &c->out);
    c->state = CONN_FINISHING;
}

/* Writes a response into c->out as the request asked (HEAD, close, HTTP/1.0); one with
 * Connection: close is the connection's last. */
static void pipeline_serialize(struct conn *c, bool head, bool close, bool http10)
{
    struct worker *w = c->w;

    if (!close && http10)
        proto_response_header(&w->res, "Connection", "keep-alive");
    proto_response_serialize(&w->res, w->date, head, close, &c->out);
    w->requests++;
    if (close)
        c->state = CONN_FINISHING;
}

/* The store process answered a deferred response: write it, then go on with the requests
 * that arrived meanwhile. */
static void on_store_reply(void *arg, int status, const char *body, size_t len)
{
    struct conn *c = arg;
    struct worker *w = c->w;
    struct conn_deferred d = c->deferred;

    assert(c->state == CONN_DEFERRED);
    c->deferred.query = NULL;
    c->state = CONN_READING;
    worker__clock(w);
    proto_response_reset(&w->res);
    if (proto_response_store(&w->res, status, body, len) < 0)
        proto_response_error(&w->res, 500, "server_error", "out of memory");
    pipeline_serialize(c, d.head, d.close || w->state == WORKER_DRAINING, d.http10);
    worker__pipeline_process(c);
    worker__conn_resume(c);
}

/* Sends the handler's deferred query to the store process.  0, or -1 (answer now). */
static int pipeline_defer(struct conn *c, bool head, bool close, bool http10)
{
    struct worker *w = c->w;
    const struct proto_buf *q = &w->res.store_req;

    c->deferred = (struct conn_deferred){.head = head, .close = close, .http10 = http10};
    c->deferred.query =
        worker__storeq_send(&w->loop, w->s->store_socket, q->data, q->len, on_store_reply, c);
    if (c->deferred.query == NULL) {
        proto_response_reset(&w->res);
        proto_response_error(&w->res, 503, "temporarily_unavailable", "out of memory");
        return -1;
    }
    c->state = CONN_DEFERRED;
    return 0;
}

/* Answers one parsed request into c->out (or defers it). */
static void pipeline_answer(struct conn *c)
{
    struct worker *w = c->w;
    const struct proto_request *req = &c->http.req;
    size_t pending = worker_journal_pending(&w->journal);
    bool close;

    proto_response_reset(&w->res);
    w->ctx.peer = c->peer[0] ? c->peer : NULL;
    w->ctx.peer_key = c->peer[0] ? c->peer_key : NULL;
    proto_router_dispatch(proto_routes, proto_nroutes, &w->ctx, req, &w->res);
    if (worker_journal_pending(&w->journal) != pending)
        worker__held_add(c);
    close = !req->keep_alive || w->res.close || w->state == WORKER_DRAINING;
    if (w->res.deferred && pipeline_defer(c, req->method == HTTP_HEAD, close, req->http10) == 0)
        return;
    pipeline_serialize(c, req->method == HTTP_HEAD, close, req->http10);
}

void worker__pipeline_process(struct conn *c)
{
    size_t done;

    worker__clock(c->w);
    while (c->state == CONN_READING) {
        enum proto_http_result r = proto_http_feed(&c->http, c->in, c->in_len);

        if (r == PROTO_HTTP_MORE) {
            if (proto_http_take_continue(&c->http))
                proto_buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            break;
        }
        if (r == PROTO_HTTP_ERROR) {
            /* HTTP/1.1 cannot resynchronise after a framing error: the last response. */
            worker__pipeline_error(c, c->http.error_status, c->http.error_text);
            break;
        }
        pipeline_answer(c);
        proto_http_next(&c->http);
        worker__timer_request_done(c);
    }
    done = proto_http_done_bytes(&c->http);
    if (done) {
        memmove(c->in, c->in + done, c->in_len - done);
        c->in_len -= done;
        proto_http_shift(&c->http, done);
    }
}

/* The cap fits the largest request the limits allow, so a request within limits always
 * fits and one beyond them is refused before the cap. */
bool worker__pipeline_room(struct conn *c)
{
    const struct proto_limits *l = &c->w->s->limits;
    size_t max = (size_t)l->header_bytes + l->body_bytes + PIPELINE_IN_SLACK, cap;
    char *p;

    if (c->in_cap - c->in_len >= PIPELINE_IN_SLACK || c->in_cap >= max)
        return c->in_len < c->in_cap;
    cap = c->in_cap ? c->in_cap * 2 : PIPELINE_IN_INITIAL;
    if (cap > max)
        cap = max;
    p = realloc(c->in, cap);
    if (p == NULL)
        return c->in_len < c->in_cap;
    c->in = p;
    c->in_cap = cap;
    return true;
}

void worker__pipeline_input(struct conn *c, const char *data, size_t len)
{
    while (len && c->state <= CONN_DEFERRED) {
        size_t n;

        if (!worker__pipeline_room(c)) {
            worker__conn_close(c);
            return;
        }
        n = c->in_cap - c->in_len;
        if (n > len)
            n = len;
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        worker__pipeline_process(c);
    }
}
