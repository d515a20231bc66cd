/*
 * The store process (see daemon.h).  Its loop is libuv's, like a worker's: a timer for
 * apply passes (every store.apply_interval_ms, applying only what writers have synced —
 * shm/logstat.h), a slower one for trimming applied segments and purging expired
 * sessions, the control socket, and SIGTERM.  Everything it does is idempotent, so a kill
 * at any point loses nothing: the next store process opens Berkeley DB with recovery and
 * goes on from the applied sequence numbers stored with the data.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define LOG_MODULE "store"
#include "shm/client.h"
#include "shm/log.h"
#include "shm/logstat.h"
#include "store/applier.h"
#include "store/bdb.h"
#include "store/control.h"
#include "store/daemon.h"
#include "store/load.h"

#define DAEMON_TRIM_MS 10000
#define DAEMON_PURGE_SLICE 5000 /* sessions visited per purge transaction */

struct daemon {
    const struct store_daemon_settings *s;
    struct store_bdb *db;
    uv_loop_t loop;
    uv_timer_t apply_timer, trim_timer;
    uv_signal_t sig_term, sig_int;
    struct store_control control;     /* listings and backups for workers and tesserad --backup */
    struct store_apply_cursor cursor; /* where each slot's reading stopped */
    bool control_on;
    uint64_t next_purge_ms;
    bool purging;
    int status;
    char err[1024];
};

static uint64_t daemon_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void daemon_warn(const char *msg, void *arg)
{
    (void)arg;
    log_warn("%s", msg);
}

/* The largest seq of slot a pass may apply: what its writer has synced. */
static uint64_t daemon_max_seq(uint16_t slot, void *arg)
{
    struct daemon *d = arg;

    return shm_logstat_synced_seq(d->s->region->logstat, slot);
}

/* Publishes the writers' applied seqs, for the apply lag: every writer's after recovery
 * (all), else those that have written or been applied since. */
static void daemon_publish_applied(struct daemon *d, bool all)
{
    struct shm_logstat *ls = d->s->region->logstat;

    for (unsigned i = 0; i < SHM_LOG_WRITERS; i++) {
        uint64_t seq = 0;

        if (!all && atomic_load_explicit(&ls->synced[i], memory_order_relaxed) == 0 &&
            atomic_load_explicit(&ls->applied[i], memory_order_relaxed) == 0)
            continue;
        if (store_bdb_applied_seq(d->db, (uint16_t)i, &seq) == 0)
            atomic_store_explicit(&ls->applied[i], seq, memory_order_relaxed);
    }
}

/* A failure of the data (not of the moment) ends the process with status 2. */
static void daemon_fail(struct daemon *d, int rc, const char *what)
{
    d->status = rc == -EBADMSG || rc == -ENOTSUP ? STORE_EXIT_DATA : 1;
    log_error("%s: %s", what, d->err);
    uv_stop(&d->loop);
}

static int daemon_apply(struct daemon *d)
{
    struct store_apply_limit lim = {daemon_max_seq, d, &d->cursor};
    struct store_apply_stats st;
    int rc = store_apply_pass(d->db, d->s->log_dir, &lim, &st, d->err, sizeof(d->err));

    if (rc < 0) {
        daemon_fail(d, rc, "applying the log");
        return rc;
    }
    if (st.applied)
        daemon_publish_applied(d, false);
    atomic_fetch_add_explicit(&d->s->region->logstat->store_passes, 1, memory_order_release);
    return 0;
}

static void daemon_prepare(void *arg)
{
    daemon_apply(arg);
}

static void on_apply(uv_timer_t *t)
{
    daemon_apply(t->data);
}

/* Expired sessions go in slices, one transaction each, so applying never waits long. */
static void daemon_purge(struct daemon *d)
{
    int64_t n, total = 0;
    bool done = false;

    while (!done) {
        n = store_bdb_purge(d->db, (int64_t)time(NULL), DAEMON_PURGE_SLICE, &done);
        if (n < 0) {
            log_error("purging expired sessions: %s", store_bdb_error(d->db));
            return;
        }
        total += n;
        if (daemon_apply(d) < 0)
            return;
    }
    if (total) {
        /* Give the emptied pages back, so the files shrink rather than only stop growing. */
        if (store_bdb_compact(d->db) < 0)
            log_warn("compacting after the purge: %s", store_bdb_error(d->db));
        log_info("purged %" PRId64 " expired sessions", total);
    }
}

static void on_trim(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct store_trim_stats st;
    uint64_t now = daemon_now_ms();

    if (now >= d->next_purge_ms) {
        d->next_purge_ms = now + (uint64_t)d->s->purge_interval * 1000;
        daemon_purge(d);
    }
    if (daemon_apply(d) < 0)
        return;
    if (store_trim(d->db, d->s->log_dir, &st, d->err, sizeof(d->err)) < 0) {
        log_error("trimming the log: %s", d->err);
        return;
    }
    if (st.deleted)
        log_debug("deleted %" PRIu64 " applied log segments (%" PRIu64 " bytes)", st.deleted,
                  st.bytes);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    (void)signum;
    uv_stop(&d->loop);
}

