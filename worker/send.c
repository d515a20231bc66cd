/*
 * Writing a connection's output to its socket, and backpressure.  uv_try_write() first;
 * only what the kernel did not take is copied into a uv_write().  When more than
 * SEND_HIGH_WATER bytes are queued (a client pipelining without reading), the connection
 * stops reading until the queue drains, so one client cannot grow the worker's memory.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "worker/conn.h"

#define SEND_HIGH_WATER (1024 * 1024)

struct send_req {
    uv_write_t req;
    struct conn *c;
    char data[];
};

size_t worker__conn_queued(const struct conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void on_write(uv_write_t *req, int status)
{
    struct send_req *wr = (struct send_req *)req;
    struct conn *c = wr->c;

    free(wr);
    if (status < 0) {
        worker__conn_close(c);
        return;
    }
    /* Not once our side is shut: a lingering connection reads only if it was reading. */
    if (c->throttled && c->state < CONN_SHUTDOWN && worker__conn_queued(c) == 0) {
        c->throttled = false;
        worker__conn_read_start(c);
    }
    if (c->w->state == WORKER_DRAINING)
        worker__conn_drain(c); /* it may have been busy only with this write */
}

/* Queues p[0, len) with a copy; false when the connection failed (it is closed). */
static bool send_queue(struct conn *c, const char *p, size_t len)
{
    struct send_req *wr = malloc(sizeof(*wr) + len);
    uv_buf_t b;

    if (wr == NULL) {
        worker__conn_close(c);
        return false;
    }
    wr->c = c;
    memcpy(wr->data, p, len);
    b = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(wr);
        worker__conn_close(c);
        return false;
    }
    return true;
}

void worker__conn_send(struct conn *c, const char *p, size_t len)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_buf_t b;
    int n;

    if (len == 0 || c->state == CONN_CLOSED)
        return;
    if (worker__conn_queued(c) == 0) {
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
    if (!send_queue(c, p, len))
        return;
    if (worker__conn_queued(c) > SEND_HIGH_WATER && !c->throttled) {
        c->throttled = true;
        uv_read_stop(s);
    }
}

void worker__conn_flush(struct conn *c)
{
    if (c->held)
        return; /* it reports changes that are not durable yet */
    if (c->ssl) {
        worker__tls_flush(c);
        return;
    }
    worker__conn_send(c, c->out.data, c->out.len);
    proto_buf_reset(&c->out);
}
