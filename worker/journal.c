/*
 * The worker's journal (see journal.h): turns the changes handlers report into durability
 * records.  Records carry texts, not interned ids, and the client's id, not its slot:
 * neither survives a restart.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "journal"
#include "shm/client.h"
#include "shm/intern.h"
#include "shm/log.h"
#include "shm/logstat.h"
#include "shm/token.h"
#include "worker/journal.h"

static int64_t journal_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts the scratch record of type. */
static struct store_record *journal_rec(struct worker_journal *j, uint8_t type)
{
    struct store_record *r = &j->rec;

    memset(r, 0, sizeof(*r));
    r->type = type;
    r->time_ms = journal_now_ms();
    return r;
}

static int journal_add(struct worker_journal *j)
{
    int rc = store_writer_add(&j->writer, &j->rec);

    if (rc < 0 && rc != -EIO)
        log_error("cannot log a change (record type %u): %s", j->rec.type, strerror(-rc));
    return rc;
}

/* Copies text into a record's field; -EINVAL when it does not fit. */
static int journal_text(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= cap)
        return -EINVAL;
    memcpy(dst, src ? src : "", n + 1);
    return 0;
}

/* The text of interned id into dst (cap bytes); "" for 0. */
static int journal_interned(const struct worker_journal *j, uint32_t id, char *dst, size_t cap)
{
    dst[0] = '\0';
    return id == 0 || shm_intern_get(j->region, id, dst, cap) >= 0 ? 0 : -EINVAL;
}

static int journal_token_issued(void *arg, const struct shm_token *t, const char *client_id,
                                const char *scope, const char *audience)
{
    struct worker_journal *j = arg;
    struct store_record *r = journal_rec(j, STORE_REC_TOKEN_ISSUED);
    struct store_token *s = &r->u.token;

    if (journal_text(s->client_id, sizeof(s->client_id), client_id) < 0 ||
        journal_text(s->scope, sizeof(s->scope), scope) < 0 ||
        journal_text(s->audience, sizeof(s->audience), audience) < 0 ||
        journal_interned(j, t->scope, s->scope_base, sizeof(s->scope_base)) < 0)
        return -EINVAL;
    store_token_from_shm(s, t);
    return journal_add(j);
}

static int journal_token_revoked(void *arg, const uint8_t hash[32])
{
    struct worker_journal *j = arg;
    struct store_record *r = journal_rec(j, STORE_REC_TOKEN_REVOKED);

    memcpy(r->u.token_hash, hash, sizeof(r->u.token_hash));
    return journal_add(j);
}

static int journal_client_put(void *arg, const struct shm_client *c, uint32_t generation,
                              uint64_t version)
{
    struct worker_journal *j = arg;
    struct store_record *r = journal_rec(j, STORE_REC_CLIENT_PUT);
    struct store_client_rec *s = &r->u.client;

    s->client = *c;
    if (journal_interned(j, c->scopes, s->scopes, sizeof(s->scopes)) < 0 ||
        journal_interned(j, c->default_scopes, s->default_scopes, sizeof(s->default_scopes)) < 0 ||
        journal_interned(j, c->audiences, s->audiences, sizeof(s->audiences)) < 0 ||
        journal_interned(j, c->subject, s->subject, sizeof(s->subject)) < 0) {
        log_error("cannot log client %s: an interned text is missing", c->id);
        return -EINVAL;
    }
    s->client.scopes = s->client.default_scopes = s->client.audiences = s->client.subject = 0;
    s->client.scope_base = 0;
    s->generation = generation;
    s->version = version;
    return journal_add(j);
}

static int journal_client_deleted(void *arg, const char *id, uint32_t generation, uint64_t version)
{
    struct worker_journal *j = arg;
    struct store_record *r = journal_rec(j, STORE_REC_CLIENT_DELETE);

    if (journal_text(r->u.ref.id, sizeof(r->u.ref.id), id) < 0)
        return -EINVAL;
    r->u.ref.generation = generation;
    r->u.ref.version = version;
    return journal_add(j);
}

int worker_journal_open(struct worker_journal *j, const char *log_dir, unsigned slot,
                        enum store_sync mode, uint64_t segment_bytes, struct shm_region *r)
{
    char err[512];
    int rc;

    memset(j, 0, sizeof(*j));
    j->region = r;
    j->ops = (struct proto_journal){
        .arg = j,
        .token_issued = journal_token_issued,
        .token_revoked = journal_token_revoked,
        .client_put = journal_client_put,
        .client_deleted = journal_client_deleted,
    };
    rc = store_writer_open(&j->writer, log_dir, slot, mode, segment_bytes, err, sizeof(err));
    if (rc < 0) {
        log_error("cannot open the log of slot %u: %s", slot, err);
        return rc;
    }
    if (j->writer.warn[0])
        log_warn("%s", j->writer.warn);
    j->durable = j->writer.next_seq - 1;
    shm_logstat_synced(r->logstat, slot, j->durable);
    return 0;
}

