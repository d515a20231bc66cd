/*
 * The lock-free shared-memory hash table (see table.h for the model).
 *
 * Slot state word (64 bits):
 *   63..62 state: EMPTY, BUSY (claimed, being written), LIVE (published)
 *   61     revoked
 *   60..32 BUSY: owner (slot << 21 | generation); LIVE: 29 bits of the key's hash (tag)
 *   31..0  sequence, bumped by every transition, so a copy taken across a change is noticed
 * Bucket control word: 63..16 version (bumped by every insert homed there), 15..0 reach.
 *
 * Why a reach instead of tombstones: with tombstones a freed slot cannot safely become
 * empty while other processes insert past it, and a table whose tombstones are never
 * cleared turns every miss into a long scan.  With a per-bucket reach, readers never stop
 * early, freeing is one CAS, and the sweeper shrinks reaches with a versioned CAS that
 * fails if an insert for that bucket raced with it.
 */
#include "autoconfig.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "shm/table.h"

#define ST_EMPTY 0ULL
#define ST_BUSY 1ULL
#define ST_LIVE 2ULL
#define M_STATE(m) ((m) >> 62)
#define M_REVOKED (1ULL << 61)
#define M_MID_MASK (((1ULL << 29) - 1) << 32)
#define M_SEQ(m) ((m)&0xffffffffULL)
#define M_NEXT_SEQ(m) (((m) + 1) & 0xffffffffULL)
#define CTL_REACH(c) ((uint32_t)((c)&0xffff))
#define CTL_VERSION(c) ((c) >> 16)
/* An insert looks at most this many buckets past its home.  Near a full table chains grow
 * without bound (reach 152 buckets at 90% fill of 1M, 13,752 at 99%); capping them makes
 * the table report full a little earlier (about 95%) instead of letting one insert or
 * miss scan megabytes. */
#define REACH_MAX 512
#define COPY_RETRIES 64

static uint64_t table_hash(const uint8_t *key)
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return h;
}

static uint64_t table_tag(uint64_t h)
{
    return (h & ((1ULL << 29) - 1)) << 32;
}

/* Lemire's multiply-shift: a bucket from the high bits of h, without a power-of-two size. */
static uint64_t table_home(const struct shm_table *t, uint64_t h)
{
    return (uint64_t)(((unsigned __int128)h * t->nbuckets) >> 64);
}

_Static_assert(SHM_TABLE_OWNERS <= 256, "owner slots fit the 8 bits a BUSY state word has");

/* The slot of its home bucket a key prefers: inserts try it first, and lookups fetch its
 * payload while they wait for the bucket's line, so a hit there costs one memory latency
 * instead of two (bucket line, then payload).  Bits independent of the home and the tag. */
static unsigned table_pref(uint64_t h)
{
    return (unsigned)((h >> 29) % SHM_TABLE_BUCKET_SLOTS);
}

static uint64_t table_owner_bits(struct shm_owner who)
{
    return ((uint64_t)(who.slot & 0xff) << 53) | ((uint64_t)(who.generation & 0x1fffff) << 32);
}

static struct shm_bucket *table_bucket(const struct shm_table *t, uint64_t b)
{
    return (struct shm_bucket *)((char *)t + t->buckets_off) + b;
}

static _Atomic uint64_t *table_meta(const struct shm_table *t, uint64_t slot)
{
    return &table_bucket(t, slot / SHM_TABLE_BUCKET_SLOTS)->meta[slot % SHM_TABLE_BUCKET_SLOTS];
}

static _Atomic uint64_t *table_words(const struct shm_table *t, uint64_t slot)
{
    return (_Atomic uint64_t *)((char *)t + t->payload_off) + slot * t->words;
}

static uint64_t table_next(const struct shm_table *t, uint64_t b)
{
    return b + 1 == t->nbuckets ? 0 : b + 1;
}

static struct shm_table_counters *table_counters(struct shm_table *t, struct shm_owner who)
{
    return &t->counters[who.slot % SHM_TABLE_OWNERS];
}

