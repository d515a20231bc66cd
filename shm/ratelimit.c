/*
 * Failed-authentication counters (see ratelimit.h).  Lock-free: each bucket is updated
 * with a CAS that restarts its count when the minute changed.
 */
#include "autoconfig.h"

#include <string.h>

#include "shm/ratelimit.h"

static _Atomic uint64_t *rl_bucket(const struct shm_region *r, const uint8_t key[32], int row)
{
    uint32_t h;

    memcpy(&h, key + 4 * row, sizeof(h));
    return &r->ratelimit->bucket[row][h % SHM_RATELIMIT_BUCKETS];
}

static uint32_t rl_bump(_Atomic uint64_t *b, uint32_t minute)
{
    uint64_t v = atomic_load_explicit(b, memory_order_relaxed), n;

    do {
        uint32_t count = (uint32_t)(v >> 32) == minute ? (uint32_t)v : 0;

        if (count == UINT32_MAX)
            return count;
        n = (uint64_t)minute << 32 | (count + 1);
    } while (!atomic_compare_exchange_weak_explicit(b, &v, n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return (uint32_t)n;
}

static uint32_t rl_read(const _Atomic uint64_t *b, uint32_t minute)
{
    uint64_t v = atomic_load_explicit(b, memory_order_relaxed);

    return (uint32_t)(v >> 32) == minute ? (uint32_t)v : 0;
}

uint32_t shm_ratelimit_hit(struct shm_region *r, const uint8_t key[32], uint32_t minute)
{
    uint32_t a = rl_bump(rl_bucket(r, key, 0), minute);
    uint32_t b = rl_bump(rl_bucket(r, key, 1), minute);

    return a < b ? a : b;
}

uint32_t shm_ratelimit_count(const struct shm_region *r, const uint8_t key[32], uint32_t minute)
{
    uint32_t a = rl_read(rl_bucket(r, key, 0), minute);
    uint32_t b = rl_read(rl_bucket(r, key, 1), minute);

    return a < b ? a : b;
}
