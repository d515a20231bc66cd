/*
 * The Berkeley DB layer of the store process: the compacted, queryable truth behind the
 * msgpack log.  One environment (transactions, logging, locking, a memory pool; recovery
 * at every open) in one directory, one file per database: clients, sessions with a
 * secondary index by client, accounts, keys, and meta (the applied sequence number of every
 * log writer).  Only the store process opens it, single-threaded; nothing here knows about
 * processes, libuv or shared memory.  See store/bdb.c for the decisions.
 */
#ifndef STORE_BDB_H
#define STORE_BDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/record.h"

/* A session's public id: the first 16 bytes of its token hash (base64url of them is
 * proto_token_id()).  Listings show it and page by it; they never show a full hash. */
#define STORE_BDB_ID_LEN 16

/* A revocation seen before its token (records of two writers applied out of order) is
 * kept as a tombstone for this long after the revocation, then purged; so is a deleted
 * client's tombstone after its deletion (an older change of it applied later loses). */
#define STORE_BDB_TOMBSTONE_TTL (30 * 86400)

struct store_bdb; /* opaque */

/* A stored session: the token record (hash, client, generation at issue, scope, audience,
 * times, kind, flags, parent, jkt) and whether it was revoked.  Revoked sessions stay until
 * they expire, so a revoked JWT stays known after a restart.  A session is alive only if
 * its client exists (store_bdb_each_client) and client_gen equals the client's generation:
 * the caller decides that at load; sessions of an older generation are kept the same way. */
struct store_session {
    struct store_token token;
    bool revoked;
};

/* Opens (creating when needed) the environment in dir, running normal recovery first.
 * 0 with *out, or a negative errno with a message naming the file and the call in err.
 * A damaged database the caller cannot use: it exits 2 with that message. */
int store_bdb_open(const char *dir, struct store_bdb **out, char *err, size_t errlen);
/* Closes every database and the environment (a NULL db is a no-op).  Nothing committed is
 * lost by not calling it: recovery at the next open handles a kill. */
void store_bdb_close(struct store_bdb *db);
/* The message of the last failure, naming the database file and the operation. */
const char *store_bdb_error(const struct store_bdb *db);

/* Applies n records in one transaction, idempotently: a record whose seq is not above its
 * writer's applied seq is skipped, and the writers' applied seqs move in the same
 * transaction.  Returns how many were applied (not skipped), or a negative errno (the
 * transaction is rolled back: nothing of the batch is applied). */
int store_bdb_apply(struct store_bdb *db, const struct store_record *recs, size_t n);
/* The highest seq of writer applied (0: none), read from meta. 0 or a negative errno. */
int store_bdb_applied_seq(struct store_bdb *db, uint16_t writer, uint64_t *seq);

/* One slice of the purge, in one transaction: visits up to max sessions in key order from
 * where the last call stopped, deleting those that expired before now (exp < now, as
 * shm_token_sweep); a slice that starts a pass first deletes the client tombstones (and
 * placeholders, store/bdb_apply.c) whose last change is STORE_BDB_TOMBSTONE_TTL before now.
 * *pass_done (may be NULL) tells whether the slice reached the last session, so the next call
 * starts a new pass.  Called on a timer; returns how many it deleted, or a negative errno. */
int64_t store_bdb_purge(struct store_bdb *db, int64_t now, size_t max, bool *pass_done);
/* Makes every committed transaction durable (log written and fsynced).  After it returns,
 * a log segment whose records all have seq <= the applied seq read before the call may be
 * deleted. */
int store_bdb_sync(struct store_bdb *db);
/* Checkpoint: flushes dirty pages and the log, then removes the BDB log files recovery no
 * longer needs.  Implies store_bdb_sync. */
int store_bdb_checkpoint(struct store_bdb *db);
/* Returns emptied pages to the file system (DB->compact with DB_FREE_SPACE) in every
 * database; worth calling after purging many sessions, before a checkpoint. */
int store_bdb_compact(struct store_bdb *db);

/* Iteration for recovery.  fn returns 0 to go on or a negative value to stop, which the
 * iteration returns; otherwise 0, or a negative errno when a database cannot be read.
 * Clients: those that exist, with their generation and the version of their newest change;
 * tombstones of deleted clients are skipped. */
typedef int (*store_bdb_client_fn)(const struct store_client_rec *c, void *arg);
typedef int (*store_bdb_key_fn)(const struct store_key *k, void *arg);
typedef int (*store_bdb_account_fn)(const struct store_account *a, void *arg);
typedef int (*store_bdb_session_fn)(const struct store_session *s, void *arg);
int store_bdb_each_client(struct store_bdb *db, store_bdb_client_fn fn, void *arg);
int store_bdb_each_key(struct store_bdb *db, store_bdb_key_fn fn, void *arg);
int store_bdb_each_account(struct store_bdb *db, store_bdb_account_fn fn, void *arg);
/* Sessions that have not expired (exp > now), revoked or not, of live clients or not, in
 * token-hash order. */
int store_bdb_each_live_session(struct store_bdb *db, int64_t now, store_bdb_session_fn fn,
                                void *arg);

/* The client id as store_bdb_each_client would hand it: 1 with *out, 0 when it is not
 * stored or only as a tombstone, or a negative errno.  For the admin API and tools. */
int store_bdb_client_get(struct store_bdb *db, const char *id, struct store_client_rec *out);

/* The largest client change version or generation stored, tombstones and purged ones
 * included, and any session's client_gen (all of them ever applied): the server's change
 * clock restarts above it, so no version or generation is handed out twice.  Returns 0
 * with *max (0 for an empty store) or a negative errno.  Called by the store process at
 * start. */
int store_bdb_clock(struct store_bdb *db, uint64_t *max);

/* What store_bdb_verify read. */
struct store_bdb_counts {
    uint64_t clients;       /* that exist */
    uint64_t tombstones;    /* of deleted clients, and placeholders (store/bdb_apply.c) */
    uint64_t sessions;      /* every stored one, revocations seen before their token too */
    uint64_t sessions_live; /* not expired, not revoked, of its existing client's generation */
    uint64_t accounts, keys;
    uint64_t clock; /* store_bdb_clock */
};

/* Reads every record of every database (the by-client index too, checked against the
 * sessions) and decodes every value, changing nothing.  Returns 0 with *out, or a negative
 * errno with store_bdb_error() naming the file: -EIO for a damaged page or a value that
 * does not decode.  Called by store_check (tesserad --check-data). */
int store_bdb_verify(struct store_bdb *db, int64_t now, struct store_bdb_counts *out);

/* The sessions of client_id (expired ones not yet purged included) through the by-client
 * index, ordered by id, at most limit of them, starting after the id `after` (NULL: from
 * the first).  fn gets the id and the session with its hash zeroed.  Returns how many fn
 * saw (the last one's id is the next page's `after`), or a negative errno. */
typedef int (*store_bdb_listing_fn)(const uint8_t id[STORE_BDB_ID_LEN],
                                    const struct store_session *s, void *arg);
int store_bdb_sessions_by_client(struct store_bdb *db, const char *client_id, const uint8_t *after,
                                 size_t limit, store_bdb_listing_fn fn, void *arg);

/* Hot backup into target_dir (created, or emptied first): a checkpoint, DB_ENV->backup,
 * then catastrophic recovery in the copy, so it opens like any environment.  0 or a
 * negative errno. */
int store_bdb_backup(struct store_bdb *db, const char *target_dir);

#endif
