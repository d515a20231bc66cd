/*
 * Names shared inside worker/ only: the worker's context and one client connection.
 */
#ifndef WORKER_CONN_H
#define WORKER_CONN_H

#include <time.h>
#include <uv.h>

#include "proto/buf.h"
#include "proto/http.h"
#include "proto/response.h"
#include "proto/router.h"
#include "worker/journal.h"
#include "worker/worker.h"

#define WORKER_READ_BUF (64 * 1024)

struct worker;
struct worker_storeq;

enum conn_timer { CONN_TIMER_NONE, CONN_TIMER_REQUEST, CONN_TIMER_IDLE, CONN_TIMER_CLOSING };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct worker *w;
    struct conn *prev, *next;
    SSL *ssl; /* NULL on a plain listener */
    BIO *rbio, *wbio;
    struct proto_http http;
    char *in;
    size_t in_len, in_cap;
    struct proto_buf out;
    char peer[48];        /* the client's address, for per-address limits */
    uint8_t peer_key[32]; /* its hash, computed once per connection */
    uint64_t peer_rec;    /* its record in the per-address counts + 1; 0: not counted */
    enum conn_timer timer_kind;
    unsigned handles; /* libuv handles still open; freed at 0 */
    bool closing;     /* shutdown or close under way */
    bool closed;
    bool answered;    /* a request was read whole: the deadline from accept is over */
    bool close_after; /* close once the output is written */
    bool throttled;   /* reading paused until the peer takes our output */
    bool peer_eof;    /* the peer sent EOF: nothing more will be read */
    bool linger;      /* after our shutdown, read until the peer closes (on_shutdown) */
    bool shut_down;   /* our shutdown completed: lingering until the peer closes */
    bool held;        /* its output reports changes not yet durable: sent after the commit */
    bool waiting;     /* a response deferred to the store process: nothing more is parsed */
    bool wait_head, wait_close, wait_http10; /* how to write that response */
    struct worker_storeq *query;             /* the deferred response's query */
    struct conn *held_next, *held_prev;      /* the worker's list of held connections */
    uint64_t ticket; /* held until the log is durable up to this sequence number */
};

struct worker_accept {
    uv_poll_t poll;
    int fd;
    bool tls;
    bool open;
    struct worker *w;
};

/* The context of one worker process: everything it owns lives here. */
struct worker {
    uv_loop_t loop;
    const struct worker_settings *s;
    struct worker_id id;
    struct worker_accept acc[WORKER_LISTENERS_MAX];
    size_t nacc;
    bool accepting;
    bool draining;
    uv_timer_t accept_retry; /* accepting paused at EMFILE: try again after a delay */
    uv_signal_t sig_term, sig_int;
    uv_timer_t drain_timer;
    struct conn *conns; /* every open connection, for draining */
    size_t nconns;
    uint64_t *peer_free; /* numbers of this worker's free per-address records (peers.c) */
    uint64_t npeer_free;
    struct worker_journal journal; /* ctx.journal: the changes of this worker, logged */
    uv_check_t commit;             /* once per loop turn: commit, then release held output */
    uv_timer_t rotate;             /* now and then: a fully applied segment makes way */
    struct conn *held;             /* connections waiting for the commit */
    struct proto_response res;     /* reused by every request */
    struct proto_ctx ctx;
    struct proto_buf arena;     /* ctx.arena */
    struct proto_params params; /* ctx.params */
    char date[32];
    time_t date_sec;
    uint64_t accepted, requests;
    char readbuf[WORKER_READ_BUF];
};

/* Takes over accepted socket fd from peer sa (or closes it when sa's address is at its
 * limit); called by the accept loop. */
void worker__conn_open(struct worker *w, int fd, bool tls, const struct sockaddr *sa);
/* Graceful stop of one connection: idle ones close now, busy ones after their response. */
void worker__conn_drain(struct conn *c);
/* Closes at once. */
void worker__conn_close(struct conn *c);
/* Called when a connection is gone, for accept resumption and drain completion. */
void worker__conn_gone(struct worker *w);
/* The per-address connection limit (peers.c).  init/fini: the worker's free records.
 * admit: 0 with *rec (the connection's record + 1, 0 when not counted), or -EBUSY when
 * sa's address has max_connections_per_address open already (logged, counted). */
int worker__peers_init(struct worker *w);
void worker__peers_fini(struct worker *w);
int worker__peers_admit(struct worker *w, const struct sockaddr *sa, uint64_t *rec);
void worker__peers_release(struct worker *w, uint64_t rec);
/* Refreshes the cached Date header value. */
void worker__clock(struct worker *w);
/* After a commit: sends what a held connection was holding back. */
void worker__conn_release(struct conn *c);
/* Removes c from the worker's list of held connections. */
void worker__conn_unhold(struct conn *c);

#endif
