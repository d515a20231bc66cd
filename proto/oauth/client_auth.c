/*
 * Client authentication (see client_auth.h).  Each method is a row of client_methods: how
 * a request shows that it uses the method, how its credentials are read, whether its
 * proof can be guessed, and how the proof is checked against the client's record.  What
 * surrounds the rows is the same for every method: exactly one per request (RFC 6749
 * §2.3), the failure limits of one address before the client is looked up and of the
 * client id before a guessable proof is checked, and one answer, 401, for an unknown
 * client and a wrong proof alike.  Pure: shared memory through ctx.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "proto/jsonw.h"
#include "proto/oauth/auth_limit.h"
#include "proto/oauth/client_auth.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/secret.h"

#define CRED_MAX 512

/* What a request presents, read before the client is looked up. */
struct client_creds {
    char id[CRED_MAX];
    size_t id_len;
    char secret[CRED_MAX];
    size_t secret_len;
};

/* One way for a client to authenticate. */
struct client_method {
    enum proto_auth_method method;
    const char *name; /* as RFC 8414's token_endpoint_auth_methods_supported lists it */
    /* True when the request carries this method's credentials, complete or not. */
    bool (*presented)(const struct proto_ctx *ctx, const struct proto_request *req);
    /* Reads them: 0, or -EINVAL (answered 400) or -EACCES (401) with a sentence in *why. */
    int (*read)(const struct proto_ctx *ctx, const struct proto_request *req,
                struct client_creds *c, const char **why);
    /* True when the proof could be guessed online (a secret a person chose): the client
     * id's own failure limit then applies, checked before verify spends anything. */
    bool (*guessable)(const struct shm_client *rec);
    /* True when c proves the client of record rec. */
    bool (*verify)(const struct shm_client *rec, const struct client_creds *c);
};

/* --- client secrets ------------------------------------------------------------------ */

static bool secret_guessable(const struct shm_client *rec)
{
    return rec->verifier_kind == SHM_VERIFIER_ARGON2ID;
}

static bool secret_verify(const struct shm_client *rec, const struct client_creds *c)
{
    return proto_secret_verify(rec, c->secret, c->secret_len);
}

/* The credentials of an Authorization: Basic header (scheme in any case), or NULL.  Not
 * proto_request_credentials(): blanks after them belong to what must decode as base64,
 * and "Basic " followed by blanks only is presented (and malformed), not absent. */
static const char *basic_header(const struct proto_request *req, size_t *len)
{
    struct proto_span v;
    const char *p;

    if (!proto_request_header(req, "authorization", &v) || v.len <= 6)
        return NULL;
    p = proto_span_ptr(req, v);
    if (strncasecmp(p, "Basic ", 6) != 0)
        return NULL;
    *len = v.len - 6;
    return p + 6;
}

static bool basic_presented(const struct proto_ctx *ctx, const struct proto_request *req)
{
    size_t len;

    (void)ctx;
    return basic_header(req, &len) != NULL;
}

/* RFC 6749 §2.3.1: base64, then split at the first ':', then form-decode each part.
 * 0; -EILSEQ when a part decodes to a NUL byte (refused like any such parameter);
 * -EINVAL when malformed. */
static int basic_decode(const char *p, size_t len, struct client_creds *c)
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
    return 0;
}

static int basic_read(const struct proto_ctx *ctx, const struct proto_request *req,
                      struct client_creds *c, const char **why)
{
    const struct proto_param *id = proto_params_get(ctx->params, "client_id");
    size_t len = 0;
    const char *p = basic_header(req, &len);
    int rc = basic_decode(p, len, c);

    if (rc == -EILSEQ) {
        *why = "the Basic credentials hold a NUL byte";
        return -EINVAL;
    }
    if (rc < 0) {
        *why = "malformed Basic credentials";
        return -EACCES;
    }
    /* RFC 6749 §2.3.1 lets a client repeat its id in the body; it must be the same. */
    if (id && (id->len != c->id_len || memcmp(id->value, c->id, c->id_len) != 0)) {
        *why = "client_id does not match the Basic credentials";
        return -EINVAL;
    }
    return 0;
}

static bool post_presented(const struct proto_ctx *ctx, const struct proto_request *req)
{
    (void)req;
    return proto_params_get(ctx->params, "client_secret") != NULL;
}

