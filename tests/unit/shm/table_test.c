/*
 * Unit tests of shm/table.c, the lock-free shared-memory hash table.  The test includes
 * the .c to reach its statics: keys are crafted with the table's own home function so
 * that probe chains, wrap-around and reaches land on known buckets, and table_claim (the
 * first step of every insert) leaves BUSY slots exactly as a process killed mid-insert
 * does.  Tables live in MAP_SHARED|MAP_ANONYMOUS memory; the tests that race or kill
 * processes fork after mapping it.  Children never call cmocka: they _exit with a status.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/table.c"

#define W 16 /* payload words of the token table */

static const struct shm_owner owner_a = {1, 1};
static const struct shm_owner owner_b = {2, 1};
static const struct shm_owner owner_c = {3, 7};

/* ---- helpers ------------------------------------------------------------------------ */

#define MAX_MAPS 8
static struct {
    void *p;
    size_t size;
} maps[MAX_MAPS];

static void *shared_new(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(p != MAP_FAILED);
    for (int i = 0; i < MAX_MAPS; i++) {
        if (maps[i].p == NULL) {
            maps[i].p = p;
            maps[i].size = size;
            return p;
        }
    }
    fail_msg("too many mappings");
    return NULL;
}

/* The forked helper of the running test, if any: a failed assertion in the parent
 * leaves the test at once, and the teardown must not leave the helper spinning. */
static pid_t child;

static pid_t fork_child(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        return 0;
    }
    child = pid;
    return pid;
}

/* Waits for the helper; returns its status. */
static int child_wait(void)
{
    int status;

    assert_int_equal(waitpid(child, &status, 0), child);
    child = 0;
    return status;
}

static int unmap_all(void **state)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = 0;
    }
    for (int i = 0; i < MAX_MAPS; i++) {
        if (maps[i].p)
            munmap(maps[i].p, maps[i].size);
        maps[i].p = NULL;
    }
    return 0;
}

/* A fresh table in shared memory (zeroed, as shm_table_init requires). */
static struct shm_table *table_new(uint64_t capacity, uint32_t words)
{
    size_t size = shm_table_size(capacity, words);
    struct shm_table *t = shared_new(size);

