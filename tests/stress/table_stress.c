/*
 * Multi-process stress test of shm/table.c, printing TAP (one line per invariant).
 *
 * A table in MAP_SHARED memory; N worker processes (owner slots 1..N) run a random mix of
 * insert, lookup, revoke, remove and iterate-sweep for --seconds (5 by default, what make
 * check runs).  Worker p owns the keys (p, 0), (p, 1), ...: every word of an entry is a
 * function of its key, so a copy mixing two entries, or a half-written one, is detected.
 * Each worker logs its operations in shared memory, one flags byte per key: the intent
 * before the operation, the acknowledgement after.  Workers look up each other's keys and
 * check them against those logs: an acknowledged insert (not being removed or revoked) is
 * found, exactly; an acknowledged revocation is seen; an acknowledged removal is never
 * found again.  Sweeps free revoked entries of any worker, as the real sweeper does.
 *
 * The parent SIGKILLs a random worker at random moments, reclaims the dead owner's
 * claims and starts a new generation, which carries on from the log.  A killed worker's
 * last intent may or may not have happened: that one operation per kill is "uncertain"
 * and may go either way in the final checks, which read the whole table against the
 * logs once the workers have stopped.
 *
 *   tests/stress/table_stress [--seconds N] [--procs N] [--capacity N] [--seed N]
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/table.h"

#define W 16
#define MAX_PROCS 16
#define LOG_KEYS (1ULL << 26) /* keys per worker, over the whole run */
#define KEY_BITS 40
#define FILL 0.90          /* of capacity, shared out between the workers */
#define SWEEP_ONE_IN 50000 /* operations */

/* Per-key log flags: intent (_I) before the operation, acknowledgement (_A) after. */
enum {
    F_INS_I = 1,
    F_INS_A = 2,
    F_REV_I = 4,
    F_REV_A = 8,
    F_REM_I = 16,
    F_REM_A = 32,
    F_INS_FAIL = 64, /* the insert returned an error: it did not happen */
};

enum { OP_INSERT, OP_HIT, OP_MISS, OP_REVOKE, OP_REMOVE, OP_SWEEP, OP_SWEPT, OP_FULL, NOPS };
static const char *const op_names[NOPS] = {"insert", "lookup-hit", "lookup-miss", "revoke",
                                           "remove", "sweep",      "swept",       "full"};

struct proc {
    _Alignas(64) _Atomic uint64_t next; /* keys [0, next) may have been used */
    _Atomic uint64_t ops[NOPS];
    _Atomic uint64_t violations;
    _Atomic uint32_t generation;
};

struct shared {
    _Atomic int stop;
    _Atomic int msg_taken;
    char msg[512];
    struct proc proc[MAX_PROCS];
};

struct options {
    double seconds;
    uint32_t procs;
    uint64_t capacity;
    uint64_t seed;
};

static struct options opt = {5.0, 6, 200000, 0x7e55e7a};
static struct shm_table *table;
static struct shared *sh;
static _Atomic uint8_t *logs[MAX_PROCS];

/* ---- keys ----------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The entry of key n of worker p: a hashed key, then (p, n), then words of the key. */
static void key_entry(uint32_t p, uint64_t n, uint64_t *w)
{
    uint64_t id = (uint64_t)p << KEY_BITS | n, base = mix64(opt.seed ^ mix64(id));

    for (int i = 0; i < 4; i++)
        w[i] = mix64(base + (uint64_t)i);
    w[4] = id;
    for (int i = 5; i < W; i++)
        w[i] = mix64(w[0] ^ (w[3] + (uint64_t)i));
}

/* Decodes an entry's (p, n) and checks every word; false for a torn or foreign copy. */
static bool entry_whole(const uint64_t *words, uint32_t *p, uint64_t *n)
{
    uint64_t w[W];

    *p = (uint32_t)(words[4] >> KEY_BITS);
    *n = words[4] & ((1ULL << KEY_BITS) - 1);
    if (*p >= opt.procs || *n >= atomic_load_explicit(&sh->proc[*p].next, memory_order_acquire))
        return false;
    key_entry(*p, *n, w);
    return memcmp(w, words, sizeof(w)) == 0;
}

static uint8_t log_get(uint32_t p, uint64_t n)
{
    return atomic_load_explicit(&logs[p][n], memory_order_acquire);
}

