/*
 * Unit tests of proto/jose/jwt.c: base64url, JWS signing and verification for ES256 (raw r||s,
 * low-s), EdDSA and RS256, the claims and header of minted RFC 9068 tokens, and
 * verification of tokens this server signed — including everything it must refuse
 * (expired, another issuer, tampered, non-canonical encodings, wrong typ or alg).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include <openssl/ecdsa.h>

#include "tests/unit/proto/jose/jwt_fixture.h"

static const uint8_t p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static void test_alg_names(void **state)
{
    assert_int_equal(proto_jwt_alg_parse("ES256"), PROTO_JWT_ES256);
    assert_int_equal(proto_jwt_alg_parse("EdDSA"), PROTO_JWT_EDDSA);
    assert_int_equal(proto_jwt_alg_parse("RS256"), PROTO_JWT_RS256);
    assert_int_equal(proto_jwt_alg_parse("none"), -EINVAL);
    assert_int_equal(proto_jwt_alg_parse("es256"), -EINVAL);
    assert_string_equal(proto_jwt_alg_name(PROTO_JWT_EDDSA), "EdDSA");
    assert_string_equal(proto_jwt_alg_name(PROTO_JWT_RS256), "RS256");
}

/* RFC 4648 §10 in the URL alphabet, without padding. */
static void test_b64url(void **state)
{
    static const char *const vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    const uint8_t odd[] = {0xfb, 0xff, 0xbf};
    char out[64];
    uint8_t back[64];

    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        size_t n = strlen(vec[i][0]);

        assert_int_equal(proto_b64url_len(n), strlen(vec[i][1]));
        assert_int_equal(proto_b64url_encode((const uint8_t *)vec[i][0], n, out),
                         strlen(vec[i][1]));
        assert_string_equal(out, vec[i][1]);
        assert_int_equal(proto_b64url_decode(out, strlen(out), back, sizeof(back)), (long)n);
        assert_memory_equal(back, vec[i][0], n);
    }
    proto_b64url_encode(odd, 3, out);
    assert_string_equal(out, "-_-_"); /* '-' and '_' where base64 has '+' and '/' */
    assert_int_equal(proto_b64url_decode("-_-_", 4, back, sizeof(back)), 3);
    assert_memory_equal(back, odd, 3);
    assert_int_equal(proto_b64url_decode("a+b/", 4, back, sizeof(back)), -1);
    assert_int_equal(proto_b64url_decode("Zm9vY", 5, back, sizeof(back)), -1);
}

static void test_jws_roundtrip(void **state)
{
    static const size_t want_len[] = {64, 64, 256};
    const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";

    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++) {
        EVP_PKEY *pk = proto_jwk_generate(alg);
        uint8_t sig[PROTO_JWS_SIG_MAX];
        size_t n = sizeof(sig);

        assert_non_null(pk);
        assert_int_equal(proto_jws_sign(pk, alg, msg, strlen(msg), sig, &n), 0);
        assert_int_equal(n, want_len[alg]);
        assert_int_equal(proto_jws_verify(pk, alg, msg, strlen(msg), sig, n), 0);
        assert_int_equal(proto_jws_verify(pk, alg, msg, strlen(msg) - 1, sig, n), -EINVAL);
        assert_int_equal(proto_jws_verify(pk, alg, msg, strlen(msg), sig, n - 1), -EINVAL);
        sig[n / 2] ^= 1;
        assert_int_equal(proto_jws_verify(pk, alg, msg, strlen(msg), sig, n), -EINVAL);
        /* A signature of another algorithm's shape is refused, not misread. */
        assert_int_equal(proto_jws_verify(pk, (alg + 1) % 3, msg, strlen(msg), sig, n), -EINVAL);
        EVP_PKEY_free(pk);
    }
}

/* ES256 is the raw r||s of RFC 7518 §3.4 (what a DER-expecting verifier gets wrong), with
 * s in the low half: the high-s twin verifies for OpenSSL but not for us, so a token
 * string has one valid form and a revocation by its hash cannot be dodged. */
