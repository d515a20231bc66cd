/*
 * Unit tests of proto/oauth/token_endpoint.c through the route table: the client credentials
 * grant (opaque and JWT tokens, scope narrowing and normalising, audience and resource,
 * validity_period), the refresh grant (rotation, narrowing, what a changed client is
 * refused), each error of RFC 6749 §5.2, the journal's records, and that a refresh that
 * fails — a refusal, a full token table, a lost race with a concurrent refresh — never
 * uses the refresh token up, while of concurrent refreshes exactly one wins.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/proto/ctx_fixture.h"

#define API "https://api.example"

/* A client of id with scopes "read write admin" (default "read"), audiences API and
 * https://other.example, and the grant types `grants`. */
static uint64_t add_client(struct cfx *f, const char *id, uint32_t grants, uint8_t format)
{
    return cfx_client(f, &(struct cfx_client_spec){.id = id,
                                                   .scopes = "read write admin",
                                                   .default_scopes = "read",
                                                   .audiences = API " https://other.example",
                                                   .grants = grants,
                                                   .format = format,
                                                   .access_ttl = 300});
}

#define BOTH (PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN)

/* POST /oauth2/token as id with client_secret_post and the parameters `params`. */
static struct proto_response *token(struct cfx *f, const char *id, const char *params)
{
    return cfx_post_as(f, "/oauth2/token", id, params);
}

static struct proto_response *refresh(struct cfx *f, const char *id, const char *rt,
                                      const char *more)
{
    char params[CFX_TOKEN_MAX + 1024];

    snprintf(params, sizeof(params), "grant_type=refresh_token&refresh_token=%s%s", rt,
             more ? more : "");
    return token(f, id, params);
}

static const char *interned(struct cfx *f, uint32_t id, char out[PROTO_SCOPE_MAX + 1])
{
    return proto_interned(&f->fx.ctx, id, out, PROTO_SCOPE_MAX + 1);
}

/* The scope an answer granted, after asserting 200. */
static const char *granted(struct cfx *f)
{
    cfx_status(f, 200);
    return cfx_str(f, "scope");
}

static void test_client_credentials(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = add_client(f, "cc", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_OPAQUE);
    char access[CFX_TOKEN_MAX], other[CFX_TOKEN_MAX], text[PROTO_SCOPE_MAX + 1];
    struct shm_token t;
    json_t *j;

    cfx_grant(f, "cc", NULL, access, NULL);
    j = cfx_json(f);
    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(cfx_str(f, "token_type"), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 300);
    assert_string_equal(cfx_str(f, "scope"), "read"); /* the client's default scopes */
    assert_string_equal(f->res.content_type, "application/json");
    cfx_header_is(f, "Cache-Control", "no-store");
    cfx_header_is(f, "Pragma", "no-cache");
    /* 256 random bits in base64url; only their hash is kept */
    assert_int_equal(strlen(access), PROTO_TOKEN_CHARS);
    assert_int_equal(strspn(access, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"),
                     PROTO_TOKEN_CHARS);
    assert_int_equal(cfx_entry(f, access, &t), 0);
    assert_int_equal(t.kind, SHM_TOKEN_ACCESS);
    assert_int_equal(t.flags, 0);
    assert_int_equal(t.client_slot, slot);
    assert_int_equal(t.client_gen, shm_client_generation(&f->fx.region, slot));
    assert_int_equal(t.iat, FX_NOW);
    assert_int_equal(t.exp, FX_NOW + 300);
    assert_int_equal(t.parent, 0);
    assert_true(shm_token_scope(&f->fx.region, &t, text, sizeof(text)) > 0);
    assert_string_equal(text, "read");
    assert_int_equal(t.audience, 0); /* an opaque token has no audience unless asked */
    assert_int_equal(cfx_state(f, access), SHM_TOKEN_ACTIVE);
    /* the journal has it, with the texts (interned ids do not survive a restart) */
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].kind, CFX_ISSUED);
    assert_memory_equal(f->ev[0].token.hash, t.hash, 32);
    assert_int_equal(f->ev[0].token.exp, t.exp);
    assert_string_equal(f->ev[0].id, "cc");
    assert_string_equal(f->ev[0].scope, "read");
    assert_string_equal(f->ev[0].aud, "");
    cfx_grant(f, "cc", NULL, other, NULL);
    assert_string_not_equal(access, other);
}

