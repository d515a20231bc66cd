/*
 * Client authentication at the token, introspection and revocation endpoints
 * (RFC 6749 §2.3): client_secret_basic and client_secret_post today; private_key_jwt
 * (RFC 7523) and mutual TLS (RFC 8705) are to join them, each as one more method.  A
 * request uses exactly one method; the client it names is looked up in shared memory
 * and its proof checked, within the failed-authentication limits of auth_limit.h.
 */
#ifndef PROTO_CLIENT_AUTH_H
#define PROTO_CLIENT_AUTH_H

#include <stdint.h>

#include "proto/buf.h"
#include "proto/ctx.h"
#include "proto/http/http.h"
#include "proto/http/response.h"
#include "shm/client.h"

/* How a client authenticated. */
enum proto_auth_method {
    PROTO_AUTH_NONE,  /* none, or two at once (refused) */
    PROTO_AUTH_BASIC, /* client_secret_basic: Authorization: Basic, RFC 6749 §2.3.1 */
    PROTO_AUTH_POST,  /* client_secret_post: client_id and client_secret in the body */
};

/* An authenticated client, as it was when authenticated. */
struct proto_client {
    struct shm_client rec;
    uint64_t slot;
    uint32_t gen;
    enum proto_auth_method method;
};

/* Authenticates the calling client by the one method its request uses, from the headers
 * and the parameters already in ctx->params (proto_oauth_params).  0 with *out; or, with
 * the error written to res: -EINVAL (400 invalid_request: two methods at once, malformed
 * parameters), -EACCES (401 invalid_client: no credentials, an unknown client or a wrong
 * proof, counted as a failure) or -EAGAIN (429: too many failures, nothing checked).
 * out->method is the method the request used, PROTO_AUTH_NONE when it used none or two.
 * Called by the token endpoint and proto_oauth_token_request(). */
int proto_client_authenticate(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_client *out, struct proto_response *res);

/* Appends the JSON array of the methods' names as RFC 8414 lists them
 * (token_endpoint_auth_methods_supported): the metadata offers what is implemented.
 * 0 or -ENOMEM. */
int proto_client_auth_methods_json(struct proto_buf *b);

#endif
