/*
 * The control socket server of the store process (protocol in store/control.h): a unix
 * socket, mode 0600, in the data directory, served on the store process's libuv loop.
 * Each connection carries one request line; it is run synchronously (the store process
 * is single-threaded and Berkeley DB is opened without DB_THREAD), the status line and
 * body are written, and the write side is shut down: that EOF is the reply's end.  The
 * connection closes at the peer's EOF (or STORE_CONTROL_TIMEOUT_MS later).  A connection
 * that sends no whole request in STORE_CONTROL_TIMEOUT_MS is closed unanswered; past
 * STORE_CONTROL_CONNS_MAX connections new ones are closed at once.  Starting it ignores
 * SIGPIPE in the store process: a reply to a worker that went away fails with EPIPE.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "control"
#include "shm/log.h"
#include "store/control.h"

struct store_control_conn {
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_write_t write;
    uv_shutdown_t shutdown;
    struct store_control *ctl;
    struct store_control_conn *prev, *next;
    struct store_control_reply reply;
    char head[16]; /* "<status>\n" */
    size_t in_len;
    unsigned handles; /* open handles; freed at 0 */
    bool answered;    /* the reply is written or being written: input is drained */
    bool closing;
    char in[STORE_CONTROL_REQUEST_MAX + 2]; /* a line, its newline, one byte too many */
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_conn_closed(uv_handle_t *h)
{
    struct store_control_conn *c = h->data;

    if (--c->handles > 0)
        return;
    store_control_reply_free(&c->reply);
    free(c);
}

static void conn_close(struct store_control_conn *c)
{
    struct store_control *ctl = c->ctl;

    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->nconns--;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    if (status < 0)
        conn_close(sh->data);
}

/* The reply's end is our EOF (shutdown); the connection closes at the peer's EOF, once it
 * has read everything: closing with its unread input would make the peer's kernel report
 * ECONNRESET, which may reach it before the reply's last bytes. */
static void on_written(uv_write_t *w, int status)
{
    struct store_control_conn *c = w->data;
    int rc;

    if (status < 0) {
        if (status != UV_ECANCELED)
            log_warn("writing a reply failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->shutdown.data = c;
    if ((rc = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, on_shutdown)) < 0 ||
        (rc = uv_timer_start(&c->timer, on_timeout, STORE_CONTROL_TIMEOUT_MS, 0)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read)) < 0)
        conn_close(c);
}

