/*
 * Shared machinery of the OAuth endpoints (see oauth.h).  Pure: shared memory through
 * ctx, OpenSSL and libargon2 for hashing.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "proto/oauth.h"
#include "proto/secret.h"
#include "shm/intern.h"
#include "shm/ratelimit.h"

static const char *const oauth_repeatable[] = {"resource", NULL};

void proto_oauth_nostore(struct proto_response *res)
{
    proto_response_header(res, "Cache-Control", "no-store");
    proto_response_header(res, "Pragma", "no-cache");
}

void proto_oauth_error(struct proto_response *res, int status, const char *error,
                       const char *description, enum proto_auth_method method)
{
    proto_response_error(res, status, error, description);
    proto_response_header(res, "Pragma", "no-cache");
    /* HTTP requires a challenge on every 401; RFC 6749 §5.2 names the scheme tried. */
    if (status == 401)
        proto_response_header(res, "WWW-Authenticate", "Basic realm=\"tessera\"");
}

static bool oauth_content_type_is(const struct proto_request *req, const char *type)
{
    struct proto_span v;
    size_t n = strlen(type);
    const char *p;

    if (!proto_request_header(req, "content-type", &v))
        return false;
    p = proto_span_ptr(req, v);
    if (v.len < n || strncasecmp(p, type, n) != 0)
        return false;
    return v.len == n || p[n] == ';' || p[n] == ' ';
}

int proto_oauth_params(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res)
{
    struct proto_params *p = ctx->params;
    const char *body = proto_span_ptr(req, req->body), *dup;
    int rc;

    p->arena = ctx->arena;
    if (oauth_content_type_is(req, "application/json"))
        rc = proto_json_params_parse(body, req->body.len, p);
    else
        rc = proto_form_parse(body, req->body.len, p);
    if (rc < 0) {
        proto_oauth_error(res, 400, "invalid_request", p->error ? p->error : "bad parameters",
                          PROTO_AUTH_NONE);
        return -1;
    }
    dup = proto_params_check_single(p, oauth_repeatable);
    if (dup) {
        proto_oauth_error(res, 400, "invalid_request", "a parameter was sent more than once",
                          PROTO_AUTH_NONE);
        return -1;
    }
    return 0;
}

const char *proto_bearer(const struct proto_request *req, size_t *len)
{
    struct proto_span v;
    const char *p;
    size_t skip;

    if (!proto_request_header(req, "authorization", &v))
        return NULL;
    p = proto_span_ptr(req, v);
    if (v.len > 7 && strncasecmp(p, "Bearer ", 7) == 0)
        skip = 7;
    else if (v.len > 5 && strncasecmp(p, "DPoP ", 5) == 0)
        skip = 5;
    else
        return NULL;
    while (skip < v.len && p[skip] == ' ')
        skip++;
    *len = v.len - skip;
    while (*len && p[skip + *len - 1] == ' ')
        (*len)--;
    return *len ? p + skip : NULL;
}

#define CRED_MAX 512

struct oauth_creds {
    char id[CRED_MAX];
    size_t id_len;
    char secret[CRED_MAX];
    size_t secret_len;
    enum proto_auth_method method;
};

/* RFC 6749 §2.3.1: base64, then split at the first ':', then form-decode each part. */
static int oauth_basic(const char *p, size_t len, struct oauth_creds *c)
{
    uint8_t raw[CRED_MAX * 3];
    const uint8_t *colon;
    long n, a, b;

    while (len && *p == ' ')
        p++, len--;
    n = proto_b64_decode(p, len, raw, sizeof(raw));
    if (n < 0)
        return -1;
    colon = memchr(raw, ':', (size_t)n);
    if (colon == NULL || colon - raw >= CRED_MAX || raw + n - colon - 1 >= CRED_MAX)
        return -1;
    a = proto_form_decode((const char *)raw, (size_t)(colon - raw), c->id);
    b = proto_form_decode((const char *)colon + 1, (size_t)(raw + n - colon - 1), c->secret);
    if (a <= 0 || b < 0)
        return -1;
    c->id_len = (size_t)a;
    c->secret_len = (size_t)b;
    c->method = PROTO_AUTH_BASIC;
    return 0;
}

