/*
 * SHA-256 with the algorithm fetched once and one digest context reused (see hash.h).
 * The two pointers are process state set on first use and never changed after; every
 * process is single-threaded, and a child after fork keeps its own copy.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include <openssl/evp.h>

#include "shm/hash.h"

static EVP_MD *hash_md;
static EVP_MD_CTX *hash_ctx;

void shm_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;

    if (hash_ctx == NULL) {
        hash_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        hash_ctx = EVP_MD_CTX_new();
        if (hash_md == NULL || hash_ctx == NULL)
            abort(); /* libcrypto without SHA-256 or memory: nothing can be served */
    }
    if (EVP_DigestInit_ex2(hash_ctx, hash_md, NULL) != 1 ||
        EVP_DigestUpdate(hash_ctx, data, len) != 1 || EVP_DigestFinal_ex(hash_ctx, out, &n) != 1)
        abort();
}
