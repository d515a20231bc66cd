/*
 * The worker process: a libuv loop created after fork, accepting on the sockets the
 * master made and serving connections (conn.c) until SIGTERM/SIGINT, then draining:
 * accepting stops, idle connections close, busy ones close after their response, and
 * whatever is left when the drain timeout ends is closed.  Accepting is done by hand
 * (uv_poll + accept4) so it can pause at the per-worker connection limit.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "worker"
#include "proto/keys.h"
#include "shm/log.h"
#include "worker/conn.h"

#define ACCEPT_BATCH 64
#define ACCEPT_RETRY_MS 250 /* after EMFILE, when no connection closes sooner */
#define ROTATE_CHECK_MS 5000
#define ROTATE_MIN_BYTES (1u << 20) /* smaller applied segments are not worth a new file */

void worker__clock(struct worker *w)
{
    time_t now = time(NULL);
    struct tm tm;

    if (now == w->date_sec)
        return;
    w->date_sec = now;
    w->ctx.now = (int64_t)now;
    gmtime_r(&now, &tm);
    strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void worker_accepting(struct worker *w, bool on);

static void on_accept_retry(uv_timer_t *t)
{
    struct worker *w = t->data;

    if (w->nconns < w->s->max_connections)
        worker_accepting(w, true);
}

/* accept4() failed for want of a resource (descriptors, kernel memory).  The pending
 * connection stays queued, so the listener stays readable: polling on would spin.  Pause
 * until a connection closes (worker__conn_gone) or, if none does, a short delay passes —
 * nginx's accept_mutex_delay answer to the same problem. */
static void worker_accept_starved(struct worker *w, int err)
{
    log_warn("accept4() failed: %s: pausing accepting for %d ms or until a connection closes",
             strerror(err), ACCEPT_RETRY_MS);
    worker_accepting(w, false);
    uv_timer_start(&w->accept_retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
}

static void on_accept(uv_poll_t *p, int status, int events)
{
    struct worker_accept *a = p->data;
    struct worker *w = a->w;

    for (int i = 0; i < ACCEPT_BATCH && w->accepting; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(a->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                worker_accept_starved(w, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("accept4() failed: %s", strerror(errno));
            return;
        }
        worker__conn_open(w, fd, a->tls, (struct sockaddr *)&ss);
        if (w->nconns >= w->s->max_connections)
            worker_accepting(w, false);
    }
}

static void worker_accepting(struct worker *w, bool on)
{
    if (w->accepting == on || w->draining)
        return;
    w->accepting = on;
    if (on)
        uv_timer_stop(&w->accept_retry);
    for (size_t i = 0; i < w->nacc; i++) {
        if (on)
            uv_poll_start(&w->acc[i].poll, UV_READABLE, on_accept);
        else
            uv_poll_stop(&w->acc[i].poll);
    }
}

static void on_closed_quietly(uv_handle_t *h)
{
}

static void worker_close_handles(struct worker *w)
{
    uv_close((uv_handle_t *)&w->commit, on_closed_quietly);
    uv_close((uv_handle_t *)&w->rotate, on_closed_quietly);
    uv_close((uv_handle_t *)&w->sig_term, on_closed_quietly);
    uv_close((uv_handle_t *)&w->sig_int, on_closed_quietly);
    uv_close((uv_handle_t *)&w->drain_timer, on_closed_quietly);
    uv_close((uv_handle_t *)&w->accept_retry, on_closed_quietly);
}

void worker__conn_gone(struct worker *w)
{
    if (w->draining) {
        if (w->nconns == 0 && !uv_is_closing((uv_handle_t *)&w->drain_timer))
            worker_close_handles(w);
        return;
    }
    if (!w->accepting && w->nconns < w->s->max_connections)
        worker_accepting(w, true);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;

    log_warn("drain timeout: closing %zu connections", w->nconns);
    while (w->conns)
        worker__conn_close(w->conns);
}

static void worker_drain(struct worker *w)
{
    struct conn *c, *next;

    if (w->draining)
        return;
    log_info("stopping: draining %zu connections", w->nconns);
    worker_accepting(w, false);
    w->draining = true;
    for (size_t i = 0; i < w->nacc; i++) {
        uv_close((uv_handle_t *)&w->acc[i].poll, on_closed_quietly);
        close(w->acc[i].fd);
    }
    for (c = w->conns; c; c = next) {
        next = c->next;
        worker__conn_drain(c);
    }
    if (w->nconns == 0) {
        worker_close_handles(w);
        return;
    }
    uv_timer_start(&w->drain_timer, on_drain_timeout, w->s->drain_timeout_ms, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    worker_drain(s->data);
}

/* The log cannot take the changes: nothing unsynced is acknowledged.  The held
 * connections are closed unanswered and the worker exits, so its replacement reopens the
 * log from what reached the disk. */
static void worker_log_failed(struct worker *w)
{
    while (w->held)
        worker__conn_close(w->held);
    log_error("stopping: changes cannot be made durable");
    _exit(1);
}

/* Sends the held responses whose changes are durable now. */
static void worker_release_durable(struct worker *w)
{
    uint64_t durable = worker_journal_durable(&w->journal);
    struct conn *c, *next;

    for (c = w->held; c; c = next) {
        next = c->held_next;
        if (c->ticket <= durable)
            worker__conn_release(c);
    }
}

static void on_durable(void *arg, int status)
{
    struct worker *w = arg;

    if (status < 0)
        worker_log_failed(w);
    worker_release_durable(w);
}

/* Once per loop turn, after the turn's reads: the group commit.  The records every handler
 * of the turn reported go out with one write; an fdatasync on the thread pool makes them
 * durable while the loop goes on serving, and the responses that report them are sent
 * when it ends (on_durable).  Records reported while a sync runs are written at once and
 * get a sync of their own (up to WORKER_JOURNAL_SYNCS run at once), or ride the next. */
static void on_commit(uv_check_t *h)
{
    struct worker *w = h->data;

    /* A held connection waits for a record that is pending or not yet durable. */
    if (worker_journal_pending(&w->journal) == 0 &&
        worker_journal_last(&w->journal) == worker_journal_durable(&w->journal))
        return;
    if (worker_journal_flush(&w->journal) < 0)
        worker_log_failed(w);
    worker_release_durable(w);
}

static void on_rotate(uv_timer_t *t)
{
    struct worker *w = t->data;

    shm_log_flush(); /* summaries of suppressed repeats do not wait for the next line */
    if (worker_journal_rotate_applied(&w->journal, ROTATE_MIN_BYTES) < 0)
        worker_log_failed(w); /* the replacement reopens the log */
}

/* Starts the loop's handles: accepting on ls[0, nls), the group commit, signals.  0, or
 * < 0 (logged) with some handles open: worker_loop_close() closes them. */
static int worker_setup(struct worker *w, const struct worker_listener *ls, size_t nls)
{
    int rc;

    for (size_t i = 0; i < nls && i < WORKER_LISTENERS_MAX; i++) {
        struct worker_accept *a = &w->acc[w->nacc];

        a->fd = ls[i].fd;
        a->tls = ls[i].tls;
        a->w = w;
        rc = uv_poll_init(&w->loop, &a->poll, a->fd);
        if (rc < 0) {
            log_error("uv_poll_init() failed: %s", uv_strerror(rc));
            return rc;
        }
        a->poll.data = a;
        w->nacc++;
    }
    uv_check_init(&w->loop, &w->commit);
    w->commit.data = w;
    uv_check_start(&w->commit, on_commit);
    uv_unref((uv_handle_t *)&w->commit); /* it alone must not keep a draining loop alive */
    uv_timer_init(&w->loop, &w->rotate);
    w->rotate.data = w;
    uv_timer_start(&w->rotate, on_rotate, ROTATE_CHECK_MS, ROTATE_CHECK_MS);
    uv_unref((uv_handle_t *)&w->rotate);
    uv_timer_init(&w->loop, &w->accept_retry);
    w->accept_retry.data = w;
    uv_signal_init(&w->loop, &w->sig_term);
    uv_signal_init(&w->loop, &w->sig_int);
    uv_timer_init(&w->loop, &w->drain_timer);
    w->sig_term.data = w->sig_int.data = w->drain_timer.data = w;
    uv_signal_start(&w->sig_term, on_signal, SIGTERM);
    uv_signal_start(&w->sig_int, on_signal, SIGINT);
    worker_accepting(w, true);
    return 0;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed_quietly);
}

/* Closes the loop, first closing whatever handle a failed start left open. */
static void worker_loop_close(struct worker *w)
{
    int rc;

    uv_walk(&w->loop, on_walk_close, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&w->loop);
    if (rc < 0)
        log_warn("uv_loop_close() failed: %s", uv_strerror(rc));
}

/* What handlers see of the worker (struct proto_ctx), minus what worker_run() builds. */
static void worker_ctx_init(struct worker *w, struct proto_keystore *keystore)
{
    w->ctx.date = w->date;
    w->ctx.ready = 1;
    w->ctx.cfg = w->s->proto;
    w->ctx.region = w->s->region;
    w->ctx.owner = (struct shm_owner){w->id.slot, w->id.generation};
    w->ctx.arena = &w->arena;
    w->ctx.params = &w->params;
    w->params.arena = &w->arena;
    worker_keystore_init(keystore, w->s->keys_dir);
    w->ctx.keystore = keystore;
}

int worker_run(const struct worker_settings *s, const struct worker_id *id,
               const struct worker_listener *ls, size_t nls)
{
    struct proto_keystore keystore;
    struct worker *w;
    int status = 1, rc;

    /* Die with the master; and if it is already gone, do not serve as an orphan. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != id->master_pid)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return 1;
    rc = uv_loop_init(&w->loop);
    if (rc < 0) {
        log_error("uv_loop_init() failed: %s", uv_strerror(rc));
        free(w);
        return 1;
    }
    w->s = s;
    w->id = *id;
    worker_ctx_init(w, &keystore);
    w->ctx.keys = proto_keys_new();
    if (w->ctx.keys == NULL || worker__peers_init(w) < 0) {
        log_error("out of memory");
        goto fail;
    }
    rc = worker_journal_open(&w->journal, s->log_dir, id->slot, (enum store_sync)s->store_sync,
                             s->store_segment_bytes, s->region);
    if (rc < 0) {
        /* A corrupt log is not cured by respawning: the slot retires (status 2). */
        status = rc == -EBADMSG || rc == -ENOTSUP ? 2 : 1;
        goto fail;
    }
    w->ctx.journal = &w->journal.ops;
    worker_journal_start(&w->journal, &w->loop, on_durable, w);
    if (worker_setup(w, ls, nls) < 0)
        goto fail;
    log_info("serving (slot %u, generation %u)", id->slot, id->generation);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    log_info("stopped after %llu connections and %llu requests", (unsigned long long)w->accepted,
             (unsigned long long)w->requests);
    status = 0;
fail:
    /* Reverse order; each release is a no-op on what was never built (w is zeroed). */
    worker_journal_close(&w->journal);
    worker__peers_fini(w);
    proto_keys_free(w->ctx.keys);
    worker_loop_close(w);
    proto_response_free(&w->res);
    proto_buf_free(&w->arena);
    free(w);
    return status;
}
