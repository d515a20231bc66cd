/*
 * Scope lists as RFC 6749 §3.3 writes them: tokens of %x21 / %x23-5B / %x5D-7E, one
 * space between two.  Audience lists share the form (any visible ASCII in a token), so
 * the list functions serve them too.  A granted scope's canonical form and its bits over
 * a client's list are shm/scope.c's.  Pure text functions.
 */
#ifndef PROTO_SCOPE_H
#define PROTO_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/buf.h"

#define PROTO_SCOPE_MAX 280 /* the interned string limit */

/* True when c may appear in a scope token. */
bool proto_scope_char_ok(unsigned char c);
/* True when the token tok (tlen bytes, not empty) is in the space-delimited list set. */
bool proto_scope_has(const char *set, size_t slen, const char *tok, size_t tlen);
/* True when every token of `want` is in `have`. */
bool proto_scope_subset(const char *want, size_t wlen, const char *have, size_t hlen);
/* Copies s into out (cap bytes) with single spaces, each token once, in the order given.
 * The length, -EINVAL for a character RFC 6749 §3.3 forbids, or -ENOSPC when it does not
 * fit.  Called by the token endpoint on the scope a client asks for. */
int proto_scope_normalize(const char *s, size_t len, char *out, size_t cap);
/* Appends ,"name":["a","b"] from the space-delimited list text.  0 or -ENOMEM.  Called for
 * the metadata's scopes_supported and a client's lists in the admin API. */
int proto_scope_list_json(struct proto_buf *b, const char *name, const char *text);

#endif