static void test_client_credentials_with_a_refresh_grant(void **state)
{
    struct cfx *f = *state;
    char access[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];
    struct shm_token a, r;

    cfx_client(f, &(struct cfx_client_spec){
                      .id = "both", .scopes = "read", .grants = BOTH, .refresh_ttl = 7200});
    add_client(f, "dflt", BOTH, PROTO_FORMAT_OPAQUE);
    cfx_grant(f, "both", NULL, access, rt);
    assert_int_equal(strlen(rt), PROTO_TOKEN_CHARS);
    assert_int_equal(cfx_entry(f, access, &a), 0);
    assert_int_equal(cfx_entry(f, rt, &r), 0);
    assert_int_equal(r.kind, SHM_TOKEN_REFRESH);
    assert_int_equal(r.exp, FX_NOW + 7200);
    /* one grant: the family is shared, and never 0 ("no grant") */
    assert_true(a.parent != 0);
    assert_true(a.parent == r.parent);
    assert_int_equal(f->nev, 2);
    assert_int_equal(cfx_events(f, CFX_ISSUED), 2);
    /* a client without a refresh lifetime of its own gets the server's */
    cfx_grant(f, "dflt", NULL, access, rt);
    assert_int_equal(cfx_entry(f, rt, &r), 0);
    assert_int_equal(r.exp, FX_NOW + 86400);
}

static const struct cfx_refusal scope_refusals[] = {
    {"cc", "grant_type=client_credentials&scope=delete", 400, "invalid_scope"},
    {"cc", "grant_type=client_credentials&scope=read+delete", 400, "invalid_scope"},
    {"cc", "grant_type=client_credentials&scope=rea", 400, "invalid_scope"},
    /* '"' is no scope character (RFC 6749 §3.3) */
    {"cc", "grant_type=client_credentials&scope=read%22", 400, "invalid_scope"},
};

static void test_scope_narrowing(void **state)
{
    struct cfx *f = *state;
    char big[400] = "grant_type=client_credentials&scope=";

    add_client(f, "cc", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_OPAQUE);
    token(f, "cc", "grant_type=client_credentials&scope=write");
    assert_string_equal(granted(f), "write");
    /* canonical: single spaces, no duplicates, sorted whatever the order asked */
    token(f, "cc", "grant_type=client_credentials&scope=+read++admin+read+");
    assert_string_equal(granted(f), "admin read");
    token(f, "cc", "grant_type=client_credentials&scope=read%20write%20admin");
    assert_string_equal(granted(f), "admin read write");
    f->nev = 0;
    cfx_refusals(f, "/oauth2/token", scope_refusals,
                 sizeof(scope_refusals) / sizeof(scope_refusals[0]));
    memset(big + strlen(big), 'r', 300);
    token(f, "cc", big);
    cfx_error(f, 400, "invalid_scope");
    assert_int_equal(f->nev, 0); /* nothing issued */
    /* a JSON body may give the scope as an array */
    cfx_request(f, "POST /oauth2/token", "Content-Type: application/json\r\n",
                "{\"grant_type\":\"client_credentials\",\"client_id\":\"cc\",\"client_secret\":"
                "\"" CFX_SECRET "\",\"scope\":[\"write\",\"read\"]}");
    assert_string_equal(granted(f), "read write");
}

/* The audience of the token of the last (200) answer. */
static const char *audience(struct cfx *f, char out[PROTO_SCOPE_MAX + 1])
{
    struct shm_token t;

    cfx_status(f, 200);
    assert_int_equal(cfx_entry(f, cfx_str(f, "access_token"), &t), 0);
    return interned(f, t.audience, out);
}

#define CC "grant_type=client_credentials"

