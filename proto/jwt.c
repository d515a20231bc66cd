/*
 * JWT access tokens (see jwt.h).  Minting writes the claims with proto_jsonw (no tree) and
 * signs header.payload with the active key; verification parses with jansson, which only
 * the rarer fallback path pays for.  A token string must have a single valid form — the
 * table keys revocations by the token's hash — so verification refuses non-canonical
 * base64url, high-s ECDSA signatures and RSA signatures of the wrong length.
 */
#include "autoconfig.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "proto/jsonw.h"
#include "proto/jwt.h"
#include "proto/keys.h"
#include "proto/secret.h"
#include "shm/hash.h"

#define JWT_HEADER_MAX 1024

static const char *const jwt_algs[] = {"ES256", "EdDSA", "RS256"};
static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The order n of P-256 and floor(n / 2): a signature's s must not exceed the latter. */
static const uint8_t p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t p256_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

int proto_jwt_alg_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, jwt_algs[i]) == 0)
            return i;
    return -1;
}

const char *proto_jwt_alg_name(int alg)
{
    return alg >= 0 && alg < 3 ? jwt_algs[alg] : "ES256";
}

/* --- JWS signatures ------------------------------------------------------------------ */

/* DER ECDSA-Sig-Value → r||s with s replaced by n - s when above n / 2. */
static int es256_from_der(const uint8_t *der, size_t len, uint8_t raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    int rc = -1;

    if (sig == NULL)
        return -1;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto done;
    if (memcmp(raw + 32, p256_half_n, 32) > 0) {
        unsigned borrow = 0;

        for (int i = 31; i >= 0; i--) {
            unsigned d = (unsigned)p256_n[i] - raw[32 + i] - borrow;

            raw[32 + i] = (uint8_t)d;
            borrow = (d >> 8) & 1;
        }
    }
    rc = 0;
done:
    ECDSA_SIG_free(sig);
    return rc;
}

/* r||s (low-s only) → DER.  0 or -1. */
static int es256_to_der(const uint8_t raw[64], uint8_t *der, size_t *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *p = der;
    int n, rc = -1;

    if (memcmp(raw + 32, p256_half_n, 32) > 0 || sig == NULL || r == NULL || s == NULL)
        goto fail;
    ECDSA_SIG_set0(sig, r, s); /* sig owns r and s now */
    r = s = NULL;
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n > 0 && (size_t)n <= *len && i2d_ECDSA_SIG(sig, &p) == n) {
        *len = (size_t)n;
        rc = 0;
    }
fail:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

static const EVP_MD *jws_md(int alg)
{
    return alg == PROTO_JWT_EDDSA ? NULL : EVP_sha256();
}

int proto_jws_sign(EVP_PKEY *pk, int alg, const void *msg, size_t len, uint8_t *sig, size_t *siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t n = sizeof(der);
    int rc = -1;

    if (md == NULL || EVP_DigestSignInit(md, NULL, jws_md(alg), NULL, pk) != 1)
        goto done;
    if (alg != PROTO_JWT_ES256) {
        rc = EVP_DigestSign(md, sig, siglen, msg, len) == 1 ? 0 : -1;
    } else if (*siglen >= 64 && EVP_DigestSign(md, der, &n, msg, len) == 1 &&
               es256_from_der(der, n, sig) == 0) {
        *siglen = 64;
        rc = 0;
    }
done:
    EVP_MD_CTX_free(md);
    return rc;
}

/* Prepares k's signing context once: EVP_DigestSignInit looks the algorithms up on every
 * call, which cost as much as the ECDSA signature itself. */
static EVP_PKEY_CTX *jws_sign_ctx(struct proto_key *k)
{
    EVP_PKEY_CTX *pc;

    if (k->sign)
        return k->sign;
    pc = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (pc == NULL || EVP_PKEY_sign_init(pc) != 1 ||
        EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1 ||
        (k->alg == PROTO_JWT_RS256 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1)) {
        EVP_PKEY_CTX_free(pc);
        return NULL;
    }
    k->sign = pc;
    return pc;
}

int proto_jws_sign_key(struct proto_key *k, const void *msg, size_t len, uint8_t *sig,
                       size_t *siglen)
{
    uint8_t digest[32], der[80];
    size_t n = sizeof(der);
    EVP_PKEY_CTX *pc;

    if (k->alg == PROTO_JWT_EDDSA)
        return proto_jws_sign(k->pkey, k->alg, msg, len, sig, siglen);
    pc = jws_sign_ctx(k);
    if (pc == NULL)
        return -1;
    shm_sha256(msg, len, digest);
    if (k->alg == PROTO_JWT_RS256)
        return EVP_PKEY_sign(pc, sig, siglen, digest, sizeof(digest)) == 1 ? 0 : -1;
    if (*siglen < 64 || EVP_PKEY_sign(pc, der, &n, digest, sizeof(digest)) != 1 ||
        es256_from_der(der, n, sig) < 0)
        return -1;
    *siglen = 64;
    return 0;
}

