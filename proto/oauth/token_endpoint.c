/*
 * The token endpoint (RFC 6749 §4.4 client credentials, §6 refresh) at /oauth2/token and
 * the seed systems' paths.  Issues opaque tokens (256 random bits, only their SHA-256 kept)
 * or RFC 9068 JWTs per client, records every token in the shared table, and rotates
 * refresh tokens: the one used stops working, its grant's access tokens stay valid.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proto/jose/jwt.h"
#include "proto/jsonw.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/handlers.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/secret.h"
#include "proto/oauth/token_limit.h"
#include "proto/oauth/tokens.h"
#include "shm/client_tokens.h"
#include "shm/intern.h"
#include "shm/scope.h"

/* What one successful grant issues. */
struct grant {
    struct proto_client client;
    char scope[PROTO_SCOPE_MAX + 1]; /* canonical: the base's tokens, in its order */
    int scope_len;
    struct shm_scope_bits bits; /* the granted scope over the client's scope base */
    char aud[PROTO_SCOPE_MAX + 1];
    uint32_t ttl;
    uint64_t family; /* refresh grant family, 0: none */
    bool with_refresh;
    bool use_refresh;           /* a refresh grant: `used` is to be used up */
    uint8_t used[32];           /* the hash of the presented refresh token */
    struct shm_token issued[2]; /* in the table, not yet journaled (token_settle) */
    int nissued;
};

static void token_fail(struct proto_response *res, int status, const char *error, const char *why,
                       const struct grant *g)
{
    proto_oauth_error(res, status, error, why, g ? g->client.method : PROTO_AUTH_NONE);
}

/* The scope asked for (normalised, a subset of `limit`), or `fallback` when none was, as
 * bits over the client's scope base: so any subset in any order is one entry value and one
 * canonical text, and nothing is interned per request.  A scope outside the base (the
 * client lost it since a refresh grant began) is refused with `narrowed`. */
static int token_scope(const struct proto_ctx *ctx, struct grant *g, const char *limit,
                       const char *fallback, const char *narrowed, struct proto_response *res)
{
    const struct proto_param *p = proto_params_get(ctx->params, "scope");
    char want[PROTO_SCOPE_MAX + 1], base[PROTO_SCOPE_MAX + 1];
    int n = (int)strlen(fallback);

    if (p == NULL)
        memcpy(want, fallback, (size_t)n + 1);
    else
        n = proto_scope_normalize(p->value, p->len, want, sizeof(want));
    if (n < 0) {
        token_fail(res, 400, "invalid_scope", "the scope is malformed or too long", g);
        return -EINVAL;
    }
    if (p && !proto_scope_subset(want, (size_t)n, limit, strlen(limit))) {
        token_fail(res, 400, "invalid_scope", "a requested scope is not allowed to this client", g);
        return -EINVAL;
    }
    proto_interned(ctx, g->client.rec.scope_base, base, sizeof(base));
    if (shm_scope_bits_of(base, strlen(base), want, (size_t)n, &g->bits) < 0) {
        token_fail(res, 400, "invalid_scope", narrowed, g);
        return -EINVAL;
    }
    /* Cannot fail: the text is at most its base, which fits the buffer. */
    g->scope_len = shm_scope_text(base, strlen(base), &g->bits, g->scope, sizeof(g->scope));
    return 0;
}

/* RFC 9068 §2.2 makes aud required in a JWT access token, and §3 says to use a default
 * resource when none was asked for: the client's first allowed audience, else this
 * server's issuer.  Opaque tokens keep no audience unless one was asked for. */
static void token_default_audience(const struct proto_ctx *ctx, struct grant *g,
                                   const char *allowed)
{
    size_t n = strcspn(allowed, " ");
    const char *dflt = n ? allowed : ctx->cfg->issuer;

    if (g->client.rec.token_format != PROTO_FORMAT_JWT)
        return;
    if (n == 0)
        n = strlen(dflt);
    if (n > PROTO_SCOPE_MAX)
        return;
    memcpy(g->aud, dflt, n);
    g->aud[n] = '\0';
}

