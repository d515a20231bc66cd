/*
 * The store process's core: applying the worker slots' log segments (store/segment.h) to
 * Berkeley DB (store/bdb.h), deleting the segments that are applied and durable, and the
 * recovery run at start.  A library with no process, libuv or shared-memory knowledge: the
 * store process calls it on a timer, recovery hands what it loads to callbacks.
 */
#ifndef STORE_APPLIER_H
#define STORE_APPLIER_H

#include <stddef.h>
#include <stdint.h>

#include "store/bdb.h"
#include "store/segment.h"

/* Records per store_bdb_apply transaction. */
#define STORE_APPLY_BATCH 512

struct store_apply_stats {
    uint64_t applied;       /* records store_bdb_apply applied */
    uint64_t skipped;       /* records at or below their writer's applied seq */
    uint64_t segments;      /* segment files read */
    uint64_t segments_done; /* files not read: every record in them was applied before */
    uint64_t bytes;         /* bytes of whole frames read */
    uint64_t torn;          /* last segments whose tail was torn (left to their writer) */
    uint64_t held;          /* slots stopped at their limit with records after it */
};

/* How far a pass may go in each slot: the highest seq its writer has synced.  A record on
 * disk but not synced may still be cut back by a failed commit and its seq reused. */
/* Where the last passes stopped in each slot's segment, so that the next pass reads on
 * from there: without it, every pass would read a slot's growing last segment from its
 * start.  Kept by the caller across passes, zeroed at first. */
struct store_apply_cursor_slot {
    uint64_t file_seq; /* the segment (its first seq); 0: none */
    uint64_t offset;   /* the frame boundary reached */
    uint64_t expect;   /* the seq of the record there */
};

struct store_apply_cursor {
    struct store_apply_cursor_slot slot[256];
};

struct store_apply_limit {
    uint64_t (*max_seq)(uint16_t slot, void *arg);
    void *arg;
    struct store_apply_cursor *cursor; /* may be NULL: every segment read from its start */
};

/* One pass over the segments in dir: for each writer slot, in sequence order, every record
 * above the slot's applied seq and, with lim (may be NULL: no limit), at or below
 * lim->max_seq(slot) is applied, STORE_APPLY_BATCH to a transaction; the slot's records
 * after the limit are left for a later pass, and its later segments are not read.  A segment
 * that is not its slot's last and whose successor starts at or below applied seq + 1 is
 * not read.  A torn tail is accepted only in a slot's last segment (its writer may still
 * be writing it; the pass stops there and does not cut it).  Returns 0 with *st (may be
 * NULL; zeroed first) or a negative errno with err naming the file and, for bad data, the
 * offset: -EBADMSG for corruption, a torn tail in an earlier segment, a record of another
 * writer, a first record that is not the file's name, or a sequence gap (a record above
 * applied seq + 1 that is not the previous record + 1: records would be lost, so nothing
 * after the gap is applied); -ENOTSUP for a newer record version; the errno of a failed
 * call.  After bad data, the slot's records read before it are applied all the same; the
 * slots after it in the pass are not read.
 * Called by the store process on its timer and by store_recover. */
int store_apply_pass(struct store_bdb *db, const char *dir, const struct store_apply_limit *lim,
                     struct store_apply_stats *st, char *err, size_t errlen);

struct store_trim_stats {
    uint64_t deleted; /* segment files deleted */
    uint64_t bytes;   /* their size */
    uint64_t kept;    /* segment files left */
};

/* Reads every slot's applied seq, checkpoints Berkeley DB (store_bdb_checkpoint, which
 * syncs), then deletes each segment that is not its slot's last and whose records are all
 * at or below that seq (its successor starts at or below seq + 1), and fsyncs dir.
 * Returns 0 with *st (may be NULL) or a negative errno with err naming the call and file.
 * Called by the store process after apply passes. */
int store_trim(struct store_bdb *db, const char *dir, struct store_trim_stats *st, char *err,
               size_t errlen);

/* What a verification saw of one writer slot's log. */
struct store_slot_seen {
    uint16_t slot;
    uint64_t segments, records, bytes;
    uint64_t first_seq; /* where its log starts: its first record, or its first segment's
                           name when it holds none */
    uint64_t last_seq;  /* its last record's; 0: none */
    uint64_t next_seq;  /* what its writer appends next: after its last record, or its last
                           segment's name when that is empty */
    char first[STORE_SEGMENT_NAME_MAX]; /* its first segment's name */
};

/* Reads every segment of dir as recovery does (every frame whole with a matching CRC,
 * every record decoded, of the file's slot, the first one the file's name, in sequence
 * without a gap), without changing anything: no file is cut, no record applied.  A torn
 * tail in a slot's last segment is passed to warn (may be NULL), saying that the next start
 * cuts it.  slot (may be NULL) gets each slot's summary after its last segment; a negative
 * return stops the verification and is returned.  Returns 0 with *st (may be NULL; its
 * segments, bytes and torn), or, with err naming file and offset, -EBADMSG for corruption
 * (as store_apply_pass: a torn tail in a segment that is not its slot's last, a record of
 * another writer or out of sequence), -ENOTSUP for a newer record version, or the errno of
 * a failed call.  Called by store_check (tesserad --check-data). */
int store_log_verify(const char *dir, void (*warn)(const char *msg, void *arg),
                     int (*slot)(const struct store_slot_seen *s, void *arg), void *arg,
                     struct store_apply_stats *st, char *err, size_t errlen);

/* What recovery hands its caller.  Every member may be NULL.  A callback returns 0 to go
 * on or a negative value that stops recovery and is returned by it. */
struct store_recover_ops {
    /* A warning to log (a torn tail cut off, naming file and offset). */
    void (*warn)(const char *msg, void *arg);
    store_bdb_client_fn client;
    store_bdb_key_fn key;
    store_bdb_session_fn session; /* live sessions only: exp > now */
    store_bdb_account_fn account;
    int64_t now;                     /* seconds, as token exp; 0: time(NULL) */
    struct store_apply_stats *stats; /* the apply pass's, when not NULL */
};

/* Recovery at start, before any worker writes: reads every segment of dir (so corruption
 * anywhere, even in applied segments, is refused), cuts a torn tail off each slot's last
 * segment (ops->warn gets the message), applies every record not yet applied
 * (store_apply_pass), then hands every client, key, live session and account of db to
 * ops.  Returns 0 or a negative errno with err naming file and offset (corruption: the
 * caller exits 2) or the call that failed.  Called by the store process at start. */
int store_recover(struct store_bdb *db, const char *dir, const struct store_recover_ops *ops,
                  void *arg, char *err, size_t errlen);

#endif
