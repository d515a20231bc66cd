/*
 * Fuzz target of JWT verification as /oauth2/validate, introspection and revocation do
 * it for a token the table does not know (proto/jose/jwt.c, proto/oauth/token_resolve.c): split,
 * canonical base64url, header JSON (typ, crit, alg, kid), the key by kid and its
 * algorithm, the signature (ES256 raw r||s and low-s, EdDSA, RS256 of the key's length),
 * then the claims.  Keys are made once per process: the server's (ES256, EdDSA, RS256,
 * an ES256 key retired but still published, one retired past its retention) and three
 * foreign ones it never saw, so no input can carry a signature made beforehand.
 *
 * Byte 0: bits 0-1 the mode; bit 2 through proto_token_resolve() (which also records the
 * token and finds its client) rather than proto_jwt_verify(); bits 3-5 the signing key
 * (0 ES256, 1 EdDSA, 2 RS256, 3 ES256 retired, 4 ES256 unpublished, 5-7 foreign ES256,
 * EdDSA, RS256); bit 6 the payload is base64url text as given (else the target encodes
 * it); bit 7 an ES256 signature in its high-s form.  Modes:
 *   0  the rest is the token: it must be refused;
 *   1  "<header JSON>\n<rest>": the token is the encoded header, '.', the rest — the
 *      header can name a real kid, so inputs reach the signature check; refused;
 *   2  "<header JSON>\n<payload>": the target signs them with the chosen key;
 *   3  byte 1 a count n (& 7) of edits, n times 3 bytes (offset, 16 bits little endian;
 *      a byte to xor there, 0 deletes the byte), then as mode 2; the edits apply to the
 *      signed token, or, when byte 1 has bit 3 set, to the text before it is signed (so
 *      that a non-canonical encoding can carry a good signature).
 * In a header, "KID0" to "KID7" stand for the kid of key 0 to 7.  A token is accepted only
 * when it is, byte for byte, the one the target signed, with a published key of the
 * server named by its kid, in canonical form (base64url, low-s).  After every call the
 * OpenSSL error queue is empty: an error left there would be reported by an unrelated
 * later call of the worker (a TLS read), as if it were its own.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "proto/oauth/client_auth.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/tokens.h"
#include "proto/oauth/token_resolve.h"
#include "proto/oauth/secret.h"
#include "shm/client.h"
#include "shm/keys.h"
#include "shm/token.h"
#include "tests/fuzz/ctx.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_KEYS 8
#define FUZZ_SERVER_KEYS 4 /* 0-3 verify; 4 is the server's but no longer published */
#define FUZZ_TOKEN_MAX (2 * PROTO_JWT_MAX)

static const int fuzz_key_alg[FUZZ_KEYS] = {
    PROTO_JWT_ES256, PROTO_JWT_EDDSA, PROTO_JWT_RS256, PROTO_JWT_ES256,
    PROTO_JWT_ES256, PROTO_JWT_ES256, PROTO_JWT_EDDSA, PROTO_JWT_RS256,
};

static struct {
    bool made;
    struct fuzz_worker w;
    EVP_PKEY *pkey[FUZZ_KEYS];
    char kid[FUZZ_KEYS][PROTO_JWK_KID_CHARS + 1];
    BIGNUM *order; /* of P-256 */
    uint64_t client_slot;
} fuzz;

/* Adds key i to the server's table, retired at `retired` (0: active). */
static void fuzz_key_publish(int i, int64_t created, int64_t retired)
{
    const struct shm_owner me = {0, 1};
    struct shm_key rec;
    int slot;

    FUZZ_CHECK(
        proto_jwk_record(fuzz.pkey[i], created, shm_keys_next_serial(&fuzz.w.region), &rec) == 0);
    FUZZ_CHECK(shm_keys_lock(&fuzz.w.region, me) == 0);
    slot = shm_keys_add(&fuzz.w.region, &rec);
    FUZZ_CHECK(slot >= 0);
    if (retired)
        shm_keys_retire(&fuzz.w.region, (unsigned)slot, retired);
    shm_keys_unlock(&fuzz.w.region);
}