static const struct cfx_refusal audience_refusals[] = {
    {"cc", CC "&resource=" API "&resource=https://other.example", 400, "invalid_target"},
    {"cc", CC "&audience=" API "&resource=https://other.example", 400, "invalid_target"},
    {"cc", CC "&audience=https://evil.example", 400, "invalid_target"},
    {"cc", CC "&audience=https://api.exampl", 400, "invalid_target"},
    {"cc", CC "&audience=", 400, "invalid_target"},
    {"cc", CC "&audience=" API "+https://other.example", 400, "invalid_target"}, /* one */
};

static void test_audience(void **state)
{
    struct cfx *f = *state;
    char aud[PROTO_SCOPE_MAX + 1];

    add_client(f, "cc", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_OPAQUE);
    token(f, "cc", "grant_type=client_credentials");
    assert_string_equal(audience(f, aud), "");
    token(f, "cc", "grant_type=client_credentials&audience=https://other.example");
    assert_string_equal(audience(f, aud), "https://other.example");
    assert_string_equal(f->ev[f->nev - 1].aud, "https://other.example");
    token(f, "cc", "grant_type=client_credentials&resource=" API);
    assert_string_equal(audience(f, aud), API);
    /* resource may repeat (RFC 8707), with one value: one audience per token */
    token(f, "cc", "grant_type=client_credentials&resource=" API "&resource=" API);
    assert_string_equal(audience(f, aud), API);
    token(f, "cc", "grant_type=client_credentials&audience=" API "&resource=" API);
    assert_string_equal(audience(f, aud), API);
    cfx_refusals(f, "/oauth2/token", audience_refusals,
                 sizeof(audience_refusals) / sizeof(audience_refusals[0]));
}

static void test_jwt_default_audience(void **state)
{
    struct cfx *f = *state;
    char aud[PROTO_SCOPE_MAX + 1];

    add_client(f, "jwt", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_JWT);
    cfx_client(f, &(struct cfx_client_spec){.id = "bare", .format = PROTO_FORMAT_JWT});
    /* RFC 9068 requires aud: the first allowed audience, else this server */
    token(f, "jwt", "grant_type=client_credentials");
    assert_string_equal(audience(f, aud), API);
    token(f, "jwt", "grant_type=client_credentials&audience=https://other.example");
    assert_string_equal(audience(f, aud), "https://other.example");
    token(f, "bare", "grant_type=client_credentials");
    assert_string_equal(audience(f, aud), FX_ISSUER);
}

static void test_validity_period(void **state)
{
    struct cfx *f = *state;
    static const char *const bad[] = {"0", "-1", "abc", "5x", "%205", "+5", "", "0x10"};
    char params[128];
    struct shm_token t;

    cfx_client(f, &(struct cfx_client_spec){.id = "max", .access_ttl = 300, .max_access_ttl = 900});
    cfx_client(f, &(struct cfx_client_spec){.id = "flat", .access_ttl = 300});
    token(f, "max", "grant_type=client_credentials&validity_period=60");
    cfx_status(f, 200);
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "expires_in")), 60);
    assert_int_equal(cfx_entry(f, cfx_str(f, "access_token"), &t), 0);
    assert_int_equal(t.exp, FX_NOW + 60);
    token(f, "max", "grant_type=client_credentials&validity_period=5000");
    cfx_status(f, 200);
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "expires_in")), 900);
    /* without a maximum, the client's lifetime is the most */
    token(f, "flat", "grant_type=client_credentials&validity_period=5000");
    cfx_status(f, 200);
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "expires_in")), 300);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(params, sizeof(params), "grant_type=client_credentials&validity_period=%s",
                 bad[i]);
        token(f, "max", params);
        cfx_error(f, 400, "invalid_request");
    }
}

