/*
 * Signing-key material: generating a key per JWS algorithm, the public JWK (RFC 7517,
 * RFC 8037 for Ed25519) and its RFC 7638 thumbprint (our kid), the record shared memory
 * keeps (private key DER), and the text of a key file in the data directory (a few
 * "name: value" lines, then the PKCS#8 PEM).  Pure: buffers in, buffers out; the worker
 * and the master do the file I/O.
 */
#ifndef PROTO_JWK_H
#define PROTO_JWK_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto/buf.h"
#include "shm/keys.h"

#define PROTO_JWK_KID_CHARS 43 /* base64url of a SHA-256 */

/* A new key for alg (enum proto_jwt_alg): P-256, Ed25519 or RSA 2048.  NULL on failure. */
EVP_PKEY *proto_jwk_generate(int alg);
/* The JWS algorithm a key serves, from its type (P-256, Ed25519, RSA of 2048 bits or
 * more), or -EINVAL. */
int proto_jwk_alg_of(const EVP_PKEY *pk);
/* The RFC 7638 thumbprint of pk's public key: base64url of the SHA-256 of the required
 * members in lexicographic order.  0, -EINVAL (a key of no JWS algorithm) or -ENOMEM. */
int proto_jwk_thumbprint(const EVP_PKEY *pk, char out[PROTO_JWK_KID_CHARS + 1]);
/* Appends pk's public JWK with kid, alg and "use":"sig" to out.  0, -EINVAL or -ENOMEM. */
int proto_jwk_public(const EVP_PKEY *pk, const char *kid, struct proto_buf *out);

/* Fills rec from pk: kid, alg, private key DER; created and serial as given, not
 * retired.  0, or -EINVAL (unsupported key, DER too large). */
int proto_jwk_record(const EVP_PKEY *pk, int64_t created, uint64_t serial, struct shm_key *rec);
/* The private key of a record; NULL when its DER does not parse. */
EVP_PKEY *proto_jwk_from_record(const struct shm_key *rec);
/* The key file text of rec (replaces out's contents).  0, -EINVAL (its key does not
 * parse) or -ENOMEM. */
int proto_jwk_file_text(const struct shm_key *rec, struct proto_buf *out);
/* Parses key file text into rec (kid computed from the key; created and serial from the
 * header lines; not retired).  0, or -EINVAL with a reason in *why. */
int proto_jwk_file_parse(const char *text, size_t len, struct shm_key *rec, const char **why);

#endif
