/*
 * The fixture of the endpoint handlers' unit tests (token, client authentication,
 * validation, introspection, revocation, admin clients): jwt_fixture.h's region, ctx and
 * keystore, plus a journal that records what the handlers report, clients written into
 * shared memory, and requests parsed from raw HTTP text by proto/http/http.c and routed through
 * the server's own table, so a test sees what a worker would answer.
 */
#ifndef TESTS_UNIT_PROTO_CTX_FIXTURE_H
#define TESTS_UNIT_PROTO_CTX_FIXTURE_H

#include <strings.h>

#include <openssl/evp.h>

#include "proto/admin/admin.h"
#include "proto/http/router.h"
#include "proto/oauth/client_auth.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/secret.h"
#include "proto/oauth/token_limit.h"
#include "proto/oauth/token_resolve.h"
#include "proto/oauth/tokens.h"
#include "shm/scope.h"
#include "shm/token.h"
#include "tests/unit/proto/jose/jwt_fixture.h"

#define CFX_ADMIN_TOKEN "admin-token-for-unit-tests"
#define CFX_ADMIN "Bearer " CFX_ADMIN_TOKEN
#define CFX_SECRET "s3cret-of-forty-three-characters-for-tests" /* 43 characters */
#define CFX_EVENTS 64
#define CFX_TOKEN_MAX 2048
#define CFX_BASIC_MAX 2048 /* an Authorization: Basic value */
#define CFX_PAIR_LIMIT 10  /* the configuration's defaults */
#define CFX_ADDRESS_LIMIT 200
#define CFX_CLIENT_LIMIT 20

enum cfx_event_kind { CFX_ISSUED = 1, CFX_REVOKED, CFX_CLIENT_PUT, CFX_CLIENT_DELETED };

/* One report to the journal. */
struct cfx_event {
    enum cfx_event_kind kind;
    struct shm_token token;     /* CFX_ISSUED: the entry; CFX_REVOKED: .hash */
    char id[SHM_CLIENT_ID_MAX]; /* the client's id (issued and client events) */
    char scope[PROTO_SCOPE_MAX + 1], aud[PROTO_SCOPE_MAX + 1];
    uint32_t generation;
    uint64_t version;
};

struct cfx {
    struct fx fx; /* region, cfg, ctx, keys; fx.ctx.journal is &journal */
    struct proto_journal journal;
    struct cfx_event ev[CFX_EVENTS];
    int nev;
    bool journal_fails; /* every report answers -EIO */
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    json_t *json; /* the last answer's body once cfx_json parsed it */
    uint8_t peer[32];
    char in[16384];
};

static inline struct cfx_event *cfx__event(struct cfx *f, enum cfx_event_kind kind)
{
    struct cfx_event *e = &f->ev[f->nev < CFX_EVENTS ? f->nev : CFX_EVENTS - 1];

    if (f->nev < CFX_EVENTS)
        f->nev++;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    return e;
}

static inline int cfx__issued(void *arg, const struct shm_token *t, const char *client_id,
                              const char *scope, const char *audience)
{
    struct cfx *f = arg;
    struct cfx_event *e = cfx__event(f, CFX_ISSUED);

    e->token = *t;
    snprintf(e->id, sizeof(e->id), "%s", client_id);
    snprintf(e->scope, sizeof(e->scope), "%s", scope);
    snprintf(e->aud, sizeof(e->aud), "%s", audience);
    return f->journal_fails ? -EIO : 0;
}

static inline int cfx__revoked(void *arg, const uint8_t hash[32])
{
    struct cfx *f = arg;

    memcpy(cfx__event(f, CFX_REVOKED)->token.hash, hash, 32);
    return f->journal_fails ? -EIO : 0;
}

static inline int cfx__client_put(void *arg, const struct shm_client *c, uint32_t generation,
                                  uint64_t version)
{
    struct cfx *f = arg;
    struct cfx_event *e = cfx__event(f, CFX_CLIENT_PUT);

    snprintf(e->id, sizeof(e->id), "%s", c->id);
    e->generation = generation;
    e->version = version;
    return f->journal_fails ? -EIO : 0;
}

