/*
 * Unit tests of the Berkeley DB store (store/bdb*.c) on real files in mkdtemp directories:
 * every record type through apply, close and reopen with recovery; idempotence; the
 * by-client listing and its paging; the purge of 200,000 expired sessions and what it
 * leaves on disk; a damaged file; hot backup; and kill -9 of a process in the middle of
 * applying batches.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/bdb.h"
#include "store/bdb_int.h"
#include "tests/unit/store/fixture.h"
#include "tests/unit/store/tmpdir.h"

struct dirs {
    char home[64];
    char backup[80];
};

/* --- helpers --------------------------------------------------------------------- */

static int dirs_setup(void **state)
{
    static struct dirs d;

    if (tmpdir_make(d.home, sizeof(d.home), "bdb") < 0)
        return -1;
    snprintf(d.backup, sizeof(d.backup), "%s.backup", d.home);
    *state = &d;
    return 0;
}

static int dirs_teardown(void **state)
{
    struct dirs *d = *state;

    tmpdir_remove(d->home);
    tmpdir_remove(d->backup);
    return 0;
}

/* --- collecting what iterations return -------------------------------------------- */

struct seen {
    int clients, keys, accounts, sessions, revoked;
    struct store_client_rec client;
    struct store_key key;
    struct store_account account;
    struct store_session session;
};

static int see_client(const struct store_client_rec *c, void *arg)
{
    struct seen *s = arg;

    s->client = *c;
    s->clients++;
    return 0;
}

static int see_key(const struct store_key *k, void *arg)
{
    struct seen *s = arg;

    s->key = *k;
    s->keys++;
    return 0;
}

static int see_account(const struct store_account *a, void *arg)
{
    struct seen *s = arg;

    s->account = *a;
    s->accounts++;
    return 0;
}

static int see_session(const struct store_session *x, void *arg)
{
    struct seen *s = arg;

    s->session = *x;
    s->sessions++;
    s->revoked += x->revoked;
    return 0;
}

static struct seen see_all(struct store_bdb *db, int64_t now)
{
    struct seen s;

    memset(&s, 0, sizeof(s));
    assert_int_equal(store_bdb_each_client(db, see_client, &s), 0);
    assert_int_equal(store_bdb_each_key(db, see_key, &s), 0);
    assert_int_equal(store_bdb_each_account(db, see_account, &s), 0);
    assert_int_equal(store_bdb_each_live_session(db, now, see_session, &s), 0);
    return s;
}

/* --- apply, reopen, recover ------------------------------------------------------- */

static void make_all_types(struct store_record r[5])
{
    rec_client(&r[0], 1, "app1");
    r[0].u.client.client.max_live_tokens = 42;
    rec_token(&r[1], WRITER, 2, 1, "app1", NOW + 3600);
    r[1].u.token.flags = 0x1;
    memset(r[1].u.token.jkt, 0xab, 32);
    r[1].u.token.parent = 0x1122334455667788ULL;
    snprintf(r[1].u.token.scope_base, sizeof(r[1].u.token.scope_base), "admin read write");
    r[1].u.token.seq = 0x123456789aULL;
    rec_init(&r[2], STORE_REC_KEY_PUT, WRITER, 3);
    snprintf(r[2].u.key.kid, sizeof(r[2].u.key.kid), "k-2024");
    r[2].u.key.alg = 2;
    r[2].u.key.created = NOW - 10;
    r[2].u.key.der_len = 1200;
    memset(r[2].u.key.der, 0x42, 1200);
    rec_init(&r[3], STORE_REC_ACCOUNT_PUT, WRITER, 4);
    snprintf(r[3].u.account.email, sizeof(r[3].u.account.email), "alice@example.org");
    snprintf(r[3].u.account.webid, sizeof(r[3].u.account.webid), "https://alice.example/#me");
    r[3].u.account.verifier_len = 3;
    memcpy(r[3].u.account.verifier, "xyz", 3);
    rec_token(&r[4], 9, 1, 2, "app1", NOW + 7200); /* another writer */
}

