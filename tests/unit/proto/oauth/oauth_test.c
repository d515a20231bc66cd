/*
 * Unit tests of proto/oauth/oauth.c, what the OAuth endpoints share: the body's parameters,
 * client authentication (client_secret_basic with its parts form-decoded after base64,
 * RFC 6749 §2.3.1; client_secret_post; never both; unknown clients, wrong secrets and
 * Argon2id secrets a person chose), scope arithmetic, Bearer credentials, revoking a
 * grant's family, and a token's public id.  Requests are parsed by proto/http/http.c over a
 * real shared-memory region (tests/unit/proto/ctx_fixture.h).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/ctx_fixture.h"

#define CHOSEN "correct horse battery staple"
#define GRANT "grant_type=client_credentials"

/* Authenticates the client of a token request with the Authorization value auth (NULL:
 * none) and the form body; 0 with *out, or the status written to f->res. */
static int authenticate(struct cfx *f, const char *auth, const char *body, struct proto_client *out)
{
    const struct proto_request *req = cfx_form_parse(f, "/oauth2/token", auth, body);

    memset(out, 0, sizeof(*out));
    if (proto_oauth_params(&f->fx.ctx, req, &f->res) < 0)
        return f->res.status;
    return proto_client_authenticate(&f->fx.ctx, req, out, &f->res) == 0 ? 0 : f->res.status;
}

/* As authenticate, with client_secret_basic of the (already form-encoded) parts. */
static int basic(struct cfx *f, const char *id, const char *secret, struct proto_client *out)
{
    char auth[CFX_BASIC_MAX];

    return authenticate(f, cfx_basic(id, secret, auth), GRANT, out);
}

/* The last answer is a 401 invalid_client with the challenge HTTP requires. */
static void assert_401(struct cfx *f)
{
    cfx_error(f, 401, "invalid_client");
    cfx_header_is(f, "WWW-Authenticate", "Basic realm=\"tessera\"");
}

static void test_basic(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    struct proto_client c;
    char auth[CFX_BASIC_MAX];

    assert_int_equal(basic(f, "svc", CFX_SECRET, &c), 0);
    assert_int_equal(c.method, PROTO_AUTH_BASIC);
    assert_int_equal(c.slot, slot);
    assert_int_equal(c.gen, shm_client_generation(&f->fx.region, slot));
    assert_string_equal(c.rec.id, "svc");
    assert_int_equal(c.rec.verifier_kind, SHM_VERIFIER_SHA256); /* generated: one hash */
    /* the scheme in any case, blanks before the credentials */
    cfx_basic("svc", CFX_SECRET, auth);
    memcpy(auth, "bASIC", 5);
    assert_int_equal(authenticate(f, auth, GRANT, &c), 0);
    assert_int_equal(c.method, PROTO_AUTH_BASIC);
    memmove(auth + 8, auth + 6, strlen(auth + 6) + 1);
    memcpy(auth + 5, "   ", 3);
    assert_int_equal(authenticate(f, auth, GRANT, &c), 0);
    /* a matching client_id parameter beside Basic is allowed */
    assert_int_equal(
        authenticate(f, cfx_basic("svc", CFX_SECRET, auth), GRANT "&client_id=svc", &c), 0);
}

static void test_basic_parts_are_form_decoded(void **state)
{
    struct cfx *f = *state;
    struct proto_client c;

    cfx_client(f, &(struct cfx_client_spec){.id = "we:ird id+%", .secret = "p:a+s s%"});
    cfx_client(f, &(struct cfx_client_spec){.id = "plain", .secret = "x:y"});
    assert_int_equal(basic(f, "we%3Aird+id%2B%25", "p%3Aa%2Bs+s%25", &c), 0);
    assert_string_equal(c.rec.id, "we:ird id+%");
    /* every byte escaped (as oauth4webapi sends it), in either case of hex digit */
    assert_int_equal(basic(f, "%77%65%3a%69%72%64%20%69%64%2b%25", "%70%3A%61%2B%73%20%73%25", &c),
                     0);
    assert_string_equal(c.rec.id, "we:ird id+%");
    /* '+' is a space: the unencoded parts are other credentials */
    assert_int_equal(basic(f, "we%3Aird id+%25", "p%3Aa+s s%25", &c), 401);
    assert_401(f);
    /* split at the first ':' only: a secret may hold more */
    assert_int_equal(basic(f, "plain", "x:y", &c), 0);
    assert_int_equal(basic(f, "plain", "x%3Ay", &c), 0);
    assert_int_equal(basic(f, "plain", "x%3Ay%3A", &c), 401);
    /* a malformed escape is malformed credentials */
    assert_int_equal(basic(f, "plain%zz", "x:y", &c), 401);
    assert_401(f);
    assert_int_equal(basic(f, "plain", "x:y%2", &c), 401);
    /* a NUL is refused as a malformed request, wherever it is decoded */
    assert_int_equal(basic(f, "plain%00", "x:y", &c), 400);
    cfx_error(f, 400, "invalid_request");
    assert_int_equal(basic(f, "plain", "x:y%00", &c), 400);
}

