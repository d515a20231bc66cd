/*
 * What a handler may see of the process it runs in.  The worker owns the context and
 * refreshes `now` and `date` once per loop turn; handlers read configuration and reach
 * the shared tables through it, and never touch files or sockets.
 */
#ifndef PROTO_CTX_H
#define PROTO_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/oauth/params.h"
#include "shm/intern.h"
#include "shm/region.h"

struct proto_keys;
struct proto_keystore;
struct shm_client;
struct shm_token;

/* Durability: how handlers report the changes they made to shared memory, for the worker
 * to log.  The worker holds every response of the loop turn in which a change was reported
 * until its records are synced, so a handler answers as if the change were durable; a
 * report that fails (returns < 0) means the change will not be made durable and the
 * handler answers 503 instead.  Texts are passed because interned ids do not survive a
 * restart.  NULL (unit tests, tools): nothing is logged. */
struct proto_journal {
    void *arg;
    int (*token_issued)(void *arg, const struct shm_token *t, const char *client_id,
                        const char *scope, const char *audience);
    int (*token_revoked)(void *arg, const uint8_t hash[32]);
    /* A client created or changed, with its generation and the change's version. */
    int (*client_put)(void *arg, const struct shm_client *c, uint32_t generation, uint64_t version);
    int (*client_deleted)(void *arg, const char *id, uint32_t generation, uint64_t version);
};

/* What a grant does for a client at its limit of live tokens (tokens.limit_policy). */
enum proto_limit_policy {
    PROTO_LIMIT_EVICT,  /* revoke the client's oldest live tokens to make room */
    PROTO_LIMIT_REFUSE, /* answer 429 with Retry-After until its oldest token expires */
};

/* Read-only settings, filled by the master before fork. */
struct proto_config {
    const char *issuer; /* byte for byte the metadata's issuer and JWTs' iss */
    bool admin_enabled;
    uint8_t admin_token_hash[32]; /* SHA-256 of the admin bearer token */
    uint32_t default_access_ttl;  /* for clients created without one */
    uint32_t default_refresh_ttl;
    const char *scopes_supported; /* space-delimited, NULL: not published */
    /* Failed authentications a minute before 429 (proto/oauth/auth_limit.c): for one client id
     * from one address, from one address, and for one client id whose secret was chosen. */
    uint32_t auth_fail_per_client_address;
    uint32_t auth_fail_per_address;
    uint32_t auth_fail_per_client;
    uint32_t max_access_ttl; /* no JWT outlives it; retired keys stay published as long */
    bool jwt_verify_unknown; /* a JWT the table does not know: check its signature (else refuse) */
    uint32_t max_live_per_client; /* live tokens of a client without its own limit; 0: none */
    enum proto_limit_policy limit_policy; /* and what happens at the limit */
    const char *metadata; /* the RFC 8414 document, built once; NULL: built per request */
    size_t metadata_len;
};

struct proto_ctx {
    const char *date; /* IMF-fixdate of the current second */
    int ready;        /* 1 when this server is ready to serve (readyz) */
    int64_t now;      /* seconds since the epoch */
    const struct proto_config *cfg;
    struct shm_region *region;
    struct shm_owner owner;                /* this worker, for shared-memory claims */
    struct proto_keys *keys;               /* signing keys (JWT), per worker */
    const struct proto_keystore *keystore; /* persists keys (the worker's files) */
    const struct proto_journal *journal;   /* logs changes; NULL: nothing is logged */
    struct proto_buf *arena;               /* scratch for decoded parameters, reused per request */
    struct proto_params *params;           /* the request's parameters, reused per request */
    const char *peer;                      /* the client's address, set per request */
    const uint8_t *peer_key;               /* SHA-256 of "ip:" and it (rate limits), or NULL */
};

/* The journal's calls, doing nothing without a journal: 0, or < 0 (answer 503). */
static inline int proto_journal_token_issued(const struct proto_ctx *ctx, const struct shm_token *t,
                                             const char *client_id, const char *scope,
                                             const char *audience)
{
    const struct proto_journal *j = ctx->journal;

    return j ? j->token_issued(j->arg, t, client_id, scope, audience) : 0;
}

static inline int proto_journal_token_revoked(const struct proto_ctx *ctx, const uint8_t hash[32])
{
    const struct proto_journal *j = ctx->journal;

    return j ? j->token_revoked(j->arg, hash) : 0;
}

static inline int proto_journal_client_put(const struct proto_ctx *ctx, const struct shm_client *c,
                                           uint32_t generation, uint64_t version)
{
    const struct proto_journal *j = ctx->journal;

    return j ? j->client_put(j->arg, c, generation, version) : 0;
}

static inline int proto_journal_client_deleted(const struct proto_ctx *ctx, const char *id,
                                               uint32_t generation, uint64_t version)
{
    const struct proto_journal *j = ctx->journal;

    return j ? j->client_deleted(j->arg, id, generation, version) : 0;
}

/* The text of interned string id into buf (cap bytes), "" when id is 0 or unknown; buf. */
static inline const char *proto_interned(const struct proto_ctx *ctx, uint32_t id, char *buf,
                                         size_t cap)
{
    if (shm_intern_get(ctx->region, id, buf, cap) < 0)
        buf[0] = '\0';
    return buf;
}

#endif