    shm_table_init(t, size, capacity, words);
    return t;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Payload word i (>= 4) of the entry whose key is w[0..3]: a function of the key, so a
 * copy mixing two entries' words never passes entry_valid. */
static uint64_t payload_word(const uint64_t *w, uint32_t i)
{
    return mix64(w[0] ^ mix64(w[1] ^ mix64(w[2] + w[3] * 31 + i)));
}

/* Entry number id whose key's first word (home and tag) is h. */
static void entry_make(uint64_t *w, uint32_t words, uint64_t h, uint64_t id)
{
    w[0] = h;
    for (uint32_t i = 1; i < 4; i++)
        w[i] = mix64(id * 4 + i);
    for (uint32_t i = 4; i < words; i++)
        w[i] = payload_word(w, i);
}

/* Entry number id with a random-looking key. */
static void entry_random(uint64_t *w, uint32_t words, uint64_t id)
{
    entry_make(w, words, mix64(id ^ 0x5eed5eed5eedULL), id);
}

static bool entry_valid(const uint64_t *w, uint32_t words)
{
    for (uint32_t i = 4; i < words; i++)
        if (w[i] != payload_word(w, i))
            return false;
    return true;
}

/* The smallest key word 0 homed at bucket b, plus off (off < 2^64 / nbuckets). */
static uint64_t h_for_bucket(const struct shm_table *t, uint64_t b, uint64_t off)
{
    unsigned __int128 lo = (((unsigned __int128)b << 64) + t->nbuckets - 1) / t->nbuckets;
    uint64_t h = (uint64_t)lo + off;

    /* Keys prefer slot 0 of their home, so crafted keys fill a bucket in slot order. */
    while (table_pref(h) != 0)
        h += 1ULL << 29;
    assert_int_equal(table_home(t, h), b);
    return h;
}

/* Waits for *v >= target: spins, yielding now and then so that a partner sharing our CPU
 * (make -j check on a small machine) runs. */
static void spin_until(_Atomic uint64_t *v, uint64_t target)
{
    for (unsigned n = 1; atomic_load(v) < target; n++)
        if (n % 256 == 0)
            sched_yield();
}

static int lookup(const struct shm_table *t, const uint64_t *w, struct shm_entry *e)
{
    return shm_table_lookup(t, (const uint8_t *)w, e);
}

/* Asserts w is in the table, exactly, at slot (or anywhere when slot < 0). */
static void assert_found(const struct shm_table *t, const uint64_t *w, int64_t slot)
{
    struct shm_entry e;

    assert_int_equal(lookup(t, w, &e), 0);
    assert_memory_equal(e.words, w, t->words * sizeof(uint64_t));
    if (slot >= 0)
        assert_int_equal(e.slot, slot);
    assert_int_equal(M_STATE(e.meta), ST_LIVE);
}

static void assert_missing(const struct shm_table *t, const uint64_t *w)
{
    struct shm_entry e;

    assert_int_equal(lookup(t, w, &e), -ENOENT);
}

static void stats(const struct shm_table *t, struct shm_table_stats *st)
{
    shm_table_stats(t, st);
}

/* Live, revoked and busy by reading every state word, and live and revoked again
 * through shm_table_iterate: the references stats are checked against. */
struct scan {
    uint64_t live, revoked, busy, visited, visited_revoked;
};

static int scan_visit(const struct shm_entry *e, void *arg)
{
    struct scan *s = arg;

    s->visited++;
    s->visited_revoked += e->revoked;
    return 0;
}

static void scan(struct shm_table *t, struct scan *s)
{
    memset(s, 0, sizeof(*s));
    for (uint64_t i = 0; i < shm_table_capacity(t); i++) {
        uint64_t m = atomic_load(table_meta(t, i));

        s->live += M_STATE(m) == ST_LIVE;
        s->revoked += M_STATE(m) == ST_LIVE && (m & M_REVOKED);
        s->busy += M_STATE(m) == ST_BUSY;
    }
    assert_int_equal(shm_table_iterate(t, scan_visit, s, owner_c), 0);
}

static void assert_stats_consistent(struct shm_table *t)
{
    struct shm_table_stats st;
    struct scan s;

    scan(t, &s);
    stats(t, &st);
    assert_int_equal(st.live, s.live);
    assert_int_equal(st.live, s.visited);
    assert_int_equal(st.revoked, s.revoked);
    assert_int_equal(st.revoked, s.visited_revoked);
    assert_int_equal(st.busy, s.busy);
    assert_int_equal(st.counted, (int64_t)st.live);
}

/* Leaves a BUSY slot exactly as an insert homed at b0 by `who` that died after its claim
 * (and, with extend, after extending the reach) would. */
static int64_t claim(struct shm_table *t, uint64_t b0, struct shm_owner who, bool extend)
{
    uint32_t d;
    uint64_t meta;
    int64_t slot = table_claim(t, b0, 0, who, &d, &meta);

    assert_true(slot >= 0);
    if (extend)
        table_reach_extend(t, b0, d);
    return slot;
}

static uint32_t reach_of(const struct shm_table *t, uint64_t b)
{
    return CTL_REACH(atomic_load(&table_bucket(t, b)->ctl));
}

/* ---- size, init ----------------------------------------------------------------------- */

static void test_size_and_init(void **state)
{
    struct shm_table_stats st;
    struct shm_table *t;

    assert_int_equal(shm_table_size(700, 16), sizeof(struct shm_table) + 100 * 64 + 700 * 128);
    /* At least two buckets, and capacity rounds up to whole buckets. */
    assert_int_equal(shm_table_size(1, 4), sizeof(struct shm_table) + 2 * 64 + 14 * 32);
    assert_int_equal(shm_table_size(701, 5), sizeof(struct shm_table) + 101 * 64 + 707 * 40);
    assert_int_equal(sizeof(struct shm_bucket), 64);
    assert_int_equal(sizeof(struct shm_table_counters), 64);
    assert_int_equal(sizeof(struct shm_table) % 64, 0);

    t = table_new(10, W);
    assert_int_equal(shm_table_capacity(t), 14);
    assert_int_equal(t->nbuckets, 2);
    assert_int_equal(t->max_reach, 1);

    t = table_new(700, W);
    assert_int_equal(shm_table_capacity(t), 700);
    assert_int_equal(t->max_reach, 99);
    assert_int_equal(t->payload_off % 64, 0);
    stats(t, &st);
    assert_int_equal(st.capacity, 700);
    assert_int_equal(st.live + st.revoked + st.busy + st.inserts + st.full + st.probes, 0);
    assert_int_equal(st.counted, 0);
    assert_int_equal(st.max_reach, 0);

    /* More buckets than a reach can count: inserts stop looking at REACH_MAX. */
    t = table_new(7 * 70000, 4);
    assert_int_equal(t->max_reach, REACH_MAX);
}

/* ---- insert, lookup ------------------------------------------------------------------- */

static void test_insert_lookup(void **state)
{
    struct shm_table *t = table_new(700, W);
    uint64_t w[50][W], other[W];
    struct shm_table_stats st;
    int64_t slots[50];

    for (int i = 0; i < 50; i++) {
        entry_random(w[i], W, (uint64_t)i);
        slots[i] = shm_table_insert(t, w[i], owner_a);
        assert_true(slots[i] >= 0 && slots[i] < 700);
        for (int j = 0; j < i; j++)
            assert_true(slots[i] != slots[j]);
    }
    for (int i = 0; i < 50; i++) {
        struct shm_entry e;

        assert_int_equal(lookup(t, w[i], &e), 0);
        assert_int_equal(e.slot, slots[i]);
        assert_false(e.revoked);
        assert_int_equal(M_STATE(e.meta), ST_LIVE);
        assert_memory_equal(e.words, w[i], sizeof(w[i]));
    }
    /* Misses: unknown keys, and keys sharing word 0 (so home and tag) or all but one
     * byte with a present one. */
    for (int i = 50; i < 150; i++) {
        entry_random(other, W, (uint64_t)i);
        assert_missing(t, other);
    }
    memcpy(other, w[7], sizeof(other));
    other[3] ^= 1ULL << 63;
    assert_missing(t, other);
    memcpy(other, w[7], sizeof(other));
    other[1]++;
    assert_missing(t, other);

    stats(t, &st);
    assert_int_equal(st.live, 50);
    assert_int_equal(st.counted, 50);
    assert_int_equal(st.inserts, 50);
    assert_int_equal(st.busy + st.revoked + st.full, 0);
    assert_true(st.probes >= 50);
    assert_stats_consistent(t);
}

static void test_read_by_slot(void **state)
{
    struct shm_table *t = table_new(70, W);
    uint64_t w[W];
    struct shm_entry e;
    int64_t slot;

    entry_make(w, W, h_for_bucket(t, 4, 0), 1);
    slot = shm_table_insert(t, w, owner_a);
    assert_int_equal(slot, 28);
    assert_int_equal(shm_table_read(t, 28, &e), 0);
    assert_int_equal(e.slot, 28);
    assert_false(e.revoked);
    assert_memory_equal(e.words, w, sizeof(w));
    assert_int_equal(shm_table_revoke(t, &e), 0);
    assert_int_equal(shm_table_read(t, 28, &e), 0);
    assert_true(e.revoked);
    assert_int_equal(shm_table_read(t, 29, &e), -ENOENT); /* empty */
    assert_int_equal(claim(t, 4, owner_c, true), 29);
    assert_int_equal(shm_table_read(t, 29, &e), -ENOENT); /* being written */
    assert_int_equal(shm_table_read(t, 70, &e), -ENOENT); /* past the end */
    assert_int_equal(shm_table_read(t, UINT64_MAX, &e), -ENOENT);
    assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    assert_int_equal(shm_table_read(t, 28, &e), -ENOENT); /* freed */
}

static void test_payload_roundtrip(void **state)
{
    static const uint32_t sizes[] = {4, 5, W, 40, SHM_TABLE_MAX_WORDS};

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint32_t words = sizes[s];
        struct shm_table *t = table_new(140, words);
        uint64_t w[SHM_TABLE_MAX_WORDS];

        for (uint64_t i = 0; i < 120; i++) {
            entry_random(w, words, i * 1000 + words);
            for (uint32_t k = 4; k < words; k++) /* every bit pattern, not only hashes */
                w[k] = k & 1 ? ~0ULL : i << k % 64;
            assert_true(shm_table_insert(t, w, owner_a) >= 0);
        }
        for (uint64_t i = 0; i < 120; i++) {
            entry_random(w, words, i * 1000 + words);
            for (uint32_t k = 4; k < words; k++)
                w[k] = k & 1 ? ~0ULL : i << k % 64;
            assert_found(t, w, -1);
        }
        unmap_all(NULL);
    }
}

/* ---- revoke, remove ------------------------------------------------------------------- */

