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

#include "proto/oauth/auth_limit.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/secret.h"
#include "shm/intern.h"

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

/* The parameters of a form or JSON body (RFC 6749 §3.2 and API.md §1), or none when
 * there is no body: a body of any other type, or of no declared type, is refused rather
 * than guessed at.  A browser sends text/plain (or an untyped Blob) cross-site without a
 * CORS preflight; taking it for a form would let any web page drive these endpoints. */
static int oauth_body_params(const struct proto_request *req, struct proto_params *p)
{
    const char *body = proto_span_ptr(req, req->body);
    struct proto_span v;

    if (proto_request_media_type_is(req, "application/x-www-form-urlencoded"))
        return proto_form_parse(body, req->body.len, p);
    if (proto_request_media_type_is(req, "application/json"))
        return proto_json_params_parse(body, req->body.len, p);
    if (req->body.len == 0 && !proto_request_header(req, "content-type", &v))
        return proto_form_parse(body, 0, p);
    p->n = 0;
    p->error = "the body must be application/x-www-form-urlencoded or application/json";
    return -EINVAL;
}

int proto_oauth_params(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res)
{
    struct proto_params *p = ctx->params;
    const char *dup;

    p->arena = ctx->arena;
    if (oauth_body_params(req, p) < 0) {
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

#define CRED_MAX 512

struct oauth_creds {
    char id[CRED_MAX];
    size_t id_len;
    char secret[CRED_MAX];
    size_t secret_len;
    enum proto_auth_method method;
};

/* RFC 6749 §2.3.1: base64, then split at the first ':', then form-decode each part.
 * 0; -EILSEQ when a part decodes to a NUL byte (refused like any such parameter);
 * -EINVAL when malformed. */
static int oauth_basic(const char *p, size_t len, struct oauth_creds *c)
{
    uint8_t raw[CRED_MAX * 3];
    const uint8_t *colon;
    long n, a, b;

    while (len && *p == ' ')
        p++, len--;
    n = proto_b64_decode(p, len, raw, sizeof(raw));
    if (n < 0)
        return -EINVAL;
    colon = memchr(raw, ':', (size_t)n);
    if (colon == NULL || colon - raw >= CRED_MAX || raw + n - colon - 1 >= CRED_MAX)
        return -EINVAL;
    a = proto_form_decode((const char *)raw, (size_t)(colon - raw), c->id);
    b = proto_form_decode((const char *)colon + 1, (size_t)(raw + n - colon - 1), c->secret);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (a == -EILSEQ || b == -EILSEQ)
        return -EILSEQ;
    if (a <= 0 || b < 0)
        return -EINVAL;
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
    int rc;

    c->method = PROTO_AUTH_NONE;
    if (proto_request_header(req, "authorization", &v) && v.len > 6 &&
        strncasecmp(proto_span_ptr(req, v), "Basic ", 6) == 0) {
        if (secret) {
            *why = "use one client authentication method, not two";
            return -EINVAL;
        }
        rc = oauth_basic(proto_span_ptr(req, v) + 6, v.len - 6, c);
        if (rc == -EILSEQ) {
            *why = "the Basic credentials hold a NUL byte";
            return -EINVAL;
        }
        if (rc < 0) {
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

/* A failed authentication (401), counted against the address and, for a client whose
 * secret was chosen, the client id.  Always -1. */
static int oauth_failed(const struct proto_ctx *ctx, const struct proto_auth_limit *l,
                        const struct proto_client *out, int64_t slot, struct oauth_creds *c,
                        struct proto_response *res)
{
    bool chosen = slot >= 0 && out->rec.verifier_kind == SHM_VERIFIER_ARGON2ID;

    proto_auth_limit_failed(ctx, l, chosen);
    OPENSSL_cleanse(c->secret, sizeof(c->secret));
    proto_oauth_error(res, 401, "invalid_client", "client authentication failed", c->method);
    return -1;
}

int proto_oauth_client(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_client *out, struct proto_response *res)
{
    struct proto_auth_limit limit;
    uint8_t id_key[32];
    struct oauth_creds c;
    const char *why = NULL;
    int64_t slot;
    int rc = oauth_creds(ctx, req, &c, &why);

    out->method = c.method;
    if (rc < 0) {
        OPENSSL_cleanse(c.secret, sizeof(c.secret));
        proto_oauth_error(res, rc == -EINVAL ? 400 : 401,
                          rc == -EINVAL ? "invalid_request" : "invalid_client", why, c.method);
        return -1;
    }
    /* One hash of the id serves the failure counters and the client index.  The address
     * is judged first; the client id's own limit only for a secret a person chose, and
     * before its Argon2id verification is paid for. */
    proto_sha256(c.id, c.id_len, id_key);
    proto_auth_limit_keys(ctx, id_key, &limit);
    if (proto_auth_limit_address(ctx, &limit, res))
        goto limited;
    slot = shm_client_find_hashed(ctx->region, id_key, c.id, c.id_len, &out->rec, &out->gen);
    if (slot >= 0 && out->rec.verifier_kind == SHM_VERIFIER_ARGON2ID &&
        proto_auth_limit_client(ctx, &limit, res))
        goto limited;
    if (slot < 0 || !proto_secret_verify(&out->rec, c.secret, c.secret_len))
        return oauth_failed(ctx, &limit, out, slot, &c, res);
    OPENSSL_cleanse(c.secret, sizeof(c.secret));
    out->slot = (uint64_t)slot;
    return 0;
limited:
    OPENSSL_cleanse(c.secret, sizeof(c.secret));
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
