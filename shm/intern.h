/*
 * Interned strings: scopes and audiences are stored once and referred to by a 32-bit id,
 * so a token entry carries two ids instead of free text.  Append-only: an id stays valid
 * for the region's life (the set of distinct scope strings is small and bounded by
 * configuration).  Two processes interning the same string at once may get two ids for
 * it; both resolve to the same text.
 */
#ifndef SHM_INTERN_H
#define SHM_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "shm/region.h"

#define SHM_INTERN_WORDS 40
#define SHM_INTERN_MAX_LEN ((SHM_INTERN_WORDS - 5) * 8) /* 280 bytes */

/* Returns the id (>= 1) of s, interning it if needed; 0 for the empty string;
 * -E2BIG (too long) or -ENOSPC (full). */
int64_t shm_intern_put(struct shm_region *r, const char *s, size_t len, struct shm_owner who);
/* Copies the text of id into buf (NUL-terminated); returns its length, or -ENOENT. */
int shm_intern_get(const struct shm_region *r, uint32_t id, char *buf, size_t cap);

#endif
