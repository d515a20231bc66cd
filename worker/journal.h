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

#include "proto/ctx.h"
#include "shm/region.h"
#include "store/writer.h"

struct worker_journal {
    struct store_writer writer;
    struct proto_journal ops; /* what handlers call; ops.arg is this journal */
    struct shm_region *region;
    struct store_record rec; /* scratch: records are large */
};

/* Opens the log of slot in log_dir (cutting a torn tail, continuing the slot's sequence)
 * (segments of segment_bytes, 0: the default) and publishes the slot's durable sequence.  0, or a
 * negative errno with the reason logged (a corrupt segment: the caller exits 2). */
int worker_journal_open(struct worker_journal *j, const char *log_dir, unsigned slot,
                        enum store_sync mode, uint64_t segment_bytes, struct shm_region *r);
/* Records reported since the last commit. */
size_t worker_journal_pending(const struct worker_journal *j);
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
