/*
 * Scope sets as bitmaps over a canonical base (see scope.h).  Lists are short (a base is
 * at most 280 bytes), so tokens are found by a linear walk and sorted by insertion: no
 * allocation, no qsort context.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shm/scope.h"

/* More than a 280-byte list can hold (140 one-byte tokens), so a list over the limit is
 * refused rather than cut. */
#define SCOPE_MAX_TOKENS 160

struct scope_tok {
    const char *p;
    size_t n;
};

/* The next token of s[*i..len): true with *tok, or false at the end. */
static bool scope_next(const char *s, size_t len, size_t *i, struct scope_tok *tok)
{
    while (*i < len && s[*i] == ' ')
        (*i)++;
    if (*i >= len)
        return false;
    tok->p = s + *i;
    while (*i < len && s[*i] != ' ')
        (*i)++;
    tok->n = (size_t)(s + *i - tok->p);
    return true;
}

static int scope_cmp(const struct scope_tok *a, const struct scope_tok *b)
{
    int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);

    return c ? c : (a->n > b->n) - (a->n < b->n);
}

int shm_scope_canon(const char *s, size_t len, char *out, size_t cap)
{
    struct scope_tok t[SCOPE_MAX_TOKENS], cur;
    size_t n = 0, i = 0, o = 0;

    while (scope_next(s, len, &i, &cur)) {
        size_t k = n;

        while (k > 0 && scope_cmp(&t[k - 1], &cur) > 0)
            k--;
        if (k > 0 && scope_cmp(&t[k - 1], &cur) == 0)
            continue; /* a duplicate */
        if (n == SCOPE_MAX_TOKENS)
            return -1;
        memmove(&t[k + 1], &t[k], (n - k) * sizeof(t[0]));
        t[k] = cur;
        n++;
    }
    if (n > SHM_SCOPE_BITS || cap == 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (o + (o ? 1 : 0) + t[k].n >= cap)
            return -1;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, t[k].p, t[k].n);
        o += t[k].n;
    }
    out[o] = '\0';
    return (int)o;
}

/* The position of tok in base, -ENOENT, or -E2BIG (past SHM_SCOPE_BITS). */
static int scope_index(const char *base, size_t blen, const struct scope_tok *tok)
{
    struct scope_tok b;
    size_t i = 0;
    int k = 0;

    while (scope_next(base, blen, &i, &b)) {
        if (b.n == tok->n && memcmp(b.p, tok->p, b.n) == 0)
            return k < SHM_SCOPE_BITS ? k : -E2BIG;
        k++;
    }
    return -ENOENT;
}

int shm_scope_bits_of(const char *base, size_t blen, const char *want, size_t wlen,
                      struct shm_scope_bits *out)
{
    struct scope_tok tok;
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    while (scope_next(want, wlen, &i, &tok)) {
        int k = scope_index(base, blen, &tok);

        if (k < 0)
            return k;
        out->w[k / 64] |= UINT64_C(1) << (k % 64);
    }
    return 0;
}

int shm_scope_text(const char *base, size_t blen, const struct shm_scope_bits *b, char *out,
                   size_t cap)
{
    struct scope_tok tok;
    size_t i = 0, o = 0;
    int k = 0;

    if (cap == 0)
        return -1;
    while (k < SHM_SCOPE_BITS && scope_next(base, blen, &i, &tok)) {
        if (b->w[k / 64] >> (k % 64) & 1) {
            if (o + (o ? 1 : 0) + tok.n >= cap)
                return -1;
            if (o)
                out[o++] = ' ';
            memcpy(out + o, tok.p, tok.n);
            o += tok.n;
        }
        k++;
    }
    out[o] = '\0';
    return (int)o;
}
