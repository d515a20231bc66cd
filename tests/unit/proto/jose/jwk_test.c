/*
 * Unit tests of proto/jose/jwk.c: the RFC 7638 thumbprint (against the RFC's own example key),
 * public JWKs of the three key types (members, lengths, and a thumbprint recomputed from
 * the exported members), the shared-memory record, and the key file's text.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jsonw.h"
#include "proto/oauth/secret.h"

/* RFC 7638 §3.1. */
static const char rfc7638_n[] = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu"
                                "1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
                                "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"
                                "RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
                                "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
                                "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_x"
                                "BniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static EVP_PKEY *rsa_public(const char *n_b64, const char *e_b64)
{
    uint8_t n[1024], e[16];
    long nl = proto_b64url_decode(n_b64, strlen(n_b64), n, sizeof(n));
    long el = proto_b64url_decode(e_b64, strlen(e_b64), e, sizeof(e));
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;

    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be);
    params = OSSL_PARAM_BLD_to_param(b);
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    return pk;
}

static void test_rfc7638_example(void **state)
{
    EVP_PKEY *pk = rsa_public(rfc7638_n, "AQAB");
    char kid[PROTO_JWK_KID_CHARS + 1];
    struct proto_buf b = {0};
    json_t *j;

    assert_non_null(pk);
    assert_int_equal(proto_jwk_alg_of(pk), PROTO_JWT_RS256);
    assert_int_equal(proto_jwk_thumbprint(pk, kid), 0);
    assert_string_equal(kid, rfc7638_thumbprint);
    /* The exported JWK carries the same modulus and exponent. */
    assert_int_equal(proto_jwk_public(pk, kid, &b), 0);
    j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "n")), rfc7638_n);
    assert_string_equal(json_string_value(json_object_get(j, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(j, "kty")), "RSA");
    assert_null(json_object_get(j, "crv"));
    json_decref(j);
    proto_buf_free(&b);
    EVP_PKEY_free(pk);
}

/* The thumbprint recomputed from an exported JWK's members, as a relying party would. */
static void thumbprint_of_jwk(const json_t *j, char out[PROTO_JWK_KID_CHARS + 1])
{
    static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
    static const char *const okp[] = {"crv", "kty", "x", NULL};
    static const char *const rsa[] = {"e", "kty", "n", NULL};
    const char *kty = json_string_value(json_object_get(j, "kty"));
    const char *const *names = !strcmp(kty, "EC") ? ec : !strcmp(kty, "OKP") ? okp : rsa;
    struct proto_buf b = {0};
    uint8_t h[32];

    proto_buf_append(&b, "{", 1);
    for (; *names; names++) {
        const char *v = json_string_value(json_object_get(j, *names));

        proto_jsonw_kv_str(&b, *names, v, strlen(v));
    }
    proto_buf_append(&b, "}", 1);
    proto_sha256(b.data, b.len, h);
    proto_b64url_encode(h, 32, out);
    proto_buf_free(&b);
}

static void test_public_jwks(void **state)
{
    static const char *const kty[] = {"EC", "OKP", "RSA"};
    static const size_t alen[] = {43, 43, 342}; /* x (32 bytes), x (32), n (256) */

    for (int alg = 0; alg < 3; alg++) {
        EVP_PKEY *pk = proto_jwk_generate(alg);
        char kid[PROTO_JWK_KID_CHARS + 1], again[PROTO_JWK_KID_CHARS + 1];
        struct proto_buf b = {0};
        json_t *j;

        assert_non_null(pk);
        assert_int_equal(proto_jwk_alg_of(pk), alg);
        assert_int_equal(proto_jwk_thumbprint(pk, kid), 0);
        assert_int_equal(strlen(kid), PROTO_JWK_KID_CHARS);
        assert_int_equal(proto_jwk_public(pk, kid, &b), 0);
        j = json_loadb(b.data, b.len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "kty")), kty[alg]);
        assert_string_equal(json_string_value(json_object_get(j, "kid")), kid);
        assert_string_equal(json_string_value(json_object_get(j, "alg")), proto_jwt_alg_name(alg));
        assert_string_equal(json_string_value(json_object_get(j, "use")), "sig");
        assert_int_equal(strlen(json_string_value(json_object_get(j, alg == 2 ? "n" : "x"))),
                         alen[alg]);
        if (alg == PROTO_JWT_ES256) {
            assert_string_equal(json_string_value(json_object_get(j, "crv")), "P-256");
            assert_int_equal(strlen(json_string_value(json_object_get(j, "y"))), 43);
        } else if (alg == PROTO_JWT_EDDSA) {
            assert_string_equal(json_string_value(json_object_get(j, "crv")), "Ed25519");
            assert_null(json_object_get(j, "y"));
        } else {
            assert_string_equal(json_string_value(json_object_get(j, "e")), "AQAB");
        }
        /* No private member ever leaves. */
        assert_null(json_object_get(j, "d"));
        assert_null(json_object_get(j, "p"));
        thumbprint_of_jwk(j, again);
        assert_string_equal(again, kid);
        json_decref(j);
        proto_buf_free(&b);
        EVP_PKEY_free(pk);
    }
}