static void test_revoke(void **state)
{
    struct shm_table *t = table_new(700, W);
    uint64_t w[W], v[W];
    struct shm_entry e1, e2, e3;
    struct shm_table_stats st;

    entry_random(w, W, 1);
    entry_random(v, W, 2);
    assert_true(shm_table_insert(t, w, owner_a) >= 0);
    assert_true(shm_table_insert(t, v, owner_a) >= 0);
    assert_int_equal(lookup(t, w, &e1), 0);
    assert_false(e1.revoked);

    assert_int_equal(shm_table_revoke(t, &e1), 0);
    assert_int_equal(lookup(t, w, &e2), 0);
    assert_true(e2.revoked);
    assert_int_equal(e2.slot, e1.slot);
    assert_int_equal(M_SEQ(e2.meta), M_SEQ(e1.meta) + 1);
    assert_memory_equal(e2.words, w, sizeof(w)); /* revocation keeps the payload */
    assert_found(t, v, -1);
    assert_int_equal(lookup(t, v, &e3), 0);
    assert_false(e3.revoked); /* and touches no other entry */

    /* Revoking again: with the stale copy it changed (-EAGAIN), with a fresh one it is
     * already done (0, and nothing is written). */
    assert_int_equal(shm_table_revoke(t, &e1), -EAGAIN);
    assert_int_equal(shm_table_revoke(t, &e2), 0);
    assert_int_equal(lookup(t, w, &e3), 0);
    assert_true(e3.revoked);
    assert_int_equal(e3.meta, e2.meta);

    stats(t, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.revoked, 1);
    assert_stats_consistent(t);

    /* Gone: removed, then the slot reused by another entry. */
    assert_int_equal(shm_table_remove(t, &e2, owner_a), 0);
    assert_missing(t, w);
    assert_int_equal(shm_table_revoke(t, &e1), -ENOENT);
    entry_make(w, W, w[0], 3); /* same home: the freed slot is the first free one */
    e3 = e1;
    assert_int_equal(shm_table_insert(t, w, owner_a), (int64_t)e1.slot);
    assert_int_equal(shm_table_revoke(t, &e3), -EAGAIN); /* look it up again: not there */
    assert_int_equal(lookup(t, w, &e3), 0);
    assert_false(e3.revoked); /* the new entry was not revoked by the stale copy */
    stats(t, &st);
    assert_int_equal(st.revoked, 0);
}

static void test_remove(void **state)
{
    struct shm_table *t = table_new(700, W);
    uint64_t w[3][W], x[W];
    struct shm_entry e[3], stale, r;
    struct shm_table_stats st;

    for (int i = 0; i < 3; i++) {
        entry_random(w[i], W, (uint64_t)i);
        assert_true(shm_table_insert(t, w[i], owner_a) >= 0);
        assert_int_equal(lookup(t, w[i], &e[i]), 0);
    }
    assert_int_equal(shm_table_remove(t, &e[1], owner_a), 0);
    assert_missing(t, w[1]);
    assert_found(t, w[0], (int64_t)e[0].slot);
    assert_found(t, w[2], (int64_t)e[2].slot);
    stats(t, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.counted, 2);

    /* Twice: gone.  A stale copy of a revoked entry: changed.  A stale copy of an entry
     * whose slot now holds another: changed, and the other survives. */
    assert_int_equal(shm_table_remove(t, &e[1], owner_a), -ENOENT);
    stale = e[0];
    assert_int_equal(shm_table_revoke(t, &e[0]), 0);
    assert_int_equal(shm_table_remove(t, &stale, owner_a), -EAGAIN);
    assert_int_equal(lookup(t, w[0], &r), 0);
    assert_int_equal(shm_table_remove(t, &r, owner_a), 0);
    assert_missing(t, w[0]);
    entry_make(x, W, w[0][0], 99); /* same home: the freed slot is the first free one */
    assert_int_equal(shm_table_insert(t, x, owner_a), (int64_t)e[0].slot);
    assert_int_equal(shm_table_remove(t, &stale, owner_a), -EAGAIN);
    assert_int_equal(shm_table_remove(t, &r, owner_a), -EAGAIN);
    assert_found(t, x, (int64_t)e[0].slot);

    stats(t, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.inserts, 4);
    assert_stats_consistent(t);
}

/* ---- full table ----------------------------------------------------------------------- */

static void test_full_table(void **state)
{
    struct shm_table *t = table_new(14, W);
    uint64_t w[14][W], x[W];
    struct shm_table_stats st;
    struct shm_entry e;
    bool used[14] = {false};

    for (int i = 0; i < 14; i++) {
        int64_t slot;

        entry_random(w[i], W, (uint64_t)i);
        slot = shm_table_insert(t, w[i], owner_a);
        assert_true(slot >= 0 && slot < 14);
        assert_false(used[slot]);
        used[slot] = true;
    }
    entry_random(x, W, 100);
    assert_int_equal(shm_table_insert(t, x, owner_a), -ENOSPC);
    assert_int_equal(shm_table_insert_unique(t, x, owner_a), -ENOSPC);
    assert_int_equal(shm_table_insert_unique(t, w[3], owner_a), -EEXIST);
    assert_missing(t, x);
    for (int i = 0; i < 14; i++)
        assert_found(t, w[i], -1);
    stats(t, &st);
    assert_int_equal(st.live, 14);
    assert_int_equal(st.counted, 14);
    assert_int_equal(st.inserts, 14);
    assert_int_equal(st.full, 2);
    assert_int_equal(st.busy, 0);
    assert_true(st.max_reach <= 1);
    assert_stats_consistent(t);

    /* A freed slot is found again by the next insert, wherever its home. */
    assert_int_equal(lookup(t, w[5], &e), 0);
    assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    assert_int_equal(shm_table_insert(t, x, owner_a), (int64_t)e.slot);
    assert_found(t, x, (int64_t)e.slot);

    /* A bigger table fills to exactly its capacity: inserts may look at every bucket. */
    t = table_new(700, W);
    for (uint64_t i = 0;; i++) {
        entry_random(x, W, 1000 + i);
        if (shm_table_insert(t, x, owner_b) < 0) {
            assert_int_equal(i, 700);
            break;
        }
    }
    for (uint64_t i = 0; i < 700; i++) {
        entry_random(x, W, 1000 + i);
        assert_found(t, x, -1);
    }
    entry_random(x, W, 5000);
    assert_int_equal(shm_table_insert(t, x, owner_b), -ENOSPC);
    stats(t, &st);
    assert_int_equal(st.live, 700);
    assert_int_equal(st.full, 2);
    assert_true(st.max_reach < 100);
    assert_stats_consistent(t);
}

/* ---- probe chains ------------------------------------------------------------------- */

