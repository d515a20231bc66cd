/*
 * Unit tests of the store process's core (store/applier.c) on real files in mkdtemp
 * directories: segments of several writers applied once and again (idempotent), records
 * appended after a pass, trimming and a reopen, a torn tail left by a pass and cut by
 * recovery, torn and corrupt middle segments, sequence gaps, per-slot limits (a writer's
 * synced seq), what recovery loads, and kill -9 of a child running apply passes while the
 * parent appends.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/applier.h"
#include "store/segment.h"
#include "store/writer.h"
#include "tests/unit/store/fixture.h"
#include "tests/unit/store/tmpdir.h"

/* --- helpers --------------------------------------------------------------------- */

static int dirs_setup(void **state)
{
    static struct data_dirs d;

    *state = &d;
    return data_dirs_make(&d, "applier");
}

static int dirs_teardown(void **state)
{
    return tmpdir_remove(((struct data_dirs *)*state)->home);
}

static void bytes_append(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    assert_true(fd != -1);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static bool file_exists(const char *dir, uint16_t slot, uint64_t first)
{
    char path[160];

    seg_path(path, sizeof(path), dir, slot, first);
    return access(path, F_OK) == 0;
}

static int count_one(const struct store_session *s, void *arg)
{
    (void)s;
    ++*(uint64_t *)arg;
    return 0;
}

static uint64_t sessions(struct store_bdb *db)
{
    uint64_t n = 0;

    assert_int_equal(store_bdb_each_live_session(db, NOW, count_one, &n), 0);
    return n;
}

static uint64_t applied_seq(struct store_bdb *db, uint16_t w)
{
    uint64_t s = 0;

    assert_int_equal(store_bdb_applied_seq(db, w, &s), 0);
    return s;
}

static void pass_ok(struct store_bdb *db, const char *dir, struct store_apply_stats *st)
{
    char err[1024];

    if (store_apply_pass(db, dir, NULL, st, err, sizeof(err)) < 0)
        fail_msg("store_apply_pass: %s", err);
}

/* Asserts err holds each of the texts. */
static void err_has(const char *err, const char *a, const char *b)
{
    if (strstr(err, a) == NULL || (b != NULL && strstr(err, b) == NULL))
        fail_msg("\"%s\" lacks \"%s\" or \"%s\"", err, a, b ? b : "");
}

/* --- applying ------------------------------------------------------------------------ */

static void three_writers(const char *log)
{
    seg_write(log, 1, 1, 100);
    seg_write(log, 1, 101, 150);
    seg_write(log, 2, 1, 600); /* more than a batch */
    seg_write(log, 3, 1, 10);
}

static void test_apply_once(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct store_apply_stats st;

    three_writers(d->log);
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 860);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.segments, 4);
    assert_true(st.bytes > 860 * STORE_FRAME_HEADER);
    assert_int_equal(applied_seq(db, 1), 250);
    assert_int_equal(applied_seq(db, 2), 600);
    assert_int_equal(applied_seq(db, 3), 10);
    assert_int_equal(sessions(db), 860);

    /* again: nothing new; the applied non-last segment is not even read */
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.segments_done, 1);
    assert_int_equal(st.segments, 3);
    assert_int_equal(st.skipped, 150 + 600 + 10);
    assert_int_equal(sessions(db), 860);

    /* appended after a pass: the next one applies them, into the same and new files */
    seg_write(d->log, 1, 251, 50);
    seg_write(d->log, 3, 11, 5);
    seg_write(d->log, 4, 1, 7);
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 62);
    assert_int_equal(applied_seq(db, 1), 300);
    assert_int_equal(applied_seq(db, 3), 15);
    assert_int_equal(applied_seq(db, 4), 7);
    assert_int_equal(sessions(db), 922);
    store_bdb_close(db);
}

