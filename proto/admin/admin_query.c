/*
 * The query strings of the admin API (see admin.h): a call knows its names, and each may
 * come once; a list's page size.  Shared by the client and session listings and secret
 * rotation, so that they refuse alike.  Pure.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/oauth/oauth.h"

int proto__admin_query(const struct proto_ctx *ctx, const struct proto_request *req,
                       const char *const *known, struct proto_response *res)
{
    struct proto_params *p = ctx->params;

    if (proto_oauth_query(ctx, req) < 0) {
        proto_response_error(res, 400, "invalid_request", p->error ? p->error : "malformed query");
        return -EINVAL;
    }
    for (size_t i = 0; i < p->n; i++) {
        const char *const *k = known;

        while (*k && strcmp(*k, p->p[i].name) != 0)
            k++;
        if (*k == NULL) {
            proto_response_error(res, 400, "invalid_request", "unknown query parameter");
            return -EINVAL;
        }
    }
    if (proto_params_check_single(p, NULL)) {
        proto_response_error(res, 400, "invalid_request",
                             "a query parameter was sent more than once");
        return -EINVAL;
    }
    return 0;
}

int proto__admin_limit(const struct proto_ctx *ctx, uint64_t *limit, struct proto_response *res)
{
    const struct proto_param *p = proto_params_get(ctx->params, "limit");
    size_t digits = 0;

    *limit = PROTO_CLIENT_LIST_DEFAULT;
    if (p == NULL)
        return 0;
    /* Digits only, at most four: strtoull alone would take " 5", "+5" or "5x". */
    while (digits < p->len && p->value[digits] >= '0' && p->value[digits] <= '9')
        digits++;
    *limit = digits == p->len && digits >= 1 && digits <= 4 ? strtoull(p->value, NULL, 10) : 0;
    if (*limit >= 1 && *limit <= PROTO_CLIENT_LIST_MAX)
        return 0;
    proto_response_error(res, 400, "invalid_request", "limit must be a number from 1 to 1000");
    return -EINVAL;
}
