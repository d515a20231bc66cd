/*
 * The route table of tesserad: every endpoint, by method and path (API.md).  A new
 * endpoint is a row here and a handler in the folder of its concern.
 */
#include "autoconfig.h"

#include "proto/admin/admin.h"
#include "proto/http/router.h"
#include "proto/oauth/discovery.h"
#include "proto/oauth/handlers.h"
#include "proto/ops/ops.h"

const struct proto_route proto_routes[] = {
    {HTTP_GET, "/healthz", proto_health_live},
    {HTTP_GET, "/readyz", proto_health_ready},
    {HTTP_GET, "/metrics", proto_metrics_endpoint},
    {HTTP_POST, "/oauth2/token", proto_token_endpoint},
    {HTTP_POST, "/token", proto_token_endpoint},        /* WSO2 */
    {HTTP_POST, "/access_token", proto_token_endpoint}, /* thephpleague */
    {HTTP_POST, "/auth/token", proto_token_endpoint},   /* Aidbox */
    {HTTP_POST, "/.oidc/token", proto_token_endpoint},  /* Community Solid Server */
    {HTTP_GET, "/oauth2/validate", proto_validate_endpoint},
    {HTTP_POST, "/oauth2/introspect", proto_introspect_endpoint},
    {HTTP_POST, "/oauth2/revoke", proto_revoke_endpoint},
    {HTTP_DELETE, "/Session", proto_session_delete}, /* Aidbox */
    {HTTP_GET, "/.well-known/oauth-authorization-server", proto_discovery_endpoint},
    {HTTP_GET, "/.well-known/openid-configuration", proto_discovery_endpoint},
    {HTTP_GET, "/oauth2/jwks", proto_jwks_endpoint},
    {HTTP_POST, "/admin/keys/rotate", proto_admin_keys_rotate},
    {HTTP_GET, "/admin/clients", proto_admin_clients_list},
    {HTTP_POST, "/admin/clients", proto_admin_clients_create},
    {HTTP_GET, "/admin/clients/*", proto_admin_client_get},
    {HTTP_PUT, "/admin/clients/*", proto_admin_client_put},
    {HTTP_DELETE, "/admin/clients/*", proto_admin_client_delete},
    {HTTP_POST, "/admin/clients/*", proto_admin_client_post}, /* {id}/secret */
    {HTTP_GET, "/admin/sessions", proto_admin_sessions_list},
};

const size_t proto_nroutes = sizeof(proto_routes) / sizeof(proto_routes[0]);