static inline int cfx__client_deleted(void *arg, const char *id, uint32_t generation,
                                      uint64_t version)
{
    struct cfx *f = arg;
    struct cfx_event *e = cfx__event(f, CFX_CLIENT_DELETED);

    snprintf(e->id, sizeof(e->id), "%s", id);
    e->generation = generation;
    e->version = version;
    return f->journal_fails ? -EIO : 0;
}

/* A fixture over a region of sizes sz with an ES256 key, the configuration's default
 * limits, the admin API on, and requests from 127.0.0.1.  0 or -1. */
static inline int cfx_setup_sized(void **state, const struct shm_region_sizes *sz)
{
    struct cfx *f = calloc(1, sizeof(*f));

    if (f == NULL || fx_init(&f->fx, sz, 1u << PROTO_JWT_ES256) < 0)
        return -1;
    f->fx.cfg.admin_enabled = true;
    proto_sha256(CFX_ADMIN_TOKEN, strlen(CFX_ADMIN_TOKEN), f->fx.cfg.admin_token_hash);
    f->fx.cfg.default_refresh_ttl = 86400;
    f->fx.cfg.auth_fail_per_client_address = CFX_PAIR_LIMIT;
    f->fx.cfg.auth_fail_per_address = CFX_ADDRESS_LIMIT;
    f->fx.cfg.auth_fail_per_client = CFX_CLIENT_LIMIT;
    f->journal =
        (struct proto_journal){f, cfx__issued, cfx__revoked, cfx__client_put, cfx__client_deleted};
    f->fx.ctx.journal = &f->journal;
    f->fx.ctx.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    f->fx.ctx.ready = 1;
    f->fx.ctx.peer = "127.0.0.1";
    proto_sha256("ip:127.0.0.1", 12, f->peer);
    f->fx.ctx.peer_key = f->peer;
    f->limits = (struct proto_limits){8192, 16384, 64};
    *state = f;
    return 0;
}

static inline int cfx_setup(void **state)
{
    struct shm_region_sizes sz = {.tokens = 400, .clients = 16, .intern = 64, .jti = 16};

    return cfx_setup_sized(state, &sz);
}

static inline int cfx_teardown(void **state)
{
    struct cfx *f = *state;

    json_decref(f->json);
    proto_response_free(&f->res);
    fx_fini(&f->fx);
    free(f);
    return 0;
}

/* A client written straight into shared memory, as the admin API would store it. */
struct cfx_client_spec {
    const char *id;
    const char *secret; /* NULL: CFX_SECRET */
    bool chosen;        /* a person chose the secret: Argon2id */
    const char *scopes, *audiences;
    const char *default_scopes; /* NULL: every allowed scope */
    const char *subject;        /* an account's WebID; NULL: the client id */
    uint32_t grants;            /* PROTO_GRANT_*; 0: client_credentials */
    uint32_t flags;             /* PROTO_CLIENT_* */
    uint8_t format;             /* PROTO_FORMAT_* */
    uint32_t access_ttl;        /* 0: 600 */
    uint32_t max_access_ttl, refresh_ttl;
};

static inline uint32_t cfx__intern(struct cfx *f, const char *s)
{
    int64_t id = shm_intern_put(&f->fx.region, s, strlen(s), f->fx.ctx.owner);

    assert_true(id >= 0);
    return (uint32_t)id;
}

/* The client's scopes in canonical order (shm/scope.h), over which tokens' scopes are
 * bits — as proto's client parsing sets it. */
static inline void cfx__scope_base(struct cfx *f, struct shm_client *c, const char *scopes)
{
    char base[PROTO_SCOPE_MAX + 1];
    int n = shm_scope_canon(scopes, strlen(scopes), base, sizeof(base));

    assert_true(n >= 0);
    c->scope_base = cfx__intern(f, base);
}

