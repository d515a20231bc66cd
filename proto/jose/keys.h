/*
 * A worker's view of the signing keys: the records of shared memory parsed once into
 * EVP_PKEYs (refreshed when the shared version moves), the active key of each algorithm,
 * the JWK Set, and key rotation.  A retired key stays published and usable for
 * verification until every token it signed has expired: retired_at + the longest an
 * access token may live (tokens.max_access_ttl) + a minute for clock skew.
 */
#ifndef PROTO_KEYS_H
#define PROTO_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto/buf.h"
#include "proto/ctx.h"
#include "shm/keys.h"

#define PROTO_JWT_ALGS 3
#define PROTO_KEYS_LEEWAY 60 /* seconds of resource servers' clock skew */

/* How handlers persist keys: the worker provides it (files in DATA_DIR/keys). */
struct proto_keystore {
    void *arg;
    /* Stores the key file text of kid durably (atomically).  0 or a negative errno. */
    int (*save)(void *arg, const char *kid, const char *text, size_t len);
    /* Deletes the file of a key no token can need any more.  0 or a negative errno. */
    int (*remove)(void *arg, const char *kid);
};

struct proto_key {
    char kid[SHM_KEY_KID_MAX];
    int alg;
    uint64_t serial;
    int64_t created, retired_at;
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *sign; /* prepared on first use for ES256 and RS256 (proto_jws_sign_key) */
    char header[192];   /* base64url of the JWS header of tokens it signs, and the '.' */
    size_t header_len;
};

struct proto_keys {
    bool synced;
    uint64_t version; /* of the shared table, when synced */
    size_t n;
    struct proto_key k[SHM_KEYS_MAX];
    int active[PROTO_JWT_ALGS]; /* index into k, -1: none */
    struct proto_buf jwks;      /* the JWK Set; empty: to rebuild */
    int64_t jwks_until;         /* rebuild when now reaches it (a retired key leaves) */
    struct proto_buf scratch;   /* claims while minting */
};

struct proto_keys *proto_keys_new(void);
void proto_keys_free(struct proto_keys *ks);

/* Seconds a retired key stays published. */
int64_t proto_keys_retention(const struct proto_config *cfg);
/* Brings ctx->keys up to the shared table.  0, or -EINVAL without a key cache or a
 * region to read. */
int proto_keys_sync(const struct proto_ctx *ctx);
/* The key alg signs with now, or NULL. */
struct proto_key *proto_keys_active(const struct proto_ctx *ctx, int alg);
/* A published key by kid, or NULL. */
const struct proto_key *proto_keys_find(const struct proto_ctx *ctx, const char *kid, size_t len);
/* The JWK Set of every key whose tokens may be alive; NULL when it cannot be built. */
const struct proto_buf *proto_keys_jwks(const struct proto_ctx *ctx);
/* Appends {"keys":[{kid, alg, created, status, retired_at?, published_until?}]}: every key
 * in shared memory, for the admin API.  0, or -EINVAL (as proto_keys_sync) or -ENOMEM. */
int proto_keys_list(const struct proto_ctx *ctx, struct proto_buf *out);

/* Makes a new active key for each algorithm in mask (bit 1 << alg), persists it through
 * ctx->keystore, publishes it and retires the key it replaces; frees keys whose retention
 * is over.  0, -EBUSY (another rotation holds the lock), -ENOSPC (table full of live
 * keys), -EIO (could not persist), -ENOMEM (key generation failed). */
int proto_keys_rotate(const struct proto_ctx *ctx, unsigned mask);

#endif
