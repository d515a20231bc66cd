/*
 * DPoP jti replay cache over the shared table engine.  Entry words: 0-3 hash, 4 expiry.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "shm/jti.h"

#define JTI_WORDS 5

static int jti_expired(const struct shm_entry *e, void *arg)
{
    return (int64_t)e->words[4] < *(const int64_t *)arg;
}

int64_t shm_jti_sweep(struct shm_region *r, int64_t now, struct shm_owner who)
{
    return shm_table_iterate(r->jti, jti_expired, &now, who);
}

int shm_jti_remember(struct shm_region *r, const uint8_t hash[32], int64_t exp, int64_t now,
                     struct shm_owner who)
{
    uint64_t w[JTI_WORDS];
    struct shm_entry e;
    int64_t rc;

    memcpy(w, hash, 32);
    w[4] = (uint64_t)exp;
    /* An expired entry for this jti does not count as a replay: the proof's own iat
     * window rejects it before we get here. */
    if (shm_table_lookup(r->jti, hash, &e) == 0 && (int64_t)e.words[4] < now)
        shm_table_remove(r->jti, &e, who);
    rc = shm_table_insert_unique(r->jti, w, who);
    if (rc == -ENOSPC && shm_jti_sweep(r, now, who) > 0)
        rc = shm_table_insert_unique(r->jti, w, who);
    return rc < 0 ? (int)rc : 0;
}
