/*
 * Signing-key material (see jwk.h).  Pure: OpenSSL 3 EVP and memory BIOs only.  The
 * private key travels as DER (what shared memory holds) and as PKCS#8 PEM (what the key
 * files hold); the public key only ever as a JWK.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jsonw.h"
#include "proto/oauth/secret.h"

#define JWK_PART_MAX 1400 /* base64url of an RSA modulus of up to 8192 bits */
#define JWK_FILE_MAX 16384

/* The public members of a key, base64url-encoded. */
struct jwk_parts {
    int alg;
    const char *kty;
    const char *crv;      /* NULL for RSA */
    char a[JWK_PART_MAX]; /* x (EC, OKP) or n (RSA) */
    char b[JWK_PART_MAX]; /* y (EC) or e (RSA); "" for OKP */
};

EVP_PKEY *proto_jwk_generate(int alg)
{
    switch (alg) {
    case PROTO_JWT_ES256:
        return EVP_EC_gen("P-256");
    case PROTO_JWT_EDDSA:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case PROTO_JWT_RS256:
        return EVP_RSA_gen(2048);
    default:
        return NULL;
    }
}

int proto_jwk_alg_of(const EVP_PKEY *pk)
{
    char group[32];

    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL))
            return -EINVAL;
        return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ? PROTO_JWT_ES256
                                                                               : -EINVAL;
    case EVP_PKEY_ED25519:
        return PROTO_JWT_EDDSA;
    case EVP_PKEY_RSA:
        return EVP_PKEY_get_bits(pk) >= 2048 ? PROTO_JWT_RS256 : -EINVAL;
    default:
        return -EINVAL;
    }
}

/* base64url of a BIGNUM parameter, big-endian in `pad` bytes (0: minimal length). */
static int jwk_bn(const EVP_PKEY *pk, const char *name, int pad, char *out)
{
    uint8_t bin[JWK_PART_MAX * 3 / 4];
    BIGNUM *bn = NULL;
    int n;

    if (!EVP_PKEY_get_bn_param(pk, name, &bn))
        return -EINVAL;
    n = pad ? pad : BN_num_bytes(bn);
    if (n <= 0 || (size_t)n > sizeof(bin) || BN_bn2binpad(bn, bin, n) != n) {
        BN_free(bn);
        return -EINVAL;
    }
    proto_b64url_encode(bin, (size_t)n, out);
    BN_free(bn);
    return 0;
}

static int jwk_parts_get(const EVP_PKEY *pk, struct jwk_parts *p)
{
    uint8_t raw[32];
    size_t len = sizeof(raw);

    p->alg = proto_jwk_alg_of(pk);
    p->b[0] = '\0';
    switch (p->alg) {
    case PROTO_JWT_ES256:
        p->kty = "EC";
        p->crv = "P-256";
        return jwk_bn(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32, p->a) < 0 ||
                       jwk_bn(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32, p->b) < 0
                   ? -EINVAL
                   : 0;
    case PROTO_JWT_EDDSA:
        p->kty = "OKP";
        p->crv = "Ed25519";
        if (!EVP_PKEY_get_raw_public_key(pk, raw, &len) || len != sizeof(raw))
            return -EINVAL;
        proto_b64url_encode(raw, len, p->a);
        return 0;
    case PROTO_JWT_RS256:
        p->kty = "RSA";
        p->crv = NULL;
        return jwk_bn(pk, OSSL_PKEY_PARAM_RSA_N, 0, p->a) < 0 ||
                       jwk_bn(pk, OSSL_PKEY_PARAM_RSA_E, 0, p->b) < 0
                   ? -EINVAL
                   : 0;
    default:
        return -EINVAL;
    }
}

/* RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. */
static void jwk_thumbprint_input(const struct jwk_parts *p, struct proto_buf *b)
{
    proto_buf_append(b, "{", 1);
    if (p->alg == PROTO_JWT_RS256) {
        proto_jsonw_kv_str(b, "e", p->b, strlen(p->b));
        proto_jsonw_kv_str(b, "kty", p->kty, strlen(p->kty));
        proto_jsonw_kv_str(b, "n", p->a, strlen(p->a));
    } else {
        proto_jsonw_kv_str(b, "crv", p->crv, strlen(p->crv));
        proto_jsonw_kv_str(b, "kty", p->kty, strlen(p->kty));
        proto_jsonw_kv_str(b, "x", p->a, strlen(p->a));
        if (p->alg == PROTO_JWT_ES256)
            proto_jsonw_kv_str(b, "y", p->b, strlen(p->b));
    }
    proto_buf_append(b, "}", 1);
}

int proto_jwk_thumbprint(const EVP_PKEY *pk, char out[PROTO_JWK_KID_CHARS + 1])
{
    struct jwk_parts p;
    struct proto_buf b = {0};
    uint8_t h[32];
    int rc = -ENOMEM;

    if (jwk_parts_get(pk, &p) < 0)
        return -EINVAL;
    jwk_thumbprint_input(&p, &b);
    if (b.data == NULL)
        goto done;
    proto_sha256(b.data, b.len, h);
    proto_b64url_encode(h, sizeof(h), out);
    rc = 0;
done:
    proto_buf_free(&b);
    return rc;
}

