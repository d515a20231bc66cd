/*
 * The handlers of the OAuth endpoints, one file each, listed by proto/http/routes.c: the
 * token endpoint (token_endpoint.c), validation (validate.c), introspection (introspect.c),
 * and revocation, RFC 7009's and Aidbox's DELETE /Session (revoke.c).
 */
#ifndef PROTO_HANDLERS_H
#define PROTO_HANDLERS_H

#include "proto/http/router.h"

void proto_token_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res);
void proto_validate_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res);
void proto_introspect_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res);
void proto_revoke_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                           struct proto_response *res);
void proto_session_delete(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res);

#endif
