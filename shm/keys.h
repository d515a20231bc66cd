/*
 * The signing keys of JWT access tokens, in shared memory: a small fixed table of key
 * records (kid, algorithm, creation, retirement, private key DER) that every worker signs
 * and verifies with, so a rotation made by one worker is seen by all at once.  Readers
 * copy a record under its slot's sequence and never lock; writers (the master at start,
 * a worker rotating keys) take one writer lock, and a version counter moves after every
 * change so workers know when to refresh the keys they parsed.
 */
#ifndef SHM_KEYS_H
#define SHM_KEYS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/region.h"

#define SHM_KEYS_MAX 64      /* live and retired keys at once */
#define SHM_KEY_KID_MAX 48   /* RFC 7638 thumbprint (43 characters) and a NUL */
#define SHM_KEY_DER_MAX 2048 /* a 2048-bit RSA private key is about 1.2 KB */

/* One key.  The algorithm's meaning belongs to proto/ (enum proto_jwt_alg). */
struct shm_key {
    char kid[SHM_KEY_KID_MAX];
    uint32_t alg;
    uint32_t der_len;
    uint64_t serial;    /* creation order: the newest unretired key of an alg signs */
    int64_t created;    /* seconds since the epoch */
    int64_t retired_at; /* 0: active; reads only (set with shm_keys_retire) */
    uint8_t der[SHM_KEY_DER_MAX];
};

#define SHM_KEY_WORDS ((sizeof(struct shm_key) + 7) / 8)

struct shm_key_slot {
    _Atomic uint64_t state;     /* FREE/BUSY/LIVE (63..62), sequence (31..0) */
    _Atomic int64_t retired_at; /* 0 while the key signs */
    uint64_t pad[6];
    _Atomic uint64_t words[SHM_KEY_WORDS];
};

struct shm_keys {
    _Atomic uint64_t version; /* moves after every change */
    _Atomic uint64_t lock;    /* 0, or the writer: owner bits | 1 */
    _Atomic uint64_t serial;  /* the next key's serial */
    uint64_t pad[5];
    struct shm_key_slot slots[SHM_KEYS_MAX];
};

size_t shm_keys_size(void);
/* Formats zeroed memory as an empty key table.  Master only. */
void shm_keys_init(struct shm_keys *k);

/* The version: workers refresh their parsed keys when it moved. */
uint64_t shm_keys_version(const struct shm_region *r);
/* A fresh serial for a key about to be created (lock-free). */
uint64_t shm_keys_next_serial(struct shm_region *r);
/* Copies the record in slot (< SHM_KEYS_MAX): 0, or -ENOENT when it holds none. */
int shm_keys_read(const struct shm_region *r, unsigned slot, struct shm_key *out);

/* Takes the writer lock: 0, or -EBUSY when another process holds it. */
int shm_keys_lock(struct shm_region *r, struct shm_owner who);
/* Releases it and moves the version, publishing every change made under it. */
void shm_keys_unlock(struct shm_region *r);
/* Under the lock: adds k (its retired_at included).  The slot, or -ENOSPC. */
int shm_keys_add(struct shm_region *r, const struct shm_key *k);
/* Under the lock: marks the key in slot retired at `at`. */
void shm_keys_retire(struct shm_region *r, unsigned slot, int64_t at);
/* Under the lock: frees slot. */
void shm_keys_free(struct shm_region *r, unsigned slot);
/* Releases the lock of a dead writer and frees what it left half-written.  Returns 1 if it
 * held the lock, else 0.  The master calls it after reaping. */
uint64_t shm_keys_reclaim(struct shm_region *r, struct shm_owner dead);

#endif
