/*
 * Unit tests of the shared-memory region and the tables built on the table engine:
 * tokens (shm/token.c), clients (shm/client.c), interned strings (shm/intern.c) and the
 * DPoP jti replay cache (shm/jti.c).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "shm/client.h"
#include "shm/intern.h"
#include "shm/jti.h"
#include "shm/region.h"
#include "shm/token.h"

static const struct shm_owner me = {1, 1};

static int region_setup(void **state)
{
    static struct shm_region r;
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 50, .intern = 100, .jti = 100};

    memset(&r, 0, sizeof(r));
    if (shm_region_create(&r, &sz) < 0)
        return -1;
    *state = &r;
    return 0;
}

static int region_teardown(void **state)
{
    shm_region_detach(*state);
    return 0;
}

static void token_hash(const char *token, uint8_t out[32])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

static void make_client(struct shm_client *c, const char *id)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->name, sizeof(c->name), "client %s", id);
    c->access_ttl = 3600;
}

static void test_region_header(void **state)
{
    struct shm_region *r = *state, view;

    assert_memory_equal(r->hdr->magic, SHM_REGION_MAGIC, sizeof(SHM_REGION_MAGIC));
    assert_int_equal(r->hdr->layout, SHM_REGION_LAYOUT);
    assert_true(shm_table_capacity(r->tokens) >= 1000);
    /* A second mapping of the same memfd sees the same tables. */
    assert_int_equal(shm_region_attach(&view, dup(r->fd)), 0);
    assert_int_equal(view.hdr->tokens_capacity, 1000);
    assert_int_equal(view.hdr->clients_capacity, 50);
    shm_region_detach(&view);
}

static void test_region_attach_rejects_garbage(void **state)
{
    struct shm_region view;
    int fd = memfd_create("garbage", 0);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 8192), 0);
    assert_int_equal(pwrite(fd, "NOTTESS", 8, 0), 8);
    assert_int_equal(shm_region_attach(&view, fd), -EPROTO);
    close(fd);
}

static void test_token_roundtrip(void **state)
{
    struct shm_region *r = *state;
    struct shm_client c;
    struct shm_token t = {0}, got;
    uint32_t gen;
    int64_t slot;

    make_client(&c, "svc-a");
    slot = shm_client_create(r, &c, me, NULL);
    assert_true(slot >= 0);
    assert_int_equal(shm_client_find(r, "svc-a", 5, &c, &gen), slot);
    token_hash("token-1", t.hash);
    t.client_slot = (uint32_t)slot;
    t.client_gen = gen;
    t.scope = 7;
    t.audience = 9;
    t.iat = 1000;
    t.exp = 2000;
    t.kind = SHM_TOKEN_ACCESS;
    t.flags = SHM_TOKEN_DPOP;
    t.parent = 0x1122334455667788ULL;
    memset(t.jkt, 0xab, sizeof(t.jkt));
    assert_int_equal(shm_token_insert(r, &t, me), 0);
    assert_int_equal(shm_token_lookup(r, t.hash, &got), 0);
    assert_memory_equal(got.hash, t.hash, 32);
    assert_int_equal(got.client_slot, slot);
    assert_int_equal(got.client_gen, gen);
    assert_int_equal(got.scope, 7);
    assert_int_equal(got.audience, 9);
    assert_int_equal(got.iat, 1000);
    assert_int_equal(got.exp, 2000);
    assert_int_equal(got.kind, SHM_TOKEN_ACCESS);
    assert_int_equal(got.flags, SHM_TOKEN_DPOP);
    assert_true(got.parent == 0x1122334455667788ULL);
    assert_memory_equal(got.jkt, t.jkt, 32);
    assert_false(got.revoked);
    assert_int_equal(shm_token_state(r, &got, 1500), SHM_TOKEN_ACTIVE);
    assert_int_equal(shm_token_state(r, &got, 2000), SHM_TOKEN_EXPIRED);
}

