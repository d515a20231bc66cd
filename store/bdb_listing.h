/*
 * Listings of the admin API read from Berkeley DB (store process only): every session or
 * one client's, in public-id order, from after a given id, without a page size: the caller
 * (store/control_ops.c) decides which rows it keeps and when to stop, since it filters out
 * revoked, expired and dead-generation sessions and bounds both rows and bytes.  Beside
 * store/bdb.h rather than in it because store/bdb*.c belongs to another change under way.
 */
#ifndef STORE_BDB_LISTING_H
#define STORE_BDB_LISTING_H

#include <stdint.h>

#include "store/bdb.h"

/* Calls fn with the id (the first STORE_BDB_ID_LEN bytes of the token hash) and the
 * session, its hash zeroed, for each session whose id is above `after` (NULL: from the
 * first), in id order: every stored session when client_id is NULL (revocation tombstones,
 * which have no client, are skipped), else those of client_id through the by-client index.
 * fn returns 0 to go on, a positive value to stop (returned), or a negative errno to fail
 * (returned).  Returns 0 once every session was seen, fn's value, or a negative errno of a
 * failed read (store_bdb_error() says which). */
int store_bdb_sessions_walk(struct store_bdb *db, const char *client_id, const uint8_t *after,
                            store_bdb_listing_fn fn, void *arg);

/* The stored generation of client id: 1 with *gen, 0 when no such client exists (never
 * stored, or only a tombstone or placeholder of it), or a negative errno. */
int store_bdb_client_generation(struct store_bdb *db, const char *id, uint32_t *gen);

#endif