static int post_read(const struct proto_ctx *ctx, const struct proto_request *req,
                     struct client_creds *c, const char **why)
{
    const struct proto_param *id = proto_params_get(ctx->params, "client_id");
    const struct proto_param *secret = proto_params_get(ctx->params, "client_secret");

    (void)req;
    if (id == NULL || secret == NULL || id->len >= CRED_MAX || secret->len >= CRED_MAX) {
        *why = "client authentication is required";
        return -EACCES;
    }
    memcpy(c->id, id->value, id->len);
    c->id_len = id->len;
    memcpy(c->secret, secret->value, secret->len);
    c->secret_len = secret->len;
    return 0;
}

/* --- the dispatch ---------------------------------------------------------------------- */

static const struct client_method client_methods[] = {
    {PROTO_AUTH_BASIC, "client_secret_basic", basic_presented, basic_read, secret_guessable,
     secret_verify},
    {PROTO_AUTH_POST, "client_secret_post", post_presented, post_read, secret_guessable,
     secret_verify},
};

#define CLIENT_METHODS (sizeof(client_methods) / sizeof(client_methods[0]))

/* The one method the request uses, its credentials read into c.  0 with *m, or -EINVAL /
 * -EACCES with a sentence in *why (and *m NULL when the request used no method or two). */
static int client_credentials(const struct proto_ctx *ctx, const struct proto_request *req,
                              const struct client_method **m, struct client_creds *c,
                              const char **why)
{
    *m = NULL;
    for (size_t i = 0; i < CLIENT_METHODS; i++) {
        if (!client_methods[i].presented(ctx, req))
            continue;
        if (*m) {
            *m = NULL;
            *why = "use one client authentication method, not two";
            return -EINVAL;
        }
        *m = &client_methods[i];
    }
    if (*m == NULL) {
        *why = "client authentication is required";
        return -EACCES;
    }
    return (*m)->read(ctx, req, c, why);
}

/* Looks the client of c up and checks its proof, within the failure limits.  One hash of
 * the id serves the failure counters and the client index.  The address is judged first;
 * the client id's own limit only for a guessable proof, and before it is checked. */
static int client_check(const struct proto_ctx *ctx, const struct client_method *m,
                        const struct client_creds *c, struct proto_client *out,
                        struct proto_response *res)
{
    struct proto_auth_limit limit;
    uint8_t id_key[32];
    int64_t slot;

    proto_sha256(c->id, c->id_len, id_key);
    proto_auth_limit_keys(ctx, id_key, &limit);
    if (proto_auth_limit_address(ctx, &limit, res))
        return -EAGAIN;
    slot = shm_client_find_hashed(ctx->region, id_key, c->id, c->id_len, &out->rec, &out->gen);
    if (slot >= 0 && m->guessable(&out->rec) && proto_auth_limit_client(ctx, &limit, res))
        return -EAGAIN;
    if (slot < 0 || !m->verify(&out->rec, c)) {
        proto_auth_limit_failed(ctx, &limit, slot >= 0 && m->guessable(&out->rec));
        proto_oauth_error(res, 401, "invalid_client", "client authentication failed", m->method);
        return -EACCES;
    }
    out->slot = (uint64_t)slot;
    return 0;
}

int proto_client_authenticate(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_client *out, struct proto_response *res)
{
    const struct client_method *m;
    struct client_creds c;
    const char *why = NULL;
    int rc = client_credentials(ctx, req, &m, &c, &why);

    out->method = m ? m->method : PROTO_AUTH_NONE;
    if (rc < 0)
        proto_oauth_error(res, rc == -EINVAL ? 400 : 401,
                          rc == -EINVAL ? "invalid_request" : "invalid_client", why, out->method);
    else
        rc = client_check(ctx, m, &c, out, res);
    OPENSSL_cleanse(&c, sizeof(c));
    return rc;
}

int proto_client_auth_methods_json(struct proto_buf *b)
{
    int rc = proto_buf_append(b, "[", 1);

    for (size_t i = 0; rc == 0 && i < CLIENT_METHODS; i++) {
        if (i)
            rc = proto_buf_append(b, ",", 1);
        if (rc == 0)
            rc = proto_jsonw_str(b, client_methods[i].name, strlen(client_methods[i].name));
    }
    if (rc == 0)
        rc = proto_buf_append(b, "]", 1);
    return rc < 0 ? -ENOMEM : 0;
}
