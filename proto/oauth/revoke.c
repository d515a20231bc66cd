/*
 * Token revocation: POST /oauth2/revoke (RFC 7009), client-authenticated, which revokes
 * only the caller's own tokens and answers 200 with an empty body whatever the token was;
 * and Aidbox's DELETE /Session, where the bearer of a token revokes it.  Revoking a
 * refresh token ends every token of its grant.  The token's entry is freed (or flagged,
 * for a JWT while unknown JWTs are verified: its entry is what refuses it) in shared
 * memory, so every worker refuses the token from the next request on; a JWT the table did
 * not know is verified and recorded first in that case, so its signature alone never makes
 * it valid again.
 */
#include "autoconfig.h"

#include <errno.h>

#include "proto/oauth/handlers.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/token_resolve.h"
#include "proto/oauth/tokens.h"

/* RFC 7009 §2.2.1: a revocation that cannot be recorded now (the token table is full). */
static void revoke_unavailable(struct proto_response *res, enum proto_auth_method method)
{
    proto_oauth_error(res, 503, "temporarily_unavailable",
                      "the revocation cannot be recorded now: the token table is full", method);
    proto_response_header(res, "Retry-After", "10");
}

void proto_revoke_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                           struct proto_response *res)
{
    struct proto_client caller;
    const struct proto_param *p;
    struct shm_client owner;
    struct shm_token t;
    int rc;

    p = proto_oauth_token_request(ctx, req, &caller, res);
    if (p == NULL)
        return;
    /* token_type_hint is only a hint: every kind lives in the same table. */
    rc = proto_token_resolve(ctx, p->value, p->len, &t, &owner);
    if (rc >= 0 && t.client_slot == caller.slot && t.client_gen == caller.gen) {
        if (rc > 0) {
            revoke_unavailable(res, caller.method);
            return;
        }
        if (proto_token_revoke_grant(ctx, &t) < 0) {
            revoke_unavailable(res, caller.method);
            return;
        }
    } else if (rc == -ENOSPC) {
        revoke_unavailable(res, caller.method);
        return;
    }
    res->status = 200;
    proto_oauth_nostore(res);
}

void proto_session_delete(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res)
{
    struct shm_client owner;
    struct shm_token t;
    size_t len;
    const char *token = proto_bearer(req, &len);
    int rc = token ? proto_token_resolve(ctx, token, len, &t, &owner) : -ENOENT;

    if (rc == -ENOSPC || rc > 0) {
        revoke_unavailable(res, PROTO_AUTH_NONE);
        return;
    }
    if (rc < 0 || shm_token_state(ctx->region, &t, ctx->now) != SHM_TOKEN_ACTIVE) {
        proto_response_error(res, 401, "invalid_token", "the token is unknown, expired or revoked");
        proto_response_header(res, "WWW-Authenticate",
                              "Bearer realm=\"tessera\", error=\"invalid_token\"");
        return;
    }
    if (proto_token_revoke_grant(ctx, &t) < 0) {
        revoke_unavailable(res, PROTO_AUTH_NONE);
        return;
    }
    proto_response_json(res, 200, "{}");
    proto_oauth_nostore(res);
}