/* Runs the request in c->in[0, len) and writes the reply; the write's end closes. */
static void conn_answer(struct store_control_conn *c, size_t len)
{
    static const char oom[] =
        "{\"error\":\"server_error\",\"error_description\":\"out of memory\"}";
    struct store_control *ctl = c->ctl;
    uv_buf_t bufs[2];
    int rc;

    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_timer_stop(&c->timer);
    c->answered = true;
    if (ctl->prepare)
        ctl->prepare(ctl->prepare_arg);
    store_control_handle(ctl->db, ctl->data_dir, (int64_t)time(NULL), c->in, len, &c->reply);
    if (c->reply.status >= 500) /* the body is our own words: no secret in it */
        log_warn("a request failed (%d): %s", c->reply.status,
                 c->reply.body ? c->reply.body : "out of memory");
    bufs[0] = uv_buf_init(c->head, (unsigned)snprintf(c->head, sizeof(c->head), "%d\n",
                                                      c->reply.body ? c->reply.status : 500));
    bufs[1] = c->reply.body ? uv_buf_init(c->reply.body, (unsigned)c->reply.len)
                            : uv_buf_init((char *)oom, sizeof(oom) - 1);
    c->write.data = c;
    if ((rc = uv_write(&c->write, (uv_stream_t *)&c->pipe, bufs, 2, on_written)) < 0) {
        log_warn("writing a reply failed: %s", uv_strerror(rc));
        conn_close(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct store_control_conn *c = h->data;

    (void)hint;
    if (c->answered) /* draining what follows the request: c->in is done with */
        *buf = uv_buf_init(c->in, sizeof(c->in));
    else
        *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof(c->in) - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct store_control_conn *c = s->data;
    char *nl;

    (void)buf;
    if (c->answered) {
        if (nread < 0) /* the peer read the reply and closed */
            conn_close(c);
    } else if (nread == UV_EOF && c->in_len > 0) { /* a request without its newline */
        conn_answer(c, c->in_len);
    } else if (nread < 0) {
        conn_close(c);
    } else {
        c->in_len += (size_t)nread;
        nl = memchr(c->in, '\n', c->in_len);
        if (nl || c->in_len == sizeof(c->in)) /* no newline within the limit: 413 */
            conn_answer(c, nl ? (size_t)(nl - c->in) + 1 : c->in_len);
    }
}

static int conn_start(struct store_control *ctl, struct store_control_conn *c)
{
    int rc;

    c->ctl = ctl;
    if ((rc = uv_pipe_init(ctl->loop, &c->pipe, 0)) < 0)
        return rc;
    c->pipe.data = c;
    c->handles = 1;
    if ((rc = uv_timer_init(ctl->loop, &c->timer)) < 0)
        return rc;
    c->timer.data = c;
    c->handles = 2;
    c->next = ctl->conns;
    if (ctl->conns)
        ctl->conns->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    if ((rc = uv_accept((uv_stream_t *)&ctl->server, (uv_stream_t *)&c->pipe)) < 0 ||
        (rc = uv_timer_start(&c->timer, on_timeout, STORE_CONTROL_TIMEOUT_MS, 0)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read)) < 0)
        return rc;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct store_control *ctl = server->data;
    struct store_control_conn *c;
    int rc;

    if (status < 0) {
        log_warn("accepting failed: %s", uv_strerror(status));
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        log_warn("out of memory for a connection");
        return;
    }
    rc = conn_start(ctl, c);
    if (rc < 0 || ctl->nconns > STORE_CONTROL_CONNS_MAX) {
        if (rc < 0)
            log_warn("a connection failed: %s", uv_strerror(rc));
        if (c->handles == 2) {
            conn_close(c);
        } else if (c->handles == 1) {
            uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        } else {
            free(c);
        }
    }
}

/* Removes a socket left by a store process that died; anything else there is refused. */
static int unlink_stale(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) == -1)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(sb.st_mode))
        return -EEXIST;
    return unlink(path) == -1 ? -errno : 0;
}

/* Binds with umask 0177 so the socket is 0600 from the start: no moment where others
 * could connect (the store process is single-threaded, so the umask is ours alone). */
static int bind_private(struct store_control *ctl)
{
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(&ctl->server, ctl->sock_path);

    umask(old);
    if (rc == 0 && chmod(ctl->sock_path, 0600) == -1)
        rc = -errno;
    return rc;
}

int store_control_start(struct store_control *ctl, uv_loop_t *loop, const char *sock_path,
                        struct store_bdb *db, const char *data_dir)
{
    int rc;

    memset(ctl, 0, sizeof(*ctl));
    /* A worker that gave up on its query has closed its end: writing the reply then must
     * fail with EPIPE, not kill the store process. */
    signal(SIGPIPE, SIG_IGN);
    ctl->loop = loop;
    ctl->db = db;
    ctl->data_dir = data_dir;
    if (strlen(sock_path) >= sizeof(ctl->sock_path)) {
        log_error("control socket %s: path longer than %zu bytes", sock_path,
                  sizeof(ctl->sock_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(ctl->sock_path, sock_path);
    if ((rc = unlink_stale(sock_path)) < 0) {
        log_error("control socket %s: cannot replace it: %s", sock_path, strerror(-rc));
        return rc;
    }
    if ((rc = uv_pipe_init(loop, &ctl->server, 0)) < 0) {
        log_error("uv_pipe_init: %s", uv_strerror(rc));
        return rc;
    }
    ctl->server.data = ctl;
    ctl->listening = true;
    if ((rc = bind_private(ctl)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&ctl->server, 64, on_connection)) < 0) {
        log_error("control socket %s: %s", sock_path, uv_strerror(rc));
        store_control_stop(ctl);
        return rc;
    }
    return 0;
}

void store_control_stop(struct store_control *ctl)
{
    if (!ctl->listening)
        return;
    ctl->listening = false;
    uv_close((uv_handle_t *)&ctl->server, NULL);
    while (ctl->conns)
        conn_close(ctl->conns);
    unlink(ctl->sock_path);
}
