/*
 * Names shared inside worker/ only: the context of one worker process (struct worker),
 * which owns everything the worker has, and the worker-level functions its files share.
 * One connection's own names are in conn.h.
 */
#ifndef WORKER_CONTEXT_H
#define WORKER_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <uv.h>

#include "proto/buf.h"
#include "proto/ctx.h"
#include "proto/oauth/params.h"
#include "proto/http/response.h"
#include "worker/journal.h"
#include "worker/worker.h"

#define WORKER_READ_BUF (64 * 1024)

struct conn;

/* One listening socket the master made, watched with uv_poll (accept.c). */
struct worker_accept {
    uv_poll_t poll;
    int fd;
    bool tls; /* what the listener speaks: TLS or plain HTTP */
    struct worker *w;
};

/* A worker's life: it serves until SIGTERM/SIGINT, then drains (accepting stops, idle
 * connections close, busy ones finish their response with Connection: close), and stops
 * once the last connection has gone, closing its own handles so the loop ends. */
enum worker_state {
    WORKER_SERVING,
    WORKER_DRAINING,
    WORKER_STOPPED,
};

/* The context of one worker process: everything it owns lives here. */
struct worker {
    uv_loop_t loop;
    const struct worker_settings *s;
    struct worker_id id;
    enum worker_state state;
    struct worker_accept acc[WORKER_LISTENERS_MAX];
    size_t nacc;
    /* Polling the listeners.  Not a phase of the worker's life: a serving worker pauses
     * at max_connections or when accept4() runs out of a resource, and goes on later. */
    bool accepting;
    uv_timer_t accept_retry; /* accepting paused at EMFILE: try again after a delay */
    uv_signal_t sig_term, sig_int;
    uv_timer_t drain_timer;
    LIST_HEAD(, conn) conns; /* every open connection, for draining */
    size_t nconns;
    uint64_t *peer_free; /* numbers of this worker's free per-address records (peers.c) */
    uint64_t npeer_free;
    struct worker_journal journal; /* ctx.journal: the changes of this worker, logged */
    uv_check_t commit;             /* once per loop turn: commit, then release held output */
    uv_timer_t rotate;             /* now and then: a fully applied segment makes way */
    LIST_HEAD(, conn) held;        /* connections waiting for the commit (held.c) */
    struct proto_response res;     /* reused by every request */
    struct proto_ctx ctx;
    struct proto_buf arena;     /* ctx.arena */
    struct proto_params params; /* ctx.params */
    char date[32];
    time_t date_sec;
    uint64_t accepted, requests;
    char readbuf[WORKER_READ_BUF];
};

/* Refreshes the cached Date header value (worker.c). */
void worker__clock(struct worker *w);
/* Called when a connection is gone, for accept resumption and drain completion (worker.c). */
void worker__conn_gone(struct worker *w);

/* Accepting (accept.c).  start: watches the listeners ls[0, nls) and starts accepting;
 * 0, or < 0 (logged) with some handles open.  accepting: starts (on) or pauses polling
 * the listeners; nothing unless serving.  stop: for good, the listeners closed (drain). */
int worker__accept_start(struct worker *w, const struct worker_listener *ls, size_t nls);
void worker__accepting(struct worker *w, bool on);
void worker__accept_stop(struct worker *w);

/* The per-address connection limit (peers.c).  init/fini: the worker's free records.
 * admit: 0 with *rec (the connection's record + 1, 0 when not counted), or -EBUSY when
 * sa's address has max_connections_per_address open already (logged, counted). */
int worker__peers_init(struct worker *w);
void worker__peers_fini(struct worker *w);
int worker__peers_admit(struct worker *w, const struct sockaddr *sa, uint64_t *rec);
void worker__peers_release(struct worker *w, uint64_t rec);

/* Holding answers until the log is durable (held.c).  start: the once-per-turn group
 * commit on w's loop, called by worker_run's setup.  on_durable: the journal's callback
 * (worker_journal_start).  fail: the log cannot take the changes: the held connections
 * are closed unanswered and the worker exits 1, so its replacement reopens the log. */
void worker__held_start(struct worker *w);
void worker__held_on_durable(void *arg, int status);
void worker__held_fail(struct worker *w);

#endif
