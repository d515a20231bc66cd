/*
 * Per-client limits on live tokens (proto/oauth/token_limit.c): a grant first makes room
 * under its client's limit, revoking the client's oldest tokens (evict) or refusing.
 */
#ifndef PROTO_TOKEN_LIMIT_H
#define PROTO_TOKEN_LIMIT_H

#include <stdint.h>

#include "proto/ctx.h"
#include "proto/http/response.h"
#include "proto/oauth/client_auth.h"

/* Makes room under the client's limit of live tokens for a grant that adds n of them:
 * revokes the client's oldest (durably) under the evict policy, or refuses.  A live token
 * whose hash is skip (may be NULL) is left alone.  0, or with the answer written to res
 * -EAGAIN (429 with Retry-After) or -EIO (503).  Called by the token endpoint. */
int proto_token_limit(const struct proto_ctx *ctx, const struct proto_client *c, unsigned n,
                      const uint8_t *skip, struct proto_response *res);

#endif
