/*
 * Unit tests of client changes in the Berkeley DB store (store/bdb_apply.c): records of
 * several writers are applied in any interleaving, so a client's changes must converge to
 * the newest by version whatever the order — puts, deletes with their tombstones, revokes
 * before and after what they follow, every order of a client's whole history, sessions of a
 * later instance surviving a delete, replays, the clock restarts read, and the purge of
 * tombstones.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/bdb.h"
#include "tests/unit/store/fixture.h"
#include "tests/unit/store/tmpdir.h"

static char home[64];

static int dir_setup(void **state)
{
    (void)state;
    return tmpdir_make(home, sizeof(home), "bdb-clients");
}

static int dir_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(home);
}

/* --- building and reading -------------------------------------------------------------- */

enum change { PUT, REVOKE, DELETE };

/* A change of client id, of the given version and generation; a PUT's name is "v<version>". */
static void change(struct store_record *r, uint64_t seq, enum change kind, const char *id,
                   uint64_t version, uint32_t gen)
{
    if (kind == PUT) {
        rec_client(r, seq, id);
        snprintf(r->u.client.client.name, sizeof(r->u.client.client.name), "v%llu",
                 (unsigned long long)version);
        r->u.client.version = version;
        r->u.client.generation = gen;
    } else {
        rec_ref(r, kind == REVOKE ? STORE_REC_CLIENT_REVOKE : STORE_REC_CLIENT_DELETE, seq, id, gen,
                version);
    }
}

/* Applies one record alone, as one writer's next (seq) record. */
static uint64_t seq_next;

static void apply1(struct store_bdb *db, enum change kind, const char *id, uint64_t version,
                   uint32_t gen)
{
    struct store_record r;

    change(&r, ++seq_next, kind, id, version, gen);
    apply_ok(db, &r, 1, 1);
}

struct found {
    const char *id;
    struct store_client_rec c;
    int n, all;
};

static int find_client(const struct store_client_rec *c, void *arg)
{
    struct found *f = arg;

    f->all++;
    if (strcmp(c->client.id, f->id) == 0) {
        f->c = *c;
        f->n++;
    }
    return 0;
}

static struct found client_of(struct store_bdb *db, const char *id)
{
    struct found f = {.id = id};

    assert_int_equal(store_bdb_each_client(db, find_client, &f), 0);
    assert_true(f.n <= 1);
    return f;
}

/* Asserts client id exists with body "v<body>", generation gen and version version, read
 * alone and in the iteration. */
static void client_is(struct store_bdb *db, const char *id, uint64_t body, uint32_t gen,
                      uint64_t version)
{
    struct store_client_rec c;
    struct found f = client_of(db, id);
    char name[32];

    snprintf(name, sizeof(name), "v%llu", (unsigned long long)body);
    if (store_bdb_client_get(db, id, &c) != 1 || f.n != 1)
        fail_msg("client %s: not found", id);
    assert_memory_equal(&c, &f.c, sizeof(c));
    assert_string_equal(c.client.name, name);
    assert_string_equal(c.scopes, "read write admin");
    assert_int_equal(c.generation, gen);
    assert_int_equal(c.version, version);
}

/* Asserts client id is not a client: absent, a tombstone or a placeholder. */
static void client_none(struct store_bdb *db, const char *id)
{
    struct store_client_rec c;

    assert_int_equal(store_bdb_client_get(db, id, &c), 0);
    assert_int_equal(client_of(db, id).n, 0);
}

static int count_row(const uint8_t id[STORE_BDB_ID_LEN], const struct store_session *s, void *arg)
{
    (void)id;
    ((uint32_t *)arg)[((uint32_t *)arg)[0]++ + 1] = s->token.client_gen;
    return 0;
}

/* The client_gen of each of client's sessions, in gens[1..], their count in gens[0]. */
static void sessions_of(struct store_bdb *db, const char *client, uint32_t gens[8])
{
    memset(gens, 0, 8 * sizeof(gens[0]));
    assert_true(store_bdb_sessions_by_client(db, client, NULL, 7, count_row, gens) >= 0);
}

static uint64_t clock_ok(struct store_bdb *db)
{
    uint64_t max = 12345;

    assert_int_equal(store_bdb_clock(db, &max), 0);
    return max;
}

/* --- the cases of the brief, one by one -------------------------------------------------- */

static void test_put_order(void **state)
{
    struct store_bdb *db = open_ok(home);

    (void)state;
    apply1(db, PUT, "a", 5, 5);
    apply1(db, PUT, "a", 3, 3); /* older, from another writer's segment */
    client_is(db, "a", 5, 5, 5);
    apply1(db, PUT, "b", 3, 3);
    apply1(db, PUT, "b", 5, 3); /* a plain update keeps the generation */
    client_is(db, "b", 5, 3, 5);
    store_bdb_close(db);
    db = open_ok(home);
    client_is(db, "a", 5, 5, 5);
    store_bdb_close(db);
}

