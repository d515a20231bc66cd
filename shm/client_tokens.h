/*
 * Each client's live tokens: how many it holds, and which is the oldest — so that one
 * client cannot take the shared token table from everyone (max_live_tokens).
 *
 * What is limited is room in the shared table, so the count is of the entries a client
 * holds: one atomic word per client slot, tagged with the generation it counts, +1 when an
 * entry of the current generation is inserted, −1 when one is freed — by the one CAS that
 * frees it, whoever makes it (the sweeper, a revocation that frees, an eviction, a walk
 * that finds it expired).  A revoked entry still counts while it holds its slot: revoking
 * frees the entry where that is safe (proto: every opaque token, and every JWT unless
 * unknown JWTs are verified by signature).  A generation bump (revoke-all, deletion) kills
 * tokens in bulk without touching them; the tag makes the old generation's later
 * decrements miss, and the new generation's first insert starts the count again — so it
 * never drifts.
 *
 * The order is a queue per client built on the table engine: every token gets the next
 * issue sequence of its slot (kept in its entry and its durable record), and an entry of
 * the queue table keyed by (slot, sequence) names the token's table slot.  The oldest live
 * token is found by walking sequences from the slot's head, dropping what is dead on the
 * way and moving the head past it: amortised O(1) lookups per token, never a table scan.
 * Both tables have tokens.capacity slots; the sweeper frees a token's queue entry with it.
 */
#ifndef SHM_CLIENT_TOKENS_H
#define SHM_CLIENT_TOKENS_H

#include <stdint.h>

#include "shm/region.h"

struct shm_token;

#define SHM_CLIENT_QUEUE_WORDS 5 /* key: a mix, slot, sequence, 0; then the token's slot + 1 */

/* Live tokens of client slot in generation gen (0 when the count is another's). */
uint32_t shm_client_tokens_live(const struct shm_region *r, uint64_t slot, uint32_t gen);
/* The next issue sequence of the slot (from 1), for a token about to be inserted. */
uint64_t shm_client_tokens_next(struct shm_region *r, uint64_t slot);

/* The client's oldest live token, for eviction or for Retry-After: 0 with *e (its table
 * entry as found, for shm_token_revoke_entry), or -ENOENT when none is found within a
 * bounded walk.  On the way it frees expired tokens and drops dead queue entries, so the
 * count falls as soon as the oldest expire.  A live token whose hash is `skip` (may be
 * NULL) is passed over: the refresh token a grant is about to use. */
int shm_client_tokens_oldest(struct shm_region *r, uint64_t slot, uint32_t gen, int64_t now,
                             const uint8_t *skip, struct shm_owner who, struct shm_entry *e);

/* For shm/token.c: a token entry was inserted at table slot `at`. */
void shm__client_tokens_added(struct shm_region *r, const struct shm_token *t, uint64_t at,
                              struct shm_owner who);
/* A counted entry of (slot, gen) was freed. */
void shm__client_tokens_gone(struct shm_region *r, uint32_t slot, uint32_t gen);
/* The token (slot, seq) was freed: drop its queue entry. */
void shm__client_tokens_unqueue(struct shm_region *r, uint32_t slot, uint64_t seq,
                                struct shm_owner who);

#endif
