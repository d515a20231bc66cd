/*
 * Response building and serialisation.  Pure; the worker reuses one proto_response per
 * process, so building a response allocates nothing once the buffers have grown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto/http/response.h"
#include "proto/jsonw.h"

void proto_response_reset(struct proto_response *r)
{
    r->status = 200;
    r->content_type = NULL;
    r->close = false;
    r->deferred = false;
    proto_buf_reset(&r->headers);
    proto_buf_reset(&r->body);
    proto_buf_reset(&r->store_req);
}

void proto_response_free(struct proto_response *r)
{
    proto_buf_free(&r->headers);
    proto_buf_free(&r->body);
    proto_buf_free(&r->store_req);
}

int proto_response_header(struct proto_response *r, const char *name, const char *value)
{
    if (proto_buf_append_str(&r->headers, name) < 0 || proto_buf_append(&r->headers, ": ", 2) < 0 ||
        proto_buf_append_str(&r->headers, value) < 0 ||
        proto_buf_append(&r->headers, "\r\n", 2) < 0)
        return -ENOMEM;
    return 0;
}

int proto_response_json(struct proto_response *r, int status, const char *body)
{
    r->status = status;
    r->content_type = "application/json";
    proto_buf_reset(&r->body);
    return proto_buf_append_str(&r->body, body);
}

int proto_response_error(struct proto_response *r, int status, const char *error,
                         const char *description)
{
    struct proto_buf *b = &r->body;

    r->status = status;
    r->content_type = "application/json";
    proto_buf_reset(b);
    if (proto_buf_append(b, "{", 1) < 0 ||
        proto_jsonw_kv_str(b, "error", error, strlen(error)) < 0 ||
        proto_jsonw_kv_str(b, "error_description", description, strlen(description)) < 0 ||
        proto_buf_append(b, "}", 1) < 0)
        return -ENOMEM;
    return proto_response_header(r, "Cache-Control", "no-store");
}

int proto_response_defer(struct proto_response *r, const char *req, size_t len)
{
    proto_buf_reset(&r->store_req);
    if (proto_buf_append(&r->store_req, req, len) < 0) {
        proto_response_error(r, 500, "server_error", "out of memory");
        return -ENOMEM;
    }
    r->deferred = true;
    return 0;
}

int proto_response_store(struct proto_response *r, int status, const char *body, size_t len)
{
    r->deferred = false;
    r->status = strcmp(proto_status_reason(status), "Unknown") != 0 ? status : 502;
    r->content_type = "application/json";
    proto_buf_reset(&r->headers);
    proto_buf_reset(&r->body);
    if (proto_buf_append(&r->body, body, len) < 0)
        return -ENOMEM;
    return proto_response_header(r, "Cache-Control", "no-store");
}

const char *proto_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

int proto_response_serialize(const struct proto_response *r, const char *date, bool head,
                             bool close, struct proto_buf *out)
{
    char status[4] = {(char)('0' + r->status / 100 % 10), (char)('0' + r->status / 10 % 10),
                      (char)('0' + r->status % 10), ' '};

    if (proto_buf_reserve(out, 160 + r->headers.len + r->body.len) < 0)
        return -ENOMEM;
    proto_buf_append(out, "HTTP/1.1 ", 9);
    proto_buf_append(out, status, 4);
    proto_buf_append_str(out, proto_status_reason(r->status));
    proto_buf_append(out, "\r\nDate: ", 8);
    proto_buf_append_str(out, date);
    proto_buf_append(out, "\r\nServer: tessera\r\n", 19);
    if (r->content_type) {
        proto_buf_append(out, "Content-Type: ", 14);
        proto_buf_append_str(out, r->content_type);
        proto_buf_append(out, "\r\n", 2);
    }
    proto_buf_append(out, "Content-Length: ", 16);
    proto_buf_append_uint(out, r->body.len);
    if (close)
        proto_buf_append(out, "\r\nConnection: close", 19);
    proto_buf_append(out, "\r\n", 2);
    proto_buf_append(out, r->headers.data, r->headers.len);
    proto_buf_append(out, "\r\n", 2);
    if (!head)
        return proto_buf_append(out, r->body.data, r->body.len);
    return 0;
}
