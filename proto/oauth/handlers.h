/*
 * The endpoint handlers, one file each, listed by proto/http/routes.c.
 */
#ifndef PROTO_HANDLERS_H
#define PROTO_HANDLERS_H

#include "proto/http/router.h"

void proto_token_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res);
/* GET /metrics: Prometheus text (durability lag, token table fill). */
void proto_metrics_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
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
