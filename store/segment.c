/*
 * Log segment files (names and layout in store/segment.h).  Writing: the worker that owns
 * a slot appends batches of frames with one write(2) each, syncs once per loop turn, and
 * starts a new file when the current one has reached its size limit; a file never ends
 * inside a frame because of a failed write, since the partial write is cut back off.
 * Reading: recovery scans a file frame by frame; an unreadable frame ends the scan, and
 * whether anything valid follows it decides between a torn tail (cut off with a warning)
 * and corruption (an error naming file and offset).  Pure I/O: no libuv, no logging.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/segment.h"

#define SCAN_BUF (1u << 20) /* read window; holds many frames */
#define FRAME_MAX (STORE_FRAME_HEADER + STORE_RECORD_MAX)

/* --- names and listing --------------------------------------------------------------- */

static void segment_name_format(char *buf, uint16_t slot, uint64_t seq)
{
    snprintf(buf, STORE_SEGMENT_NAME_MAX, "w%u-%016" PRIx64 ".seg", (unsigned)slot, seq);
}

/* Accepts only the spelling segment_name_format() writes. */
static int segment_name_parse(const char *name, struct store_segment_name *out)
{
    char canon[STORE_SEGMENT_NAME_MAX];
    unsigned long slot;
    unsigned long long seq;
    char *end;

    if (name[0] != 'w' || name[1] < '0' || name[1] > '9')
        return -EINVAL;
    slot = strtoul(name + 1, &end, 10);
    if (slot > UINT16_MAX || *end != '-')
        return -EINVAL;
    seq = strtoull(end + 1, &end, 16);
    if (strcmp(end, ".seg") != 0)
        return -EINVAL;
    segment_name_format(canon, (uint16_t)slot, seq);
    if (strcmp(canon, name) != 0)
        return -EINVAL;
    out->slot = (uint16_t)slot;
    out->first_seq = seq;
    memcpy(out->name, canon, sizeof(canon));
    return 0;
}

static int segment_name_cmp(const void *a, const void *b)
{
    const struct store_segment_name *x = a, *y = b;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static int segment_list_read(DIR *d, struct store_segment_name **v, size_t *n)
{
    size_t cap = 0;
    struct dirent *e;

    for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
        struct store_segment_name s;

        if (segment_name_parse(e->d_name, &s) < 0)
            continue;
        if (*n == cap) {
            struct store_segment_name *bigger;

            cap = cap ? 2 * cap : 16;
            bigger = realloc(*v, cap * sizeof(**v));
            if (bigger == NULL)
                return -ENOMEM;
            *v = bigger;
        }
        (*v)[(*n)++] = s;
    }
    return -errno;
}

int store_segment_list(const char *dir, struct store_segment_name **out, size_t *n, char *err,
                       size_t errlen)
{
    struct store_segment_name *v = NULL;
    size_t count = 0;
    DIR *d = opendir(dir);
    int rc;

    if (d == NULL) {
        rc = -errno;
        snprintf(err, errlen, "opendir(%s): %s", dir, strerror(-rc));
        return rc;
    }
    rc = segment_list_read(d, &v, &count);
    closedir(d);
    if (rc < 0) {
        snprintf(err, errlen, "readdir(%s): %s", dir, strerror(-rc));
        free(v);
        return rc;
    }
    if (count > 0) /* qsort() must not see NULL */
        qsort(v, count, sizeof(*v), segment_name_cmp);
    *out = v;
    *n = count;
    return 0;
}

/* --- writing ------------------------------------------------------------------------- */

#define SEG_ERR(seg, ...) snprintf((seg)->err, sizeof((seg)->err), __VA_ARGS__)

/* Creates the file named seq and makes its name durable; seg changes only on success. */
static int segment_create(struct store_segment *seg, uint64_t seq)
{
    char name[STORE_SEGMENT_NAME_MAX];
    int fd, rc;

    segment_name_format(name, seg->slot, seq);
    fd = openat(seg->dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        rc = -errno;
        SEG_ERR(seg, "open(%s): %s", name, strerror(-rc));
        return rc;
    }
    if (fsync(seg->dirfd) == -1) {
        rc = -errno;
        SEG_ERR(seg, "fsync(directory of %s): %s", name, strerror(-rc));
        close(fd);
        return rc;
    }
    seg->fd = fd;
    seg->first_seq = seq;
    seg->size = 0;
    memcpy(seg->name, name, sizeof(name));
    return 0;
}

