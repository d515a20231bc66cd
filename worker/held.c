/*
 * Holding answers until the log is durable.  A response whose handler reported a change
 * (a token issued, a client saved) must not leave the worker before the change's record
 * is on disk: its connection joins the worker's held list with a ticket, the sequence
 * number of its last record, and its output stays in c->out.  Once per loop turn the
 * group commit writes the turn's records with one write and syncs them on the thread
 * pool (journal.c) while the loop serves on; when the durable sequence passes a ticket,
 * that connection's output goes out.  Holding is the output side only: a held connection
 * goes on reading and answering pipelined requests, and one commit covers them all.
 */
#include "autoconfig.h"

#include <unistd.h>

#define LOG_MODULE "worker"
#include "shm/log.h"
#include "worker/conn.h"

void worker__held_add(struct conn *c)
{
    struct worker *w = c->w;

    c->ticket = worker_journal_last(&w->journal);
    if (c->held)
        return;
    c->held = true;
    LIST_INSERT_HEAD(&w->held, c, held_link);
}

void worker__held_remove(struct conn *c)
{
    if (!c->held)
        return;
    c->held = false;
    LIST_REMOVE(c, held_link);
}

void worker__held_fail(struct worker *w)
{
    while (!LIST_EMPTY(&w->held))
        worker__conn_close(LIST_FIRST(&w->held));
    log_error("stopping: changes cannot be made durable");
    _exit(1);
}

/* Sends the held responses whose changes are durable now. */
static void held_release_durable(struct worker *w)
{
    uint64_t durable = worker_journal_durable(&w->journal);
    struct conn *c, *next;

    for (c = LIST_FIRST(&w->held); c; c = next) {
        next = LIST_NEXT(c, held_link);
        if (c->ticket <= durable) {
            worker__held_remove(c);
            worker__conn_resume(c);
        }
    }
}

void worker__held_on_durable(void *arg, int status)
{
    struct worker *w = arg;

    if (status < 0)
        worker__held_fail(w);
    held_release_durable(w);
}

/* Once per loop turn, after the turn's reads: the group commit.  The records every handler
 * of the turn reported go out with one write; an fdatasync on the thread pool makes them
 * durable while the loop goes on serving, and the responses that report them are sent
 * when it ends (worker__held_on_durable).  Records reported while a sync runs are written
 * at once and get a sync of their own (up to WORKER_JOURNAL_SYNCS run at once), or ride
 * the next. */
static void on_commit(uv_check_t *h)
{
    struct worker *w = h->data;

    /* A held connection waits for a record that is pending or not yet durable. */
    if (worker_journal_pending(&w->journal) == 0 &&
        worker_journal_last(&w->journal) == worker_journal_durable(&w->journal))
        return;
    if (worker_journal_flush(&w->journal) < 0)
        worker__held_fail(w);
    held_release_durable(w);
}

void worker__held_start(struct worker *w)
{
    uv_check_init(&w->loop, &w->commit);
    w->commit.data = w;
    uv_check_start(&w->commit, on_commit);
    uv_unref((uv_handle_t *)&w->commit); /* it alone must not keep a draining loop alive */
}