/* audience (Aidbox) or resource (RFC 8707): one value, from the client's allowed list. */
static int token_audience(const struct proto_ctx *ctx, struct grant *g, struct proto_response *res)
{
    char allowed[PROTO_SCOPE_MAX + 1];
    const struct proto_param *a = proto_params_get(ctx->params, "audience");
    const struct proto_param *r = NULL;

    for (size_t i = 0; i < ctx->params->n; i++) {
        if (strcmp(ctx->params->p[i].name, "resource"))
            continue;
        if (r && (r->len != ctx->params->p[i].len ||
                  memcmp(r->value, ctx->params->p[i].value, r->len))) {
            token_fail(res, 400, "invalid_target", "one audience per token", g);
            return -EINVAL;
        }
        r = &ctx->params->p[i];
    }
    if (a && r && (a->len != r->len || memcmp(a->value, r->value, a->len))) {
        token_fail(res, 400, "invalid_target", "audience and resource differ", g);
        return -EINVAL;
    }
    if (a == NULL)
        a = r;
    g->aud[0] = '\0';
    proto_interned(ctx, g->client.rec.audiences, allowed, sizeof(allowed));
    if (a == NULL) {
        token_default_audience(ctx, g, allowed);
        return 0;
    }
    if (a->len == 0 || a->len > PROTO_SCOPE_MAX || memchr(a->value, ' ', a->len) ||
        !proto_scope_subset(a->value, a->len, allowed, strlen(allowed))) {
        token_fail(res, 400, "invalid_target", "the audience is not allowed to this client", g);
        return -EINVAL;
    }
    memcpy(g->aud, a->value, a->len);
    g->aud[a->len] = '\0';
    return 0;
}

/* validity_period (WSO2): the token lives min(validity_period, the client's maximum). */
static int token_ttl(const struct proto_ctx *ctx, struct grant *g, struct proto_response *res)
{
    const struct proto_param *p = proto_params_get(ctx->params, "validity_period");
    uint32_t max =
        g->client.rec.max_access_ttl ? g->client.rec.max_access_ttl : g->client.rec.access_ttl;
    char *end;
    long long v;

    g->ttl = g->client.rec.access_ttl;
    if (p == NULL)
        return 0;
    /* Digits only: strtoll alone would take "\t5", and "5%00x" (a NUL ends its scan). */
    v = strtoll(p->value, &end, 10);
    if (p->len == 0 || end != p->value + p->len || v <= 0 || p->value[0] < '0' ||
        p->value[0] > '9') {
        token_fail(res, 400, "invalid_request", "validity_period must be a positive number", g);
        return -EINVAL;
    }
    g->ttl = v < (long long)max ? (uint32_t)v : max;
    return 0;
}

/* Records a token in the shared table, and in g->issued for token_settle to journal.
 * -ENOSPC when the table is full (or its audience, never used before, cannot be interned). */
static int token_record(const struct proto_ctx *ctx, struct grant *g, const char *token, size_t len,
                        uint8_t kind, uint8_t flags, uint32_t ttl)
{
    struct shm_token t = {0};
    int rc;
    int64_t aud = shm_intern_put(ctx->region, g->aud, strlen(g->aud), ctx->owner);

    if (aud < 0)
        return -ENOSPC;
    proto_token_hash(token, len, t.hash);
    t.client_slot = (uint32_t)g->client.slot;
    t.client_gen = g->client.gen;
    t.scope = g->client.rec.scope_base;
    t.scope_bits = g->bits;
    t.audience = (uint32_t)aud;
    t.iat = ctx->now;
    t.exp = ctx->now + ttl;
    t.kind = kind;
    t.flags = flags;
    t.parent = g->family;
    t.seq = shm_client_tokens_next(ctx->region, g->client.slot);
    rc = shm_token_insert(ctx->region, &t, ctx->owner);
    if (rc == 0)
        g->issued[g->nissued++] = t;
    return rc;
}

/* Takes g's tokens out of the table again: they were never handed out. */
static void token_withdraw(const struct proto_ctx *ctx, struct grant *g)
{
    struct shm_entry e;

    for (int i = 0; i < g->nissued; i++) {
        do {
            if (shm_table_lookup(ctx->region->tokens, g->issued[i].hash, &e) < 0)
                break;
        } while (shm_token_remove_entry(ctx->region, &e, ctx->owner) == -EAGAIN);
    }
    g->nissued = 0;
}

