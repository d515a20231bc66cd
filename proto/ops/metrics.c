/*
 * GET /metrics (API.md §7), Prometheus text format: how far the store's application of the
 * log trails the workers' synced records, the token table's fill from its counters (no
 * scan: scraping must stay cheap), the interned strings against their budget, and event
 * counters (unknown JWTs refused, clients at their limit of live tokens).
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "proto/ops/ops.h"
#include "shm/intern.h"
#include "shm/logstat.h"
#include "shm/peers.h"
#include "shm/stats.h"
#include "shm/table.h"

static int metrics_line(struct proto_buf *b, const char *name, const char *type, const char *help,
                        uint64_t value)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
                     name, type, name, value);

    return n > 0 && (size_t)n < sizeof(line) ? proto_buf_append(b, line, (size_t)n) : -ENOSPC;
}

/* A counter with one sample per action of a client at its limit of live tokens. */
static int metrics_limits(struct proto_buf *b, const struct shm_stats *st)
{
    char text[512];
    int n =
        snprintf(text, sizeof(text),
                 "# HELP tessera_client_limit_total Grants of clients at their limit of live "
                 "tokens, by what was done: their oldest token revoked, or the request "
                 "refused.\n# TYPE tessera_client_limit_total counter\n"
                 "tessera_client_limit_total{action=\"evict\"} %" PRIu64 "\n"
                 "tessera_client_limit_total{action=\"refuse\"} %" PRIu64 "\n",
                 shm_stats_sum(st, SHM_STAT_LIMIT_EVICT), shm_stats_sum(st, SHM_STAT_LIMIT_REFUSE));

    return n > 0 && (size_t)n < sizeof(text) ? proto_buf_append(b, text, (size_t)n) : -ENOSPC;
}

void proto_metrics_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res)
{
    const struct shm_logstat *ls = ctx->region->logstat;
    uint64_t synced = 0, applied = 0, lag = 0;
    int64_t live = 0;
    int rc = 0;

    (void)req;
    for (unsigned i = 0; i < SHM_LOG_WRITERS; i++) {
        uint64_t s = atomic_load_explicit(&ls->synced[i], memory_order_relaxed);
        uint64_t a = atomic_load_explicit(&ls->applied[i], memory_order_relaxed);

        synced += s;
        applied += a;
        lag += s > a ? s - a : 0;
    }
    for (unsigned i = 0; i < SHM_TABLE_OWNERS; i++)
        live += atomic_load_explicit(&ctx->region->tokens->counters[i].live, memory_order_relaxed);
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4";
    proto_buf_reset(&res->body);
    rc |= metrics_line(&res->body, "tessera_log_synced_records", "gauge",
                       "Highest durable log sequence numbers, summed over writers.", synced);
    rc |= metrics_line(&res->body, "tessera_store_applied_records", "gauge",
                       "Highest sequence numbers applied to Berkeley DB, summed over writers.",
                       applied);
    rc |= metrics_line(&res->body, "tessera_store_apply_lag_records", "gauge",
                       "Durable log records not yet applied to Berkeley DB.", lag);
    rc |= metrics_line(&res->body, "tessera_store_apply_passes", "counter",
                       "Apply passes of the store process since start.",
                       atomic_load_explicit(&ls->store_passes, memory_order_relaxed));
    rc |= metrics_line(&res->body, "tessera_connections_refused_per_address", "counter",
                       "Connections closed at accept: their address had "
                       "limits.max_connections_per_address open.",
                       atomic_load_explicit(&ctx->region->peers->refused, memory_order_relaxed));
    rc |= metrics_line(&res->body, "tessera_connections_uncounted_per_address", "counter",
                       "Connections admitted without a per-address count (no room in the table).",
                       atomic_load_explicit(&ctx->region->peers->untracked, memory_order_relaxed));
    rc |=
        metrics_line(&res->body, "tessera_tokens_live", "gauge",
                     "Entries in the token table (live, and revoked JWTs kept until they expire).",
                     live > 0 ? (uint64_t)live : 0);
    rc |= metrics_line(&res->body, "tessera_interned_strings", "gauge",
                       "Interned scope lists and audiences (never freed while the server runs).",
                       shm_intern_used(ctx->region));
    rc |= metrics_line(&res->body, "tessera_interned_strings_limit", "gauge",
                       "The interned strings' budget (tokens.interned_strings).",
                       ctx->region->intern_budget->limit);
    rc |= metrics_line(&res->body, "tessera_jwt_unknown_refused_total", "counter",
                       "JWTs the token table did not know, refused without verifying them.",
                       shm_stats_sum(ctx->region->stats, SHM_STAT_JWT_UNKNOWN));
    rc |= metrics_limits(&res->body, ctx->region->stats);
    if (rc)
        proto_response_error(res, 500, "server_error", "out of memory");
}