static void test_trim(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct store_trim_stats ts;
    char err[1024];

    three_writers(d->log);
    pass_ok(db, d->log, NULL);
    seg_write(d->log, 2, 601, 100); /* w2-1 is now applied and not last */
    seg_write(d->log, 3, 11, 1);    /* w3: 1 applied, 11 (one record) not */
    seg_write(d->log, 3, 12, 10);
    if (store_trim(db, d->log, &ts, err, sizeof(err)) < 0)
        fail_msg("store_trim: %s", err);
    assert_int_equal(ts.deleted, 3);
    assert_true(ts.bytes > 0);
    assert_int_equal(ts.kept, 4);
    assert_false(file_exists(d->log, 1, 1));
    assert_true(file_exists(d->log, 1, 101)); /* last, though applied */
    assert_false(file_exists(d->log, 2, 1));
    assert_true(file_exists(d->log, 2, 601));
    assert_false(file_exists(d->log, 3, 1));
    assert_true(file_exists(d->log, 3, 11)); /* not applied */
    assert_true(file_exists(d->log, 3, 12));

    /* after a reopen: everything applied is there, the rest applies from what is left */
    store_bdb_close(db);
    db = open_ok(d->db);
    assert_int_equal(sessions(db), 860);
    pass_ok(db, d->log, NULL);
    assert_int_equal(sessions(db), 971);
    assert_int_equal(store_trim(db, d->log, &ts, err, sizeof(err)), 0);
    assert_int_equal(ts.deleted, 1); /* w3-11 */
    assert_int_equal(ts.kept, 3);
    store_bdb_close(db);
}

/* --- torn tails, corruption, gaps ------------------------------------------------------ */

static unsigned warnings;
static char last_warning[1024];

static void on_warn(const char *msg, void *arg)
{
    (void)arg;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

/* Appends the first 11 bytes of a frame: a torn write. */
static void torn_append(const char *path)
{
    struct store_record r;
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    token_make(&r, 1, 999, NOW + 3600);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    bytes_append(path, sb.data, 11);
    msgpack_sbuffer_destroy(&sb);
}

static void test_torn_last(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct store_recover_ops ops = {.warn = on_warn, .now = NOW};
    struct store_apply_stats st;
    char path[160], err[1024];
    uint64_t whole;

    seg_write(d->log, 1, 1, 10);
    seg_write(d->log, 1, 11, 20);
    seg_path(path, sizeof(path), d->log, 1, 11);
    whole = file_size(path);
    torn_append(path);
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 30);
    assert_int_equal(st.torn, 1);
    assert_int_equal(file_size(path), whole + 11); /* its writer's: left alone */

    warnings = 0;
    ops.stats = &st;
    if (store_recover(db, d->log, &ops, NULL, err, sizeof(err)) < 0)
        fail_msg("store_recover: %s", err);
    assert_int_equal(warnings, 1);
    err_has(last_warning, "w1-000000000000000b.seg", NULL);
    assert_int_equal(file_size(path), whole);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.skipped, 30);
    assert_int_equal(st.segments, 2); /* recovery reads even applied segments */

    /* a writer continues after the cut; passes apply its records */
    seg_write(d->log, 1, 31, 5);
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 5);
    assert_int_equal(st.torn, 0);
    store_bdb_close(db);
}