static void test_token_revoke_and_sweep(void **state)
{
    struct shm_region *r = *state;
    struct shm_token t = {0}, got;
    uint8_t other[32];

    token_hash("token-2", t.hash);
    t.client_slot = 0;
    t.client_gen = shm_client_generation(r, 0);
    t.exp = 3000;
    assert_int_equal(shm_token_insert(r, &t, me), 0);
    assert_int_equal(shm_token_revoke(r, t.hash), 0);
    assert_int_equal(shm_token_lookup(r, t.hash, &got), 0);
    assert_true(got.revoked);
    assert_int_equal(shm_token_state(r, &got, 100), SHM_TOKEN_REVOKED);
    token_hash("never-issued", other);
    assert_int_equal(shm_token_revoke(r, other), -ENOENT);
    assert_int_equal(shm_token_lookup(r, other, &got), -ENOENT);
    /* Revoked entries stay until they expire; then the sweep frees them. */
    assert_int_equal(shm_token_sweep(r, 2999, me), 1); /* token-1 (exp 2000) */
    assert_int_equal(shm_token_lookup(r, t.hash, &got), 0);
    assert_int_equal(shm_token_sweep(r, 3001, me), 1);
    assert_int_equal(shm_token_lookup(r, t.hash, &got), -ENOENT);
}

static void test_client_generation_revokes_all(void **state)
{
    struct shm_region *r = *state;
    struct shm_client c;
    struct shm_token t = {0}, got;
    uint32_t gen, gen2;
    int64_t slot;

    make_client(&c, "svc-b");
    slot = shm_client_create(r, &c, me, NULL);
    assert_true(slot >= 0);
    assert_int_equal(shm_client_read(r, (uint64_t)slot, &c, &gen), 0);
    token_hash("token-b", t.hash);
    t.client_slot = (uint32_t)slot;
    t.client_gen = gen;
    t.exp = 5000;
    assert_int_equal(shm_token_insert(r, &t, me), 0);
    assert_int_equal(shm_token_lookup(r, t.hash, &got), 0);
    assert_int_equal(shm_token_state(r, &got, 10), SHM_TOKEN_ACTIVE);
    /* An update that keeps the generation keeps the tokens. */
    snprintf(c.name, sizeof(c.name), "renamed");
    assert_int_equal(shm_client_update(r, (uint64_t)slot, &c, false, me, NULL, NULL), 0);
    assert_int_equal(shm_token_state(r, &got, 10), SHM_TOKEN_ACTIVE);
    assert_int_equal(shm_client_read(r, (uint64_t)slot, &c, &gen2), 0);
    assert_string_equal(c.name, "renamed");
    assert_int_equal(gen2, gen);
    /* One bump revokes every token of the client. */
    assert_int_equal(shm_client_update(r, (uint64_t)slot, &c, true, me, NULL, NULL), 0);
    assert_int_equal(shm_token_state(r, &got, 10), SHM_TOKEN_REVOKED);
}

static void test_client_create_find_delete(void **state)
{
    struct shm_region *r = *state;
    struct shm_client c, got;
    uint32_t gen;
    int64_t slot, again;

    make_client(&c, "svc-c");
    slot = shm_client_create(r, &c, me, NULL);
    assert_true(slot >= 0);
    assert_int_equal(shm_client_create(r, &c, me, NULL), -EEXIST);
    assert_int_equal(shm_client_find(r, "svc-c", 5, &got, &gen), slot);
    assert_string_equal(got.name, "client svc-c");
    assert_int_equal(shm_client_find(r, "svc-", 4, &got, &gen), -ENOENT);
    assert_int_equal(shm_client_delete(r, (uint64_t)slot, me, NULL), 0);
    assert_int_equal(shm_client_find(r, "svc-c", 5, &got, &gen), -ENOENT);
    assert_int_equal(shm_client_read(r, (uint64_t)slot, &got, &gen), -ENOENT);
    assert_int_equal(shm_client_delete(r, (uint64_t)slot, me, NULL), -ENOENT);
    /* The id is free again; a token of the deleted client stays dead even if its slot is
     * reused, because the slot's generation keeps counting. */
    again = shm_client_create(r, &c, me, NULL);
    assert_true(again >= 0);
    assert_int_equal(shm_client_find(r, "svc-c", 5, &got, &gen), again);
}

static void test_client_table_full(void **state)
{
    struct shm_region *r = *state;
    struct shm_client c;
    char id[32];
    int created = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "bulk-%d", i);
        make_client(&c, id);
        if (shm_client_create(r, &c, me, NULL) >= 0)
            created++;
        else
            break;
    }
    assert_true(created > 0 && created < 100);
    make_client(&c, "one-too-many");
    assert_int_equal(shm_client_create(r, &c, me, NULL), -ENOSPC);
    assert_int_equal(shm_client_find(r, "bulk-0", 6, &c, NULL),
                     shm_client_find(r, "bulk-0", 6, &c, NULL));
    assert_true(shm_client_find(r, "bulk-0", 6, &c, NULL) >= 0);
}

