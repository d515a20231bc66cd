/*
 * The admin API for clients (API.md §6), run by the workers: create (POST /admin/clients),
 * create-or-replace (PUT /admin/clients/{id}), read and list (GET), delete, and secret
 * rotation (POST /admin/clients/{id}/secret), all behind the admin bearer token.  Secrets
 * are shown once, in the answer that creates them, and never stored: only their verifier
 * (SHA-256 for generated ones, Argon2id for chosen ones).  Deleting a client, or rotating
 * its secret with revoke_tokens=true, bumps its generation, which ends all its tokens on
 * every worker at once.  Clients live in shared memory only, like tokens, for now.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proto/admin/admin.h"
#include "proto/jsonw.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/secret.h"

#define ADMIN_PREFIX "/admin/clients/"
#define ADMIN_SPINS 10000 /* tries at a client's writer lock, held for one record copy */
#define ADMIN_RETRIES 3   /* PUT: find/create races with another writer of the same id */

static void admin_busy(struct proto_response *res)
{
    proto_response_error(res, 503, "temporarily_unavailable",
                         "another request is changing this client; retry");
    proto_response_header(res, "Retry-After", "1");
}

static void admin_not_found(struct proto_response *res)
{
    proto_response_error(res, 404, "not_found", "no such client");
}

/* Answers status with the client's JSON, and its secret when one is given. */
static void admin_answer_client(const struct proto_ctx *ctx, int status, const struct shm_client *c,
                                const char *secret, struct proto_response *res)
{
    struct proto_buf *b = &res->body;
    int rc;

    proto_oauth_json_begin(res, status);
    rc = proto_client_json(ctx, c, b);
    if (rc == 0 && secret)
        rc = proto_jsonw_kv_str(b, "client_secret", secret, strlen(secret));
    if (rc < 0 || proto_buf_append(b, "}", 1) < 0)
        proto_response_error(res, 500, "server_error", "out of memory");
}

/* A client body is JSON, and says so: a body of another or no declared type is refused
 * (415) rather than guessed at.  No Content-Type with no body goes on to the JSON parser,
 * which answers that a client is required. */
static bool admin_is_json(const struct proto_request *req)
{
    struct proto_span v;

    return proto_request_media_type_is(req, "application/json") ||
           (req->body.len == 0 && !proto_request_header(req, "content-type", &v));
}

/* The validated client of the request body: 0, or -EINVAL with the answer written. */
static int admin_body(const struct proto_ctx *ctx, const struct proto_request *req,
                      struct proto_client_input *in, struct proto_response *res)
{
    char why[PROTO_CLIENT_WHY_MAX];

    if (!admin_is_json(req)) {
        proto_response_error(res, 415, "invalid_request", "send the client as application/json");
        return -EINVAL;
    }
    if (proto_client_parse(proto_span_ptr(req, req->body), req->body.len,
                           ctx->cfg->default_access_ttl, in, why) < 0) {
        proto_response_error(res, 400, "invalid_request", why);
        return -EINVAL;
    }
    return 0;
}

/* The client id of an item path, which must be /admin/clients/{id} (want_secret false)
 * or /admin/clients/{id}/secret (true).  0, or with the answer written -EINVAL (400),
 * -ENOENT (404) or -EOPNOTSUPP (405). */
static int admin_path_id(const struct proto_request *req, bool want_secret,
                         char id[SHM_CLIENT_ID_MAX], struct proto_response *res)
{
    size_t skip = sizeof(ADMIN_PREFIX) - 1, slen;
    const char *suffix;
    bool is_secret;
    int rc = proto_client_path_parse(proto_span_ptr(req, req->path) + skip, req->path.len - skip,
                                     id, &suffix, &slen);

    if (rc == -EINVAL) {
        proto_response_error(res, 400, "invalid_request",
                             "the client id in the path is malformed or not a valid client id");
        return -EINVAL;
    }
    is_secret = suffix && slen == 6 && memcmp(suffix, "secret", 6) == 0;
    if (rc < 0 || (suffix && !is_secret)) {
        proto_response_error(res, 404, "not_found", "no such endpoint");
        return -ENOENT;
    }
    if (is_secret != want_secret) {
        proto_response_error(res, 405, "method_not_allowed",
                             "the method is not allowed for this path");
        proto_response_header(res, "Allow", is_secret ? "POST" : "GET, HEAD, PUT, DELETE");
        return -EOPNOTSUPP;
    }
    return 0;
}