/* Inserts n entries homed at bucket b (ids from id0) and checks they fill slots in
 * order from the first free one at or after b. */
static void insert_homed(struct shm_table *t, uint64_t w[][W], int n, uint64_t b, uint64_t id0)
{
    for (int i = 0; i < n; i++) {
        entry_make(w[i], W, h_for_bucket(t, b, id0 + (uint64_t)i), id0 + (uint64_t)i);
        assert_true(shm_table_insert(t, w[i], owner_a) >= 0);
    }
}

static void test_collisions(void **state)
{
    struct shm_table *t = table_new(70, W); /* 10 buckets */
    uint64_t w[20][W], same_tag[5][W], same_h[3][W], x[W];
    struct shm_table_stats st;

    insert_homed(t, w, 20, 3, 0);
    for (int i = 0; i < 20; i++)
        assert_found(t, w[i], 21 + i); /* buckets 3, 4 and 5 in order */
    assert_int_equal(reach_of(t, 3), 2);
    stats(t, &st);
    assert_int_equal(st.max_reach, 2);

    /* A key homed in a bucket the chain filled goes to the next free slot. */
    entry_make(x, W, h_for_bucket(t, 4, 0), 500);
    assert_int_equal(shm_table_insert(t, x, owner_a), 41);
    assert_int_equal(reach_of(t, 4), 1);
    entry_make(x, W, h_for_bucket(t, 4, 1), 501);
    assert_int_equal(shm_table_insert(t, x, owner_a), 42);
    assert_int_equal(reach_of(t, 4), 2);
    assert_found(t, x, 42);

    /* Same tag (low 29 bits of word 0) and home, different keys. */
    for (int i = 0; i < 5; i++) {
        entry_make(same_tag[i], W, h_for_bucket(t, 7, (uint64_t)i << 29), 600 + (uint64_t)i);
        assert_int_equal(table_tag(same_tag[i][0]), table_tag(same_tag[0][0]));
        assert_true(shm_table_insert(t, same_tag[i], owner_a) >= 0);
    }
    /* Same word 0, keys differing in words 1-3 only. */
    for (int i = 0; i < 3; i++) {
        entry_make(same_h[i], W, h_for_bucket(t, 7, 12345), 700 + (uint64_t)i);
        assert_true(shm_table_insert(t, same_h[i], owner_a) >= 0);
    }
    for (int i = 0; i < 5; i++)
        assert_found(t, same_tag[i], 49 + i);
    for (int i = 0; i < 3; i++)
        assert_found(t, same_h[i], i < 2 ? 54 + i : 56);
    entry_make(x, W, h_for_bucket(t, 7, 12345), 703);
    assert_missing(t, x);
    entry_make(x, W, h_for_bucket(t, 3, 0), 999); /* homed at 3, word 0 of w[0] */
    assert_missing(t, x);
    for (int i = 0; i < 20; i++)
        assert_found(t, w[i], 21 + i);
    assert_stats_consistent(t);
}

static void test_wraparound(void **state)
{
    struct shm_table *t = table_new(70, W);
    uint64_t w[10][W], x[W];
    struct shm_entry e;

    insert_homed(t, w, 10, 9, 0);
    for (int i = 0; i < 7; i++)
        assert_found(t, w[i], 63 + i);
    for (int i = 7; i < 10; i++)
        assert_found(t, w[i], i - 7); /* past the last bucket: bucket 0 */
    assert_int_equal(reach_of(t, 9), 1);
    entry_make(x, W, h_for_bucket(t, 0, 77), 77);
    assert_int_equal(shm_table_insert(t, x, owner_a), 3);
    assert_int_equal(reach_of(t, 0), 0);

    /* Emptying the last bucket keeps the wrapped entries reachable. */
    for (int i = 0; i < 7; i++) {
        assert_int_equal(lookup(t, w[i], &e), 0);
        assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    }
    for (int i = 7; i < 10; i++)
        assert_found(t, w[i], i - 7);
    assert_found(t, x, 3);
    assert_int_equal(reach_of(t, 9), 1);

    /* A full chain from the last bucket wraps through bucket 0 up to bucket 2. */
    t = table_new(70, W);
    {
        uint64_t chain[20][W];

        insert_homed(t, chain, 20, 9, 100);
        for (int i = 0; i < 20; i++)
            assert_found(t, chain[i], i < 7 ? 63 + i : i - 7);
        assert_int_equal(reach_of(t, 9), 2);
        assert_stats_consistent(t);
    }
}

static void test_free_middle_of_chain(void **state)
{
    struct shm_table *t = table_new(70, W);
    uint64_t w[20][W], x[W];
    struct shm_entry e;

    insert_homed(t, w, 20, 3, 0);
    for (int i = 7; i < 14; i++) { /* bucket 4, the middle of the chain */
        assert_int_equal(lookup(t, w[i], &e), 0);
        assert_int_equal(e.slot, 21 + i);
        assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    }
    for (int i = 0; i < 20; i++) {
        if (i >= 7 && i < 14)
            assert_missing(t, w[i]);
        else
            assert_found(t, w[i], 21 + i);
    }
    assert_int_equal(reach_of(t, 3), 2); /* remove does not shrink */

    /* The first of the chain too; then inserts refill the holes from the home. */
    assert_int_equal(lookup(t, w[0], &e), 0);
    assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    for (int i = 14; i < 20; i++)
        assert_found(t, w[i], 21 + i);
    entry_make(x, W, h_for_bucket(t, 3, 1000), 1000);
    assert_int_equal(shm_table_insert(t, x, owner_a), 21);
    entry_make(x, W, h_for_bucket(t, 3, 1001), 1001);
    assert_int_equal(shm_table_insert(t, x, owner_a), 28);
    assert_found(t, x, 28);
    assert_stats_consistent(t);
}

/* ---- iterate, reach shrink ---------------------------------------------------------- */

struct slot_range {
    uint64_t lo, hi; /* frees slots in [lo, hi) */
    uint64_t seen;
};

static int free_range(const struct shm_entry *e, void *arg)
{
    struct slot_range *r = arg;

    r->seen++;
    return e->slot >= r->lo && e->slot < r->hi;
}

static int64_t iterate_free(struct shm_table *t, uint64_t lo, uint64_t hi)
{
    struct slot_range r = {lo, hi, 0};

    return shm_table_iterate(t, free_range, &r, owner_b);
}