/* Creates the client of s; returns its slot. */
static inline uint64_t cfx_client(struct cfx *f, const struct cfx_client_spec *s)
{
    const char *secret = s->secret ? s->secret : CFX_SECRET;
    struct shm_client c = {0};
    int64_t slot;

    snprintf(c.id, sizeof(c.id), "%s", s->id);
    c.scopes = cfx__intern(f, s->scopes ? s->scopes : "");
    c.default_scopes = s->default_scopes ? cfx__intern(f, s->default_scopes) : c.scopes;
    c.audiences = cfx__intern(f, s->audiences ? s->audiences : "");
    cfx__scope_base(f, &c, s->scopes ? s->scopes : "");
    c.subject = cfx__intern(f, s->subject ? s->subject : "");
    c.grant_types = s->grants ? s->grants : PROTO_GRANT_CLIENT_CREDENTIALS;
    c.flags = s->flags;
    c.token_format = s->format;
    c.jwt_alg = PROTO_JWT_ES256;
    c.access_ttl = s->access_ttl ? s->access_ttl : 600;
    c.max_access_ttl = s->max_access_ttl;
    c.refresh_ttl = s->refresh_ttl;
    c.created = c.updated = f->fx.ctx.now - 100;
    assert_int_equal(proto_secret_set(&c, secret, strlen(secret), !s->chosen), 0);
    slot = shm_client_create(&f->fx.region, &c, f->fx.ctx.owner, NULL);
    assert_true(slot >= 0);
    return (uint64_t)slot;
}

/* Parses the request line `line` ("POST /oauth2/token") with the header lines `headers`
 * ("Name: value\r\n" each; NULL: none) and `body` (NULL: none, else with its
 * Content-Length) as a worker would, and empties f->res for its answer. */
static inline const struct proto_request *cfx_parse(struct cfx *f, const char *line,
                                                    const char *headers, const char *body)
{
    char length[40] = "";
    int n;

    if (body)
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n", strlen(body));
    n = snprintf(f->in, sizeof(f->in), "%s HTTP/1.1\r\nHost: x\r\n%s%s\r\n%s", line,
                 headers ? headers : "", length, body ? body : "");
    assert_true(n > 0 && (size_t)n < sizeof(f->in));
    proto_http_init(&f->http, &f->limits);
    assert_int_equal(proto_http_feed(&f->http, f->in, (size_t)n), PROTO_HTTP_REQUEST);
    proto_response_reset(&f->res);
    json_decref(f->json);
    f->json = NULL;
    return &f->http.req;
}

/* The same request, answered through the server's route table into f->res. */
static inline struct proto_response *cfx_request(struct cfx *f, const char *line,
                                                 const char *headers, const char *body)
{
    const struct proto_request *req = cfx_parse(f, line, headers, body);

    proto_router_dispatch(proto_routes, proto_nroutes, &f->fx.ctx, req, &f->res);
    return &f->res;
}

/* Parses POST path with a form body, and an Authorization header of value auth unless
 * NULL (as cfx_parse). */
static inline const struct proto_request *cfx_form_parse(struct cfx *f, const char *path,
                                                         const char *auth, const char *body)
{
    char line[256], headers[CFX_TOKEN_MAX + 128];

    snprintf(line, sizeof(line), "POST %s", path);
    snprintf(headers, sizeof(headers), "Content-Type: application/x-www-form-urlencoded\r\n%s%s%s",
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    return cfx_parse(f, line, headers, body);
}

/* The same request, answered through the route table into f->res. */
static inline struct proto_response *cfx_form(struct cfx *f, const char *path, const char *auth,
                                              const char *body)
{
    const struct proto_request *req = cfx_form_parse(f, path, auth, body);

    proto_router_dispatch(proto_routes, proto_nroutes, &f->fx.ctx, req, &f->res);
    return &f->res;
}

/* POST path as client id (client_secret_post, the secret CFX_SECRET) with the form
 * parameters `params`. */
static inline struct proto_response *cfx_post_as(struct cfx *f, const char *path, const char *id,
                                                 const char *params)
{
    char body[CFX_TOKEN_MAX + 1024];
    int n =
        snprintf(body, sizeof(body), "client_id=%s&client_secret=%s&%s", id, CFX_SECRET, params);

    assert_true(n > 0 && (size_t)n < sizeof(body));
    return cfx_form(f, path, NULL, body);
}

/* POST path as client id with the single parameter token=`token`. */
static inline struct proto_response *cfx_token_call(struct cfx *f, const char *path, const char *id,
                                                    const char *token)
{
    char params[CFX_TOKEN_MAX + 16];

    snprintf(params, sizeof(params), "token=%s", token);
    return cfx_post_as(f, path, id, params);
}

/* An admin API call: `line` with the admin token and a JSON body unless body is NULL. */
static inline struct proto_response *cfx_admin(struct cfx *f, const char *line, const char *body)
{
    return cfx_request(f, line,
                       body ? "Authorization: " CFX_ADMIN "\r\nContent-Type: application/json\r\n"
                            : "Authorization: " CFX_ADMIN "\r\n",
                       body);
}

/* "Basic " and the base64 of "id:secret", both as given (the caller form-encodes). */
static inline const char *cfx_basic(const char *id, const char *secret, char out[CFX_BASIC_MAX])
{
    char raw[CFX_BASIC_MAX / 2];
    int n = snprintf(raw, sizeof(raw), "%s:%s", id, secret);

    assert_true(n > 0 && (size_t)n < sizeof(raw));
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)raw, n);
    return out;
}