static bool uncertain(uint8_t f)
{
    return ((f & F_INS_I) && !(f & (F_INS_A | F_INS_FAIL))) || ((f & F_REV_I) && !(f & F_REV_A)) ||
           ((f & F_REM_I) && !(f & F_REM_A));
}

/* ---- workers -------------------------------------------------------------------------- */

struct worker {
    uint32_t p;
    struct shm_owner who;
    uint64_t rng;
    uint64_t *present; /* own keys inserted, not removed, not uncertain */
    uint64_t npresent, quota;
};

static uint64_t rnd(struct worker *wk)
{
    wk->rng = mix64(wk->rng);
    return wk->rng;
}

static void violation(struct worker *wk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct worker *wk, const char *fmt, ...)
{
    va_list ap;

    atomic_fetch_add(&sh->proc[wk->p].violations, 1);
    if (atomic_exchange(&sh->msg_taken, 1))
        return;
    va_start(ap, fmt);
    vsnprintf(sh->msg, sizeof(sh->msg), fmt, ap);
    va_end(ap);
}

static void log_set(struct worker *wk, uint64_t n, uint8_t flag)
{
    atomic_fetch_or_explicit(&logs[wk->p][n], flag, memory_order_release);
}

static void count(struct worker *wk, int op)
{
    atomic_fetch_add_explicit(&sh->proc[wk->p].ops[op], 1, memory_order_relaxed);
}

/* Looks up key n of worker q and checks what it finds against q's log, read before
 * (f1) and after (f2) the lookup. */
static void check_lookup(struct worker *wk, uint32_t q, uint64_t n)
{
    uint64_t w[W];
    struct shm_entry e;
    uint8_t f1 = log_get(q, n), f2;
    int rc;

    if (f1 == 0)
        return;
    key_entry(q, n, w);
    rc = shm_table_lookup(table, (const uint8_t *)w, &e);
    f2 = log_get(q, n);
    count(wk, rc == 0 ? OP_HIT : OP_MISS);
    if (rc == 0) {
        if (memcmp(e.words, w, sizeof(w)) != 0)
            violation(wk, "key (%u,%llu): copy is not the entry", q, (unsigned long long)n);
        if (f1 & (F_REM_A | F_INS_FAIL))
            violation(wk, "key (%u,%llu) found after its removal was acknowledged", q,
                      (unsigned long long)n);
        if ((f1 & F_REV_A) && !e.revoked)
            violation(wk, "key (%u,%llu) unrevoked after its revocation was acknowledged", q,
                      (unsigned long long)n);
        if (e.revoked && !(f2 & F_REV_I))
            violation(wk, "key (%u,%llu) revoked, never by its owner", q, (unsigned long long)n);
    } else if ((f1 & F_INS_A) && !(f2 & (F_REM_I | F_REV_I))) {
        violation(wk, "key (%u,%llu): acknowledged insert not found (flags %#x)", q,
                  (unsigned long long)n, f2);
    }
}

static void do_insert(struct worker *wk)
{
    struct proc *pr = &sh->proc[wk->p];
    uint64_t n = atomic_load(&pr->next), w[W];
    int64_t rc;

    if (n >= LOG_KEYS)
        return;
    atomic_store_explicit(&pr->next, n + 1, memory_order_release);
    log_set(wk, n, F_INS_I);
    key_entry(wk->p, n, w);
    rc = shm_table_insert(table, w, wk->who);
    if (rc < 0) {
        log_set(wk, n, F_INS_FAIL);
        count(wk, OP_FULL);
        return;
    }
    log_set(wk, n, F_INS_A);
    wk->present[wk->npresent++] = n;
    count(wk, OP_INSERT);
}

/* Own key: found, unrevoked by anyone else (only its owner revokes it). */
static int own_lookup(struct worker *wk, uint64_t n, const uint64_t *w, struct shm_entry *e)
{
    int rc = shm_table_lookup(table, (const uint8_t *)w, e);

    if (rc == 0 && memcmp(e->words, w, W * sizeof(*w)) != 0)
        violation(wk, "own key %llu: copy is not the entry", (unsigned long long)n);
    return rc;
}

