/*
 * Counters of failed client authentications per minute, shared by every worker, for the
 * token endpoint's 429: a count-min sketch of 2 x SHM_RATELIMIT_BUCKETS atomic words, each
 * (minute << 32 | count).  Keys are SHA-256 digests (proto/oauth/auth_limit.c: a client id from
 * an address, an address, a client id), so any number of keys fits in fixed memory; a
 * collision can only over-count, never under-count.
 */
#ifndef SHM_RATELIMIT_H
#define SHM_RATELIMIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/region.h"

#define SHM_RATELIMIT_BUCKETS 65536

struct shm_ratelimit {
    _Atomic uint64_t bucket[2][SHM_RATELIMIT_BUCKETS];
};

/* Counts one event for key in `minute`; returns the key's count in that minute. */
uint32_t shm_ratelimit_hit(struct shm_region *r, const uint8_t key[32], uint32_t minute);
/* The key's count in `minute`. */
uint32_t shm_ratelimit_count(const struct shm_region *r, const uint8_t key[32], uint32_t minute);

#endif
