/*
 * Event counters in shared memory for /metrics: per owner (worker slot), one cache line
 * each, so counting never makes workers share a line; /metrics sums them.  Relaxed
 * atomics: a scrape may miss an event by a moment, never lose it.
 */
#ifndef SHM_STATS_H
#define SHM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "shm/table.h"

enum shm_stat {
    SHM_STAT_LIMIT_EVICT,  /* a client at max_live_tokens: its oldest token revoked */
    SHM_STAT_LIMIT_REFUSE, /* a client at max_live_tokens: the request refused (429) */
    SHM_STAT_JWT_UNKNOWN,  /* a JWT the token table does not know, refused unverified */
    SHM_STATS
};

struct shm_stats {
    struct {
        _Atomic uint64_t n[SHM_STATS];
        uint64_t pad[8 - SHM_STATS];
    } owner[SHM_TABLE_OWNERS];
};

_Static_assert(SHM_STATS <= 8, "an owner's counters fit one cache line");

static inline void shm_stats_add(struct shm_stats *s, struct shm_owner who, enum shm_stat what)
{
    atomic_fetch_add_explicit(&s->owner[who.slot % SHM_TABLE_OWNERS].n[what], 1,
                              memory_order_relaxed);
}

static inline uint64_t shm_stats_sum(const struct shm_stats *s, enum shm_stat what)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < SHM_TABLE_OWNERS; i++)
        n += atomic_load_explicit(&s->owner[i].n[what], memory_order_relaxed);
    return n;
}

#endif