static void test_delete_then_older_put(void **state)
{
    struct store_bdb *db = open_ok(home);

    (void)state;
    apply1(db, DELETE, "a", 7, 7);
    apply1(db, PUT, "a", 6, 6); /* the client deleted at 7: must not come back */
    client_none(db, "a");
    apply1(db, PUT, "a", 2, 2);
    apply1(db, REVOKE, "a", 4, 4);
    assert_int_equal(client_of(db, "a").all, 0);
    assert_int_equal(clock_ok(db), 7);
    store_bdb_close(db);
}

static void test_delete_then_recreate(void **state)
{
    struct store_bdb *db = open_ok(home);

    (void)state;
    apply1(db, DELETE, "a", 7, 7);
    apply1(db, PUT, "a", 9, 9); /* created again after the delete */
    client_is(db, "a", 9, 9, 9);
    apply1(db, PUT, "a", 6, 6); /* the instance before the delete: loses to both */
    client_is(db, "a", 9, 9, 9);
    store_bdb_close(db);
}

static void test_delete_keeps_later_sessions(void **state)
{
    struct store_bdb *db = open_ok(home);
    struct store_record r[3];
    uint32_t gens[8];

    (void)state;
    rec_token(&r[0], 1, 1, 1, "a", NOW + 3600);
    r[0].u.token.client_gen = 4;
    rec_token(&r[1], 2, 1, 2, "a", NOW + 3600); /* of the instance created at 12 */
    r[1].u.token.client_gen = 12;
    rec_token(&r[2], 1, 2, 3, "b", NOW + 3600);
    r[2].u.token.client_gen = 4;
    apply_ok(db, r, 3, 3);
    apply1(db, DELETE, "a", 10, 10);
    sessions_of(db, "a", gens);
    assert_int_equal(gens[0], 1);
    assert_int_equal(gens[1], 12);
    sessions_of(db, "b", gens);
    assert_int_equal(gens[0], 1);    /* another client's: untouched */
    apply1(db, DELETE, "a", 10, 10); /* again (another writer's replay): the same */
    sessions_of(db, "a", gens);
    assert_int_equal(gens[0], 1);
    store_bdb_close(db);
}

/* A revoke may come before the put it follows, after a newer put, or after a delete whose
 * client was created again by a put not applied yet. */
static void test_revoke_order(void **state)
{
    struct store_bdb *db = open_ok(home);

    (void)state;
    apply1(db, REVOKE, "a", 2, 2); /* before its client: a placeholder, not a client */
    assert_int_equal(client_of(db, "a").all, 0);
    apply1(db, PUT, "a", 1, 1);
    client_is(db, "a", 1, 2, 2); /* the body of 1, the generation of 2 */

    apply1(db, PUT, "b", 3, 2); /* an update after a revoke at 2 */
    apply1(db, REVOKE, "b", 2, 2);
    apply1(db, PUT, "b", 1, 1);
    client_is(db, "b", 3, 2, 3);

    apply1(db, DELETE, "c", 5, 5);
    apply1(db, REVOKE, "c", 7, 7); /* of the instance created at 6 */
    client_none(db, "c");
    apply1(db, PUT, "c", 6, 6);
    client_is(db, "c", 6, 7, 7); /* not 6: tokens revoked at 7 stay dead */
    assert_int_equal(clock_ok(db), 7);
    store_bdb_close(db);
}

/* --- every order of a client's history --------------------------------------------------- */

#define HISTORY 6

/* created (1), revoked (2), updated (3), deleted (4), created again (5), revoked (6) */
static const struct {
    enum change kind;
    uint64_t version;
    uint32_t gen;
} history[HISTORY] = {{PUT, 1, 1},    {REVOKE, 2, 2}, {PUT, 3, 2},
                      {DELETE, 4, 4}, {PUT, 5, 5},    {REVOKE, 6, 6}};

static bool permutation_next(int *p, int n)
{
    int i = n - 2, j = n - 1;

    while (i >= 0 && p[i] >= p[i + 1])
        i--;
    if (i < 0)
        return false;
    while (p[j] <= p[i])
        j--;
    int t = p[i];
    p[i] = p[j];
    p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) {
        t = p[a];
        p[a] = p[b];
        p[b] = t;
    }
    return true;
}

/* Client p<k> gets the history in the k-th order, after two tokens: one of generation 2
 * (dies with the delete at 4) and one of generation 6.  Returns the record count. */
