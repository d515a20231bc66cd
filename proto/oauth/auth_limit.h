/*
 * Limits on failed client authentications (the token, introspection and revocation
 * endpoints), counted per minute in the shared sketch of shm/ratelimit.c under three keys:
 * the client id from one address, the address, and the client id from anywhere.  The
 * first two refuse only the address that failed, so a flood from elsewhere never locks
 * the real client out; the third, the one that does, guards only secrets a person chose
 * (Argon2id), which can be guessed; a generated 256-bit secret cannot, so its client is
 * never limited for others' failures.
 */
#ifndef PROTO_AUTH_LIMIT_H
#define PROTO_AUTH_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/ctx.h"
#include "proto/http/response.h"

/* The counter keys of one authentication attempt. */
struct proto_auth_limit {
    uint8_t pair[32];    /* the client id from this address */
    uint8_t address[32]; /* this address, whatever the client id */
    uint8_t client[32];  /* the client id, from any address */
    bool has_address;    /* false when the peer's address is unknown: no per-address keys */
};

/* Derives the keys from the SHA-256 of the client id (the client index's hash) and the
 * request's address (ctx->peer_key). */
void proto_auth_limit_keys(const struct proto_ctx *ctx, const uint8_t id_hash[32],
                           struct proto_auth_limit *l);
/* True, with 429 and Retry-After written to res, when this address may not try this
 * client id now: too many failures for the pair or for the address this minute.  Checked
 * before the client is looked up. */
bool proto_auth_limit_address(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                              struct proto_response *res);
/* True, with 429 written, when the client id has failed too often this minute from all
 * addresses together; the caller asks only for a client whose secret was chosen, and
 * before it spends an Argon2id verification. */
bool proto_auth_limit_client(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                             struct proto_response *res);
/* Counts one failure; `chosen`: the client exists and its secret was chosen. */
void proto_auth_limit_failed(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                             bool chosen);

#endif
