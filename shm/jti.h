/*
 * The DPoP proof replay cache: a proof's jti (hashed with the key thumbprint) is accepted
 * once until its expiry.  Insert-if-absent is atomic across every worker: of two requests
 * presenting the same proof at the same moment, at most one is accepted.
 */
#ifndef SHM_JTI_H
#define SHM_JTI_H

#include <stdint.h>

#include "shm/region.h"

/* Remembers hash until exp.  0 (first use), -EEXIST (replayed), -ENOSPC (full even after
 * dropping expired entries). */
int shm_jti_remember(struct shm_region *r, const uint8_t hash[32], int64_t exp, int64_t now,
                     struct shm_owner who);
/* Forgets entries expired before now; returns how many. */
int64_t shm_jti_sweep(struct shm_region *r, int64_t now, struct shm_owner who);

#endif
