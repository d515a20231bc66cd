/*
 * The frame of an OAuth endpoint's exchange, the same at the token, introspection and
 * revocation endpoints, validation and the admin API: the parameters of the request's body
 * (form or JSON, each at most once) or query string, the error answers of RFC 6749 §5.2, which
 * carry the WWW-Authenticate challenge HTTP requires of a 401, and the no-store headers of every
 * answer that holds a token.
 */
#ifndef PROTO_OAUTH_H
#define PROTO_OAUTH_H

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "proto/http/response.h"
#include "proto/oauth/client_auth.h"

/* Decodes the body (form or JSON by Content-Type; no body: no parameters) into
 * ctx->params and refuses repeated parameters.  0, or -EINVAL with a 400 invalid_request
 * written to res, also for a body of another or no Content-Type. */
int proto_oauth_params(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res);
/* Decodes the query string into ctx->params (validation, key rotation, the admin API).
 * 0, or -EINVAL with the reason in ctx->params->error; nothing is answered. */
int proto_oauth_query(const struct proto_ctx *ctx, const struct proto_request *req);
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
/* Starts an answer that must not be stored (a token, a secret, what a token says): status,
 * a JSON body opened with '{' for the caller to fill and close, and the no-store headers. */
void proto_oauth_json_begin(struct proto_response *res, int status);

#endif