uint64_t worker_journal_last(const struct worker_journal *j)
{
    return j->writer.next_seq - 1;
}

uint64_t worker_journal_durable(const struct worker_journal *j)
{
    return j->durable;
}

static void journal_durable(struct worker_journal *j, uint64_t upto)
{
    j->durable = upto;
    shm_logstat_synced(j->region->logstat, j->writer.slot, upto);
}

/* On a thread of the pool: nothing but the sync, on a file the loop does not close while
 * it runs (worker_journal_flush does not rotate segments under a running sync). */
static void journal_sync_work(uv_work_t *req)
{
    struct worker_journal_sync *y = req->data;

    y->err = fdatasync(y->fd) == -1 ? errno : 0;
}

static void journal_sync_done(uv_work_t *req, int status)
{
    struct worker_journal_sync *y = req->data;
    struct worker_journal *j = y->j;

    y->busy = false;
    j->syncing--;
    if (status < 0 || y->err) {
        store_writer_sync_failed(&j->writer, status < 0 ? EIO : y->err);
        log_error("cannot make the log durable: %s", j->writer.err);
        j->cb(j->cb_arg, -EIO);
        return;
    }
    /* Syncs may end out of order: one that ends makes durable what it covered. */
    if (y->upto > j->durable)
        journal_durable(j, y->upto);
    j->cb(j->cb_arg, 0);
}

void worker_journal_start(struct worker_journal *j, uv_loop_t *loop, worker_journal_cb cb,
                          void *arg)
{
    j->loop = loop;
    j->cb = cb;
    j->cb_arg = arg;
    for (unsigned i = 0; i < WORKER_JOURNAL_SYNCS; i++) {
        j->sync[i].j = j;
        j->sync[i].work.data = &j->sync[i];
    }
}

/* Starts a sync of what is written and not yet covered by a running one, if a slot is
 * free (else the flush after the next sync ends starts it). */
static int journal_sync_start(struct worker_journal *j)
{
    uint64_t written = store_writer_written(&j->writer);
    struct worker_journal_sync *y = NULL;
    int rc;

    if (written <= j->durable || written <= j->sync_begun)
        return 0;
    for (unsigned i = 0; i < WORKER_JOURNAL_SYNCS && y == NULL; i++)
        if (!j->sync[i].busy)
            y = &j->sync[i];
    if (y == NULL)
        return 0;
    y->busy = true;
    y->fd = store_writer_fd(&j->writer);
    y->upto = j->sync_begun = written;
    j->syncing++;
    j->writer.stats.fsyncs++;
    rc = uv_queue_work(j->loop, &y->work, journal_sync_work, journal_sync_done);
    if (rc < 0) {
        y->busy = false;
        j->syncing--;
        log_error("cannot start a sync of the log: %s", uv_strerror(rc));
        return -EIO;
    }
    return 0;
}

int worker_journal_flush(struct worker_journal *j)
{
    int rc;

    if (j->writer.mode == STORE_SYNC_ALWAYS)
        return worker_journal_commit(j);
    /* A full segment is synced and closed by the write that rotates it: not while the
     * pool syncs it.  Its records wait for those syncs to end. */
    if (j->syncing && store_writer_may_rotate(&j->writer))
        return 0;
    rc = store_writer_write(&j->writer);
    if (rc < 0) {
        log_error("cannot write the log: %s", j->writer.err);
        return rc;
    }
    if (j->writer.mode == STORE_SYNC_OFF) {
        journal_durable(j, store_writer_written(&j->writer));
        return 0;
    }
    return journal_sync_start(j);
}

size_t worker_journal_pending(const struct worker_journal *j)
{
    return store_writer_pending(&j->writer);
}

int worker_journal_commit(struct worker_journal *j)
{
    int rc;

    if (store_writer_pending(&j->writer) == 0)
        return 0;
    rc = store_writer_commit(&j->writer);
    if (rc < 0) {
        log_error("cannot make the log durable: %s", j->writer.err);
        return rc;
    }
    journal_durable(j, j->writer.next_seq - 1);
    return 0;
}

int worker_journal_rotate_applied(struct worker_journal *j, uint64_t min_bytes)
{
    struct shm_logstat *ls = j->region->logstat;
    uint64_t applied =
        atomic_load_explicit(&ls->applied[j->writer.slot % SHM_LOG_WRITERS], memory_order_acquire);
    int rc;

    if (store_writer_pending(&j->writer) || j->syncing || applied + 1 < j->writer.next_seq)
        return 0;
    rc = store_writer_rotate(&j->writer, min_bytes);
    if (rc < 0)
        log_error("cannot start a new log segment: %s", j->writer.err);
    return rc;
}

void worker_journal_close(struct worker_journal *j)
{
    store_writer_close(&j->writer);
}
