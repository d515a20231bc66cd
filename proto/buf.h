/*
 * A growable byte buffer: the output of response serialisation and the scratch space
 * handlers write bodies into.  Buffers are reused across requests (len reset to 0), so
 * the steady state allocates nothing.
 */
#ifndef PROTO_BUF_H
#define PROTO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct proto_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Makes room for at least `extra` more bytes; 0 or -ENOMEM. */
int proto_buf_reserve(struct proto_buf *b, size_t extra);
int proto_buf_append(struct proto_buf *b, const void *data, size_t len);
int proto_buf_append_str(struct proto_buf *b, const char *s);
int proto_buf_append_uint(struct proto_buf *b, uint64_t v);
/* Drops the first n bytes, keeping the rest. */
void proto_buf_consume(struct proto_buf *b, size_t n);
void proto_buf_free(struct proto_buf *b);

static inline void proto_buf_reset(struct proto_buf *b)
{
    b->len = 0;
}

#endif
