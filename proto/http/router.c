/*
 * Request routing over a static table.  Pure.  The table is short and scanned linearly:
 * a few dozen memcmp calls cost less than hashing the path.
 */
#include "autoconfig.h"

#include <string.h>

#include "proto/http/router.h"

static bool router_path_match(const char *pattern, const char *path, size_t len)
{
    size_t n = strlen(pattern);

    if (n && pattern[n - 1] == '*')
        return len >= n - 1 && memcmp(pattern, path, n - 1) == 0;
    return len == n && memcmp(pattern, path, n) == 0;
}

static void router_allow_add(struct proto_buf *allow, int method)
{
    const char *name = llhttp_method_name((llhttp_method_t)method);

    if (allow->len)
        proto_buf_append(allow, ", ", 2);
    proto_buf_append_str(allow, name);
    if (method == HTTP_GET)
        proto_buf_append_str(allow, ", HEAD");
}

static void router_refuse_method(const struct proto_route *routes, size_t nroutes,
                                 const struct proto_request *req, struct proto_response *res)
{
    struct proto_buf allow = {0};
    const char *path = proto_span_ptr(req, req->path);

    for (size_t i = 0; i < nroutes; i++)
        if (router_path_match(routes[i].path, path, req->path.len))
            router_allow_add(&allow, routes[i].method);
    proto_buf_append(&allow, "", 1);
    proto_response_error(res, 405, "method_not_allowed", "the method is not allowed for this path");
    if (allow.data)
        proto_response_header(res, "Allow", allow.data);
    proto_buf_free(&allow);
}

void proto_router_dispatch(const struct proto_route *routes, size_t nroutes,
                           const struct proto_ctx *ctx, const struct proto_request *req,
                           struct proto_response *res)
{
    const char *path = proto_span_ptr(req, req->path);
    int method = req->method == HTTP_HEAD ? HTTP_GET : req->method;
    bool path_known = false;

    for (size_t i = 0; i < nroutes; i++) {
        if (!router_path_match(routes[i].path, path, req->path.len))
            continue;
        if (routes[i].method == method) {
            routes[i].handler(ctx, req, res);
            return;
        }
        path_known = true;
    }
    if (path_known)
        router_refuse_method(routes, nroutes, req, res);
    else
        proto_response_error(res, 404, "not_found", "no such endpoint");
}