/* The last answer's status must be `status` (the body is printed when it is not).  A
 * macro, so a failure names the test's line. */
#define cfx_status(f, status) cfx__status((f), (status), __FILE__, __LINE__)
static inline void cfx__status(const struct cfx *f, int status, const char *file, int line)
{
    if (f->res.status != status)
        print_error("status %d, want %d: %.*s\n", f->res.status, status, (int)f->res.body.len,
                    f->res.body.data);
    _assert_int_equal((uintmax_t)f->res.status, (uintmax_t)status, file, line);
}

/* The last answer's body as JSON (owned by f until the next request); asserts it parses. */
static inline json_t *cfx_json(struct cfx *f)
{
    if (f->json)
        return f->json;
    f->json = json_loadb(f->res.body.data, f->res.body.len, 0, NULL);
    if (f->json == NULL)
        print_error("not JSON: %.*s\n", (int)f->res.body.len, f->res.body.data);
    assert_non_null(f->json);
    return f->json;
}

/* A string member of the last answer's JSON, or NULL. */
static inline const char *cfx_str(struct cfx *f, const char *name)
{
    return json_string_value(json_object_get(cfx_json(f), name));
}

/* The last answer is status with {"error": error, "error_description": ...}. */
#define cfx_error(f, status, error) cfx__error((f), (status), (error), __FILE__, __LINE__)
static inline void cfx__error(struct cfx *f, int status, const char *error, const char *file,
                              int line)
{
    json_t *j;

    cfx__status(f, status, file, line);
    j = cfx_json(f);
    _assert_string_equal(json_string_value(json_object_get(j, "error")), error, file, line);
    _assert_true(json_is_string(json_object_get(j, "error_description")), "error_description", file,
                 line);
}

/* The value of header `name` in the last answer's extra headers, copied into out; NULL
 * when it is absent. */
static inline const char *cfx_header(const struct cfx *f, const char *name, char out[512])
{
    const struct proto_buf *h = &f->res.headers;
    size_t n = strlen(name);

    for (size_t i = 0; i + n + 2 <= h->len; i++) {
        const char *eol;

        if ((i == 0 || h->data[i - 1] == '\n') && strncasecmp(h->data + i, name, n) == 0 &&
            h->data[i + n] == ':' && (eol = memchr(h->data + i, '\r', h->len - i)) != NULL) {
            snprintf(out, 512, "%.*s", (int)(eol - (h->data + i + n + 2)), h->data + i + n + 2);
            return out;
        }
    }
    return NULL;
}

/* Header `name` of the last answer must be there with the value `want`. */
#define cfx_header_is(f, name, want) cfx__header_is((f), (name), (want), __FILE__, __LINE__)
static inline void cfx__header_is(const struct cfx *f, const char *name, const char *want,
                                  const char *file, int line)
{
    char value[512];
    const char *got = cfx_header(f, name, value);

    _assert_true(got != NULL, name, file, line);
    _assert_string_equal(got, want, file, line);
}

/* A request that must be refused: by whom, with what, and the status and error expected. */
struct cfx_refusal {
    const char *client; /* client_secret_post as this client */
    const char *params;
    int status;
    const char *error;
};