static void test_post(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    const struct proto_request *req;
    struct proto_client c;

    assert_int_equal(authenticate(f, NULL, GRANT "&client_id=svc&client_secret=" CFX_SECRET, &c),
                     0);
    assert_int_equal(c.method, PROTO_AUTH_POST);
    assert_int_equal(c.slot, slot);
    /* form-encoded like every parameter */
    assert_int_equal(authenticate(f, NULL, GRANT "&client_id=%73vc&client_secret=" CFX_SECRET, &c),
                     0);
    /* and in a JSON body */
    req = cfx_parse(f, "POST /oauth2/token", "Content-Type: application/json\r\n",
                    "{\"client_id\":\"svc\",\"client_secret\":\"" CFX_SECRET "\"}");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), 0);
    assert_int_equal(proto_client_authenticate(&f->fx.ctx, req, &c, &f->res), 0);
    assert_int_equal(c.method, PROTO_AUTH_POST);
}

static void test_one_method_only(void **state)
{
    struct cfx *f = *state;
    struct proto_client c;
    char auth[CFX_BASIC_MAX];

    cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    cfx_client(f, &(struct cfx_client_spec){.id = "other"});
    cfx_basic("svc", CFX_SECRET, auth);
    /* both right, and still refused: which one would be meant? */
    assert_int_equal(authenticate(f, auth, GRANT "&client_id=svc&client_secret=" CFX_SECRET, &c),
                     400);
    cfx_error(f, 400, "invalid_request");
    assert_non_null(strstr(cfx_str(f, "error_description"), "one client authentication method"));
    assert_int_equal(authenticate(f, auth, GRANT "&client_secret=" CFX_SECRET, &c), 400);
    assert_int_equal(authenticate(f, auth, GRANT "&client_secret=", &c), 400);
    /* a client_id beside Basic must name the same client */
    assert_int_equal(authenticate(f, auth, GRANT "&client_id=other", &c), 400);
    cfx_error(f, 400, "invalid_request");
    assert_int_equal(authenticate(f, auth, GRANT "&client_id=sv", &c), 400);
}

static void test_refusals(void **state)
{
    struct cfx *f = *state;
    static const char *const bodies[] = {
        GRANT,
        GRANT "&client_id=svc",
        GRANT "&client_secret=" CFX_SECRET,
        GRANT "&client_id=nobody&client_secret=" CFX_SECRET,
        GRANT "&client_id=svc&client_secret=wrong",
        GRANT "&client_id=svc&client_secret=",
        GRANT "&client_id=svc&client_secret=s3cret-of-forty-three-characters-for-test",
        GRANT "&client_id=svc&client_secret=" CFX_SECRET "x",
        GRANT "&client_id=SVC&client_secret=" CFX_SECRET,
        GRANT "&client_id=&client_secret=" CFX_SECRET,
    };
    static const char *const auths[] = {
        "Basic !!!!",                     /* not base64 */
        "Basic c3Zj",                     /* "svc": no ':' */
        "Basic OnNlY3JldA==",             /* ":secret": no id */
        "Basic",                          /* nothing */
        "Bearer " CFX_SECRET,             /* not client authentication */
        "Digest username=\"svc\"",        /* another scheme */
        "Basic c3ZjOnMzY3JldA==garbage!", /* trailing junk */
    };
    struct proto_client c;
    char auth[CFX_BASIC_MAX], secret[600];

    cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(authenticate(f, NULL, bodies[i], &c), 401);
        assert_401(f);
    }
    for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
        assert_int_equal(authenticate(f, auths[i], GRANT, &c), 401);
        assert_401(f);
    }
    assert_int_equal(basic(f, "svc", "wrong", &c), 401);
    assert_int_equal(basic(f, "nobody", CFX_SECRET, &c), 401);
    /* longer than any secret we keep */
    memset(secret, 'a', sizeof(secret) - 1);
    secret[sizeof(secret) - 1] = '\0';
    assert_int_equal(basic(f, "svc", secret, &c), 401);
    snprintf(auth, sizeof(auth), GRANT "&client_id=svc&client_secret=%s", secret);
    assert_int_equal(authenticate(f, NULL, auth, &c), 401);
    /* and the right secret still works */
    assert_int_equal(basic(f, "svc", CFX_SECRET, &c), 0);
}

