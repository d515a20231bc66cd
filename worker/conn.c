/*
 * One client connection inside a worker: bytes from libuv, through OpenSSL memory BIOs
 * (TLS listeners) into the request parser, to the router, and the responses back.  All
 * the requests a read completes are answered, in order, with one TLS write and one socket
 * write.  Invariant: c->in holds, from offset 0, the bytes of requests not yet answered.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#define LOG_MODULE "conn"
#include "shm/hash.h"
#include "shm/log.h"
#include "worker/conn.h"
#include "worker/storeq.h"

#define CONN_IN_INITIAL 4096
#define CONN_OUT_HIGH_WATER (1024 * 1024)
#define CONN_LINGER_MS 5000 /* at most this long reading and discarding before a close */

struct conn_write {
    uv_write_t req;
    struct conn *c;
    char data[];
};

static void conn_flush(struct conn *c);
static void conn_finish(struct conn *c);

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct worker *w = c->w;

    if (--c->handles)
        return;
    SSL_free(c->ssl);
    free(c->in);
    proto_buf_free(&c->out);
    free(c);
    worker__conn_gone(w);
}

void worker__conn_close(struct conn *c)
{
    struct worker *w = c->w;

    if (c->closed)
        return;
    c->closed = c->closing = true;
    if (c->query) {
        worker__storeq_cancel(c->query);
        c->query = NULL;
    }
    worker__conn_unhold(c);
    worker__peers_release(w, c->peer_rec);
    c->peer_rec = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void conn_timer_set(struct conn *c, enum conn_timer kind, uint64_t ms);

/* A request started but did not arrive in time: say so, then close. */
static void conn_request_timeout(struct conn *c)
{
    struct worker *w = c->w;

    proto_response_reset(&w->res);
    proto_response_error(&w->res, 408, "request_timeout", "the request did not arrive in time");
    worker__clock(w);
    proto_response_serialize(&w->res, w->date, false, true, &c->out);
    c->close_after = true;
    conn_flush(c);
    conn_finish(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;

    if (c->timer_kind == CONN_TIMER_REQUEST && proto_http_partial(&c->http)) {
        conn_request_timeout(c);
    } else if (c->timer_kind == CONN_TIMER_CLOSING || (c->ssl && !SSL_is_init_finished(c->ssl))) {
        worker__conn_close(c);
    } else {
        /* Nothing in flight (idle, or silent since accept): end TLS with close_notify
         * (RFC 8446 §6.1), as draining does, so the client sees a clean close rather
         * than a truncation. */
        c->close_after = true;
        conn_flush(c);
        conn_finish(c);
    }
}

static void conn_timer_set(struct conn *c, enum conn_timer kind, uint64_t ms)
{
    c->timer_kind = kind;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* Picks the deadline that applies now.  A request's deadline runs from its first byte —
 * the first request's from accept, TLS handshake included — and is not extended by
 * further bytes, so a slow or silent client cannot hold the connection longer. */
static void conn_timer_update(struct conn *c)
{
    const struct worker_settings *s = c->w->s;
    bool busy =
        !c->answered || proto_http_partial(&c->http) || (c->ssl && !SSL_is_init_finished(c->ssl));

    if (c->closing)
        return;
    if (busy) {
        if (c->timer_kind != CONN_TIMER_REQUEST)
            conn_timer_set(c, CONN_TIMER_REQUEST, s->header_timeout_ms);
    } else {
        conn_timer_set(c, CONN_TIMER_IDLE, s->idle_timeout_ms);
    }
}

/* Our last bytes are out and our side is shut.  If the peer may still be sending (the
 * rest of a body we refused), closing now would make the kernel answer its bytes with a
 * reset that can destroy our response before the client reads it; so then keep reading
 * and discarding until the peer closes too, for a bounded time (RFC 9112 §9.6). */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    uint64_t linger = c->w->s->idle_timeout_ms;

    if (status < 0 || c->peer_eof || !c->linger) {
        worker__conn_close(c);
        return;
    }
    c->shut_down = true;
    conn_timer_set(c, CONN_TIMER_CLOSING, linger < CONN_LINGER_MS ? linger : CONN_LINGER_MS);
}

/* No more requests: write what is pending, shut our side, then close or linger (see
 * on_shutdown).  The timer bounds a peer that does not take our output. */
static void conn_finish(struct conn *c)
{
    if (c->held) {
        c->close_after = true; /* worker__conn_release() finishes once the output is out */
        return;
    }
    if (c->closing)
        return;
    c->closing = true;
    /* The peer may still be sending after a refused or unfinished request, or when it
     * pipelined more than we answered. */
    c->linger = c->http.error_status || proto_http_partial(&c->http) || c->in_len ||
                (c->rbio && BIO_ctrl_pending(c->rbio));
    conn_timer_set(c, CONN_TIMER_CLOSING, c->w->s->idle_timeout_ms);
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        worker__conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    *buf = uv_buf_init(c->w->readbuf, sizeof(c->w->readbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    struct conn_write *wr = (struct conn_write *)req;
    struct conn *c = wr->c;

    free(wr);
    if (status < 0) {
        worker__conn_close(c);
        return;
    }
    if (c->throttled && !c->closing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        c->throttled = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    if (c->w->draining)
        worker__conn_drain(c);
}

/* Sends bytes, trying the socket directly first; copies only what the kernel did not take. */
static void conn_write(struct conn *c, const char *p, size_t len)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    struct conn_write *wr;
    uv_buf_t b;
    int n;

    if (len == 0 || c->closed)
        return;
    if (uv_stream_get_write_queue_size(s) == 0) {
        b = uv_buf_init((char *)p, (unsigned)len);
        n = uv_try_write(s, &b, 1);
        if (n == (int)len)
            return;
        if (n < 0 && n != UV_EAGAIN) {
            worker__conn_close(c);
            return;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    wr = malloc(sizeof(*wr) + len);
    if (wr == NULL) {
        worker__conn_close(c);
        return;
    }
    wr->c = c;
    memcpy(wr->data, p, len);
    b = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->req, s, &b, 1, on_write) < 0) {
        free(wr);
        worker__conn_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size(s) > CONN_OUT_HIGH_WATER && !c->throttled) {
        c->throttled = true;
        uv_read_stop(s);
    }
}

/* OpenSSL's error queue is per thread, so one queue serves every connection of this
 * worker, and SSL_get_error() reads it: an entry left by anything else (a handler's failed
 * signature check, another connection's failure) would turn this connection's "want more
 * bytes" into a fatal error.  So it is emptied before each TLS I/O call, as nginx does. */
static void conn_tls_errors_clear(void)
{
    ERR_clear_error();
}

/* Moves the responses built so far to the socket, through TLS when there is TLS. */
static void conn_flush(struct conn *c)
{
    char *p;
    long n;

    if (c->held)
        return; /* it reports changes that are not durable yet */
    if (c->ssl == NULL) {
        conn_write(c, c->out.data, c->out.len);
        proto_buf_reset(&c->out);
        return;
    }
    if (c->out.len) {
        conn_tls_errors_clear();
        if (SSL_write(c->ssl, c->out.data, (int)c->out.len) <= 0)
            log_debug("TLS write failed: %s", ERR_reason_error_string(ERR_peek_error()));
        proto_buf_reset(&c->out);
    }
    if (c->close_after && SSL_is_init_finished(c->ssl)) {
        conn_tls_errors_clear();
        SSL_shutdown(c->ssl);
    }
    n = BIO_get_mem_data(c->wbio, &p);
    if (n > 0) {
        conn_write(c, p, (size_t)n);
        (void)BIO_reset(c->wbio);
    }
}

static const char *conn_error_code(int status)
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

void worker__conn_unhold(struct conn *c)
{
    struct worker *w = c->w;

    if (!c->held)
        return;
    c->held = false;
    if (c->held_prev)
        c->held_prev->held_next = c->held_next;
    else
        w->held = c->held_next;
    if (c->held_next)
        c->held_next->held_prev = c->held_prev;
    c->held_next = c->held_prev = NULL;
}

/* Holds c's output until the log is durable up to its last change (worker.c). */
static void conn_hold(struct conn *c)
{
    struct worker *w = c->w;

    c->ticket = worker_journal_last(&w->journal);
    if (c->held)
        return;
    c->held = true;
    c->held_prev = NULL;
    c->held_next = w->held;
    if (w->held)
        w->held->held_prev = c;
    w->held = c;
}

void worker__conn_release(struct conn *c)
{
    worker__conn_unhold(c);
    conn_flush(c);
    if (c->close_after)
        conn_finish(c);
    else
        conn_timer_update(c);
}

/* Writes a response into c->out as the request asked (HEAD, close, HTTP/1.0). */
static void conn_serialize(struct conn *c, bool head, bool close, bool http10)
{
    struct worker *w = c->w;

    if (!close && http10)
        proto_response_header(&w->res, "Connection", "keep-alive");
    proto_response_serialize(&w->res, w->date, head, close, &c->out);
    w->requests++;
    if (close)
        c->close_after = true;
}

static void conn_process(struct conn *c);
static void conn_resume(struct conn *c);

/* The store process answered a deferred response: write it, then go on with the requests
 * that arrived meanwhile. */
static void on_store_reply(void *arg, int status, const char *body, size_t len)
{
    struct conn *c = arg;
    struct worker *w = c->w;

    c->query = NULL;
    c->waiting = false;
    worker__clock(w);
    proto_response_reset(&w->res);
    if (proto_response_store(&w->res, status, body, len) < 0)
        proto_response_error(&w->res, 500, "server_error", "out of memory");
    conn_serialize(c, c->wait_head, c->wait_close || w->draining, c->wait_http10);
    conn_process(c);
    conn_resume(c);
}

/* Sends the handler's deferred query to the store process.  0, or -1 (answer now). */
static int conn_defer(struct conn *c, bool head, bool close, bool http10)
{
    struct worker *w = c->w;
    const struct proto_buf *q = &w->res.store_req;

    c->query =
        worker__storeq_send(&w->loop, w->s->store_socket, q->data, q->len, on_store_reply, c);
    if (c->query == NULL) {
        proto_response_reset(&w->res);
        proto_response_error(&w->res, 503, "temporarily_unavailable", "out of memory");
        return -1;
    }
    c->waiting = true;
    c->wait_head = head;
    c->wait_close = close;
    c->wait_http10 = http10;
    return 0;
}

/* Answers one parsed request into c->out. */
static void conn_answer(struct conn *c)
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
        conn_hold(c);
    close = !req->keep_alive || w->res.close || w->draining;
    if (w->res.deferred && conn_defer(c, req->method == HTTP_HEAD, close, req->http10) == 0)
        return;
    conn_serialize(c, req->method == HTTP_HEAD, close, req->http10);
}

/* Answers every complete request in c->in, then drops the bytes no request needs. */
static void conn_process(struct conn *c)
{
    struct worker *w = c->w;
    size_t done;

    worker__clock(w);
    while (!c->close_after && !c->waiting) {
        enum proto_http_result r = proto_http_feed(&c->http, c->in, c->in_len);

        if (r == PROTO_HTTP_MORE) {
            if (proto_http_take_continue(&c->http))
                proto_buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            break;
        }
        if (r == PROTO_HTTP_ERROR) {
            proto_response_reset(&w->res);
            proto_response_error(&w->res, c->http.error_status,
                                 conn_error_code(c->http.error_status), c->http.error_text);
            proto_response_serialize(&w->res, w->date, false, true, &c->out);
            c->close_after = true;
            break;
        }
        conn_answer(c);
        c->answered = true;
        proto_http_next(&c->http);
        c->timer_kind = CONN_TIMER_NONE; /* the next request gets a fresh deadline */
    }
    done = proto_http_done_bytes(&c->http);
    if (done) {
        memmove(c->in, c->in + done, c->in_len - done);
        c->in_len -= done;
        proto_http_shift(&c->http, done);
    }
}

/* Makes room to read into c->in.  The cap fits the largest request the limits allow, so a
 * request within limits always fits and one beyond them is refused before the cap. */
static bool conn_in_room(struct conn *c)
{
    const struct proto_limits *l = &c->w->s->limits;
    size_t max = (size_t)l->header_bytes + l->body_bytes + 1024, cap;
    char *p;

    if (c->in_cap - c->in_len >= 1024 || c->in_cap >= max)
        return c->in_len < c->in_cap;
    cap = c->in_cap ? c->in_cap * 2 : CONN_IN_INITIAL;
    if (cap > max)
        cap = max;
    p = realloc(c->in, cap);
    if (p == NULL)
        return c->in_len < c->in_cap;
    c->in = p;
    c->in_cap = cap;
    return true;
}

static void conn_input_plain(struct conn *c, const char *data, size_t len)
{
    while (len && !c->close_after) {
        size_t n;

        if (!conn_in_room(c)) {
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
        conn_process(c);
    }
}

/* Decrypts what the TLS engine can, answering as requests complete.  Returns false when
 * the session failed or the peer closed it. */
static bool conn_input_tls(struct conn *c, const char *data, size_t len)
{
    if (BIO_write(c->rbio, data, (int)len) != (int)len)
        return false;
    while (!c->close_after) {
        int n, err;

        if (!conn_in_room(c))
            return false;
        conn_tls_errors_clear(); /* the handlers conn_process() ran may have left some */
        n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (n > 0) {
            c->in_len += (size_t)n;
            conn_process(c);
            continue;
        }
        err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ)
            return true;
        if (err != SSL_ERROR_ZERO_RETURN)
            log_debug("TLS session failed: %s", ERR_reason_error_string(ERR_peek_error()));
        ERR_clear_error();
        return false;
    }
    return true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    bool ok = true;

    if (nread == 0)
        return;
    if (nread < 0) {
        /* The peer is done sending: answer what it sent (already done), then close. */
        c->peer_eof = true;
        if (nread != UV_EOF || c->shut_down ||
            (!c->closing && !c->out.len && !uv_stream_get_write_queue_size(s)))
            worker__conn_close(c);
        else
            conn_finish(c); /* on_shutdown closes once our output is out */
        return;
    }
    if (c->closing)
        return; /* lingering after our last response: the bytes are not wanted */
    if (c->ssl)
        ok = conn_input_tls(c, buf->base, (size_t)nread);
    else
        conn_input_plain(c, buf->base, (size_t)nread);
    if (c->closed)
        return;
    if (!ok)
        c->close_after = true;
    conn_resume(c);
}

/* After input or a deferred response: send what is ready, then close or wait for more. */
static void conn_resume(struct conn *c)
{
    if (c->held || c->closed)
        return; /* worker__conn_release() goes on after the commit */
    conn_flush(c);
    if (c->close_after && !c->waiting)
        conn_finish(c);
    else
        conn_timer_update(c);
}

static int conn_tls_setup(struct conn *c, SSL_CTX *ctx)
{
    c->ssl = SSL_new(ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        return -ENOMEM;
    }
    /* An empty read BIO means "wait for more bytes", not end of stream. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    return 0;
}

static void conn_peer(struct conn *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
                  sizeof(c->peer));
    if (c->peer[0]) {
        char key[sizeof(c->peer) + 3] = "ip:";

        memcpy(key + 3, c->peer, strlen(c->peer));
        shm_sha256(key, 3 + strlen(c->peer), c->peer_key);
    }
}

void worker__conn_open(struct worker *w, int fd, bool tls, const struct sockaddr *sa)
{
    struct conn *c;
    uint64_t rec;

    if (worker__peers_admit(w, sa, &rec) < 0) {
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (tls && conn_tls_setup(c, w->s->ssl_ctx) < 0)) {
        log_warn("out of memory: dropping a connection");
        if (c)
            SSL_free(c->ssl);
        free(c);
        worker__peers_release(w, rec);
        close(fd);
        return;
    }
    c->w = w;
    c->peer_rec = rec;
    conn_peer(c, sa);
    proto_http_init(&c->http, &w->s->limits);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    w->accepted++;
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        worker__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_timer_update(c);
}

void worker__conn_drain(struct conn *c)
{
    bool idle = !proto_http_partial(&c->http) && c->in_len == 0 && !c->waiting &&
                uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0 &&
                (c->ssl == NULL || SSL_is_init_finished(c->ssl));

    if (c->closing)
        return;
    if (!idle)
        return; /* conn_answer() sees w->draining and closes after the response */
    c->close_after = true;
    conn_flush(c);
    conn_finish(c);
}
