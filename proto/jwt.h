/*
 * JWT access tokens (RFC 9068) and the server's signing keys: minting, verifying tokens
 * this server signed, the JWK Set, and key rotation.  Keys live in shared memory so that
 * every worker signs with the same active key and a rotation is seen everywhere at once;
 * the data directory keeps them across restarts (through the ctx's key store).
 */
#ifndef PROTO_JWT_H
#define PROTO_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/ctx.h"

enum proto_jwt_alg { PROTO_JWT_ES256 = 0, PROTO_JWT_EDDSA = 1, PROTO_JWT_RS256 = 2 };

struct proto_jwt_claims {
    const char *sub;       /* client id, or the account's WebID */
    const char *client_id;
    const char *scope;     /* space-delimited, may be "" */
    const char *aud;       /* NULL: no aud claim */
    const char *jkt;       /* DPoP key thumbprint for cnf.jkt, NULL: unbound */
    const char *webid;     /* account credentials, NULL otherwise */
    int64_t iat, exp;
    const char *jti;       /* unique id, e.g. a random base64url string */
};

/* Parses "ES256", "EdDSA", "RS256"; -1 for anything else. */
int proto_jwt_alg_parse(const char *name);
const char *proto_jwt_alg_name(int alg);
/* Appends the signed compact JWT (header typ at+jwt, kid of the active key of alg, iss =
 * ctx->cfg->issuer) to out.  0, or -1. */
int proto_jwt_mint(const struct proto_ctx *ctx, int alg, const struct proto_jwt_claims *c,
                   struct proto_buf *out);

#endif
