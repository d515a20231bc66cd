/*
 * A worker's asynchronous client of the store process's control socket (protocol in
 * store/control.h): one request per connection, the reply read until EOF, a deadline.
 * Used by the connection code for responses a handler deferred to the store
 * (proto_response_defer), such as GET /admin/sessions.
 */
#ifndef WORKER_STOREQ_H
#define WORKER_STOREQ_H

#include <stddef.h>

#include <uv.h>

#define WORKER_STOREQ_TIMEOUT_MS 5000
#define WORKER_STOREQ_REPLY_MAX (1 << 20) /* store/control.h's STORE_CONTROL_REPLY_MAX */

/* The reply: status and JSON body.  body[0, len) is valid during the call only.  The store
 * unreachable, silent past the deadline, or closing without a byte: 503 with a JSON error
 * body; a reply that is not "<status>\n<body>" or is larger than WORKER_STOREQ_REPLY_MAX:
 * 502.  status is 0 never: a cancelled query calls nothing. */
typedef void (*worker_storeq_cb)(void *arg, int status, const char *body, size_t len);

struct worker_storeq;

/* Connects to sock_path (uv_pipe), sends req[0, len) (copied: the caller's buffer may be
 * reused at once), reads the reply until EOF and calls cb once, always from a later loop
 * callback, never from inside this call.  After cb returns the query is freed: drop the
 * pointer there.  NULL only when memory ran out (cb is then never called). */
struct worker_storeq *worker__storeq_send(uv_loop_t *loop, const char *sock_path, const char *req,
                                          size_t len, worker_storeq_cb cb, void *arg);

/* The caller's connection went away: cb is never called; the query frees itself when its
 * handles have closed.  Not to be called from cb or after it. */
void worker__storeq_cancel(struct worker_storeq *q);

#endif