static void fuzz_make(void)
{
    const struct shm_owner me = {0, 1};
    struct shm_client c = {0};
    int64_t slot, gone;

    if (fuzz.made)
        return;
    fuzz_worker_init(&fuzz.w, 64);
    gone = FUZZ_NOW - proto_keys_retention(&fuzz.w.cfg) - 1;
    fuzz.w.ctx.keys = proto_keys_new();
    FUZZ_CHECK(fuzz.w.ctx.keys != NULL);
    for (int i = 0; i < FUZZ_KEYS; i++) {
        fuzz.pkey[i] = proto_jwk_generate(fuzz_key_alg[i]);
        FUZZ_CHECK(fuzz.pkey[i] != NULL && proto_jwk_thumbprint(fuzz.pkey[i], fuzz.kid[i]) == 0);
    }
    /* Oldest first, as rotations leave them: the retired ones, then the active ones. */
    fuzz_key_publish(4, gone - 100, gone);
    fuzz_key_publish(3, FUZZ_NOW - 2000, FUZZ_NOW - 1000);
    for (int i = 0; i < 3; i++)
        fuzz_key_publish(i, FUZZ_NOW - 1000, 0);
    FUZZ_CHECK(proto_keys_sync(&fuzz.w.ctx) == 0);
    snprintf(c.id, sizeof(c.id), "svc");
    c.token_format = PROTO_FORMAT_JWT;
    c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
    c.created = FUZZ_NOW - 1000;
    slot = shm_client_create(&fuzz.w.region, &c, me, NULL);
    FUZZ_CHECK(slot >= 0);
    fuzz.client_slot = (uint64_t)slot;
    fuzz.order = BN_new();
    FUZZ_CHECK(fuzz.order && BN_hex2bn(&fuzz.order, "FFFFFFFF00000000FFFFFFFFFFFFFFFF"
                                                    "BCE6FAADA7179E84F3B9CAC2FC632551") != 0);
    ERR_clear_error();
    fuzz.made = true;
}

/* --- building tokens ------------------------------------------------------------------ */

struct fuzz_token {
    char text[FUZZ_TOKEN_MAX];
    size_t len;
};

static bool fuzz_append(struct fuzz_token *t, const void *p, size_t n)
{
    if (n > sizeof(t->text) - t->len)
        return false;
    memcpy(t->text + t->len, p, n);
    t->len += n;
    return true;
}

static bool fuzz_append_b64(struct fuzz_token *t, const void *p, size_t n)
{
    char *out = t->text + t->len;

    if (proto_b64url_len(n) + 1 > sizeof(t->text) - t->len)
        return false;
    t->len += proto_b64url_encode(p, n, out);
    return true;
}

/* The header text with "KIDn" replaced by key n's kid, base64url-encoded. */
static bool fuzz_append_header(struct fuzz_token *t, const uint8_t *s, size_t n)
{
    static uint8_t json[FUZZ_TOKEN_MAX];
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (n - i >= 4 && memcmp(s + i, "KID", 3) == 0 && s[i + 3] >= '0' && s[i + 3] <= '7') {
            if (o + PROTO_JWK_KID_CHARS > sizeof(json))
                return false;
            memcpy(json + o, fuzz.kid[s[i + 3] - '0'], PROTO_JWK_KID_CHARS);
            o += PROTO_JWK_KID_CHARS;
            i += 3;
        } else if (o < sizeof(json)) {
            json[o++] = s[i];
        } else {
            return false;
        }
    }
    return fuzz_append_b64(t, json, o);
}

/* r||s of a DER ECDSA signature, s in its low or high form. */
static bool fuzz_es256_raw(const uint8_t *der, size_t len, bool high, uint8_t raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    BIGNUM *other = BN_new();
    const BIGNUM *r, *s;
    bool ok = false;

    if (sig == NULL || other == NULL)
        goto done;
    ECDSA_SIG_get0(sig, &r, &s);
    if (!BN_sub(other, fuzz.order, s))
        goto done;
    /* The high form is the larger of s and n - s. */
    if ((BN_cmp(s, other) > 0) != high)
        s = other;
    ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
done:
    BN_free(other);
    ECDSA_SIG_free(sig);
    return ok;
}