/* POSTs each refusal's parameters to path and checks its answer. */
static inline void cfx_refusals(struct cfx *f, const char *path, const struct cfx_refusal *r,
                                size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cfx_post_as(f, path, r[i].client, r[i].params);
        if (f->res.status != r[i].status)
            print_error("%s as %s: ", r[i].params, r[i].client);
        cfx_error(f, r[i].status, r[i].error);
    }
}

/* Tokens no server issued: of an opaque token's shape, empty, and of a JWT's shape. */
static const char *const cfx_unknown_tokens[] = {
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
    "",
    "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
};
#define CFX_UNKNOWN_TOKENS (sizeof(cfx_unknown_tokens) / sizeof(cfx_unknown_tokens[0]))

/* A client_credentials (or other) grant for id, authenticated with client_secret_post;
 * asserts 200 and copies the access token and, when asked for, the refresh token. */
static inline void cfx_grant(struct cfx *f, const char *id, const char *params,
                             char access[CFX_TOKEN_MAX], char *refresh)
{
    const char *a, *r;

    cfx_post_as(f, "/oauth2/token", id, params ? params : "grant_type=client_credentials");
    cfx_status(f, 200);
    a = cfx_str(f, "access_token");
    r = cfx_str(f, "refresh_token");
    assert_non_null(a);
    assert_true(strlen(a) < CFX_TOKEN_MAX);
    if (access)
        strcpy(access, a);
    if (refresh) {
        assert_non_null(r);
        strcpy(refresh, r);
    }
}

/* The table entry of a token string: 0 and *t, or -ENOENT. */
static inline int cfx_entry(struct cfx *f, const char *token, struct shm_token *t)
{
    return proto_token_find(&f->fx.ctx, token, strlen(token), t);
}

/* The state of an issued token at the fixture's now.  Revoking frees an opaque token's
 * entry (a JWT's stays, revoked, only under tokens.jwt_verify_unknown), so an issued token
 * the table no longer holds is a revoked one. */
static inline enum shm_token_state cfx_state(struct cfx *f, const char *token)
{
    struct shm_token t;

    if (cfx_entry(f, token, &t) == -ENOENT)
        return SHM_TOKEN_REVOKED;
    return shm_token_state(&f->fx.region, &t, f->fx.ctx.now);
}

/* How many journal events of kind were recorded. */
static inline int cfx_events(const struct cfx *f, enum cfx_event_kind kind)
{
    int n = 0;

    for (int i = 0; i < f->nev; i++)
        n += f->ev[i].kind == kind;
    return n;
}

/* Live entries of the token table. */
static inline uint64_t cfx_live_tokens(const struct cfx *f)
{
    struct shm_table_stats st;

    shm_table_stats(f->fx.region.tokens, &st);
    return st.live;
}

/* The hash of filler token i (cfx_fill_tokens). */
static inline void cfx__filler(uint64_t i, uint8_t hash[32])
{
    proto_sha256(&i, sizeof(i), hash);
}

/* Fills every free slot of the token table with filler tokens 0, 1, ... of client slot
 * (its current generation) that expire at exp; returns how many it took.  An insert fails
 * only when its key's whole probe range is full, so the filling goes on until a thousand
 * inserts in a row have failed. */
static inline uint64_t cfx_fill_tokens(struct cfx *f, uint64_t slot, int64_t exp)
{
    struct shm_token t = {0};
    uint64_t n = 0;

    t.client_slot = (uint32_t)slot;
    t.client_gen = shm_client_generation(&f->fx.region, slot);
    t.kind = SHM_TOKEN_ACCESS;
    t.iat = f->fx.ctx.now;
    t.exp = exp;
    for (uint64_t i = 0, misses = 0; misses < 1000; i++) {
        cfx__filler(i, t.hash);
        if (shm_token_insert(&f->fx.region, &t, f->fx.ctx.owner) == 0)
            n++, misses = 0;
        else
            misses++;
    }
    return n;
}

/* Frees the slot of filler token i. */
static inline void cfx_unfill_token(struct cfx *f, uint64_t i)
{
    struct shm_entry e;
    uint8_t h[32];

    cfx__filler(i, h);
    assert_int_equal(shm_table_lookup(f->fx.region.tokens, h, &e), 0);
    assert_int_equal(shm_table_remove(f->fx.region.tokens, &e, f->fx.ctx.owner), 0);
}

#endif
