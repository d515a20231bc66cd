/*
 * A lock-free hash table in shared memory, shared by every process that maps it: the
 * engine under the token table, the client index and the DPoP jti cache.
 *
 * Keys are 32-byte hashes (SHA-256), stored as the first 32 bytes of each entry's payload;
 * the payload is a fixed number of 64-bit words.  Slots sit in buckets of seven, each
 * bucket one cache line of state words plus a control word holding its "reach": how many
 * buckets past it the entries whose home it is may lie.  Lookups scan exactly that range,
 * so a freed slot becomes empty at once — there are no tombstones to clean up.
 *
 * Every operation is lock-free: a slot is claimed with a CAS (recording its owner, so a
 * dead process's half-written slots can be reclaimed), written, and published with a
 * release store; readers copy entries under a sequence check and never see a half-written
 * one.  Everything is addressed by offsets from the table's base: no pointers in shared
 * memory.
 */
#ifndef SHM_TABLE_H
#define SHM_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_TABLE_BUCKET_SLOTS 7
#define SHM_TABLE_OWNERS 256 /* owner slots (workers, store, master) */
#define SHM_TABLE_KEY_BYTES 32
#define SHM_TABLE_MAX_WORDS 64 /* payload words per entry, key included */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* An owner: a worker slot (or the store/master slots) and how many times it was spawned. */
struct shm_owner {
    uint32_t slot;       /* < SHM_TABLE_OWNERS */
    uint32_t generation; /* only its low 21 bits are recorded */
};

/* One cache line: the control word (reach and its version) and seven slot state words. */
struct shm_bucket {
    _Atomic uint64_t ctl;
    _Atomic uint64_t meta[SHM_TABLE_BUCKET_SLOTS];
};

/* Per-owner counters, one cache line each so owners never share a line. */
struct shm_table_counters {
    _Atomic int64_t live;
    _Atomic uint64_t inserts;
    _Atomic uint64_t full;
    _Atomic uint64_t probes;
    /* The slot (plus one) this owner is claiming or has claimed and not yet published:
     * every process is single-threaded, so it holds at most one, and reclaiming a dead
     * owner's claim looks at this one slot instead of scanning the table. */
    _Atomic uint64_t claiming;
    uint64_t pad[3];
};

/* The table header, at the start of its part of the region. */
struct shm_table {
    uint64_t nbuckets;    /* a power of two */
    uint32_t words;       /* payload words per slot */
    uint32_t max_reach;   /* inserts look this many buckets past home at most */
    uint64_t buckets_off; /* from the table header */
    uint64_t payload_off;
    uint64_t pad[4];
    struct shm_table_counters counters[SHM_TABLE_OWNERS];
};

/* A consistent copy of one entry. */
struct shm_entry {
    uint64_t slot; /* index, for shm_table_revoke/remove */
    uint64_t meta; /* the state word the copy was taken under */
    bool revoked;
    uint64_t words[SHM_TABLE_MAX_WORDS];
};

/* Bytes needed for a table of at least `capacity` entries of `words` payload words. */
size_t shm_table_size(uint64_t capacity, uint32_t words);
/* Formats zeroed memory at t (size from shm_table_size) as an empty table.  Master only. */
void shm_table_init(struct shm_table *t, size_t size, uint64_t capacity, uint32_t words);
uint64_t shm_table_capacity(const struct shm_table *t);

/* Inserts an entry (words[0..3] is the key).  Keys are assumed unique (hashes of 256-bit
 * random tokens).  Returns the slot index (>= 0), or -ENOSPC when the table is full near
 * the key's home. */
int64_t shm_table_insert(struct shm_table *t, const uint64_t *words, struct shm_owner who);
/* As insert, but fails with -EEXIST when the key is present: of concurrent inserts of one
 * key at most one succeeds.  For replay caches. */
int64_t shm_table_insert_unique(struct shm_table *t, const uint64_t *words, struct shm_owner who);
/* Finds key; fills out and returns 0, or -ENOENT. */
int shm_table_lookup(const struct shm_table *t, const uint8_t *key, struct shm_entry *out);
/* Copies the live entry in slot: 0, or -ENOENT when the slot holds none. */
int shm_table_read(const struct shm_table *t, uint64_t slot, struct shm_entry *out);
/* Sets the revoked flag of the entry found as e (lookup first).  0, -ENOENT (gone), or
 * -EAGAIN (it changed since e was taken: look it up again). */
int shm_table_revoke(struct shm_table *t, const struct shm_entry *e);
/* Frees the entry found as e; same results as revoke. */
int shm_table_remove(struct shm_table *t, const struct shm_entry *e, struct shm_owner who);

/* Calls fn on a consistent copy of every live entry; fn returns 1 to free it, 0 to keep
 * it, <0 to stop.  Frees what fn asks, then shrinks reaches.  Returns entries freed.  Runs
 * beside readers and writers (the sweeper and listings). */
typedef int (*shm_table_visit_fn)(const struct shm_entry *e, void *arg);
int64_t shm_table_iterate(struct shm_table *t, shm_table_visit_fn fn, void *arg,
                          struct shm_owner who);
/* As shm_table_iterate, and calls freed(copy, freed_arg) for each entry it freed (the copy
 * is exactly what was freed: the free is a CAS from its state word). */
typedef void (*shm_table_freed_fn)(const struct shm_entry *e, void *arg);
int64_t shm_table_sweep(struct shm_table *t, shm_table_visit_fn fn, void *arg,
                        shm_table_freed_fn freed, void *freed_arg, struct shm_owner who);
/* Frees the slots `dead` claimed and never published.  The master calls it after reaping
 * that process.  Returns how many. */
uint64_t shm_table_reclaim(struct shm_table *t, struct shm_owner dead);

struct shm_table_stats {
    uint64_t capacity;
    uint64_t live;    /* published entries (scan) */
    uint64_t revoked; /* of which flagged revoked */
    uint64_t busy;    /* claimed, not yet published */
    int64_t counted;  /* live according to the counters */
    uint64_t inserts, full, probes;
    uint32_t max_reach; /* largest reach of any bucket, in buckets */
};
/* Full scan; also sums the counters. */
void shm_table_stats(const struct shm_table *t, struct shm_table_stats *st);

#endif
