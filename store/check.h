/*
 * Checking a data directory for `tesserad --check-data`: the log segments and the Berkeley
 * DB store read whole, as recovery would, with nothing in the log changed.  A library
 * call: the caller (master/main.c) prints the stats and exits.
 */
#ifndef STORE_CHECK_H
#define STORE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define STORE_CHECK_WRITERS 256 /* SHM_TABLE_OWNERS: every owner slot may write a log */

/* One writer slot: its log, and how far Berkeley DB has applied it. */
struct store_check_writer {
    uint16_t slot;
    uint64_t segments, records;
    uint64_t first_seq;   /* where its log starts (store_slot_seen) */
    uint64_t last_seq;    /* its last record's; 0: none */
    uint64_t next_seq;    /* the seq it appends next */
    uint64_t applied_seq; /* Berkeley DB's applied seq of the writer */
};

struct store_check_stats {
    /* the log */
    uint64_t segments, records, bytes; /* bytes of whole frames */
    uint64_t torn;                     /* last segments with a torn tail (warned about) */
    /* Berkeley DB */
    uint64_t clients, tombstones; /* tombstones: deleted clients kept for a while */
    uint64_t sessions;            /* every stored session */
    uint64_t sessions_live;       /* unexpired, unrevoked, of its client's generation */
    uint64_t accounts, keys;
    uint64_t clock; /* the highest client version stored (store_bdb_clock) */
    /* the writer slots with segments, in slot order; those past STORE_CHECK_WRITERS are
     * counted, not listed */
    size_t writers;
    struct store_check_writer writer[STORE_CHECK_WRITERS];
};

/* Verifies the data directory's log (log_dir) and store (db_dir) without changing anything
 * in log_dir: every segment of every slot read frame by frame (store_log_verify), then
 * the Berkeley DB environment opened (store_bdb_open, which runs normal recovery) and every
 * database read and decoded (store_bdb_verify), then each slot's log checked against its
 * applied seq: a log that starts after applied seq + 1 has lost records.  A torn tail in a
 * slot's last segment (the next start cuts it) and a store that has applied seqs its
 * writer would hand out again (applied seq >= the writer's next seq) go to warn (may be
 * NULL) with arg.  Returns 0 with *st (zeroed
 * first), or a negative errno with err naming the file and, for the log, the byte offset:
 * -EBADMSG for corruption or a gap, -ENOTSUP for a record of a newer version, -EIO (or the
 * call's errno) for an unreadable database. */
int store_check(const char *log_dir, const char *db_dir, struct store_check_stats *st,
                void (*warn)(const char *msg, void *arg), void *arg, char *err, size_t errlen);

#endif
