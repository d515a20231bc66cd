/*
 * The request router: a table of {method, path, handler}.  Later endpoints add rows to
 * proto/http/routes.c.  A path matches exactly, or by prefix when the row's path ends in '*'
 * (for /admin/clients/{id}-style paths; the handler parses the rest).
 */
#ifndef PROTO_ROUTER_H
#define PROTO_ROUTER_H

#include <stddef.h>

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "proto/http/response.h"

typedef void (*proto_handler_fn)(const struct proto_ctx *ctx, const struct proto_request *req,
                                 struct proto_response *res);

struct proto_route {
    int method; /* enum llhttp_method; GET rows answer HEAD too */
    const char *path;
    proto_handler_fn handler;
};

/* Finds the row for req and runs it, or answers 404/405 (with Allow) into res. */
void proto_router_dispatch(const struct proto_route *routes, size_t nroutes,
                           const struct proto_ctx *ctx, const struct proto_request *req,
                           struct proto_response *res);

/* The server's routes (proto/http/routes.c). */
extern const struct proto_route proto_routes[];
extern const size_t proto_nroutes;

#endif