/* Replaces (c) or deletes (c NULL) the record of slot if it still holds client id at
 * generation gen (a deleted slot may have been reused), waiting out another writer, and
 * logs the change.  0, -ENOENT, -EBUSY or -EIO (not logged: not to be acknowledged). */
static int admin_write(const struct proto_ctx *ctx, uint64_t slot, uint32_t gen, const char *id,
                       const struct shm_client *c, bool bump_gen)
{
    struct shm_client now;
    uint32_t now_gen;
    uint64_t version = 0;
    int rc = -EBUSY;

    for (int i = 0; i < ADMIN_SPINS && rc == -EBUSY; i++) {
        if (shm_client_read(ctx->region, slot, &now, &now_gen) < 0 || now_gen != gen ||
            strcmp(now.id, id) != 0)
            return -ENOENT;
        rc = c ? shm_client_update(ctx->region, slot, c, bump_gen, ctx->owner, &version, &now_gen)
               : shm_client_delete(ctx->region, slot, ctx->owner, &version);
    }
    if (rc < 0)
        return rc;
    rc = c ? proto_journal_client_put(ctx, c, now_gen, version)
           : proto_journal_client_deleted(ctx, id, (uint32_t)version, version);
    return rc < 0 ? -EIO : 0;
}

/* Answers a failed admin_write other than -ENOENT. */
static void admin_write_failed(struct proto_response *res, int rc, const char *why)
{
    if (rc == -EBUSY)
        admin_busy(res);
    else if (rc == -EIO)
        proto_response_error(res, 503, "temporarily_unavailable",
                             "the change could not be made durable");
    else
        proto_response_error(res, 500, "server_error", why);
}

/* Location: /admin/clients/{id} of a created client. */
static void admin_location(const struct shm_client *c, struct proto_response *res)
{
    struct proto_buf loc = {0};

    if (proto_buf_append_str(&loc, ADMIN_PREFIX) == 0 &&
        proto_client_path_encode(c->id, &loc) == 0 && proto_buf_append(&loc, "", 1) == 0)
        proto_response_header(res, "Location", loc.data);
    proto_buf_free(&loc);
}

/* Creates c (a generated id when it has none) and its generated secret when `secret` is
 * NULL, and answers 201.  -EEXIST when the chosen id is taken (nothing answered). */
static int admin_create(const struct proto_ctx *ctx, struct shm_client *c, const char *secret,
                        struct proto_response *res)
{
    char generated[PROTO_TOKEN_CHARS + 1], id[PROTO_TOKEN_CHARS + 1];
    bool gen_id = c->id[0] == '\0';
    int64_t slot = -EEXIST;
    uint64_t version = 0;

    if (secret == NULL) {
        if (proto_random_token(generated) < 0 ||
            proto_secret_set(c, generated, PROTO_TOKEN_CHARS, true) < 0)
            goto fail;
        secret = generated;
    }
    c->subject = 0; /* only the credentials API of an account sets one */
    c->created = c->updated = ctx->now;
    for (int i = 0; i < ADMIN_RETRIES && slot == -EEXIST; i++) {
        if (gen_id) {
            if (proto_random_token(id) < 0)
                goto fail;
            memcpy(c->id, id, PROTO_CLIENT_ID_CHARS);
            c->id[PROTO_CLIENT_ID_CHARS] = '\0';
        }
        slot = shm_client_create(ctx->region, c, ctx->owner, &version);
        if (!gen_id)
            break;
    }
    if (slot == -EEXIST && !gen_id) {
        OPENSSL_cleanse(generated, sizeof(generated));
        return -EEXIST;
    }
    if (slot == -ENOSPC)
        proto_response_error(res, 503, "temporarily_unavailable", "the client table is full");
    else if (slot < 0)
        goto fail;
    else if (proto_journal_client_put(ctx, c, (uint32_t)version, version) < 0)
        admin_write_failed(res, -EIO, NULL);
    else {
        admin_answer_client(ctx, 201, c, secret, res);
        admin_location(c, res);
    }
    OPENSSL_cleanse(generated, sizeof(generated));
    return 0;
fail:
    OPENSSL_cleanse(generated, sizeof(generated));
    proto_response_error(res, 500, "server_error", "the client could not be created");
    return 0;
}

