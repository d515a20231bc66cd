/*
 * The store process's work on the log: apply passes (segments to Berkeley DB, a batch per
 * transaction), trimming (deleting segments that are applied and checkpointed) and
 * recovery at start.  Run by the store process only, single-threaded, while the workers
 * append to their slots' last segments.
 * Invariants: a slot's records are applied in sequence order without a gap, none above
 * the seq its writer has synced (the limit the caller passes); a slot's last segment is
 * never cut by a pass (its writer owns the tail) nor deleted by a trim (its writer reopens
 * it); a segment is deleted only when every record in it is at or below the applied seq
 * read before the checkpoint that made it durable.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/applier.h"
#include "store/segment.h"

/* One apply pass's state. */
struct pass {
    struct store_bdb *db;
    const char *dir;
    struct store_apply_stats *st;
    struct store_record *batch; /* STORE_APPLY_BATCH of them */
    size_t n;
    bool verify; /* read every segment, even those applied (recovery) */
    bool cut;    /* cut a torn tail off a slot's last segment (recovery) */
    bool dry;    /* apply nothing; db is NULL (store_log_verify) */
    const struct store_apply_limit *lim;
    void (*warn)(const char *msg, void *arg);
    void *warn_arg;
    int (*on_slot)(const struct store_slot_seen *s, void *arg); /* dry passes */
    struct store_slot_seen seen;
    /* the slot and file being read */
    uint16_t slot;
    uint64_t applied; /* the slot's applied seq when the pass reached it */
    uint64_t expect;  /* the seq the next record must have; 0: none read yet */
    uint64_t limit;   /* the slot's highest seq this pass may apply */
    bool held;        /* the scan stopped at a record above the limit */
    const struct store_segment_name *file;
    bool file_started;
    char path[4096];
    char *err;
    size_t errlen;
    bool err_set;
};

