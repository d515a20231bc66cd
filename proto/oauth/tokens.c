/*
 * Tokens in the shared table as the endpoints handle them (see tokens.h).  Pure: the
 * table through ctx; revocations are reported to the journal, which makes them durable.
 */
#include "autoconfig.h"

#include <errno.h>

#include "proto/oauth/secret.h"
#include "proto/oauth/tokens.h"
#include "shm/table.h"

void proto_token_hash(const char *token, size_t len, uint8_t out[32])
{
    proto_sha256(token, len, out);
}

int proto_token_find(const struct proto_ctx *ctx, const char *token, size_t len,
                     struct shm_token *t)
{
    uint8_t h[32];

    proto_token_hash(token, len, h);
    return shm_token_lookup(ctx->region, h, t);
}

bool proto_token_kept_revoked(const struct proto_ctx *ctx, const struct shm_token *t)
{
    return (t->flags & SHM_TOKEN_JWT) && ctx->cfg->jwt_verify_unknown;
}

int proto_token_retire(const struct proto_ctx *ctx, const struct shm_entry *e)
{
    struct shm_token t;

    shm_token_decode(e->words, &t);
    if (proto_token_kept_revoked(ctx, &t))
        return shm_token_revoke_entry(ctx->region, e);
    return shm_token_remove_entry(ctx->region, e, ctx->owner);
}

struct grant_revoke {
    const struct proto_ctx *ctx;
    uint64_t family;
    int rc;
};

static int grant_visit(const struct shm_entry *e, void *arg)
{
    struct grant_revoke *g = arg;
    struct shm_token tok;

    shm_token_decode(e->words, &tok);
    if (tok.parent == g->family && !e->revoked && proto_token_retire(g->ctx, e) == 0 &&
        proto_journal_token_revoked(g->ctx, tok.hash) < 0)
        g->rc = -EIO;
    return 0;
}

int proto_token_revoke_grant(const struct proto_ctx *ctx, const struct shm_token *t)
{
    struct grant_revoke g = {ctx, t->parent, 0};
    struct shm_entry e;

    while (shm_table_lookup(ctx->region->tokens, t->hash, &e) == 0 &&
           proto_token_retire(ctx, &e) == -EAGAIN)
        ;
    if (proto_journal_token_revoked(ctx, t->hash) < 0)
        g.rc = -EIO;
    /* Every token of a refresh grant carries the grant's family in `parent`; revoking the
     * refresh token ends them all (RFC 7009 §2.1).  A full scan: revocations are rare. */
    if (t->kind == SHM_TOKEN_REFRESH && t->parent)
        shm_table_iterate(ctx->region->tokens, grant_visit, &g, ctx->owner);
    return g.rc;
}

void proto_token_id(const struct shm_token *t, char out[24])
{
    proto_b64url_encode(t->hash, 16, out);
}
