/*
 * Request parameters of the OAuth endpoints, decoded from an
 * application/x-www-form-urlencoded body (RFC 6749 appendix B), a JSON body (Aidbox
 * style: the same names with string values, `scope` also as an array), or a query string.
 * Values are decoded into one arena owned by the caller and NUL-terminated.
 */
#ifndef PROTO_PARAMS_H
#define PROTO_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/buf.h"

#define PROTO_PARAMS_MAX 32

struct proto_param {
    const char *name;
    const char *value;
    size_t len; /* of value; values may hold NUL bytes (%00), names may not */
};

struct proto_params {
    struct proto_param p[PROTO_PARAMS_MAX];
    size_t n;
    struct proto_buf *arena; /* reused across requests; reset by the parsers */
    const char *error;       /* why a parse failed: an ASCII sentence of ours */
};

/* The value of one hexadecimal digit, or -1. */
int proto_hex_value(char c);
/* Decodes one form-urlencoded component ('+' is a space, %XX a byte) into out (at least
 * len bytes).  Returns the decoded length, or -EINVAL on a bad %-escape. */
long proto_form_decode(const char *s, size_t len, char *out);
/* Parses a form body or query string.  0, or -EINVAL with p->error. */
int proto_form_parse(const char *s, size_t len, struct proto_params *p);
/* Parses a JSON object body.  0, or -EINVAL with p->error. */
int proto_json_params_parse(const char *s, size_t len, struct proto_params *p);
/* The only value of name: NULL when absent.  A parameter sent twice is refused by
 * proto_params_check_single() before handlers look. */
const struct proto_param *proto_params_get(const struct proto_params *p, const char *name);
/* Fails (returns the name) when a parameter other than those in `repeatable` (a
 * NULL-terminated list) appears more than once (RFC 6749 §3.2); NULL when all is well. */
const char *proto_params_check_single(const struct proto_params *p, const char *const *repeatable);

#endif