/* Uses the presented refresh token up (its entry is freed) unless something else did
 * first: of two concurrent refreshes with one token, exactly one gets 0.  0 or -ENOENT. */
static int token_use_refresh(const struct proto_ctx *ctx, const uint8_t hash[32])
{
    struct shm_entry e;
    int rc;

    do {
        if (shm_table_lookup(ctx->region->tokens, hash, &e) < 0 || e.revoked)
            return -ENOENT;
        rc = proto_token_retire(ctx, &e);
    } while (rc == -EAGAIN);
    return rc < 0 ? -ENOENT : 0;
}

/* Settles a grant whose tokens are in the table: a refresh grant uses its refresh token up
 * only now, so a refresh that could not issue (a full table) leaves the grant intact; then
 * the changes are journaled.  0, -ENOENT (the refresh token was used or revoked
 * meanwhile) or -EIO (not journaled); on failure the new tokens are taken back. */
static int token_settle(const struct proto_ctx *ctx, struct grant *g)
{
    int rc = g->use_refresh ? token_use_refresh(ctx, g->used) : 0;

    if (rc == 0 && g->use_refresh && proto_journal_token_revoked(ctx, g->used) < 0)
        rc = -EIO;
    for (int i = 0; rc == 0 && i < g->nissued; i++)
        if (proto_journal_token_issued(ctx, &g->issued[i], g->client.rec.id, g->scope, g->aud) < 0)
            rc = -EIO;
    if (rc < 0)
        token_withdraw(ctx, g);
    return rc;
}

/* Puts g's access token (and refresh token) in the table and settles the grant.  0,
 * -ENOSPC, or token_settle's failures; on failure nothing of g stays in the table. */
static int token_store(const struct proto_ctx *ctx, struct grant *g, const char *access,
                       size_t access_len, const char *refresh)
{
    bool is_jwt = g->client.rec.token_format == PROTO_FORMAT_JWT;
    int rc = token_record(ctx, g, access, access_len, SHM_TOKEN_ACCESS, is_jwt ? SHM_TOKEN_JWT : 0,
                          g->ttl);

    if (rc == 0 && g->with_refresh)
        rc = token_record(ctx, g, refresh, PROTO_TOKEN_CHARS, SHM_TOKEN_REFRESH, 0,
                          g->client.rec.refresh_ttl ? g->client.rec.refresh_ttl
                                                    : ctx->cfg->default_refresh_ttl);
    if (rc < 0) {
        token_withdraw(ctx, g);
        return rc;
    }
    return token_settle(ctx, g);
}

static int token_mint_jwt(const struct proto_ctx *ctx, const struct grant *g, struct proto_buf *out)
{
    char jti[PROTO_TOKEN_CHARS + 1], webid[PROTO_SCOPE_MAX + 1];
    const struct shm_client *c = &g->client.rec;
    struct proto_jwt_claims cl = {
        .sub = c->subject ? proto_interned(ctx, c->subject, webid, sizeof(webid)) : c->id,
        .client_id = c->id,
        .scope = g->scope,
        .aud = g->aud[0] ? g->aud : NULL,
        .webid = c->subject ? webid : NULL,
        .iat = ctx->now,
        .exp = ctx->now + g->ttl,
        .jti = jti,
    };
    int rc = proto_random_token(jti);

    return rc < 0 ? rc : proto_jwt_mint(ctx, (int)c->jwt_alg, &cl, out);
}

/* A new refresh token into refresh; the first of a grant also starts its family. */
static int token_new_refresh(struct grant *g, char refresh[PROTO_TOKEN_CHARS + 1])
{
    uint8_t h[32];
    int rc = proto_random_token(refresh);

    if (rc == 0 && g->family == 0) {
        proto_token_hash(refresh, PROTO_TOKEN_CHARS, h);
        memcpy(&g->family, h, sizeof(g->family));
        g->family |= 1; /* never 0, which means "no grant" */
    }
    return rc;
}

/* A new access token: a JWT minted into jwt for a JWT client, else an opaque one written
 * into opaque.  0 with *access and *len, or a negative errno. */
