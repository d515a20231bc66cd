/*
 * The administration API for clients (API.md §6): the handlers of /admin/clients and
 * /admin/clients/{id}[/secret] (proto/admin/admin_clients.c), and the conversions they rely on
 * (proto/admin/client_json.c): a JSON request body to a validated client, a client record to
 * JSON, client ids in paths, and list cursors.  Pure: shared memory through the ctx only.
 */
#ifndef PROTO_ADMIN_H
#define PROTO_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/ctx.h"
#include "proto/http/router.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/scope.h"
#include "shm/client.h"

#define PROTO_CLIENT_SECRET_MAX 255     /* bytes of a chosen secret (UTF-8) */
#define PROTO_CLIENT_TTL_MAX 315360000  /* ten years, in seconds */
#define PROTO_CLIENT_LIVE_MAX 200000000 /* max_live_tokens: the largest tokens.capacity */
#define PROTO_CLIENT_ID_CHARS 22        /* generated ids: 132 random bits, base64url */
#define PROTO_CLIENT_WHY_MAX 160        /* room for a validation error's description */
#define PROTO_CLIENT_CURSOR_MAX 16      /* a list cursor's text, NUL included */
#define PROTO_CLIENT_LIST_DEFAULT 100
#define PROTO_CLIENT_LIST_MAX 1000

/* What an admin request body says about a client, validated and normalised.  Absent
 * fields hold their defaults; scope and audience lists are space-delimited text, each
 * token once, in the order given. */
struct proto_client_input {
    char id[SHM_CLIENT_ID_MAX]; /* "" when absent: the server generates one */
    char secret[PROTO_CLIENT_SECRET_MAX + 1];
    size_t secret_len;
    bool has_secret; /* chosen by a human: stored with Argon2id */
    char name[SHM_CLIENT_NAME_MAX];
    char scopes[PROTO_SCOPE_MAX + 1];
    char default_scopes[PROTO_SCOPE_MAX + 1];
    bool has_default_scopes; /* absent: every allowed scope */
    char audiences[PROTO_SCOPE_MAX + 1];
    uint32_t grant_types;                             /* PROTO_GRANT_* */
    uint32_t flags;                                   /* PROTO_CLIENT_* */
    uint8_t token_format;                             /* PROTO_FORMAT_* */
    uint32_t jwt_alg;                                 /* enum proto_jwt_alg */
    uint32_t access_ttl, max_access_ttl, refresh_ttl; /* 0: the server's default */
    uint32_t max_live_tokens;                         /* 0: the server's default */
};

/* Parses and validates a JSON client body (POST /admin/clients, PUT /admin/clients/{id}).
 * Unknown fields are refused; null stands for an absent field; created_at and updated_at
 * are accepted and ignored so that a GET answer can be PUT back.  0, or -EINVAL with a
 * sentence naming the field in why (PROTO_CLIENT_WHY_MAX bytes). */
int proto_client_parse(const char *body, size_t len, uint32_t default_access_ttl,
                       struct proto_client_input *in, char *why);
/* Fills the policy fields of out from in, interning its scope and audience lists (id,
 * verifier, subject and times are the caller's).  0, or -ENOSPC when the interned
 * string table is full. */
int proto_client_build(const struct proto_ctx *ctx, const struct proto_client_input *in,
                       struct shm_client *out);
/* Appends the members of a client's JSON object (never its verifier), without braces:
 * the caller writes "{" before and may add members after.  0 or -ENOMEM. */
int proto_client_json(const struct proto_ctx *ctx, const struct shm_client *c, struct proto_buf *b);

/* True when s is a client id we accept: 1 to 127 bytes of %x20-7E (VSCHAR). */
bool proto_client_id_valid(const char *s, size_t len);
/* Splits the path after "/admin/clients/" into the percent-decoded id (NUL-terminated)
 * and what follows its '/' (*suffix NULL when there is no '/').  0, -ENOENT (no id), -EINVAL
 * (malformed escape, or not a valid client id). */
int proto_client_path_parse(const char *rest, size_t len, char id[SHM_CLIENT_ID_MAX],
                            const char **suffix, size_t *suffix_len);
/* Percent-encodes id for a URL path (every byte but ALPHA DIGIT "-._~").  0 or -ENOMEM. */
int proto_client_path_encode(const char *id, struct proto_buf *b);
/* A list cursor: an opaque base64url text naming the slot to continue from. */
void proto_client_cursor_encode(uint64_t slot, char out[PROTO_CLIENT_CURSOR_MAX]);
/* 0 and *slot, or -EINVAL for text that is not a cursor of ours. */
int proto_client_cursor_decode(const char *s, size_t len, uint64_t *slot);

/* Checks the admin token, sent as `Authorization: Bearer` (no other scheme), in constant
 * time (proto/admin/admin_auth.c).  0, or -EACCES with 401 written to res. */
int proto_admin_check(const struct proto_ctx *ctx, const struct proto_request *req,
                      struct proto_response *res);

/* Handlers (proto/http/routes.c): /admin/clients and /admin/clients/{id}[/secret]. */
void proto_admin_clients_list(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_response *res);
void proto_admin_clients_create(const struct proto_ctx *ctx, const struct proto_request *req,
                                struct proto_response *res);
void proto_admin_client_get(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res);
void proto_admin_client_put(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res);
void proto_admin_client_delete(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res);
void proto_admin_client_post(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res);
/* POST /admin/keys/rotate (proto/admin/admin_keys.c): new signing keys.  Optional alg
 * (query or body, form or JSON): ES256, EdDSA or RS256 rotates that one; absent or "all"
 * rotates all three.  200 with the key list. */
void proto_admin_keys_rotate(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res);
/* GET /admin/sessions (proto/admin/admin_sessions.c): checks the query, then defers the answer
 * to the store process (proto_response_defer). */
void proto_admin_sessions_list(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res);

/* Shared within proto/admin/ (proto/admin/admin_query.c). */

/* The query string into ctx->params: none but the names in `known` (NULL-terminated), each
 * at most once.  0, or -EINVAL with a 400 written. */
int proto__admin_query(const struct proto_ctx *ctx, const struct proto_request *req,
                       const char *const *known, struct proto_response *res);
/* A list's page size from the `limit` parameter: 1 to PROTO_CLIENT_LIST_MAX, by default
 * PROTO_CLIENT_LIST_DEFAULT.  0, or -EINVAL with a 400 written. */
int proto__admin_limit(const struct proto_ctx *ctx, uint64_t *limit, struct proto_response *res);

#endif