size_t shm_table_size(uint64_t capacity, uint32_t words)
{
    uint64_t nb = (capacity + SHM_TABLE_BUCKET_SLOTS - 1) / SHM_TABLE_BUCKET_SLOTS;

    if (nb < 2)
        nb = 2;
    return sizeof(struct shm_table) + nb * sizeof(struct shm_bucket) +
           nb * SHM_TABLE_BUCKET_SLOTS * words * sizeof(uint64_t);
}

void shm_table_init(struct shm_table *t, size_t size, uint64_t capacity, uint32_t words)
{
    uint64_t nb = (capacity + SHM_TABLE_BUCKET_SLOTS - 1) / SHM_TABLE_BUCKET_SLOTS;

    /* Entries hold the key, and copies go to struct shm_entry. */
    assert(words >= SHM_TABLE_KEY_BYTES / 8 && words <= SHM_TABLE_MAX_WORDS);
    if (nb < 2)
        nb = 2;
    /* The memory is fresh from memfd/mmap and so already zero: touching only the header
     * keeps untouched pages uncommitted until entries land there. */
    memset(t, 0, sizeof(*t));
    t->nbuckets = nb;
    t->words = words;
    t->max_reach = nb - 1 < REACH_MAX ? (uint32_t)(nb - 1) : REACH_MAX;
    t->buckets_off = sizeof(struct shm_table);
    t->payload_off = t->buckets_off + nb * sizeof(struct shm_bucket);
}

uint64_t shm_table_capacity(const struct shm_table *t)
{
    return t->nbuckets * SHM_TABLE_BUCKET_SLOTS;
}

/* Claims the first empty slot at or after b0; returns its index and distance, or -ENOSPC. */
static int64_t table_claim(struct shm_table *t, uint64_t b0, unsigned pref, struct shm_owner who,
                           uint32_t *dist, uint64_t *meta)
{
    uint64_t b = b0, probes = 0;

    for (uint32_t d = 0; d <= t->max_reach; d++, b = table_next(t, b)) {
        struct shm_bucket *bk = table_bucket(t, b);

        for (unsigned i = 0; i < SHM_TABLE_BUCKET_SLOTS; i++) {
            unsigned k = d ? i : (pref + i) % SHM_TABLE_BUCKET_SLOTS;
            uint64_t m = atomic_load_explicit(&bk->meta[k], memory_order_relaxed);
            uint64_t busy = (ST_BUSY << 62) | table_owner_bits(who) | M_NEXT_SEQ(m);

            probes++;
            if (M_STATE(m) != ST_EMPTY)
                continue;
            /* Intent first: a death right after the CAS must leave the claim findable. */
            atomic_store_explicit(&table_counters(t, who)->claiming,
                                  b * SHM_TABLE_BUCKET_SLOTS + k + 1, memory_order_relaxed);
            if (atomic_compare_exchange_strong_explicit(
                    &bk->meta[k], &m, busy, memory_order_acq_rel, memory_order_relaxed)) {
                atomic_fetch_add_explicit(&table_counters(t, who)->probes, probes,
                                          memory_order_relaxed);
                *dist = d;
                *meta = busy;
                return (int64_t)(b * SHM_TABLE_BUCKET_SLOTS + k);
            }
        }
    }
    atomic_fetch_add_explicit(&table_counters(t, who)->full, 1, memory_order_relaxed);
    return -ENOSPC;
}

/* Makes the home bucket's reach cover distance d, bumping its version either way so a
 * sweeper's concurrent shrink of this bucket fails. */
static void table_reach_extend(struct shm_table *t, uint64_t b0, uint32_t d)
{
    _Atomic uint64_t *ctl = &table_bucket(t, b0)->ctl;
    uint64_t c = atomic_load_explicit(ctl, memory_order_relaxed), n;

    do {
        uint32_t r = CTL_REACH(c) > d ? CTL_REACH(c) : d;

        n = ((CTL_VERSION(c) + 1) << 16) | r;
    } while (!atomic_compare_exchange_weak_explicit(ctl, &c, n, memory_order_acq_rel,
                                                    memory_order_relaxed));
}

