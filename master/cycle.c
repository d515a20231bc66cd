/*
 * The master's supervision loop.  Signals are blocked and taken synchronously with
 * sigtimedwait(): unlike nginx's sigsuspend() and handler flags, the timeout doubles as
 * the respawn backoff and drain clock without an interval timer.  A worker that dies is
 * replaced, after a delay that doubles with each quick death; one that exits 2 (fatal
 * configuration) is not.  The master never runs libuv: it forks, waits and reaps.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define LOG_MODULE "master"
#include "master/master.h"
#include "shm/log.h"
#include "shm/peers.h"
#include "store/daemon.h"

#define CYCLE_QUICK_DEATH_MS 2000
#define CYCLE_BACKOFF_FIRST_MS 100
#define CYCLE_BACKOFF_MAX_MS 10000
#define CYCLE_KILL_GRACE_MS 2000

static uint64_t cycle_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void cycle_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void master_child_exit(int status)
{
#if defined(__SANITIZE_ADDRESS__)
    __lsan_do_leak_check();
#endif
    _exit(status);
}

/* In the child: back to default signal handling, then serve. */
static void cycle_child(struct master *m, size_t slot)
{
    struct worker_listener ls[WORKER_LISTENERS_MAX];
    struct worker_id id = {(unsigned)slot, m->slots[slot].generation, m->pid};
    char role[32];
    sigset_t set;
    size_t nls;

    cycle_signals(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    snprintf(role, sizeof(role), "worker/%zu", slot);
    shm_log_setup(role, shm_log_current_level());
    for (size_t i = 0; i < m->nslots; i++)
        if (i != slot)
            master_listen_close_slot(&m->ls, i);
    nls = master_listen_for_slot(&m->ls, slot, ls, WORKER_LISTENERS_MAX);
    master_child_exit(worker_run(&m->ws, &id, ls, nls));
}

static int cycle_spawn(struct master *m, size_t slot)
{
    struct master_slot *s = &m->slots[slot];
    pid_t pid;

    s->generation++;
    pid = fork();
    if (pid == -1) {
        log_error("fork() failed: %s", strerror(errno));
        s->respawn_at_ms = cycle_now_ms() + CYCLE_BACKOFF_MAX_MS;
        return -1;
    }
    if (pid == 0)
        cycle_child(m, slot);
    s->pid = pid;
    s->started_ms = cycle_now_ms();
    s->respawn_at_ms = 0;
    log_debug("worker/%zu started as pid %ld", slot, (long)pid);
    return 0;
}

/* Decides when a dead child (named `name`) comes back: after a delay that doubles with
 * each quick death, or never after exit status 2. */
static void cycle_schedule(struct master_slot *s, const char *name, int status)
{
    uint64_t now = cycle_now_ms(), delay = 0;

    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        log_error("%s exited with status 2 (fatal error, see above): not respawning", name);
        s->retired = true;
        return;
    }
    if (WIFSIGNALED(status))
        log_warn("%s (pid %ld) killed by signal %d", name, (long)s->pid, WTERMSIG(status));
    else
        log_warn("%s (pid %ld) exited with status %d", name, (long)s->pid, WEXITSTATUS(status));
    if (now - s->started_ms < CYCLE_QUICK_DEATH_MS) {
        s->failures++;
        delay = CYCLE_BACKOFF_FIRST_MS << (s->failures < 8 ? s->failures - 1 : 7);
        if (delay > CYCLE_BACKOFF_MAX_MS)
            delay = CYCLE_BACKOFF_MAX_MS;
        log_warn("%s died quickly %u times in a row: respawning in %llu ms", name, s->failures,
                 (unsigned long long)delay);
    } else {
        s->failures = 0;
    }
    s->respawn_at_ms = now + delay;
}

/* A dead worker may have died between claiming a shared-memory slot and publishing it. */
static void cycle_reclaim(struct master *m, size_t slot, unsigned generation)
{
    struct shm_owner dead = {(uint32_t)slot, generation};
    uint64_t n = shm_region_reclaim(&m->region, dead);

    if (n)
        log_warn("worker/%zu left %llu shared-memory slots half-written: reclaimed", slot,
                 (unsigned long long)n);
    n = shm_peers_reclaim(m->region.peers, (uint32_t)slot);
    if (n)
        log_info("worker/%zu had %llu connections: taken off the per-address counts", slot,
                 (unsigned long long)n);
}

/* Frees expired tokens and proofs every tokens.sweep_interval; returns ms to the next. */
static uint64_t cycle_sweep(struct master *m)
{
    struct shm_owner me = {MASTER_OWNER_SLOT, 1};
    uint64_t now = cycle_now_ms();
    int64_t n;

    if (now < m->next_sweep_ms)
        return m->next_sweep_ms - now;
    n = shm_region_sweep(&m->region, (int64_t)time(NULL), me);
    if (n)
        log_debug("swept %lld expired entries", (long long)n);
    m->next_sweep_ms = now + (uint64_t)m->cfg.tokens_sweep_interval * 1000;
    return (uint64_t)m->cfg.tokens_sweep_interval * 1000;
}

