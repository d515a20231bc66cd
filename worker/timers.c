/*
 * A connection's deadlines, on its one uv_timer, chosen by its state.  A request's
 * deadline (header_timeout) runs from its first byte — the first request's from accept,
 * TLS handshake included — until it has arrived whole, and is not extended by more bytes,
 * so a slow or silent client cannot hold the connection.  Between requests the idle
 * deadline (idle_timeout) is restarted by activity.  A response deferred to the store
 * runs none (the query has its own).  After our shutdown, idle_timeout bounds a peer that
 * does not take our output, and lingering is bounded by TIMERS_LINGER_MS.
 */
#include "autoconfig.h"

#include "worker/conn.h"

#define TIMERS_LINGER_MS 5000 /* at most this long reading and discarding before a close */

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;

    switch (c->state) {
    case CONN_HANDSHAKE:
        worker__conn_close(c); /* no session to say close_notify in */
        break;
    case CONN_READING:
        /* A request started but did not arrive in time: say so.  Otherwise nothing is in
         * flight (idle, or silent since accept): end TLS with close_notify, as draining
         * does, so the client sees a clean close rather than a truncation. */
        if (c->timer_kind == CONN_TIMER_REQUEST && proto_http_partial(&c->http))
            worker__pipeline_error(c, 408, "the request did not arrive in time");
        worker__conn_finish(c);
        break;
    case CONN_DEFERRED:
    case CONN_FINISHING:
        break; /* the store's answer, or the commit's release, goes on */
    case CONN_SHUTDOWN:
    case CONN_LINGER:
    case CONN_CLOSED:
        worker__conn_close(c);
        break;
    }
}

static void timer_set(struct conn *c, enum conn_timer kind, uint64_t ms)
{
    c->timer_kind = kind;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

void worker__timer_accepted(struct conn *c)
{
    timer_set(c, CONN_TIMER_REQUEST, c->w->s->header_timeout_ms);
}

void worker__timer_request_done(struct conn *c)
{
    c->timer_kind = CONN_TIMER_NONE;
}

/* Reading requests: a request's deadline runs on until a request completes; a request
 * begun starts one; else the idle deadline restarts. */
static void timer_reading(struct conn *c)
{
    const struct worker_settings *s = c->w->s;

    if (c->timer_kind == CONN_TIMER_REQUEST)
        return;
    if (proto_http_partial(&c->http))
        timer_set(c, CONN_TIMER_REQUEST, s->header_timeout_ms);
    else
        timer_set(c, CONN_TIMER_IDLE, s->idle_timeout_ms);
}

void worker__timer_update(struct conn *c)
{
    uint64_t idle = c->w->s->idle_timeout_ms;

    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_READING:
        timer_reading(c);
        break;
    case CONN_DEFERRED:
        c->timer_kind = CONN_TIMER_NONE;
        uv_timer_stop(&c->timer);
        break;
    case CONN_FINISHING:
        break;
    case CONN_SHUTDOWN:
        if (c->timer_kind != CONN_TIMER_SHUTDOWN)
            timer_set(c, CONN_TIMER_SHUTDOWN, idle);
        break;
    case CONN_LINGER:
        if (c->timer_kind != CONN_TIMER_LINGER)
            timer_set(c, CONN_TIMER_LINGER, idle < TIMERS_LINGER_MS ? idle : TIMERS_LINGER_MS);
        break;
    case CONN_CLOSED:
        break;
    }
}
