/*
 * Requests parsed from plain text by proto/http/http.c and routed through the server's own
 * table (proto/http/routes.c) over the JWT fixture's context (jose/jwt_fixture.h), with an
 * admin token configured: for the unit tests of endpoints that need keys, public or admin.
 */
#ifndef TESTS_UNIT_PROTO_ROUTED_FIXTURE_H
#define TESTS_UNIT_PROTO_ROUTED_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/http/response.h"
#include "proto/http/router.h"
#include "tests/unit/proto/jose/jwt_fixture.h"

#define RFX_ADMIN_TOKEN "admin-token-0123456789abcdef"

struct rfx {
    struct fx *f;
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    char in[8192];
};

static inline int rfx_setup(void **state)
{
    struct rfx *h = calloc(1, sizeof(*h));
    void *inner;

    if (h == NULL || fx_setup(&inner) < 0)
        return -1;
    h->f = inner;
    h->f->cfg.admin_enabled = true;
    proto_sha256(RFX_ADMIN_TOKEN, strlen(RFX_ADMIN_TOKEN), h->f->cfg.admin_token_hash);
    h->limits = (struct proto_limits){8192, 16384, 64};
    *state = h;
    return 0;
}

static inline int rfx_teardown(void **state)
{
    struct rfx *h = *state;
    void *inner = h->f;

    proto_response_free(&h->res);
    fx_teardown(&inner);
    free(h);
    return 0;
}

/* Parses `raw` as one request and routes it through the server's table. */
static inline struct proto_response *rfx_request(struct rfx *h, const char *raw)
{
    snprintf(h->in, sizeof(h->in), "%s", raw);
    proto_http_init(&h->http, &h->limits);
    assert_int_equal(proto_http_feed(&h->http, h->in, strlen(h->in)), PROTO_HTTP_REQUEST);
    proto_response_reset(&h->res);
    proto_router_dispatch(proto_routes, proto_nroutes, &h->f->ctx, &h->http.req, &h->res);
    return &h->res;
}

/* True when the response's extra headers hold `line` ("Name: value"). */
static inline bool rfx_has_header(const struct proto_response *r, const char *line)
{
    return r->headers.len && memmem(r->headers.data, r->headers.len, line, strlen(line));
}

/* The number of keys GET /oauth2/jwks publishes. */
static inline int rfx_keys_in_jwks(struct rfx *h)
{
    struct proto_response *r = rfx_request(h, "GET /oauth2/jwks HTTP/1.1\r\nHost: x\r\n\r\n");
    json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
    int n = (int)json_array_size(json_object_get(j, "keys"));

    json_decref(j);
    return n;
}

#endif
