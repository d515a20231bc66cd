/*
 * The route table of tesserad and the operational endpoints (API.md §7).  Later
 * endpoints (token, validate, introspect, admin) add their rows here.
 */
#include "autoconfig.h"

#include "proto/handlers.h"
#include "proto/router.h"

static void health_live(const struct proto_ctx *ctx, const struct proto_request *req,
                        struct proto_response *res)
{
    proto_response_json(res, 200, "{\"status\":\"ok\"}");
}

static void health_ready(const struct proto_ctx *ctx, const struct proto_request *req,
                         struct proto_response *res)
{
    if (ctx->ready)
        proto_response_json(res, 200, "{\"status\":\"ready\"}");
    else
        proto_response_error(res, 503, "temporarily_unavailable", "the server is starting");
}

const struct proto_route proto_routes[] = {
    {HTTP_GET, "/healthz", health_live},
    {HTTP_GET, "/readyz", health_ready},
    {HTTP_POST, "/oauth2/token", proto_token_endpoint},
    {HTTP_POST, "/token", proto_token_endpoint},          /* WSO2 */
    {HTTP_POST, "/access_token", proto_token_endpoint},   /* thephpleague */
    {HTTP_POST, "/auth/token", proto_token_endpoint},     /* Aidbox */
    {HTTP_POST, "/.oidc/token", proto_token_endpoint},    /* Community Solid Server */
    {HTTP_GET, "/oauth2/validate", proto_validate_endpoint},
    {HTTP_POST, "/oauth2/introspect", proto_introspect_endpoint},
    {HTTP_POST, "/oauth2/revoke", proto_revoke_endpoint},
    {HTTP_DELETE, "/Session", proto_session_delete},      /* Aidbox */
};

const size_t proto_nroutes = sizeof(proto_routes) / sizeof(proto_routes[0]);