static size_t histories_build(struct store_record *r)
{
    int perm[HISTORY] = {0, 1, 2, 3, 4, 5};
    size_t n = 0;
    int k = 0;

    do {
        char id[16];

        snprintf(id, sizeof(id), "p%03d", k);
        for (int t = 0; t < 2; t++) {
            rec_token(&r[n], WRITER, n + 1, (uint64_t)k * 2 + (uint64_t)t + 1, id, NOW + 3600);
            r[n].u.token.client_gen = t ? 6 : 2;
            n++;
        }
        for (int i = 0; i < HISTORY; i++, n++)
            change(&r[n], n + 1, history[perm[i]].kind, id, history[perm[i]].version,
                   history[perm[i]].gen);
        k++;
    } while (permutation_next(perm, HISTORY));
    return n;
}

static void histories_check(struct store_bdb *db)
{
    for (int k = 0; k < 720; k++) {
        char id[16];
        uint32_t gens[8];

        snprintf(id, sizeof(id), "p%03d", k);
        client_is(db, id, 5, 6, 6);
        sessions_of(db, id, gens);
        assert_int_equal(gens[0], 1);
        assert_int_equal(gens[1], 6);
    }
}

static void test_every_order(void **state)
{
    struct store_record *r = calloc(720 * (HISTORY + 2), sizeof(*r));
    struct store_bdb *db = open_ok(home);
    size_t n;

    (void)state;
    assert_non_null(r);
    n = histories_build(r);
    assert_int_equal(n, 720 * (HISTORY + 2));
    for (size_t i = 0; i < n; i += 512)
        apply_ok(db, r + i, n - i < 512 ? n - i : 512, (int)(n - i < 512 ? n - i : 512));
    histories_check(db);
    assert_int_equal(client_of(db, "none").all, 720);

    /* The same changes again: by seq, nothing; as another writer's, nothing changes. */
    apply_ok(db, r, 512, 0);
    for (size_t i = 0; i < n; i++)
        r[i].writer = WRITER + 1;
    for (size_t i = 0; i < n; i += 512)
        apply_ok(db, r + i, n - i < 512 ? n - i : 512, (int)(n - i < 512 ? n - i : 512));
    store_bdb_close(db);
    db = open_ok(home);
    histories_check(db);
    assert_int_equal(clock_ok(db), 6);
    store_bdb_close(db);
    free(r);
}

/* --- the clock and the purge ----------------------------------------------------------- */

static void test_clock(void **state)
{
    struct store_bdb *db = open_ok(home);
    struct store_record t;

    (void)state;
    assert_int_equal(clock_ok(db), 0);
    apply1(db, PUT, "a", 5, 5);
    assert_int_equal(clock_ok(db), 5);
    apply1(db, PUT, "a", 3, 3);
    assert_int_equal(clock_ok(db), 5);
    apply1(db, REVOKE, "b", 8, 8); /* a placeholder counts */
    assert_int_equal(clock_ok(db), 8);
    /* a token whose client's put was lost: its generation is never handed out again */
    rec_token(&t, 9, 1, 1, "lost", NOW + 60);
    t.u.token.client_gen = 50;
    apply_ok(db, &t, 1, 1);
    assert_int_equal(clock_ok(db), 50);
    store_bdb_close(db);
    db = open_ok(home);
    assert_int_equal(clock_ok(db), 50);
    store_bdb_close(db);
}

static void test_tombstone_purge(void **state)
{
    struct store_bdb *db = open_ok(home);
    bool done = false;

    (void)state;
    apply1(db, PUT, "keep", 1, 1);
    apply1(db, DELETE, "gone", 7, 7);    /* at NOW */
    apply1(db, REVOKE, "early", 9, 9);   /* a placeholder whose put never came */
    apply1(db, DELETE, "again", 10, 10); /* then created again */
    apply1(db, PUT, "again", 11, 11);
    assert_int_equal(store_bdb_purge(db, NOW + STORE_BDB_TOMBSTONE_TTL, 100, &done), 0);
    assert_true(done);
    apply1(db, PUT, "gone", 6, 6); /* within the TTL the tombstone still wins */
    client_none(db, "gone");
    assert_int_equal(store_bdb_purge(db, NOW + STORE_BDB_TOMBSTONE_TTL + 1, 100, &done), 2);
    client_none(db, "gone");
    client_none(db, "early");
    assert_int_equal(client_of(db, "none").all, 2); /* keep, again */
    client_is(db, "again", 11, 11, 11);
    apply1(db, PUT, "early", 3, 3); /* after the TTL the old change is a new client */
    client_is(db, "early", 3, 3, 3);
    assert_int_equal(clock_ok(db), 11); /* the purged versions stay counted */
    store_bdb_close(db);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_order),
        T(test_delete_then_older_put),
        T(test_delete_then_recreate),
        T(test_delete_keeps_later_sessions),
        T(test_revoke_order),
        T(test_every_order),
        T(test_clock),
        T(test_tombstone_purge),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