/* First start: every record replayed, the state loaded into shared memory. */
static int daemon_recover(struct daemon *d)
{
    struct store_load l = {.region = d->s->region, .who = {STORE_OWNER_SLOT, d->s->generation}};
    struct store_apply_stats st = {0};
    struct store_recover_ops ops = {.warn = daemon_warn, .stats = &st};
    uint64_t t0 = daemon_now_ms(), clock = 0;
    int rc;

    store_load_ops(&ops, &l);
    rc = store_recover(d->db, d->s->log_dir, &ops, &l, d->err, sizeof(d->err));
    if (rc < 0) {
        if (l.err[0])
            snprintf(d->err, sizeof(d->err), "%s", l.err);
        log_error("recovery failed: %s", d->err);
        /* A database that cannot be read, like a corrupt log, is not cured by trying
         * again; nor is a table too small for what is stored.  Only memory may come back. */
        return rc == -ENOMEM ? rc : -EBADMSG;
    }
    if (store_bdb_clock(d->db, &clock) < 0) {
        log_error("recovery failed: %s", store_bdb_error(d->db));
        return -EBADMSG;
    }
    shm_clients_clock_raise(d->s->region, clock);
    daemon_publish_applied(d, true);
    log_info("recovered in %" PRIu64 " ms: %" PRIu64 " records replayed, %" PRIu64
             " clients and %" PRIu64 " live tokens loaded (%" PRIu64 " revoked kept)",
             daemon_now_ms() - t0, st.applied, l.clients, l.sessions, l.dead);
    if (l.unscoped)
        log_warn("%" PRIu64 " live tokens were loaded revoked: their scopes or audiences did "
                 "not fit the interned string table (raise tokens.interned_strings)",
                 l.unscoped);
    return 0;
}

static int daemon_setup(struct daemon *d)
{
    uint64_t trim_ms;
    int rc = uv_loop_init(&d->loop);

    if (rc < 0) {
        log_error("uv_loop_init() failed: %s", uv_strerror(rc));
        return rc;
    }
    uv_timer_init(&d->loop, &d->apply_timer);
    uv_timer_init(&d->loop, &d->trim_timer);
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    d->apply_timer.data = d->trim_timer.data = d->sig_term.data = d->sig_int.data = d;
    uv_timer_start(&d->apply_timer, on_apply, d->s->apply_interval_ms, d->s->apply_interval_ms);
    trim_ms = (uint64_t)d->s->purge_interval * 1000 < DAEMON_TRIM_MS
                  ? (uint64_t)d->s->purge_interval * 1000
                  : DAEMON_TRIM_MS;
    uv_timer_start(&d->trim_timer, on_trim, trim_ms, trim_ms);
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    d->next_purge_ms = daemon_now_ms() + (uint64_t)d->s->purge_interval * 1000;
    /* Without the control socket only listings and online backups are missing: keep
     * applying the log, which is what durability needs. */
    if (store_control_start(&d->control, &d->loop, d->s->sock_path, d->db, d->s->data_dir) == 0) {
        d->control.prepare = daemon_prepare;
        d->control.prepare_arg = d;
        d->control_on = true;
    } else
        log_warn("session listings and online backups are unavailable");
    return 0;
}

static void on_closed_quietly(uv_handle_t *h)
{
    (void)h;
}

static void daemon_close_handles(struct daemon *d)
{
    if (d->control_on)
        store_control_stop(&d->control);
    uv_close((uv_handle_t *)&d->apply_timer, on_closed_quietly);
    uv_close((uv_handle_t *)&d->trim_timer, on_closed_quietly);
    uv_close((uv_handle_t *)&d->sig_term, on_closed_quietly);
    uv_close((uv_handle_t *)&d->sig_int, on_closed_quietly);
    uv_run(&d->loop, UV_RUN_DEFAULT);
}

int store_daemon_run(const struct store_daemon_settings *s)
{
    struct daemon *d;
    char err[1024];
    int status = 1, rc;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != s->master_pid)
        return 0;
    prctl(PR_SET_NAME, "tessera-store"); /* ps and tests tell it from the workers */
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return 1;
    d->s = s;
    rc = store_bdb_open(s->db_dir, &d->db, err, sizeof(err));
    if (rc < 0) {
        log_error("cannot open the database: %s", err);
        status = STORE_EXIT_DATA;
        goto done;
    }
    if (s->recover) {
        rc = daemon_recover(d);
        if (rc < 0) {
            status = rc == -EBADMSG ? STORE_EXIT_DATA : 1;
            goto done;
        }
        if (write(s->ready_fd, "R", 1) != 1)
            goto done;
        close(s->ready_fd);
    }
    atomic_store_explicit(&s->region->logstat->store_pid, (uint64_t)getpid(), memory_order_relaxed);
    if (daemon_setup(d) < 0)
        goto done;
    uv_run(&d->loop, UV_RUN_DEFAULT);
    status = d->status;
    if (status == 0 && daemon_apply(d) == 0 &&
        store_trim(d->db, s->log_dir, NULL, d->err, sizeof(d->err)) < 0)
        log_warn("trimming the log: %s", d->err);
    daemon_close_handles(d);
    uv_loop_close(&d->loop);
done:
    store_bdb_close(d->db);
    free(d);
    return status;
}