int proto_jws_verify(EVP_PKEY *pk, int alg, const void *msg, size_t len, const uint8_t *sig,
                     size_t siglen)
{
    EVP_MD_CTX *md;
    uint8_t der[80];
    size_t n = sizeof(der);
    int rc = -1;

    if (alg == PROTO_JWT_ES256) {
        if (siglen != 64 || es256_to_der(sig, der, &n) < 0) {
            ERR_clear_error();
            return -1;
        }
        sig = der;
        siglen = n;
    } else if ((alg == PROTO_JWT_EDDSA && siglen != 64) ||
               (alg == PROTO_JWT_RS256 && siglen != (size_t)EVP_PKEY_get_size(pk))) {
        return -1;
    }
    md = EVP_MD_CTX_new();
    if (md && EVP_DigestVerifyInit(md, NULL, jws_md(alg), NULL, pk) == 1 &&
        EVP_DigestVerify(md, sig, siglen, msg, len) == 1)
        rc = 0;
    EVP_MD_CTX_free(md);
    /* A forged signature is an answer, not an error: leave nothing on the thread's queue,
     * where the worker's TLS calls would read it as theirs. */
    if (rc < 0)
        ERR_clear_error();
    return rc;
}

/* --- minting ------------------------------------------------------------------------- */

static int jwt_append_b64(struct proto_buf *b, const void *data, size_t n)
{
    if (proto_buf_reserve(b, proto_b64url_len(n) + 1) < 0)
        return -1;
    b->len += proto_b64url_encode(data, n, b->data + b->len);
    return 0;
}

static int jwt_claims(const struct proto_ctx *ctx, const struct proto_jwt_claims *c,
                      struct proto_buf *b)
{
    const char *iss = ctx->cfg->issuer;
    int rc = proto_buf_append(b, "{", 1);

    rc |= proto_jsonw_kv_str(b, "iss", iss, strlen(iss));
    rc |= proto_jsonw_kv_str(b, "sub", c->sub, strlen(c->sub));
    if (c->aud)
        rc |= proto_jsonw_kv_str(b, "aud", c->aud, strlen(c->aud));
    rc |= proto_jsonw_kv_int(b, "exp", c->exp);
    rc |= proto_jsonw_kv_int(b, "iat", c->iat);
    rc |= proto_jsonw_kv_str(b, "jti", c->jti, strlen(c->jti));
    rc |= proto_jsonw_kv_str(b, "client_id", c->client_id, strlen(c->client_id));
    if (c->scope && c->scope[0])
        rc |= proto_jsonw_kv_str(b, "scope", c->scope, strlen(c->scope));
    if (c->jkt) {
        rc |= proto_jsonw_kv_raw(b, "cnf", "{");
        rc |= proto_jsonw_kv_str(b, "jkt", c->jkt, strlen(c->jkt));
        rc |= proto_buf_append(b, "}", 1);
    }
    if (c->webid)
        rc |= proto_jsonw_kv_str(b, "webid", c->webid, strlen(c->webid));
    rc |= proto_buf_append(b, "}", 1);
    return rc ? -1 : 0;
}

int proto_jwt_mint(const struct proto_ctx *ctx, int alg, const struct proto_jwt_claims *c,
                   struct proto_buf *out)
{
    struct proto_key *k = proto_keys_active(ctx, alg);
    struct proto_buf *claims;
    uint8_t sig[PROTO_JWS_SIG_MAX];
    size_t siglen = sizeof(sig), start = out->len;