/* Appends '.' and the signature of the text so far with key i. */
static bool fuzz_sign(struct fuzz_token *t, int i, bool high)
{
    int alg = fuzz_key_alg[i];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t sig[512], raw[64];
    size_t n = sizeof(sig);
    bool ok = md &&
              EVP_DigestSignInit(md, NULL, alg == PROTO_JWT_EDDSA ? NULL : EVP_sha256(), NULL,
                                 fuzz.pkey[i]) == 1 &&
              EVP_DigestSign(md, sig, &n, (const uint8_t *)t->text, t->len) == 1;

    EVP_MD_CTX_free(md);
    if (ok && alg == PROTO_JWT_ES256) {
        ok = fuzz_es256_raw(sig, n, high, raw);
        memcpy(sig, raw, 64);
        n = 64;
    }
    ERR_clear_error();
    return ok && fuzz_append(t, ".", 1) && fuzz_append_b64(t, sig, n);
}

/* Edits: (offset, xor) triples; xor 0 deletes the byte. */
static void fuzz_edit(struct fuzz_token *t, const uint8_t *e, size_t n)
{
    for (size_t k = 0; k < n && t->len; k++, e += 3) {
        size_t at = (size_t)(e[0] | e[1] << 8) % t->len;

        if (e[2]) {
            t->text[at] ^= (char)e[2];
        } else {
            memmove(t->text + at, t->text + at + 1, t->len - at - 1);
            t->len--;
        }
    }
}

/* --- checking ------------------------------------------------------------------------- */

/* The OpenSSL error queue is empty; if not, what is in it goes to stderr first. */
static void fuzz_check_no_error(void)
{
    if (ERR_peek_error() == 0)
        return;
    ERR_print_errors_fp(stderr);
    FUZZ_CHECK(!"an OpenSSL error was left in the queue");
}

/* base64url text s is the encoding of what it decodes to. */
static bool fuzz_canonical(const char *s, size_t n)
{
    static uint8_t raw[FUZZ_TOKEN_MAX];
    static char again[FUZZ_TOKEN_MAX + 4];
    long len = proto_b64url_decode(s, n, raw, sizeof(raw));

    return len >= 0 && proto_b64url_encode(raw, (size_t)len, again) == n &&
           memcmp(again, s, n) == 0;
}

struct fuzz_case {
    int key;   /* signing key, -1: none (the token was not signed here) */
    bool high; /* an ES256 signature was given its high-s form */
    const struct fuzz_token *signed_token; /* as signed, before edits */
};

/* What an accepted token must be: see the file's comment. */
static void fuzz_check_accepted(const struct fuzz_case *fc, const struct fuzz_token *t, int alg,
                                const char *kid)
{
    const char *d1 = memchr(t->text, '.', t->len), *d2;

    FUZZ_CHECK(fc->key >= 0 && fc->key < FUZZ_SERVER_KEYS);
    FUZZ_CHECK(t->len == fc->signed_token->len &&
               memcmp(t->text, fc->signed_token->text, t->len) == 0);
    FUZZ_CHECK(alg == fuzz_key_alg[fc->key] && strcmp(kid, fuzz.kid[fc->key]) == 0);
    FUZZ_CHECK(!(fc->high && alg == PROTO_JWT_ES256));
    FUZZ_CHECK(d1 != NULL);
    d2 = memchr(d1 + 1, '.', t->len - (size_t)(d1 + 1 - t->text));
    FUZZ_CHECK(d2 != NULL);
    FUZZ_CHECK(fuzz_canonical(t->text, (size_t)(d1 - t->text)));
    FUZZ_CHECK(fuzz_canonical(d1 + 1, (size_t)(d2 - d1 - 1)));
}

static void fuzz_verify(const struct fuzz_case *fc, const struct fuzz_token *t)
{
    struct proto_jwt_verified v;
    int rc;

    ERR_clear_error();
    rc = proto_jwt_verify(&fuzz.w.ctx, t->text, t->len, &v);
    fuzz_check_no_error();
    FUZZ_CHECK(rc <= 0);
    if (rc < 0)
        return;
    fuzz_check_accepted(fc, t, v.alg, v.kid);
    FUZZ_CHECK(v.exp > fuzz.w.ctx.now);
}

/* Takes back what the resolution recorded, so that the next input starts from the same
 * state. */
static void fuzz_forget(const struct fuzz_token *t)
{
    uint8_t hash[32];
    struct shm_entry e;

    proto_token_hash(t->text, t->len, hash);
    if (shm_table_lookup(fuzz.w.region.tokens, hash, &e) == 0)
        FUZZ_CHECK(shm_table_remove(fuzz.w.region.tokens, &e, fuzz.w.ctx.owner) == 0);
    fuzz_table_clear(&fuzz.w, fuzz.w.region.intern);
}