/* The record of `in`, its verifier set when it chose a secret.  0, or -ENOSPC (the
 * interned strings are full) or proto_secret_set's error, answered. */
static int admin_record(const struct proto_ctx *ctx, const struct proto_client_input *in,
                        struct shm_client *c, struct proto_response *res)
{
    int rc;

    memset(c, 0, sizeof(*c));
    memcpy(c->id, in->id, sizeof(c->id));
    if (proto_client_build(ctx, in, c) < 0) {
        proto_response_error(res, 503, "temporarily_unavailable",
                             "the interned string table is full");
        return -ENOSPC;
    }
    /* A secret a human chose may be guessable: Argon2id makes guessing it slow. */
    rc = in->has_secret ? proto_secret_set(c, in->secret, in->secret_len, false) : 0;
    if (rc < 0)
        proto_response_error(res, 500, "server_error", "the secret could not be hashed");
    return rc;
}

void proto_admin_clients_create(const struct proto_ctx *ctx, const struct proto_request *req,
                                struct proto_response *res)
{
    struct proto_client_input in;
    struct shm_client c;

    if (proto_admin_check(ctx, req, res) < 0 || admin_body(ctx, req, &in, res) < 0 ||
        admin_record(ctx, &in, &c, res) < 0)
        goto done;
    if (admin_create(ctx, &c, in.has_secret ? in.secret : NULL, res) == -EEXIST)
        proto_response_error(res, 409, "conflict", "a client with this client_id exists");
done:
    OPENSSL_cleanse(&in, sizeof(in));
}

/* PUT over an existing client: the new policy, keeping its secret unless one is given,
 * its creation time, its subject and its generation (its tokens stay valid).  -ENOENT
 * when it was deleted meanwhile (nothing answered), else 0. */
static int admin_replace(const struct proto_ctx *ctx, uint64_t slot, uint32_t gen,
                         const struct shm_client *old, struct shm_client *c, bool has_secret,
                         struct proto_response *res)
{
    int rc;

    if (!has_secret) {
        c->verifier_kind = old->verifier_kind;
        c->verifier_len = old->verifier_len;
        memcpy(c->verifier, old->verifier, sizeof(c->verifier));
    }
    c->subject = old->subject;
    c->created = old->created;
    c->updated = ctx->now;
    rc = admin_write(ctx, slot, gen, c->id, c, false);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        admin_write_failed(res, rc, "the client could not be replaced");
    else
        admin_answer_client(ctx, 200, c, NULL, res);
    return 0;
}