static int token_new_access(const struct proto_ctx *ctx, struct grant *g,
                            char opaque[PROTO_TOKEN_CHARS + 1], struct proto_buf *jwt,
                            const char **access, size_t *len)
{
    int rc;

    if (g->client.rec.token_format != PROTO_FORMAT_JWT) {
        *access = opaque;
        *len = PROTO_TOKEN_CHARS;
        return proto_random_token(opaque);
    }
    /* Retired signing keys stay published max_access_ttl: no JWT may outlive that. */
    if (ctx->cfg->max_access_ttl && g->ttl > ctx->cfg->max_access_ttl)
        g->ttl = ctx->cfg->max_access_ttl;
    rc = token_mint_jwt(ctx, g, jwt);
    *access = jwt->data;
    *len = jwt->len;
    return rc;
}

/* The 200 answer of RFC 6749 §5.1 with the tokens issued. */
static void token_answer(const struct grant *g, const char *access, size_t access_len,
                         const char *refresh, struct proto_response *res)
{
    struct proto_buf *b = &res->body;

    proto_oauth_json_begin(res, 200);
    proto_jsonw_kv_str(b, "access_token", access, access_len);
    proto_jsonw_kv_str(b, "token_type", "Bearer", 6);
    proto_jsonw_kv_int(b, "expires_in", g->ttl);
    proto_jsonw_kv_str(b, "scope", g->scope, (size_t)g->scope_len);
    if (g->with_refresh)
        proto_jsonw_kv_str(b, "refresh_token", refresh, PROTO_TOKEN_CHARS);
    proto_buf_append(b, "}", 1);
}

/* Issues the access token (and refresh token) of g and writes the answer. */
static void token_issue(const struct proto_ctx *ctx, struct grant *g, struct proto_response *res)
{
    char refresh[PROTO_TOKEN_CHARS + 1], opaque[PROTO_TOKEN_CHARS + 1];
    struct proto_buf jwt = {0};
    const char *access;
    size_t access_len;
    int rc;

    if ((g->with_refresh && token_new_refresh(g, refresh) < 0) ||
        token_new_access(ctx, g, opaque, &jwt, &access, &access_len) < 0)
        goto fail;
    rc = token_store(ctx, g, access, access_len, refresh);
    if (rc == -ENOENT)
        token_fail(res, 400, "invalid_grant", "the refresh token was used or revoked meanwhile", g);
    else if (rc == -ENOSPC || rc == -EIO)
        token_fail(res, 503, "temporarily_unavailable",
                   rc == -EIO ? "the token could not be made durable" : "the token table is full",
                   g);
    else if (rc < 0)
        goto fail;
    else
        token_answer(g, access, access_len, refresh, res);
    goto done;
fail:
    token_fail(res, 500, "server_error", "the token could not be issued", g);
done:
    OPENSSL_cleanse(refresh, sizeof(refresh));
    OPENSSL_cleanse(opaque, sizeof(opaque));
    proto_buf_free(&jwt);
}

static void grant_client_credentials(const struct proto_ctx *ctx, struct grant *g,
                                     struct proto_response *res)
{
    char allowed[PROTO_SCOPE_MAX + 1], defaults[PROTO_SCOPE_MAX + 1];

    proto_interned(ctx, g->client.rec.scopes, allowed, sizeof(allowed));
    proto_interned(ctx, g->client.rec.default_scopes, defaults, sizeof(defaults));
    if (token_scope(ctx, g, allowed, defaults, "the client's default scopes are not allowed to it",
                    res) < 0 ||
        token_audience(ctx, g, res) < 0 || token_ttl(ctx, g, res) < 0)
        return;
    g->with_refresh = (g->client.rec.grant_types & PROTO_GRANT_REFRESH_TOKEN) != 0;
    if (proto_token_limit(ctx, &g->client, g->with_refresh ? 2 : 1, NULL, res) < 0)
        return;
    token_issue(ctx, g, res);
}

/* A refresh grant may not outlive a change of the client: what the admin took away from
 * it since (scopes: token_scope; the audience: here) is refused, as Hydra does, not
 * silently granted. */