static void test_unsupported_keys(void **state)
{
    EVP_PKEY *p384 = EVP_EC_gen("P-384"), *rsa1024 = EVP_RSA_gen(1024);
    char kid[PROTO_JWK_KID_CHARS + 1];
    struct shm_key rec;

    assert_int_equal(proto_jwk_alg_of(p384), -EINVAL);
    assert_int_equal(proto_jwk_alg_of(rsa1024), -EINVAL);
    assert_int_equal(proto_jwk_thumbprint(p384, kid), -EINVAL);
    assert_int_equal(proto_jwk_record(rsa1024, 1, 1, &rec), -EINVAL);
    assert_null(proto_jwk_generate(9));
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa1024);
}

static void test_record_and_file_text(void **state)
{
    for (int alg = 0; alg < 3; alg++) {
        EVP_PKEY *pk = proto_jwk_generate(alg), *back;
        struct shm_key rec, parsed;
        struct proto_buf text = {0};
        const char *why = NULL;
        char kid[PROTO_JWK_KID_CHARS + 1];

        assert_int_equal(proto_jwk_record(pk, 1700000000 + alg, 40 + alg, &rec), 0);
        assert_int_equal(proto_jwk_thumbprint(pk, kid), 0);
        assert_string_equal(rec.kid, kid);
        assert_int_equal(rec.alg, alg);
        assert_int_equal(rec.retired_at, 0);
        assert_true(rec.der_len > 0 && rec.der_len <= SHM_KEY_DER_MAX);
        back = proto_jwk_from_record(&rec);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(pk, back), 1);
        assert_int_equal(proto_jwk_file_text(&rec, &text), 0);
        proto_buf_append(&text, "", 1);
        assert_non_null(strstr(text.data, "\n-----BEGIN PRIVATE KEY-----\n"));
        assert_non_null(strstr(text.data, kid));
        assert_int_equal(proto_jwk_file_parse(text.data, text.len - 1, &parsed, &why), 0);
        assert_string_equal(parsed.kid, rec.kid);
        assert_int_equal(parsed.alg, rec.alg);
        assert_int_equal(parsed.created, 1700000000 + alg);
        assert_int_equal(parsed.serial, 40 + alg);
        assert_int_equal(parsed.der_len, rec.der_len);
        assert_memory_equal(parsed.der, rec.der, rec.der_len);
        proto_buf_free(&text);
        EVP_PKEY_free(back);
        EVP_PKEY_free(pk);
    }
}

static void test_file_parse_refuses(void **state)
{
    static const char not_pem[] = "created: 12\nserial: 3\nno key here\n";
    static const char bad_pem[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    struct shm_key rec;
    struct proto_buf text = {0};
    const char *why = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    long n;

    assert_int_equal(proto_jwk_file_parse(not_pem, strlen(not_pem), &rec, &why), -EINVAL);
    assert_non_null(why);
    assert_int_equal(proto_jwk_file_parse(bad_pem, strlen(bad_pem), &rec, &why), -EINVAL);
    /* A valid PEM key of a curve we do not sign with. */
    PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &pem);
    assert_int_equal(proto_jwk_file_parse(pem, (size_t)n, &rec, &why), -EINVAL);
    /* A bare PEM file (no header lines) is accepted: created and serial 0. */
    BIO_free(bio);
    EVP_PKEY_free(p384);
    p384 = proto_jwk_generate(PROTO_JWT_EDDSA);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &pem);
    assert_int_equal(proto_jwk_file_parse(pem, (size_t)n, &rec, &why), 0);
    assert_int_equal(rec.created, 0);
    assert_int_equal(rec.serial, 0);
    assert_int_equal(rec.alg, PROTO_JWT_EDDSA);
    proto_buf_free(&text);
    BIO_free(bio);
    EVP_PKEY_free(p384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7638_example),    cmocka_unit_test(test_public_jwks),
        cmocka_unit_test(test_unsupported_keys),   cmocka_unit_test(test_record_and_file_text),
        cmocka_unit_test(test_file_parse_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
