/*
 * The frame of an OAuth endpoint's exchange (see oauth.h): the request's parameters,
 * read from its body as the media type it declares, and the answers every endpoint gives
 * alike — the RFC 6749 §5.2 error and the no-store headers of RFC 6749 §5.1.  Pure.
 */
#include "autoconfig.h"

#include <errno.h>

#include "proto/oauth/oauth.h"
#include "proto/oauth/params.h"

static const char *const oauth_repeatable[] = {"resource", NULL};

void proto_oauth_nostore(struct proto_response *res)
{
    proto_response_header(res, "Cache-Control", "no-store");
    proto_response_header(res, "Pragma", "no-cache");
}

void proto_oauth_json_begin(struct proto_response *res, int status)
{
    res->status = status;
    res->content_type = "application/json";
    proto_oauth_nostore(res);
    proto_buf_reset(&res->body);
    proto_buf_append(&res->body, "{", 1);
}

void proto_oauth_error(struct proto_response *res, int status, const char *error,
                       const char *description, enum proto_auth_method method)
{
    proto_response_error(res, status, error, description);
    proto_response_header(res, "Pragma", "no-cache");
    /* HTTP requires a challenge on every 401; RFC 6749 §5.2 names the scheme tried. */
    if (status == 401)
        proto_response_header(res, "WWW-Authenticate", "Basic realm=\"tessera\"");
}

/* The parameters of a form or JSON body (RFC 6749 §3.2 and API.md §1), or none when
 * there is no body: a body of any other type, or of no declared type, is refused rather
 * than guessed at.  A browser sends text/plain (or an untyped Blob) cross-site without a
 * CORS preflight; taking it for a form would let any web page drive these endpoints. */
static int oauth_body_params(const struct proto_request *req, struct proto_params *p)
{
    const char *body = proto_span_ptr(req, req->body);
    struct proto_span v;

    if (proto_request_media_type_is(req, "application/x-www-form-urlencoded"))
        return proto_form_parse(body, req->body.len, p);
    if (proto_request_media_type_is(req, "application/json"))
        return proto_json_params_parse(body, req->body.len, p);
    if (req->body.len == 0 && !proto_request_header(req, "content-type", &v))
        return proto_form_parse(body, 0, p);
    p->n = 0;
    p->error = "the body must be application/x-www-form-urlencoded or application/json";
    return -EINVAL;
}

int proto_oauth_params(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res)
{
    struct proto_params *p = ctx->params;
    const char *dup;

    p->arena = ctx->arena;
    if (oauth_body_params(req, p) < 0) {
        proto_oauth_error(res, 400, "invalid_request", p->error ? p->error : "bad parameters",
                          PROTO_AUTH_NONE);
        return -EINVAL;
    }
    dup = proto_params_check_single(p, oauth_repeatable);
    if (dup) {
        proto_oauth_error(res, 400, "invalid_request", "a parameter was sent more than once",
                          PROTO_AUTH_NONE);
        return -EINVAL;
    }
    return 0;
}

int proto_oauth_query(const struct proto_ctx *ctx, const struct proto_request *req)
{
    ctx->params->arena = ctx->arena;
    return proto_form_parse(proto_span_ptr(req, req->query), req->query.len, ctx->params);
}

const struct proto_param *proto_oauth_token_request(const struct proto_ctx *ctx,
                                                    const struct proto_request *req,
                                                    struct proto_client *caller,
                                                    struct proto_response *res)
{
    const struct proto_param *p;

    if (proto_oauth_params(ctx, req, res) < 0 ||
        proto_client_authenticate(ctx, req, caller, res) < 0)
        return NULL;
    p = proto_params_get(ctx->params, "token");
    if (p == NULL)
        proto_oauth_error(res, 400, "invalid_request", "token is required", caller->method);
    return p;
}
