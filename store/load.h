/*
 * Recovery's last step: what Berkeley DB holds (clients, live sessions) loaded into the
 * shared tables before any worker starts, so a restart loses nothing that was
 * acknowledged.  Run by the store process, once, on a fresh region.
 */
#ifndef STORE_LOAD_H
#define STORE_LOAD_H

#include <stdint.h>

#include "shm/region.h"
#include "store/applier.h"

struct store_load {
    struct shm_region *region;
    struct shm_owner who;
    uint64_t clients;  /* loaded */
    uint64_t sessions; /* live tokens loaded */
    uint64_t dead;     /* revoked or dead JWTs and revocations loaded as revoked entries */
    uint64_t skipped;  /* dead opaque tokens: unknown is as good as revoked for them */
    uint64_t unscoped; /* live tokens loaded revoked: their scope or audience did not fit
                        * the interned table (its size was lowered since they were issued) */
    char err[256];     /* why a callback stopped recovery */
};

/* Fills ops (client and session callbacks; ops->stats, warn, now untouched) to load into
 * l->region.  A full table stops recovery with l->err naming the setting to raise. */
void store_load_ops(struct store_recover_ops *ops, struct store_load *l);

#endif
