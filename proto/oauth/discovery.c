/*
 * Discovery and key endpoints (see discovery.h).  Pure.  The metadata depends only on the
 * configuration, so the master builds it once before fork; the JWK Set comes from the
 * worker's key cache, rebuilt only when the keys change or a retired key leaves it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/oauth/discovery.h"
#include "proto/jsonw.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"

#define AUTH_METHODS "[\"client_secret_basic\",\"client_secret_post\"]"

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
    return rc ? -1 : 0;
}

int proto_discovery_build(const struct proto_config *cfg, struct proto_buf *b)
{
    const char *iss = cfg->issuer ? cfg->issuer : "";
    int rc = proto_buf_append(b, "{", 1);

    for (const char *p = iss; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return -1;
    rc |= proto_jsonw_kv_str(b, "issuer", iss, strlen(iss));
    rc |= discovery_url(b, "token_endpoint", iss, "/oauth2/token");
    rc |= discovery_url(b, "introspection_endpoint", iss, "/oauth2/introspect");
    rc |= discovery_url(b, "revocation_endpoint", iss, "/oauth2/revoke");
    rc |= discovery_url(b, "jwks_uri", iss, "/oauth2/jwks");
    rc |= proto_jsonw_kv_raw(b, "grant_types_supported",
                             "[\"client_credentials\",\"refresh_token\"]");
    rc |= proto_jsonw_kv_raw(b, "token_endpoint_auth_methods_supported", AUTH_METHODS);
    rc |= proto_jsonw_kv_raw(b, "introspection_endpoint_auth_methods_supported", AUTH_METHODS);
    rc |= proto_jsonw_kv_raw(b, "revocation_endpoint_auth_methods_supported", AUTH_METHODS);
    rc |= proto_jsonw_kv_raw(b, "dpop_signing_alg_values_supported",
                             "[\"ES256\",\"EdDSA\",\"RS256\"]");
    rc |= proto_jsonw_kv_raw(b, "response_types_supported", "[]");
    if (cfg->scopes_supported && cfg->scopes_supported[0])
        rc |= proto_scope_list_json(b, "scopes_supported", cfg->scopes_supported);
    rc |= proto_buf_append(b, "}", 1);
    return rc ? -1 : 0;
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

/* The algorithms to rotate, from `alg` in the body or the query: bit 1 << alg each. */
static int rotate_mask(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res, unsigned *mask)
{
    const struct proto_param *p = NULL;
    int alg;

    *mask = (1u << PROTO_JWT_ALGS) - 1;
    if (req->body.len) {
        if (proto_oauth_params(ctx, req, res) < 0)
            return -1;
        p = proto_params_get(ctx->params, "alg");
    }
    if (p == NULL && req->query.len) {
        ctx->params->arena = ctx->arena;
        if (proto_form_parse(proto_span_ptr(req, req->query), req->query.len, ctx->params) < 0)
            goto bad;
        p = proto_params_get(ctx->params, "alg");
    }
    if (p == NULL || strcmp(p->value, "all") == 0)
        return 0;
    alg = proto_jwt_alg_parse(p->value);
    if (alg < 0)
        goto bad;
    *mask = 1u << alg;
    return 0;
bad:
    proto_response_error(res, 400, "invalid_request", "alg must be ES256, EdDSA, RS256 or all");
    return -1;
}

static void rotate_refuse(struct proto_response *res, int rc)
{
    if (rc == -EBUSY) {
        proto_response_error(res, 503, "temporarily_unavailable",
                             "another key rotation is in progress");
        proto_response_header(res, "Retry-After", "1");
    } else if (rc == -ENOSPC) {
        proto_response_error(res, 503, "temporarily_unavailable",
                             "too many keys are still published: retry when retired keys expire");
        proto_response_header(res, "Retry-After", "60");
    } else if (rc == -EIO) {
        proto_response_error(res, 500, "server_error", "the new key could not be stored");
    } else {
        proto_response_error(res, 500, "server_error", "the new key could not be generated");
    }
}

void proto_admin_keys_rotate(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res)
{
    unsigned mask;
    int rc;

    if (proto_admin_check(ctx, req, res) < 0 || rotate_mask(ctx, req, res, &mask) < 0)
        return;
    rc = proto_keys_rotate(ctx, mask);
    if (rc < 0) {
        rotate_refuse(res, rc);
        return;
    }
    res->status = 200;
    res->content_type = "application/json";
    proto_oauth_nostore(res);
    proto_buf_reset(&res->body);
    if (proto_keys_list(ctx, &res->body) < 0)
        proto_response_error(res, 500, "server_error", "the key list cannot be built");
}
