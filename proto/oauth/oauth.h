/*
 * What the OAuth endpoints share: reading parameters from the body, client
 * authentication (client_secret_basic with RFC 6749 §2.3.1 form-decoding, and
 * client_secret_post), the error responses of RFC 6749 §5.2 and RFC 6750 §3, scope
 * arithmetic, and issuing tokens into the shared table.
 */
#ifndef PROTO_OAUTH_H
#define PROTO_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "proto/http/response.h"
#include "shm/client.h"
#include "shm/token.h"

/* Client grant types and flags (struct shm_client's bit sets). */
#define PROTO_GRANT_CLIENT_CREDENTIALS 0x1
#define PROTO_GRANT_REFRESH_TOKEN 0x2
#define PROTO_CLIENT_CAN_INTROSPECT 0x1
#define PROTO_FORMAT_OPAQUE 0
#define PROTO_FORMAT_JWT 1

enum proto_auth_method { PROTO_AUTH_NONE, PROTO_AUTH_BASIC, PROTO_AUTH_POST };

/* An authenticated client, as it was when authenticated. */
struct proto_client {
    struct shm_client rec;
    uint64_t slot;
    uint32_t gen;
    enum proto_auth_method method;
};

/* Decodes the body (form or JSON by Content-Type; no body: no parameters) into
 * ctx->params and refuses repeated parameters.  0, or -1 with a 400 invalid_request
 * written to res, also for a body of another or no Content-Type. */
int proto_oauth_params(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res);
/* Authenticates the calling client from the Authorization header or the parameters.
 * 0, or -1 with the error (400 invalid_request, 401 invalid_client) written to res. */
int proto_oauth_client(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_client *out, struct proto_response *res);
/* The start of introspection and revocation: the body's parameters, the calling client
 * (into caller) and the required `token` parameter, which is returned; NULL with the error
 * written to res. */
const struct proto_param *proto_oauth_token_request(const struct proto_ctx *ctx,
                                                    const struct proto_request *req,
                                                    struct proto_client *caller,
                                                    struct proto_response *res);
/* An RFC 6749 §5.2 error; adds WWW-Authenticate for 401. */
void proto_oauth_error(struct proto_response *res, int status, const char *error,
                       const char *description, enum proto_auth_method method);
/* Sets Cache-Control: no-store and Pragma: no-cache. */
void proto_oauth_nostore(struct proto_response *res);

#endif