void proto_admin_client_put(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res)
{
    struct proto_client_input in;
    char id[SHM_CLIENT_ID_MAX];
    struct shm_client c, old;
    uint32_t gen;
    int64_t slot;
    int rc = -ENOENT;

    if (proto_admin_check(ctx, req, res) < 0 || admin_path_id(req, false, id, res) < 0 ||
        admin_body(ctx, req, &in, res) < 0)
        goto done;
    if (in.id[0] && strcmp(in.id, id) != 0) {
        proto_response_error(res, 400, "invalid_request",
                             "client_id differs from the id in the path");
        goto done;
    }
    memcpy(in.id, id, sizeof(id));
    if (admin_record(ctx, &in, &c, res) < 0)
        goto done;
    /* Find, then replace or create; either may lose a race with a writer of this id. */
    for (int i = 0; i < ADMIN_RETRIES && rc == -ENOENT; i++) {
        slot = shm_client_find(ctx->region, id, strlen(id), &old, &gen);
        if (slot >= 0)
            rc = admin_replace(ctx, (uint64_t)slot, gen, &old, &c, in.has_secret, res);
        else if (admin_create(ctx, &c, in.has_secret ? in.secret : NULL, res) == 0)
            rc = 0;
    }
    if (rc == -ENOENT)
        admin_busy(res);
done:
    OPENSSL_cleanse(&in, sizeof(in));
}

void proto_admin_client_get(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res)
{
    char id[SHM_CLIENT_ID_MAX];
    struct shm_client c;

    if (proto_admin_check(ctx, req, res) < 0 || admin_path_id(req, false, id, res) < 0)
        return;
    if (shm_client_find(ctx->region, id, strlen(id), &c, NULL) < 0)
        admin_not_found(res);
    else
        admin_answer_client(ctx, 200, &c, NULL, res);
}

/* Answers 200 with the deleted client.  Its generation moves on: its tokens are dead. */
void proto_admin_client_delete(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res)
{
    char id[SHM_CLIENT_ID_MAX];
    struct shm_client c;
    uint32_t gen;
    int64_t slot;
    int rc;

    if (proto_admin_check(ctx, req, res) < 0 || admin_path_id(req, false, id, res) < 0)
        return;
    slot = shm_client_find(ctx->region, id, strlen(id), &c, &gen);
    rc = slot < 0 ? -ENOENT : admin_write(ctx, (uint64_t)slot, gen, id, NULL, false);
    if (rc == -ENOENT)
        admin_not_found(res);
    else if (rc < 0)
        admin_write_failed(res, rc, "the client could not be deleted");
    else
        admin_answer_client(ctx, 200, &c, NULL, res);
}

/* A boolean query parameter: true/1 or false/0; absent is false.  0, or -EINVAL
 * answered. */
static int admin_flag(const struct proto_ctx *ctx, const char *name, bool *out,
                      struct proto_response *res)
{
    const struct proto_param *p = proto_params_get(ctx->params, name);
    size_t n = p ? strlen(p->value) : 0; /* a %00 in the value makes n short */

    *out = p && n == p->len && (strcmp(p->value, "true") == 0 || strcmp(p->value, "1") == 0);
    if (p && !*out && (n != p->len || (strcmp(p->value, "false") && strcmp(p->value, "0")))) {
        proto_response_error(res, 400, "invalid_request", "revoke_tokens must be true or false");
        return -EINVAL;
    }
    return 0;
}

/* Answers {"client_id","client_secret"} once the new secret is in place. */
static void admin_answer_secret(const char *id, const char *secret, struct proto_response *res)
{
    struct proto_buf *b = &res->body;

    proto_oauth_json_begin(res, 200);
    if (proto_jsonw_kv_str(b, "client_id", id, strlen(id)) < 0 ||
        proto_jsonw_kv_str(b, "client_secret", secret, strlen(secret)) < 0 ||
        proto_buf_append(b, "}", 1) < 0)
        proto_response_error(res, 500, "server_error", "out of memory");
}

/* POST /admin/clients/{id}/secret[?revoke_tokens=true]: a new generated secret; the old
 * one stops working at once, its tokens only when asked. */
