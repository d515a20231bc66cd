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

/* The query's parameters: none but client_id, limit and after, each once and valid.
 * 0, or -EINVAL with a 400 written. */
static int sessions_query_parse(const struct proto_ctx *ctx, const struct proto_request *req,
                                struct sessions_query *q, struct proto_response *res)
{
    static const char *const known[] = {"client_id", "limit", "after", NULL};

    if (proto__admin_query(ctx, req, known, res) < 0)
        return -EINVAL;
    q->client_id = proto_params_get(ctx->params, "client_id");
    q->after = proto_params_get(ctx->params, "after");
    if (q->client_id && !proto_client_id_valid(q->client_id->value, q->client_id->len))
        return bad_request(res, "client_id is not a valid client id");
    if (proto__admin_limit(ctx, &q->limit, res) < 0)
        return -EINVAL;
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