static void test_torn_middle(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    char path[160], err[1024], where[64];
    uint64_t whole;

    seg_write(d->log, 1, 1, 20);
    seg_path(path, sizeof(path), d->log, 1, 1);
    whole = file_size(path);
    torn_append(path);
    seg_write(d->log, 1, 21, 10);
    snprintf(where, sizeof(where), "offset %" PRIu64, whole);

    assert_int_equal(store_apply_pass(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w1-0000000000000001.seg", where);
    assert_int_equal(store_recover(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w1-0000000000000001.seg", where);
    assert_int_equal(file_size(path), whole + 11); /* never cut */
    assert_int_equal(applied_seq(db, 1), 20);      /* what comes before is applied */
    store_bdb_close(db);
}

static void test_corrupt_middle_frame(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    char path[160], err[1024], where[64];
    uint64_t off = 0;
    uint8_t buf[4096], flip;
    int fd;

    seg_write(d->log, 2, 1, 10);
    seg_write(d->log, 2, 11, 10);
    seg_path(path, sizeof(path), d->log, 2, 1);
    fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd != -1);
    assert_true(read(fd, buf, sizeof(buf)) > 0);
    for (int i = 0; i < 4; i++) { /* the offset of the fifth frame */
        uint32_t len;

        assert_int_equal(store_frame_check(buf + off, sizeof(buf) - off, &len), 0);
        off += STORE_FRAME_HEADER + len;
    }
    flip = buf[off + STORE_FRAME_HEADER + 3] ^ 0x40;
    assert_int_equal(pwrite(fd, &flip, 1, (off_t)(off + STORE_FRAME_HEADER + 3)), 1);
    assert_int_equal(close(fd), 0);
    snprintf(where, sizeof(where), "offset %" PRIu64, off);

    assert_int_equal(store_apply_pass(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w2-0000000000000001.seg", where);
    assert_int_equal(store_recover(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w2-0000000000000001.seg", where);
    assert_int_equal(applied_seq(db, 2), 4);
    store_bdb_close(db);
}

static void test_gaps(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    char path[160], err[1024];

    /* between segments: 11 .. 14 are missing */
    seg_write(d->log, 1, 1, 10);
    seg_write(d->log, 1, 15, 5);
    assert_int_equal(store_apply_pass(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w1-000000000000000f.seg", "gap at offset 0");
    assert_int_equal(applied_seq(db, 1), 10); /* what comes before the gap is applied */

    /* before the first segment: a writer whose records 1 .. 4 are gone */
    seg_path(path, sizeof(path), d->log, 1, 15);
    assert_int_equal(unlink(path), 0);
    seg_write(d->log, 3, 5, 5);
    assert_int_equal(store_apply_pass(db, d->log, NULL, NULL, err, sizeof(err)), -EBADMSG);
    err_has(err, "w3-0000000000000005.seg", "gap at offset 0");
    assert_int_equal(applied_seq(db, 3), 0);
    store_bdb_close(db);
}

/* --- limits ---------------------------------------------------------------------------- */

struct limits {
    uint64_t max[8]; /* by slot */
    unsigned calls;
};

static uint64_t limit_of(uint16_t slot, void *arg)
{
    struct limits *l = arg;

    l->calls++;
    return slot < 8 ? l->max[slot] : 0;
}

static void pass_limited(struct store_bdb *db, const char *dir, struct limits *l,
                         struct store_apply_stats *st)
{
    struct store_apply_limit lim = {limit_of, l, NULL};
    char err[1024];

    if (store_apply_pass(db, dir, &lim, st, err, sizeof(err)) < 0)
        fail_msg("store_apply_pass: %s", err);
}

/* A pass applies a slot's records up to its limit exactly, the next one goes on from there;
 * a limit inside a segment, at its end, before a whole segment, and of 0. */
static void test_limits(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct limits l = {.max = {0, 37, 0, 10, 5}};
    struct store_apply_stats st;

    seg_write(d->log, 1, 1, 50);
    seg_write(d->log, 1, 51, 50);
    seg_write(d->log, 2, 1, 10);
    seg_write(d->log, 3, 1, 10);
    seg_write(d->log, 3, 11, 10);
    seg_write(d->log, 4, 1, 20);
    pass_limited(db, d->log, &l, &st);
    assert_int_equal(l.calls, 4); /* once a slot */
    assert_int_equal(applied_seq(db, 1), 37);
    assert_int_equal(applied_seq(db, 2), 0);
    assert_int_equal(applied_seq(db, 3), 10);
    assert_int_equal(applied_seq(db, 4), 5);
    assert_int_equal(st.applied, 37 + 10 + 5);
    assert_int_equal(st.held, 4);
    assert_int_equal(sessions(db), 52);

    /* the writers synced more: the next pass goes on exactly where this one stopped */
    l = (struct limits){.max = {0, 60, 10, 20, 19}};
    pass_limited(db, d->log, &l, &st);
    assert_int_equal(st.applied, 23 + 10 + 10 + 14);
    assert_int_equal(st.held, 2); /* slots 1 and 4; 2 and 3 reached their ends */
    assert_int_equal(applied_seq(db, 1), 60);
    assert_int_equal(applied_seq(db, 2), 10);
    assert_int_equal(applied_seq(db, 3), 20);
    assert_int_equal(applied_seq(db, 4), 19);

    /* no limit: the rest; a limit below what is applied changes nothing */
    pass_ok(db, d->log, &st);
    assert_int_equal(st.applied, 40 + 1);
    l = (struct limits){.max = {0, 1, 1, 1, 1}};
    pass_limited(db, d->log, &l, &st);
    assert_int_equal(st.applied, 0);
    assert_int_equal(applied_seq(db, 1), 100);
    assert_int_equal(sessions(db), 150);
    store_bdb_close(db);
}

static uint64_t no_limit(uint16_t slot, void *arg)
{
    (void)slot;
    (void)arg;
    return UINT64_MAX;
}

/* Adds n tokens to w (seqs from its next) and writes them. */
static void writer_tokens(struct store_writer *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct store_record r;

        token_make(&r, w->slot, w->next_seq, NOW + 3600);
        assert_int_equal(store_writer_add(w, &r), 0);
    }
    assert_int_equal(store_writer_write(w), 0);
}

/* With a cursor, a pass reads only what was appended since the last one (each frame once),
 * also across a limit that stopped it mid-file and a segment the writer started since. */
static void test_cursor(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct store_apply_cursor *cur = calloc(1, sizeof(*cur));
    struct limits l = {.max = {0, 45}};
    struct store_apply_limit all = {no_limit, NULL, cur}, lim = {limit_of, &l, cur};
    struct store_apply_stats st;
    struct store_writer w;
    char err[1024], path[4096];
    uint64_t size;

    assert_non_null(cur);
    assert_int_equal(store_writer_open(&w, d->log, 1, STORE_SYNC_OFF, 0, err, sizeof(err)), 0);
    writer_tokens(&w, 30);
    assert_int_equal(store_apply_pass(db, d->log, &all, &st, err, sizeof(err)), 0);
    assert_int_equal(st.applied, 30);
    seg_path(path, sizeof(path), d->log, 1, 1);
    size = file_size(path);
    assert_int_equal(st.bytes, size);

    writer_tokens(&w, 20); /* seqs 31..50; the limit stops the pass after 45 */
    assert_int_equal(store_apply_pass(db, d->log, &lim, &st, err, sizeof(err)), 0);
    assert_int_equal(st.applied, 15);
    assert_int_equal(st.held, 1);
    assert_true(st.bytes < file_size(path) - size); /* only the new frames, up to 45 */
    l.max[1] = 50;
    assert_int_equal(store_apply_pass(db, d->log, &lim, &st, err, sizeof(err)), 0);
    assert_int_equal(st.applied, 5);
    assert_int_equal(st.skipped, 0); /* nothing applied before was read again */

    /* the writer starts a new segment: the old one is finished, the new one read */
    assert_int_equal(store_writer_rotate(&w, 1), 0);
    writer_tokens(&w, 7);
    assert_int_equal(store_apply_pass(db, d->log, &all, &st, err, sizeof(err)), 0);
    assert_int_equal(st.applied, 7);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(applied_seq(db, 1), 57);
    assert_int_equal(sessions(db), 57);
    store_writer_close(&w);
    store_bdb_close(db);
    free(cur);
}

/* --- recovery ------------------------------------------------------------------------ */

struct loaded {
    unsigned clients, keys, sessions, accounts;
};

static int on_client(const struct store_client_rec *c, void *arg)
{
    (void)c;
    ((struct loaded *)arg)->clients++;
    return 0;
}

static int on_key(const struct store_key *k, void *arg)
{
    (void)k;
    ((struct loaded *)arg)->keys++;
    return 0;
}

static int on_session(const struct store_session *s, void *arg)
{
    assert_true(s->token.exp > NOW);
    ((struct loaded *)arg)->sessions++;
    return 0;
}

static int on_account(const struct store_account *a, void *arg)
{
    (void)a;
    ((struct loaded *)arg)->accounts++;
    return 0;
}

/* Appends r (its writer and seq set by the caller) to sb. */
static void rec_add(msgpack_sbuffer *sb, struct store_record *r, uint16_t w, uint64_t seq)
{
    r->writer = w;
    r->seq = seq;
    r->time_ms = (int64_t)NOW * 1000;
    assert_int_equal(store_record_encode(r, sb), 0);
}

/* Writer 5: 3 clients (one then deleted), 2 keys, 2 accounts; writer 6: 5 live tokens and
 * 3 expired ones. */
static void state_write(const char *log)
{
    struct store_segment seg;
    msgpack_sbuffer sb;
    struct store_record r;
    uint64_t seq = 1;

    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < 3; i++) {
        memset(&r, 0, sizeof(r));
        r.type = STORE_REC_CLIENT_PUT;
        snprintf(r.u.client.client.id, sizeof(r.u.client.client.id), "client-%d", i);
        r.u.client.generation = (uint32_t)i + 1;
        r.u.client.version = (uint64_t)i + 1;
        rec_add(&sb, &r, 5, seq++);
    }
    memset(&r, 0, sizeof(r));
    r.type = STORE_REC_CLIENT_DELETE;
    snprintf(r.u.ref.id, sizeof(r.u.ref.id), "client-2");
    r.u.ref.generation = 4;
    r.u.ref.version = 4;
    rec_add(&sb, &r, 5, seq++);
    for (int i = 0; i < 2; i++) {
        memset(&r, 0, sizeof(r));
        r.type = STORE_REC_KEY_PUT;
        snprintf(r.u.key.kid, sizeof(r.u.key.kid), "kid-%d", i);
        r.u.key.der_len = 4;
        r.u.key.created = NOW;
        rec_add(&sb, &r, 5, seq++);
        memset(&r, 0, sizeof(r));
        r.type = STORE_REC_ACCOUNT_PUT;
        snprintf(r.u.account.email, sizeof(r.u.account.email), "a%d@example.org", i);
        r.u.account.verifier_len = 8;
        rec_add(&sb, &r, 5, seq++);
    }
    if (store_segment_open_append(&seg, log, 5, 1, 1 << 20) < 0 ||
        store_segment_append(&seg, 1, sb.data, sb.size) < 0)
        fail_msg("writer 5: %s", seg.err);
    assert_int_equal(store_segment_close(&seg), 0);
    msgpack_sbuffer_destroy(&sb);

    msgpack_sbuffer_init(&sb);
    for (uint64_t s = 1; s <= 8; s++) {
        token_make(&r, 6, s, s <= 5 ? NOW + 60 : NOW - 60);
        assert_int_equal(store_record_encode(&r, &sb), 0);
    }
    if (store_segment_open_append(&seg, log, 6, 1, 1 << 20) < 0 ||
        store_segment_append(&seg, 1, sb.data, sb.size) < 0)
        fail_msg("writer 6: %s", seg.err);
    assert_int_equal(store_segment_close(&seg), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_recover_loads(void **state)
{
    struct data_dirs *d = *state;
    struct store_bdb *db = open_ok(d->db);
    struct store_recover_ops ops = {
        .client = on_client,
        .key = on_key,
        .session = on_session,
        .account = on_account,
        .now = NOW,
    };
    struct loaded got = {0};
    char err[1024];

    state_write(d->log);
    if (store_recover(db, d->log, &ops, &got, err, sizeof(err)) < 0)
        fail_msg("store_recover: %s", err);
    assert_int_equal(got.clients, 2);
    assert_int_equal(got.keys, 2);
    assert_int_equal(got.sessions, 5);
    assert_int_equal(got.accounts, 2);

    /* again after a reopen, from Berkeley DB alone: the same */
    store_bdb_close(db);
    db = open_ok(d->db);
    memset(&got, 0, sizeof(got));
    assert_int_equal(store_recover(db, d->log, &ops, &got, err, sizeof(err)), 0);
    assert_int_equal(got.clients + got.keys + got.sessions + got.accounts, 11);
    store_bdb_close(db);
}

/* --- kill -9 ------------------------------------------------------------------------- */

#define KILL_WRITERS 2
#define KILL_CHUNK 20

/* What the parent has written, per writer (seq of the last whole record on disk). */
struct shared {
    _Atomic uint64_t written[KILL_WRITERS];
};

/* The child: apply passes (and a trim every fourth) in a loop; after each pass it reports
 * what had been written before the pass started. */
static void child_loop(const struct data_dirs *d, struct shared *sh, int out)
{
    struct store_bdb *db;
    char err[1024];

    if (store_bdb_open(d->db, &db, err, sizeof(err)) < 0)
        _exit(3);
    for (unsigned i = 0;; i++) {
        uint64_t snap[KILL_WRITERS];

        for (int w = 0; w < KILL_WRITERS; w++)
            snap[w] = atomic_load_explicit(&sh->written[w], memory_order_acquire);
        if (store_apply_pass(db, d->log, NULL, NULL, err, sizeof(err)) < 0)
            _exit(4);
        if (i % 4 == 3 && store_trim(db, d->log, NULL, err, sizeof(err)) < 0)
            _exit(5);
        if (write(out, snap, sizeof(snap)) != (ssize_t)sizeof(snap))
            _exit(6);
    }
}

/* Appends while a child applies, kills it after `target` reports (or 5 s), and leaves its
 * last report in last[]. */
static void run_and_kill(const struct data_dirs *d, struct shared *sh, struct store_segment *segs,
                         unsigned target, uint64_t last[KILL_WRITERS])
{
    unsigned reports = 0, chunk = 0;
    int fds[2];
    pid_t pid;
    uint64_t got[KILL_WRITERS];
    time_t deadline = time(NULL) + 5;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_loop(d, sh, fds[1]);
    }
    close(fds[1]);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    while (reports < target && time(NULL) < deadline) {
        int w = (int)(chunk++ % KILL_WRITERS);
        uint64_t first = atomic_load_explicit(&sh->written[w], memory_order_relaxed) + 1;
        msgpack_sbuffer sb;

        msgpack_sbuffer_init(&sb);
        for (unsigned i = 0; i < KILL_CHUNK; i++) {
            struct store_record r;

            token_make(&r, (uint16_t)(w + 1), first + i, NOW + 3600);
            assert_int_equal(store_record_encode(&r, &sb), 0);
        }
        if (store_segment_append(&segs[w], first, sb.data, sb.size) < 0)
            fail_msg("append: %s", segs[w].err);
        msgpack_sbuffer_destroy(&sb);
        atomic_store_explicit(&sh->written[w], first + KILL_CHUNK - 1, memory_order_release);
        nanosleep(&(struct timespec){0, 500000}, NULL); /* a pace the child can follow */
        while (read(fds[0], got, sizeof(got)) == (ssize_t)sizeof(got)) {
            memcpy(last, got, sizeof(got));
            reports++;
        }
    }
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    while (read(fds[0], got, sizeof(got)) == (ssize_t)sizeof(got)) /* before it died */
        memcpy(last, got, sizeof(got));
    close(fds[0]);
    assert_true(reports > 0); /* a slow machine may see fewer than target by the deadline */
}

static void test_kill_safety(void **state)
{
    struct data_dirs *d = *state;
    struct shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct store_segment segs[KILL_WRITERS];
    struct loaded got;
    struct store_recover_ops ops = {.session = on_session, .now = NOW};
    char err[1024];

    assert_true(sh != MAP_FAILED);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int w = 0; w < KILL_WRITERS; w++) {
        atomic_init(&sh->written[w], 0);
        /* a small limit: a new segment every few chunks, so trims have work */
        if (store_segment_open_append(&segs[w], d->log, (uint16_t)(w + 1), 1, 4096) < 0)
            fail_msg("open_append: %s", segs[w].err);
    }
    for (int round = 0; round < 5; round++) {
        uint64_t last[KILL_WRITERS] = {0}, total = 0;
        struct store_bdb *db;

        run_and_kill(d, sh, segs, 5 + (unsigned)(rand() % 80), last);
        db = open_ok(d->db);
        for (int w = 0; w < KILL_WRITERS; w++)
            assert_true(applied_seq(db, (uint16_t)(w + 1)) >= last[w]);
        memset(&got, 0, sizeof(got));
        if (store_recover(db, d->log, &ops, &got, err, sizeof(err)) < 0)
            fail_msg("store_recover: %s", err);
        for (int w = 0; w < KILL_WRITERS; w++) {
            uint64_t all = atomic_load(&sh->written[w]);

            assert_int_equal(applied_seq(db, (uint16_t)(w + 1)), all);
            total += all;
        }
        assert_int_equal(got.sessions, total);
        print_message("# kill round %d: last pass saw %" PRIu64 "+%" PRIu64 ", recovered %" PRIu64
                      "\n",
                      round, last[0], last[1], total);
        store_bdb_close(db);
    }
    /* the children's trims deleted the first segments, never a last one */
    assert_false(file_exists(d->log, 1, 1));
    assert_false(file_exists(d->log, 2, 1));
    assert_true(file_exists(d->log, 1, segs[0].first_seq));
    assert_true(file_exists(d->log, 2, segs[1].first_seq));
    for (int w = 0; w < KILL_WRITERS; w++)
        assert_int_equal(store_segment_close(&segs[w]), 0);
    munmap(sh, sizeof(*sh));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dirs_setup, dirs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_apply_once),    T(test_torn_last),
        T(test_torn_middle),   T(test_corrupt_middle_frame),
        T(test_gaps),          T(test_trim),
        T(test_limits),        T(test_cursor),
        T(test_recover_loads), T(test_kill_safety),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