static void cycle_reap_store(struct master *m, int status)
{
    if (!m->stopping) {
        cycle_reclaim(m, STORE_OWNER_SLOT, m->store.generation);
        cycle_schedule(&m->store, "the store process", status);
    }
    m->store.pid = 0;
}

static void cycle_reap(struct master *m)
{
    char name[32];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m->store.pid) {
            cycle_reap_store(m, status);
            continue;
        }
        for (size_t i = 0; i < m->nslots; i++) {
            struct master_slot *s = &m->slots[i];

            if (s->pid != pid)
                continue;
            /* When stopping, the region is about to go: a reclaim scan would only fault
             * all of it in (hundreds of MiB, ~0.2 s) just before the unmap. */
            if (!m->stopping) {
                cycle_reclaim(m, i, s->generation);
                snprintf(name, sizeof(name), "worker/%zu", i);
                cycle_schedule(s, name, status);
                if (s->retired)
                    master_listen_close_slot(&m->ls, i);
            }
            s->pid = 0;
            break;
        }
    }
}

static void cycle_stop(struct master *m, int signo)
{
    if (m->stopping)
        return;
    log_info("%s: stopping, draining for up to %llu ms", strsignal(signo),
             (unsigned long long)m->ws.drain_timeout_ms);
    m->stopping = true;
    m->stop_deadline_ms = cycle_now_ms() + m->ws.drain_timeout_ms + CYCLE_KILL_GRACE_MS;
    /* Refuse new connections at once; the workers close their copies too. */
    master_listen_close_all(&m->ls);
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGTERM);
    if (m->store.pid > 0)
        kill(m->store.pid, SIGTERM);
}

/* Starts the slots whose respawn time has come; returns ms until the next one is due. */
static uint64_t cycle_respawn_due(struct master *m)
{
    uint64_t now = cycle_now_ms(), next = 1000;

    if (m->store.pid == 0 && !m->store.retired) {
        if (m->store.respawn_at_ms <= now)
            master_store_spawn(m, false, -1);
        else
            next = m->store.respawn_at_ms - now;
    }
    for (size_t i = 0; i < m->nslots; i++) {
        struct master_slot *s = &m->slots[i];

        if (s->pid || s->retired)
            continue;
        if (s->respawn_at_ms <= now)
            cycle_spawn(m, i);
        else if (s->respawn_at_ms - now < next)
            next = s->respawn_at_ms - now;
    }
    return next;
}

/* Workers running (and the store process, when `running`) or not retired. */
static size_t cycle_count(const struct master *m, bool running)
{
    size_t n = running ? m->store.pid > 0 : 0;

    for (size_t i = 0; i < m->nslots; i++)
        n += running ? m->slots[i].pid > 0 : !m->slots[i].retired;
    return n;
}

static void cycle_kill_stragglers(struct master *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid > 0) {
            log_warn("worker/%zu did not stop in time: killing it", i);
            kill(m->slots[i].pid, SIGKILL);
        }
    }
    if (m->store.pid > 0) {
        log_warn("the store process did not stop in time: killing it");
        kill(m->store.pid, SIGKILL);
    }
    m->stop_deadline_ms = UINT64_MAX;
}

static int cycle_wait(struct master *m, const sigset_t *set, uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    siginfo_t info;
    int sig = sigtimedwait(set, &info, &ts);

    if (sig == -1 && errno != EAGAIN && errno != EINTR)
        log_error("sigtimedwait() failed: %s", strerror(errno));
    return sig;
}

int master_cycle_run(struct master *m)
{
    sigset_t set;
    int status = 0;

    cycle_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m->pid = getpid();
    /* Nothing has expired in a table just loaded: a first sweep of all of it would only
     * delay the workers (a second for a million tokens). */
    m->next_sweep_ms = cycle_now_ms() + (uint64_t)m->cfg.tokens_sweep_interval * 1000;
    for (;;) {
        uint64_t wait_ms = 1000;
        int sig;

        if (!m->stopping) {
            uint64_t sweep_ms = cycle_sweep(m);

            wait_ms = cycle_respawn_due(m);
            if (sweep_ms < wait_ms)
                wait_ms = sweep_ms;
            if (cycle_count(m, false) == 0) {
                log_error("every worker exited with a fatal error: stopping");
                status = 2;
                break;
            }
        } else {
            uint64_t now = cycle_now_ms();

            if (cycle_count(m, true) == 0)
                break;
            if (now >= m->stop_deadline_ms)
                cycle_kill_stragglers(m);
            else if (m->stop_deadline_ms - now < wait_ms)
                wait_ms = m->stop_deadline_ms - now;
        }
        shm_log_flush();
        sig = cycle_wait(m, &set, wait_ms);
        if (sig == SIGCHLD)
            cycle_reap(m);
        else if (sig == SIGTERM || sig == SIGINT)
            cycle_stop(m, sig);
        else if (sig == SIGHUP)
            log_warn("SIGHUP: this version reloads nothing; restart to apply changes");
        cycle_reap(m);
    }
    log_info("stopped");
    return status;
}
