/*
 * Names shared inside worker/ only: one client connection, its lifecycle state, and the
 * functions of the files that each do one job for it:
 *   conn.c      the lifecycle: open, read events, finish, shutdown, linger, close, drain
 *   tls_io.c    the TLS record pump through OpenSSL memory BIOs
 *   pipeline.c  the input buffer, parsing, and answering requests in order (a response
 *               deferred to the store process included)
 *   send.c      writing to the socket, and backpressure
 *   timers.c    the deadlines: request, idle, shutdown, linger
 *   held.c      holding answers until the log is durable
 */
#ifndef WORKER_CONN_H
#define WORKER_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "proto/buf.h"
#include "proto/http/http.h"
#include "worker/context.h"

struct worker_storeq;

/* Where a connection is in its life.  Transitions (docs/ARCHITECTURE.md draws them):
 *   HANDSHAKE -> READING          the TLS handshake completed (tls_io.c)
 *   READING   -> DEFERRED         a handler deferred its response to the store (pipeline.c)
 *   DEFERRED  -> READING          the store answered; parsing goes on (pipeline.c)
 *   any of the three -> FINISHING no request after the ones answered: a response with
 *                                 Connection: close, a refused request, a timeout, drain,
 *                                 the peer's EOF or a failed TLS session (in DEFERRED that
 *                                 waits for the store's answer, which is then the last)
 *   FINISHING -> SHUTDOWN         the output is released (not held) and queued: shutdown
 *   SHUTDOWN  -> LINGER           our side is shut but the peer may still be sending
 *   any       -> CLOSED           an error, the end of shutdown or linger, a deadline
 * The order is used: input is taken up to DEFERRED, and from SHUTDOWN on our side is shut.
 * Answering is not a state: a read's complete requests are answered within its callback. */
enum conn_state {
    CONN_HANDSHAKE, /* TLS handshake under way (TLS listeners only) */
    CONN_READING,   /* reading requests, answering each as it completes */
    CONN_DEFERRED,  /* a response waits for the store process: nothing more is parsed */
    CONN_FINISHING, /* the last response is built: sent once released, then shut */
    CONN_SHUTDOWN,  /* every byte queued: uv_shutdown() waits for the writes */
    CONN_LINGER,    /* our side shut: reading and dropping until the peer closes */
    CONN_CLOSED,    /* handles closing: freed when the last one has */
};

/* Which deadline the connection's one timer runs (timers.c). */
enum conn_timer {
    CONN_TIMER_NONE,
    CONN_TIMER_REQUEST,  /* from accept or a request's first byte: not extended by more */
    CONN_TIMER_IDLE,     /* between requests: restarted by activity */
    CONN_TIMER_SHUTDOWN, /* a peer that does not take our last output */
    CONN_TIMER_LINGER,   /* how long the peer's bytes are read and dropped */
};

/* How the request whose response is deferred asked to be answered. */
struct conn_deferred {
    bool head;   /* HEAD: no body */
    bool close;  /* Connection: close, and the last response of the connection */
    bool http10; /* HTTP/1.0: keep-alive is said explicitly */
    struct worker_storeq *query;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct worker *w;
    LIST_ENTRY(conn) link; /* in the worker's list of connections */
    enum conn_state state;
    SSL *ssl; /* NULL on a plain listener */
    BIO *rbio, *wbio;
    struct proto_http http;
    char *in; /* from offset 0, the bytes of requests not yet answered */
    size_t in_len, in_cap;
    struct proto_buf out; /* responses not yet sent */
    char peer[48];        /* the client's address, for per-address limits */
    uint8_t peer_key[32]; /* its hash, computed once per connection */
    uint64_t peer_rec;    /* its record in the per-address counts + 1; 0: not counted */
    enum conn_timer timer_kind;
    unsigned handles;              /* libuv handles still open; freed at 0 */
    struct conn_deferred deferred; /* in CONN_DEFERRED */
    /* The flags below are not states: each can be true in several states at once. */
    /* Reading is paused until the peer takes our output (send.c): backpressure, in
     * READING as in DEFERRED or FINISHING. */
    bool throttled;
    /* The peer sent EOF: nothing more will be read.  The peer's half of the connection,
     * independent of ours; it decides whether our shutdown lingers. */
    bool peer_eof;
    /* Its output reports changes not yet durable: sent after the commit (held.c).  The
     * output side only: a connection holding output goes on reading and answering
     * pipelined requests (one commit covers them all), deferring one, or finishing. */
    bool held;
    LIST_ENTRY(conn) held_link; /* in the worker's list of held connections */
    uint64_t ticket;            /* held until the log is durable up to this sequence number */
};

/* conn.c.  open: takes over accepted socket fd from peer sa (or closes it when sa's
 * address is at its limit); called by the accept loop.  resume: after input or a deferred
 * response, sends what is ready, then finishes or picks the deadline.  finish: no more
 * requests: sends what is left (unless held), shuts our side, then closes or lingers.
 * close: at once.  drain: idle connections finish now, busy ones after their response. */
void worker__conn_open(struct worker *w, int fd, bool tls, const struct sockaddr *sa);
void worker__conn_resume(struct conn *c);
void worker__conn_finish(struct conn *c);
void worker__conn_close(struct conn *c);
void worker__conn_drain(struct conn *c);
/* Reading again after backpressure (send.c). */
void worker__conn_read_start(struct conn *c);

/* tls_io.c.  open: the session and its memory BIOs, 0 or -ENOMEM.  input: data[0, len)
 * from the socket, decrypted into c->in and answered as requests complete; false when
 * the session failed or the peer closed it.  flush: c->out encrypted (and close_notify
 * when finishing) and sent.  unread: record bytes the session has not consumed. */
int worker__tls_open(struct conn *c, SSL_CTX *ctx);
bool worker__tls_input(struct conn *c, const char *data, size_t len);
void worker__tls_flush(struct conn *c);
bool worker__tls_unread(const struct conn *c);
void worker__tls_free(struct conn *c);

/* pipeline.c.  input: plaintext into c->in, answered as requests complete (may close c).
 * room: makes room in c->in, false when there is none (c->in is at its cap).  process:
 * answers every complete request in c->in, in order, into c->out.  error: a refusal with
 * Connection: close into c->out (the connection is finishing).  idle: no request begun. */
void worker__pipeline_input(struct conn *c, const char *data, size_t len);
bool worker__pipeline_room(struct conn *c);
void worker__pipeline_process(struct conn *c);
void worker__pipeline_error(struct conn *c, int status, const char *text);
bool worker__pipeline_idle(const struct conn *c);

/* send.c.  flush: c->out to the socket (through TLS when there is TLS), nothing while
 * held.  send: bytes to the socket, copied only when the kernel does not take them now;
 * past the high-water mark reading pauses until the queue drains.  queued: bytes waiting. */
void worker__conn_flush(struct conn *c);
void worker__conn_send(struct conn *c, const char *p, size_t len);
size_t worker__conn_queued(const struct conn *c);

/* timers.c.  accepted: the first request's deadline, from accept.  update: the deadline
 * the state asks for now.  request_done: a request arrived whole; the next gets a fresh
 * deadline. */
void worker__timer_accepted(struct conn *c);
void worker__timer_update(struct conn *c);
void worker__timer_request_done(struct conn *c);

/* held.c.  hold: c's output waits until the log is durable up to its last change.
 * unhold: c leaves the held list (it is closing). */
void worker__held_add(struct conn *c);
void worker__held_remove(struct conn *c);

#endif
