/*
 * `tesserad --check-data`: the log read as recovery reads it (store_log_verify: the
 * applier's own pass, dry), then Berkeley DB opened and read whole (store_bdb_verify),
 * then each writer's log held against what the store has applied.  Nothing in the log
 * directory changes: a torn tail is reported, not cut.  Opening Berkeley DB runs its normal
 * recovery, which may write to the store's own files, as every start does.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/applier.h"
#include "store/check.h"

struct check {
    struct store_check_stats *st;
    void (*warn)(const char *msg, void *arg);
    void *arg;
    char first[STORE_CHECK_WRITERS][STORE_SEGMENT_NAME_MAX]; /* each writer's first file */
};

static void on_warn(const char *msg, void *arg)
{
    struct check *c = arg;

    if (c->warn != NULL)
        c->warn(msg, c->arg);
}

static int on_slot(const struct store_slot_seen *s, void *arg)
{
    struct check *c = arg;
    struct store_check_stats *st = c->st;

    st->records += s->records;
    if (st->writers < STORE_CHECK_WRITERS) {
        st->writer[st->writers] = (struct store_check_writer){
            s->slot, s->segments, s->records, s->first_seq, s->last_seq, s->next_seq, 0,
        };
        memcpy(c->first[st->writers], s->first, sizeof(c->first[0]));
    }
    st->writers++;
    return 0;
}

/* Each writer's log against its applied seq: records between the two are lost (-EBADMSG);
 * a store ahead of its log (the log deleted or cut by hand), whose writer would reuse
 * applied seqs and see its records skipped, is a warning. */
static int writers_check(struct check *c, struct store_bdb *db, const char *log_dir, char *err,
                         size_t errlen)
{
    struct store_check_stats *st = c->st;
    char msg[512];

    for (size_t i = 0; i < st->writers && i < STORE_CHECK_WRITERS; i++) {
        struct store_check_writer *w = &st->writer[i];
        int rc = store_bdb_applied_seq(db, w->slot, &w->applied_seq);

        if (rc < 0) {
            snprintf(err, errlen, "%s", store_bdb_error(db));
            return rc;
        }
        if (w->first_seq > w->applied_seq + 1) {
            snprintf(err, errlen,
                     "%s/%s: sequence gap at offset 0: seq %" PRIu64
                     " but writer %u applied only up to %" PRIu64,
                     log_dir, c->first[i], w->first_seq, (unsigned)w->slot, w->applied_seq);
            return -EBADMSG;
        }
        if (w->applied_seq >= w->next_seq) {
            snprintf(msg, sizeof(msg),
                     "writer %u: the store applied up to seq %" PRIu64 " but its log in %s goes on"
                     " at %" PRIu64 ": its next records would be skipped",
                     (unsigned)w->slot, w->applied_seq, log_dir, w->next_seq);
            on_warn(msg, c);
        }
    }
    return 0;
}

static int store_part_check(struct check *c, const char *log_dir, const char *db_dir, char *err,
                            size_t errlen)
{
    struct store_check_stats *st = c->st;
    struct store_bdb_counts n;
    struct store_bdb *db;
    int rc = store_bdb_open(db_dir, &db, err, errlen);

    if (rc < 0)
        return rc;
    rc = store_bdb_verify(db, (int64_t)time(NULL), &n);
    if (rc < 0) {
        snprintf(err, errlen, "%s", store_bdb_error(db));
        goto done;
    }
    st->clients = n.clients;
    st->tombstones = n.tombstones;
    st->sessions = n.sessions;
    st->sessions_live = n.sessions_live;
    st->accounts = n.accounts;
    st->keys = n.keys;
    st->clock = n.clock;
    rc = writers_check(c, db, log_dir, err, errlen);
done:
    store_bdb_close(db);
    return rc;
}

int store_check(const char *log_dir, const char *db_dir, struct store_check_stats *st,
                void (*warn)(const char *msg, void *arg), void *arg, char *err, size_t errlen)
{
    struct check c = {.st = st, .warn = warn, .arg = arg};
    struct store_apply_stats ls;
    int rc;

    memset(st, 0, sizeof(*st));
    rc = store_log_verify(log_dir, on_warn, on_slot, &c, &ls, err, errlen);
    if (rc < 0)
        return rc;
    st->segments = ls.segments;
    st->bytes = ls.bytes;
    st->torn = ls.torn;
    return store_part_check(&c, log_dir, db_dir, err, errlen);
}