static void do_revoke(struct worker *wk, uint64_t i)
{
    uint64_t n = wk->present[i], w[W];
    struct shm_entry e;
    int rc;

    if (log_get(wk->p, n) & F_REV_I)
        return;
    log_set(wk, n, F_REV_I);
    key_entry(wk->p, n, w);
    if (own_lookup(wk, n, w, &e) != 0) {
        violation(wk, "own key %llu vanished before its revocation", (unsigned long long)n);
        return;
    }
    if (e.revoked)
        violation(wk, "own key %llu revoked by someone else", (unsigned long long)n);
    rc = shm_table_revoke(table, &e);
    if (rc != 0)
        violation(wk, "revoke of a fresh copy of own key %llu: %d", (unsigned long long)n, rc);
    log_set(wk, n, F_REV_A);
    count(wk, OP_REVOKE);
}

static void do_remove(struct worker *wk, uint64_t i)
{
    uint64_t n = wk->present[i], w[W];
    uint8_t f = log_get(wk->p, n);
    struct shm_entry e;

    log_set(wk, n, F_REM_I);
    key_entry(wk->p, n, w);
    for (int tries = 0;; tries++) {
        if (own_lookup(wk, n, w, &e) != 0) {
            if (!(f & F_REV_A)) /* only revoked entries are swept by others */
                violation(wk, "own unrevoked key %llu vanished", (unsigned long long)n);
            break;
        }
        if (shm_table_remove(table, &e, wk->who) == 0)
            break;
        if (tries == 1000) {
            violation(wk, "own key %llu cannot be removed", (unsigned long long)n);
            break;
        }
    }
    log_set(wk, n, F_REM_A);
    wk->present[i] = wk->present[--wk->npresent];
    count(wk, OP_REMOVE);
}

static int sweep_visit(const struct shm_entry *e, void *arg)
{
    struct worker *wk = arg;
    uint32_t q;
    uint64_t n;
    uint8_t f;

    if (!entry_whole(e->words, &q, &n)) {
        violation(wk, "sweep: torn or unknown entry in slot %llu", (unsigned long long)e->slot);
        return 0;
    }
    f = log_get(q, n);
    if (!(f & F_INS_I))
        violation(wk, "sweep: key (%u,%llu) was never inserted", q, (unsigned long long)n);
    if (e->revoked && !(f & F_REV_I))
        violation(wk, "sweep: key (%u,%llu) revoked, never by its owner", q, (unsigned long long)n);
    return e->revoked;
}

static void do_sweep(struct worker *wk)
{
    int64_t freed = shm_table_iterate(table, sweep_visit, wk, wk->who);

    count(wk, OP_SWEEP);
    atomic_fetch_add_explicit(&sh->proc[wk->p].ops[OP_SWEPT], (uint64_t)freed,
                              memory_order_relaxed);
}

static void do_lookup(struct worker *wk)
{
    uint32_t q = (uint32_t)(rnd(wk) % opt.procs);
    uint64_t next = atomic_load_explicit(&sh->proc[q].next, memory_order_acquire), n, r;

    if (next == 0)
        return;
    r = rnd(wk);
    if (r & 1) /* recent keys, mostly present */
        n = next - 1 - (r >> 1) % (next < 2 * wk->quota ? next : 2 * wk->quota);
    else /* any key ever, mostly removed */
        n = (r >> 1) % next;
    check_lookup(wk, q, n);
}

/* A new generation carries on from the log; keys whose last operation is uncertain (the
 * dead generation's op in flight) are left alone. */
static void worker_resume(struct worker *wk)
{
    uint64_t next = atomic_load(&sh->proc[wk->p].next);

    for (uint64_t n = 0; n < next; n++) {
        uint8_t f = log_get(wk->p, n);

        if ((f & F_INS_A) && !(f & F_REM_I) && !uncertain(f) && wk->npresent < wk->quota)
            wk->present[wk->npresent++] = n;
    }
}