static void test_jwt_access_token(void **state)
{
    struct cfx *f = *state;
    char access[CFX_TOKEN_MAX];
    struct shm_token t;
    json_t *head, *claims;

    cfx_client(f, &(struct cfx_client_spec){.id = "jwt",
                                            .scopes = "read",
                                            .audiences = API,
                                            .format = PROTO_FORMAT_JWT,
                                            .access_ttl = 5000});
    cfx_grant(f, "jwt", NULL, access, NULL);
    /* no JWT outlives the retention of retired keys (tokens.max_access_ttl) */
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "expires_in")), FX_MAX_TTL);
    head = fx_part(access, 0);
    claims = fx_part(access, 1);
    assert_non_null(head);
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(head, "typ")), "at+jwt");
    assert_string_equal(json_string_value(json_object_get(head, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), FX_ISSUER);
    assert_string_equal(json_string_value(json_object_get(claims, "client_id")), "jwt");
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "jwt");
    assert_string_equal(json_string_value(json_object_get(claims, "scope")), "read");
    assert_string_equal(json_string_value(json_object_get(claims, "aud")), API);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), FX_NOW);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), FX_NOW + FX_MAX_TTL);
    assert_int_equal(strlen(json_string_value(json_object_get(claims, "jti"))), PROTO_TOKEN_CHARS);
    json_decref(head);
    json_decref(claims);
    assert_int_equal(cfx_entry(f, access, &t), 0);
    assert_int_equal(t.flags, SHM_TOKEN_JWT);
    assert_int_equal(t.exp, FX_NOW + FX_MAX_TTL);
}

