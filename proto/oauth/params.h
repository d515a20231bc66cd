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

#include <jansson.h>

#include "proto/buf.h"

#define PROTO_PARAMS_MAX 32

struct proto_param {
    const char *name;
    const char *value;
    size_t len; /* of value; neither holds a NUL byte: the decoders refuse one */
};

struct proto_params {
    struct proto_param p[PROTO_PARAMS_MAX];
    size_t n;
    struct proto_buf *arena; /* reused across requests; reset by the parsers */
    const char *error;       /* why a parse failed: an ASCII sentence of ours */
};

/* The value of one hexadecimal digit, or -EINVAL. */
int proto_hex_value(char c);
/* Decodes one form-urlencoded component ('+' is a space, %XX a byte) into out (at least
 * len bytes).  Returns the decoded length, -EINVAL on a bad %-escape, or -EILSEQ when a
 * byte would decode to NUL (%00 or a raw one): every caller compares decoded text as C
 * strings, so no decoded parameter, form, query or Basic, ever holds one. */
long proto_form_decode(const char *s, size_t len, char *out);
/* Parses a form body or query string.  0, or -EINVAL with p->error. */
int proto_form_parse(const char *s, size_t len, struct proto_params *p);
/* Loads the JSON text of a request (the parameter parser's and the admin API's bodies)
 * with one set of rules: names unique, and \u0000 refused, so no decoded string holds a
 * NUL.  The root, to json_decref(), or NULL with a sentence of ours in *why (naming a
 * NUL or a repeated name) and jansson's details in *jerr. */
json_t *proto_json_load(const char *s, size_t len, const char **why, json_error_t *jerr);
/* Parses a JSON object body.  0, or -EINVAL with p->error. */
int proto_json_params_parse(const char *s, size_t len, struct proto_params *p);
/* The only value of name: NULL when absent.  A parameter sent twice is refused by
 * proto_params_check_single() before handlers look. */
const struct proto_param *proto_params_get(const struct proto_params *p, const char *name);
/* Fails (returns the name) when a parameter other than those in `repeatable` (a
 * NULL-terminated list) appears more than once (RFC 6749 §3.2); NULL when all is well. */
const char *proto_params_check_single(const struct proto_params *p, const char *const *repeatable);

#endif
