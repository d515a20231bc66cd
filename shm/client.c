/*
 * The client table (see client.h).  Slot state word: 63..62 FREE/NEW/LIVE, 61 writer
 * lock, 60..32 the lock owner, 31..0 sequence.  A record copy is written under its own
 * odd/even sequence so a reader racing with a second writer notices and retries.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "shm/hash.h"

#include "shm/client.h"

#define CS_FREE 0ULL
#define CS_NEW 1ULL
#define CS_LIVE 2ULL
#define CS_STATE(m) ((m) >> 62)
#define CS_LOCK (1ULL << 61)
#define CS_OWNER_MASK (((1ULL << 29) - 1) << 32)
#define CS_SEQ(m) (((m) + 1) & 0xffffffffULL)
#define READ_RETRIES 1000

static uint64_t client_owner_bits(struct shm_owner who)
{
    return ((uint64_t)(who.slot & 0xff) << 53) | ((uint64_t)(who.generation & 0x1fffff) << 32);
}

static struct shm_client_slot *client_slot(const struct shm_region *r, uint64_t slot)
{
    return &r->clients->slots[slot];
}

size_t shm_clients_size(uint64_t capacity)
{
    return sizeof(struct shm_clients) + capacity * sizeof(struct shm_client_slot);
}

void shm_clients_init(struct shm_clients *c, uint64_t capacity)
{
    c->capacity = capacity;
    atomic_store_explicit(&c->hint, 0, memory_order_relaxed);
}

static void client_key(const char *id, size_t len, uint64_t key[4])
{
    shm_sha256(id, len, (uint8_t *)key);
}

/* Takes the writer lock of a slot in state `want`; returns the locked state word or 0. */
/* Records which slot `who` is about to lock, before the CAS (see struct shm_clients). */
static void client_intent(struct shm_region *r, struct shm_client_slot *s, struct shm_owner who)
{
    atomic_store_explicit(&r->clients->locking[who.slot % SHM_TABLE_OWNERS],
                          (uint64_t)(s - r->clients->slots) + 1, memory_order_relaxed);
}

static uint64_t client_lock(struct shm_region *r, struct shm_client_slot *s, uint64_t want,
                            struct shm_owner who)
{
    uint64_t m = atomic_load_explicit(&s->state, memory_order_acquire);

