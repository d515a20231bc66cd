/*
 * The signing-key table (see keys.h).  Slot state word: 63..62 FREE/BUSY/LIVE, 31..0 a
 * sequence that moves on every change of state, so a reader that copied a record while
 * its slot was freed or reused notices and retries.  A live record's bytes never change;
 * only its retired_at, a word of its own, does.  Writers hold the one writer lock, so
 * slots are claimed without CAS; the master releases the lock of a writer that died.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "shm/keys.h"

#define KS_FREE 0ULL
#define KS_BUSY 1ULL
#define KS_LIVE 2ULL
#define KS_STATE(m) ((m) >> 62)
#define KS_NEXT(m, st) ((st) << 62 | (((m) + 1) & 0xffffffffULL))
#define READ_RETRIES 1000

static uint64_t keys_owner_bits(struct shm_owner who)
{
    return (uint64_t)who.generation << 32 | (uint64_t)(who.slot & 0xff) << 1 | 1;
}

size_t shm_keys_size(void)
{
    return sizeof(struct shm_keys);
}

void shm_keys_init(struct shm_keys *k)
{
    atomic_store_explicit(&k->version, 0, memory_order_relaxed);
    atomic_store_explicit(&k->lock, 0, memory_order_relaxed);
    atomic_store_explicit(&k->serial, 1, memory_order_relaxed);
}

uint64_t shm_keys_version(const struct shm_region *r)
{
    return atomic_load_explicit(&r->keys->version, memory_order_acquire);
}

uint64_t shm_keys_next_serial(struct shm_region *r)
{
    return atomic_fetch_add_explicit(&r->keys->serial, 1, memory_order_relaxed);
}

int shm_keys_read(const struct shm_region *r, unsigned slot, struct shm_key *out)
{
    struct shm_key_slot *s;
    uint64_t words[SHM_KEY_WORDS];

    if (slot >= SHM_KEYS_MAX)
        return -ENOENT;
    s = &r->keys->slots[slot];
    for (int tries = 0; tries < READ_RETRIES; tries++) {
        uint64_t m1 = atomic_load_explicit(&s->state, memory_order_acquire), m2;
        int64_t retired;

        if (KS_STATE(m1) != KS_LIVE)
            return -ENOENT;
        for (size_t i = 0; i < SHM_KEY_WORDS; i++)
            words[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
        retired = atomic_load_explicit(&s->retired_at, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        m2 = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (m1 == m2) {
            memcpy(out, words, sizeof(*out));
            out->retired_at = retired;
            return 0;
        }
    }
    return -ENOENT;
}

int shm_keys_lock(struct shm_region *r, struct shm_owner who)
{
    uint64_t expect = 0;

    if (!atomic_compare_exchange_strong_explicit(&r->keys->lock, &expect, keys_owner_bits(who),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return -EBUSY;
    return 0;
}

void shm_keys_unlock(struct shm_region *r)
{
    atomic_fetch_add_explicit(&r->keys->version, 1, memory_order_acq_rel);
    atomic_store_explicit(&r->keys->lock, 0, memory_order_release);
}

/* Keeps the serial counter past every serial a key was added with (keys loaded at start). */
static void keys_serial_past(struct shm_keys *k, uint64_t serial)
{
    uint64_t cur = atomic_load_explicit(&k->serial, memory_order_relaxed);

    while (cur <= serial &&
           !atomic_compare_exchange_weak_explicit(&k->serial, &cur, serial + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

int shm_keys_add(struct shm_region *r, const struct shm_key *k)
{
    uint64_t words[SHM_KEY_WORDS] = {0};

    for (unsigned slot = 0; slot < SHM_KEYS_MAX; slot++) {
        struct shm_key_slot *s = &r->keys->slots[slot];
        uint64_t m = atomic_load_explicit(&s->state, memory_order_relaxed);

        if (KS_STATE(m) != KS_FREE)
            continue;
        memcpy(words, k, sizeof(*k));
        atomic_store_explicit(&s->state, KS_NEXT(m, KS_BUSY), memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        for (size_t i = 0; i < SHM_KEY_WORDS; i++)
            atomic_store_explicit(&s->words[i], words[i], memory_order_relaxed);
        atomic_store_explicit(&s->retired_at, k->retired_at, memory_order_relaxed);
        atomic_store_explicit(&s->state, KS_NEXT(m + 1, KS_LIVE), memory_order_release);
        keys_serial_past(r->keys, k->serial);
        return (int)slot;
    }
    return -ENOSPC;
}

void shm_keys_retire(struct shm_region *r, unsigned slot, int64_t at)
{
    if (slot < SHM_KEYS_MAX)
        atomic_store_explicit(&r->keys->slots[slot].retired_at, at, memory_order_release);
}

void shm_keys_free(struct shm_region *r, unsigned slot)
{
    struct shm_key_slot *s;
    uint64_t m;

    if (slot >= SHM_KEYS_MAX)
        return;
    s = &r->keys->slots[slot];
    m = atomic_load_explicit(&s->state, memory_order_relaxed);
    atomic_store_explicit(&s->state, KS_NEXT(m, KS_FREE), memory_order_release);
}

uint64_t shm_keys_reclaim(struct shm_region *r, struct shm_owner dead)
{
    uint64_t owner = keys_owner_bits(dead);

    if (atomic_load_explicit(&r->keys->lock, memory_order_acquire) != owner)
        return 0;
    /* Only the lock holder claims slots: a BUSY slot is one it never finished. */
    for (unsigned slot = 0; slot < SHM_KEYS_MAX; slot++) {
        struct shm_key_slot *s = &r->keys->slots[slot];
        uint64_t m = atomic_load_explicit(&s->state, memory_order_relaxed);

        if (KS_STATE(m) == KS_BUSY)
            atomic_store_explicit(&s->state, KS_NEXT(m, KS_FREE), memory_order_release);
    }
    shm_keys_unlock(r);
    return 1;
}
