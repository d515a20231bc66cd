/*
 * The client table: one record slot per client, stable for the client's life (tokens
 * refer to it by slot and generation), found by client id through an index on the shared
 * table engine.  A change is written into the record's spare copy and published by
 * switching copies, so readers see the old record or the new one, never a mix.  Writers
 * of one client take its slot's writer lock (an owner recorded with a CAS; the master
 * clears it if that owner dies).  Bumping the generation revokes every token of the
 * client at once.
 */
#ifndef SHM_CLIENT_H
#define SHM_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/region.h"

#define SHM_CLIENT_ID_MAX 128 /* bytes, NUL included */
#define SHM_CLIENT_NAME_MAX 128
#define SHM_CLIENT_VERIFIER_MAX 128

enum shm_client_verifier { SHM_VERIFIER_NONE, SHM_VERIFIER_SHA256, SHM_VERIFIER_ARGON2ID };

/* Grant types and flags are bit sets; the meanings belong to proto/. */
struct shm_client {
    char id[SHM_CLIENT_ID_MAX];
    char name[SHM_CLIENT_NAME_MAX];
    uint8_t verifier_kind; /* enum shm_client_verifier */
    uint8_t token_format;
    uint16_t verifier_len;
    uint8_t verifier[SHM_CLIENT_VERIFIER_MAX];
    uint32_t scopes;         /* interned, space-delimited allowed scopes */
    uint32_t default_scopes; /* interned */
    uint32_t audiences;      /* interned, space-delimited allowed audiences */
    uint32_t subject;        /* interned subject (an account's WebID), 0: the client id */
    uint32_t scope_base;     /* interned: scopes in canonical order (shm/scope.h), the base
                              * of its tokens' scope bitmaps; derived, never stored */
    uint32_t grant_types;
    uint32_t flags;
    uint32_t access_ttl, max_access_ttl, refresh_ttl;
    uint32_t jwt_alg;         /* signing algorithm of JWT access tokens (proto/jose/jwt.h) */
    uint32_t max_live_tokens; /* live tokens it may hold; 0: tokens.max_live_per_client */
    int64_t created, updated;
};

#define SHM_CLIENT_WORDS ((sizeof(struct shm_client) + 7) / 8)
/* Copies of a record in rotation: a reader copying one fails only if a writer publishes
 * twice meanwhile (with two, once), so back-to-back updates cannot starve readers.  Pages
 * commit only for slots in use, so the third copy costs memory only per live client. */
#define SHM_CLIENT_COPIES 3

/* The slot's live tokens (shm/client_tokens.h): its own cache line, written on every
 * issue, apart from the header's, read on every validation. */
struct shm_client_tokens {
    _Atomic uint64_t live;   /* generation (32) · live tokens of that generation (32) */
    _Atomic uint64_t issued; /* the last issue sequence handed out (from 1) */
    _Atomic uint64_t head;   /* the oldest sequence that may still be live; 0: none yet */
    uint64_t pad[5];
};

struct shm_client_slot {
    _Atomic uint64_t state;                  /* free/live, writer lock and owner, sequence */
    _Atomic uint64_t generation;             /* tokens carry the value current at issue */
    _Atomic uint64_t current;                /* which copy is published */
    _Atomic uint64_t seq[SHM_CLIENT_COPIES]; /* per-copy sequence: odd while being written */
    uint64_t pad[2];                         /* the header is one cache line */
    struct shm_client_tokens tokens;
    _Atomic uint64_t copy[SHM_CLIENT_COPIES][SHM_CLIENT_WORDS];
};

struct shm_clients {
    uint64_t capacity;
    _Atomic uint64_t hint; /* where the last allocation ended, to start the next scan */
    /* The change clock: every create, update and delete takes the next value as its
     * version (the durable log orders a client's changes by it, whichever worker made
     * them), and a new generation is such a value too, so no two client instances ever
     * share a generation, even across restarts (the store restarts the clock above every
     * value it holds). */
    _Atomic uint64_t clock;
    uint64_t pad[5];
    /* Per owner: the slot (plus one) whose writer lock it is taking or holds.  A process
     * holds at most one, so a dead owner's lock is found without scanning every client. */
    _Atomic uint64_t locking[SHM_TABLE_OWNERS];
    struct shm_client_slot slots[];
};

size_t shm_clients_size(uint64_t capacity);
void shm_clients_init(struct shm_clients *c, uint64_t capacity);
/* The index's payload words: key and slot. */
#define SHM_CLIENT_INDEX_WORDS 5

/* Creates a client; its generation is the change's version, stored in *version (may be
 * NULL).  Returns its slot (>= 0), -EEXIST (id taken), -ENOSPC (full). */
int64_t shm_client_create(struct shm_region *r, const struct shm_client *c, struct shm_owner who,
                          uint64_t *version);
/* Recovery: creates a client as stored, with its stored generation.  As shm_client_create. */
int64_t shm_client_restore(struct shm_region *r, const struct shm_client *c, uint32_t generation,
                           struct shm_owner who);
/* Recovery: moves the change clock past `at_least` (the largest version stored). */
void shm_clients_clock_raise(struct shm_region *r, uint64_t at_least);
/* Finds a client by id: slot (>= 0) with *out and *gen, or -ENOENT. */
int64_t shm_client_find(const struct shm_region *r, const char *id, size_t len,
                        struct shm_client *out, uint32_t *gen);
/* The same, given the SHA-256 of id (callers that need the hash anyway). */
int64_t shm_client_find_hashed(const struct shm_region *r, const uint8_t key[32], const char *id,
                               size_t len, struct shm_client *out, uint32_t *gen);
/* Reads the record in slot: 0, or -ENOENT when the slot is free. */
int shm_client_read(const struct shm_region *r, uint64_t slot, struct shm_client *out,
                    uint32_t *gen);
/* Replaces the record of slot (same id); bump_gen also revokes all its tokens (the new
 * generation is the change's version).  *version (may be NULL) gets the change's version,
 * *gen (may be NULL) the generation after it.  0, -ENOENT, or -EBUSY (another writer holds
 * the client). */
int shm_client_update(struct shm_region *r, uint64_t slot, const struct shm_client *c,
                      bool bump_gen, struct shm_owner who, uint64_t *version, uint32_t *gen);
/* Deletes the client in slot and revokes all its tokens; *version as above.
 * 0, -ENOENT or -EBUSY. */
int shm_client_delete(struct shm_region *r, uint64_t slot, struct shm_owner who, uint64_t *version);
/* The generation of slot now (0xffffffff-safe: compared as 32 bits). */
uint32_t shm_client_generation(const struct shm_region *r, uint64_t slot);
/* Releases locks and half-created slots of a dead owner; returns how many. */
uint64_t shm_clients_reclaim(struct shm_region *r, struct shm_owner dead);
/* Calls fn for each live client in slot order from slot `from`; fn returns <0 to stop. */
typedef int (*shm_client_visit_fn)(uint64_t slot, const struct shm_client *c, void *arg);
void shm_clients_iterate(const struct shm_region *r, uint64_t from, shm_client_visit_fn fn,
                         void *arg);

#endif
