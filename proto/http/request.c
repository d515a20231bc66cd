/*
 * What handlers read from a parsed request (see http.h): header values, by name in any
 * case, the first of a repeated header or only a header that occurs once; the media type
 * a body declares; and the credentials of an Authorization scheme.  Pure: spans into the
 * request's own bytes, nothing copied.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/http/http.h"

bool proto_span_eq(const struct proto_request *r, struct proto_span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && memcmp(r->base + s.off, lit, n) == 0;
}

bool proto_request_media_type_is(const struct proto_request *r, const char *type)
{
    size_t n = strlen(type), i;
    struct proto_span v;
    const char *p;

    /* RFC 9110 §5.3: a field defined to occur once must not be repeated; one reader would
     * take the first Content-Type and another the last. */
    if (!proto_request_single_header(r, "content-type", &v))
        return false;
    p = proto_span_ptr(r, v);
    i = 0;
    while (i < v.len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (v.len - i < n || strncasecmp(p + i, type, n) != 0)
        return false;
    /* media-type = type "/" subtype parameters; parameters = *( OWS ";" OWS [ parameter ] ) */
    for (i += n; i < v.len && (p[i] == ' ' || p[i] == '\t'); i++)
        ;
    return i == v.len || p[i] == ';';
}

/* The index of the first header called name (n bytes, any case) from index `from` on, or
 * -ENOENT. */
static int64_t http_header_index(const struct proto_request *r, const char *name, size_t n,
                                 uint32_t from)
{
    for (uint32_t i = from; i < r->nheaders; i++) {
        const struct proto_header *hd = &r->headers[i];

        if (hd->name.len == n && strncasecmp(r->base + hd->name.off, name, n) == 0)
            return i;
    }
    return -ENOENT;
}

bool proto_request_header(const struct proto_request *r, const char *name, struct proto_span *v)
{
    int64_t i = http_header_index(r, name, strlen(name), 0);

    *v = i < 0 ? (struct proto_span){0, 0} : r->headers[i].value;
    return i >= 0;
}

bool proto_request_single_header(const struct proto_request *r, const char *name,
                                 struct proto_span *v)
{
    size_t n = strlen(name);
    int64_t i = http_header_index(r, name, n, 0);

    if (i < 0 || http_header_index(r, name, n, (uint32_t)i + 1) >= 0)
        return false;
    *v = r->headers[i].value;
    return true;
}

const char *proto_request_credentials(const struct proto_request *r, const char *scheme,
                                      size_t *len)
{
    size_t n = strlen(scheme), skip = n + 1;
    struct proto_span v;
    const char *p;

    if (!proto_request_header(r, "authorization", &v))
        return NULL;
    p = proto_span_ptr(r, v);
    if (v.len <= skip || strncasecmp(p, scheme, n) != 0 || p[n] != ' ')
        return NULL;
    while (skip < v.len && p[skip] == ' ')
        skip++;
    *len = v.len - skip;
    while (*len && p[skip + *len - 1] == ' ')
        (*len)--;
    return *len ? p + skip : NULL;
}
