/*
 * Scope lists (see scope.h).  Pure: lists are short (280 bytes at most), so a token is
 * looked up by scanning the list rather than hashing it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto/jsonw.h"
#include "proto/oauth/scope.h"

/* A walk over the tokens of a space-delimited list. */
struct scope_iter {
    const char *s;
    size_t len, at;
};

/* The next token, skipping empty ones (two spaces in a row): false at the end. */
static bool scope_next(struct scope_iter *it, const char **tok, size_t *tlen)
{
    while (it->at < it->len) {
        const char *sp = memchr(it->s + it->at, ' ', it->len - it->at);
        size_t end = sp ? (size_t)(sp - it->s) : it->len;

        *tok = it->s + it->at;
        *tlen = end - it->at;
        it->at = end + 1;
        if (*tlen)
            return true;
    }
    return false;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
bool proto_scope_char_ok(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

bool proto_scope_has(const char *set, size_t slen, const char *tok, size_t tlen)
{
    struct scope_iter it = {set, slen, 0};
    const char *t;
    size_t n;

    while (scope_next(&it, &t, &n))
        if (n == tlen && memcmp(t, tok, tlen) == 0)
            return true;
    return false;
}

bool proto_scope_subset(const char *want, size_t wlen, const char *have, size_t hlen)
{
    struct scope_iter it = {want, wlen, 0};
    const char *t;
    size_t n;

    while (scope_next(&it, &t, &n))
        if (!proto_scope_has(have, hlen, t, n))
            return false;
    return true;
}

int proto_scope_normalize(const char *s, size_t len, char *out, size_t cap)
{
    struct scope_iter it = {s, len, 0};
    const char *t;
    size_t n, o = 0;

    while (scope_next(&it, &t, &n)) {
        for (size_t k = 0; k < n; k++)
            if (!proto_scope_char_ok((unsigned char)t[k]))
                return -EINVAL;
        if (proto_scope_has(out, o, t, n))
            continue;
        if (o + (o ? 1 : 0) + n >= cap)
            return -ENOSPC;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, t, n);
        o += n;
    }
    out[o] = '\0';
    return (int)o;
}

int proto_scope_list_json(struct proto_buf *b, const char *name, const char *text)
{
    struct scope_iter it = {text, strlen(text), 0};
    const char *t;
    size_t n;
    int rc = proto_jsonw_kv_raw(b, name, "[");

    while (rc == 0 && scope_next(&it, &t, &n)) {
        if (b->data[b->len - 1] != '[')
            rc = proto_buf_append(b, ",", 1);
        if (rc == 0)
            rc = proto_jsonw_str(b, t, n);
    }
    if (rc == 0)
        rc = proto_buf_append(b, "]", 1);
    return rc < 0 ? -ENOMEM : 0;
}
