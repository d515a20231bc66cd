/*
 * Log segments: the append-only files of framed records (store/record.h) that each worker
 * slot writes, and the reader that recovery and the store process run over them.
 *
 * A slot's log is a series of files DIR/w<slot>-<seq>.seg: slot in decimal without leading
 * zeros, seq the 16 lowercase hex digits of the first record's sequence number (e.g.
 * w3-00000000000004d2.seg).  A file ends on a frame boundary except after a crash or a
 * killed writer, when its last frame may be torn; the scanner tells that apart from
 * corruption earlier in the file, which it never skips.
 */
#ifndef STORE_SEGMENT_H
#define STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/record.h"

#define STORE_SEGMENT_NAME_MAX 32 /* "w65535-" + 16 hex digits + ".seg" + NUL fits */
#define STORE_SEGMENT_MSG_MAX 512

/* One slot's open segment.  Owned by one writer; not shared between threads. */
struct store_segment {
    int dirfd, fd;
    uint16_t slot;
    uint64_t first_seq; /* of the open file: its name */
    uint64_t size;      /* bytes in the open file, on a frame boundary */
    uint64_t limit;     /* a file this large is closed before the next append */
    bool failed;        /* a write could not be undone: the file's tail is unknown */
    char name[STORE_SEGMENT_NAME_MAX];
    char err[STORE_SEGMENT_MSG_MAX]; /* after a failure: what failed, naming call and file */
};

/* Opens slot's log in dir for appending: its last segment, or a new one named next_seq
 * (O_APPEND, 0600; the directory is fsynced after a file is created).  next_seq is the
 * sequence number of the next record; the last segment must already have been scanned and
 * cut (store_segment_cut) so that it ends on a frame boundary.  Returns 0, -EINVAL when
 * the last segment starts after next_seq, or -errno; on failure seg->err says why. */
int store_segment_open_append(struct store_segment *seg, const char *dir, uint16_t slot,
                              uint64_t next_seq, uint64_t limit);

/* Appends frames[0, len) (one or more whole frames, the first with sequence number
 * first_seq) with one write(2).  When the open file has reached the limit it is synced and
 * closed first, and the frames start a new file named first_seq.  A failed write is cut
 * back off so the file still ends on a frame boundary.  Returns 0 or -errno (seg->err). */
int store_segment_append(struct store_segment *seg, uint64_t first_seq, const void *frames,
                         size_t len);

/* Makes everything appended durable (fdatasync).  Returns 0 or -errno (seg->err). */
int store_segment_sync(struct store_segment *seg);
/* Syncs and closes a non-empty open file and starts the next, named next_seq, so the
 * store can delete the old one once it is applied.  0 (nothing to do for an empty file)
 * or -errno (seg->err). */
int store_segment_rotate(struct store_segment *seg, uint64_t next_seq);

/* Closes the files; does not sync.  Returns 0 or -errno (seg->err). */
int store_segment_close(struct store_segment *seg);

struct store_segment_name {
    uint16_t slot;
    uint64_t first_seq;
    char name[STORE_SEGMENT_NAME_MAX];
};

/* Lists dir's segments sorted by slot, then first sequence number, ignoring every other
 * file.  Sets *out to a malloc'ed array (NULL when empty) of *n entries.  Returns 0 or
 * -errno with a message in err[0, errlen). */
int store_segment_list(const char *dir, struct store_segment_name **out, size_t *n, char *err,
                       size_t errlen);

enum store_scan_end {
    STORE_SCAN_CLEAN,   /* the file ends on a frame boundary */
    STORE_SCAN_TORN,    /* a bad or incomplete frame with nothing valid after it */
    STORE_SCAN_CORRUPT, /* a bad frame with a valid one after it, or a record that does
                           not decode: never skipped */
};

struct store_scan_result {
    enum store_scan_end end;
    uint64_t records;                /* records passed to the callback */
    uint64_t valid_end;              /* the offset just after the last good frame */
    uint64_t size;                   /* of the file */
    char msg[STORE_SEGMENT_MSG_MAX]; /* TORN: the warning to log; errors: what failed */
};

/* Called with each good record in file order and the offset of its frame; a negative
 * return stops the scan and is returned by it. */
typedef int (*store_scan_fn)(const struct store_record *r, uint64_t offset, void *arg);

/* Reads the segment at path frame by frame, checking each length and CRC, decoding each
 * record and passing it to fn.  Returns 0 when the file was read to its end: res->end is
 * CLEAN or TORN (cut the file at res->valid_end with store_segment_cut; res->msg is the
 * warning).  Returns -EBADMSG for corruption (res->end CORRUPT, res->valid_end the offset
 * of the bad frame, res->msg naming file and offset), -ENOTSUP for a record of a newer
 * format version, fn's negative value, or -errno of a failed call (res->msg).  A crash can
 * tear only a slot's last segment (a full one is synced before the next is created), so a
 * caller treats TORN in any other segment as corruption. */
int store_segment_scan(const char *path, store_scan_fn fn, void *arg,
                       struct store_scan_result *res);
/* The same from byte offset start, which must be a frame boundary an earlier scan reached
 * (its valid_end): a reader that tails a growing file reads each frame once. */
int store_segment_scan_from(const char *path, uint64_t start, store_scan_fn fn, void *arg,
                            struct store_scan_result *res);

/* Cuts the torn tail a scan found off the file at path: truncates it to res->valid_end and
 * fsyncs it.  The caller logs res->msg as a warning.  Returns 0 or -errno (res->msg). */
int store_segment_cut(const char *path, struct store_scan_result *res);

#endif
