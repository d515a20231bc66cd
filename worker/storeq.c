/*
 * The worker's client of the store's control socket: a uv_pipe per request, connected,
 * written, read until EOF (the store closes after its reply), under one deadline timer.
 * Everything ends in query_finish(), which calls the callback at most once and closes both
 * handles; the query is freed when the second close completes, so a connect or write still
 * pending then ends with UV_ECANCELED and finds the query alive.  Runs in a worker's loop.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "worker/storeq.h"

#define ERR_UNREACHABLE                                                                            \
    "{\"error\":\"temporarily_unavailable\","                                                      \
    "\"error_description\":\"the store process cannot be reached\"}"
#define ERR_TIMEOUT                                                                                \
    "{\"error\":\"temporarily_unavailable\","                                                      \
    "\"error_description\":\"the store process did not answer in time\"}"
#define ERR_BAD_REPLY                                                                              \
    "{\"error\":\"server_error\","                                                                 \
    "\"error_description\":\"the store process answered something unusable\"}"

struct worker_storeq {
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    worker_storeq_cb cb; /* NULL once cancelled */
    void *arg;
    char *req;
    size_t req_len;
    char *in;
    size_t in_len, in_cap;
    const char *early; /* an error found in send(), answered from the timer */
    unsigned handles;  /* open handles; freed at 0 */
    bool finished;
};

static void on_closed(uv_handle_t *h)
{
    struct worker_storeq *q = h->data;

    if (--q->handles > 0)
        return;
    free(q->req);
    free(q->in);
    free(q);
}

static void query_finish(struct worker_storeq *q, int status, const char *body, size_t len)
{
    if (q->finished)
        return;
    q->finished = true;
    if (q->cb)
        q->cb(q->arg, status, body, len);
    uv_close((uv_handle_t *)&q->pipe, on_closed);
    uv_close((uv_handle_t *)&q->timer, on_closed);
}

static void query_fail(struct worker_storeq *q, int status, const char *body)
{
    query_finish(q, status, body, strlen(body));
}

/* "<status>\n<body>": a status of three digits, 100 to 599. */
static void query_reply(struct worker_storeq *q)
{
    char *nl = q->in ? memchr(q->in, '\n', q->in_len) : NULL;
    int status = 0;

    if (q->in_len == 0) { /* closed without a word: it died, or is stopping */
        query_fail(q, 503, ERR_UNREACHABLE);
        return;
    }
    if (nl && nl - q->in == 3)
        for (int i = 0; i < 3; i++)
            status = q->in[i] >= '0' && q->in[i] <= '9' ? status * 10 + q->in[i] - '0' : -1000;
    if (status < 100 || status > 599)
        query_fail(q, 502, ERR_BAD_REPLY);
    else
        query_finish(q, status, nl + 1, q->in_len - (size_t)(nl + 1 - q->in));
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct worker_storeq *q = h->data;
    size_t cap = q->in_cap ? q->in_cap * 2 : 4096;
    char *p;

    (void)hint;
    if (q->in_len == q->in_cap) {
        if (cap > WORKER_STOREQ_REPLY_MAX + 1)
            cap = WORKER_STOREQ_REPLY_MAX + 1;
        if (cap > q->in_cap && (p = realloc(q->in, cap)) != NULL) {
            q->in = p;
            q->in_cap = cap;
        }
    }
    *buf = uv_buf_init(q->in + q->in_len, (unsigned)(q->in_cap - q->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct worker_storeq *q = s->data;

    (void)buf;
    if (nread == UV_EOF) {
        query_reply(q);
    } else if (nread < 0) { /* UV_ENOBUFS too: no memory for the reply */
        query_fail(q, 503, ERR_UNREACHABLE);
    } else {
        q->in_len += (size_t)nread;
        if (q->in_len > WORKER_STOREQ_REPLY_MAX)
            query_fail(q, 502, ERR_BAD_REPLY);
    }
}

static void on_written(uv_write_t *w, int status)
{
    if (status < 0)
        query_fail(w->data, 503, ERR_UNREACHABLE);
}

static void on_connect(uv_connect_t *c, int status)
{
    struct worker_storeq *q = c->data;
    uv_buf_t buf = uv_buf_init(q->req, (unsigned)q->req_len);
    int rc;

    if (status < 0) {
        query_fail(q, 503, ERR_UNREACHABLE);
        return;
    }
    q->write.data = q;
    if ((rc = uv_write(&q->write, (uv_stream_t *)&q->pipe, &buf, 1, on_written)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read)) < 0)
        query_fail(q, 503, ERR_UNREACHABLE);
}

static void on_timer(uv_timer_t *t)
{
    struct worker_storeq *q = t->data;

    query_fail(q, 503, q->early ? q->early : ERR_TIMEOUT);
}

/* The request as sent: one line, its newline added when missing. */
static int query_copy(struct worker_storeq *q, const char *req, size_t len)
{
    bool nl = len > 0 && req[len - 1] == '\n';

    if ((q->req = malloc(len + 1)) == NULL)
        return -ENOMEM;
    memcpy(q->req, req, len);
    q->req[len] = '\n';
    q->req_len = len + !nl;
    return 0;
}

struct worker_storeq *worker__storeq_send(uv_loop_t *loop, const char *sock_path, const char *req,
                                          size_t len, worker_storeq_cb cb, void *arg)
{
    struct worker_storeq *q = calloc(1, sizeof(*q));

    if (q == NULL || query_copy(q, req, len) < 0 || uv_pipe_init(loop, &q->pipe, 0) < 0)
        goto fail;
    q->pipe.data = q;
    q->handles = 1;
    if (uv_timer_init(loop, &q->timer) < 0) {
        q->finished = true;
        uv_close((uv_handle_t *)&q->pipe, on_closed); /* frees q */
        return NULL;
    }
    q->timer.data = q;
    q->handles = 2;
    q->cb = cb;
    q->arg = arg;
    /* libuv 1.44 truncates a long path silently: refuse it, answering from the timer. */
    if (strlen(sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        q->early = ERR_UNREACHABLE;
        uv_timer_start(&q->timer, on_timer, 0, 0);
        return q;
    }
    uv_timer_start(&q->timer, on_timer, WORKER_STOREQ_TIMEOUT_MS, 0);
    q->connect.data = q;
    uv_pipe_connect(&q->connect, &q->pipe, sock_path, on_connect);
    return q;
fail:
    if (q)
        free(q->req);
    free(q);
    return NULL;
}

void worker__storeq_cancel(struct worker_storeq *q)
{
    q->cb = NULL;
    query_finish(q, 0, NULL, 0);
}