static void worker_run(uint32_t p, uint32_t gen)
{
    struct worker wk = {.p = p, .who = {p + 1, gen}};

    wk.rng = mix64(opt.seed ^ ((uint64_t)p << 32 | gen));
    wk.quota = (uint64_t)(opt.capacity * FILL) / opt.procs;
    wk.present = malloc((wk.quota + 1) * sizeof(uint64_t));
    if (wk.present == NULL)
        _exit(3);
    worker_resume(&wk);
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        uint64_t r = rnd(&wk) % 100;

        if (rnd(&wk) % SWEEP_ONE_IN == 0)
            do_sweep(&wk);
        else if (r < 30 && wk.npresent < wk.quota)
            do_insert(&wk);
        else if (r < 30) /* at its quota: make room */
            do_remove(&wk, rnd(&wk) % wk.npresent);
        else if (r < 40 && wk.npresent > 0)
            do_revoke(&wk, rnd(&wk) % wk.npresent);
        else if (r < 55 && wk.npresent > 0)
            do_remove(&wk, rnd(&wk) % wk.npresent);
        else if (r < 60 && wk.npresent > 0)
            check_lookup(&wk, p, wk.present[rnd(&wk) % wk.npresent]);
        else
            do_lookup(&wk);
    }
    free(wk.present);
}

/* ---- the parent ----------------------------------------------------------------------- */

static pid_t pids[MAX_PROCS];
static int tap_n, tap_failed;

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tap(bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    tap_failed += !ok;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spawn(uint32_t p)
{
    uint32_t gen = atomic_fetch_add(&sh->proc[p].generation, 1) + 1;
    pid_t pid = fork();

    if (pid == -1) {
        perror("fork");
        exit(99);
    }
    if (pid == 0) {
        worker_run(p, gen);
        _exit(0);
    }
    pids[p] = pid;
}

static void *map_shared(size_t size)
{
    void *m =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (m == MAP_FAILED) {
        perror("mmap");
        exit(99);
    }
    return m;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: table_stress [--seconds N] [--procs N (1-%d)] [--capacity N] "
            "[--seed N]\n",
            MAX_PROCS);
    exit(2);
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--seconds") == 0)
            opt.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--procs") == 0)
            opt.procs = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--capacity") == 0)
            opt.capacity = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            opt.seed = strtoull(argv[++i], NULL, 0);
        else
            usage();
    }
    if (opt.procs < 1 || opt.procs > MAX_PROCS || opt.seconds <= 0 || opt.capacity < 1000)
        usage();
}

struct run {
    uint64_t kills, killed_busy, reclaimed, crashes, generations;
    double elapsed;
};

/* Kills worker p (SIGKILL), reaps it, reclaims its claims, starts its next generation. */
static void kill_one(struct run *run, uint32_t p)
{
    struct shm_owner dead = {p + 1, atomic_load(&sh->proc[p].generation)};
    int status;

    kill(pids[p], SIGKILL);
    if (waitpid(pids[p], &status, 0) != pids[p])
        exit(99);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        run->crashes++;
    run->kills++;
    run->reclaimed += shm_table_reclaim(table, dead);
    spawn(p);
    run->generations++;
}

static void run_workers(struct run *run)
{
    uint64_t rng = mix64(opt.seed);
    double start = now(), deadline = start + opt.seconds, next_kill;

    for (uint32_t p = 0; p < opt.procs; p++)
        spawn(p);
    run->generations = opt.procs;
    rng = mix64(rng);
    next_kill = start + 0.1 + (double)(rng % 600) / 1000;
    while (now() < deadline) {
        struct timespec pause = {0, 1000000};
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) { /* a worker died on its own: a crash */
            for (uint32_t p = 0; p < opt.procs; p++) {
                if (pids[p] == pid) {
                    run->crashes++;
                    spawn(p);
                }
            }
        }
        if (now() >= next_kill) {
            rng = mix64(rng);
            kill_one(run, (uint32_t)(rng % opt.procs));
            rng = mix64(rng);
            next_kill = now() + 0.1 + (double)(rng % 600) / 1000;
        }
        nanosleep(&pause, NULL);
    }
    atomic_store(&sh->stop, 1);
    for (uint32_t p = 0; p < opt.procs; p++) {
        int status;

        if (waitpid(pids[p], &status, 0) != pids[p] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            run->crashes++;
    }
    run->elapsed = now() - start;
}

/* ---- final checks --------------------------------------------------------------------- */

enum { SEEN = 1, SEEN_REVOKED = 2 };

struct census {
    uint8_t *seen[MAX_PROCS]; /* per key: SEEN, SEEN_REVOKED */
    uint64_t entries, bad, dup;
};

