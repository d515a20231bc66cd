/*
 * Scope sets.  RFC 6749 §3.3 makes a scope a space-delimited set whose order is not
 * significant, so a granted scope is kept as a bitmap over a *base*: an interned list of
 * scope tokens in canonical order (sorted by their bytes, each once) — the client's allowed
 * scopes at issue.  Granting any subset, asked for in any order, then interns nothing, and
 * reads back as the base's tokens in the base's order: the canonical text.
 *
 * Pure (no shared memory, no syscalls): proto/ issues and answers with it, store/ loads
 * tokens with it.  It lives in shm/ because that is the folder both may use.
 */
#ifndef SHM_SCOPE_H
#define SHM_SCOPE_H

#include <stddef.h>
#include <stdint.h>

/* A base holds at most this many tokens, and a client's allowed list can never hold more:
 * it is at most 280 bytes (SHM_INTERN_MAX_LEN) of distinct tokens of the 92 characters
 * RFC 6749 allows, single spaces between them — 92 one-byte tokens and 32 two-byte ones
 * (2·92 + 3·32 − 1 = 279 bytes) is the most, 124. */
#define SHM_SCOPE_BITS 128

struct shm_scope_bits {
    uint64_t w[SHM_SCOPE_BITS / 64];
};

/* Writes the tokens of s (len bytes, separated by one or more spaces) into out (cap
 * bytes, NUL-terminated) sorted by their bytes, each once, joined by single spaces.
 * Returns the length, or -1 when it does not fit or holds more than SHM_SCOPE_BITS
 * distinct tokens.  Characters are the caller's to check. */
int shm_scope_canon(const char *s, size_t len, char *out, size_t cap);

/* Sets in *out the bit of each token of want (space-separated) by its position in base
 * (canonical).  0; -ENOENT when a token of want is not in base; -E2BIG when base holds
 * more than SHM_SCOPE_BITS tokens. */
int shm_scope_bits_of(const char *base, size_t blen, const char *want, size_t wlen,
                      struct shm_scope_bits *out);

/* The tokens of base whose bits are set, in base's order, joined by single spaces, into
 * out (cap bytes, NUL-terminated).  Returns the length, or -1 when it does not fit. */
int shm_scope_text(const char *base, size_t blen, const struct shm_scope_bits *b, char *out,
                   size_t cap);

#endif
