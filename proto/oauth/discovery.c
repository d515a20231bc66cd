/*
 * Discovery and key endpoints (see discovery.h).  Pure.  The metadata depends only on the
 * configuration, so the master builds it once before fork; the JWK Set comes from the
 * worker's key cache, rebuilt only when the keys change or a retired key leaves it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/jose/keys.h"
#include "proto/jsonw.h"
#include "proto/oauth/client_auth.h"
#include "proto/oauth/discovery.h"
#include "proto/oauth/scope.h"

static int discovery_url(struct proto_buf *b, const char *name, const char *issuer,
                         const char *path)
{
    size_t n = strlen(issuer);
    int rc;

    while (n && issuer[n - 1] == '/')
        n--;
    rc = proto_jsonw_kv_raw(b, name, "");
    rc |= proto_buf_append(b, "\"", 1);
    /* The issuer is a URL we were configured with: no character JSON must escape. */
    rc |= proto_buf_append(b, issuer, n);
    rc |= proto_buf_append_str(b, path);
    rc |= proto_buf_append(b, "\"", 1);
    return rc ? -ENOMEM : 0;
}

/* ,"name":[…]: the client authentication methods, the same at every endpoint that
 * authenticates clients. */
static int discovery_auth_methods(struct proto_buf *b, const char *name)
{
    int rc = proto_jsonw_kv_raw(b, name, "");

    return rc < 0 ? -ENOMEM : proto_client_auth_methods_json(b);
}

int proto_discovery_build(const struct proto_config *cfg, struct proto_buf *b)
{
    const char *iss = cfg->issuer ? cfg->issuer : "";
    int rc = proto_buf_append(b, "{", 1);

    for (const char *p = iss; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return -EINVAL;
    rc |= proto_jsonw_kv_str(b, "issuer", iss, strlen(iss));
    rc |= discovery_url(b, "token_endpoint", iss, "/oauth2/token");
    rc |= discovery_url(b, "introspection_endpoint", iss, "/oauth2/introspect");
    rc |= discovery_url(b, "revocation_endpoint", iss, "/oauth2/revoke");
    rc |= discovery_url(b, "jwks_uri", iss, "/oauth2/jwks");
    rc |= proto_jsonw_kv_raw(b, "grant_types_supported",
                             "[\"client_credentials\",\"refresh_token\"]");
    rc |= discovery_auth_methods(b, "token_endpoint_auth_methods_supported");
    rc |= discovery_auth_methods(b, "introspection_endpoint_auth_methods_supported");
    rc |= discovery_auth_methods(b, "revocation_endpoint_auth_methods_supported");
    rc |= proto_jsonw_kv_raw(b, "dpop_signing_alg_values_supported",
                             "[\"ES256\",\"EdDSA\",\"RS256\"]");
    rc |= proto_jsonw_kv_raw(b, "response_types_supported", "[]");
    if (cfg->scopes_supported && cfg->scopes_supported[0])
        rc |= proto_scope_list_json(b, "scopes_supported", cfg->scopes_supported);
    rc |= proto_buf_append(b, "}", 1);
    return rc ? -ENOMEM : 0;
}

static void discovery_public(struct proto_response *res, const char *max_age)
{
    char cc[48];

    snprintf(cc, sizeof(cc), "public, max-age=%s", max_age);
    res->status = 200;
    res->content_type = "application/json";
    proto_response_header(res, "Cache-Control", cc);
}

void proto_discovery_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_response *res)
{
    const struct proto_config *cfg = ctx->cfg;
    int rc;

    proto_buf_reset(&res->body);
    if (cfg->metadata)
        rc = proto_buf_append(&res->body, cfg->metadata, cfg->metadata_len);
    else
        rc = proto_discovery_build(cfg, &res->body);
    if (rc < 0) {
        proto_response_error(res, 500, "server_error", "the metadata cannot be built");
        return;
    }
    discovery_public(res, PROTO_METADATA_MAX_AGE);
}

void proto_jwks_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                         struct proto_response *res)
{
    const struct proto_buf *jwks = proto_keys_jwks(ctx);

    proto_buf_reset(&res->body);
    if (jwks == NULL || proto_buf_append(&res->body, jwks->data, jwks->len) < 0) {
        proto_response_error(res, 500, "server_error", "the key set cannot be built");
        return;
    }
    discovery_public(res, PROTO_JWKS_MAX_AGE);
}
