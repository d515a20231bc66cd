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
#include "proto/params.h"
#include "shm/region.h"

struct proto_keys;
struct proto_keystore;

/* Read-only settings, filled by the master before fork. */
struct proto_config {
    const char *issuer; /* byte for byte the metadata's issuer and JWTs' iss */
    bool admin_enabled;
    uint8_t admin_token_hash[32]; /* SHA-256 of the admin bearer token */
    uint32_t default_access_ttl;  /* for clients created without one */
    uint32_t default_refresh_ttl;
    const char *scopes_supported;  /* space-delimited, NULL: not published */
    uint32_t auth_fail_per_client; /* failed authentications a minute before 429 */
    uint32_t auth_fail_per_address;
    uint32_t max_access_ttl; /* no JWT outlives it; retired keys stay published as long */
    const char *metadata;    /* the RFC 8414 document, built once; NULL: built per request */
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
    struct proto_buf *arena;               /* scratch for decoded parameters, reused per request */
    struct proto_params *params;           /* the request's parameters, reused per request */
    const char *peer;                      /* the client's address, set per request */
    const uint8_t *peer_key;               /* SHA-256 of "ip:" and it (rate limits), or NULL */
};

#endif