static void test_iterate_shrinks_reach(void **state)
{
    struct shm_table *t = table_new(70, W);
    uint64_t w[20][W], x[2][W];
    struct shm_table_stats st;

    insert_homed(t, w, 20, 3, 0); /* slots 21..40 */
    stats(t, &st);
    assert_int_equal(st.max_reach, 2);

    assert_int_equal(iterate_free(t, 35, 41), 6); /* bucket 5 */
    stats(t, &st);
    assert_int_equal(st.max_reach, 1);
    assert_int_equal(st.live, 14);
    assert_int_equal(st.counted, 14);
    for (int i = 0; i < 20; i++) {
        if (i < 14)
            assert_found(t, w[i], 21 + i);
        else
            assert_missing(t, w[i]);
    }
    assert_int_equal(iterate_free(t, 28, 35), 7); /* bucket 4 */
    stats(t, &st);
    assert_int_equal(st.max_reach, 0);
    for (int i = 0; i < 7; i++)
        assert_found(t, w[i], 21 + i);

    /* Freeing the near part of a chain keeps the reach its farthest entry needs. */
    t = table_new(70, W);
    insert_homed(t, w, 20, 3, 0);
    assert_int_equal(iterate_free(t, 21, 35), 14);
    stats(t, &st);
    assert_int_equal(st.max_reach, 2);
    for (int i = 14; i < 20; i++)
        assert_found(t, w[i], 21 + i);

    /* Entries homed elsewhere hold no reach: bucket 3's chain ends, bucket 4's stays. */
    t = table_new(70, W);
    insert_homed(t, w, 14, 3, 0); /* buckets 3, 4 */
    entry_make(x[0], W, h_for_bucket(t, 4, 500), 500);
    entry_make(x[1], W, h_for_bucket(t, 4, 501), 501);
    assert_int_equal(shm_table_insert(t, x[0], owner_a), 35);
    assert_int_equal(shm_table_insert(t, x[1], owner_a), 36);
    assert_int_equal(iterate_free(t, 28, 35), 7);
    assert_int_equal(reach_of(t, 3), 0);
    assert_int_equal(reach_of(t, 4), 1);
    assert_found(t, x[0], 35);
    assert_found(t, x[1], 36);

    /* A slot being written holds the reach of every bucket whose range covers it: its
     * key, so its home, is unknown.  Once reclaimed, the next sweep shrinks. */
    t = table_new(70, W);
    insert_homed(t, w, 7, 3, 0);                      /* bucket 3 full */
    assert_int_equal(claim(t, 3, owner_c, true), 28); /* died before publishing */
    entry_make(x[0], W, h_for_bucket(t, 3, 700), 700);
    assert_int_equal(shm_table_insert(t, x[0], owner_a), 29);
    assert_int_equal(iterate_free(t, 29, 30), 1);
    assert_int_equal(reach_of(t, 3), 1);
    assert_int_equal(shm_table_reclaim(t, owner_c), 1);
    assert_int_equal(reach_of(t, 3), 1);
    assert_int_equal(iterate_free(t, 21, 22), 1);
    assert_int_equal(reach_of(t, 3), 0);
    for (int i = 1; i < 7; i++)
        assert_found(t, w[i], 21 + i);
    assert_stats_consistent(t);
}

#define VISIT_N 500

struct visits {
    struct shm_table *t;
    int64_t slot_of[VISIT_N];
    int count[VISIT_N];
    uint64_t seen, stop_after, free_below;
    bool bad;
};

static int visit(const struct shm_entry *e, void *arg)
{
    struct visits *v = arg;
    uint64_t w[W];
    int i;

    for (i = 0; i < VISIT_N && v->slot_of[i] != (int64_t)e->slot; i++)
        ;
    if (i == VISIT_N) {
        v->bad = true;
        return 0;
    }
    v->count[i]++;
    entry_random(w, W, (uint64_t)i);
    if (memcmp(w, e->words, sizeof(w)) != 0 || e->revoked != (i % 10 == 0))
        v->bad = true;
    if (++v->seen == v->stop_after)
        return -1;
    return (uint64_t)i < v->free_below;
}

static void test_iterate_visits_each_once(void **state)
{
    struct shm_table *t = table_new(700, W);
    struct visits *v = calloc(1, sizeof(*v));
    struct shm_table_stats st;
    uint64_t w[W];

    assert_non_null(v);
    for (int i = 0; i < VISIT_N; i++) {
        struct shm_entry e;

        entry_random(w, W, (uint64_t)i);
        v->slot_of[i] = shm_table_insert(t, w, owner_a);
        assert_true(v->slot_of[i] >= 0);
        if (i % 10 == 0) {
            assert_int_equal(lookup(t, w, &e), 0);
            assert_int_equal(shm_table_revoke(t, &e), 0);
        }
    }
    /* Read-only pass: each entry once, exact, with its revoked flag. */
    assert_int_equal(shm_table_iterate(t, visit, v, owner_b), 0);
    assert_false(v->bad);
    assert_int_equal(v->seen, VISIT_N);
    for (int i = 0; i < VISIT_N; i++)
        assert_int_equal(v->count[i], 1);

    /* A callback returning < 0 stops the walk at once. */
    memset(v->count, 0, sizeof(v->count));
    v->seen = 0;
    v->stop_after = 10;
    assert_int_equal(shm_table_iterate(t, visit, v, owner_b), 0);
    assert_int_equal(v->seen, 10);

    /* Freeing pass: the first 250 inserted go, the rest stay. */
    memset(v->count, 0, sizeof(v->count));
    v->seen = 0;
    v->stop_after = 0;
    v->free_below = 250;
    assert_int_equal(shm_table_iterate(t, visit, v, owner_b), 250);
    assert_false(v->bad);
    for (int i = 0; i < VISIT_N; i++) {
        assert_int_equal(v->count[i], 1);
        entry_random(w, W, (uint64_t)i);
        if (i < 250)
            assert_missing(t, w);
        else
            assert_found(t, w, v->slot_of[i]);
    }
    stats(t, &st);
    assert_int_equal(st.live, 250);
    assert_int_equal(st.revoked, 25);
    assert_int_equal(st.counted, 250);
    assert_int_equal(atomic_load(&t->counters[owner_a.slot].live), 500);
    assert_int_equal(atomic_load(&t->counters[owner_b.slot].live), -250);
    assert_stats_consistent(t);
    free(v);
}

/* ---- insert_unique -------------------------------------------------------------------- */