int proto_jwk_public(const EVP_PKEY *pk, const char *kid, struct proto_buf *out)
{
    struct jwk_parts p;
    const char *alg;

    if (jwk_parts_get(pk, &p) < 0)
        return -EINVAL;
    alg = proto_jwt_alg_name(p.alg);
    proto_buf_append(out, "{", 1);
    proto_jsonw_kv_str(out, "kty", p.kty, strlen(p.kty));
    if (p.crv)
        proto_jsonw_kv_str(out, "crv", p.crv, strlen(p.crv));
    proto_jsonw_kv_str(out, p.crv ? "x" : "n", p.a, strlen(p.a));
    if (p.b[0])
        proto_jsonw_kv_str(out, p.crv ? "y" : "e", p.b, strlen(p.b));
    proto_jsonw_kv_str(out, "kid", kid, strlen(kid));
    proto_jsonw_kv_str(out, "alg", alg, strlen(alg));
    proto_jsonw_kv_str(out, "use", "sig", 3);
    return proto_buf_append(out, "}", 1);
}

int proto_jwk_record(const EVP_PKEY *pk, int64_t created, uint64_t serial, struct shm_key *rec)
{
    unsigned char *p;
    int alg = proto_jwk_alg_of(pk), n = i2d_PrivateKey(pk, NULL);

    memset(rec, 0, sizeof(*rec));
    if (alg < 0 || n <= 0 || n > SHM_KEY_DER_MAX || proto_jwk_thumbprint(pk, rec->kid) < 0)
        return -EINVAL;
    p = rec->der;
    if (i2d_PrivateKey(pk, &p) != n)
        return -EINVAL;
    rec->alg = (uint32_t)alg;
    rec->der_len = (uint32_t)n;
    rec->created = created;
    rec->serial = serial;
    return 0;
}

EVP_PKEY *proto_jwk_from_record(const struct shm_key *rec)
{
    const unsigned char *p = rec->der;
    EVP_PKEY *pk;

    if (rec->der_len == 0 || rec->der_len > SHM_KEY_DER_MAX)
        return NULL;
    pk = d2i_AutoPrivateKey(NULL, &p, rec->der_len);
    if (pk == NULL)
        ERR_clear_error(); /* the caller says what failed; the queue must stay empty */
    return pk;
}

int proto_jwk_file_text(const struct shm_key *rec, struct proto_buf *out)
{
    EVP_PKEY *pk = proto_jwk_from_record(rec);
    BIO *bio = BIO_new(BIO_s_mem());
    char head[256], *pem;
    long n;
    int rc = -EINVAL;

    proto_buf_reset(out);
    if (pk == NULL || bio == NULL || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL))
        goto done;
    n = BIO_get_mem_data(bio, &pem);
    snprintf(head, sizeof(head),
             "tessera JWT signing key (keep it secret)\nkid: %s\nalg: %s\ncreated: %lld\n"
             "serial: %llu\n",
             rec->kid, proto_jwt_alg_name((int)rec->alg), (long long)rec->created,
             (unsigned long long)rec->serial);
    rc = n > 0 ? proto_buf_append_str(out, head) : -EINVAL;
    if (rc == 0)
        rc = proto_buf_append(out, pem, (size_t)n);
    OPENSSL_cleanse(pem, (size_t)(n > 0 ? n : 0));
done:
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return rc;
}

/* The number of a "name: value" line among the lines before the PEM block. */
static bool jwk_file_field(const char *text, size_t len, const char *name, long long *out)
{
    size_t nlen = strlen(name);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);

        if (n >= 10 && memcmp(p, "-----BEGIN", 10) == 0)
            break;
        if (n > nlen + 1 && n < 64 && memcmp(p, name, nlen) == 0 && p[nlen] == ':') {
            char num[64], *stop;

            memcpy(num, p + nlen + 1, n - nlen - 1);
            num[n - nlen - 1] = '\0';
            *out = strtoll(num, &stop, 10);
            return stop != num && (*stop == '\0' || *stop == '\r');
        }
        p = nl ? nl + 1 : end;
    }
    return false;
}

int proto_jwk_file_parse(const char *text, size_t len, struct shm_key *rec, const char **why)
{
    BIO *bio = len <= JWK_FILE_MAX ? BIO_new_mem_buf(text, (int)len) : NULL;
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    long long created = 0, serial = 0;
    int rc = -EINVAL;

    *why = "no PEM private key in it";
    if (pk == NULL)
        goto done;
    *why = "the key is not P-256, Ed25519 or RSA of 2048 bits or more, or too large";
    if (!jwk_file_field(text, len, "created", &created) || created < 0)
        created = 0;
    if (!jwk_file_field(text, len, "serial", &serial) || serial < 0)
        serial = 0;
    if (proto_jwk_record(pk, created, (uint64_t)serial, rec) < 0)
        goto done;
    rc = 0;
done:
    if (rc < 0)
        ERR_clear_error();
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return rc;
}
