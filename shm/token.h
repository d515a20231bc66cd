/*
 * The token table: every live access and refresh token, keyed by the SHA-256 of the token
 * (the table never holds a usable token).  128-byte entries on the shared table engine.
 * Validation, introspection and issuing look tokens up here and never take a lock.
 */
#ifndef SHM_TOKEN_H
#define SHM_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/region.h"
#include "shm/scope.h"

enum shm_token_kind { SHM_TOKEN_ACCESS = 1, SHM_TOKEN_REFRESH = 2 };

#define SHM_TOKEN_DPOP 0x1 /* bound to the key whose thumbprint is jkt */
#define SHM_TOKEN_JWT 0x2  /* the token is a JWT this server signed */

struct shm_token {
    uint8_t hash[32];     /* SHA-256 of the token */
    uint32_t client_slot; /* the client's record slot, and its generation at issue */
    uint32_t client_gen;
    uint32_t scope;    /* interned base of scope_bits: its client's allowed scopes at issue */
    uint32_t audience; /* interned audience, 0: none */
    struct shm_scope_bits scope_bits; /* the granted scope: tokens of the base */
    int64_t iat, exp;                 /* seconds since the epoch */
    uint8_t kind;                     /* enum shm_token_kind */
    uint8_t flags;                    /* SHM_TOKEN_* */
    uint64_t seq;    /* its client slot's issue sequence (SHM_TOKEN_SEQ_MAX), 0: not queued */
    uint64_t parent; /* refresh rotation: first 8 bytes of the parent refresh token's hash */
    uint8_t jkt[32]; /* DPoP/mTLS key thumbprint when bound */
    bool revoked;    /* lookups only */
};

#define SHM_TOKEN_WORDS 16
#define SHM_TOKEN_SEQ_MAX ((UINT64_C(1) << 48) - 1)

enum shm_token_state { SHM_TOKEN_ACTIVE, SHM_TOKEN_EXPIRED, SHM_TOKEN_REVOKED };

/* Inserts t and counts it for its client (and queues it, when t->seq and not t->revoked:
 * shm/client_tokens.h).  0, or -ENOSPC when the table is full (the HTTP layer answers 503). */
int shm_token_insert(struct shm_region *r, const struct shm_token *t, struct shm_owner who);
/* The same, unless an entry of t's hash exists: 0, -EEXIST, or -ENOSPC. */
int shm_token_insert_unique(struct shm_region *r, const struct shm_token *t, struct shm_owner who);
/* 0 with *out, or -ENOENT. */
int shm_token_lookup(const struct shm_region *r, const uint8_t hash[32], struct shm_token *out);
/* Whether a looked-up token is usable at `now`: revoked covers its own flag and a client
 * whose generation moved on (deleted, or all its tokens revoked). */
enum shm_token_state shm_token_state(const struct shm_region *r, const struct shm_token *t,
                                     int64_t now);
/* The granted scope of t as text (its base's tokens whose bits are set, in the base's
 * canonical order) into buf; "" when its base is unknown.  Returns the length or -1. */
int shm_token_scope(const struct shm_region *r, const struct shm_token *t, char *buf, size_t cap);
/* Revokes one token: 0, or -ENOENT. */
int shm_token_revoke(struct shm_region *r, const uint8_t hash[32]);
/* Revokes the token found as e (a lookup's copy): 0 when this call revoked it, -EALREADY
 * when it was revoked already, -EAGAIN when it changed since (look it up again), -ENOENT
 * when it is gone.  The entry stays (and counts for its client) until it expires. */
int shm_token_revoke_entry(struct shm_region *r, const struct shm_entry *e);
/* Frees the entry found as e — for a token that may as well be unknown as revoked — and
 * takes it off its client's count and queue: 0 when this call freed it, -EAGAIN, -ENOENT. */
int shm_token_remove_entry(struct shm_region *r, const struct shm_entry *e, struct shm_owner who);
/* Frees entries expired before `now` (and their queue entries); returns how many.
 * Revoked entries stay until they expire, so a revoked JWT is still found here. */
int64_t shm_token_sweep(struct shm_region *r, int64_t now, struct shm_owner who);

/* Entry codec, exposed for the store and tests. */
void shm_token_encode(const struct shm_token *t, uint64_t *w);
void shm_token_decode(const uint64_t *w, struct shm_token *t);

#endif