/* Inserts words; returns the slot and the state word it was published with, or -ENOSPC. */
static int64_t table_insert(struct shm_table *t, const uint64_t *words, struct shm_owner who,
                            uint64_t *published)
{
    uint64_t h = table_hash((const uint8_t *)words), b0 = table_home(t, h), meta;
    _Atomic uint64_t *w;
    uint32_t d;
    int64_t slot = table_claim(t, b0, table_pref(h), who, &d, &meta);

    if (slot < 0)
        return slot;
    table_reach_extend(t, b0, d);
    /* The seqlock writer's side: the claim must be visible before any payload word, or a
     * reader copying the slot's previous entry could take a mix of old and new words and
     * still read the old state word after them.  (The claim is a release operation, but
     * a release orders what comes before it, not the stores after it.)  A compiler
     * barrier on x86; a real fence where stores may pass stores. */
    atomic_thread_fence(memory_order_release);
    w = table_words(t, (uint64_t)slot);
    for (uint32_t i = 0; i < t->words; i++)
        atomic_store_explicit(&w[i], words[i], memory_order_relaxed);
    *published = (ST_LIVE << 62) | table_tag(h) | M_NEXT_SEQ(meta);
    atomic_store_explicit(table_meta(t, (uint64_t)slot), *published, memory_order_release);
    atomic_fetch_add_explicit(&table_counters(t, who)->live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&table_counters(t, who)->inserts, 1, memory_order_relaxed);
    return slot;
}

int64_t shm_table_insert(struct shm_table *t, const uint64_t *words, struct shm_owner who)
{
    uint64_t published;

    return table_insert(t, words, who, &published);
}

/* Copies slot into out under the sequence check.  Returns 0 with a consistent copy of a
 * live entry, -ENOENT if the slot is not live (any more). */
