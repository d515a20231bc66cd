/*
 * Failed-authentication limits (see auth_limit.h).  Pure: the counters live in the shared
 * region reached through ctx; the keys are SHA-256 of what they count, so one sketch
 * holds all three kinds without a key of one kind standing for one of another.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "proto/oauth/auth_limit.h"
#include "proto/oauth/secret.h"
#include "shm/ratelimit.h"

void proto_auth_limit_keys(const struct proto_ctx *ctx, const uint8_t id_hash[32],
                           struct proto_auth_limit *l)
{
    uint8_t both[64];

    /* The client key hashes the id's hash; the address key (the worker's) hashes "ip:"
     * and the address: neither input can be the other's. */
    proto_sha256(id_hash, 32, l->client);
    l->has_address = ctx->peer_key != NULL;
    if (!l->has_address)
        return;
    memcpy(l->address, ctx->peer_key, 32);
    memcpy(both, id_hash, 32);
    memcpy(both + 32, ctx->peer_key, 32);
    proto_sha256(both, sizeof(both), l->pair);
}

static uint32_t limit_minute(const struct proto_ctx *ctx)
{
    return (uint32_t)(ctx->now / 60);
}

static bool limit_over(const struct proto_ctx *ctx, const uint8_t key[32], uint32_t max)
{
    return shm_ratelimit_count(ctx->region, key, limit_minute(ctx)) >= max;
}

/* 429 until the minute the failures were counted in is over. */
static void limit_refuse(const struct proto_ctx *ctx, struct proto_response *res)
{
    char retry[16];

    proto_response_error(res, 429, "temporarily_unavailable",
                         "too many failed authentications: try again later");
    snprintf(retry, sizeof(retry), "%d", (int)(60 - ctx->now % 60));
    proto_response_header(res, "Retry-After", retry);
}

bool proto_auth_limit_address(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                              struct proto_response *res)
{
    const struct proto_config *cfg = ctx->cfg;

    if (!l->has_address || (!limit_over(ctx, l->pair, cfg->auth_fail_per_client_address) &&
                            !limit_over(ctx, l->address, cfg->auth_fail_per_address)))
        return false;
    limit_refuse(ctx, res);
    return true;
}

bool proto_auth_limit_client(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                             struct proto_response *res)
{
    if (!limit_over(ctx, l->client, ctx->cfg->auth_fail_per_client))
        return false;
    limit_refuse(ctx, res);
    return true;
}

void proto_auth_limit_failed(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                             bool chosen)
{
    uint32_t minute = limit_minute(ctx);

    if (l->has_address) {
        shm_ratelimit_hit(ctx->region, l->pair, minute);
        shm_ratelimit_hit(ctx->region, l->address, minute);
    }
    /* Only the counter that is read: unknown ids and generated secrets would only fill
     * the sketch, raising every estimate (a count-min sketch never under-counts). */
    if (chosen)
        shm_ratelimit_hit(ctx->region, l->client, minute);
}
