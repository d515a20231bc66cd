/*
 * Random tokens, hashes, base64url, and client secrets.  Generated secrets and tokens
 * carry 256 bits from OpenSSL's CSPRNG, so a single SHA-256 verifies them: a slow hash
 * would only burn CPU on the token endpoint.  Secrets a human chose are stored with
 * Argon2id (m = 19 MiB, t = 2, p = 1: about 20 ms per verification on one core).
 */
#ifndef PROTO_SECRET_H
#define PROTO_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/client.h"

#define PROTO_TOKEN_BYTES 32
#define PROTO_TOKEN_CHARS 43 /* base64url of 32 bytes, no padding */

/* Length of the base64url text of n bytes (no padding). */
size_t proto_b64url_len(size_t n);
/* Writes the base64url text of in (no padding) and a NUL; returns its length. */
size_t proto_b64url_encode(const uint8_t *in, size_t n, char *out);
/* Decodes base64url (padding optional); returns the byte count or -1. */
long proto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Decodes standard base64 with padding (Basic credentials); returns bytes or -1. */
long proto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
void proto_sha256(const void *data, size_t n, uint8_t out[32]);
/* Fills out with PROTO_TOKEN_CHARS random base64url characters and a NUL.  0, or -EIO
 * when the CSPRNG fails. */
int proto_random_token(char out[PROTO_TOKEN_CHARS + 1]);
/* Sets c's verifier for secret: SHA-256 when generated, Argon2id when chosen.  0, -EIO
 * (the CSPRNG failed) or -ENOMEM (Argon2id could not run). */
int proto_secret_set(struct shm_client *c, const char *secret, size_t len, bool generated);
/* Checks secret against c's verifier in constant time. */
bool proto_secret_verify(const struct shm_client *c, const char *secret, size_t len);
/* Constant-time equality of two byte strings of possibly different lengths. */
bool proto_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
