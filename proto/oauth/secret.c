/*
 * Secrets and encodings (see secret.h).  Pure apart from OpenSSL's CSPRNG.
 */
#include "autoconfig.h"

#include <argon2.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "proto/oauth/secret.h"
#include "shm/hash.h"

#define ARGON2_T 2
#define ARGON2_M_KIB 19456
#define ARGON2_P 1
#define ARGON2_SALT 16
#define ARGON2_HASH 32

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t proto_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t proto_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        out[o++] = b64url[in[i] >> 2];
        out[o++] = b64url[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

        out[o++] = b64url[v >> 10];
        out[o++] = b64url[v >> 4 & 63];
        out[o++] = b64url[(v & 15) << 2];
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static long b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, bool url)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    while (n && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i], url);

        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (acc & ((1u << bits) - 1))
        return -1;
    return (long)o;
}

long proto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return b64_decode(in, n, out, cap, true);
}

long proto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0)
        return -1;
    return b64_decode(in, n, out, cap, false);
}

void proto_sha256(const void *data, size_t n, uint8_t out[32])
{
    shm_sha256(data, n, out);
}

int proto_random_token(char out[PROTO_TOKEN_CHARS + 1])
{
    uint8_t raw[PROTO_TOKEN_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    proto_b64url_encode(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

bool proto_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    uint8_t ha[32], hb[32];

    /* Hash first, so the comparison time depends on neither length nor content. */
    proto_sha256(a, alen, ha);
    proto_sha256(b, blen, hb);
    return CRYPTO_memcmp(ha, hb, 32) == 0;
}

int proto_secret_set(struct shm_client *c, const char *secret, size_t len, bool generated)
{
    uint8_t salt[ARGON2_SALT];

    /* No byte of a previous verifier outlives it (a rotation reuses the record). */
    memset(c->verifier, 0, sizeof(c->verifier));
    if (generated) {
        c->verifier_kind = SHM_VERIFIER_SHA256;
        c->verifier_len = 32;
        proto_sha256(secret, len, c->verifier);
        return 0;
    }
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -EIO;
    if (argon2id_hash_encoded(ARGON2_T, ARGON2_M_KIB, ARGON2_P, secret, len, salt, sizeof(salt),
                              ARGON2_HASH, (char *)c->verifier, sizeof(c->verifier)) != ARGON2_OK)
        return -ENOMEM; /* its 19 MiB are what can fail */
    c->verifier_kind = SHM_VERIFIER_ARGON2ID;
    c->verifier_len = (uint16_t)strlen((const char *)c->verifier);
    return 0;
}

bool proto_secret_verify(const struct shm_client *c, const char *secret, size_t len)
{
    uint8_t h[32];
    char encoded[SHM_CLIENT_VERIFIER_MAX + 1];

    switch (c->verifier_kind) {
    case SHM_VERIFIER_SHA256:
        proto_sha256(secret, len, h);
        return CRYPTO_memcmp(h, c->verifier, 32) == 0;
    case SHM_VERIFIER_ARGON2ID:
        if (c->verifier_len > SHM_CLIENT_VERIFIER_MAX)
            return false;
        memcpy(encoded, c->verifier, c->verifier_len);
        encoded[c->verifier_len] = '\0';
        return argon2id_verify(encoded, secret, len) == ARGON2_OK;
    default:
        return false;
    }
}
