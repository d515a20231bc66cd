/*
 * The per-writer log writer (API in store/writer.h), run by a worker for its slot.
 * Invariants: sequence numbers are consecutive from 1 within a slot and never restart (a
 * reopened writer continues after the last record on disk: the last segment's name gives
 * its first sequence number and a scan of it the last); the batch is written only by
 * commit, and a commit that fails leaves the writer refusing everything until reopened, so
 * nothing after an unknown file tail is ever acknowledged.  Pure I/O: no libuv, no logging
 * (open hands the torn-tail warning to its caller).
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/writer.h"

int store_sync_parse(const char *name)
{
    static const char *const names[] = {
        [STORE_SYNC_BATCH] = "batch",
        [STORE_SYNC_ALWAYS] = "always",
        [STORE_SYNC_OFF] = "off",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

/* --- open: where the slot's sequence stands ------------------------------------------ */

/* What the scan of the last segment found. */
struct tail_scan {
    uint16_t slot;
    uint64_t expect; /* seq the next record must carry */
    uint64_t bad_offset;
    uint64_t bad_seq;
    unsigned bad_writer;
};

/* Every record of a slot's segment is the slot's and follows the one before: anything
 * else is not something this writer wrote. */
static int tail_on_record(const struct store_record *r, uint64_t offset, void *arg)
{
    struct tail_scan *t = arg;

    if (r->writer != t->slot || r->seq != t->expect) {
        t->bad_offset = offset;
        t->bad_seq = r->seq;
        t->bad_writer = r->writer;
        return -EBADMSG;
    }
    t->expect++;
    return 0;
}

static int tail_scan_failed(const char *path, int rc, const struct tail_scan *t,
                            const struct store_scan_result *res, char *err, size_t errlen)
{
    if (rc == -EBADMSG && res->end != STORE_SCAN_CORRUPT) /* our callback refused */
        snprintf(err, errlen,
                 "%s: corrupt log: the record at offset %" PRIu64 " is seq %" PRIu64
                 " of writer %u, expected seq %" PRIu64 " of writer %u",
                 path, t->bad_offset, t->bad_seq, t->bad_writer, t->expect, (unsigned)t->slot);
    else
        snprintf(err, errlen, "%s", res->msg);
    return rc;
}

/* Scans (and cuts) the slot's last segment; sets w->next_seq.  first_seq is its name's. */
static int writer_scan_last(struct store_writer *w, const char *dir, const char *name,
                            uint64_t first_seq, char *err, size_t errlen)
{
    char path[4096];
    struct tail_scan t = {.slot = w->slot, .expect = first_seq};
    struct store_scan_result res;
    int rc;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -ENAMETOOLONG;
    }
    memset(&res, 0, sizeof(res));
    rc = store_segment_scan(path, tail_on_record, &t, &res);
    if (rc < 0)
        return tail_scan_failed(path, rc, &t, &res, err, errlen);
    if (res.end == STORE_SCAN_TORN) {
        rc = store_segment_cut(path, &res);
        if (rc < 0) {
            snprintf(err, errlen, "%s", res.msg);
            return rc;
        }
        snprintf(w->warn, sizeof(w->warn), "%s", res.msg);
    }
    w->next_seq = t.expect;
    return 0;
}

/* Sets w->next_seq from the slot's last segment, cut so it ends on a frame boundary. */
static int writer_find_seq(struct store_writer *w, const char *dir, char *err, size_t errlen)
{
    struct store_segment_name *v = NULL, *last = NULL;
    size_t n = 0;
    int rc = store_segment_list(dir, &v, &n, err, errlen);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (v[i].slot == w->slot)
            last = &v[i];
    w->next_seq = 1;
    if (last != NULL)
        rc = writer_scan_last(w, dir, last->name, last->first_seq, err, errlen);
    free(v);
    return rc;
}

int store_writer_open(struct store_writer *w, const char *dir, unsigned slot, enum store_sync mode,
                      uint64_t segment_limit, char *err, size_t errlen)
{
    int rc;

    memset(w, 0, sizeof(*w));
    w->seg.fd = w->seg.dirfd = -1;
    if (slot > UINT16_MAX || (unsigned)mode > STORE_SYNC_OFF) {
        snprintf(err, errlen, "store writer: slot %u or sync mode %d out of range", slot,
                 (int)mode);
        return -EINVAL;
    }
    w->slot = (uint16_t)slot;
    w->mode = mode;
    rc = writer_find_seq(w, dir, err, errlen);
    if (rc < 0)
        return rc;
    rc = store_segment_open_append(&w->seg, dir, w->slot, w->next_seq,
                                   segment_limit ? segment_limit : STORE_WRITER_SEGMENT_LIMIT);
    if (rc < 0) {
        snprintf(err, errlen, "%s", w->seg.err);
        return rc;
    }
    msgpack_sbuffer_init(&w->batch);
    w->pending_seq = w->next_seq;
    w->open = true;
    return 0;
}