static int pass_fail(struct pass *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pass_fail(struct pass *p, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    p->err_set = true;
    return rc;
}

static int pass_flush(struct pass *p)
{
    int rc;

    if (p->n == 0)
        return 0;
    rc = store_bdb_apply(p->db, p->batch, p->n);
    if (rc < 0)
        return pass_fail(p, rc, "applying records of %s: %s", p->path, store_bdb_error(p->db));
    p->st->applied += (uint64_t)rc;
    p->st->skipped += p->n - (size_t)rc;
    p->n = 0;
    return 0;
}

/* Checks that r belongs where it is: its slot, the file's first seq, no gap. */
static int record_check(struct pass *p, const struct store_record *r, uint64_t off)
{
    if (r->writer != p->slot)
        return pass_fail(p, -EBADMSG, "%s: the record at offset %" PRIu64 " is of writer %u",
                         p->path, off, (unsigned)r->writer);
    if (!p->file_started && r->seq != p->file->first_seq)
        return pass_fail(p, -EBADMSG,
                         "%s: the first record (offset %" PRIu64 ") has seq %" PRIu64
                         ", not the file's name",
                         p->path, off, r->seq);
    if (p->expect != 0 && r->seq != p->expect)
        return pass_fail(p, -EBADMSG,
                         "%s: sequence gap at offset %" PRIu64 ": seq %" PRIu64 " where %" PRIu64
                         " was expected",
                         p->path, off, r->seq, p->expect);
    if (p->expect == 0 && !p->dry && r->seq > p->applied + 1)
        return pass_fail(p, -EBADMSG,
                         "%s: sequence gap at offset %" PRIu64 ": seq %" PRIu64
                         " but writer %u applied only up to %" PRIu64,
                         p->path, off, r->seq, (unsigned)p->slot, p->applied);
    return 0;
}

static int on_record(const struct store_record *r, uint64_t off, void *arg)
{
    struct pass *p = arg;
    int rc;

    if (r->seq > p->limit) { /* not synced yet: maybe cut back and its seq reused */
        p->held = true;
        return -ECANCELED;
    }
    rc = record_check(p, r, off);
    if (rc < 0)
        return rc;
    p->file_started = true;
    p->expect = r->seq + 1;
    if (p->seen.records++ == 0)
        p->seen.first_seq = r->seq;
    p->seen.last_seq = r->seq;
    p->seen.next_seq = r->seq + 1;
    if (p->dry)
        return 0;
    if (r->seq <= p->applied) {
        p->st->skipped++;
        return 0;
    }
    p->batch[p->n++] = *r;
    return p->n == STORE_APPLY_BATCH ? pass_flush(p) : 0;
}

/* The tail of a slot's last segment: left alone by a pass, cut by recovery. */
static int last_torn(struct pass *p, struct store_scan_result *res)
{
    char msg[sizeof(p->path) + 128];
    int rc;

    p->st->torn++;
    if (p->dry && p->warn != NULL) {
        snprintf(msg, sizeof(msg),
                 "%s: a torn record at offset %" PRIu64 " (%" PRIu64
                 " bytes), which the next start cuts off",
                 p->path, res->valid_end, res->size - res->valid_end);
        p->warn(msg, p->warn_arg);
    }
    if (!p->cut)
        return 0;
    rc = store_segment_cut(p->path, res);
    if (rc < 0)
        return pass_fail(p, rc, "%s", res->msg);
    if (p->warn != NULL)
        p->warn(res->msg, p->warn_arg);
    return 0;
}

static int file_apply(struct pass *p, const struct store_segment_name *f, bool last)
{
    struct store_apply_cursor *c = p->verify || p->lim == NULL ? NULL : p->lim->cursor;
    struct store_apply_cursor_slot *cs = c ? &c->slot[p->slot % 256] : NULL;
    struct store_scan_result res;
    uint64_t start = 0;
    int rc;

    snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, f->name);
    p->file = f;
    p->file_started = false;
    if (f->first_seq > p->seen.next_seq) /* an empty last segment names the next seq */
        p->seen.next_seq = f->first_seq;
    if (cs && cs->file_seq == f->first_seq && cs->offset) {
        start = cs->offset;
        p->expect = cs->expect;
        p->file_started = true;
    }
    rc = store_segment_scan_from(p->path, start, on_record, p, &res);
    if (rc < 0 && !p->held)
        return p->err_set ? rc : pass_fail(p, rc, "%s", res.msg);
    if (cs) {
        cs->file_seq = f->first_seq;
        cs->offset = res.valid_end;
        cs->expect = p->expect;
    }
    p->st->segments++;
    p->st->bytes += res.valid_end - start;
    p->seen.segments++;
    p->seen.bytes += res.valid_end;
    if (p->held || res.end != STORE_SCAN_TORN)
        return 0;
    if (last)
        return last_torn(p, &res);
    return pass_fail(p, -EBADMSG,
                     "%s: corrupt log: torn record at offset %" PRIu64
                     " in a segment that is not its writer's last",
                     p->path, res.valid_end);
}

/* After bad data, the good records read before it are still applied: they are genuine,
 * and the database as current as it can be.  A failure to do so is not reported over the
 * bad data's message. */
static int slot_failed(struct pass *p, int rc)
{
    int applied;

    if ((rc == -EBADMSG || rc == -ENOTSUP) && p->n > 0) {
        applied = store_bdb_apply(p->db, p->batch, p->n);
        if (applied >= 0) {
            p->st->applied += (uint64_t)applied;
            p->st->skipped += p->n - (size_t)applied;
        }
    }
    p->n = 0;
    return rc;
}

