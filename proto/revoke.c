/*
 * Token revocation: POST /oauth2/revoke (RFC 7009), client-authenticated, which revokes
 * only the caller's own tokens and answers 200 with an empty body whatever the token was;
 * and Aidbox's DELETE /Session, where the bearer of a token revokes it.  Revoking a
 * refresh token ends every token of its grant.  The flag is in shared memory, so every
 * worker refuses the token from the next request on.
 */
#include "autoconfig.h"

#include "proto/handlers.h"
#include "proto/oauth.h"

void proto_revoke_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                           struct proto_response *res)
{
    struct proto_client caller;
    const struct proto_param *p;
    struct shm_token t;

    if (proto_oauth_params(ctx, req, res) < 0 || proto_oauth_client(ctx, req, &caller, res) < 0)
        return;
    p = proto_params_get(ctx->params, "token");
    if (p == NULL) {
        proto_oauth_error(res, 400, "invalid_request", "token is required", caller.method);
        return;
    }
    /* token_type_hint is only a hint: every kind lives in the same table. */
    if (proto_token_find(ctx, p->value, p->len, &t) == 0 && t.client_slot == caller.slot &&
        t.client_gen == caller.gen)
        proto_token_revoke_grant(ctx, &t);
    res->status = 200;
    proto_oauth_nostore(res);
}

void proto_session_delete(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res)
{
    struct shm_token t;
    size_t len;
    const char *token = proto_bearer(req, &len);

    if (token == NULL || proto_token_find(ctx, token, len, &t) < 0 ||
        shm_token_state(ctx->region, &t, ctx->now) != SHM_TOKEN_ACTIVE) {
        proto_response_error(res, 401, "invalid_token", "the token is unknown, expired or revoked");
        proto_response_header(res, "WWW-Authenticate",
                              "Bearer realm=\"tessera\", error=\"invalid_token\"");
        return;
    }
    proto_token_revoke_grant(ctx, &t);
    proto_response_json(res, 200, "{}");
    proto_oauth_nostore(res);
}
