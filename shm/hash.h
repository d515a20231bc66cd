/*
 * SHA-256 without OpenSSL's per-call algorithm lookup: SHA256() and EVP_Digest() with
 * EVP_sha256() fetch the implementation on every call, which cost more than hashing a
 * token.  Every module that hashes (the tables' keys, tokens, secrets) goes through here.
 */
#ifndef SHM_HASH_H
#define SHM_HASH_H

#include <stddef.h>
#include <stdint.h>

void shm_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
