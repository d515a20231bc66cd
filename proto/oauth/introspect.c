/*
 * POST /oauth2/introspect (RFC 7662).  The caller authenticates as a client; a client with
 * can_introspect may ask about any token, any other only about its own.  Anything not
 * active, or not the caller's to see, is {"active":false}.
 */
#include "autoconfig.h"

#include <string.h>

#include "proto/jose/jwt.h"
#include "proto/jsonw.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/handlers.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/secret.h"
#include "proto/oauth/token_resolve.h"
#include "proto/oauth/tokens.h"

static void introspect_inactive(struct proto_response *res)
{
    proto_response_json(res, 200, "{\"active\":false}");
    proto_oauth_nostore(res);
}

static void introspect_answer(const struct proto_ctx *ctx, const struct shm_token *t,
                              const struct shm_client *owner, const char *jti,
                              struct proto_response *res)
{
    char scope[PROTO_SCOPE_MAX + 1], aud[PROTO_SCOPE_MAX + 1], sub[PROTO_SCOPE_MAX + 1];
    char thumb[64];
    struct proto_buf *b = &res->body;
    const char *subject, *type = (t->flags & SHM_TOKEN_DPOP) ? "DPoP" : "Bearer";

    shm_token_scope(ctx->region, t, scope, sizeof(scope));
    proto_interned(ctx, t->audience, aud, sizeof(aud));
    subject = owner->subject ? proto_interned(ctx, owner->subject, sub, sizeof(sub)) : owner->id;
    proto_oauth_json_begin(res, 200);
    proto_jsonw_kv_bool(b, "active", 1);
    proto_jsonw_kv_str(b, "scope", scope, strlen(scope));
    proto_jsonw_kv_str(b, "client_id", owner->id, strlen(owner->id));
    /* token_type is an access token type (RFC 7662 §2.2, RFC 6749 §7.1); a refresh token
     * has none, and says what it is in token_use, as Hydra and Keycloak do. */
    if (t->kind == SHM_TOKEN_REFRESH)
        proto_jsonw_kv_str(b, "token_use", "refresh_token", 13);
    else
        proto_jsonw_kv_str(b, "token_type", type, strlen(type));
    proto_jsonw_kv_int(b, "exp", t->exp);
    proto_jsonw_kv_int(b, "iat", t->iat);
    proto_jsonw_kv_str(b, "sub", subject, strlen(subject));
    if (aud[0])
        proto_jsonw_kv_str(b, "aud", aud, strlen(aud));
    proto_jsonw_kv_str(b, "iss", ctx->cfg->issuer, strlen(ctx->cfg->issuer));
    proto_jsonw_kv_str(b, "jti", jti, strlen(jti));
    if (t->flags & SHM_TOKEN_DPOP) {
        proto_b64url_encode(t->jkt, sizeof(t->jkt), thumb);
        proto_jsonw_kv_raw(b, "cnf", "{");
        proto_jsonw_kv_str(b, "jkt", thumb, strlen(thumb));
        proto_buf_append(b, "}", 1);
    }
    proto_buf_append(b, "}", 1);
}

void proto_introspect_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res)
{
    struct proto_client caller;
    struct shm_client owner;
    const struct proto_param *p;
    struct shm_token t;
    char jti[PROTO_JWT_JTI_MAX];

    p = proto_oauth_token_request(ctx, req, &caller, res);
    if (p == NULL)
        return;
    if (proto_token_resolve(ctx, p->value, p->len, &t, &owner) < 0 ||
        shm_token_state(ctx->region, &t, ctx->now) != SHM_TOKEN_ACTIVE ||
        (t.client_slot != caller.slot && !(caller.rec.flags & PROTO_CLIENT_CAN_INTROSPECT))) {
        introspect_inactive(res);
        return;
    }
    /* A JWT's own jti; for an opaque token a stable, non-reversible id from its hash. */
    if (!(t.flags & SHM_TOKEN_JWT) || proto_jwt_jti(p->value, p->len, jti, sizeof(jti)) < 0)
        proto_token_id(&t, jti);
    introspect_answer(ctx, &t, &owner, jti, res);
}