static int oauth_creds(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct oauth_creds *c, const char **why)
{
    const struct proto_param *id = proto_params_get(ctx->params, "client_id");
    const struct proto_param *secret = proto_params_get(ctx->params, "client_secret");
    struct proto_span v;

    c->method = PROTO_AUTH_NONE;
    if (proto_request_header(req, "authorization", &v) && v.len > 6 &&
        strncasecmp(proto_span_ptr(req, v), "Basic ", 6) == 0) {
        if (secret) {
            *why = "use one client authentication method, not two";
            return -EINVAL;
        }
        if (oauth_basic(proto_span_ptr(req, v) + 6, v.len - 6, c) < 0) {
            *why = "malformed Basic credentials";
            return -EACCES;
        }
        if (id && (id->len != c->id_len || memcmp(id->value, c->id, c->id_len) != 0)) {
            *why = "client_id does not match the Basic credentials";
            return -EINVAL;
        }
        return 0;
    }
    if (id == NULL || secret == NULL || id->len >= CRED_MAX || secret->len >= CRED_MAX) {
        *why = "client authentication is required";
        return -EACCES;
    }
    memcpy(c->id, id->value, id->len);
    c->id_len = id->len;
    memcpy(c->secret, secret->value, secret->len);
    c->secret_len = secret->len;
    c->method = PROTO_AUTH_POST;
    return 0;
}

/* Too many failed authentications this minute for the client id or the address: 429. */
static bool oauth_limited(const struct proto_ctx *ctx, const uint8_t id_key[32],
                          const uint8_t addr_key[32], struct proto_response *res)
{
    uint32_t minute = (uint32_t)(ctx->now / 60);
    char retry[16];

    if (shm_ratelimit_count(ctx->region, id_key, minute) < ctx->cfg->auth_fail_per_client &&
        (!addr_key ||
         shm_ratelimit_count(ctx->region, addr_key, minute) < ctx->cfg->auth_fail_per_address))
        return false;
    proto_response_error(res, 429, "temporarily_unavailable",
                         "too many failed authentications: try again later");
    snprintf(retry, sizeof(retry), "%d", (int)(60 - ctx->now % 60));
    proto_response_header(res, "Retry-After", retry);
    return true;
}

static void oauth_failed(const struct proto_ctx *ctx, const uint8_t id_key[32],
                         const uint8_t addr_key[32])
{
    uint32_t minute = (uint32_t)(ctx->now / 60);

    shm_ratelimit_hit(ctx->region, id_key, minute);
    if (addr_key)
        shm_ratelimit_hit(ctx->region, addr_key, minute);
}

