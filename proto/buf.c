/*
 * Growable byte buffers (see buf.h).  Pure: no I/O, no globals.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/buf.h"

int proto_buf_reserve(struct proto_buf *b, size_t extra)
{
    size_t need = b->len + extra, cap;
    char *p;

    if (need < b->len)
        return -ENOMEM;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM; /* doubling would wrap to 0 and loop forever */
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int proto_buf_append(struct proto_buf *b, const void *data, size_t len)
{
    int rc = proto_buf_reserve(b, len);

    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int proto_buf_append_str(struct proto_buf *b, const char *s)
{
    return proto_buf_append(b, s, strlen(s));
}

int proto_buf_append_uint(struct proto_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return proto_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void proto_buf_consume(struct proto_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