static void test_chosen_secret(void **state)
{
    struct cfx *f = *state;
    struct proto_client c;

    cfx_client(f, &(struct cfx_client_spec){.id = "human", .secret = CHOSEN, .chosen = true});
    assert_int_equal(authenticate(f, NULL, GRANT "&client_id=human&client_secret=" CHOSEN, &c), 0);
    assert_int_equal(c.rec.verifier_kind, SHM_VERIFIER_ARGON2ID);
    assert_int_equal(basic(f, "human", "correct+horse+battery+staple", &c), 0);
    assert_int_equal(basic(f, "human", "correct+horse+battery+stapl", &c), 401);
    assert_401(f);
    assert_int_equal(
        authenticate(f, NULL, GRANT "&client_id=human&client_secret=correct horse battery", &c),
        401);
}

/* The failed attempts are counted: past the limit for the client id from this address,
 * 429 even with the right secret, and the other address is not concerned. */
static void test_failures_are_counted(void **state)
{
    struct cfx *f = *state;
    struct proto_client c;
    uint8_t elsewhere[32];
    char h[512];

    cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    for (int i = 0; i < CFX_PAIR_LIMIT; i++)
        assert_int_equal(basic(f, "svc", "wrong", &c), 401);
    assert_int_equal(basic(f, "svc", CFX_SECRET, &c), 429);
    cfx_error(f, 429, "temporarily_unavailable");
    assert_non_null(cfx_header(f, "Retry-After", h));
    proto_sha256("ip:127.0.0.2", 12, elsewhere);
    f->fx.ctx.peer_key = elsewhere;
    assert_int_equal(basic(f, "svc", CFX_SECRET, &c), 0);
    /* the next minute starts afresh */
    f->fx.ctx.peer_key = f->peer;
    f->fx.ctx.now += 60;
    assert_int_equal(basic(f, "svc", CFX_SECRET, &c), 0);
}

static void test_params(void **state)
{
    struct cfx *f = *state;
    const struct proto_request *req;

    req = cfx_form_parse(f, "/oauth2/token", NULL, "a=1&resource=x&resource=y&b=%41");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), 0);
    assert_int_equal(f->fx.params.n, 4);
    assert_string_equal(proto_params_get(&f->fx.params, "b")->value, "A");
    /* anything else sent twice is refused (RFC 6749 §3.2) */
    req = cfx_form_parse(f, "/oauth2/token", NULL, "a=1&a=1");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), -EINVAL);
    cfx_error(f, 400, "invalid_request");
    req = cfx_parse(f, "POST /oauth2/token", "Content-Type: Application/JSON; charset=utf-8\r\n",
                    "{\"a\":\"1\",\"scope\":[\"x\",\"y\"]}");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), 0);
    assert_string_equal(proto_params_get(&f->fx.params, "scope")->value, "x y");
    /* no body needs no type; a body of no type or another type is refused */
    req = cfx_parse(f, "POST /oauth2/token", NULL, NULL);
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), 0);
    assert_int_equal(f->fx.params.n, 0);
    req = cfx_parse(f, "POST /oauth2/token", NULL, "a=1");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), -EINVAL);
    cfx_error(f, 400, "invalid_request");
    req = cfx_parse(f, "POST /oauth2/token", "Content-Type: text/plain\r\n", "a=1");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), -EINVAL);
    req = cfx_parse(f, "POST /oauth2/token", "Content-Type: application/json\r\n", "{\"a\":");
    assert_int_equal(proto_oauth_params(&f->fx.ctx, req, &f->res), -EINVAL);
    cfx_error(f, 400, "invalid_request");
}

