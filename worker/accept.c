/*
 * Accepting in a worker: each listening socket the master made is watched with uv_poll and
 * drained with accept4(), rather than uv_listen(), so the worker can stop accepting at
 * limits.max_connections and resume when a connection closes.  When accept4() runs out of
 * a resource (descriptors, kernel memory) accepting pauses for a while instead of
 * spinning on a listener that stays readable.  Accepted sockets go to conn.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "worker"
#include "shm/log.h"
#include "worker/conn.h"

#define ACCEPT_BATCH 64
#define ACCEPT_RETRY_MS 250 /* after EMFILE, when no connection closes sooner */

static void on_accept_retry(uv_timer_t *t)
{
    struct worker *w = t->data;

    if (w->nconns < w->s->max_connections)
        worker__accepting(w, true);
}

/* accept4() failed for want of a resource (descriptors, kernel memory).  The pending
 * connection stays queued, so the listener stays readable: polling on would spin.  Pause
 * until a connection closes (worker__conn_gone) or, if none does, a short delay passes —
 * nginx's accept_mutex_delay answer to the same problem. */
static void accept_starved(struct worker *w, int err)
{
    log_warn("accept4() failed: %s: pausing accepting for %d ms or until a connection closes",
             strerror(err), ACCEPT_RETRY_MS);
    worker__accepting(w, false);
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
                accept_starved(w, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("accept4() failed: %s", strerror(errno));
            return;
        }
        worker__conn_open(w, fd, a->tls, (struct sockaddr *)&ss);
        if (w->nconns >= w->s->max_connections)
            worker__accepting(w, false);
    }
}

void worker__accepting(struct worker *w, bool on)
{
    if (w->accepting == on || w->state != WORKER_SERVING)
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

int worker__accept_start(struct worker *w, const struct worker_listener *ls, size_t nls)
{
    int rc;

    uv_timer_init(&w->loop, &w->accept_retry);
    w->accept_retry.data = w;
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
    worker__accepting(w, true);
    return 0;
}

void worker__accept_stop(struct worker *w)
{
    worker__accepting(w, false);
    for (size_t i = 0; i < w->nacc; i++) {
        uv_close((uv_handle_t *)&w->acc[i].poll, NULL);
        close(w->acc[i].fd);
    }
    uv_close((uv_handle_t *)&w->accept_retry, NULL);
}