    if (k == NULL)
        return -1;
    claims = &ctx->keys->scratch;
    proto_buf_reset(claims);
    if (jwt_claims(ctx, c, claims) < 0 || proto_buf_append(out, k->header, k->header_len) < 0 ||
        jwt_append_b64(out, claims->data, claims->len) < 0 ||
        proto_jws_sign_key(k, out->data + start, out->len - start, sig, &siglen) < 0 ||
        proto_buf_append(out, ".", 1) < 0 || jwt_append_b64(out, sig, siglen) < 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

/* --- verifying ----------------------------------------------------------------------- */

bool proto_jwt_shaped(const char *token, size_t len)
{
    const char *dot = len > 3 ? memchr(token, '.', len) : NULL;

    return dot && memcmp(token, "eyJ", 3) == 0 &&
           memchr(dot + 1, '.', len - (size_t)(dot + 1 - token)) != NULL;
}

/* Base64url in its one canonical form: no padding, unused trailing bits zero. */
static long jwt_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    const char *last;

    if (n == 0 || n % 4 == 1 || memchr(in, '=', n))
        return -1;
    last = memchr(b64url_chars, in[n - 1], 64);
    if (last == NULL || (n % 4 == 2 && ((last - b64url_chars) & 15)) ||
        (n % 4 == 3 && ((last - b64url_chars) & 3)))
        return -1;
    return proto_b64url_decode(in, n, out, cap);
}

/* The three parts of a compact JWS: 0 with the two dots, or -1. */
static int jwt_split(const char *token, size_t len, const char **d1, const char **d2)
{
    if (len > PROTO_JWT_MAX || !proto_jwt_shaped(token, len))
        return -1;
    *d1 = memchr(token, '.', len);
    *d2 = memchr(*d1 + 1, '.', len - (size_t)(*d1 + 1 - token));
    if (memchr(*d2 + 1, '.', len - (size_t)(*d2 + 1 - token)) || *d2 == *d1 + 1 ||
        *d2 + 1 == token + len)
        return -1;
    return 0;
}

static json_t *jwt_part_json(const char *s, size_t n)
{
    uint8_t buf[PROTO_JWT_MAX];
    long len = jwt_b64_decode(s, n, buf, sizeof(buf));
    json_t *j =
        len > 0 ? json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL) : NULL;

    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Copies string member name of o into out; absent is an error only when required. */
static int jwt_str(const json_t *o, const char *name, char *out, size_t cap, bool required)
{
    const json_t *v = json_object_get(o, name);
    size_t n;

    out[0] = '\0';
    if (v == NULL)
        return required ? -1 : 0;
    n = json_string_length(v);
    if (!json_is_string(v) || n >= cap || strlen(json_string_value(v)) != n)
        return -1;
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

/* The header: our typ, no crit, a kid of ours whose algorithm is the one named. */
static const struct proto_key *jwt_header_key(const struct proto_ctx *ctx, const char *s, size_t n,
                                              struct proto_jwt_verified *v)
{
    json_t *h = n <= JWT_HEADER_MAX ? jwt_part_json(s, n) : NULL;
    const struct proto_key *k = NULL;
    char alg[16], typ[32];

    if (h == NULL || json_object_get(h, "crit") || jwt_str(h, "alg", alg, sizeof(alg), true) ||
        jwt_str(h, "typ", typ, sizeof(typ), true) ||
        jwt_str(h, "kid", v->kid, sizeof(v->kid), true))
        goto done;
    if (strcasecmp(typ, "at+jwt") != 0 && strcasecmp(typ, "application/at+jwt") != 0)
        goto done;
    k = proto_keys_find(ctx, v->kid, strlen(v->kid));
    if (k && strcmp(proto_jwt_alg_name(k->alg), alg) != 0)
        k = NULL;
done:
    json_decref(h);
    return k;
}

static int jwt_int(const json_t *o, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(o, name);

    if (!json_is_integer(v))
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int jwt_cnf(const json_t *o, struct proto_jwt_verified *v)
{
    const json_t *cnf = json_object_get(o, "cnf");
    char jkt[64];

    if (cnf == NULL)
        return 0;
    if (!json_is_object(cnf) || jwt_str(cnf, "jkt", jkt, sizeof(jkt), true) < 0 ||
        jwt_b64_decode(jkt, strlen(jkt), v->jkt, sizeof(v->jkt)) != 32)
        return -1;
    v->bound = true;
    return 0;
}

static int jwt_claims_read(const struct proto_ctx *ctx, const json_t *c,
                           struct proto_jwt_verified *v)
{
    const json_t *iss = json_object_get(c, "iss");
    const char *want = ctx->cfg->issuer;

    if (!json_is_string(iss) || json_string_length(iss) != strlen(want) ||
        memcmp(json_string_value(iss), want, strlen(want)) != 0)
        return -1;
    if (jwt_int(c, "exp", &v->exp) < 0 || v->exp <= ctx->now || jwt_int(c, "iat", &v->iat) < 0)
        return -1;
    if (jwt_str(c, "client_id", v->client_id, sizeof(v->client_id), true) < 0 ||
        jwt_str(c, "sub", v->sub, sizeof(v->sub), true) < 0 ||
        jwt_str(c, "jti", v->jti, sizeof(v->jti), true) < 0 ||
        jwt_str(c, "scope", v->scope, sizeof(v->scope), false) < 0 ||
        jwt_str(c, "aud", v->aud, sizeof(v->aud), false) < 0 || jwt_cnf(c, v) < 0)
        return -1;
    return 0;
}

int proto_jwt_verify(const struct proto_ctx *ctx, const char *token, size_t len,
                     struct proto_jwt_verified *v)
{
    const char *d1, *d2;
    const struct proto_key *k;
    uint8_t sig[PROTO_JWS_SIG_MAX];
    long siglen;
    json_t *claims;
    int rc;

    memset(v, 0, sizeof(*v));
    if (jwt_split(token, len, &d1, &d2) < 0)
        return -1;
    k = jwt_header_key(ctx, token, (size_t)(d1 - token), v);
    if (k == NULL)
        return -1;
    siglen = jwt_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof(sig));
    if (siglen <= 0 ||
        proto_jws_verify(k->pkey, k->alg, token, (size_t)(d2 - token), sig, (size_t)siglen) < 0)
        return -1;
    v->alg = k->alg;
    claims = jwt_part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    rc = claims ? jwt_claims_read(ctx, claims, v) : -1;
    json_decref(claims);
    return rc;
}

int proto_jwt_jti(const char *token, size_t len, char *out, size_t cap)
{
    const char *d1, *d2;
    json_t *claims;
    int rc;

    out[0] = '\0';
    if (jwt_split(token, len, &d1, &d2) < 0)
        return -1;
    claims = jwt_part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    rc = claims ? jwt_str(claims, "jti", out, cap, true) : -1;
    json_decref(claims);
    return rc;
}