static int token_still_allowed(const struct proto_ctx *ctx, struct grant *g,
                               struct proto_response *res)
{
    char allowed[PROTO_SCOPE_MAX + 1];

    /* The issuer is the default audience of a JWT client without audiences: never refused. */
    proto_interned(ctx, g->client.rec.audiences, allowed, sizeof(allowed));
    if (g->aud[0] && strcmp(g->aud, ctx->cfg->issuer) != 0 &&
        !proto_scope_subset(g->aud, strlen(g->aud), allowed, strlen(allowed))) {
        token_fail(res, 400, "invalid_target",
                   "the client is no longer allowed the audience of this grant", g);
        return -EINVAL;
    }
    return 0;
}

/* Finds the presented refresh token, which must be an active refresh token of the
 * client; it is used up only once the new tokens are in the table (token_settle). */
static int grant_find_refresh(const struct proto_ctx *ctx, struct grant *g, struct shm_token *old)
{
    const struct proto_param *p = proto_params_get(ctx->params, "refresh_token");

    if (p == NULL || p->len == 0)
        return -EINVAL;
    proto_token_hash(p->value, p->len, g->used);
    if (shm_token_lookup(ctx->region, g->used, old) < 0 || old->kind != SHM_TOKEN_REFRESH ||
        old->client_slot != g->client.slot ||
        shm_token_state(ctx->region, old, ctx->now) != SHM_TOKEN_ACTIVE)
        return -ENOENT;
    return 0;
}

static void grant_refresh(const struct proto_ctx *ctx, struct grant *g, struct proto_response *res)
{
    char granted[PROTO_SCOPE_MAX + 1];
    struct shm_token old;
    int rc = grant_find_refresh(ctx, g, &old);

    if (rc == -EINVAL) {
        token_fail(res, 400, "invalid_request", "refresh_token is required", g);
        return;
    }
    if (rc < 0) {
        token_fail(res, 400, "invalid_grant",
                   "the refresh token is unknown, expired, revoked or another client's", g);
        return;
    }
    shm_token_scope(ctx->region, &old, granted, sizeof(granted));
    proto_interned(ctx, old.audience, g->aud, sizeof(g->aud));
    if (token_scope(ctx, g, granted, granted,
                    "the client is no longer allowed a scope of this grant; ask for fewer",
                    res) < 0 ||
        token_still_allowed(ctx, g, res) < 0 || token_ttl(ctx, g, res) < 0)
        return;
    /* Only a request that is granted uses the refresh token up (token_settle): a typo in
     * scope or validity_period, a client at its limit or a full token table must not end
     * the client's grant.  The used token makes room for one of the two new ones, and is
     * not evicted for them. */
    if (proto_token_limit(ctx, &g->client, 1, old.hash, res) < 0)
        return;
    g->use_refresh = true;
    g->family = old.parent;
    g->with_refresh = true;
    token_issue(ctx, g, res);
}

void proto_token_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                          struct proto_response *res)
{
    struct grant g;
    const struct proto_param *gt;

    memset(&g, 0, sizeof(g));
    if (proto_oauth_params(ctx, req, res) < 0)
        return;
    gt = proto_params_get(ctx->params, "grant_type");
    if (gt == NULL) {
        token_fail(res, 400, "invalid_request", "grant_type is required", NULL);
        return;
    }
    if (proto_client_authenticate(ctx, req, &g.client, res) < 0)
        return;
    if (strcmp(gt->value, "client_credentials") == 0) {
        if (!(g.client.rec.grant_types & PROTO_GRANT_CLIENT_CREDENTIALS))
            token_fail(res, 400, "unauthorized_client",
                       "the client may not use the client_credentials grant", &g);
        else
            grant_client_credentials(ctx, &g, res);
    } else if (strcmp(gt->value, "refresh_token") == 0) {
        if (!(g.client.rec.grant_types & PROTO_GRANT_REFRESH_TOKEN))
            token_fail(res, 400, "unauthorized_client",
                       "the client may not use the refresh_token grant", &g);
        else
            grant_refresh(ctx, &g, res);
    } else {
        token_fail(res, 400, "unsupported_grant_type",
                   "grant_type must be client_credentials or refresh_token", &g);
    }
}
