/*
 * Tokens in the shared table as the endpoints handle them: the hash that keys an entry
 * (the table never holds a token), finding the entry of a presented token, a token's
 * public id, and revoking one token or a refresh grant's whole family, durably.  Called by
 * the token, introspection and revocation endpoints and the per-client limits.
 */
#ifndef PROTO_TOKENS_H
#define PROTO_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ctx.h"
#include "shm/token.h"

/* Hash of a token as the shared table keys it. */
void proto_token_hash(const char *token, size_t len, uint8_t out[32]);
/* Finds the entry of a presented token.  0 and *t, or -ENOENT. */
int proto_token_find(const struct proto_ctx *ctx, const char *token, size_t len,
                     struct shm_token *t);
/* Whether a revoked t must keep its entry (flagged) until it expires: a JWT, when unknown
 * JWTs are verified by signature (its entry is what refuses it).  Any other revoked token
 * may as well be unknown, and its entry is freed. */
bool proto_token_kept_revoked(const struct proto_ctx *ctx, const struct shm_token *t);
/* Revokes the token found as e: frees its entry, or flags it when it must be kept.  As
 * shm_token_revoke_entry: 0 when this call did it, -EAGAIN (look it up again), ... */
int proto_token_retire(const struct proto_ctx *ctx, const struct shm_entry *e);
/* Revokes t and, for a refresh token, every token of its grant (same parent family), and
 * logs the revocations.  0, or -EIO when one could not be logged (answer 503). */
int proto_token_revoke_grant(const struct proto_ctx *ctx, const struct shm_token *t);
/* A stable public id of a token (jti of opaque tokens, session id): the base64url of the
 * first 16 bytes of its hash, 22 characters and a NUL. */
void proto_token_id(const struct shm_token *t, char out[24]);

#endif