static void test_es256_raw_low_s(void **state)
{
    EVP_PKEY *pk = proto_jwk_generate(PROTO_JWT_ES256);
    const char msg[] = "header.payload";

    for (int i = 0; i < 40; i++) {
        uint8_t sig[64], der[80], *p = der, high[64];
        size_t n = sizeof(sig);
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *s, *order = BN_bin2bn(p256_n, 32, NULL);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int dlen;

        assert_int_equal(proto_jws_sign(pk, PROTO_JWT_ES256, msg, strlen(msg), sig, &n), 0);
        assert_int_equal(n, 64);
        s = BN_bin2bn(sig + 32, 32, NULL);
        BN_rshift1(order, order);
        assert_true(BN_cmp(s, order) <= 0);
        /* n - s: a valid signature for OpenSSL, refused by us. */
        BN_bin2bn(p256_n, 32, order);
        BN_sub(s, order, s);
        memcpy(high, sig, 32);
        BN_bn2binpad(s, high + 32, 32);
        ECDSA_SIG_set0(es, BN_bin2bn(high, 32, NULL), s);
        dlen = i2d_ECDSA_SIG(es, &p);
        assert_true(dlen > 0);
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
        assert_int_equal(EVP_DigestVerify(md, der, (size_t)dlen, (const uint8_t *)msg, strlen(msg)),
                         1);
        assert_int_equal(proto_jws_verify(pk, PROTO_JWT_ES256, msg, strlen(msg), high, 64),
                         -EINVAL);
        EVP_MD_CTX_free(md);
        ECDSA_SIG_free(es);
        BN_free(order);
    }
    EVP_PKEY_free(pk);
}

static void test_mint_header_and_claims(void **state)
{
    struct fx *f = *state;
    struct proto_buf jwt = {0};
    struct proto_jwt_claims c = fx_claims(f);
    const struct proto_key *k = proto_keys_active(&f->ctx, PROTO_JWT_ES256);
    json_t *h, *p;

    c.aud = "https://api.example.com";
    c.jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    c.webid = "https://pod.example/alice#me";
    c.sub = c.webid;
    assert_non_null(k);
    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &c, &jwt), 0);
    h = fx_part(jwt.data, 0);
    p = fx_part(jwt.data, 1);
    assert_non_null(h);
    assert_non_null(p);
    assert_int_equal(json_object_size(h), 3);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), k->kid);
    assert_string_equal(json_string_value(json_object_get(p, "iss")), FX_ISSUER);
    assert_string_equal(json_string_value(json_object_get(p, "sub")), c.webid);
    assert_string_equal(json_string_value(json_object_get(p, "client_id")), "svc");
    assert_string_equal(json_string_value(json_object_get(p, "aud")), c.aud);
    assert_string_equal(json_string_value(json_object_get(p, "scope")), "read write");
    assert_int_equal(json_integer_value(json_object_get(p, "iat")), FX_NOW);
    assert_int_equal(json_integer_value(json_object_get(p, "exp")), FX_NOW + 600);
    assert_string_equal(json_string_value(json_object_get(p, "jti")), "jti-0001");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "cnf"), "jkt")),
                        c.jkt);
    assert_string_equal(json_string_value(json_object_get(p, "webid")), c.webid);
    assert_int_equal(json_object_size(p), 10);
    /* iss is the issuer byte for byte, even in the encoded text ("/" is not escaped). */
    {
        const char *d1 = strchr(jwt.data, '.'), *d2 = strchr(d1 + 1, '.');
        char raw[2048];
        long n = proto_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)raw, sizeof(raw));

        assert_true(n > 0);
        raw[n] = '\0';
        assert_non_null(strstr(raw, "\"iss\":\"" FX_ISSUER "\""));
    }
    json_decref(h);
    json_decref(p);
    proto_buf_free(&jwt);
}