/* --- add and commit ------------------------------------------------------------------ */

int store_writer_add(struct store_writer *w, struct store_record *r)
{
    int rc;

    if (!w->open || w->failed)
        return -EIO;
    r->writer = w->slot;
    r->seq = w->next_seq;
    r->version = STORE_RECORD_VERSION;
    rc = store_record_encode(r, &w->batch);
    if (rc < 0)
        return rc;
    w->next_seq++;
    w->pending++;
    return 0;
}

size_t store_writer_pending(const struct store_writer *w)
{
    return w->pending;
}

static int writer_sync(struct store_writer *w)
{
    int rc = store_segment_sync(&w->seg);

    if (rc == 0)
        w->stats.fsyncs++;
    return rc;
}

static uint32_t frame_len(const char *p)
{
    const uint8_t *b = (const uint8_t *)p;

    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* STORE_SYNC_ALWAYS: each record written and synced before the next one. */
static int writer_commit_each(struct store_writer *w)
{
    size_t off = 0;

    for (size_t i = 0; i < w->pending; i++) {
        size_t len = STORE_FRAME_HEADER + frame_len(w->batch.data + off);
        int rc = store_segment_append(&w->seg, w->pending_seq + i, w->batch.data + off, len);

        if (rc == 0)
            rc = writer_sync(w);
        if (rc < 0)
            return rc;
        off += len;
    }
    return 0;
}

static int writer_commit_batch(struct store_writer *w)
{
    int rc = store_segment_append(&w->seg, w->pending_seq, w->batch.data, w->batch.size);

    if (rc == 0 && w->mode == STORE_SYNC_BATCH)
        rc = writer_sync(w);
    return rc;
}

static void writer_batch_clear(struct store_writer *w)
{
    msgpack_sbuffer_clear(&w->batch);
    w->pending = 0;
    w->pending_seq = w->next_seq;
}

/* Ends a commit or a write of the pending batch whose I/O returned rc. */
static int writer_done(struct store_writer *w, int rc)
{
    if (rc < 0) {
        /* The file's tail (and what the kernel kept of an unsynced write) is unknown:
         * only a rescan on reopen can say where the sequence stands. */
        w->failed = true;
        snprintf(w->err, sizeof(w->err), "%s", w->seg.err);
        writer_batch_clear(w);
        return rc;
    }
    w->stats.records += w->pending;
    w->stats.commits++;
    w->stats.bytes += w->batch.size;
    writer_batch_clear(w);
    return 0;
}

int store_writer_commit(struct store_writer *w)
{
    if (!w->open || w->failed)
        return -EIO;
    if (w->pending == 0)
        return 0;
    return writer_done(w, w->mode == STORE_SYNC_ALWAYS ? writer_commit_each(w)
                                                       : writer_commit_batch(w));
}

int store_writer_write(struct store_writer *w)
{
    if (!w->open || w->failed)
        return -EIO;
    if (w->pending == 0)
        return 0;
    return writer_done(w,
                       store_segment_append(&w->seg, w->pending_seq, w->batch.data, w->batch.size));
}

bool store_writer_may_rotate(const struct store_writer *w)
{
    return w->seg.size > 0 && w->seg.size >= w->seg.limit;
}

int store_writer_fd(const struct store_writer *w)
{
    return w->seg.fd;
}

uint64_t store_writer_written(const struct store_writer *w)
{
    return w->pending_seq - 1;
}

void store_writer_sync_failed(struct store_writer *w, int err)
{
    w->failed = true;
    snprintf(w->err, sizeof(w->err), "fdatasync(%s): %s", w->seg.name, strerror(err));
}

int store_writer_rotate(struct store_writer *w, uint64_t min_bytes)
{
    int rc;

    if (!w->open || w->failed)
        return -EIO;
    if (w->pending || w->seg.size < min_bytes || w->seg.size == 0)
        return 0;
    rc = store_segment_rotate(&w->seg, w->next_seq);
    if (rc < 0) {
        w->failed = true;
        snprintf(w->err, sizeof(w->err), "%s", w->seg.err);
    }
    return rc;
}

int store_writer_close(struct store_writer *w)
{
    int rc = 0;

    if (!w->open)
        return 0;
    rc = store_segment_close(&w->seg);
    if (rc < 0)
        snprintf(w->err, sizeof(w->err), "%s", w->seg.err);
    msgpack_sbuffer_destroy(&w->batch);
    w->pending = 0;
    w->open = false;
    return rc;
}
