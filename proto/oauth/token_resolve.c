/*
 * Token resolution (see token_resolve.h): the table first, then, for a JWT and only when
 * tokens.jwt_verify_unknown is set, its signature.  A verified JWT is inserted with
 * insert-unique, so of two workers that see it at once (or one revoking it) at most one
 * entry exists: a revocation can never hide behind a twin.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto/jose/jwt.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/token_resolve.h"
#include "proto/oauth/tokens.h"
#include "shm/intern.h"
#include "shm/scope.h"
#include "shm/stats.h"

/* The scope of a verified JWT as bits over its client's scope base; when the client has
 * lost a scope since the token was issued, over the token's own (canonical) text, which is
 * then interned.  0, -ENOENT (a scope that is not one), or -ENOSPC. */
static int resolve_scope(const struct proto_ctx *ctx, const struct shm_client *client,
                         const char *scope, struct shm_token *t)
{
    char base[PROTO_SCOPE_MAX + 1];
    int64_t id;
    int n;

    proto_interned(ctx, client->scope_base, base, sizeof(base));
    if (shm_scope_bits_of(base, strlen(base), scope, strlen(scope), &t->scope_bits) == 0) {
        t->scope = client->scope_base;
        return 0;
    }
    n = shm_scope_canon(scope, strlen(scope), base, sizeof(base));
    if (n < 0)
        return -ENOENT;
    id = shm_intern_put(ctx->region, base, (size_t)n, ctx->owner);
    if (id < 0)
        return -ENOSPC;
    t->scope = (uint32_t)id;
    return shm_scope_bits_of(base, (size_t)n, base, (size_t)n, &t->scope_bits);
}

/* The table entry of a verified JWT, for the client found as slot/gen. */
static int resolve_entry(const struct proto_ctx *ctx, const struct proto_jwt_verified *v,
                         const struct shm_client *client, uint64_t slot, uint32_t gen,
                         struct shm_token *t)
{
    int64_t aud = shm_intern_put(ctx->region, v->aud, strlen(v->aud), ctx->owner);
    int rc = resolve_scope(ctx, client, v->scope, t);

    if (rc < 0)
        return rc;
    if (aud < 0)
        return -ENOSPC;
    t->client_slot = (uint32_t)slot;
    t->client_gen = gen;
    t->audience = (uint32_t)aud;
    t->iat = v->iat;
    t->exp = v->exp;
    t->kind = SHM_TOKEN_ACCESS;
    t->flags = SHM_TOKEN_JWT | (v->bound ? SHM_TOKEN_DPOP : 0);
    if (v->bound)
        memcpy(t->jkt, v->jkt, sizeof(t->jkt));
    return 0;
}

static int resolve_jwt(const struct proto_ctx *ctx, const char *token, size_t len,
                       struct shm_token *t, struct shm_client *client)
{
    struct proto_jwt_verified v;
    uint32_t gen;
    int64_t slot, rc;

    if (proto_jwt_verify(ctx, token, len, &v) < 0)
        return -ENOENT;
    slot = shm_client_find(ctx->region, v.client_id, strlen(v.client_id), client, &gen);
    /* A client created after the token was issued is another client of the same id. */
    if (slot < 0 || v.iat < client->created)
        return -ENOENT;
    memset(t, 0, sizeof(*t));
    proto_token_hash(token, len, t->hash);
    rc = resolve_entry(ctx, &v, client, (uint64_t)slot, gen, t);
    if (rc < 0)
        return (int)rc;
    rc = shm_token_insert_unique(ctx->region, t, ctx->owner);
    if (rc == -EEXIST) {
        /* Another worker recorded it first (perhaps revoked): theirs is the truth. */
        if (proto_token_find(ctx, token, len, t) == 0)
            return shm_client_read(ctx->region, t->client_slot, client, NULL) == 0 ? 0 : -ENOENT;
        return 1;
    }
    return rc < 0 ? 1 : 0;
}

int proto_token_resolve(const struct proto_ctx *ctx, const char *token, size_t len,
                        struct shm_token *t, struct shm_client *client)
{
    if (proto_token_find(ctx, token, len, t) == 0)
        return shm_client_read(ctx->region, t->client_slot, client, NULL) == 0 ? 0 : -ENOENT;
    if (!proto_jwt_shaped(token, len))
        return -ENOENT;
    /* Every JWT this server issued is in the table (recovery loads them, revoked ones too),
     * so one it does not know was not issued here, or has expired: refused without
     * spending a signature verification on it.  Servers sharing keys verify instead. */
    if (!ctx->cfg->jwt_verify_unknown) {
        shm_stats_add(ctx->region->stats, ctx->owner, SHM_STAT_JWT_UNKNOWN);
        return -ENOENT;
    }
    return resolve_jwt(ctx, token, len, t, client);
}

const char *proto_bearer(const struct proto_request *req, size_t *len)
{
    const char *token = proto_request_credentials(req, "Bearer", len);

    return token ? token : proto_request_credentials(req, "DPoP", len);
}