static void test_insert_unique(void **state)
{
    struct shm_table *t = table_new(700, W);
    uint64_t w[W], x[W];
    struct shm_table_stats st;
    struct shm_entry e;
    int64_t slot;

    entry_random(w, W, 1);
    slot = shm_table_insert_unique(t, w, owner_a);
    assert_true(slot >= 0);
    assert_int_equal(shm_table_insert_unique(t, w, owner_a), -EEXIST);
    assert_int_equal(shm_table_insert_unique(t, w, owner_b), -EEXIST);
    memcpy(x, w, sizeof(x)); /* same key, other payload: still the same key */
    x[10] ^= 1;
    assert_int_equal(shm_table_insert_unique(t, x, owner_b), -EEXIST);
    assert_found(t, w, slot);

    /* A revoked entry still holds its key. */
    assert_int_equal(lookup(t, w, &e), 0);
    assert_int_equal(shm_table_revoke(t, &e), 0);
    assert_int_equal(shm_table_insert_unique(t, w, owner_a), -EEXIST);
    assert_int_equal(lookup(t, w, &e), 0);
    assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    assert_int_equal(shm_table_insert_unique(t, w, owner_a), slot);

    /* A key present twice (plain insert does not check) is refused, both copies kept. */
    entry_random(x, W, 2);
    assert_true(shm_table_insert(t, x, owner_a) >= 0);
    assert_true(shm_table_insert(t, x, owner_a) >= 0);
    assert_int_equal(shm_table_insert_unique(t, x, owner_a), -EEXIST);
    stats(t, &st);
    assert_int_equal(st.live, 3);
    assert_int_equal(st.counted, 3);
    assert_stats_consistent(t);
}

/* A losing insert_unique takes back its own entry, revoked or not, and never one that
 * took its slot after someone else removed it (even one with the same key). */
static void test_withdraw_only_own(void **state)
{
    struct shm_table *t = table_new(70, W);
    uint64_t w[W], x[W], published, first;
    struct shm_entry e;

    entry_make(w, W, h_for_bucket(t, 2, 0), 1);
    entry_make(x, W, h_for_bucket(t, 2, 1), 2);
    assert_int_equal(table_insert(t, w, owner_a, &published), 14);
    assert_int_equal(lookup(t, w, &e), 0);
    assert_int_equal(e.meta, published);
    table_withdraw(t, 14, published, owner_a);
    assert_missing(t, w);

    assert_int_equal(table_insert(t, w, owner_a, &published), 14);
    assert_int_equal(lookup(t, w, &e), 0);
    assert_int_equal(shm_table_revoke(t, &e), 0);
    table_withdraw(t, 14, published, owner_a);
    assert_missing(t, w);

    assert_int_equal(table_insert(t, w, owner_a, &first), 14);
    assert_int_equal(lookup(t, w, &e), 0);
    assert_int_equal(shm_table_remove(t, &e, owner_b), 0);
    assert_int_equal(table_insert(t, x, owner_b, &published), 14);
    table_withdraw(t, 14, first, owner_a);
    assert_found(t, x, 14);
    assert_int_equal(lookup(t, x, &e), 0);
    assert_int_equal(shm_table_remove(t, &e, owner_b), 0);
    assert_int_equal(table_insert(t, w, owner_b, &published), 14);
    table_withdraw(t, 14, first, owner_a);
    assert_found(t, w, 14);
    assert_stats_consistent(t);
}

#define RACE_KEYS 20000

struct race {
    _Atomic uint64_t arrived;
    int64_t result[2][RACE_KEYS];
};

static void race_run(struct shm_table *t, struct race *r, int side)
{
    struct shm_owner who = {(uint32_t)(10 + side), 1};
    uint64_t w[W], rnd = mix64((uint64_t)side + 1);

    for (uint64_t i = 0; i < RACE_KEYS; i++) {
        atomic_fetch_add(&r->arrived, 1);
        spin_until(&r->arrived, 2 * (i + 1));
        /* Stagger the two sides by a random few tens of nanoseconds so that their
         * inserts overlap at every phase. */
        rnd = mix64(rnd);
        for (volatile uint64_t spin = rnd % 64; spin > 0; spin--)
            ;
        entry_random(w, W, 1000000 + i);
        r->result[side][i] = shm_table_insert_unique(t, w, who);
    }
}

/* Two processes insert_unique the same keys at the same moment: never both stay. */
static void test_insert_unique_race(void **state)
{
    struct shm_table *t = table_new(3 * RACE_KEYS, W);
    struct race *r = shared_new(sizeof(*r));
    struct shm_table_stats st;
    uint64_t won = 0, both = 0, neither = 0;
    int status;

    if (fork_child() == 0) {
        race_run(t, r, 1);
        _exit(0);
    }
    race_run(t, r, 0);
    status = child_wait();
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (uint64_t i = 0; i < RACE_KEYS; i++) {
        int64_t a = r->result[0][i], b = r->result[1][i];
        uint64_t w[W];

        entry_random(w, W, 1000000 + i);
        assert_true(a >= 0 || a == -EEXIST);
        assert_true(b >= 0 || b == -EEXIST);
        both += a >= 0 && b >= 0;
        neither += a < 0 && b < 0;
        won += a >= 0 || b >= 0;
    }
    print_message("# insert_unique race: %llu won, %llu both withdrew, %llu both stayed\n",
                  (unsigned long long)won, (unsigned long long)neither, (unsigned long long)both);
    assert_int_equal(both, 0);
    for (uint64_t i = 0; i < RACE_KEYS; i++) {
        int64_t a = r->result[0][i], b = r->result[1][i];
        uint64_t w[W];

        entry_random(w, W, 1000000 + i);
        if (a >= 0 || b >= 0)
            assert_found(t, w, a >= 0 ? a : b);
    }
    stats(t, &st);
    assert_int_equal(st.live, won);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.counted, (int64_t)won);
}

/* ---- reclaim -------------------------------------------------------------------------- */