static void test_mint_optional_claims_absent(void **state)
{
    struct fx *f = *state;
    struct proto_buf jwt = {0};
    struct proto_jwt_claims c = fx_claims(f);
    json_t *p;

    c.scope = "";
    assert_int_equal(fx_mint(f, PROTO_JWT_EDDSA, &c, &jwt), 0);
    p = fx_part(jwt.data, 1);
    assert_non_null(p);
    assert_null(json_object_get(p, "aud"));
    assert_null(json_object_get(p, "scope"));
    assert_null(json_object_get(p, "cnf"));
    assert_null(json_object_get(p, "webid"));
    assert_int_equal(json_object_size(p), 6);
    json_decref(p);
    /* No key for an algorithm: nothing is minted. */
    assert_int_equal(proto_jwt_mint(&f->ctx, 7, &c, &jwt), -ENOENT);
    proto_buf_free(&jwt);
}

static void test_verify_roundtrip(void **state)
{
    struct fx *f = *state;
    struct proto_buf jwt = {0};
    struct proto_jwt_claims c = fx_claims(f);
    struct proto_jwt_verified v;
    char jti[PROTO_JWT_JTI_MAX];

    c.aud = "api";
    c.jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++) {
        assert_int_equal(fx_mint(f, alg, &c, &jwt), 0);
        assert_true(proto_jwt_shaped(jwt.data, jwt.len));
        assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), 0);
        assert_int_equal(v.alg, alg);
        assert_string_equal(v.kid, proto_keys_active(&f->ctx, alg)->kid);
        assert_string_equal(v.client_id, "svc");
        assert_string_equal(v.sub, "svc");
        assert_string_equal(v.scope, "read write");
        assert_string_equal(v.aud, "api");
        assert_string_equal(v.jti, "jti-0001");
        assert_true(v.bound);
        assert_int_equal(v.iat, FX_NOW);
        assert_int_equal(v.exp, FX_NOW + 600);
        assert_int_equal(proto_jwt_jti(jwt.data, jwt.len, jti, sizeof(jti)), 0);
        assert_string_equal(jti, "jti-0001");
    }
    assert_false(proto_jwt_shaped("abcdefghijklmnopqrstuvwxyz0123456789abcdefg", 43));
    proto_buf_free(&jwt);
}

/* A token signed by the active key of alg over header and payload JSON of our choosing. */
static void craft(struct fx *f, int alg, const char *header, const char *payload,
                  struct proto_buf *out)
{
    const struct proto_key *k = proto_keys_active(&f->ctx, alg);
    uint8_t sig[PROTO_JWS_SIG_MAX];
    size_t n = sizeof(sig);
    char b64[2048];

    proto_buf_reset(out);
    proto_b64url_encode((const uint8_t *)header, strlen(header), b64);
    proto_buf_append_str(out, b64);
    proto_buf_append(out, ".", 1);
    proto_b64url_encode((const uint8_t *)payload, strlen(payload), b64);
    proto_buf_append_str(out, b64);
    assert_int_equal(proto_jws_sign(k->pkey, alg, out->data, out->len, sig, &n), 0);
    proto_buf_append(out, ".", 1);
    proto_b64url_encode(sig, n, b64);
    proto_buf_append_str(out, b64);
}

static int verify_crafted(struct fx *f, int alg, const char *typ, const char *header_alg,
                          const char *payload)
{
    struct proto_buf b = {0};
    struct proto_jwt_verified v;
    char header[256];
    int rc;

    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}", header_alg,
             typ, proto_keys_active(&f->ctx, alg)->kid);
    craft(f, alg, header, payload, &b);
    rc = proto_jwt_verify(&f->ctx, b.data, b.len, &v);
    proto_buf_free(&b);
    return rc;
}

#define GOOD_PAYLOAD                                                                               \
    "{\"iss\":\"" FX_ISSUER "\",\"sub\":\"svc\",\"exp\":1800000600,\"iat\":1800000000,"            \
    "\"jti\":\"j\",\"client_id\":\"svc\"}"

