/*
 * The shared-memory region: one memfd created by the master before fork and mapped by
 * every worker and the store process.  It holds, at offsets recorded in its header, the
 * token table, the client index and records, the interned strings, the DPoP jti replay
 * cache, the rate-limit counters, the JWT signing keys, event counters and the open
 * connections per client address.  The memfd can be handed to a re-executed binary, which
 * validates the header (magic, layout version, sizes) before using it.
 */
#ifndef SHM_REGION_H
#define SHM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/table.h"

struct shm_ratelimit;
struct shm_keys;
struct shm_logstat;
struct shm_peers;
struct shm_intern_budget;
struct shm_stats;

#define SHM_REGION_MAGIC "TESSERA"
#define SHM_REGION_LAYOUT 6

struct shm_region_header {
    char magic[8];
    uint32_t layout;
    uint32_t header_size;
    uint64_t size;
    uint64_t tokens_off, clients_off, client_index_off, intern_off, jti_off, ratelimit_off,
        keys_off, logstat_off, intern_budget_off, stats_off, token_queue_off, peers_off;
    uint64_t tokens_capacity, clients_capacity, intern_capacity, jti_capacity;
};

struct shm_region_sizes {
    uint64_t tokens;       /* tokens.capacity */
    uint64_t clients;      /* clients.capacity */
    uint64_t intern;       /* the interned strings' budget (the table is larger: intern.h) */
    uint64_t jti;          /* DPoP proofs remembered at once */
    bool prefault;         /* commit the token table's memory at start (tokens.prefault) */
    uint32_t peer_slots;   /* worker slots whose connections are counted per address */
    uint64_t peer_records; /* connections per worker slot (its max_connections); 0: none */
};

/* A process's view of the region.  Pointers here are this process's mapping. */
struct shm_region {
    int fd;
    size_t size;
    struct shm_region_header *hdr;
    struct shm_table *tokens;
    struct shm_table *token_queue; /* each client's tokens in issue order (client_tokens.h) */
    struct shm_clients *clients;
    struct shm_table *client_index;
    struct shm_table *intern;
    struct shm_intern_budget *intern_budget;
    struct shm_table *jti;
    struct shm_ratelimit *ratelimit;
    struct shm_keys *keys;
    struct shm_logstat *logstat;
    struct shm_peers *peers;
    struct shm_stats *stats;
};

/* Master: creates and formats a region.  0, or a negative errno (the cause is logged). */
int shm_region_create(struct shm_region *r, const struct shm_region_sizes *sz);
/* Maps an existing region from fd and checks its header.  0 or a negative errno. */
int shm_region_attach(struct shm_region *r, int fd);
void shm_region_detach(struct shm_region *r);
/* Frees what a dead process claimed and never published, and releases the client
 * writer locks it held.  The master calls it after reaping.  Returns how many. */
uint64_t shm_region_reclaim(struct shm_region *r, struct shm_owner dead);
/* Frees expired tokens and DPoP proofs; returns how many. */
int64_t shm_region_sweep(struct shm_region *r, int64_t now, struct shm_owner who);

#endif