static void check_all_types(const struct seen *s, const struct store_record r[5])
{
    struct store_client_rec want = r[0].u.client;

    assert_int_equal(s->clients, 1);
    want.client.scopes = 0; /* interned ids do not survive */
    assert_memory_equal(&s->client, &want, sizeof(want));
    assert_int_equal(s->keys, 1);
    assert_memory_equal(&s->key, &r[2].u.key, sizeof(s->key));
    assert_int_equal(s->accounts, 1);
    assert_memory_equal(&s->account, &r[3].u.account, sizeof(s->account));
    assert_int_equal(s->sessions, 2);
    assert_int_equal(s->revoked, 0);
}

static void test_roundtrip(void **state)
{
    struct dirs *d = *state;
    struct store_record r[5];
    struct store_bdb *db = open_ok(d->home);
    struct seen s;
    uint64_t seq;

    make_all_types(r);
    apply_ok(db, r, 5, 5);
    store_bdb_close(db);
    db = open_ok(d->home);
    s = see_all(db, NOW);
    check_all_types(&s, r);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_bdb_applied_seq(db, WRITER, &seq), 0);
    assert_int_equal(seq, 4);
    assert_int_equal(store_bdb_applied_seq(db, 9, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(store_bdb_applied_seq(db, 100, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(store_bdb_each_live_session(db, NOW + 3600, see_session, &s), 0);
    assert_int_equal(s.sessions, 1); /* exp > now only */
    assert_int_equal(number_of(s.session.token.hash), 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_bdb_each_live_session(db, NOW + 3599, see_session, &s), 0);
    assert_int_equal(s.sessions, 2);
    store_bdb_close(db);
}

/* The matching token record is found among the live sessions. */
struct find {
    uint64_t n;
    struct store_session s;
    int found;
};

static int find_session(const struct store_session *x, void *arg)
{
    struct find *f = arg;

    if (number_of(x->token.hash) == f->n) {
        f->s = *x;
        f->found++;
    }
    return 0;
}

static struct find find_ok(struct store_bdb *db, uint64_t n)
{
    struct find f = {.n = n};

    assert_int_equal(store_bdb_each_live_session(db, NOW, find_session, &f), 0);
    return f;
}

static void test_session_fields(void **state)
{
    struct dirs *d = *state;
    struct store_record r[5];
    struct store_bdb *db = open_ok(d->home);
    struct find f;

    make_all_types(r);
    apply_ok(db, r, 5, 5);
    store_bdb_close(db);
    db = open_ok(d->home);
    f = find_ok(db, 1);
    assert_int_equal(f.found, 1);
    assert_false(f.s.revoked);
    assert_memory_equal(&f.s.token, &r[1].u.token, sizeof(f.s.token));
    store_bdb_close(db);
}

/* A session value of version 1 (before the scope base) still decodes. */
static void test_session_value_version_1(void **state)
{
    struct store_record r;
    struct store_session s = {0}, back;
    uint8_t v[STORE__VALUE_MAX];
    size_t n;

    (void)state;
    rec_token(&r, WRITER, 1, 1, "app1", NOW + 60);
    s.token = r.u.token;
    n = store__session_encode(&s, v, sizeof(v));
    assert_true(n > 0);
    assert_int_equal(store__session_decode(v, n, &back), 0);
    memcpy(back.token.hash, s.token.hash, 32);
    assert_memory_equal(&back, &s, sizeof(s));
    v[0] = 1; /* what version 1 wrote: the same, without the (empty) scope base and seq */
    assert_int_equal(store__session_decode(v, n - 2 - 8, &back), 0);
    memcpy(back.token.hash, s.token.hash, 32);
    assert_memory_equal(&back, &s, sizeof(s));
    assert_int_equal(store__session_decode(v, n, &back), -EINVAL);
    v[0] = STORE__VALUE_VERSION + 1;
    assert_int_equal(store__session_decode(v, n, &back), -EINVAL);
}

static void test_deletes_roundtrip(void **state)
{
    struct dirs *d = *state;
    struct store_record r[5], x[5];
    struct store_bdb *db = open_ok(d->home);
    struct seen s;
    struct find f;

    make_all_types(r);
    apply_ok(db, r, 5, 5);
    rec_init(&x[0], STORE_REC_TOKEN_REVOKED, WRITER, 5);
    hash_of(2, x[0].u.token_hash);
    rec_ref(&x[1], STORE_REC_CLIENT_REVOKE, 6, "app1", 5, 6);
    rec_init(&x[2], STORE_REC_KEY_DELETE, WRITER, 7);
    snprintf(x[2].u.kid, sizeof(x[2].u.kid), "k-2024");
    rec_init(&x[3], STORE_REC_ACCOUNT_DELETE, WRITER, 8);
    snprintf(x[3].u.email, sizeof(x[3].u.email), "alice@example.org");
    apply_ok(db, x, 4, 4);
    store_bdb_close(db);

    db = open_ok(d->home);
    s = see_all(db, NOW);
    assert_int_equal(s.clients, 1);
    assert_int_equal(s.client.generation, 5); /* the REVOKE's */
    assert_int_equal(s.client.version, 6);
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.accounts, 0);
    assert_int_equal(s.sessions, 2); /* revoked and old-generation sessions stay */
    assert_int_equal(s.revoked, 1);
    f = find_ok(db, 2);
    assert_true(f.s.revoked);
    assert_string_equal(f.s.token.audience, "https://api.example");

    rec_ref(&x[0], STORE_REC_CLIENT_DELETE, 9, "app1", 9, 9);
    apply_ok(db, x, 1, 1);
    store_bdb_close(db);
    db = open_ok(d->home);
    s = see_all(db, NOW);
    assert_int_equal(s.clients, 0);
    assert_int_equal(s.sessions, 0); /* a deleted client's sessions go with it */
    store_bdb_close(db);
}

/* A revocation applied before the issue (two writers' segments out of order). */
static void test_revoke_before_issue(void **state)
{
    struct dirs *d = *state;
    struct store_record r[2];
    struct store_bdb *db = open_ok(d->home);
    struct find f;

    rec_init(&r[0], STORE_REC_TOKEN_REVOKED, 1, 1);
    hash_of(77, r[0].u.token_hash);
    apply_ok(db, r, 1, 1);
    f = find_ok(db, 77);
    assert_int_equal(f.found, 1);
    assert_true(f.s.revoked);
    assert_int_equal(f.s.token.exp, NOW + STORE_BDB_TOMBSTONE_TTL);
    rec_token(&r[1], 2, 1, 77, "app9", NOW + 60);
    apply_ok(db, &r[1], 1, 1);
    f = find_ok(db, 77);
    assert_true(f.s.revoked);
    assert_int_equal(f.s.token.exp, NOW + 60);
    assert_string_equal(f.s.token.client_id, "app9");
    store_bdb_close(db);
}

static void test_idempotent(void **state)
{
    struct dirs *d = *state;
    struct store_record r[5], old[2];
    struct store_bdb *db = open_ok(d->home);
    struct seen a, b;

    make_all_types(r);
    apply_ok(db, r, 5, 5);
    a = see_all(db, NOW);
    apply_ok(db, r, 5, 0); /* the same batch again: every record skipped */
    b = see_all(db, NOW);
    assert_memory_equal(&a, &b, sizeof(a));
    /* An older seq with different content is skipped; a newer one is applied. */
    rec_client(&old[0], 1, "intruder");
    rec_client(&old[1], 5, "app2");
    apply_ok(db, old, 2, 1);
    b = see_all(db, NOW);
    assert_int_equal(b.clients, 2);
    assert_string_equal(b.client.client.id, "app2"); /* key order: app1, app2 */
    store_bdb_close(db);
    db = open_ok(d->home);
    apply_ok(db, r, 5, 0); /* replay after a restart */
    apply_ok(db, old, 2, 0);
    store_bdb_close(db);
}

static void test_bad_record(void **state)
{
    struct dirs *d = *state;
    struct store_record r[2];
    struct store_bdb *db = open_ok(d->home);
    uint64_t seq;

    rec_client(&r[0], 1, "ok");
    rec_init(&r[1], 99, WRITER, 2);
    assert_int_equal(store_bdb_apply(db, r, 2), -EINVAL);
    assert_non_null(strstr(store_bdb_error(db), "unknown type 99"));
    /* The batch rolled back as a whole. */
    assert_int_equal(store_bdb_applied_seq(db, WRITER, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(see_all(db, NOW).clients, 0);
    store_bdb_close(db);
}

/* --- listings ----------------------------------------------------------------------- */

struct page {
    int n;
    uint8_t last[STORE_BDB_ID_LEN];
    uint8_t prev[STORE_BDB_ID_LEN];
    int ordered, zero_hash;
    uint64_t seen[300];
};

static int on_row(const uint8_t id[STORE_BDB_ID_LEN], const struct store_session *s, void *arg)
{
    struct page *p = arg;
    uint8_t zero[32] = {0};

    p->ordered &= memcmp(id, p->prev, STORE_BDB_ID_LEN) > 0;
    p->zero_hash &= memcmp(s->token.hash, zero, 32) == 0;
    memcpy(p->prev, id, STORE_BDB_ID_LEN);
    memcpy(p->last, id, STORE_BDB_ID_LEN);
    p->n++;
    return 0;
}

static int list_all(struct store_bdb *db, const char *client, size_t limit, int *pages)
{
    struct page p;
    const uint8_t *after = NULL;
    int total = 0, rc;

    memset(&p, 0, sizeof(p));
    p.ordered = p.zero_hash = 1;
    *pages = 0;
    do {
        p.n = 0;
        rc = store_bdb_sessions_by_client(db, client, after, limit, on_row, &p);
        assert_int_equal(rc, p.n);
        total += rc;
        after = p.last;
        ++*pages;
    } while ((size_t)rc == limit);
    assert_true(p.ordered);
    assert_true(p.zero_hash);
    return total;
}

static void test_listing(void **state)
{
    struct dirs *d = *state;
    struct store_record *r = calloc(260, sizeof(*r));
    struct store_bdb *db = open_ok(d->home);
    int pages;

    assert_non_null(r);
    for (int i = 0; i < 250; i++)
        rec_token(&r[i], WRITER, (uint64_t)i + 1, (uint64_t)i + 1000, "big", NOW + 3600);
    for (int i = 250; i < 260; i++)
        rec_token(&r[i], WRITER, (uint64_t)i + 1, (uint64_t)i + 1000, "small", NOW + 3600);
    apply_ok(db, r, 260, 260);
    assert_int_equal(list_all(db, "big", 100, &pages), 250);
    assert_int_equal(pages, 3);
    assert_int_equal(list_all(db, "big", 7, &pages), 250);
    assert_int_equal(list_all(db, "small", 100, &pages), 10);
    assert_int_equal(pages, 1);
    assert_int_equal(list_all(db, "nobody", 100, &pages), 0);
    assert_int_equal(store_bdb_sessions_by_client(db, "big", NULL, 0, on_row, NULL), 0);

    rec_ref(&r[0], STORE_REC_CLIENT_DELETE, 261, "big", 261, 261);
    apply_ok(db, r, 1, 1);
    assert_int_equal(list_all(db, "big", 100, &pages), 0);
    assert_int_equal(list_all(db, "small", 100, &pages), 10);
    assert_int_equal(see_all(db, NOW).sessions, 10);
    store_bdb_close(db);
    free(r);
}

/* --- purge and growth ---------------------------------------------------------------- */

struct usage {
    long long db, logs;
    int log_files;
};

static struct usage usage_of(const char *dir)
{
    struct usage u = {0};
    struct dirent *e;
    DIR *dh = opendir(dir);
    char path[512];
    struct stat st;

    assert_non_null(dh);
    while ((e = readdir(dh))) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
            continue;
        if (strncmp(e->d_name, "log.", 4) == 0) {
            u.logs += st.st_size;
            u.log_files++;
        } else {
            u.db += st.st_size;
        }
    }
    closedir(dh);
    return u;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_usage(const char *when, struct usage u, double secs)
{
    print_message("# %-22s databases %6.2f MiB, logs %6.2f MiB in %2d file(s)  (%.2f s)\n", when,
                  u.db / 1048576.0, u.logs / 1048576.0, u.log_files, secs);
}

#define PURGE_N 200000
#define PURGE_BATCH 2000

static void insert_expiring(struct store_bdb *db, struct store_record *r, uint64_t *seq)
{
    for (int b = 0; b < PURGE_N / PURGE_BATCH; b++) {
        for (int i = 0; i < PURGE_BATCH; i++) {
            uint64_t n = (uint64_t)b * PURGE_BATCH + (uint64_t)i + 1;
            char client[16];

            snprintf(client, sizeof(client), "c%d", (int)(n % 50));
            rec_token(&r[i], WRITER, ++*seq, n, client, NOW - 1 - (int64_t)(n % 3600));
        }
        apply_ok(db, r, PURGE_BATCH, PURGE_BATCH);
        if (b % 20 == 19)
            assert_int_equal(store_bdb_checkpoint(db), 0);
    }
}

static void test_purge_growth(void **state)
{
    struct dirs *d = *state;
    struct store_record *r = calloc(PURGE_BATCH, sizeof(*r));
    struct store_bdb *db = open_ok(d->home);
    struct usage start, peak, end;
    uint64_t seq = 0;
    int64_t n, total = 0;
    double t0, t1, t2;
    int pages, slices = 0;
    bool done = false;

    assert_non_null(r);
    for (int i = 0; i < 100; i++) /* live ones, which stay */
        rec_token(&r[i], WRITER, ++seq, 900000000 + (uint64_t)i, "c1", NOW + 3600);
    apply_ok(db, r, 100, 100);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    start = usage_of(d->home);
    print_usage("start (100 sessions)", start, 0);
    t0 = now_s();
    insert_expiring(db, r, &seq);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    t1 = now_s();
    peak = usage_of(d->home);
    print_usage("after 200,000 inserts", peak, t1 - t0);
    while (!done) { /* a timer's slices, with a checkpoint now and then */
        assert_true((n = store_bdb_purge(db, NOW, 20000, &done)) >= 0);
        total += n;
        if (++slices % 4 == 0)
            assert_int_equal(store_bdb_checkpoint(db), 0);
    }
    assert_int_equal(total, PURGE_N);
    t2 = now_s();
    print_usage("after purge", usage_of(d->home), t2 - t1);
    assert_int_equal(store_bdb_compact(db), 0);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    end = usage_of(d->home);
    print_usage("compact + checkpoint", end, now_s() - t2);
    assert_int_equal(see_all(db, NOW).sessions, 100);
    assert_int_equal(list_all(db, "c1", 1000, &pages), 100);
    assert_true(peak.db > 4 * start.db);
    assert_true(end.db <= start.db + 512 * 1024);
    assert_true(end.logs <= 2 * 4 * 1048576 + 1048576);
    store_bdb_close(db);
    free(r);
}

/* Small slices: a pass goes on where the last slice stopped, across sessions added and
 * deleted between slices, and ends at the last session. */
static void test_purge_slices(void **state)
{
    struct dirs *d = *state;
    struct store_record *r = calloc(1000, sizeof(*r));
    struct store_bdb *db = open_ok(d->home);
    int64_t total = 0, n;
    int slices = 0, pages;
    bool done = false;

    assert_non_null(r);
    for (int i = 0; i < 1000; i++) /* even: expired, odd: live */
        rec_token(&r[i], WRITER, (uint64_t)i + 1, (uint64_t)i + 1, i % 4 < 2 ? "a" : "b",
                  i % 2 ? NOW + 60 : NOW - 1);
    apply_ok(db, r, 1000, 1000);
    while (!done) {
        assert_true((n = store_bdb_purge(db, NOW, 64, &done)) >= 0);
        total += n;
        slices++;
        if (slices == 3) { /* a new expired session and a revocation mid-pass */
            rec_token(&r[0], WRITER, 1001, 5000, "a", NOW - 5);
            rec_init(&r[1], STORE_REC_TOKEN_REVOKED, WRITER, 1002);
            hash_of(2, r[1].u.token_hash);
            apply_ok(db, r, 2, 2);
        }
    }
    assert_int_equal(slices, 16);              /* 1001 sessions, 64 a slice */
    assert_true(total >= 500 && total <= 501); /* the new one if it sorts after the cursor */
    assert_int_equal(see_all(db, NOW).sessions, 500);
    assert_int_equal(list_all(db, "a", 100, &pages) + list_all(db, "b", 100, &pages),
                     500 + 501 - total);
    /* The next pass starts over and finds what the last one may have missed. */
    assert_true((n = store_bdb_purge(db, NOW, 5000, &done)) >= 0);
    assert_true(done);
    assert_int_equal(total + n, 501);
    assert_int_equal(store_bdb_purge(db, NOW, 5000, &done), 0);
    assert_int_equal(list_all(db, "a", 100, &pages) + list_all(db, "b", 100, &pages), 500);
    store_bdb_close(db);
    free(r);
}

/* --- a damaged file ------------------------------------------------------------------ */

static void fill(const char *dir, int sessions, bool checkpoint)
{
    struct store_record *r = calloc((size_t)sessions + 1, sizeof(*r));
    struct store_bdb *db = open_ok(dir);

    assert_non_null(r);
    rec_client(&r[0], 1, "app1");
    for (int i = 1; i <= sessions; i++)
        rec_token(&r[i], WRITER, (uint64_t)i + 1, (uint64_t)i, "app1", NOW + 3600);
    apply_ok(db, r, (size_t)sessions + 1, sessions + 1);
    if (checkpoint) {
        assert_int_equal(store_bdb_checkpoint(db), 0);
        assert_int_equal(store_bdb_checkpoint(db), 0);
    }
    store_bdb_close(db);
    free(r);
}

static int count_client(const struct store_client_rec *c, void *arg)
{
    (void)c;
    ++*(int *)arg;
    return 0;
}

static int count_session(const struct store_session *s, void *arg)
{
    (void)s;
    ++*(int *)arg;
    return 0;
}

struct opened {
    int rc;
    bool opened; /* the open succeeded; rc is then the reading's */
    char err[1024];
};

static void load(void *arg, void *out)
{
    struct opened *o = out;
    struct store_bdb *db;
    int n = 0;

    o->rc = store_bdb_open(arg, &db, o->err, sizeof(o->err));
    if (o->rc == 0) {
        o->opened = true;
        if ((o->rc = store_bdb_each_client(db, count_client, &n)) == 0)
            o->rc = store_bdb_each_live_session(db, NOW, count_session, &n);
        snprintf(o->err, sizeof(o->err), "%s", store_bdb_error(db));
        store_bdb_close(db);
    }
}

/* Opens dir and reads every database, as the store process does at start, in a child. */
static struct opened open_and_load(const char *dir)
{
    struct opened o;

    memset(&o, 0, sizeof(o));
    in_child(load, (void *)dir, &o, sizeof(o));
    return o;
}

static void test_damaged_page(void **state)
{
    struct dirs *d = *state;
    struct opened o;

    fill(d->home, 5000, true);
    damage(d->home, "sessions.db", -1, 256);
    o = open_and_load(d->home);
    print_message("# damaged page: %s\n", o.err);
    assert_true(o.opened); /* recovery had nothing to redo: the reading finds it */
    assert_int_equal(o.rc, -EIO);
    assert_non_null(strstr(o.err, "sessions.db"));
}

/* Damage that recovery meets first: the log since the last checkpoint covers the page. */
static void test_damaged_in_recovery(void **state)
{
    struct dirs *d = *state;
    struct opened o;

    fill(d->home, 5000, false);
    damage(d->home, "sessions.db", -1, 256);
    o = open_and_load(d->home);
    print_message("# damaged, met in recovery: %s\n", o.err);
    assert_false(o.opened);
    assert_int_equal(o.rc, -EIO);
    assert_non_null(strstr(o.err, "sessions.db"));
}

static void test_damaged_header(void **state)
{
    struct dirs *d = *state;
    struct opened o;

    fill(d->home, 10, true);
    damage(d->home, "clients.db", 0, 512);
    o = open_and_load(d->home);
    print_message("# damaged header: %s\n", o.err);
    assert_false(o.opened);
    assert_true(o.rc < 0);
    assert_non_null(strstr(o.err, "clients.db"));
}

/* --- hot backup ----------------------------------------------------------------------- */

static void test_backup(void **state)
{
    struct dirs *d = *state;
    struct store_record r[5], later;
    struct store_bdb *db = open_ok(d->home), *b;
    struct seen s;

    make_all_types(r);
    apply_ok(db, r, 5, 5);
    assert_int_equal(store_bdb_backup(db, d->backup), 0);
    rec_client(&later, 6, "after-backup");
    apply_ok(db, &later, 1, 1);
    /* Twice: DB_BACKUP_CLEAN empties the target first. */
    assert_int_equal(store_bdb_backup(db, d->backup), 0);
    rec_client(&later, 7, "after-second-backup");
    apply_ok(db, &later, 1, 1);

    b = open_ok(d->backup);
    s = see_all(b, NOW);
    assert_int_equal(s.clients, 2);
    assert_string_equal(s.client.client.id, "app1"); /* key order: after-backup, app1 */
    assert_int_equal(s.keys, 1);
    assert_int_equal(s.accounts, 1);
    assert_int_equal(s.sessions, 2);
    store_bdb_close(b);
    store_bdb_close(db);
}

/* --- kill -9 while applying ------------------------------------------------------------- */

#define KILL_WRITER 7
#define KILL_BATCH 20

static void child_apply(const char *dir, int fd)
{
    struct store_record r[KILL_BATCH];
    struct store_bdb *db;
    char err[1024];
    uint64_t seq;

    if (store_bdb_open(dir, &db, err, sizeof(err)) < 0 ||
        store_bdb_applied_seq(db, KILL_WRITER, &seq) < 0)
        _exit(1);
    for (;;) {
        for (int i = 0; i < KILL_BATCH; i++) {
            ++seq;
            rec_token(&r[i], KILL_WRITER, seq, seq, "app1", NOW + 3600);
        }
        if (store_bdb_apply(db, r, KILL_BATCH) != KILL_BATCH)
            _exit(1);
        if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
            _exit(1);
        if (seq % 2000 == 0)
            store_bdb_checkpoint(db);
    }
}

struct present {
    uint64_t max;
    uint8_t *bits;
    uint64_t count;
};

static int mark_present(const struct store_session *s, void *arg)
{
    struct present *p = arg;
    uint64_t n = number_of(s->token.hash);

    if (n >= 1 && n <= p->max && !p->bits[n])
        p->bits[n] = 1;
    p->count++;
    return 0;
}

/* Runs a child until it reported `target` more batches (plus a random moment), kills it,
 * and returns the last seq it reported committed. */
static uint64_t run_and_kill(const char *dir, unsigned target)
{
    int fds[2];
    uint64_t seq = 0, got;
    unsigned reports = 0;
    struct timespec pause = {0, (long)(rand() % 3000) * 1000};
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_apply(dir, fds[1]);
    }
    close(fds[1]);
    while (reports < target && read(fds[0], &got, sizeof(got)) == sizeof(got)) {
        seq = got;
        reports++;
    }
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(fds[0], &got, sizeof(got)) == sizeof(got)) /* reported before it died */
        seq = got;
    close(fds[0]);
    assert_true(reports == target);
    return seq;
}

static void test_kill_safety(void **state)
{
    struct dirs *d = *state;
    struct store_bdb *db;
    struct present p;
    uint64_t reported = 0, applied;

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < 4; round++) {
        uint64_t seq = run_and_kill(d->home, 30 + (unsigned)(rand() % 120));

        assert_true(seq > reported);
        reported = seq;
        db = open_ok(d->home);
        assert_int_equal(store_bdb_applied_seq(db, KILL_WRITER, &applied), 0);
        assert_true(applied >= reported);
        assert_int_equal(applied % KILL_BATCH, 0); /* whole batches only */
        p.max = applied;
        p.bits = calloc(applied + 1, 1);
        p.count = 0;
        assert_int_equal(store_bdb_each_live_session(db, NOW, mark_present, &p), 0);
        assert_int_equal(p.count, applied);
        for (uint64_t n = 1; n <= applied; n++)
            assert_true(p.bits[n]);
        print_message("# kill round %d: reported %llu, recovered %llu\n", round,
                      (unsigned long long)reported, (unsigned long long)applied);
        free(p.bits);
        store_bdb_close(db);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_session_fields, dirs_setup, dirs_teardown),
        cmocka_unit_test(test_session_value_version_1),
        cmocka_unit_test_setup_teardown(test_deletes_roundtrip, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_before_issue, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_record, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_listing, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_purge_slices, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_purge_growth, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_page, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_in_recovery, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_header, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_backup, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_kill_safety, dirs_setup, dirs_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