static const struct cfx_refusal refusals[] = {
    {"cc", CC "&grant_type=client_credentials", 400, "invalid_request"}, /* repeated */
    {"cc", CC "%00x", 400, "invalid_request"},                           /* a NUL */
    {"both", "grant_type=refresh_token", 400, "invalid_request"},
    {"both", "grant_type=refresh_token&refresh_token=", 400, "invalid_request"},
    {"nobody", CC, 401, "invalid_client"},
    /* a grant type the client was not given */
    {"cc", "grant_type=refresh_token&refresh_token=x", 400, "unauthorized_client"},
    {"rt-only", CC, 400, "unauthorized_client"},
    {"cc", "grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
    {"cc", "grant_type=authorization_code&code=x", 400, "unsupported_grant_type"},
    {"cc", "grant_type=Client_Credentials", 400, "unsupported_grant_type"},
    {"both", "grant_type=refresh_token&refresh_token=unknown", 400, "invalid_grant"},
};

static void test_errors(void **state)
{
    struct cfx *f = *state;
    char access[CFX_TOKEN_MAX], rt[CFX_TOKEN_MAX];

    add_client(f, "cc", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_OPAQUE);
    add_client(f, "rt-only", PROTO_GRANT_REFRESH_TOKEN, PROTO_FORMAT_OPAQUE);
    add_client(f, "both", BOTH, PROTO_FORMAT_OPAQUE);
    /* invalid_request: no grant_type (asked before authentication), a body that is no
     * form */
    cfx_form(f, "/oauth2/token", NULL, "scope=read");
    cfx_error(f, 400, "invalid_request");
    cfx_header_is(f, "Pragma", "no-cache");
    cfx_request(f, "POST /oauth2/token", "Content-Type: text/plain\r\n",
                CC "&client_id=cc&client_secret=" CFX_SECRET);
    cfx_error(f, 400, "invalid_request");
    /* invalid_client, with the challenge HTTP requires on a 401 */
    cfx_form(f, "/oauth2/token", NULL, CC "&client_id=cc&client_secret=x");
    cfx_error(f, 401, "invalid_client");
    cfx_header_is(f, "WWW-Authenticate", "Basic realm=\"tessera\"");
    cfx_refusals(f, "/oauth2/token", refusals, sizeof(refusals) / sizeof(refusals[0]));
    /* invalid_grant: an access token, another client's, expired, revoked */
    cfx_grant(f, "both", NULL, access, rt);
    refresh(f, "both", access, NULL);
    cfx_error(f, 400, "invalid_grant");
    refresh(f, "rt-only", rt, NULL);
    cfx_error(f, 400, "invalid_grant");
    f->fx.ctx.now += 86400;
    refresh(f, "both", rt, NULL);
    cfx_error(f, 400, "invalid_grant");
    f->fx.ctx.now -= 86400;
    refresh(f, "both", rt, NULL);
    cfx_status(f, 200); /* it was valid all along */
    cfx_grant(f, "both", NULL, access, rt);
    cfx_token_call(f, "/oauth2/revoke", "both", rt);
    cfx_status(f, 200);
    refresh(f, "both", rt, NULL);
    cfx_error(f, 400, "invalid_grant");
}

static void test_refresh_rotation(void **state)
{
    struct cfx *f = *state;
    char a1[CFX_TOKEN_MAX], r1[CFX_TOKEN_MAX], a2[CFX_TOKEN_MAX], r2[CFX_TOKEN_MAX];
    char text[PROTO_SCOPE_MAX + 1];
    struct shm_token old, t;

    add_client(f, "rt", BOTH, PROTO_FORMAT_OPAQUE);
    cfx_grant(f, "rt", "grant_type=client_credentials&scope=read+write&audience=" API, a1, r1);
    assert_int_equal(cfx_entry(f, r1, &old), 0);
    f->nev = 0;
    f->fx.ctx.now += 10;
    refresh(f, "rt", r1, NULL);
    assert_string_equal(granted(f), "read write");
    assert_int_equal(json_integer_value(json_object_get(cfx_json(f), "expires_in")), 300);
    strcpy(a2, cfx_str(f, "access_token"));
    strcpy(r2, cfx_str(f, "refresh_token"));
    assert_string_not_equal(a2, a1);
    assert_string_not_equal(r2, r1);
    /* the used refresh token stops working; the grant's access tokens stay valid */
    assert_int_equal(cfx_state(f, r1), SHM_TOKEN_REVOKED);
    assert_int_equal(cfx_state(f, a1), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_state(f, r2), SHM_TOKEN_ACTIVE);
    /* the new pair inherits the family, the scope and the audience */
    assert_int_equal(cfx_entry(f, a2, &t), 0);
    assert_true(t.parent == old.parent);
    assert_int_equal(t.iat, FX_NOW + 10);
    assert_string_equal(interned(f, t.audience, text), API);
    assert_int_equal(cfx_entry(f, r2, &t), 0);
    assert_true(t.parent == old.parent);
    assert_int_equal(t.kind, SHM_TOKEN_REFRESH);
    /* the journal: the old token's revocation, then the new pair */
    assert_int_equal(f->nev, 3);
    assert_int_equal(f->ev[0].kind, CFX_REVOKED);
    assert_memory_equal(f->ev[0].token.hash, old.hash, 32);
    assert_int_equal(f->ev[1].kind, CFX_ISSUED);
    assert_int_equal(f->ev[1].token.kind, SHM_TOKEN_ACCESS);
    assert_int_equal(f->ev[2].kind, CFX_ISSUED);
    assert_int_equal(f->ev[2].token.kind, SHM_TOKEN_REFRESH);
    assert_string_equal(f->ev[2].scope, "read write");
    assert_string_equal(f->ev[2].aud, API);
    refresh(f, "rt", r1, NULL);
    cfx_error(f, 400, "invalid_grant");
    /* narrowing: the rest of the grant is the narrower scope */
    refresh(f, "rt", r2, "&scope=write");
    assert_string_equal(granted(f), "write");
    strcpy(r1, cfx_str(f, "refresh_token"));
    refresh(f, "rt", r1, "&scope=read");
    cfx_error(f, 400, "invalid_scope");
    refresh(f, "rt", r1, NULL);
    assert_string_equal(granted(f), "write");
}

/* A refused refresh leaves the refresh token usable. */
static void assert_refused_keeps(struct cfx *f, const char *rt, const char *more, int status,
                                 const char *error)
{
    int nev = f->nev;

    refresh(f, "rt", rt, more);
    cfx_error(f, status, error);
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, nev);
}