void proto_admin_client_post(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res)
{
    static const char *const known[] = {"revoke_tokens", NULL};
    char id[SHM_CLIENT_ID_MAX], secret[PROTO_TOKEN_CHARS + 1];
    struct shm_client c;
    bool revoke;
    uint32_t gen;
    int64_t slot;
    int rc;

    if (proto_admin_check(ctx, req, res) < 0 || admin_path_id(req, true, id, res) < 0 ||
        proto__admin_query(ctx, req, known, res) < 0 || admin_flag(ctx, known[0], &revoke, res) < 0)
        return;
    slot = shm_client_find(ctx->region, id, strlen(id), &c, &gen);
    if (slot < 0) {
        admin_not_found(res);
        return;
    }
    if (proto_random_token(secret) < 0 ||
        proto_secret_set(&c, secret, PROTO_TOKEN_CHARS, true) < 0) {
        proto_response_error(res, 500, "server_error", "the secret could not be generated");
        goto done;
    }
    c.updated = ctx->now;
    rc = admin_write(ctx, (uint64_t)slot, gen, id, &c, revoke);
    if (rc == -ENOENT)
        admin_not_found(res);
    else if (rc < 0)
        admin_write_failed(res, rc, "the secret could not be changed");
    else
        admin_answer_secret(id, secret, res);
done:
    OPENSSL_cleanse(secret, sizeof(secret));
}

struct admin_list {
    const struct proto_ctx *ctx;
    struct proto_buf *b;
    uint64_t limit, n;
    int64_t next; /* the slot the next page starts at, -1: this is the last page */
    int rc;
};

static int admin_list_visit(uint64_t slot, const struct shm_client *c, void *arg)
{
    struct admin_list *l = arg;

    if (l->n == l->limit) {
        l->next = (int64_t)slot;
        return -ENOSPC; /* the page is full: stop */
    }
    if (l->n++ && proto_buf_append(l->b, ",", 1) < 0)
        l->rc = -ENOMEM;
    if (l->rc == 0 &&
        (proto_buf_append(l->b, "{", 1) < 0 || proto_client_json(l->ctx, c, l->b) < 0 ||
         proto_buf_append(l->b, "}", 1) < 0))
        l->rc = -ENOMEM;
    return l->rc;
}

/* limit (1 to PROTO_CLIENT_LIST_MAX) and after (a cursor).  0, or -EINVAL answered. */
static int admin_list_args(const struct proto_ctx *ctx, uint64_t *limit, uint64_t *from,
                           struct proto_response *res)
{
    const struct proto_param *after = proto_params_get(ctx->params, "after");

    if (proto__admin_limit(ctx, limit, res) < 0)
        return -EINVAL;
    *from = 0;
    if (after && proto_client_cursor_decode(after->value, after->len, from) < 0) {
        proto_response_error(res, 400, "invalid_request", "after is not a cursor this server gave");
        return -EINVAL;
    }
    return 0;
}

/* GET /admin/clients?limit=&after=: {"clients":[…],"next":cursor-or-null}, in slot order
 * (a client keeps its slot for life, so paging never repeats one). */
void proto_admin_clients_list(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_response *res)
{
    static const char *const known[] = {"limit", "after", NULL};
    struct admin_list l = {ctx, &res->body, 0, 0, -1, 0};
    char cursor[PROTO_CLIENT_CURSOR_MAX];
    uint64_t from;

    if (proto_admin_check(ctx, req, res) < 0 || proto__admin_query(ctx, req, known, res) < 0 ||
        admin_list_args(ctx, &l.limit, &from, res) < 0)
        return;
    proto_oauth_json_begin(res, 200);
    l.rc = proto_jsonw_kv_raw(l.b, "clients", "[");
    if (l.rc == 0)
        shm_clients_iterate(ctx->region, from, admin_list_visit, &l);
    if (l.rc == 0)
        l.rc = proto_buf_append(l.b, "]", 1);
    if (l.rc == 0 && l.next >= 0) {
        proto_client_cursor_encode((uint64_t)l.next, cursor);
        l.rc = proto_jsonw_kv_str(l.b, "next", cursor, strlen(cursor));
    } else if (l.rc == 0) {
        l.rc = proto_jsonw_kv_raw(l.b, "next", "null");
    }
    if (l.rc < 0 || proto_buf_append(l.b, "}", 1) < 0)
        proto_response_error(res, 500, "server_error", "out of memory");
}