static int census_visit(const struct shm_entry *e, void *arg)
{
    struct census *c = arg;
    uint32_t p;
    uint64_t n;

    c->entries++;
    if (!entry_whole(e->words, &p, &n)) {
        c->bad++;
        return 0;
    }
    if (c->seen[p][n])
        c->dup++;
    c->seen[p][n] = SEEN | (e->revoked ? SEEN_REVOKED : 0);
    return 0;
}

static void census_take(struct census *c)
{
    for (uint32_t p = 0; p < opt.procs; p++)
        memset(c->seen[p], 0, atomic_load(&sh->proc[p].next));
    c->entries = c->bad = c->dup = 0;
    shm_table_iterate(table, census_visit, c, (struct shm_owner){0, 1});
}

struct verdict {
    uint64_t keys, certain, certain_missing, certain_wrong, removed_found, revoked_unflagged,
        flagged_unrevoked, never_found, uncertain, uncertain_present;
};

/* Every logged key against the census (and, for keys that must be there, a lookup). */
static void judge(const struct census *c, struct verdict *v)
{
    memset(v, 0, sizeof(*v));
    for (uint32_t p = 0; p < opt.procs; p++) {
        uint64_t next = atomic_load(&sh->proc[p].next);

        for (uint64_t n = 0; n < next; n++) {
            uint8_t f = log_get(p, n), s = c->seen[p][n];

            v->keys++;
            if (uncertain(f)) {
                v->uncertain++;
                v->uncertain_present += s != 0;
            } else if ((f & F_INS_A) && !(f & (F_REM_I | F_REV_I))) {
                uint64_t w[W];
                struct shm_entry e;

                v->certain++;
                key_entry(p, n, w);
                if (!s)
                    v->certain_missing++;
                else if (shm_table_lookup(table, (const uint8_t *)w, &e) != 0 ||
                         memcmp(e.words, w, sizeof(w)) != 0 || e.revoked)
                    v->certain_wrong++;
            } else if (s && (!(f & F_INS_A) || (f & F_REM_A))) {
                v->removed_found++;
            }
            if ((s & SEEN_REVOKED) && !(f & F_REV_I))
                v->revoked_unflagged++;
            if ((s & SEEN) && !(s & SEEN_REVOKED) && (f & F_REV_A))
                v->flagged_unrevoked++;
            if (s && !(f & F_INS_I))
                v->never_found++;
        }
    }
}

static int free_revoked(const struct shm_entry *e, void *arg)
{
    return e->revoked;
}

static int free_all(const struct shm_entry *e, void *arg)
{
    return 1;
}

static void report_run(const struct run *run)
{
    uint64_t total[NOPS] = {0}, all = 0;

    for (uint32_t p = 0; p < opt.procs; p++)
        for (int k = 0; k < NOPS; k++)
            total[k] += atomic_load(&sh->proc[p].ops[k]);
    for (int k = 0; k < OP_SWEPT; k++)
        all += total[k];
    printf("# %u workers, %.1f s, capacity %llu, seed %#llx: %llu ops (%.0f ops/s)\n", opt.procs,
           run->elapsed, (unsigned long long)opt.capacity, (unsigned long long)opt.seed,
           (unsigned long long)all, (double)all / run->elapsed);
    printf("#");
    for (int k = 0; k < NOPS; k++)
        printf(" %s=%llu", op_names[k], (unsigned long long)total[k]);
    printf("\n# kills=%llu generations=%llu reclaimed_slots=%llu\n", (unsigned long long)run->kills,
           (unsigned long long)run->generations, (unsigned long long)run->reclaimed);
}