static void fuzz_resolve(const struct fuzz_case *fc, const struct fuzz_token *t)
{
    struct shm_token tok;
    struct shm_client c;
    struct proto_jwt_verified v;
    int rc;

    ERR_clear_error();
    rc = proto_token_resolve(&fuzz.w.ctx, t->text, t->len, &tok, &c);
    fuzz_check_no_error();
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == -ENOSPC || rc == -ENOENT);
    if (rc == -ENOENT)
        return;
    /* Accepted: the signature was good, so verification alone must say the same. */
    FUZZ_CHECK(proto_jwt_verify(&fuzz.w.ctx, t->text, t->len, &v) == 0);
    ERR_clear_error();
    fuzz_check_accepted(fc, t, v.alg, v.kid);
    FUZZ_CHECK(strcmp(c.id, "svc") == 0);
    if (rc == 0) {
        FUZZ_CHECK(tok.client_slot == fuzz.client_slot && tok.kind == SHM_TOKEN_ACCESS);
        FUZZ_CHECK((tok.flags & SHM_TOKEN_JWT) && tok.exp == v.exp && tok.iat == v.iat);
        FUZZ_CHECK(shm_token_state(&fuzz.w.region, &tok, fuzz.w.ctx.now) == SHM_TOKEN_ACTIVE);
    }
    fuzz_forget(t);
}

/* Verification or resolution, then jti extraction (which trusts the table, not the
 * signature: whatever it copies stays inside its buffer). */
static void fuzz_run(const struct fuzz_case *fc, const struct fuzz_token *t, bool resolve)
{
    char jti[PROTO_JWT_JTI_MAX];

    if (resolve)
        fuzz_resolve(fc, t);
    else
        fuzz_verify(fc, t);
    if (proto_jwt_jti(t->text, t->len, jti, sizeof(jti)) == 0)
        FUZZ_CHECK(strnlen(jti, sizeof(jti)) < sizeof(jti));
    fuzz_check_no_error();
}

/* Mode 3's edits: a count, then that many triples.  false when the input is too short. */
static bool fuzz_take_edits(const uint8_t **data, size_t *size, const uint8_t **edits, size_t *n)
{
    if (*size < 1 || *size - 1 < 3 * (size_t)(**data & 7))
        return false;
    *n = **data & 7;
    *edits = *data + 1;
    *data += 1 + 3 * *n;
    *size -= 1 + 3 * *n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_token t, signed_token;
    struct fuzz_case fc = {-1, false, &signed_token};
    const uint8_t *edits = NULL, *second;
    size_t nedits = 0, first_len, second_len;
    uint8_t flags, mode;
    bool resolve, as_is, before = false;

    if (size < 1 || size > PROTO_JWT_MAX)
        return 0;
    fuzz_make();
    flags = data[0];
    mode = flags & 3;
    resolve = (flags & 4) != 0;
    fc.high = (flags & 0x80) != 0;
    as_is = (flags & 0x40) != 0;
    data++, size--;
    t.len = 0;
    if (mode == 0) {
        fuzz_append(&t, data, size);
        fuzz_run(&fc, &t, resolve);
        return 0;
    }
    if (mode == 3) {
        if (size < 1)
            return 0;
        before = (data[0] & 8) != 0;
        if (!fuzz_take_edits(&data, &size, &edits, &nedits))
            return 0;
    }
    fuzz_split(data, size, &second, &first_len, &second_len);
    if (!fuzz_append_header(&t, data, first_len) || !fuzz_append(&t, ".", 1))
        return 0;
    if (mode == 1) {
        if (fuzz_append(&t, second, second_len))
            fuzz_run(&fc, &t, resolve);
        return 0;
    }
    fc.key = (flags >> 3) & 7;
    if (!(as_is ? fuzz_append(&t, second, second_len) : fuzz_append_b64(&t, second, second_len)))
        return 0;
    if (before)
        fuzz_edit(&t, edits, nedits);
    if (!fuzz_sign(&t, fc.key, fc.high))
        return 0;
    signed_token = t;
    if (!before)
        fuzz_edit(&t, edits, nedits);
    fuzz_run(&fc, &t, resolve);
    return 0;
}
