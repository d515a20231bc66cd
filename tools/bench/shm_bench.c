/*
 * Micro-benchmark of the shared-memory table (shm/table.c) against a plain table: one
 * process pinned to one CPU, random 32-byte keys, 16-word (128-byte) entries.
 *
 * The plain table is what the lock-free one costs against: open addressing with linear
 * probing over the same capacity, the same entries, the same home function of the key's
 * first 8 bytes, an all-zero key for an empty slot, no atomics, no state words.  Its
 * operations are not inlined into the loops (noinline), as the table's are not (they are
 * in libtessera.a), so both pay one call per operation.
 *
 * For each table: inserts per second filling to 50% and on to 90% of capacity, then hit
 * and miss lookups per second at 50% and 90% (keys in random order, each lookup copies
 * the entry out as shm_table_lookup does).  Best of --rounds.  The last line:
 *   shm lookup_mops_per_core=X insert_mops_per_core=Y plain_ratio=R bytes_per_token=B
 * X: hit lookups at 90% fill; Y: inserts 0 -> 90%; R: X over the plain table's hit
 * lookups at 90%; B: shm_table_size(capacity, 16) / capacity.
 *
 *   shm_bench [--capacity N] [--cpu N] [--lookups N] [--rounds N] [--hugepages]
 *             [--only-table]
 * --hugepages maps both tables MAP_PRIVATE with MADV_HUGEPAGE (transparent huge pages),
 * to show what TLB misses cost; the default is MAP_SHARED, as the region is.
 * --only-table skips the plain table (and the last line), for A/B runs of table.c.
 */
#include "autoconfig.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "shm/table.h"

#define W 16

struct options {
    uint64_t capacity, lookups;
    int cpu, rounds;
    bool hugepages, only_table;
};

static struct options opt = {1000000, 4000000, -1, 3, false, false};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rates are per CPU-second of this process ("per core"): on a shared machine the wall
 * clock also counts the time other processes had our CPU. */
static double now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static void *map(size_t size)
{
    int flags = opt.hugepages ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED | MAP_ANONYMOUS;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);

    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    if (opt.hugepages && madvise(p, size, MADV_HUGEPAGE) == -1)
        perror("madvise(MADV_HUGEPAGE)");
    return p;
}

/* ---- the plain table ------------------------------------------------------------------ */

struct plain {
    uint64_t nslots;
    uint64_t (*slots)[W];
};

static uint64_t plain_home(const struct plain *p, uint64_t h)
{
    return (uint64_t)(((unsigned __int128)h * p->nslots) >> 64);
}

static bool plain_empty(const uint64_t *s)
{
    return (s[0] | s[1] | s[2] | s[3]) == 0;
}

__attribute__((noinline)) static int64_t plain_insert(struct plain *p, const uint64_t *w)
{
    uint64_t i = plain_home(p, w[0]);

    for (uint64_t n = 0; n < p->nslots; n++, i = i + 1 == p->nslots ? 0 : i + 1) {
        if (plain_empty(p->slots[i])) {
            memcpy(p->slots[i], w, W * sizeof(uint64_t));
            return (int64_t)i;
        }
    }
    return -1;
}

__attribute__((noinline)) static int plain_lookup(const struct plain *p, const uint8_t *key,
                                                  uint64_t *out)
{
    uint64_t k[4], i;

    memcpy(k, key, sizeof(k));
    i = plain_home(p, k[0]);
    for (uint64_t n = 0; n < p->nslots; n++, i = i + 1 == p->nslots ? 0 : i + 1) {
        const uint64_t *s = p->slots[i];

        if (s[0] == k[0] && s[1] == k[1] && s[2] == k[2] && s[3] == k[3]) {
            memcpy(out, s, W * sizeof(uint64_t));
            return 0;
        }
        if (plain_empty(s))
            return -1;
    }
    return -1;
}

/* ---- one table or the other ----------------------------------------------------------- */

struct target {
    const char *name;
    struct shm_table *t;
    struct plain p;
};

static const struct shm_owner me = {1, 1};