/* The segments v[0, n) of one slot, in sequence order. */
static int slot_apply(struct pass *p, const struct store_segment_name *v, size_t n)
{
    int rc;

    p->slot = v[0].slot;
    p->expect = 0;
    p->held = false;
    p->limit = p->lim ? p->lim->max_seq(p->slot, p->lim->arg) : UINT64_MAX;
    memset(&p->seen, 0, sizeof(p->seen));
    p->seen.slot = p->slot;
    p->seen.first_seq = v[0].first_seq;
    memcpy(p->seen.first, v[0].name, sizeof(p->seen.first));
    rc = p->dry ? 0 : store_bdb_applied_seq(p->db, p->slot, &p->applied);
    if (rc < 0)
        return pass_fail(p, rc, "reading the applied seq of writer %u: %s", (unsigned)p->slot,
                         store_bdb_error(p->db));
    for (size_t i = 0; i < n && !p->held; i++) {
        if (!p->verify && i + 1 < n && v[i + 1].first_seq <= p->applied + 1) {
            p->st->segments_done++;
            p->expect = v[i + 1].first_seq;
            continue;
        }
        p->held = v[i].first_seq > p->limit; /* nothing in it may be applied yet */
        rc = p->held ? 0 : file_apply(p, &v[i], i + 1 == n);
        if (rc < 0)
            return slot_failed(p, rc);
    }
    p->st->held += p->held;
    if (p->on_slot != NULL && (rc = p->on_slot(&p->seen, p->warn_arg)) < 0)
        return rc;
    return pass_flush(p);
}

/* How many entries from v[i] on are of v[i]'s slot. */
static size_t slot_run(const struct store_segment_name *v, size_t n, size_t i)
{
    size_t j = i;

    while (j < n && v[j].slot == v[i].slot)
        j++;
    return j - i;
}

static int pass_run(struct pass *p, char *err, size_t errlen)
{
    struct store_segment_name *v = NULL;
    size_t n = 0;
    int rc;

    p->err = err;
    p->errlen = errlen;
    memset(p->st, 0, sizeof(*p->st));
    rc = store_segment_list(p->dir, &v, &n, err, errlen);
    if (rc < 0)
        return rc;
    p->batch = n && !p->dry ? malloc(STORE_APPLY_BATCH * sizeof(*p->batch)) : NULL;
    if (n && !p->dry && p->batch == NULL) {
        rc = pass_fail(p, -ENOMEM, "apply pass over %s: out of memory", p->dir);
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0;) {
        size_t k = slot_run(v, n, i);

        rc = slot_apply(p, v + i, k);
        i += k;
    }
done:
    free(p->batch);
    free(v);
    return rc;
}

int store_apply_pass(struct store_bdb *db, const char *dir, const struct store_apply_limit *lim,
                     struct store_apply_stats *st, char *err, size_t errlen)
{
    struct store_apply_stats mine;
    struct pass p = {.db = db, .dir = dir, .lim = lim, .st = st ? st : &mine};

    return pass_run(&p, err, errlen);
}

int store_log_verify(const char *dir, void (*warn)(const char *msg, void *arg),
                     int (*slot)(const struct store_slot_seen *s, void *arg), void *arg,
                     struct store_apply_stats *st, char *err, size_t errlen)
{
    struct store_apply_stats mine;
    struct pass p = {.dir = dir, .st = st ? st : &mine, .verify = true, .dry = true};

    p.warn = warn;
    p.on_slot = slot;
    p.warn_arg = arg;
    return pass_run(&p, err, errlen);
}

/* --- trimming ------------------------------------------------------------------------ */

/* Marks in del[] the segments that are not their slot's last and whose successor starts at
 * or below the slot's applied seq + 1. */
static int trim_mark(struct store_bdb *db, const struct store_segment_name *v, size_t n, bool *del,
                     char *err, size_t errlen)
{
    uint64_t applied = 0;

    for (size_t i = 0; i < n; i++) {
        if (i == 0 || v[i].slot != v[i - 1].slot) {
            int rc = store_bdb_applied_seq(db, v[i].slot, &applied);

            if (rc < 0) {
                snprintf(err, errlen, "reading the applied seq of writer %u: %s",
                         (unsigned)v[i].slot, store_bdb_error(db));
                return rc;
            }
        }
        del[i] = i + 1 < n && v[i + 1].slot == v[i].slot && v[i + 1].first_seq <= applied + 1;
    }
    return 0;
}