static void test_reclaim_owners(void **state)
{
    struct shm_table *t = table_new(70, W);
    struct shm_owner a_next = {owner_a.slot, owner_a.generation + 1};
    struct shm_owner a_wrapped = {owner_a.slot, owner_a.generation + (1u << 21)};
    uint64_t w[5][W], x[W];
    struct shm_table_stats st;
    int64_t s;

    insert_homed(t, w, 5, 0, 0); /* slots 0..4 */
    /* A process is single-threaded: it holds at most one claim at a time, and the master
     * reclaims a dead generation before the slot's next one starts. */
    assert_int_equal(claim(t, 0, owner_a, true), 5);
    assert_int_equal(claim(t, 2, owner_b, true), 14);
    stats(t, &st);
    assert_int_equal(st.busy, 2);
    assert_int_equal(st.live, 5);
    assert_int_equal(st.counted, 5);
    for (int i = 0; i < 5; i++) /* claims hide nothing */
        assert_found(t, w[i], i);

    assert_int_equal(shm_table_reclaim(t, owner_c), 0);   /* never claimed anything */
    assert_int_equal(shm_table_reclaim(t, a_next), 0);    /* another generation's claim */
    assert_int_equal(shm_table_reclaim(t, a_wrapped), 1); /* only 21 generation bits */
    assert_int_equal(shm_table_reclaim(t, owner_a), 0);   /* done already */
    stats(t, &st);
    assert_int_equal(st.busy, 1);
    assert_int_equal(atomic_load(table_meta(t, 14)) >> 62, ST_BUSY);
    assert_int_equal(shm_table_reclaim(t, owner_b), 1);
    stats(t, &st);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.live, 5);
    for (int i = 0; i < 5; i++)
        assert_found(t, w[i], i);

    /* Reclaimed slots are free again; a published claim is never reclaimed. */
    entry_make(x, W, h_for_bucket(t, 0, 100), 100);
    assert_int_equal(shm_table_insert(t, x, owner_a), 5);
    assert_int_equal(shm_table_reclaim(t, owner_a), 0);
    assert_found(t, x, 5);
    entry_make(x, W, h_for_bucket(t, 2, 100), 101);
    s = shm_table_insert(t, x, owner_a);
    assert_int_equal(s, 14);
    assert_found(t, x, 14);
    assert_stats_consistent(t);
}

struct killed {
    _Atomic uint64_t progress;
};

static int check_and_free(const struct shm_entry *e, void *arg)
{
    if (!entry_valid(e->words, W))
        ++*(int *)arg;
    return 1;
}

/* The real path: a child inserting in a loop is killed at a random point; when that
 * point fell between a claim and its publish, reclaim frees exactly that slot. */
static void test_reclaim_killed_inserter(void **state)
{
    struct shm_table *t = table_new(70000, W);
    struct killed *k = shared_new(sizeof(*k));
    uint64_t rnd = 42, caught = 0, attempts, kills_live = 0;

    for (attempts = 0; attempts < 3000 && caught < 3; attempts++) {
        struct shm_owner who = {9, (uint32_t)attempts + 1}, next = {9, (uint32_t)attempts + 2};
        struct shm_table_stats st;
        uint64_t target, busy;
        int status, bad = 0;
        pid_t pid;

        rnd = mix64(rnd);
        target = 1 + rnd % 100;
        atomic_store(&k->progress, 0);
        pid = fork_child();
        if (pid == 0) {
            uint64_t w[W];

            for (uint64_t i = 0;; i++) {
                entry_random(w, W, attempts << 32 | i);
                if (shm_table_insert(t, w, who) < 0)
                    _exit(1);
                atomic_fetch_add(&k->progress, 1);
            }
        }
        spin_until(&k->progress, target);
        assert_int_equal(kill(pid, SIGKILL), 0);
        status = child_wait();
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        stats(t, &st);
        busy = st.busy;
        assert_true(busy <= 1); /* one insert at a time */
        assert_int_equal(shm_table_reclaim(t, next), 0);
        assert_int_equal(shm_table_reclaim(t, who), busy);
        caught += busy;
        stats(t, &st);
        assert_int_equal(st.busy, 0);
        /* The counters lag by at most the one insert in flight. */
        assert_true(st.counted == (int64_t)st.live || st.counted + 1 == (int64_t)st.live);
        kills_live += st.counted + 1 == (int64_t)st.live;
        /* Whatever was published is whole; then start the next attempt empty. */
        assert_int_equal(shm_table_iterate(t, check_and_free, &bad, owner_b), (int64_t)st.live);
        assert_int_equal(bad, 0);
        atomic_store(&t->counters[owner_b.slot].live, 0);
        atomic_store(&t->counters[9].live, 0);
        stats(t, &st);
        assert_int_equal(st.live + st.busy, 0);
        assert_int_equal(st.max_reach, 0);
    }
    print_message("# killed inserter: %llu kills, %llu left a claimed slot, %llu a published "
                  "but uncounted entry\n",
                  (unsigned long long)attempts, (unsigned long long)caught,
                  (unsigned long long)kills_live);
    assert_true(caught > 0);
}

/* ---- stats and counters ------------------------------------------------------------- */

static void test_stats_and_counters(void **state)
{
    struct shm_table *t = table_new(700, W);
    struct shm_table_stats st;
    struct slot_range none = {0, 0, 0};
    uint64_t w[W];
    struct shm_entry e;
    struct scan s;

    for (uint64_t i = 0; i < 100; i++) {
        entry_random(w, W, i);
        assert_true(shm_table_insert(t, w, owner_a) >= 0);
    }
    for (uint64_t i = 0; i < 30; i++) {
        entry_random(w, W, i);
        assert_int_equal(lookup(t, w, &e), 0);
        if (i < 20)
            assert_int_equal(shm_table_remove(t, &e, owner_b), 0);
        else
            assert_int_equal(shm_table_revoke(t, &e), 0);
    }
    claim(t, 50, owner_c, true);
    claim(t, 60, owner_b, false);
    stats(t, &st);
    assert_int_equal(st.capacity, 700);
    assert_int_equal(st.live, 80);
    assert_int_equal(st.revoked, 10);
    assert_int_equal(st.busy, 2);
    assert_int_equal(st.counted, 80);
    assert_int_equal(st.inserts, 100);
    assert_int_equal(st.full, 0);
    scan(t, &s);
    assert_int_equal(s.live, 80);
    assert_int_equal(s.visited, 80);
    assert_int_equal(s.revoked, 10);
    assert_int_equal(s.visited_revoked, 10);
    assert_int_equal(s.busy, 2);

    /* Per-owner counters: what each did, summing to the live count. */
    assert_int_equal(atomic_load(&t->counters[owner_a.slot].live), 100);
    assert_int_equal(atomic_load(&t->counters[owner_a.slot].inserts), 100);
    assert_int_equal(atomic_load(&t->counters[owner_b.slot].live), -20);
    assert_int_equal(atomic_load(&t->counters[owner_b.slot].inserts), 0);
    assert_true(atomic_load(&t->counters[owner_a.slot].probes) >= 100);
    assert_true(atomic_load(&t->counters[owner_c.slot].probes) >= 1);

    /* A read-only iterate frees nothing and changes nothing. */
    assert_int_equal(shm_table_iterate(t, free_range, &none, owner_b), 0);
    assert_int_equal(none.seen, 80);
    assert_int_equal(shm_table_reclaim(t, owner_c), 1);
    assert_int_equal(shm_table_reclaim(t, owner_b), 1);
    assert_stats_consistent(t);
}

