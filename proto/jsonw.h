/*
 * Writing JSON into a proto_buf without building a tree: the hot responses (token,
 * validate, introspect) are flat objects, and escaping by hand costs less than jansson's
 * allocations.
 */
#ifndef PROTO_JSONW_H
#define PROTO_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"

/* Appends s as a JSON string literal (quotes included), escaping as RFC 8259 requires. */
int proto_jsonw_str(struct proto_buf *b, const char *s, size_t len);
/* Appends ,"name":"value" (or without the comma when b ends in '{'). */
int proto_jsonw_kv_str(struct proto_buf *b, const char *name, const char *v, size_t len);
int proto_jsonw_kv_int(struct proto_buf *b, const char *name, int64_t v);
int proto_jsonw_kv_bool(struct proto_buf *b, const char *name, int v);
/* Appends ,"name": and the raw JSON text raw. */
int proto_jsonw_kv_raw(struct proto_buf *b, const char *name, const char *raw);

#endif