static int segment_reopen(struct store_segment *seg, const struct store_segment_name *last)
{
    struct stat st;
    int rc;

    seg->fd = openat(seg->dirfd, last->name, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (seg->fd == -1 || fstat(seg->fd, &st) == -1) {
        rc = -errno;
        SEG_ERR(seg, "%s(%s): %s", seg->fd == -1 ? "open" : "fstat", last->name, strerror(-rc));
        return rc;
    }
    seg->first_seq = last->first_seq;
    seg->size = (uint64_t)st.st_size;
    memcpy(seg->name, last->name, sizeof(seg->name));
    return 0;
}

static int segment_open_last(struct store_segment *seg, const char *dir, uint64_t next_seq)
{
    struct store_segment_name *v = NULL, *last = NULL;
    size_t n = 0;
    int rc = store_segment_list(dir, &v, &n, seg->err, sizeof(seg->err));

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (v[i].slot == seg->slot)
            last = &v[i];
    if (last == NULL) {
        rc = segment_create(seg, next_seq);
    } else if (last->first_seq > next_seq) {
        SEG_ERR(seg, "%s/%s starts after the next sequence number %" PRIu64, dir, last->name,
                next_seq);
        rc = -EINVAL;
    } else {
        rc = segment_reopen(seg, last);
    }
    free(v);
    return rc;
}

int store_segment_open_append(struct store_segment *seg, const char *dir, uint16_t slot,
                              uint64_t next_seq, uint64_t limit)
{
    int rc;

    memset(seg, 0, sizeof(*seg));
    seg->fd = -1;
    seg->slot = slot;
    seg->limit = limit;
    seg->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (seg->dirfd == -1) {
        rc = -errno;
        SEG_ERR(seg, "open(%s): %s", dir, strerror(-rc));
        return rc;
    }
    rc = segment_open_last(seg, dir, next_seq);
    if (rc < 0) {
        if (seg->fd != -1)
            close(seg->fd);
        close(seg->dirfd);
        seg->fd = seg->dirfd = -1;
    }
    return rc;
}

/* Closes the full file, synced so that every file but a slot's last is complete on disk,
 * and starts the next one. */
static int segment_rotate(struct store_segment *seg, uint64_t seq)
{
    int old = seg->fd, rc;

    if (fdatasync(old) == -1) {
        rc = -errno;
        SEG_ERR(seg, "fdatasync(%s): %s", seg->name, strerror(-rc));
        return rc;
    }
    rc = segment_create(seg, seq);
    if (rc == 0)
        close(old);
    return rc;
}

/* After a failed or partial write: cut what was written, so the file ends on a frame. */
static int segment_write_failed(struct store_segment *seg, int err, size_t written)
{
    if (written > 0 && ftruncate(seg->fd, (off_t)seg->size) == -1) {
        seg->failed = true;
        SEG_ERR(seg, "write(%s): %s, then ftruncate: %s", seg->name, strerror(err),
                strerror(errno));
    } else {
        SEG_ERR(seg, "write(%s): %s", seg->name, strerror(err));
    }
    return -err;
}

int store_segment_append(struct store_segment *seg, uint64_t first_seq, const void *frames,
                         size_t len)
{
    const uint8_t *p = frames;
    size_t done = 0;
    int rc;

    if (seg->failed) {
        SEG_ERR(seg, "%s: an earlier write could not be undone", seg->name);
        return -EIO;
    }
    if (seg->size > 0 && seg->size >= seg->limit) {
        rc = segment_rotate(seg, first_seq);
        if (rc < 0)
            return rc;
    }
    while (done < len) {
        ssize_t w = write(seg->fd, p + done, len - done);

        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return segment_write_failed(seg, w == 0 ? EIO : errno, done);
        done += (size_t)w;
    }
    seg->size += len;
    return 0;
}

int store_segment_rotate(struct store_segment *seg, uint64_t next_seq)
{
    if (seg->failed) {
        SEG_ERR(seg, "%s: an earlier write could not be undone", seg->name);
        return -EIO;
    }
    return seg->size ? segment_rotate(seg, next_seq) : 0;
}

int store_segment_sync(struct store_segment *seg)
{
    if (fdatasync(seg->fd) == -1) {
        int rc = -errno;

        SEG_ERR(seg, "fdatasync(%s): %s", seg->name, strerror(-rc));
        return rc;
    }
    return 0;
}

int store_segment_close(struct store_segment *seg)
{
    int rc = 0;

    if (seg->fd != -1 && close(seg->fd) == -1) {
        rc = -errno;
        SEG_ERR(seg, "close(%s): %s", seg->name, strerror(-rc));
    }
    if (seg->dirfd != -1)
        close(seg->dirfd);
    seg->fd = seg->dirfd = -1;
    return rc;
}

/* --- reading ------------------------------------------------------------------------- */

/* A window of the file, so that a frame is one pointer whatever its offset. */
struct scan_reader {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;    /* SCAN_BUF, or less for a smaller file */
    uint64_t base; /* file offset of buf[0] */
    size_t fill;
};

/* Points *p at the file's bytes from off, *got of them: up to FRAME_MAX, fewer at the end. */
static int scan_at(struct scan_reader *rd, uint64_t off, const uint8_t **p, size_t *got)
{
    uint64_t end = rd->size - off < FRAME_MAX ? rd->size : off + FRAME_MAX;

    if (off < rd->base || end > rd->base + rd->fill) {
        size_t want = rd->size - off < rd->cap ? (size_t)(rd->size - off) : rd->cap;

        rd->base = off;
        rd->fill = 0;
        while (rd->fill < want) {
            ssize_t r = pread(rd->fd, rd->buf + rd->fill, want - rd->fill, (off_t)(off + rd->fill));

            if (r == -1 && errno == EINTR)
                continue;
            if (r <= 0)
                return r == 0 ? -EIO : -errno; /* 0: the file shrank under us */
            rd->fill += (size_t)r;
        }
    }
    *p = rd->buf + (off - rd->base);
    *got = (size_t)(end - off);
    return 0;
}

/* The frame at off: 0 with its payload, -EAGAIN (past the end), -EBADMSG, or -errno. */
static int scan_frame(struct scan_reader *rd, uint64_t off, const uint8_t **payload, uint32_t *len)
{
    const uint8_t *p = NULL;
    size_t got = 0;
    int rc = scan_at(rd, off, &p, &got);

    if (rc == 0)
        rc = store_frame_check(p, got, len);
    if (rc == 0)
        *payload = p + STORE_FRAME_HEADER;
    return rc;
}

#define RES_MSG(res, ...) snprintf((res)->msg, sizeof((res)->msg), __VA_ARGS__)

/* Past a bad frame at bad: a valid frame anywhere after it means the damage is not a torn
 * write, which only ever leaves the last frame short or garbled.  (Bytes inside a torn
 * record that happen to form a frame with a matching CRC would give a false alarm, never a
 * silent loss.) */
static int scan_after_bad(struct scan_reader *rd, const char *path, uint64_t bad, int why,
                          struct store_scan_result *res)
{
    const char *what = why == -EAGAIN ? "incomplete frame" : "bad length or checksum";

    for (uint64_t k = bad + 1; rd->size - k > STORE_FRAME_HEADER; k++) {
        const uint8_t *payload = NULL;
        uint32_t len = 0;
        int rc = scan_frame(rd, k, &payload, &len);

        if (rc == 0) {
            res->end = STORE_SCAN_CORRUPT;
            RES_MSG(res,
                    "%s: corrupt log: %s at offset %" PRIu64 " with a valid frame at %" PRIu64
                    " after it",
                    path, what, bad, k);
            return -EBADMSG;
        }
        if (rc != -EAGAIN && rc != -EBADMSG) {
            RES_MSG(res, "pread(%s): %s", path, strerror(-rc));
            return rc;
        }
    }
    res->end = STORE_SCAN_TORN;
    RES_MSG(res, "%s: cutting a torn record off at offset %" PRIu64 " (%s, %" PRIu64 " bytes)",
            path, bad, what, rd->size - bad);
    return 0;
}

static int scan_decode_failed(const char *path, uint64_t off, int rc, struct store_scan_result *res)
{
    res->end = STORE_SCAN_CORRUPT;
    RES_MSG(res, "%s: the record at offset %" PRIu64 " %s", path, off,
            rc == -ENOTSUP ? "has a newer format version: upgrade tessera"
                           : "does not decode although its checksum matches");
    return rc == -ENOTSUP ? -ENOTSUP : -EBADMSG;
}

static int scan_frames(struct scan_reader *rd, const char *path, uint64_t off, store_scan_fn fn,
                       void *arg, struct store_scan_result *res)
{
    struct store_record rec;

    res->valid_end = off;
    while (off < rd->size) {
        const uint8_t *payload = NULL;
        uint32_t len = 0;
        int rc = scan_frame(rd, off, &payload, &len);

        if (rc == -EAGAIN || rc == -EBADMSG)
            return scan_after_bad(rd, path, off, rc, res);
        if (rc < 0) {
            RES_MSG(res, "pread(%s): %s", path, strerror(-rc));
            return rc;
        }
        rc = store_record_decode(payload, len, &rec);
        if (rc < 0)
            return scan_decode_failed(path, off, rc, res);
        res->records++;
        rc = fn(&rec, off, arg);
        if (rc < 0)
            return rc;
        off += STORE_FRAME_HEADER + len;
        res->valid_end = off;
    }
    return 0;
}

int store_segment_scan(const char *path, store_scan_fn fn, void *arg, struct store_scan_result *res)
{
    return store_segment_scan_from(path, 0, fn, arg, res);
}

int store_segment_scan_from(const char *path, uint64_t start, store_scan_fn fn, void *arg,
                            struct store_scan_result *res)
{
    struct scan_reader rd = {.fd = -1};
    struct stat st;
    int rc;

    memset(res, 0, sizeof(*res));
    rd.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (rd.fd == -1 || fstat(rd.fd, &st) == -1) {
        rc = -errno;
        RES_MSG(res, "%s(%s): %s", rd.fd == -1 ? "open" : "fstat", path, strerror(-rc));
        goto done;
    }
    rd.size = res->size = (uint64_t)st.st_size;
    rd.cap = rd.size < SCAN_BUF ? (size_t)rd.size + 1 : SCAN_BUF;
    rd.buf = malloc(rd.cap);
    if (rd.buf == NULL) {
        rc = -ENOMEM;
        RES_MSG(res, "%s: out of memory", path);
        goto done;
    }
    if (start > rd.size) {
        rc = -EINVAL;
        RES_MSG(res, "%s: shorter (%" PRIu64 " bytes) than where its reader stopped (%" PRIu64 ")",
                path, rd.size, start);
        goto done;
    }
    rc = scan_frames(&rd, path, start, fn, arg, res);
done:
    free(rd.buf);
    if (rd.fd != -1)
        close(rd.fd);
    return rc;
}

int store_segment_cut(const char *path, struct store_scan_result *res)
{
    const char *call = "open";
    int fd, rc = 0;

    if (res->end != STORE_SCAN_TORN)
        return -EINVAL;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd != -1) {
        call = "ftruncate";
        if (ftruncate(fd, (off_t)res->valid_end) == 0)
            call = fsync(fd) == 0 ? NULL : "fsync";
    }
    if (call != NULL) {
        rc = -errno;
        RES_MSG(res, "%s(%s) to cut it at %" PRIu64 ": %s", call, path, res->valid_end,
                strerror(-rc));
    }
    if (fd != -1)
        close(fd);
    return rc;
}
