/*
 * The worker process: a libuv loop created after fork, accepting (accept.c) on the
 * sockets the master made and serving connections (conn.c) until SIGTERM/SIGINT, then
 * draining: accepting stops, idle connections close, busy ones close after their
 * response, and whatever is left when the drain timeout ends is closed.  The worker's
 * state (serving, draining, stopped) is in struct worker (context.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define LOG_MODULE "worker"
#include "proto/jose/keys.h"
#include "shm/log.h"
#include "worker/conn.h"

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

/* Drained: the handles left close, and with them the loop's last work. */
static void worker_stop(struct worker *w)
{
    w->state = WORKER_STOPPED;
    uv_close((uv_handle_t *)&w->commit, NULL);
    uv_close((uv_handle_t *)&w->rotate, NULL);
    uv_close((uv_handle_t *)&w->sig_term, NULL);
    uv_close((uv_handle_t *)&w->sig_int, NULL);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
}

void worker__conn_gone(struct worker *w)
{
    if (w->state == WORKER_DRAINING && w->nconns == 0)
        worker_stop(w);
    else if (w->state == WORKER_SERVING && !w->accepting && w->nconns < w->s->max_connections)
        worker__accepting(w, true);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;

    log_warn("drain timeout: closing %zu connections", w->nconns);
    while (!LIST_EMPTY(&w->conns))
        worker__conn_close(LIST_FIRST(&w->conns));
}

static void worker_drain(struct worker *w)
{
    struct conn *c, *next;

    if (w->state != WORKER_SERVING)
        return;
    log_info("stopping: draining %zu connections", w->nconns);
    worker__accept_stop(w);
    w->state = WORKER_DRAINING;
    for (c = LIST_FIRST(&w->conns); c; c = next) {
        next = LIST_NEXT(c, link);
        worker__conn_drain(c);
    }
    if (w->nconns == 0) {
        worker_stop(w);
        return;
    }
    uv_timer_start(&w->drain_timer, on_drain_timeout, w->s->drain_timeout_ms, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    worker_drain(s->data);
}

static void on_rotate(uv_timer_t *t)
{
    struct worker *w = t->data;

    shm_log_flush(); /* summaries of suppressed repeats do not wait for the next line */
    if (worker_journal_rotate_applied(&w->journal, ROTATE_MIN_BYTES) < 0)
        worker__held_fail(w); /* the replacement reopens the log */
}

/* Starts the loop's handles: accepting on ls[0, nls), the group commit, signals.  0, or
 * < 0 (logged) with some handles open: worker_loop_close() closes them. */
static int worker_setup(struct worker *w, const struct worker_listener *ls, size_t nls)
{
    worker__held_start(w);
    uv_timer_init(&w->loop, &w->rotate);
    w->rotate.data = w;
    uv_timer_start(&w->rotate, on_rotate, ROTATE_CHECK_MS, ROTATE_CHECK_MS);
    uv_unref((uv_handle_t *)&w->rotate);
    uv_signal_init(&w->loop, &w->sig_term);
    uv_signal_init(&w->loop, &w->sig_int);
    uv_timer_init(&w->loop, &w->drain_timer);
    w->sig_term.data = w->sig_int.data = w->drain_timer.data = w;
    uv_signal_start(&w->sig_term, on_signal, SIGTERM);
    uv_signal_start(&w->sig_int, on_signal, SIGINT);
    return worker__accept_start(w, ls, nls);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
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
    worker_journal_start(&w->journal, &w->loop, worker__held_on_durable, w);
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