static void test_refusals_keep_the_refresh_token(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = add_client(f, "rt", BOTH, PROTO_FORMAT_OPAQUE);
    char rt[CFX_TOKEN_MAX];
    struct shm_client c;
    uint32_t gen;

    cfx_grant(f, "rt", "grant_type=client_credentials&scope=read+write&audience=" API, NULL, rt);
    assert_refused_keeps(f, rt, "&scope=admin", 400, "invalid_scope");
    assert_refused_keeps(f, rt, "&scope=read%22", 400, "invalid_scope");
    assert_refused_keeps(f, rt, "&validity_period=soon", 400, "invalid_request");
    /* the admin took "write" away: the grant is refused unless it asks for less */
    assert_true(shm_client_find(&f->fx.region, "rt", 2, &c, &gen) >= 0);
    c.scopes = cfx__intern(f, "read");
    cfx__scope_base(f, &c, "read");
    assert_int_equal(shm_client_update(&f->fx.region, slot, &c, false, f->fx.ctx.owner, NULL, NULL),
                     0);
    assert_refused_keeps(f, rt, NULL, 400, "invalid_scope");
    assert_non_null(strstr(cfx_str(f, "error_description"), "no longer allowed"));
    /* ... and the audience of the grant */
    c.scopes = cfx__intern(f, "read write");
    cfx__scope_base(f, &c, "read write");
    c.audiences = cfx__intern(f, "https://other.example");
    assert_int_equal(shm_client_update(&f->fx.region, slot, &c, false, f->fx.ctx.owner, NULL, NULL),
                     0);
    assert_refused_keeps(f, rt, NULL, 400, "invalid_target");
    c.audiences = cfx__intern(f, API);
    assert_int_equal(shm_client_update(&f->fx.region, slot, &c, false, f->fx.ctx.owner, NULL, NULL),
                     0);
    refresh(f, "rt", rt, "&scope=read");
    assert_string_equal(granted(f), "read");
}

static void test_refresh_journal_failure(void **state)
{
    struct cfx *f = *state;
    char rt[CFX_TOKEN_MAX];
    uint64_t live;

    add_client(f, "rt", BOTH, PROTO_FORMAT_OPAQUE);
    cfx_grant(f, "rt", NULL, NULL, rt);
    live = cfx_live_tokens(f);
    f->journal_fails = true;
    refresh(f, "rt", rt, NULL);
    cfx_error(f, 503, "temporarily_unavailable");
    token(f, "rt", "grant_type=client_credentials");
    cfx_error(f, 503, "temporarily_unavailable");
    /* no token was handed out, so none may stay behind in the table; the used refresh
     * token's entry was freed before its revocation failed to be journaled (the worker
     * answers 503 and acknowledges nothing; a restart brings the grant back) */
    assert_int_equal(cfx_live_tokens(f), live - 1);
}

/* The token table of this test holds 14 tokens. */
static int setup_tiny(void **state)
{
    struct shm_region_sizes sz = {.tokens = 14, .clients = 4, .intern = 16, .jti = 4};

    return cfx_setup_sized(state, &sz);
}

static void test_full_table_keeps_the_refresh_token(void **state)
{
    struct cfx *f = *state;
    uint64_t slot = add_client(f, "rt", BOTH, PROTO_FORMAT_OPAQUE);
    char rt[CFX_TOKEN_MAX];

    cfx_grant(f, "rt", NULL, NULL, rt);
    assert_int_equal(cfx_fill_tokens(f, slot, FX_NOW + 60), 12);
    f->nev = 0;
    refresh(f, "rt", rt, NULL);
    cfx_error(f, 503, "temporarily_unavailable");
    /* the grant survives: a failing refresh does not use the refresh token up */
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    assert_int_equal(f->nev, 0);
    /* room for the access token only: it is taken back, and the grant still survives */
    cfx_unfill_token(f, 0);
    refresh(f, "rt", rt, NULL);
    cfx_error(f, 503, "temporarily_unavailable");
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_ACTIVE);
    assert_int_equal(cfx_live_tokens(f), 13);
    assert_int_equal(f->nev, 0);
    cfx_unfill_token(f, 1);
    refresh(f, "rt", rt, NULL);
    cfx_status(f, 200);
    assert_int_equal(cfx_state(f, rt), SHM_TOKEN_REVOKED);
    assert_int_equal(cfx_live_tokens(f), 13); /* the used refresh token's entry is freed */
    assert_int_equal(f->nev, 3);
}

#define RACERS 4
#define RACE_ROUNDS 12

/* A racer's verdict (its exit status). */
enum race_verdict { RACE_WON, RACE_LOST_EARLY, RACE_LOST_LATE, RACE_ODD };