static int64_t target_insert(struct target *g, const uint64_t *w)
{
    return g->t ? shm_table_insert(g->t, w, me) : plain_insert(&g->p, w);
}

/* Looks up n keys (cycling through keys[0..nkeys)); returns how many were found. */
static uint64_t target_lookups(const struct target *g, uint64_t (*keys)[W], uint64_t nkeys,
                               uint64_t n, uint64_t *sum)
{
    uint64_t found = 0, s = 0;

    if (g->t) {
        struct shm_entry e;

        for (uint64_t i = 0, k = 0; i < n; i++, k = k + 1 == nkeys ? 0 : k + 1) {
            if (shm_table_lookup(g->t, (const uint8_t *)keys[k], &e) == 0) {
                found++;
                s += e.words[W - 1];
            }
        }
    } else {
        uint64_t out[W];

        for (uint64_t i = 0, k = 0; i < n; i++, k = k + 1 == nkeys ? 0 : k + 1) {
            if (plain_lookup(&g->p, (const uint8_t *)keys[k], out) == 0) {
                found++;
                s += out[W - 1];
            }
        }
    }
    *sum += s;
    return found;
}

struct results {
    double insert50, insert90, insert_all, hit50, miss50, hit90, miss90;
};

static void entry_make(uint64_t *w, uint64_t id)
{
    for (int i = 0; i < W; i++)
        w[i] = mix64(id * W + (uint64_t)i + 1);
}

/* Best lookups per second over the rounds; exits if a hit misses or a miss hits. */
static double measure_lookups(const struct target *g, uint64_t (*keys)[W], uint64_t nkeys,
                              bool hits, uint64_t *sum)
{
    double best = 0;

    for (int r = 0; r < opt.rounds; r++) {
        double t0 = now(), rate;
        uint64_t found = target_lookups(g, keys, nkeys, opt.lookups, sum);

        rate = (double)opt.lookups / (now() - t0);
        if (found != (hits ? opt.lookups : 0)) {
            fprintf(stderr, "%s: %llu of %llu lookups found, expected %s\n", g->name,
                    (unsigned long long)found, (unsigned long long)opt.lookups,
                    hits ? "all" : "none");
            exit(1);
        }
        if (rate > best)
            best = rate;
    }
    return best;
}

/* Inserts entries [from, to) of the key stream; returns inserts per second. */
static double fill(struct target *g, uint64_t from, uint64_t to)
{
    uint64_t w[W];
    double t0 = now();

    for (uint64_t i = from; i < to; i++) {
        entry_make(w, i);
        if (target_insert(g, w) < 0) {
            fprintf(stderr, "%s: insert %llu failed\n", g->name, (unsigned long long)i);
            exit(1);
        }
    }
    return (double)(to - from) / (now() - t0);
}

/* Keys to look up: n of the first `present` inserted (hits) in random order, or n never
 * inserted (misses). */
static void keys_make(uint64_t (*keys)[W], uint64_t n, uint64_t present, bool hits, uint64_t seed)
{
    for (uint64_t i = 0; i < n; i++) {
        seed = mix64(seed);
        entry_make(keys[i], hits ? seed % present : (1ULL << 40) + seed);
    }
}

static void run(struct target *g, uint64_t cap, struct results *res, uint64_t (*keys)[W],
                uint64_t nkeys)
{
    uint64_t half = cap / 2, ninety = cap * 9 / 10, sum = 0;
    double t0 = now(), wall0 = clock_s(CLOCK_MONOTONIC);

    res->insert50 = fill(g, 0, half);
    keys_make(keys, nkeys, half, true, 1);
    res->hit50 = measure_lookups(g, keys, nkeys, true, &sum);
    keys_make(keys, nkeys, half, false, 2);
    res->miss50 = measure_lookups(g, keys, nkeys, false, &sum);
    {
        double t1 = now(), fill_time;

        res->insert90 = fill(g, half, ninety);
        fill_time = (now() - t1) + (double)half / res->insert50;
        res->insert_all = (double)ninety / fill_time;
    }
    keys_make(keys, nkeys, ninety, true, 3);
    res->hit90 = measure_lookups(g, keys, nkeys, true, &sum);
    keys_make(keys, nkeys, ninety, false, 4);
    res->miss90 = measure_lookups(g, keys, nkeys, false, &sum);
    printf("%-9s inserts 0-50%% %6.2f M/s, 50-90%% %6.2f M/s, 0-90%% %6.2f M/s | lookups "
           "50%%: hit %6.2f miss %6.2f M/s | 90%%: hit %6.2f miss %6.2f M/s  (%.1f cpu-s, "
           "%.0f%% of wall; %llx)\n",
           g->name, res->insert50 / 1e6, res->insert90 / 1e6, res->insert_all / 1e6,
           res->hit50 / 1e6, res->miss50 / 1e6, res->hit90 / 1e6, res->miss90 / 1e6, now() - t0,
           100 * (now() - t0) / (clock_s(CLOCK_MONOTONIC) - wall0),
           (unsigned long long)(sum & 0xfff));
}