int main(int argc, char **argv)
{
    size_t size;
    struct run run = {0};
    struct census census = {.entries = 0};
    struct verdict v;
    struct shm_table_stats st;
    uint64_t violations = 0, certain_after = 0, uncertain_present_after = 0;

    parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    size = shm_table_size(opt.capacity, W);
    table = map_shared(size);
    shm_table_init(table, size, opt.capacity, W);
    sh = map_shared(sizeof(*sh));
    for (uint32_t p = 0; p < opt.procs; p++)
        logs[p] = map_shared(LOG_KEYS);
    printf("1..12\n");

    run_workers(&run);
    report_run(&run);
    for (uint32_t p = 0; p < opt.procs; p++)
        violations += atomic_load(&sh->proc[p].violations);
    if (violations)
        printf("# first violation: %s\n", sh->msg);
    tap(violations == 0, "no worker saw a violation (%llu)", (unsigned long long)violations);
    tap(run.crashes == 0 && run.kills > 0,
        "workers stopped cleanly, none crashed (%llu); %llu SIGKILLs, each reclaimed",
        (unsigned long long)run.crashes, (unsigned long long)run.kills);

    shm_table_stats(table, &st);
    printf("# table: %llu live (%.0f%% of %llu), %llu revoked, max_reach %u, %.2f probes per "
           "insert, %lld counted\n",
           (unsigned long long)st.live, 100.0 * (double)st.live / (double)st.capacity,
           (unsigned long long)st.capacity, (unsigned long long)st.revoked, st.max_reach,
           (double)st.probes / (double)(st.inserts ? st.inserts : 1), (long long)st.counted);
    tap(st.busy == 0, "stats.busy == 0 once dead owners are reclaimed (%llu)",
        (unsigned long long)st.busy);

    for (uint32_t p = 0; p < opt.procs; p++) {
        census.seen[p] = malloc(atomic_load(&sh->proc[p].next) + 1);
        if (census.seen[p] == NULL)
            return 99;
    }
    census_take(&census);
    judge(&census, &v);
    tap(census.bad == 0 && census.dup == 0 && v.never_found == 0,
        "every entry is whole and a logged key, once (%llu entries: %llu torn/unknown, %llu "
        "duplicate, %llu never inserted)",
        (unsigned long long)census.entries, (unsigned long long)census.bad,
        (unsigned long long)census.dup, (unsigned long long)v.never_found);
    tap(st.live == census.entries, "stats.live == full scan (%llu == %llu)",
        (unsigned long long)st.live, (unsigned long long)census.entries);
    tap(v.certain_missing == 0 && v.certain_wrong == 0,
        "every acknowledged insert not removed or revoked is found, exact, unrevoked (%llu "
        "keys: %llu missing, %llu wrong)",
        (unsigned long long)v.certain, (unsigned long long)v.certain_missing,
        (unsigned long long)v.certain_wrong);
    tap(v.removed_found == 0, "no acknowledged removal or failed insert is in the table (%llu)",
        (unsigned long long)v.removed_found);
    tap(v.flagged_unrevoked == 0 && v.revoked_unflagged == 0,
        "acknowledged revocations hold, and nothing else is revoked (%llu, %llu)",
        (unsigned long long)v.flagged_unrevoked, (unsigned long long)v.revoked_unflagged);
    tap(v.uncertain <= run.kills, "operations in flight at a kill (%llu) <= kills (%llu)",
        (unsigned long long)v.uncertain, (unsigned long long)run.kills);

    /* With revoked entries swept, the logs say exactly which keys are present, but for
     * the uncertain ones. */
    shm_table_iterate(table, free_revoked, NULL, (struct shm_owner){0, 1});
    census_take(&census);
    judge(&census, &v);
    certain_after = v.certain;
    uncertain_present_after = v.uncertain_present;
    shm_table_stats(table, &st);
    tap(st.live == census.entries && st.live == certain_after + uncertain_present_after &&
            v.certain_missing + v.removed_found + census.bad == 0 &&
            uncertain_present_after <= run.kills,
        "after sweeping revoked entries: stats.live %llu == scan %llu == logged present %llu "
        "+ uncertain present %llu (<= kills)",
        (unsigned long long)st.live, (unsigned long long)census.entries,
        (unsigned long long)certain_after, (unsigned long long)uncertain_present_after);
    tap(llabs(st.counted - (int64_t)st.live) <= (long long)run.kills,
        "per-owner counters within one per kill of the scan (counted %lld, live %llu)",
        (long long)st.counted, (unsigned long long)st.live);

    shm_table_iterate(table, free_all, NULL, (struct shm_owner){0, 1});
    shm_table_stats(table, &st);
    tap(st.live == 0 && st.busy == 0 && st.max_reach == 0,
        "sweeping everything leaves no entry, no claim, no reach (live %llu, busy %llu, "
        "max_reach %u)",
        (unsigned long long)st.live, (unsigned long long)st.busy, st.max_reach);
    for (uint32_t p = 0; p < opt.procs; p++)
        free(census.seen[p]);
    return tap_failed ? 1 : 0;
}