static void test_client_lock_of_dead_owner_reclaimed(void **state)
{
    struct shm_region *r = *state;
    struct shm_owner ghost = {9, 3};
    struct shm_client c;
    int64_t slot;
    pid_t pid;
    int status;

    make_client(&c, "svc-locked");
    slot = shm_client_create(r, &c, me, NULL);
    assert_true(slot >= 0);
    /* A process takes the writer lock and dies in the middle of an update. */
    pid = fork();
    if (pid == 0) {
        _Atomic uint64_t *st = &r->clients->slots[slot].state;
        uint64_t m = atomic_load(st);

        /* As client_lock() does: the intent, then the lock. */
        atomic_store(&r->clients->locking[9], (uint64_t)slot + 1);
        atomic_store(st, m | (1ULL << 61) | ((uint64_t)9 << 53) | ((uint64_t)3 << 32));
        raise(SIGKILL);
    }
    assert_true(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    assert_int_equal(shm_client_update(r, (uint64_t)slot, &c, false, me, NULL, NULL), -EBUSY);
    assert_int_equal(shm_clients_reclaim(r, (struct shm_owner){9, 4}), 0); /* not that owner */
    assert_int_equal(shm_clients_reclaim(r, ghost), 1);
    assert_int_equal(shm_client_update(r, (uint64_t)slot, &c, false, me, NULL, NULL), 0);
    assert_true(shm_client_find(r, "svc-locked", 10, &c, NULL) == slot);
}

static void test_intern(void **state)
{
    struct shm_region *r = *state;
    char buf[512], big[400];
    int64_t a = shm_intern_put(r, "read write", 10, me);
    int64_t b = shm_intern_put(r, "read", 4, me);

    assert_true(a > 0 && b > 0 && a != b);
    assert_int_equal(shm_intern_put(r, "read write", 10, me), a);
    assert_int_equal(shm_intern_put(r, "", 0, me), 0);
    assert_int_equal(shm_intern_get(r, (uint32_t)a, buf, sizeof(buf)), 10);
    assert_string_equal(buf, "read write");
    assert_int_equal(shm_intern_get(r, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(shm_intern_get(r, 99999, buf, sizeof(buf)), -ENOENT);
    assert_int_equal(shm_intern_get(r, (uint32_t)a, buf, 5), -ENOENT); /* too small */
    memset(big, 'x', sizeof(big));
    assert_int_equal(shm_intern_put(r, big, sizeof(big), me), -E2BIG);
    assert_int_equal(shm_intern_put(r, big, SHM_INTERN_MAX_LEN, me) > 0, 1);
}

/* The budget caps what shm_intern_put adds, exactly, repeats and races aside; recovery
 * goes past it into the spare slots, and what it added counts. */
static void test_intern_budget(void **state)
{
    struct shm_region r;
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 10, .intern = 64, .jti = 100};
    char s[16];
    int64_t first = 0;

    (void)state;
    assert_int_equal(shm_region_create(&r, &sz), 0);
    assert_int_equal(shm_table_capacity(r.intern) >= shm_intern_capacity(64), 1);
    for (int i = 0; i < 64; i++) {
        int64_t id = shm_intern_put(&r, s, (size_t)snprintf(s, sizeof(s), "s%d", i), me);

        assert_true(id > 0);
        first = first ? first : id;
    }
    assert_int_equal(shm_intern_used(&r), 64);
    assert_int_equal(shm_intern_put(&r, "s64", 3, me), -ENOSPC);
    assert_int_equal(shm_intern_put(&r, "s0", 2, me), first); /* known strings still resolve */
    assert_int_equal(shm_intern_used(&r), 64);
    for (int i = 64; i < 90; i++)
        assert_true(shm_intern_restore(&r, s, (size_t)snprintf(s, sizeof(s), "s%d", i), me) > 0);
    assert_int_equal(shm_intern_used(&r), 90);
    assert_int_equal(shm_intern_put(&r, "s89", 3, me) > 0, 1);
    assert_int_equal(shm_intern_put(&r, "new", 3, me), -ENOSPC);
    shm_region_detach(&r);
}

static void test_jti_replay(void **state)
{
    struct shm_region *r = *state;
    uint8_t h1[32], h2[32];

    token_hash("jti-1", h1);
    token_hash("jti-2", h2);
    assert_int_equal(shm_jti_remember(r, h1, 200, 100, me), 0);
    assert_int_equal(shm_jti_remember(r, h1, 200, 150, me), -EEXIST);
    assert_int_equal(shm_jti_remember(r, h2, 200, 150, me), 0);
    /* After its expiry the entry no longer counts (the proof's iat window guards it). */
    assert_int_equal(shm_jti_remember(r, h1, 400, 300, me), 0);
    assert_int_equal(shm_jti_remember(r, h1, 400, 300, me), -EEXIST);
    assert_int_equal(shm_jti_sweep(r, 301, me), 1); /* h2 expired at 200 */
}

static void test_jti_concurrent_single_winner(void **state)
{
    struct shm_region *r = *state;
    _Atomic int *wins =
        mmap(NULL, sizeof(*wins), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    enum { PROCS = 4, ROUNDS = 40 };

    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        uint8_t h[32];
        pid_t pids[PROCS];

        snprintf(name, sizeof(name), "race-%d", round);
        token_hash(name, h);
        atomic_store(wins, 0);
        for (int p = 0; p < PROCS; p++) {
            pids[p] = fork();
            if (pids[p] == 0) {
                struct shm_owner who = {(uint32_t)(10 + p), 1};

                if (shm_jti_remember(r, h, 1000, 10, who) == 0)
                    atomic_fetch_add(wins, 1);
                _exit(0);
            }
        }
        for (int p = 0; p < PROCS; p++)
            waitpid(pids[p], NULL, 0);
        assert_true(atomic_load(wins) <= 1);
        assert_int_equal(shm_jti_sweep(r, 2000, me) >= 0, 1);
    }
    munmap(wins, sizeof(*wins));
}

/* A writer rewrites one client as fast as it can while readers check that every record
 * they read is one the writer wrote whole: name, scopes and TTLs all carry the same
 * round number. */
static void test_client_publication_never_mixed(void **state)
{
    struct shm_region *r = *state;
    struct shm_client c;
    enum { READERS = 2 };
    pid_t writer, readers[READERS];
    int64_t slot;
    int status;

    make_client(&c, "svc-torn");
    slot = shm_client_create(r, &c, me, NULL);
    assert_true(slot >= 0);
    writer = fork();
    if (writer == 0) {
        struct shm_owner w = {20, 1};

        for (uint32_t round = 1; round <= 200000; round++) {
            snprintf(c.name, sizeof(c.name), "round-%u", round);
            c.scopes = c.default_scopes = c.audiences = round;
            c.access_ttl = c.max_access_ttl = c.refresh_ttl = round;
            if (shm_client_update(r, (uint64_t)slot, &c, false, w, NULL, NULL) < 0)
                _exit(1);
        }
        _exit(0);
    }
    for (int i = 0; i < READERS; i++) {
        readers[i] = fork();
        if (readers[i] == 0) {
            struct shm_client got;
            char want[32];

            for (int n = 0; n < 300000; n++) {
                if (shm_client_read(r, (uint64_t)slot, &got, NULL) < 0)
                    _exit(2);
                if (got.scopes == 0)
                    continue; /* the first, pre-writer record */
                snprintf(want, sizeof(want), "round-%u", got.scopes);
                if (strcmp(got.name, want) != 0 || got.default_scopes != got.scopes ||
                    got.audiences != got.scopes || got.access_ttl != got.scopes ||
                    got.max_access_ttl != got.scopes || got.refresh_ttl != got.scopes)
                    _exit(3);
            }
            _exit(0);
        }
    }
    assert_int_equal(waitpid(writer, &status, 0), writer);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(waitpid(readers[i], &status, 0), readers[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_header),
        cmocka_unit_test(test_region_attach_rejects_garbage),
        cmocka_unit_test(test_token_roundtrip),
        cmocka_unit_test(test_token_revoke_and_sweep),
        cmocka_unit_test(test_client_generation_revokes_all),
        cmocka_unit_test(test_client_create_find_delete),
        cmocka_unit_test(test_client_lock_of_dead_owner_reclaimed),
        cmocka_unit_test(test_intern),
        cmocka_unit_test(test_intern_budget),
        cmocka_unit_test(test_jti_replay),
        cmocka_unit_test(test_jti_concurrent_single_winner),
        cmocka_unit_test(test_client_publication_never_mixed),
        cmocka_unit_test(test_client_table_full),
    };

    return cmocka_run_group_tests(tests, region_setup, region_teardown);
}