static void test_scopes(void **state)
{
    char out[16];

    (void)state;
    assert_true(proto_scope_subset("a b", 3, "b c a", 5));
    assert_true(proto_scope_subset("", 0, "a", 1));
    assert_true(proto_scope_subset(" a  b ", 6, "a b", 3));
    assert_false(proto_scope_subset("a d", 3, "a b c", 5));
    assert_false(proto_scope_subset("ab", 2, "a b", 3));
    assert_false(proto_scope_subset("a", 1, "ab", 2));
    assert_false(proto_scope_subset("a", 1, "", 0));
    assert_int_equal(proto_scope_normalize(" b  a b a ", 10, out, sizeof(out)), 3);
    assert_string_equal(out, "b a");
    assert_int_equal(proto_scope_normalize("", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(proto_scope_normalize("x:y!#[]~", 8, out, sizeof(out)), 8);
    /* RFC 6749 §3.3: no '"', no '\\', nothing outside %x21-7E */
    assert_int_equal(proto_scope_normalize("a\"b", 3, out, sizeof(out)), -EINVAL);
    assert_int_equal(proto_scope_normalize("a\\b", 3, out, sizeof(out)), -EINVAL);
    assert_int_equal(proto_scope_normalize("a\tb", 3, out, sizeof(out)), -EINVAL);
    assert_int_equal(proto_scope_normalize("caf\xc3\xa9", 5, out, sizeof(out)), -EINVAL);
    /* it must fit, NUL included */
    assert_int_equal(proto_scope_normalize("0123456789abcde", 15, out, sizeof(out)), 15);
    assert_int_equal(proto_scope_normalize("0123456789abcdef", 16, out, sizeof(out)), -ENOSPC);
    assert_int_equal(proto_scope_normalize("0123456 89abcdef", 16, out, sizeof(out)), -ENOSPC);
}

static void test_bearer(void **state)
{
    struct cfx *f = *state;
    const struct proto_request *req;
    size_t len;
    const char *t;

    req = cfx_parse(f, "GET /oauth2/validate", "Authorization: bearer   tok-en  \r\n", NULL);
    t = proto_bearer(req, &len);
    assert_non_null(t);
    assert_int_equal(len, 6);
    assert_memory_equal(t, "tok-en", 6);
    req = cfx_parse(f, "GET /oauth2/validate", "Authorization: DPoP abc\r\n", NULL);
    t = proto_bearer(req, &len);
    assert_non_null(t);
    assert_int_equal(len, 3);
    req = cfx_parse(f, "GET /oauth2/validate", "Authorization: Bearer    \r\n", NULL);
    assert_null(proto_bearer(req, &len));
    req = cfx_parse(f, "GET /oauth2/validate", "Authorization: Bearerabc\r\n", NULL);
    assert_null(proto_bearer(req, &len));
    req = cfx_parse(f, "GET /oauth2/validate", "Authorization: Basic abc\r\n", NULL);
    assert_null(proto_bearer(req, &len));
    req = cfx_parse(f, "GET /oauth2/validate", NULL, NULL);
    assert_null(proto_bearer(req, &len));
}

/* Puts a token of family `family` and kind in the table; returns its entry. */
static struct shm_token put_token(struct cfx *f, uint64_t slot, int n, uint8_t kind,
                                  uint64_t family)
{
    struct shm_token t = {0};
    char text[32];

    snprintf(text, sizeof(text), "token-%d", n);
    proto_token_hash(text, strlen(text), t.hash);
    t.client_slot = (uint32_t)slot;
    t.client_gen = shm_client_generation(&f->fx.region, slot);
    t.exp = FX_NOW + 600;
    t.kind = kind;
    t.parent = family;
    assert_int_equal(shm_token_insert(&f->fx.region, &t, f->fx.ctx.owner), 0);
    return t;
}

/* Revoking frees an opaque token's entry: an inserted token the table lost is revoked. */
static enum shm_token_state state_of(struct cfx *f, const struct shm_token *t)
{
    struct shm_token now;

    if (shm_token_lookup(&f->fx.region, t->hash, &now) == -ENOENT)
        return SHM_TOKEN_REVOKED;
    return shm_token_state(&f->fx.region, &now, f->fx.ctx.now);
}

static void test_revoke_grant(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    struct shm_token a1 = put_token(f, slot, 1, SHM_TOKEN_ACCESS, 7);
    struct shm_token r1 = put_token(f, slot, 2, SHM_TOKEN_REFRESH, 7);
    struct shm_token a2 = put_token(f, slot, 3, SHM_TOKEN_ACCESS, 7);
    struct shm_token r2 = put_token(f, slot, 4, SHM_TOKEN_REFRESH, 7);
    struct shm_token other = put_token(f, slot, 5, SHM_TOKEN_ACCESS, 9);
    struct shm_token lone = put_token(f, slot, 6, SHM_TOKEN_ACCESS, 0);

    /* an access token ends alone */
    assert_int_equal(proto_token_revoke_grant(&f->fx.ctx, &a1), 0);
    assert_int_equal(state_of(f, &a1), SHM_TOKEN_REVOKED);
    assert_int_equal(state_of(f, &a2), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].kind, CFX_REVOKED);
    assert_memory_equal(f->ev[0].token.hash, a1.hash, 32);
    /* a refresh token ends its whole grant, each revocation journaled once */
    assert_int_equal(proto_token_revoke_grant(&f->fx.ctx, &r1), 0);
    assert_int_equal(state_of(f, &r1), SHM_TOKEN_REVOKED);
    assert_int_equal(state_of(f, &a2), SHM_TOKEN_REVOKED);
    assert_int_equal(state_of(f, &r2), SHM_TOKEN_REVOKED);
    assert_int_equal(state_of(f, &other), SHM_TOKEN_ACTIVE);
    assert_int_equal(state_of(f, &lone), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, 4);
    assert_int_equal(cfx_events(f, CFX_REVOKED), 4);
    /* a journal that cannot take it: the caller answers 503 */
    f->journal_fails = true;
    assert_int_equal(proto_token_revoke_grant(&f->fx.ctx, &other), -EIO);
    assert_int_equal(state_of(f, &other), SHM_TOKEN_REVOKED);
}

static void test_token_request_and_id(void **state)
{
    struct cfx *f = *state;
    const struct proto_request *req;
    const struct proto_param *p;
    struct proto_client c;
    struct shm_token t = {0};
    char id[24], want[24];

    cfx_client(f, &(struct cfx_client_spec){.id = "svc"});
    req = cfx_form_parse(f, "/oauth2/introspect", NULL,
                         "client_id=svc&client_secret=" CFX_SECRET "&token=abc");
    p = proto_oauth_token_request(&f->fx.ctx, req, &c, &f->res);
    assert_non_null(p);
    assert_string_equal(p->value, "abc");
    req = cfx_form_parse(f, "/oauth2/introspect", NULL, "client_id=svc&client_secret=" CFX_SECRET);
    assert_null(proto_oauth_token_request(&f->fx.ctx, req, &c, &f->res));
    cfx_error(f, 400, "invalid_request");
    req = cfx_form_parse(f, "/oauth2/introspect", NULL, "client_id=svc&token=abc");
    assert_null(proto_oauth_token_request(&f->fx.ctx, req, &c, &f->res));
    cfx_error(f, 401, "invalid_client");
    /* a token's public id: the base64url of the first 16 bytes of its hash */
    for (int i = 0; i < 32; i++)
        t.hash[i] = (uint8_t)(0xf0 + i);
    proto_token_id(&t, id);
    proto_b64url_encode(t.hash, 16, want);
    assert_int_equal(strlen(id), 22);
    assert_string_equal(id, want);
    assert_string_equal(id, "8PHy8_T19vf4-fr7_P3-_w");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_basic_parts_are_form_decoded, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_post, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_one_method_only, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_chosen_secret, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_failures_are_counted, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_params, cfx_setup, cfx_teardown),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test_setup_teardown(test_bearer, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_grant, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_token_request_and_id, cfx_setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
