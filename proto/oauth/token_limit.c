/*
 * Per-client limits on live tokens, so that one client asking for a token on every call
 * cannot fill the shared table and leave every other client with 503.  A client may hold
 * its max_live_tokens (or tokens.max_live_per_client) tokens in the table, access and
 * refresh alike; a grant that would go past it first makes room by revoking the client's
 * oldest live tokens — freeing their entries, recorded in the log like any revocation —
 * under tokens.limit_policy = evict, or is answered 429 with Retry-After until the oldest
 * expires under refuse.
 * Counting and the order of a client's tokens are shm/client_tokens.c's.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>

#include "proto/oauth/oauth.h"
#include "proto/oauth/token_limit.h"
#include "proto/oauth/tokens.h"
#include "shm/client_tokens.h"
#include "shm/stats.h"

/* Evictions one grant may make: its own room (two tokens at most) and what other workers
 * issued for the client meanwhile.  Past them it goes on: a limit passed by a few tokens
 * while others race is still a limit, and a request must not spin. */
#define LIMIT_EVICTIONS 8

static uint32_t limit_of(const struct proto_ctx *ctx, const struct proto_client *c)
{
    if (c->rec.max_live_tokens)
        return c->rec.max_live_tokens;
    /* 0 only where no master filled the settings (tests, tools): no limit. */
    return ctx->cfg->max_live_per_client ? ctx->cfg->max_live_per_client : UINT32_MAX;
}

/* 429 until the oldest live token expires at exp (0: not known, try again soon). */
static void limit_refuse(const struct proto_ctx *ctx, const struct proto_client *c, int64_t exp,
                         struct proto_response *res)
{
    char retry[24];

    shm_stats_add(ctx->region->stats, ctx->owner, SHM_STAT_LIMIT_REFUSE);
    proto_oauth_error(res, 429, "temporarily_unavailable",
                      "the client holds as many live tokens as it may: try again when one "
                      "expires, or revoke one",
                      c->method);
    snprintf(retry, sizeof(retry), "%lld", (long long)(exp > ctx->now ? exp - ctx->now : 1));
    proto_response_header(res, "Retry-After", retry);
}

/* Revokes the token found as e, durably, freeing its entry.  0 (revoked, or changed
 * meanwhile: look again), or -EIO with 503 written. */
static int limit_evict(const struct proto_ctx *ctx, const struct proto_client *c,
                       const struct shm_entry *e, struct proto_response *res)
{
    if (proto_token_retire(ctx, e) < 0)
        return 0;
    if (proto_journal_token_revoked(ctx, (const uint8_t *)e->words) < 0) {
        proto_oauth_error(res, 503, "temporarily_unavailable",
                          "the client's oldest token could not be revoked durably", c->method);
        return -EIO;
    }
    shm_stats_add(ctx->region->stats, ctx->owner, SHM_STAT_LIMIT_EVICT);
    return 0;
}

int proto_token_limit(const struct proto_ctx *ctx, const struct proto_client *c, unsigned n,
                      const uint8_t *skip, struct proto_response *res)
{
    uint32_t limit = limit_of(ctx, c);
    struct shm_entry e;
    struct shm_token t;

    for (int i = 0; i < LIMIT_EVICTIONS; i++) {
        uint64_t live = shm_client_tokens_live(ctx->region, c->slot, c->gen);
        int rc;

        /* A client holding nothing gets its grant's pair even under a limit of one. */
        if (live + n <= limit || live == 0)
            return 0;
        /* The walk also frees the oldest tokens that have expired: look at the count again. */
        rc = shm_client_tokens_oldest(ctx->region, c->slot, c->gen, ctx->now, skip, ctx->owner, &e);
        if (shm_client_tokens_live(ctx->region, c->slot, c->gen) + (uint64_t)n <= limit)
            return 0;
        if (rc < 0) { /* nothing found to evict nor to wait for: the count is all there is */
            limit_refuse(ctx, c, 0, res);
            return -EAGAIN;
        }
        shm_token_decode(e.words, &t);
        /* A JWT whose revoked entry must stay until it expires frees no room: refused. */
        if (ctx->cfg->limit_policy == PROTO_LIMIT_REFUSE || proto_token_kept_revoked(ctx, &t)) {
            limit_refuse(ctx, c, t.exp, res);
            return -EAGAIN;
        }
        rc = limit_evict(ctx, c, &e, res);
        if (rc < 0)
            return rc;
    }
    return 0;
}