/* In a child: waits for the start, refreshes rt once, and judges the answer and the
 * journal: the winner logged the old token's revocation and the new pair, a loser
 * nothing. */
static int race_child(struct cfx *f, const char *rt, int go, int racer)
{
    const char *why;
    char c;

    f->fx.ctx.owner = (struct shm_owner){10 + (uint32_t)racer, 1};
    f->nev = 0;
    if (read(go, &c, 1) != 0)
        return RACE_ODD;
    refresh(f, "rt", rt, NULL);
    if (f->res.status == 200)
        return f->nev == 3 && f->ev[0].kind == CFX_REVOKED && f->ev[1].kind == CFX_ISSUED &&
                       f->ev[2].kind == CFX_ISSUED
                   ? RACE_WON
                   : RACE_ODD;
    why = memmem(f->res.body.data, f->res.body.len, "meanwhile", 9);
    if (f->res.status != 400 || !memmem(f->res.body.data, f->res.body.len, "invalid_grant", 13) ||
        f->nev)
        return RACE_ODD;
    return why ? RACE_LOST_LATE : RACE_LOST_EARLY;
}

/* Entries of the table in the grant family `parent`. */
static int family_size(struct cfx *f, uint64_t parent)
{
    struct shm_token e;
    struct shm_entry en;
    int n = 0;

    for (uint64_t s = 0; s < shm_table_capacity(f->fx.region.tokens); s++) {
        if (shm_table_read(f->fx.region.tokens, s, &en) < 0)
            continue;
        shm_token_decode(en.words, &e);
        n += e.parent == parent;
    }
    return n;
}

static void test_concurrent_refreshes(void **state)
{
    struct cfx *f = *state;
    int verdicts[RACE_ODD + 1] = {0};
    char rt[CFX_TOKEN_MAX];

    add_client(f, "rt", BOTH, PROTO_FORMAT_OPAQUE);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int won = 0, status, go[2];
        pid_t pid[RACERS];
        struct shm_token t;

        cfx_grant(f, "rt", NULL, NULL, rt);
        assert_int_equal(cfx_entry(f, rt, &t), 0);
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < RACERS; i++) {
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0) {
                close(go[1]);
                _exit(race_child(f, rt, go[0], i));
            }
        }
        close(go[0]);
        close(go[1]); /* every racer starts now */
        for (int i = 0; i < RACERS; i++) {
            assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
            assert_true(WIFEXITED(status));
            assert_true(WEXITSTATUS(status) < RACE_ODD);
            verdicts[WEXITSTATUS(status)]++;
            won += WEXITSTATUS(status) == RACE_WON;
        }
        assert_int_equal(won, 1);
        /* the grant's first access token and the winner's pair (the used refresh token's
         * entry is freed): the losers left nothing behind */
        assert_int_equal(family_size(f, t.parent), 3);
        assert_int_equal(cfx_state(f, rt), SHM_TOKEN_REVOKED);
    }
    print_message("%d rounds: %d lost before issuing, %d lost the race to use the token\n",
                  RACE_ROUNDS, verdicts[RACE_LOST_EARLY], verdicts[RACE_LOST_LATE]);
}

static void test_every_path(void **state)
{
    struct cfx *f = *state;
    static const char *const paths[] = {"/oauth2/token", "/token", "/access_token", "/auth/token",
                                        "/.oidc/token"};

    add_client(f, "cc", PROTO_GRANT_CLIENT_CREDENTIALS, PROTO_FORMAT_OPAQUE);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        cfx_form(f, paths[i], NULL,
                 "grant_type=client_credentials&client_id=cc&client_secret=" CFX_SECRET);
        assert_string_equal(granted(f), "read");
    }
    cfx_request(f, "GET /oauth2/token", NULL, NULL);
    cfx_status(f, 405);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_credentials, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_client_credentials_with_a_refresh_grant, cfx_setup,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_scope_narrowing, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_audience, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_jwt_default_audience, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_validity_period, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_jwt_access_token, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_errors, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rotation, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_keep_the_refresh_token, cfx_setup,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_journal_failure, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_full_table_keeps_the_refresh_token, setup_tiny,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_refreshes, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(test_every_path, cfx_setup, cfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