static void test_verify_header_rules(void **state)
{
    struct fx *f = *state;

    assert_int_equal(verify_crafted(f, PROTO_JWT_ES256, "at+jwt", "ES256", GOOD_PAYLOAD), 0);
    assert_int_equal(
        verify_crafted(f, PROTO_JWT_ES256, "application/at+jwt", "ES256", GOOD_PAYLOAD), 0);
    assert_int_equal(verify_crafted(f, PROTO_JWT_ES256, "JWT", "ES256", GOOD_PAYLOAD), -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_ES256, "at+jwt", "RS256", GOOD_PAYLOAD), -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_EDDSA, "at+jwt", "none", GOOD_PAYLOAD), -EINVAL);
    /* Claims: another issuer (even by a trailing slash), no exp, expired, wrong types. */
    assert_int_equal(verify_crafted(f, PROTO_JWT_RS256, "at+jwt", "RS256",
                                    "{\"iss\":\"" FX_ISSUER "/\",\"sub\":\"svc\",\"exp\":"
                                    "1800000600,\"iat\":1,\"jti\":\"j\",\"client_id\":\"svc\"}"),
                     -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_RS256, "at+jwt", "RS256",
                                    "{\"iss\":\"" FX_ISSUER "\",\"sub\":\"svc\",\"iat\":1,"
                                    "\"jti\":\"j\",\"client_id\":\"svc\"}"),
                     -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_RS256, "at+jwt", "RS256",
                                    "{\"iss\":\"" FX_ISSUER "\",\"sub\":\"svc\",\"exp\":"
                                    "1800000000,\"iat\":1,\"jti\":\"j\",\"client_id\":\"svc\"}"),
                     -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_RS256, "at+jwt", "RS256",
                                    "{\"iss\":\"" FX_ISSUER "\",\"sub\":\"svc\",\"exp\":"
                                    "1800000600,\"iat\":1,\"jti\":\"j\",\"client_id\":7}"),
                     -EINVAL);
    assert_int_equal(verify_crafted(f, PROTO_JWT_RS256, "at+jwt", "RS256",
                                    "{\"iss\":\"" FX_ISSUER "\",\"iss\":\"x\",\"sub\":\"svc\","
                                    "\"exp\":1800000600,\"iat\":1,\"jti\":\"j\",\"client_id\":"
                                    "\"svc\"}"),
                     -EINVAL);
}

static void test_verify_refuses_tampering(void **state)
{
    struct fx *f = *state;
    struct proto_buf jwt = {0}, other = {0};
    struct proto_jwt_claims c = fx_claims(f);
    struct proto_jwt_verified v;
    char *last, *dot, was;

    assert_int_equal(fx_mint(f, PROTO_JWT_ES256, &c, &jwt), 0);
    /* A payload character changed. */
    dot = strchr(jwt.data, '.');
    was = dot[5];
    dot[5] = was == 'A' ? 'B' : 'A';
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    dot[5] = was;
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), 0);
    /* The same signature bytes spelt differently: 64 bytes end in 4 unused bits. */
    last = jwt.data + jwt.len - 1;
    *last = (char)(*last + 1);
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    *last = (char)(*last - 1);
    proto_buf_append(&jwt, "=", 1);
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    jwt.data[--jwt.len] = '\0';
    /* Expired at `now`; once valid, a token of another issuer never. */
    f->ctx.now = c.exp;
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    f->ctx.now = FX_NOW;
    f->cfg.issuer = "https://other.example.com";
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    f->cfg.issuer = FX_ISSUER;
    /* Another key's signature (of the same length) under this kid. */
    assert_int_equal(fx_mint(f, PROTO_JWT_EDDSA, &c, &other), 0);
    assert_int_equal(strlen(strrchr(other.data, '.')), strlen(strrchr(jwt.data, '.')));
    memcpy(strrchr(jwt.data, '.'), strrchr(other.data, '.'), 87);
    assert_int_equal(proto_jwt_verify(&f->ctx, jwt.data, jwt.len, &v), -EINVAL);
    assert_int_equal(proto_jwt_verify(&f->ctx, "a.b.c", 5, &v), -EINVAL);
    assert_int_equal(proto_jwt_verify(&f->ctx, "eyJ.e.c.d", 9, &v), -EINVAL);
    proto_buf_free(&jwt);
    proto_buf_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_jws_roundtrip),
        cmocka_unit_test(test_es256_raw_low_s),
        cmocka_unit_test_setup_teardown(test_mint_header_and_claims, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mint_optional_claims_absent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_verify_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_verify_header_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_verify_refuses_tampering, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
