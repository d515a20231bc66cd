/*
 * Responses: what a handler fills in, and its serialisation into the connection's output.
 * Every response carries Content-Length and Date; error bodies are the JSON object of
 * API.md ({"error":…,"error_description":…}).
 */
#ifndef PROTO_RESPONSE_H
#define PROTO_RESPONSE_H

#include <stdbool.h>

#include "proto/buf.h"

struct proto_response {
    int status;
    const char *content_type;
    struct proto_buf headers; /* extra header lines, each ending in CRLF */
    struct proto_buf body;
    bool close; /* the handler wants the connection closed after this response */
    /* The answer comes from the store process (proto_response_defer): the worker sends
     * store_req to the store's control socket and answers with proto_response_store(). */
    bool deferred;
    struct proto_buf store_req; /* one JSON request line (store/control.h), no newline */
};

/* Empties r for the next request, keeping its buffers' memory. */
void proto_response_reset(struct proto_response *r);
void proto_response_free(struct proto_response *r);
/* Adds "name: value\r\n"; value must come from us, never unchecked request bytes.  The
 * functions that build r return 0 or -ENOMEM. */
int proto_response_header(struct proto_response *r, const char *name, const char *value);
/* Sets status and a JSON body.  body is copied. */
int proto_response_json(struct proto_response *r, int status, const char *body);
/* Sets status and the JSON error body, with Cache-Control: no-store.  error is one of our
 * constants; the description is ours too, but may quote request text: it is escaped. */
int proto_response_error(struct proto_response *r, int status, const char *error,
                         const char *description);
/* Defers the answer to the store process, keeping req[0, len) (copied) in r->store_req;
 * for handlers whose answer needs Berkeley DB (GET /admin/sessions).  0, or -ENOMEM when memory
 * ran out (r is then a 500 error, not deferred). */
int proto_response_defer(struct proto_response *r, const char *req, size_t len);
/* Makes r the answer to a deferred request from the store's reply (worker/storeq.h):
 * status, body (copied), Content-Type application/json and Cache-Control: no-store as its
 * only extra header; a status proto_status_reason() does not know becomes 502.  Clears the
 * deferral; keeps r->close.  0 or -ENOMEM. */
int proto_response_store(struct proto_response *r, int status, const char *body, size_t len);
/* The reason phrase of a status we send. */
const char *proto_status_reason(int status);
/* Appends the serialised response to out.  head: omit the body (HEAD requests);
 * close: announce Connection: close.  date is the IMF-fixdate of now. */
int proto_response_serialize(const struct proto_response *r, const char *date, bool head,
                             bool close, struct proto_buf *out);

#endif