static int table_copy(const struct shm_table *t, uint64_t slot, uint64_t m1, struct shm_entry *out)
{
    _Atomic uint64_t *meta = table_meta(t, slot);
    _Atomic uint64_t *w = table_words(t, slot);

    for (int tries = 0; tries < COPY_RETRIES; tries++) {
        uint64_t m2;

        if (M_STATE(m1) != ST_LIVE)
            return -ENOENT;
        for (uint32_t i = 0; i < t->words; i++)
            out->words[i] = atomic_load_explicit(&w[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        m2 = atomic_load_explicit(meta, memory_order_relaxed);
        if (m1 == m2) {
            out->slot = slot;
            out->meta = m1;
            out->revoked = (m1 & M_REVOKED) != 0;
            return 0;
        }
        m1 = atomic_load_explicit(meta, memory_order_acquire);
    }
    return -ENOENT; /* changing faster than we can copy: it is not the entry we knew */
}

/* Finds key at or past home, skipping slot `skip`.  0 and out, or -ENOENT. */
static int table_find(const struct shm_table *t, const uint8_t *key, uint64_t skip,
                      struct shm_entry *out)
{
    uint64_t h = table_hash(key), b = table_home(t, h), tag = table_tag(h);
    unsigned pref = table_pref(h);
    const char *likely = (const char *)table_words(t, b * SHM_TABLE_BUCKET_SLOTS + pref);
    uint32_t reach;

    __builtin_prefetch(likely);
    __builtin_prefetch(likely + 64);
    reach = CTL_REACH(atomic_load_explicit(&table_bucket(t, b)->ctl, memory_order_acquire));
    for (uint32_t d = 0; d <= reach; d++, b = table_next(t, b)) {
        const struct shm_bucket *bk = table_bucket(t, b);

        for (unsigned i = 0; i < SHM_TABLE_BUCKET_SLOTS; i++) {
            unsigned k = d ? i : (pref + i) % SHM_TABLE_BUCKET_SLOTS;
            uint64_t m = atomic_load_explicit(&bk->meta[k], memory_order_acquire);
            uint64_t slot = b * SHM_TABLE_BUCKET_SLOTS + k;

            if (M_STATE(m) != ST_LIVE || (m & M_MID_MASK) != tag || slot == skip)
                continue;
            if (table_copy(t, slot, m, out) == 0 &&
                memcmp(out->words, key, SHM_TABLE_KEY_BYTES) == 0)
                return 0;
        }
    }
    return -ENOENT;
}

int shm_table_lookup(const struct shm_table *t, const uint8_t *key, struct shm_entry *out)
{
    return table_find(t, key, UINT64_MAX, out);
}

int shm_table_revoke(struct shm_table *t, const struct shm_entry *e)
{
    uint64_t m = e->meta, n;

    if (m & M_REVOKED)
        return 0;
    n = (m & ~0xffffffffULL) | M_REVOKED | M_NEXT_SEQ(m);
    if (atomic_compare_exchange_strong_explicit(table_meta(t, e->slot), &m, n, memory_order_acq_rel,
                                                memory_order_relaxed))
        return 0;
    return M_STATE(m) == ST_LIVE ? -EAGAIN : -ENOENT;
}

static int table_free(struct shm_table *t, uint64_t slot, uint64_t m, struct shm_owner who)
{
    uint64_t n = (ST_EMPTY << 62) | M_NEXT_SEQ(m);

    if (!atomic_compare_exchange_strong_explicit(table_meta(t, slot), &m, n, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return M_STATE(m) == ST_LIVE ? -EAGAIN : -ENOENT;
    atomic_fetch_sub_explicit(&table_counters(t, who)->live, 1, memory_order_relaxed);
    return 0;
}

int shm_table_remove(struct shm_table *t, const struct shm_entry *e, struct shm_owner who)
{
    return table_free(t, e->slot, e->meta, who);
}

/* Takes back the entry this process published in slot as `published`: only that entry
 * (perhaps revoked since), never one that took the slot after a remove or a sweep. */
static void table_withdraw(struct shm_table *t, uint64_t slot, uint64_t published,
                           struct shm_owner who)
{
    uint64_t revoked = (published & ~0xffffffffULL) | M_REVOKED | M_NEXT_SEQ(published);

    if (table_free(t, slot, published, who) == -EAGAIN)
        table_free(t, slot, revoked, who);
}

int64_t shm_table_insert_unique(struct shm_table *t, const uint64_t *words, struct shm_owner who)
{
    struct shm_entry other;
    uint64_t published;
    int64_t slot;

    if (table_find(t, (const uint8_t *)words, UINT64_MAX, &other) == 0)
        return -EEXIST;
    slot = table_insert(t, words, who, &published);
    if (slot < 0)
        return slot;
    /* Of two concurrent inserts of one key, the later to publish sees the other and
     * withdraws; both may withdraw, never both stay.  That is Dekker's pattern (each
     * stores its own slot, then loads the other's): release and acquire do not order a
     * store before a later load, so without this fence both may look before either's
     * publish is visible, and both stay.  (On x86 the counters' locked add happens to
     * fence; nothing in C11 or on ARM does.) */
    atomic_thread_fence(memory_order_seq_cst);
    if (table_find(t, (const uint8_t *)words, (uint64_t)slot, &other) == 0) {
        table_withdraw(t, (uint64_t)slot, published, who);
        return -EEXIST;
    }
    return slot;
}

/* The farthest distance from b0 at which an entry homed at b0 may lie now.  Slots being
 * written count wherever they are: their key (and so their home) is not known yet. */
static uint32_t table_reach_needed(const struct shm_table *t, uint64_t b0, uint32_t reach)
{
    uint64_t b = b0;
    uint32_t need = 0;
    struct shm_entry e;

    for (uint32_t d = 0; d <= reach; d++, b = table_next(t, b)) {
        const struct shm_bucket *bk = table_bucket(t, b);

        for (unsigned k = 0; k < SHM_TABLE_BUCKET_SLOTS; k++) {
            uint64_t m = atomic_load_explicit(&bk->meta[k], memory_order_acquire);

            if (M_STATE(m) == ST_EMPTY)
                continue;
            if (M_STATE(m) == ST_LIVE &&
                table_copy(t, b * SHM_TABLE_BUCKET_SLOTS + k, m, &e) == 0 &&
                table_home(t, table_hash((const uint8_t *)e.words)) != b0)
                continue;
            need = d;
        }
    }
    return need;
}

/* Shrinks every bucket's reach to what its entries need; an insert racing with it bumps
 * the version and the shrink of that bucket is skipped until the next pass. */
static void table_shrink(struct shm_table *t)
{
    for (uint64_t b = 0; b < t->nbuckets; b++) {
        _Atomic uint64_t *ctl = &table_bucket(t, b)->ctl;
        uint64_t c = atomic_load_explicit(ctl, memory_order_acquire);
        uint32_t need;

        if (CTL_REACH(c) == 0)
            continue;
        need = table_reach_needed(t, b, CTL_REACH(c));
        if (need < CTL_REACH(c))
            atomic_compare_exchange_strong_explicit(ctl, &c, (c & ~0xffffULL) | need,
                                                    memory_order_acq_rel, memory_order_relaxed);
    }
}

int64_t shm_table_sweep(struct shm_table *t, shm_table_visit_fn fn, void *arg,
                        shm_table_freed_fn freed, void *freed_arg, struct shm_owner who)
{
    uint64_t n = shm_table_capacity(t);
    int64_t count = 0;
    struct shm_entry e;

    for (uint64_t slot = 0; slot < n; slot++) {
        uint64_t m = atomic_load_explicit(table_meta(t, slot), memory_order_acquire);
        int rc;

        if (M_STATE(m) != ST_LIVE || table_copy(t, slot, m, &e) < 0)
            continue;
        rc = fn(&e, arg);
        if (rc < 0)
            break;
        if (rc == 1 && table_free(t, slot, e.meta, who) == 0) {
            count++;
            if (freed)
                freed(&e, freed_arg);
        }
    }
    if (count)
        table_shrink(t);
    return count;
}

int64_t shm_table_iterate(struct shm_table *t, shm_table_visit_fn fn, void *arg,
                          struct shm_owner who)
{
    return shm_table_sweep(t, fn, arg, NULL, NULL, who);
}

uint64_t shm_table_reclaim(struct shm_table *t, struct shm_owner dead)
{
    _Atomic uint64_t *claiming = &table_counters(t, dead)->claiming;
    uint64_t slot = atomic_load_explicit(claiming, memory_order_acquire), m;
    _Atomic uint64_t *meta;

    if (slot == 0 || slot > shm_table_capacity(t))
        return 0;
    meta = table_meta(t, slot - 1);
    m = atomic_load_explicit(meta, memory_order_acquire);
    if (M_STATE(m) != ST_BUSY || (m & M_MID_MASK) != table_owner_bits(dead))
        return 0; /* published, or never claimed: nothing half-written */
    return atomic_compare_exchange_strong_explicit(meta, &m, (ST_EMPTY << 62) | M_NEXT_SEQ(m),
                                                   memory_order_acq_rel, memory_order_relaxed);
}

void shm_table_stats(const struct shm_table *t, struct shm_table_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->capacity = shm_table_capacity(t);
    for (uint64_t b = 0; b < t->nbuckets; b++) {
        const struct shm_bucket *bk = table_bucket(t, b);
        uint32_t r = CTL_REACH(atomic_load_explicit(&bk->ctl, memory_order_relaxed));

        if (r > st->max_reach)
            st->max_reach = r;
        for (unsigned k = 0; k < SHM_TABLE_BUCKET_SLOTS; k++) {
            uint64_t m = atomic_load_explicit(&bk->meta[k], memory_order_relaxed);

            st->live += M_STATE(m) == ST_LIVE;
            st->revoked += M_STATE(m) == ST_LIVE && (m & M_REVOKED);
            st->busy += M_STATE(m) == ST_BUSY;
        }
    }
    for (unsigned i = 0; i < SHM_TABLE_OWNERS; i++) {
        st->counted += atomic_load_explicit(&t->counters[i].live, memory_order_relaxed);
        st->inserts += atomic_load_explicit(&t->counters[i].inserts, memory_order_relaxed);
        st->full += atomic_load_explicit(&t->counters[i].full, memory_order_relaxed);
        st->probes += atomic_load_explicit(&t->counters[i].probes, memory_order_relaxed);
    }
}

int shm_table_read(const struct shm_table *t, uint64_t slot, struct shm_entry *out)
{
    if (slot >= shm_table_capacity(t))
        return -ENOENT;
    return table_copy(t, slot, atomic_load_explicit(table_meta(t, slot), memory_order_acquire),
                      out);
}
