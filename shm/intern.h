/*
 * Interned strings: scope lists and audiences are stored once and referred to by a 32-bit
 * id, so a token entry carries ids instead of free text.  Append-only: an id stays valid
 * for the region's life.  Two processes interning the same string at once may get two ids
 * for it; both resolve to the same text.
 *
 * What is interned is bounded by configuration, never by requests: clients' lists (and
 * their earlier versions, which tokens issued under them still name), and the audiences
 * of their allowed lists; a granted scope is a bitmap over its client's list (shm/scope.h).
 * A budget (tokens.interned_strings) caps what a running server interns, exactly; the
 * table has half as many slots again, which only recovery may use (shm_intern_restore):
 * recovery interns at most the strings the previous run held, so a restart never fails on
 * state that run accepted, and the spare slots keep the table's probe chains short.
 */
#ifndef SHM_INTERN_H
#define SHM_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "shm/region.h"

#define SHM_INTERN_WORDS 40
#define SHM_INTERN_MAX_LEN ((SHM_INTERN_WORDS - 5) * 8) /* 280 bytes */

/* The budget, in its own part of the region (one cache line). */
struct shm_intern_budget {
    _Atomic uint64_t used; /* strings interned */
    uint64_t limit;        /* tokens.interned_strings: what shm_intern_put may fill */
    uint64_t pad[6];
};

/* Slots of the interned table for a budget of `limit` strings. */
uint64_t shm_intern_capacity(uint64_t limit);
/* Returns the id (>= 1) of s, interning it if needed; 0 for the empty string; -E2BIG (too
 * long) or -ENOSPC (the budget is spent, or the table full).  Handlers and the master. */
int64_t shm_intern_put(struct shm_region *r, const char *s, size_t len, struct shm_owner who);
/* The same beyond the budget, into the spare slots: recovery only. */
int64_t shm_intern_restore(struct shm_region *r, const char *s, size_t len, struct shm_owner who);
/* Strings interned now. */
uint64_t shm_intern_used(const struct shm_region *r);
/* Copies the text of id into buf (NUL-terminated); returns its length, or -ENOENT. */
int shm_intern_get(const struct shm_region *r, uint32_t id, char *buf, size_t cap);

#endif
