/*
 * Open connections per client address, shared by every worker, for
 * limits.max_connections_per_address: one address must not hold a worker's (or the
 * server's) whole max_connections.
 *
 * A fixed table of 64-bit words, eight to a cache line: each word is an address's tag (44
 * bits of a keyed SHA-256 of the address) and its count (20 bits), changed only by CAS.
 * An address lives in one word of the four cache lines from its home on; a word whose
 * count falls to 0 is emptied, so the table holds only addresses with open connections.
 * Counts are exact: every connection that counted itself decrements the very word it
 * incremented.  Each worker slot also has one record per connection it may hold (which
 * word it counted in), so when a worker dies the master takes its connections off the
 * counts (shm_peers_reclaim) — a killed worker's connections are released.
 *
 * IPv6 addresses count per /64 (one host usually has a whole /64); IPv4 per address.
 */
#ifndef SHM_PEERS_H
#define SHM_PEERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SHM_PEERS_COUNT_MAX ((1u << 20) - 1) /* the largest limit a word can enforce */

struct shm_peers {
    uint64_t nbuckets;          /* cache lines of eight words; a power of two, 0: not counted */
    uint64_t nrecords;          /* records per worker slot: its max_connections */
    uint32_t nslots;            /* worker slots */
    uint8_t secret[32];         /* keys the address hash, so no one can aim at a word */
    _Atomic uint64_t refused;   /* connections refused at the limit, all workers */
    _Atomic uint64_t untracked; /* admitted uncounted: their four lines were full */
    uint64_t words_off, records_off; /* from this struct */
};

/* Bytes of the part for `slots` workers of `records` connections each (0 buckets: no
 * counting, the header only). */
size_t shm_peers_size(uint64_t nbuckets, uint32_t slots, uint64_t records);
/* Buckets for `connections` open at once in all: four slots per connection, so an
 * address finds a free word in its four lines even when every connection has its own
 * address; a power of two, at most 2^19 (32 MiB). */
uint64_t shm_peers_buckets(uint64_t connections);
/* Formats a zeroed part (master, at region creation); secret from getrandom(). */
int shm_peers_init(struct shm_peers *p, uint64_t nbuckets, uint32_t slots, uint64_t records);

/* The 16-byte key of a client address: an IPv4 address as ::ffff:a.b.c.d, an IPv6 one
 * truncated to its /64.  -EAFNOSUPPORT for other families. */
int shm_peers_key(const struct sockaddr *sa, uint8_t key[16]);

/* Counts one connection from key for worker `slot`, in its record `rec` (< nrecords, not
 * in use).  Returns the address's connections with this one (>= 1), 0 when it could not be
 * counted (admit it: its lines are full), or -EBUSY when the address already had `limit`
 * (not counted then).  Concurrent acquires of one address never let it exceed `limit`. */
int64_t shm_peers_acquire(struct shm_peers *p, const uint8_t key[16], uint32_t limit, uint32_t slot,
                          uint64_t rec);
/* Uncounts the connection of worker `slot` recorded in `rec` (no-op for one not counted). */
void shm_peers_release(struct shm_peers *p, uint32_t slot, uint64_t rec);
/* Master, after reaping worker `slot`: uncounts every connection it had.  Returns how
 * many. */
uint64_t shm_peers_reclaim(struct shm_peers *p, uint32_t slot);
/* Open connections from key (summed over its words). */
uint32_t shm_peers_count(struct shm_peers *p, const uint8_t key[16]);

#endif
