/*
 * Flat JSON writing (see jsonw.h).  Pure.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "proto/jsonw.h"

int proto_jsonw_str(struct proto_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    if (proto_buf_reserve(b, len * 6 + 2) < 0)
        return -1;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            b->data[b->len++] = '\\';
            b->data[b->len++] = (char)c;
        } else if (c < 0x20) {
            memcpy(b->data + b->len, "\\u00", 4);
            b->data[b->len + 4] = hex[c >> 4];
            b->data[b->len + 5] = hex[c & 15];
            b->len += 6;
        } else {
            b->data[b->len++] = (char)c;
        }
    }
    b->data[b->len++] = '"';
    return 0;
}

static int jsonw_key(struct proto_buf *b, const char *name)
{
    if (b->len && b->data[b->len - 1] != '{' && b->data[b->len - 1] != '[' &&
        proto_buf_append(b, ",", 1) < 0)
        return -1;
    if (proto_jsonw_str(b, name, strlen(name)) < 0)
        return -1;
    return proto_buf_append(b, ":", 1);
}

int proto_jsonw_kv_str(struct proto_buf *b, const char *name, const char *v, size_t len)
{
    return jsonw_key(b, name) < 0 ? -1 : proto_jsonw_str(b, v, len);
}

int proto_jsonw_kv_int(struct proto_buf *b, const char *name, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);

    return jsonw_key(b, name) < 0 ? -1 : proto_buf_append(b, num, (size_t)n);
}

int proto_jsonw_kv_bool(struct proto_buf *b, const char *name, int v)
{
    return jsonw_key(b, name) < 0 ? -1 : proto_buf_append_str(b, v ? "true" : "false");
}

int proto_jsonw_kv_raw(struct proto_buf *b, const char *name, const char *raw)
{
    return jsonw_key(b, name) < 0 ? -1 : proto_buf_append_str(b, raw);
}