static int trim_delete(int dirfd, const struct store_segment_name *v, size_t n, const bool *del,
                       struct store_trim_stats *st, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        struct stat sb;

        if (!del[i]) {
            st->kept++;
            continue;
        }
        if (fstatat(dirfd, v[i].name, &sb, 0) == 0)
            st->bytes += (uint64_t)sb.st_size;
        if (unlinkat(dirfd, v[i].name, 0) == -1) {
            int rc = -errno;

            snprintf(err, errlen, "unlink(%s): %s", v[i].name, strerror(-rc));
            return rc;
        }
        st->deleted++;
    }
    if (st->deleted && fsync(dirfd) == -1) {
        int rc = -errno;

        snprintf(err, errlen, "fsync(directory): %s", strerror(-rc));
        return rc;
    }
    return 0;
}

int store_trim(struct store_bdb *db, const char *dir, struct store_trim_stats *st, char *err,
               size_t errlen)
{
    struct store_trim_stats mine;
    struct store_segment_name *v = NULL;
    bool *del = NULL;
    size_t n = 0;
    int dirfd = -1, rc;

    st = st ? st : &mine;
    memset(st, 0, sizeof(*st));
    rc = store_segment_list(dir, &v, &n, err, errlen);
    if (rc < 0 || n == 0)
        return rc;
    del = calloc(n, sizeof(*del));
    if (del == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "trimming %s: out of memory", dir);
        goto done;
    }
    rc = trim_mark(db, v, n, del, err, errlen);
    if (rc < 0)
        goto done;
    /* Only now is what was read above durable: the order is the rule of bdb.h. */
    rc = store_bdb_checkpoint(db);
    if (rc < 0) {
        snprintf(err, errlen, "checkpoint: %s", store_bdb_error(db));
        goto done;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd == -1) {
        rc = -errno;
        snprintf(err, errlen, "open(%s): %s", dir, strerror(-rc));
        goto done;
    }
    rc = trim_delete(dirfd, v, n, del, st, err, errlen);
done:
    if (dirfd != -1)
        close(dirfd);
    free(del);
    free(v);
    return rc;
}

/* --- recovery ------------------------------------------------------------------------ */

static int recover_load(struct store_bdb *db, const struct store_recover_ops *ops, void *arg,
                        char *err, size_t errlen)
{
    int64_t now = ops->now ? ops->now : (int64_t)time(NULL);
    const char *what = "clients";
    int rc = 0;

    if (ops->client != NULL)
        rc = store_bdb_each_client(db, ops->client, arg);
    if (rc == 0 && ops->key != NULL) {
        what = "keys";
        rc = store_bdb_each_key(db, ops->key, arg);
    }
    if (rc == 0 && ops->session != NULL) {
        what = "sessions";
        rc = store_bdb_each_live_session(db, now, ops->session, arg);
    }
    if (rc == 0 && ops->account != NULL) {
        what = "accounts";
        rc = store_bdb_each_account(db, ops->account, arg);
    }
    /* rc is the callback's own value or the database's errno: name both possibilities */
    if (rc < 0)
        snprintf(err, errlen, "loading the %s stopped (%s); last database error: %s", what,
                 strerror(-rc), store_bdb_error(db));
    return rc;
}

int store_recover(struct store_bdb *db, const char *dir, const struct store_recover_ops *ops,
                  void *arg, char *err, size_t errlen)
{
    static const struct store_recover_ops none;
    struct store_apply_stats mine;
    struct pass p = {.db = db, .dir = dir, .verify = true, .cut = true};
    int rc;

    ops = ops ? ops : &none;
    p.st = ops->stats ? ops->stats : &mine;
    p.warn = ops->warn;
    p.warn_arg = arg;
    rc = pass_run(&p, err, errlen);
    if (rc < 0)
        return rc;
    return recover_load(db, ops, arg, err, errlen);
}
