/*
 * The per-writer log writer: one worker slot's side of the durability log.  It continues
 * the slot's sequence from the records on disk, collects the records of a loop turn into
 * one pending batch, and commits the batch with one write and (per store.sync) one
 * fdatasync.  A record may be acknowledged only after the commit that holds it returned 0.
 * Owned by one thread of one process; a slot has one writer at a time.
 */
#ifndef STORE_WRITER_H
#define STORE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack/sbuffer.h>

#include "store/record.h"
#include "store/segment.h"

#define STORE_WRITER_SEGMENT_LIMIT (64u << 20) /* default size of a full segment file */

enum store_sync {
    STORE_SYNC_BATCH = 0, /* one fdatasync per commit (the default) */
    STORE_SYNC_ALWAYS,    /* one fdatasync per record: each written and synced alone */
    STORE_SYNC_OFF,       /* no fdatasync: a power cut loses acknowledged records (unsafe,
                             benchmarks only); a killed process loses nothing */
};

/* For /metrics. */
struct store_writer_stats {
    uint64_t records; /* committed */
    uint64_t commits; /* commits that wrote at least one record */
    uint64_t bytes;   /* framed bytes written */
    uint64_t fsyncs;  /* fdatasync calls made by commits (a rotation's sync not counted) */
};

struct store_writer {
    struct store_segment seg;
    enum store_sync mode;
    uint16_t slot;
    bool open;
    bool failed;          /* a commit failed: unusable until closed and opened again */
    uint64_t next_seq;    /* given to the next record added */
    uint64_t pending_seq; /* seq of the first pending record */
    size_t pending;       /* records in batch */
    msgpack_sbuffer batch;
    struct store_writer_stats stats;
    char err[STORE_SEGMENT_MSG_MAX];  /* after a failure: what failed */
    char warn[STORE_SEGMENT_MSG_MAX]; /* after open: the torn tail cut off, else "" */
};

/* "batch", "always" or "off" to its enum store_sync, or -EINVAL.  Called by the config. */
int store_sync_parse(const char *name);

/* Opens slot's log in dir (which must exist) for appending: scans the slot's last segment,
 * cuts a torn tail off it (w->warn then holds the warning, for the caller to log), and
 * continues the sequence after its last record (a new slot starts at 1).  segment_limit 0
 * means STORE_WRITER_SEGMENT_LIMIT.  Returns 0, or -errno with err[0, errlen) saying why:
 * -EBADMSG for corruption (naming file and offset; a record of another slot or out of
 * sequence counts as corruption), -ENOTSUP for a newer record format, -EINVAL for a slot
 * above 65535 or an unknown mode.  On failure nothing needs closing.  Called by a worker
 * at start (and after a failed commit, by its replacement). */
int store_writer_open(struct store_writer *w, const char *dir, unsigned slot, enum store_sync mode,
                      uint64_t segment_limit, char *err, size_t errlen);

/* Adds r to the pending batch (nothing is written): sets r->writer to the slot, r->seq to
 * the next sequence number and r->version, then encodes it.  Returns 0 with the record's
 * sequence number in r->seq; -EINVAL for a record store_record_encode refuses (the
 * sequence number is then not used), -ENOMEM, or -EIO when the writer has failed. */
int store_writer_add(struct store_writer *w, struct store_record *r);

/* Writes the pending batch and makes it durable per the mode: BATCH one write and one
 * fdatasync; ALWAYS one write and one fdatasync per record; OFF one write.  Returns 0 when
 * every pending record is written (and synced): the caller may acknowledge them all.
 * Returns -errno (w->err) otherwise: none of the pending records may be acknowledged
 * (some may be on disk anyway, and replayed; that is harmless), the batch is dropped, and
 * the writer is failed: add and commit return -EIO until it is closed and opened again,
 * which rescans the file and continues after whatever reached it.  Nothing pending: 0. */
int store_writer_commit(struct store_writer *w);

/* Starts a new segment when nothing is pending and the open one holds at least min_bytes,
 * so that, once everything in it is applied, the store can delete it (it never deletes a
 * slot's last segment).  Called by a writer that knows its records are applied.  0, or
 * -errno (w->err) leaving the writer failed, as a failed commit does. */
int store_writer_rotate(struct store_writer *w, uint64_t min_bytes);

/* The commit in two halves, for a writer that syncs on another thread so its own thread
 * goes on serving meanwhile (BATCH mode).  store_writer_write writes the pending batch with
 * one write and no sync; 0 (the records are in the file, not yet durable) or -errno (the
 * writer has failed, as after a failed commit).  It may start a new segment (syncing the
 * full one first) unless store_writer_may_rotate says otherwise: a caller with a sync in
 * flight on the open file waits for it before writing such a batch.  store_writer_fd is
 * the file to fdatasync — from any thread — to make every record written so far durable;
 * once that returns 0, every record up to the highest sequence written before the call may
 * be acknowledged (store_writer_written). */
int store_writer_write(struct store_writer *w);
/* Whether the next write would close the open file (it reached the segment size). */
bool store_writer_may_rotate(const struct store_writer *w);
int store_writer_fd(const struct store_writer *w);
/* The highest sequence number written (0: none). */
uint64_t store_writer_written(const struct store_writer *w);
/* A sync made on another thread failed: the writer is failed, as after a failed commit. */
void store_writer_sync_failed(struct store_writer *w, int err);

/* Records added and not yet committed. */
size_t store_writer_pending(const struct store_writer *w);

/* Closes the files and drops any pending records (they were never acknowledged); does not
 * sync.  Safe on a writer that failed or was never opened successfully (zeroed).  Returns 0
 * or -errno (w->err). */
int store_writer_close(struct store_writer *w);

#endif