    if (CS_STATE(m) != want || (m & CS_LOCK))
        return 0;
    uint64_t n =
        (m & ~(CS_OWNER_MASK | 0xffffffffULL)) | CS_LOCK | client_owner_bits(who) | CS_SEQ(m);
    client_intent(r, s, who);
    if (!atomic_compare_exchange_strong_explicit(&s->state, &m, n, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    return n;
}

static void client_unlock(struct shm_client_slot *s, uint64_t locked, uint64_t state)
{
    atomic_store_explicit(&s->state, (state << 62) | CS_SEQ(locked), memory_order_release);
}

/* Writes c into the spare copy and publishes it. */
static void client_publish(struct shm_client_slot *s, const struct shm_client *c)
{
    uint64_t cur = atomic_load_explicit(&s->current, memory_order_relaxed);
    unsigned spare = (unsigned)((cur & 3) + 1) % SHM_CLIENT_COPIES;
    uint64_t words[SHM_CLIENT_WORDS] = {0};
    uint64_t seq = atomic_load_explicit(&s->seq[spare], memory_order_relaxed);

    memcpy(words, c, sizeof(*c));
    atomic_store_explicit(&s->seq[spare], seq | 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < SHM_CLIENT_WORDS; i++)
        atomic_store_explicit(&s->copy[spare][i], words[i], memory_order_relaxed);
    atomic_store_explicit(&s->seq[spare], (seq | 1) + 1, memory_order_release);
    atomic_store_explicit(&s->current, ((cur >> 2) + 1) << 2 | spare, memory_order_release);
}

/* Copies the published record of s, whatever the slot's state.  0 or -EAGAIN. */
static int client_copy(struct shm_client_slot *s, struct shm_client *out)
{
    uint64_t words[SHM_CLIENT_WORDS];

    for (int tries = 0; tries < READ_RETRIES; tries++) {
        unsigned idx = (unsigned)(atomic_load_explicit(&s->current, memory_order_acquire) & 3);
        uint64_t s1 = atomic_load_explicit(&s->seq[idx], memory_order_acquire), s2;

        if (s1 & 1)
            continue;
        for (size_t i = 0; i < SHM_CLIENT_WORDS; i++)
            words[i] = atomic_load_explicit(&s->copy[idx][i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&s->seq[idx], memory_order_relaxed);
        if (s1 == s2) {
            memcpy(out, words, sizeof(*out));
            return 0;
        }
    }
    return -EAGAIN;
}

int shm_client_read(const struct shm_region *r, uint64_t slot, struct shm_client *out,
                    uint32_t *gen)
{
    struct shm_client_slot *s;

    if (slot >= r->clients->capacity)
        return -ENOENT;
    s = client_slot(r, slot);
    if (CS_STATE(atomic_load_explicit(&s->state, memory_order_acquire)) != CS_LIVE ||
        client_copy(s, out) < 0)
        return -ENOENT;
    if (gen)
        *gen = (uint32_t)atomic_load_explicit(&s->generation, memory_order_acquire);
    /* Deleted while we copied: the caller must not see it. */
    if (CS_STATE(atomic_load_explicit(&s->state, memory_order_acquire)) != CS_LIVE)
        return -ENOENT;
    return 0;
}

uint32_t shm_client_generation(const struct shm_region *r, uint64_t slot)
{
    if (slot >= r->clients->capacity)
        return UINT32_MAX;
    if (CS_STATE(atomic_load_explicit(&client_slot(r, slot)->state, memory_order_acquire)) !=
        CS_LIVE)
        return UINT32_MAX - 1; /* deleted: the generation moved on */
    return (uint32_t)atomic_load_explicit(&client_slot(r, slot)->generation, memory_order_acquire);
}

/* Finds a free slot and claims it as NEW, locked by who. */
static int64_t client_alloc(struct shm_region *r, struct shm_owner who, uint64_t *locked)
{
    uint64_t cap = r->clients->capacity;
    uint64_t start = atomic_load_explicit(&r->clients->hint, memory_order_relaxed) % cap;

    for (uint64_t i = 0; i < cap; i++) {
        uint64_t slot = (start + i) % cap;
        struct shm_client_slot *s = client_slot(r, slot);
        uint64_t m = atomic_load_explicit(&s->state, memory_order_relaxed);
        uint64_t n = (CS_NEW << 62) | CS_LOCK | client_owner_bits(who) | CS_SEQ(m);

        if (m != (CS_FREE << 62 | (m & 0xffffffffULL)))
            continue;
        client_intent(r, s, who);
        if (atomic_compare_exchange_strong_explicit(&s->state, &m, n, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&r->clients->hint, slot + 1, memory_order_relaxed);
            *locked = n;
            return (int64_t)slot;
        }
    }
    return -ENOSPC;
}

/* The next value of the change clock. */
static uint64_t client_tick(struct shm_region *r)
{
    return atomic_fetch_add_explicit(&r->clients->clock, 1, memory_order_acq_rel) + 1;
}

void shm_clients_clock_raise(struct shm_region *r, uint64_t at_least)
{
    uint64_t cur = atomic_load_explicit(&r->clients->clock, memory_order_relaxed);

    while (cur < at_least &&
           !atomic_compare_exchange_weak_explicit(&r->clients->clock, &cur, at_least,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
}

/* Creates c with generation gen, or with the next clock value when gen is 0. */
static int64_t client_create(struct shm_region *r, const struct shm_client *c, uint64_t gen,
                             struct shm_owner who, uint64_t *version)
{
    uint64_t words[SHM_CLIENT_INDEX_WORDS], locked;
    struct shm_client_slot *s;
    int64_t slot = client_alloc(r, who, &locked), rc;

    if (slot < 0)
        return slot;
    s = client_slot(r, (uint64_t)slot);
    /* Taken under the slot's lock, so the order of versions is the order of changes.  A
     * clock value is above every generation a reused slot had: its old tokens stay dead. */
    if (gen == 0)
        gen = client_tick(r);
    if (version)
        *version = gen;
    atomic_store_explicit(&s->generation, gen, memory_order_release);
    client_publish(s, c);
    client_key(c->id, strnlen(c->id, sizeof(c->id)), words);
    words[4] = (uint64_t)slot;
    rc = shm_table_insert_unique(r->client_index, words, who);
    if (rc < 0) {
        client_unlock(s, locked, CS_FREE);
        return rc;
    }
    client_unlock(s, locked, CS_LIVE);
    return slot;
}

int64_t shm_client_create(struct shm_region *r, const struct shm_client *c, struct shm_owner who,
                          uint64_t *version)
{
    return client_create(r, c, 0, who, version);
}

int64_t shm_client_restore(struct shm_region *r, const struct shm_client *c, uint32_t generation,
                           struct shm_owner who)
{
    shm_clients_clock_raise(r, generation);
    return client_create(r, c, generation ? generation : client_tick(r), who, NULL);
}

int64_t shm_client_find_hashed(const struct shm_region *r, const uint8_t key[32], const char *id,
                               size_t len, struct shm_client *out, uint32_t *gen)
{
    struct shm_entry e;

    if (len >= SHM_CLIENT_ID_MAX || shm_table_lookup(r->client_index, key, &e) < 0)
        return -ENOENT;
    if (shm_client_read(r, e.words[4], out, gen) < 0 || strnlen(out->id, sizeof(out->id)) != len ||
        memcmp(out->id, id, len) != 0)
        return -ENOENT;
    return (int64_t)e.words[4];
}

int64_t shm_client_find(const struct shm_region *r, const char *id, size_t len,
                        struct shm_client *out, uint32_t *gen)
{
    uint64_t key[4];

    client_key(id, len, key);
    return shm_client_find_hashed(r, (const uint8_t *)key, id, len, out, gen);
}

/* Removes the index entry of client c when it points at slot. */
static void client_unindex(struct shm_region *r, uint64_t slot, const struct shm_client *c,
                           struct shm_owner who)
{
    uint64_t key[4];
    struct shm_entry e;

    client_key(c->id, strnlen(c->id, sizeof(c->id)), key);
    while (shm_table_lookup(r->client_index, (const uint8_t *)key, &e) == 0 && e.words[4] == slot &&
           shm_table_remove(r->client_index, &e, who) == -EAGAIN)
        ;
}

int shm_client_update(struct shm_region *r, uint64_t slot, const struct shm_client *c,
                      bool bump_gen, struct shm_owner who, uint64_t *version, uint32_t *gen)
{
    struct shm_client_slot *s;
    uint64_t locked, v;

    if (slot >= r->clients->capacity)
        return -ENOENT;
    s = client_slot(r, slot);
    locked = client_lock(r, s, CS_LIVE, who);
    if (locked == 0)
        return CS_STATE(atomic_load_explicit(&s->state, memory_order_relaxed)) == CS_LIVE ? -EBUSY
                                                                                          : -ENOENT;
    v = client_tick(r);
    client_publish(s, c);
    if (bump_gen)
        atomic_store_explicit(&s->generation, v, memory_order_release);
    if (version)
        *version = v;
    if (gen)
        *gen = (uint32_t)atomic_load_explicit(&s->generation, memory_order_relaxed);
    client_unlock(s, locked, CS_LIVE);
    return 0;
}

int shm_client_delete(struct shm_region *r, uint64_t slot, struct shm_owner who, uint64_t *version)
{
    struct shm_client_slot *s;
    struct shm_client c;
    uint64_t locked, v;

    if (shm_client_read(r, slot, &c, NULL) < 0)
        return -ENOENT;
    s = client_slot(r, slot);
    locked = client_lock(r, s, CS_LIVE, who);
    if (locked == 0)
        return -EBUSY;
    v = client_tick(r);
    if (version)
        *version = v;
    atomic_store_explicit(&s->generation, v, memory_order_release);
    client_unindex(r, slot, &c, who);
    client_unlock(s, locked, CS_FREE);
    return 0;
}

uint64_t shm_clients_reclaim(struct shm_region *r, struct shm_owner dead)
{
    _Atomic uint64_t *locking = &r->clients->locking[dead.slot % SHM_TABLE_OWNERS];
    uint64_t slot = atomic_load_explicit(locking, memory_order_acquire), m;
    struct shm_client_slot *s;

    if (slot == 0 || slot > r->clients->capacity)
        return 0;
    s = client_slot(r, slot - 1);
    m = atomic_load_explicit(&s->state, memory_order_acquire);
    if (!(m & CS_LOCK) || (m & CS_OWNER_MASK) != client_owner_bits(dead))
        return 0;
    /* A half-created client never became visible: drop its index entry if the creation
     * got that far.  A half-updated one keeps its published copy. */
    if (CS_STATE(m) == CS_NEW) {
        struct shm_client c;

        if (client_copy(s, &c) == 0)
            client_unindex(r, slot - 1, &c, dead);
    }
    client_unlock(s, m, CS_STATE(m) == CS_NEW ? CS_FREE : CS_STATE(m));
    return 1;
}

void shm_clients_iterate(const struct shm_region *r, uint64_t from, shm_client_visit_fn fn,
                         void *arg)
{
    struct shm_client c;

    for (uint64_t slot = from; slot < r->clients->capacity; slot++) {
        if (shm_client_read(r, slot, &c, NULL) == 0 && fn(slot, &c, arg) < 0)
            return;
    }
}
