/*
 * GET /healthz and GET /readyz (API.md §7): the process answers at all, and this server
 * is ready to serve (the store has recovered the shared tables; ctx->ready).  Pure.
 */
#include "autoconfig.h"

#include "proto/ops/ops.h"

void proto_health_live(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res)
{
    proto_response_json(res, 200, "{\"status\":\"ok\"}");
}

void proto_health_ready(const struct proto_ctx *ctx, const struct proto_request *req,
                        struct proto_response *res)
{
    if (ctx->ready)
        proto_response_json(res, 200, "{\"status\":\"ready\"}");
    else
        proto_response_error(res, 503, "temporarily_unavailable", "the server is starting");
}
