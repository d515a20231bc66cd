/*
 * The journal a worker hands its handlers (struct proto_journal): each reported change
 * becomes one durability record added to the worker's log writer (store/writer.h), and
 * the loop turn's records are committed together (worker_journal_commit) before any
 * response that reports them is sent.  The master uses it too, with its own writer slot,
 * for the changes it makes before forking (--dev's demo clients).
 */
#ifndef WORKER_JOURNAL_H
#define WORKER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/ctx.h"
#include "shm/region.h"
#include "store/writer.h"

/* Syncs that may run at once: a record written while one runs need not wait for it to end
 * before its own sync starts (fdatasync makes durable what was written before the call,
 * whatever other calls are doing), which shortens what a response waits for the disk. */
#define WORKER_JOURNAL_SYNCS 2

/* Called on the loop when the durable sequence moved (status 0), or when a sync failed
 * (status < 0: nothing unsynced may be acknowledged; the worker must stop). */
typedef void (*worker_journal_cb)(void *arg, int status);

struct worker_journal {
    struct store_writer writer;
    struct proto_journal ops; /* what handlers call; ops.arg is this journal */
    struct shm_region *region;
    struct store_record rec; /* scratch: records are large */
    /* the asynchronous group commit (worker_journal_start) */
    uv_loop_t *loop;
    struct worker_journal_sync {
        uv_work_t work;
        struct worker_journal *j;
        bool busy;
        int fd, err;
        uint64_t upto; /* what this sync makes durable */
    } sync[WORKER_JOURNAL_SYNCS];
    unsigned syncing;    /* syncs running on the thread pool */
    uint64_t sync_begun; /* the highest upto of a sync started */
    uint64_t durable;    /* every record up to here may be acknowledged */
    worker_journal_cb cb;
    void *cb_arg;
};

/* Opens the log of slot in log_dir (cutting a torn tail, continuing the slot's sequence)
 * (segments of segment_bytes, 0: the default) and publishes the slot's durable sequence.  0, or a
 * negative errno with the reason logged (a corrupt segment: the caller exits 2). */
int worker_journal_open(struct worker_journal *j, const char *log_dir, unsigned slot,
                        enum store_sync mode, uint64_t segment_bytes, struct shm_region *r);
/* Records reported since the last commit. */
size_t worker_journal_pending(const struct worker_journal *j);
/* The sequence number of the last record reported: what a response reporting it waits
 * for worker_journal_durable() to reach. */
uint64_t worker_journal_last(const struct worker_journal *j);
uint64_t worker_journal_durable(const struct worker_journal *j);

/* Turns on the asynchronous group commit on loop: worker_journal_flush then writes on the
 * loop's thread and leaves the fdatasync to libuv's thread pool, so the worker goes on
 * serving while the disk works; cb says when records became durable. */
void worker_journal_start(struct worker_journal *j, uv_loop_t *loop, worker_journal_cb cb,
                          void *arg);
/* Once per loop turn: writes the records reported since the last call with one write and,
 * unless a sync is already running (the next one will carry them), starts their sync.
 * store.sync = always: writes and syncs each record now; off: only writes.  In those two
 * modes the durable sequence moves at once (check worker_journal_durable after the call).
 * 0, or < 0 (logged): the log has failed, nothing unsynced may be acknowledged. */
int worker_journal_flush(struct worker_journal *j);
/* Writes and syncs the pending records (one write, one fdatasync in batch mode), then
 * publishes the slot's durable sequence for the store.  0: every pending record may be
 * acknowledged.  < 0 (logged): none may; the journal refuses everything until reopened. */
int worker_journal_commit(struct worker_journal *j);
/* When the store has applied every record of the open segment and it holds at least
 * min_bytes, starts a new one so the store can delete it: without this a quiet server
 * would keep up to store.segment_size of applied log per worker.  0 or < 0 (logged). */
int worker_journal_rotate_applied(struct worker_journal *j, uint64_t min_bytes);
void worker_journal_close(struct worker_journal *j);

#endif