static void pin(void)
{
    cpu_set_t set;
    int cpu = opt.cpu;

    if (cpu < 0) {
        if (sched_getaffinity(0, sizeof(set), &set) == -1)
            return;
        for (int i = 0; i < CPU_SETSIZE; i++)
            if (CPU_ISSET(i, &set))
                cpu = i; /* the last one allowed: CPU 0 takes more interrupts */
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) == -1)
        perror("sched_setaffinity");
    else
        printf("pinned to CPU %d\n", cpu);
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hugepages") == 0 || strcmp(argv[i], "--only-table") == 0) {
            *(argv[i][2] == 'h' ? &opt.hugepages : &opt.only_table) = true;
            continue;
        }
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--capacity") == 0)
            opt.capacity = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--lookups") == 0)
            opt.lookups = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cpu") == 0)
            opt.cpu = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0)
            opt.rounds = atoi(argv[++i]);
        else
            goto usage;
    }
    if (opt.capacity >= 1000 && opt.lookups > 0 && opt.rounds > 0)
        return;
usage:
    fprintf(stderr, "usage: shm_bench [--capacity N] [--cpu N] [--lookups N] [--rounds N] "
                    "[--hugepages] [--only-table]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t nkeys = 1 << 20, cap;
    size_t size;
    struct target lf = {.name = "lock-free"}, pl = {.name = "plain"};
    struct results rl, rp;
    uint64_t(*keys)[W];
    double bytes;

    parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pin();
    size = shm_table_size(opt.capacity, W);
    lf.t = map(size);
    shm_table_init(lf.t, size, opt.capacity, W);
    cap = shm_table_capacity(lf.t);
    pl.p.nslots = cap;
    pl.p.slots = map(cap * W * sizeof(uint64_t));
    keys = malloc(nkeys * sizeof(*keys));
    if (keys == NULL)
        return 1;
    bytes = (double)shm_table_size(opt.capacity, W) / (double)opt.capacity;
    printf("capacity %llu (%llu slots), %d-byte entries, %s memory; table %.1f MB, plain "
           "%.1f MB; %llu lookups x %d rounds, best\n",
           (unsigned long long)opt.capacity, (unsigned long long)cap, W * 8,
           opt.hugepages ? "private THP" : "shared", (double)size / 1e6,
           (double)(cap * W * 8) / 1e6, (unsigned long long)opt.lookups, opt.rounds);
    run(&lf, cap, &rl, keys, nkeys);
    if (opt.only_table)
        return 0;
    run(&pl, cap, &rp, keys, nkeys);
    printf("lock-free/plain: inserts %.2f | 50%% hit %.2f miss %.2f | 90%% hit %.2f miss %.2f\n",
           rl.insert_all / rp.insert_all, rl.hit50 / rp.hit50, rl.miss50 / rp.miss50,
           rl.hit90 / rp.hit90, rl.miss90 / rp.miss90);
    printf("shm lookup_mops_per_core=%.2f insert_mops_per_core=%.2f plain_ratio=%.2f "
           "bytes_per_token=%.1f\n",
           rl.hit90 / 1e6, rl.insert_all / 1e6, rl.hit90 / rp.hit90, bytes);
    return 0;
}
