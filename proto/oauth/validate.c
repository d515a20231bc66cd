/*
 * GET /oauth2/validate: the gateways' fast path.  The holder of a token asks whether it
 * is active and, optionally, carries given scopes (`scope=a%20b`, all required) and an
 * audience.  One SHA-256, one table lookup, one client read; no caller authentication
 * (a JWT the table does not know is refused without verifying it, unless
 * tokens.jwt_verify_unknown).
 * Answers 200 with Tessera-Client-Id, Tessera-Scope and Tessera-Subject headers for
 * auth_request to copy upstream, or 401/403 with RFC 6750 WWW-Authenticate.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/jsonw.h"
#include "proto/oauth/handlers.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/token_resolve.h"

static void validate_refuse(struct proto_response *res, int status, const char *error,
                            const char *why)
{
    char challenge[160];

    proto_response_error(res, status, error, why);
    snprintf(challenge, sizeof(challenge), "Bearer realm=\"tessera\", error=\"%s\"", error);
    proto_response_header(res, "WWW-Authenticate", challenge);
}

/* The scope and audience requirements of the query: 0, or -EACCES (unmet) or -EINVAL
 * (malformed). */
static int validate_requirements(const struct proto_ctx *ctx, const struct proto_request *req,
                                 const char *scope, const char *aud)
{
    const struct proto_param *p;

    if (req->query.len == 0)
        return 0;
    if (proto_oauth_query(ctx, req) < 0)
        return -EINVAL;
    p = proto_params_get(ctx->params, "scope");
    if (p && !proto_scope_subset(p->value, p->len, scope, strlen(scope)))
        return -EACCES;
    p = proto_params_get(ctx->params, "audience");
    if (p && (p->len != strlen(aud) || memcmp(p->value, aud, p->len) != 0))
        return -EACCES;
    return 0;
}

static void validate_answer(const struct proto_ctx *ctx, const struct shm_token *t,
                            const struct shm_client *c, const char *scope,
                            struct proto_response *res)
{
    char sub[PROTO_SCOPE_MAX + 1];
    struct proto_buf *b = &res->body;
    const char *subject = c->subject ? proto_interned(ctx, c->subject, sub, sizeof(sub)) : c->id;

    res->status = 200;
    res->content_type = "application/json";
    proto_buf_reset(b);
    proto_buf_append(b, "{", 1);
    proto_jsonw_kv_bool(b, "active", 1);
    proto_jsonw_kv_str(b, "client_id", c->id, strlen(c->id));
    proto_jsonw_kv_str(b, "scope", scope, strlen(scope));
    proto_jsonw_kv_int(b, "exp", t->exp);
    proto_jsonw_kv_str(b, "sub", subject, strlen(subject));
    proto_buf_append(b, "}", 1);
    /* Our ids and scopes are printable ASCII without CR/LF: safe as header values. */
    proto_response_header(res, "Tessera-Client-Id", c->id);
    proto_response_header(res, "Tessera-Scope", scope);
    proto_response_header(res, "Tessera-Subject", subject);
    proto_response_header(res, "Cache-Control", "no-store");
}

void proto_validate_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res)
{
    char scope[PROTO_SCOPE_MAX + 1], aud[PROTO_SCOPE_MAX + 1];
    struct shm_client c;
    struct shm_token t;
    size_t len;
    const char *token = proto_bearer(req, &len);
    int rc;

    if (token == NULL) {
        proto_response_error(res, 401, "invalid_request", "a Bearer token is required");
        proto_response_header(res, "WWW-Authenticate", "Bearer realm=\"tessera\"");
        return;
    }
    if (proto_token_resolve(ctx, token, len, &t, &c) < 0 || t.kind != SHM_TOKEN_ACCESS ||
        shm_token_state(ctx->region, &t, ctx->now) != SHM_TOKEN_ACTIVE) {
        validate_refuse(res, 401, "invalid_token", "the token is unknown, expired or revoked");
        return;
    }
    shm_token_scope(ctx->region, &t, scope, sizeof(scope));
    proto_interned(ctx, t.audience, aud, sizeof(aud));
    rc = validate_requirements(ctx, req, scope, aud);
    if (rc == -EINVAL) {
        validate_refuse(res, 400, "invalid_request", "the query string is malformed");
        return;
    }
    if (rc < 0) {
        validate_refuse(res, 403, "insufficient_scope",
                        "the token lacks a required scope or audience");
        return;
    }
    validate_answer(ctx, &t, &c, scope, res);
}
