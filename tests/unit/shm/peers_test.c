/*
 * Unit tests of the per-address connection counts (shm/peers.c): the limit, exact
 * release, the master's reclaim of a dead worker's connections, address keys (IPv4 whole,
 * IPv6 per /64), a full window, and processes racing for one address's last places.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/peers.h"

#define SLOTS 4
#define RECORDS 256

static struct shm_peers *peers_new(uint64_t nbuckets)
{
    size_t size = shm_peers_size(nbuckets, SLOTS, RECORDS);
    struct shm_peers *p =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(p != MAP_FAILED);
    assert_int_equal(shm_peers_init(p, nbuckets, SLOTS, RECORDS), 0);
    return p;
}

static void peers_free(struct shm_peers *p)
{
    munmap(p, shm_peers_size(p->nbuckets, SLOTS, RECORDS));
}

static void key4(const char *text, uint8_t key[16])
{
    struct sockaddr_in sin = {.sin_family = AF_INET};

    assert_int_equal(inet_pton(AF_INET, text, &sin.sin_addr), 1);
    assert_int_equal(shm_peers_key((struct sockaddr *)&sin, key), 0);
}

static void key6(const char *text, uint8_t key[16])
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
    assert_int_equal(shm_peers_key((struct sockaddr *)&sin6, key), 0);
}

static void test_limit_and_release(void **state)
{
    struct shm_peers *p = peers_new(shm_peers_buckets(SLOTS * RECORDS));
    uint8_t a[16], b[16];

    (void)state;
    key4("192.0.2.1", a);
    key4("192.0.2.2", b);
    for (uint64_t r = 0; r < 5; r++)
        assert_int_equal(shm_peers_acquire(p, a, 5, 0, r), (int64_t)r + 1);
    assert_int_equal(shm_peers_acquire(p, a, 5, 1, 0), -EBUSY);
    assert_int_equal(atomic_load(&p->refused), 1);
    assert_int_equal(shm_peers_count(p, a), 5);            /* the refused one did not count */
    assert_int_equal(shm_peers_acquire(p, b, 5, 1, 0), 1); /* another address is apart */
    shm_peers_release(p, 0, 3);
    assert_int_equal(shm_peers_count(p, a), 4);
    assert_int_equal(shm_peers_acquire(p, a, 5, 1, 1), 5);
    for (uint64_t r = 0; r < 5; r++)
        shm_peers_release(p, 0, r); /* record 3 is free already: a no-op */
    shm_peers_release(p, 1, 1);
    shm_peers_release(p, 1, 0);
    assert_int_equal(shm_peers_count(p, a), 0);
    assert_int_equal(shm_peers_count(p, b), 0);
    peers_free(p);
}

static void test_reclaim_of_a_dead_worker(void **state)
{
    struct shm_peers *p = peers_new(shm_peers_buckets(SLOTS * RECORDS));
    uint8_t a[16];

    (void)state;
    key4("198.51.100.7", a);
    for (uint64_t r = 0; r < 10; r++)
        assert_true(shm_peers_acquire(p, a, 100, 2, r) > 0);
    for (uint64_t r = 0; r < 3; r++)
        assert_true(shm_peers_acquire(p, a, 100, 1, r) > 0);
    assert_int_equal(shm_peers_count(p, a), 13);
    assert_int_equal(shm_peers_reclaim(p, 2), 10);
    assert_int_equal(shm_peers_count(p, a), 3); /* the live worker's stay */
    assert_int_equal(shm_peers_reclaim(p, 2), 0);
    peers_free(p);
}

static void test_keys(void **state)
{
    uint8_t a[16], b[16], c[16];
    struct sockaddr sa = {.sa_family = AF_UNIX};

    (void)state;
    key6("2001:db8:1:2:aaaa::1", a);
    key6("2001:db8:1:2:bbbb::2", b);
    key6("2001:db8:1:3::1", c);
    assert_memory_equal(a, b, 16); /* one /64 */
    assert_memory_not_equal(a, c, 16);
    key4("203.0.113.9", a);
    key6("::ffff:203.0.113.9", b); /* IPv4-mapped: the same IPv4 address, whole */
    assert_memory_equal(a, b, 16);
    key4("203.0.113.10", c);
    assert_memory_not_equal(a, c, 16);
    assert_int_equal(shm_peers_key(&sa, a), -EAFNOSUPPORT);
}

/* A window full of other addresses: the connection is admitted, uncounted. */
static void test_full_window_admits_uncounted(void **state)
{
    struct shm_peers *p = peers_new(4); /* 4 lines: one window holds every word */
    uint8_t k[16];
    int64_t n;

    (void)state;
    for (int i = 0; i < 32; i++) {
        char text[32];

        snprintf(text, sizeof(text), "10.0.0.%d", i + 1);
        key4(text, k);
        assert_int_equal(shm_peers_acquire(p, k, 10, 0, (uint64_t)i), 1);
    }
    key4("10.0.1.1", k);
    n = shm_peers_acquire(p, k, 10, 0, 100);
    assert_int_equal(n, 0);
    assert_int_equal(atomic_load(&p->untracked), 1);
    shm_peers_release(p, 0, 100); /* nothing was recorded: a no-op */
    shm_peers_release(p, 0, 5);
    assert_int_equal(shm_peers_acquire(p, k, 10, 0, 100), 1); /* a word was freed */
    peers_free(p);
}

/* SLOTS processes take and give back places of one address with a small limit: the
 * connections admitted at once never exceed the limit (a counter each process raises
 * after an admission and lowers before the release), and everything given back leaves
 * the count at zero.  (The count itself may pass the limit for an instant: an acquire
 * adds before it checks.) */
static void test_racing_processes_never_exceed_the_limit(void **state)
{
    struct shm_peers *p = peers_new(shm_peers_buckets(SLOTS * RECORDS));
    _Atomic int *admitted =
        mmap(NULL, sizeof(*admitted), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    enum { LIMIT = 7, ROUNDS = 200000 };
    uint8_t a[16];
    pid_t kids[SLOTS];

    (void)state;
    assert_true(admitted != MAP_FAILED);
    key4("192.0.2.200", a);
    for (uint32_t s = 0; s < SLOTS; s++) {
        kids[s] = fork();
        assert_true(kids[s] >= 0);
        if (kids[s] == 0) {
            uint64_t held = 0;
            int bad = 0;

            for (int i = 0; i < ROUNDS; i++) {
                if (held < 4 && i % 3 != 2 && shm_peers_acquire(p, a, LIMIT, s, held) > 0) {
                    held++;
                    bad |= atomic_fetch_add(admitted, 1) + 1 > LIMIT;
                } else if (held) {
                    atomic_fetch_sub(admitted, 1);
                    shm_peers_release(p, s, --held);
                }
            }
            while (held) {
                atomic_fetch_sub(admitted, 1);
                shm_peers_release(p, s, --held);
            }
            _exit(bad);
        }
    }
    for (int s = 0; s < SLOTS; s++) {
        int status;

        assert_int_equal(waitpid(kids[s], &status, 0), kids[s]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(shm_peers_count(p, a), 0);
    assert_true(atomic_load(&p->refused) > 0); /* the limit was reached */
    munmap(admitted, sizeof(*admitted));
    peers_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_release),
        cmocka_unit_test(test_reclaim_of_a_dead_worker),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_full_window_admits_uncounted),
        cmocka_unit_test(test_racing_processes_never_exceed_the_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