/* ---- concurrency ---------------------------------------------------------------------- */

#define CHURN_POOL 64
#define CHURN_LIVE 12

struct churn {
    _Atomic int stop;
    _Atomic uint64_t rounds;
};

/* A child keeps 12 of 64 keys in a 14-slot table, freeing one and inserting another as
 * fast as it can, so every slot is rewritten with other entries under the reader's feet.
 * The reader looks up the key the child is about to free (or has just freed): every copy
 * it gets must be exactly the entry of the key it asked for. */
static void test_copies_are_never_torn(void **state)
{
    struct shm_table *t = table_new(14, W);
    struct churn *c = shared_new(sizeof(*c));
    static uint64_t w[CHURN_POOL][W];
    uint64_t found = 0, missed = 0;
    int status;

    for (int i = 0; i < CHURN_POOL; i++)
        entry_random(w[i], W, (uint64_t)i);
    for (int i = 0; i < CHURN_LIVE; i++)
        assert_true(shm_table_insert(t, w[i], owner_a) >= 0);
    if (fork_child() == 0) {
        /* Keys [n, n + 12) are in the table: drop key n, add key n + 12. */
        for (uint64_t n = 0; !atomic_load(&c->stop); n++) {
            const uint64_t *out = w[n % CHURN_POOL], *in = w[(n + CHURN_LIVE) % CHURN_POOL];
            struct shm_entry e;

            if (lookup(t, out, &e) != 0 || memcmp(e.words, out, sizeof(w[0])) != 0)
                _exit(1);
            if (n % 3 == 0 && (shm_table_revoke(t, &e) != 0 || lookup(t, out, &e) != 0))
                _exit(2);
            if (shm_table_remove(t, &e, owner_b) != 0 || shm_table_insert(t, in, owner_b) < 0)
                _exit(3);
            atomic_store(&c->rounds, n + 1);
        }
        _exit(0);
    }
    for (uint64_t n = 0; n < 1000000; n++) {
        struct shm_entry e;
        const uint64_t *k = w[(atomic_load(&c->rounds) + (n & 1)) % CHURN_POOL];

        if (lookup(t, k, &e) == 0) {
            found++;
            assert_memory_equal(e.words, k, sizeof(w[0]));
        } else {
            missed++;
        }
    }
    atomic_store(&c->stop, 1);
    status = child_wait();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    print_message("# churn: %llu child rounds, reader found %llu, missed %llu\n",
                  (unsigned long long)atomic_load(&c->rounds), (unsigned long long)found,
                  (unsigned long long)missed);
    for (uint64_t i = atomic_load(&c->rounds); i < atomic_load(&c->rounds) + CHURN_LIVE; i++)
        assert_found(t, w[i % CHURN_POOL], -1);
    assert_stats_consistent(t);
}

static int free_word0(const struct shm_entry *e, void *arg)
{
    return e->words[0] == *(const uint64_t *)arg;
}

/* A child sweeps (and so shrinks reaches) without pause while the parent inserts keys
 * homed at a full bucket, so that each lands one bucket past home, exactly where the
 * sweeper's shrink may have just looked: every insert must be found at once. */
static void test_shrink_races_inserts(void **state)
{
    struct shm_table *t = table_new(70, W);
    struct churn *c = shared_new(sizeof(*c));
    uint64_t anchor[7][W], x[W], missed = 0;
    int status;

    insert_homed(t, anchor, 7, 3, 0); /* bucket 3 full */
    if (fork_child() == 0) {
        uint64_t g[W], h = h_for_bucket(t, 8, 0);

        entry_make(g, W, h, 999);
        for (uint64_t n = 0; !atomic_load(&c->stop); n++) {
            /* Something to free, so that each pass shrinks. */
            if (shm_table_insert(t, g, owner_b) < 0 ||
                shm_table_iterate(t, free_word0, &h, owner_b) != 1)
                _exit(1);
            atomic_store(&c->rounds, n + 1);
        }
        _exit(0);
    }
    for (uint64_t i = 0, rnd = 1; i < 200000; i++) {
        struct shm_entry e;

        /* Leave bucket 4 empty for a random while, for the sweeper to see it so. */
        rnd = mix64(rnd);
        for (volatile uint64_t spin = rnd % 256; spin > 0; spin--)
            ;
        entry_make(x, W, h_for_bucket(t, 3, 100 + i), 100 + i);
        assert_true(shm_table_insert(t, x, owner_a) >= 28);
        if (lookup(t, x, &e) != 0) {
            missed++;
            continue;
        }
        assert_memory_equal(e.words, x, sizeof(x));
        assert_int_equal(shm_table_remove(t, &e, owner_a), 0);
    }
    atomic_store(&c->stop, 1);
    status = child_wait();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    print_message("# shrink race: %llu sweeps, %llu inserts not found\n",
                  (unsigned long long)atomic_load(&c->rounds), (unsigned long long)missed);
    assert_int_equal(missed, 0);
    for (int i = 0; i < 7; i++)
        assert_found(t, anchor[i], 21 + i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_size_and_init, unmap_all),
        cmocka_unit_test_teardown(test_insert_lookup, unmap_all),
        cmocka_unit_test_teardown(test_read_by_slot, unmap_all),
        cmocka_unit_test_teardown(test_payload_roundtrip, unmap_all),
        cmocka_unit_test_teardown(test_revoke, unmap_all),
        cmocka_unit_test_teardown(test_remove, unmap_all),
        cmocka_unit_test_teardown(test_full_table, unmap_all),
        cmocka_unit_test_teardown(test_collisions, unmap_all),
        cmocka_unit_test_teardown(test_wraparound, unmap_all),
        cmocka_unit_test_teardown(test_free_middle_of_chain, unmap_all),
        cmocka_unit_test_teardown(test_iterate_shrinks_reach, unmap_all),
        cmocka_unit_test_teardown(test_iterate_visits_each_once, unmap_all),
        cmocka_unit_test_teardown(test_insert_unique, unmap_all),
        cmocka_unit_test_teardown(test_withdraw_only_own, unmap_all),
        cmocka_unit_test_teardown(test_insert_unique_race, unmap_all),
        cmocka_unit_test_teardown(test_reclaim_owners, unmap_all),
        cmocka_unit_test_teardown(test_reclaim_killed_inserter, unmap_all),
        cmocka_unit_test_teardown(test_stats_and_counters, unmap_all),
        cmocka_unit_test_teardown(test_copies_are_never_torn, unmap_all),
        cmocka_unit_test_teardown(test_shrink_races_inserts, unmap_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
