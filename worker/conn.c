/*
 * One client connection's lifecycle inside a worker (the states are in conn.h): taking
 * over an accepted socket, read events (bytes to the TLS pump or straight to the
 * pipeline, EOF), finishing (our last bytes out, then shutdown), lingering until the peer
 * closes, closing and freeing, and draining.  The jobs along the way are done by
 * tls_io.c, pipeline.c, send.c, timers.c and held.c.  Invariant: a connection is on the
 * worker's list from open until CONN_CLOSED, and freed when both its handles have closed.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_MODULE "conn"
#include "shm/hash.h"
#include "shm/log.h"
#include "worker/conn.h"
#include "worker/storeq.h"

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct worker *w = c->w;

    if (--c->handles)
        return;
    worker__tls_free(c);
    free(c->in);
    proto_buf_free(&c->out);
    free(c);
    worker__conn_gone(w);
}

void worker__conn_close(struct conn *c)
{
    struct worker *w = c->w;

    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    if (c->deferred.query) {
        worker__storeq_cancel(c->deferred.query);
        c->deferred.query = NULL;
    }
    worker__held_remove(c);
    worker__peers_release(w, c->peer_rec);
    c->peer_rec = 0;
    LIST_REMOVE(c, link);
    w->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Whether the peer may still be sending: the rest of a body we refused, an unfinished
 * request, or more than we answered. */
static bool conn_peer_sending(const struct conn *c)
{
    return !c->peer_eof &&
           (c->http.error_status || !worker__pipeline_idle(c) || (c->ssl && worker__tls_unread(c)));
}

/* Our last bytes are out and our side is shut.  If the peer may still be sending,
 * closing now would make the kernel answer its bytes with a reset that can destroy our
 * response before the client reads it; so then keep reading and dropping until the peer
 * closes too, for a bounded time (RFC 9112 §9.6). */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;

    if (status < 0 || c->state != CONN_SHUTDOWN || !conn_peer_sending(c)) {
        worker__conn_close(c);
        return;
    }
    c->state = CONN_LINGER;
    worker__timer_update(c);
}

void worker__conn_finish(struct conn *c)
{
    if (c->state >= CONN_SHUTDOWN)
        return;
    assert(c->deferred.query == NULL); /* DEFERRED finishes after the store's answer */
    c->state = CONN_FINISHING;
    worker__conn_flush(c);
    if (c->held || c->state != CONN_FINISHING)
        return; /* held: the release after the commit comes back here; or closed */
    c->state = CONN_SHUTDOWN;
    worker__timer_update(c); /* bounds a peer that does not take our output */
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        worker__conn_close(c);
}

void worker__conn_resume(struct conn *c)
{
    if (c->held || c->state == CONN_CLOSED)
        return; /* the release after the commit goes on */
    if (c->state == CONN_FINISHING) {
        worker__conn_finish(c);
        return;
    }
    worker__conn_flush(c);
    if (c->state != CONN_CLOSED)
        worker__timer_update(c);
}

/* No request after those under way: a deferred response becomes the last. */
static void conn_last(struct conn *c)
{
    if (c->state == CONN_DEFERRED)
        c->deferred.close = true;
    else if (c->state < CONN_FINISHING)
        c->state = CONN_FINISHING;
}

/* The peer is done sending (or the socket failed): what it sent is answered already, or
 * will be once the store answers; close now if nothing is left to send. */
static void conn_eof(struct conn *c, ssize_t err)
{
    c->peer_eof = true;
    if (err != UV_EOF || c->state == CONN_LINGER ||
        (c->state <= CONN_READING && c->out.len == 0 && worker__conn_queued(c) == 0))
        worker__conn_close(c);
    else if (c->state == CONN_DEFERRED)
        conn_last(c);
    else
        worker__conn_finish(c); /* on_shutdown closes once our output is out */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    *buf = uv_buf_init(c->w->readbuf, sizeof(c->w->readbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread == 0)
        return;
    if (nread < 0) {
        conn_eof(c, nread);
        return;
    }
    if (c->state >= CONN_SHUTDOWN)
        return; /* lingering after our last response: the bytes are not wanted */
    if (c->ssl == NULL)
        worker__pipeline_input(c, buf->base, (size_t)nread);
    else if (!worker__tls_input(c, buf->base, (size_t)nread))
        conn_last(c);
    worker__conn_resume(c);
}

void worker__conn_read_start(struct conn *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
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

/* A new connection's memory, or NULL (logged; fd and rec are the caller's to release). */
static struct conn *conn_new(struct worker *w, bool tls)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL || (tls && worker__tls_open(c, w->s->ssl_ctx) < 0)) {
        log_warn("out of memory: dropping a connection");
        free(c);
        return NULL;
    }
    c->w = w;
    c->state = tls ? CONN_HANDSHAKE : CONN_READING;
    return c;
}

void worker__conn_open(struct worker *w, int fd, bool tls, const struct sockaddr *sa)
{
    struct conn *c;
    uint64_t rec;

    if (worker__peers_admit(w, sa, &rec) < 0) {
        close(fd);
        return;
    }
    c = conn_new(w, tls);
    if (c == NULL) {
        worker__peers_release(w, rec);
        close(fd);
        return;
    }
    c->peer_rec = rec;
    conn_peer(c, sa);
    proto_http_init(&c->http, &w->s->limits);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    LIST_INSERT_HEAD(&w->conns, c, link);
    w->nconns++;
    w->accepted++;
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        worker__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    worker__conn_read_start(c);
    worker__timer_accepted(c);
}

void worker__conn_drain(struct conn *c)
{
    /* A handshake, a request begun, a deferred response or output still queued is busy:
     * pipeline.c answers it with Connection: close, and that finishes the connection. */
    if (c->state != CONN_READING || !worker__pipeline_idle(c) || worker__conn_queued(c) > 0)
        return;
    worker__conn_finish(c);
}
