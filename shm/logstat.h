/*
 * Durability counters in shared memory: per log writer slot, the highest sequence number
 * its writer has made durable (synced) and the highest the store process has applied to
 * Berkeley DB.  The store applies nothing above `synced`: a record a writer wrote but could
 * not sync may vanish in a power cut, and its sequence number be handed out again.  The
 * difference is the store's apply lag.
 */
#ifndef SHM_LOGSTAT_H
#define SHM_LOGSTAT_H

#include <stdatomic.h>
#include <stdint.h>

#define SHM_LOG_WRITERS 256 /* writer slots: workers 0.., the master 255 */

struct shm_logstat {
    _Atomic uint64_t synced[SHM_LOG_WRITERS];
    _Atomic uint64_t applied[SHM_LOG_WRITERS];
    _Atomic uint64_t store_pid;    /* the store process now (0: none) */
    _Atomic uint64_t store_passes; /* apply passes done, to wait for one in tests */
};

static inline void shm_logstat_synced(struct shm_logstat *s, unsigned slot, uint64_t seq)
{
    atomic_store_explicit(&s->synced[slot % SHM_LOG_WRITERS], seq, memory_order_release);
}

static inline uint64_t shm_logstat_synced_seq(const struct shm_logstat *s, unsigned slot)
{
    return atomic_load_explicit(&s->synced[slot % SHM_LOG_WRITERS], memory_order_acquire);
}

#endif
