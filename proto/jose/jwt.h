/*
 * JWT access tokens (RFC 9068) signed by this server: minting (header typ at+jwt and the
 * active key's kid), verifying a token this server signed when the token table does not
 * know it (signature by kid, typ, iss, exp), and the JWS primitives of the three
 * algorithms: ES256 (raw r||s, low-s so a signature has one form only), EdDSA (Ed25519)
 * and RS256.  The keys are proto/jose/keys.c's; pure code over buffers.
 */
#ifndef PROTO_JWT_H
#define PROTO_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto/buf.h"
#include "proto/ctx.h"
#include "shm/client.h"
#include "shm/intern.h"
#include "shm/keys.h"

enum proto_jwt_alg { PROTO_JWT_ES256 = 0, PROTO_JWT_EDDSA = 1, PROTO_JWT_RS256 = 2 };

#define PROTO_JWT_MAX 8192 /* longest JWT verified */
#define PROTO_JWT_JTI_MAX 128
#define PROTO_JWS_SIG_MAX 512 /* RSA up to 4096 bits */

struct proto_jwt_claims {
    const char *sub; /* client id, or the account's WebID */
    const char *client_id;
    const char *scope; /* space-delimited; NULL or "": no scope claim */
    const char *aud;   /* NULL: no aud claim */
    const char *jkt;   /* DPoP key thumbprint for cnf.jkt, NULL: unbound */
    const char *webid; /* account credentials, NULL otherwise */
    int64_t iat, exp;
    const char *jti; /* unique id, e.g. a random base64url string */
};

/* What a verified token says. */
struct proto_jwt_verified {
    int alg;
    char kid[SHM_KEY_KID_MAX];
    char client_id[SHM_CLIENT_ID_MAX];
    char sub[SHM_INTERN_MAX_LEN + 1];
    char scope[SHM_INTERN_MAX_LEN + 1]; /* "" when absent */
    char aud[SHM_INTERN_MAX_LEN + 1];   /* "" when absent */
    char jti[PROTO_JWT_JTI_MAX];
    bool bound; /* cnf.jkt present */
    uint8_t jkt[32];
    int64_t iat, exp;
};

/* Parses "ES256", "EdDSA", "RS256"; -EINVAL for anything else. */
int proto_jwt_alg_parse(const char *name);
const char *proto_jwt_alg_name(int alg);
/* Appends the signed compact JWT (header typ at+jwt, kid of the active key of alg, iss =
 * ctx->cfg->issuer) to out.  0, -ENOENT (no key for alg), -ENOMEM or -EIO (the signature
 * failed). */
int proto_jwt_mint(const struct proto_ctx *ctx, int alg, const struct proto_jwt_claims *c,
                   struct proto_buf *out);
/* True when token has the shape of a compact JWS (three parts, a JSON header): cheap. */
bool proto_jwt_shaped(const char *token, size_t len);
/* Verifies a JWT signed by one of this server's published keys: canonical base64url, the
 * signature by kid (and that key's alg), typ at+jwt, iss byte for byte, exp after
 * ctx->now, and the claims' types.  0 with *v, or -EINVAL.  Called when the token table does
 * not know the token (proto_token_resolve). */
int proto_jwt_verify(const struct proto_ctx *ctx, const char *token, size_t len,
                     struct proto_jwt_verified *v);
/* Copies the jti claim of a JWT without verifying it (the table already vouches for the
 * token).  0, or -EINVAL. */
int proto_jwt_jti(const char *token, size_t len, char *out, size_t cap);

/* JWS signature of msg with pk: *siglen in (capacity), out (length).  0 or -EIO. */
struct proto_key;
/* The same with k's signing context, prepared once and kept in k (the minting path). */
int proto_jws_sign_key(struct proto_key *k, const void *msg, size_t len, uint8_t *sig,
                       size_t *siglen);
int proto_jws_sign(EVP_PKEY *pk, int alg, const void *msg, size_t len, uint8_t *sig,
                   size_t *siglen);
/* 0 when sig is pk's valid, canonical JWS signature of msg; -EINVAL otherwise. */
int proto_jws_verify(EVP_PKEY *pk, int alg, const void *msg, size_t len, const uint8_t *sig,
                     size_t siglen);

#endif
