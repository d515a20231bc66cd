/*
 * Finding the token a request presents.  The token table knows every token this server
 * issued and that has not expired — recovery loads them all — so a JWT it does not know
 * is refused without verifying it.  With tokens.jwt_verify_unknown (servers that share
 * signing keys, later) such a JWT is verified by its signature and then recorded, so later
 * lookups are one hash, a revocation has an entry to flag, and revoking all of a client's
 * tokens reaches it too.
 */
#ifndef PROTO_RESOLVE_H
#define PROTO_RESOLVE_H

#include <stddef.h>

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "shm/client.h"
#include "shm/token.h"

/* Resolves a presented token.  Returns 0 with *t (as the table has it; the caller checks
 * shm_token_state) and its client's record; 1 for a valid JWT that could not be recorded
 * (the token table is full: usable, but cannot be revoked now); -ENOSPC for a valid JWT
 * whose scope or audience could not be interned; -ENOENT when the token is unknown (a JWT
 * the table does not know too, unless verifying those is configured), invalid, or its
 * client is gone.  Called by validate, introspect and revoke. */
int proto_token_resolve(const struct proto_ctx *ctx, const char *token, size_t len,
                        struct shm_token *t, struct shm_client *client);

/* The token of an Authorization header of the Bearer (or DPoP) scheme, and its length in
 * *len; NULL when there is none.  Called by validate and DELETE /Session. */
const char *proto_bearer(const struct proto_request *req, size_t *len);

#endif
