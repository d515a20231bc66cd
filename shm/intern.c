/*
 * Interned strings over the shared table engine.  Entry words: 0-3 SHA-256 of the text,
 * 4 its length, 5.. the text.  The id is the slot index plus one.  The budget counts a
 * string from just before its insert (so racing inserts cannot overshoot it) until a
 * withdrawn duplicate gives its place back.  (A process killed between the two keeps one
 * string counted: the budget errs on the side of the table.)
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shm/hash.h"

#include "shm/intern.h"

uint64_t shm_intern_capacity(uint64_t limit)
{
    return limit + limit / 2;
}

/* Takes one string of the budget: false when it is spent (recovery: never). */
static bool intern_reserve(struct shm_region *r, bool budgeted)
{
    struct shm_intern_budget *b = r->intern_budget;

    if (atomic_fetch_add_explicit(&b->used, 1, memory_order_relaxed) < b->limit || !budgeted)
        return true;
    atomic_fetch_sub_explicit(&b->used, 1, memory_order_relaxed);
    return false;
}

static int64_t intern_put(struct shm_region *r, const char *s, size_t len, struct shm_owner who,
                          bool budgeted)
{
    uint64_t w[SHM_INTERN_WORDS] = {0};
    struct shm_entry e;

    if (len == 0)
        return 0;
    if (len > SHM_INTERN_MAX_LEN)
        return -E2BIG;
    shm_sha256(s, len, (uint8_t *)w);
    w[4] = len;
    memcpy(&w[5], s, len);
    for (int tries = 0; tries < 8; tries++) {
        int64_t slot;

        if (shm_table_lookup(r->intern, (const uint8_t *)w, &e) == 0)
            return (int64_t)e.slot + 1;
        if (!intern_reserve(r, budgeted))
            return -ENOSPC;
        slot = shm_table_insert_unique(r->intern, w, who);
        if (slot >= 0)
            return slot + 1;
        atomic_fetch_sub_explicit(&r->intern_budget->used, 1, memory_order_relaxed);
        if (slot != -EEXIST)
            return slot;
    }
    return -EAGAIN;
}

int64_t shm_intern_put(struct shm_region *r, const char *s, size_t len, struct shm_owner who)
{
    return intern_put(r, s, len, who, true);
}

int64_t shm_intern_restore(struct shm_region *r, const char *s, size_t len, struct shm_owner who)
{
    return intern_put(r, s, len, who, false);
}

uint64_t shm_intern_used(const struct shm_region *r)
{
    return atomic_load_explicit(&r->intern_budget->used, memory_order_relaxed);
}

int shm_intern_get(const struct shm_region *r, uint32_t id, char *buf, size_t cap)
{
    const struct shm_table *t = r->intern;
    struct shm_entry e;
    uint64_t len;

    if (id == 0) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    if (id > shm_table_capacity(t) || shm_table_read(t, id - 1, &e) < 0)
        return -ENOENT;
    len = e.words[4];
    if (len > SHM_INTERN_MAX_LEN || len >= cap)
        return -ENOENT;
    memcpy(buf, &e.words[5], len);
    buf[len] = '\0';
    return (int)len;
}
