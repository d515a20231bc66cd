/*
 * The store process's control socket, DATA_DIR/store.sock (unix, 0600): how workers list
 * sessions for the admin API and how `tesserad --backup` asks for a hot backup.  One request
 * per connection: a JSON object on one line (at most STORE_CONTROL_REQUEST_MAX bytes), run
 * synchronously against Berkeley DB, answered with a line holding an HTTP status, the JSON
 * body, then EOF.  The server (store/control.c) runs on the store process's libuv loop;
 * the requests themselves (store/control_ops.c) are pure of sockets and unit-tested so.
 *
 * Requests:
 *   {"op":"sessions","client_id":"…"?,"after":"<22-char id>"?,"limit":1..1000?}
 *     200 {"sessions":[{"id","client_id","kind","scope","aud","iat","exp"}],"next":id|null}
 *   {"op":"backup","dir":"/absolute/path"}
 *     200 {"backup":dir,"segments":n,"files":n,"bytes":n}
 * Errors: 400 (bad request, unusable backup directory), 413 (request too long), 500, each
 * with {"error":…,"error_description":…}.
 */
#ifndef STORE_CONTROL_H
#define STORE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store/bdb.h"

#define STORE_CONTROL_REQUEST_MAX 4096    /* bytes of a request line, newline excluded */
#define STORE_CONTROL_REPLY_MAX (1 << 20) /* a whole reply; worker/storeq.h has the same bound */
#define STORE_CONTROL_LIST_DEFAULT 100
#define STORE_CONTROL_LIST_MAX 1000
/* Sessions one listing request visits at most (revoked, expired, dead ones included):
 * the store answers nothing else meanwhile.  A page cut short by it has fewer rows than
 * asked for and a `next`. */
#define STORE_CONTROL_SCAN_MAX 20000
#define STORE_CONTROL_TIMEOUT_MS 5000 /* a connection that sends no whole request */
#define STORE_CONTROL_CONNS_MAX 64

/* An answer: status and a malloc'ed JSON body (NUL-terminated, len bytes before it). */
struct store_control_reply {
    int status;
    char *body;
    size_t len;
};

/* Runs one request (req[0, len), a trailing newline allowed) against db, with now as the
 * time that decides expiry and data_dir as the directory a backup copies.  Always fills
 * *out (body NULL only when memory ran out: the caller answers 500 itself).  Called by the
 * control server; pure of sockets. */
void store_control_handle(struct store_bdb *db, const char *data_dir, int64_t now, const char *req,
                          size_t len, struct store_control_reply *out);
void store_control_reply_free(struct store_control_reply *r);

struct store_control_conn;

/* The server.  The caller owns the struct and keeps it, db and data_dir alive until the
 * loop has run the close callbacks store_control_stop() starts. */
struct store_control {
    uv_loop_t *loop;
    uv_pipe_t server;
    struct store_bdb *db;
    const char *data_dir;
    char sock_path[108]; /* sizeof(sun_path) */
    struct store_control_conn *conns;
    unsigned nconns;
    bool listening;
    /* Called before each request, when set: the store process applies the log first, so
     * a listing shows every change acknowledged before it was asked for. */
    void (*prepare)(void *arg);
    void *prepare_arg;
};

/* Binds sock_path (removing a stale socket there first; another kind of file is an error),
 * mode 0600, and serves requests on loop; sets SIGPIPE to be ignored in the process.  Called by the
 * store process after recovery. 0, or a negative errno (libuv's UV_E* are negative errnos) with the
 * cause logged. */
int store_control_start(struct store_control *ctl, uv_loop_t *loop, const char *sock_path,
                        struct store_bdb *db, const char *data_dir);
/* Stops listening, closes every connection and removes the socket file; the handles close
 * on the loop's next turn, after which the loop may end.  Safe to call twice. */
void store_control_stop(struct store_control *ctl);

#endif