int proto_oauth_client(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_client *out, struct proto_response *res)
{
    const uint8_t *addr_key = ctx->peer_key;
    uint8_t id_key[32];
    struct oauth_creds c;
    const char *why = NULL;
    int64_t slot;
    int rc = oauth_creds(ctx, req, &c, &why);

    if (rc == -EINVAL) {
        proto_oauth_error(res, 400, "invalid_request", why, c.method);
        return -1;
    }
    out->method = c.method;
    if (rc < 0)
        goto fail;
    /* One hash of the id serves the failure counters and the client index. */
    proto_sha256(c.id, c.id_len, id_key);
    if (oauth_limited(ctx, id_key, addr_key, res)) {
        OPENSSL_cleanse(c.secret, sizeof(c.secret));
        return -1;
    }
    slot = shm_client_find_hashed(ctx->region, id_key, c.id, c.id_len, &out->rec, &out->gen);
    if (slot < 0 || !proto_secret_verify(&out->rec, c.secret, c.secret_len)) {
        why = "client authentication failed";
        oauth_failed(ctx, id_key, addr_key);
        goto fail;
    }
    OPENSSL_cleanse(c.secret, sizeof(c.secret));
    out->slot = (uint64_t)slot;
    return 0;
fail:
    OPENSSL_cleanse(c.secret, sizeof(c.secret));
    proto_oauth_error(res, 401, "invalid_client", why, c.method);
    return -1;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool scope_char_ok(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool scope_has(const char *set, size_t slen, const char *tok, size_t tlen)
{
    size_t i = 0;

    while (i < slen) {
        size_t j = i;

        while (j < slen && set[j] != ' ')
            j++;
        if (j - i == tlen && memcmp(set + i, tok, tlen) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

bool proto_scope_subset(const char *want, size_t wlen, const char *have, size_t hlen)
{
    size_t i = 0;

    while (i < wlen) {
        size_t j = i;

        while (j < wlen && want[j] != ' ')
            j++;
        if (j > i && !scope_has(have, hlen, want + i, j - i))
            return false;
        i = j + 1;
    }
    return true;
}

int proto_scope_normalize(const char *s, size_t len, char *out, size_t cap)
{
    size_t i = 0, o = 0;

    while (i < len) {
        size_t j = i;

        while (j < len && s[j] != ' ')
            j++;
        for (size_t k = i; k < j; k++)
            if (!scope_char_ok((unsigned char)s[k]))
                return -1;
        if (j > i && !scope_has(out, o, s + i, j - i)) {
            if (o + (o ? 1 : 0) + (j - i) >= cap)
                return -1;
            if (o)
                out[o++] = ' ';
            memcpy(out + o, s + i, j - i);
            o += j - i;
        }
        i = j + 1;
    }
    out[o] = '\0';
    return (int)o;
}

const char *proto_interned(const struct proto_ctx *ctx, uint32_t id, char *buf, size_t cap)
{
    if (shm_intern_get(ctx->region, id, buf, cap) < 0)
        buf[0] = '\0';
    return buf;
}

void proto_token_hash(const char *token, size_t len, uint8_t out[32])
{
    proto_sha256(token, len, out);
}

int proto_token_find(const struct proto_ctx *ctx, const char *token, size_t len,
                     struct shm_token *t)
{
    uint8_t h[32];

    proto_token_hash(token, len, h);
    return shm_token_lookup(ctx->region, h, t);
}

bool proto_token_kept_revoked(const struct proto_ctx *ctx, const struct shm_token *t)
{
    return (t->flags & SHM_TOKEN_JWT) && ctx->cfg->jwt_verify_unknown;
}

int proto_token_retire(const struct proto_ctx *ctx, const struct shm_entry *e)
{
    struct shm_token t;

    shm_token_decode(e->words, &t);
    if (proto_token_kept_revoked(ctx, &t))
        return shm_token_revoke_entry(ctx->region, e);
    return shm_token_remove_entry(ctx->region, e, ctx->owner);
}

struct grant_revoke {
    const struct proto_ctx *ctx;
    uint64_t family;
    int rc;
};

static int grant_visit(const struct shm_entry *e, void *arg)
{
    struct grant_revoke *g = arg;
    struct shm_token tok;

    shm_token_decode(e->words, &tok);
    if (tok.parent == g->family && !e->revoked && proto_token_retire(g->ctx, e) == 0 &&
        proto_journal_token_revoked(g->ctx, tok.hash) < 0)
        g->rc = -EIO;
    return 0;
}

int proto_token_revoke_grant(const struct proto_ctx *ctx, const struct shm_token *t)
{
    struct grant_revoke g = {ctx, t->parent, 0};
    struct shm_entry e;

    while (shm_table_lookup(ctx->region->tokens, t->hash, &e) == 0 &&
           proto_token_retire(ctx, &e) == -EAGAIN)
        ;
    if (proto_journal_token_revoked(ctx, t->hash) < 0)
        g.rc = -EIO;
    /* Every token of a refresh grant carries the grant's family in `parent`; revoking the
     * refresh token ends them all (RFC 7009 §2.1).  A full scan: revocations are rare. */
    if (t->kind == SHM_TOKEN_REFRESH && t->parent)
        shm_table_iterate(ctx->region->tokens, grant_visit, &g, ctx->owner);
    return g.rc;
}

void proto_token_id(const struct shm_token *t, char out[24])
{
    proto_b64url_encode(t->hash, 16, out);
}

int proto_admin_check(const struct proto_ctx *ctx, const struct proto_request *req,
                      struct proto_response *res)
{
    uint8_t h[32];
    size_t len;
    const char *token = proto_bearer(req, &len);

    if (ctx->cfg->admin_enabled && token) {
        proto_sha256(token, len, h);
        if (CRYPTO_memcmp(h, ctx->cfg->admin_token_hash, 32) == 0)
            return 0;
    }
    proto_response_error(res, 401, "invalid_token", "the admin token is missing or wrong");
    proto_response_header(res, "WWW-Authenticate", "Bearer realm=\"tessera-admin\"");
    return -1;
}

const struct proto_param *proto_oauth_token_request(const struct proto_ctx *ctx,
                                                    const struct proto_request *req,
                                                    struct proto_client *caller,
                                                    struct proto_response *res)
{
    const struct proto_param *p;

    if (proto_oauth_params(ctx, req, res) < 0 || proto_oauth_client(ctx, req, caller, res) < 0)
        return NULL;
    p = proto_params_get(ctx->params, "token");
    if (p == NULL)
        proto_oauth_error(res, 400, "invalid_request", "token is required", caller->method);
    return p;
}
