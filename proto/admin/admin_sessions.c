/*
 * GET /admin/sessions (API.md §6): the live tokens, all of them or one client's, as the
 * store process lists them from Berkeley DB, never a token itself.  Behind the admin bearer
 * token.  proto/ does no I/O, so this handler only checks the query (client_id, limit
 * 1..1000 default 100, after: a session id of 22 base64url characters; nothing else, each
 * once) and defers the answer with the store's request line (store/control.h); the worker
 * sends it over the control socket and answers with the store's status and body.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/jsonw.h"
#include "proto/oauth/secret.h"

#define SESSION_ID_CHARS 22 /* base64url of a session id's 16 bytes */

struct sessions_query {
    const struct proto_param *client_id, *after;
    uint64_t limit;
};

static int bad_request(struct proto_response *res, const char *why)
{
    proto_response_error(res, 400, "invalid_request", why);
    return -EINVAL;
}

/* The only spelling of a session id: 22 characters decoding to 16 bytes and back. */
static bool session_id_valid(const char *s, size_t len)
{
    uint8_t id[16];
    char again[SESSION_ID_CHARS + 1];

    if (len != SESSION_ID_CHARS || memchr(s, '=', len) ||
        proto_b64url_decode(s, len, id, sizeof(id)) != (long)sizeof(id))
        return false;
    proto_b64url_encode(id, sizeof(id), again);
    return memcmp(again, s, len) == 0;
}

static int query_limit(const struct proto_param *p, uint64_t *limit)
{
    size_t digits = 0;

    *limit = PROTO_CLIENT_LIST_DEFAULT;
    if (p == NULL)
        return 0;
    while (digits < p->len && p->value[digits] >= '0' && p->value[digits] <= '9')
        digits++;
    *limit = digits == p->len && digits >= 1 && digits <= 4 ? strtoull(p->value, NULL, 10) : 0;
    return *limit >= 1 && *limit <= PROTO_CLIENT_LIST_MAX ? 0 : -EINVAL;
}

/* The query's parameters: none but client_id, limit and after, each once and valid.
 * 0, or -EINVAL with a 400 written. */
static int sessions_query_parse(const struct proto_ctx *ctx, const struct proto_request *req,
                                struct sessions_query *q, struct proto_response *res)
{
    struct proto_params *p = ctx->params;

    p->arena = ctx->arena;
    if (proto_form_parse(proto_span_ptr(req, req->query), req->query.len, p) < 0)
        return bad_request(res, p->error ? p->error : "malformed query");
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->p[i].name, "client_id") && strcmp(p->p[i].name, "limit") &&
            strcmp(p->p[i].name, "after"))
            return bad_request(res, "unknown query parameter");
    if (proto_params_check_single(p, NULL))
        return bad_request(res, "a query parameter was sent more than once");
    q->client_id = proto_params_get(p, "client_id");
    q->after = proto_params_get(p, "after");
    if (q->client_id && !proto_client_id_valid(q->client_id->value, q->client_id->len))
        return bad_request(res, "client_id is not a valid client id");
    if (query_limit(proto_params_get(p, "limit"), &q->limit) < 0)
        return bad_request(res, "limit must be a number from 1 to 1000");
    if (q->after && !session_id_valid(q->after->value, q->after->len))
        return bad_request(res, "after is not a session id this server gave");
    return 0;
}

/* {"op":"sessions","client_id":…,"after":…,"limit":N}: the store's request line. */
static int sessions_request(const struct sessions_query *q, struct proto_buf *b)
{
    int rc = proto_buf_append_str(b, "{");

    rc |= proto_jsonw_kv_str(b, "op", "sessions", 8);
    if (q->client_id)
        rc |= proto_jsonw_kv_str(b, "client_id", q->client_id->value, q->client_id->len);
    if (q->after)
        rc |= proto_jsonw_kv_str(b, "after", q->after->value, q->after->len);
    rc |= proto_jsonw_kv_int(b, "limit", (int64_t)q->limit);
    rc |= proto_buf_append(b, "}", 1);
    return rc < 0 ? -ENOMEM : 0;
}

void proto_admin_sessions_list(const struct proto_ctx *ctx, const struct proto_request *req,
                               struct proto_response *res)
{
    struct sessions_query q;
    struct proto_buf b = {0};

    if (proto_admin_check(ctx, req, res) < 0 || sessions_query_parse(ctx, req, &q, res) < 0)
        return;
    if (sessions_request(&q, &b) < 0)
        proto_response_error(res, 500, "server_error", "out of memory");
    else
        proto_response_defer(res, b.data, b.len);
    proto_buf_free(&b);
}
