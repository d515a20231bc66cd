/*
 * POST /admin/keys/rotate (API.md §6), behind the admin token: new signing keys for one
 * algorithm or all three, made, stored and published by proto/jose/keys.c; the keys they
 * replace stay published until every token they signed has expired.  Answers with the key
 * list.  Pure: the key files are written through the worker's keystore.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "proto/oauth/oauth.h"

/* The algorithms to rotate, from `alg` in the body or the query: bit 1 << alg each. */
static int rotate_mask(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res, unsigned *mask)
{
    const struct proto_param *p = NULL;
    int alg;

    *mask = (1u << PROTO_JWT_ALGS) - 1;
    if (req->body.len) {
        if (proto_oauth_params(ctx, req, res) < 0)
            return -EINVAL;
        p = proto_params_get(ctx->params, "alg");
    }
    if (p == NULL && req->query.len) {
        if (proto_oauth_query(ctx, req) < 0)
            goto bad;
        p = proto_params_get(ctx->params, "alg");
    }
    if (p == NULL || strcmp(p->value, "all") == 0)
        return 0;
    alg = proto_jwt_alg_parse(p->value);
    if (alg < 0)
        goto bad;
    *mask = 1u << alg;
    return 0;
bad:
    proto_response_error(res, 400, "invalid_request", "alg must be ES256, EdDSA, RS256 or all");
    return -EINVAL;
}

static void rotate_refuse(struct proto_response *res, int rc)
{
    if (rc == -EBUSY) {
        proto_response_error(res, 503, "temporarily_unavailable",
                             "another key rotation is in progress");
        proto_response_header(res, "Retry-After", "1");
    } else if (rc == -ENOSPC) {
        proto_response_error(res, 503, "temporarily_unavailable",
                             "too many keys are still published: retry when retired keys expire");
        proto_response_header(res, "Retry-After", "60");
    } else if (rc == -EIO) {
        proto_response_error(res, 500, "server_error", "the new key could not be stored");
    } else {
        proto_response_error(res, 500, "server_error", "the new key could not be generated");
    }
}

void proto_admin_keys_rotate(const struct proto_ctx *ctx, const struct proto_request *req,
                             struct proto_response *res)
{
    unsigned mask;
    int rc;

    if (proto_admin_check(ctx, req, res) < 0 || rotate_mask(ctx, req, res, &mask) < 0)
        return;
    rc = proto_keys_rotate(ctx, mask);
    if (rc < 0) {
        rotate_refuse(res, rc);
        return;
    }
    res->status = 200;
    res->content_type = "application/json";
    proto_oauth_nostore(res);
    proto_buf_reset(&res->body);
    if (proto_keys_list(ctx, &res->body) < 0)
        proto_response_error(res, 500, "server_error", "the key list cannot be built");
}
