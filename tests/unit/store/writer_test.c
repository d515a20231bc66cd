/*
 * Unit tests of store/writer.c on real files in a mkdtemp directory per test: sequence
 * numbers from 1 and continued on reopen and across rotated files, a torn tail cut on open,
 * corruption refused with file and offset, a failed commit leaving the writer unusable until
 * reopened, fsync counts per sync mode, kill -9 of a committing child (every reported seq is
 * on disk), and a small throughput bench printed as TAP comments.
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
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/writer.h"
#include "tests/unit/store/tmpdir.h"

#define SLOT 3

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof(dir), "writer");
}

static int dir_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* A TOKEN_ISSUED record of a typical size (about 150 bytes framed). */
static void token_make(struct store_record *r, unsigned i)
{
    memset(r, 0, sizeof(*r));
    r->type = STORE_REC_TOKEN_ISSUED;
    r->time_ms = 1700000000000 + i;
    for (unsigned k = 0; k < 32; k++) {
        r->u.token.hash[k] = (uint8_t)(i * 31 + k);
        r->u.token.jkt[k] = (uint8_t)(i + k);
    }
    snprintf(r->u.token.client_id, sizeof(r->u.token.client_id), "client-%u", i % 97);
    snprintf(r->u.token.scope, sizeof(r->u.token.scope), "openid profile email offline_access");
    snprintf(r->u.token.audience, sizeof(r->u.token.audience), "https://api.example.com");
    r->u.token.client_gen = 1;
    r->u.token.iat = 1700000000;
    r->u.token.exp = 1700003600;
    r->u.token.kind = 1;
}

static void writer_open_ok(struct store_writer *w, unsigned slot, enum store_sync mode,
                           uint64_t limit)
{
    char err[512] = "";
    int rc = store_writer_open(w, dir, slot, mode, limit, err, sizeof(err));

    if (rc != 0)
        fail_msg("store_writer_open: %d %s", rc, err);
}

/* Adds n records and commits them; returns the first seq. */
static uint64_t add_commit(struct store_writer *w, unsigned n)
{
    uint64_t first = 0;

    for (unsigned i = 0; i < n; i++) {
        struct store_record r;

        token_make(&r, i);
        assert_int_equal(store_writer_add(w, &r), 0);
        assert_int_equal(r.writer, w->slot);
        if (i == 0)
            first = r.seq;
        else
            assert_int_equal(r.seq, first + i);
    }
    assert_int_equal(store_writer_pending(w), n);
    assert_int_equal(store_writer_commit(w), 0);
    assert_int_equal(store_writer_pending(w), 0);
    return first;
}

/* Every record of a slot's segments, in file order. */
struct collect {
    uint64_t *seq;
    size_t n, cap;
    uint16_t slot;
    uint64_t files;
};

static int on_record(const struct store_record *r, uint64_t offset, void *arg)
{
    struct collect *c = arg;

    (void)offset;
    if (r->writer != c->slot)
        return -EPROTO;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->seq = realloc(c->seq, c->cap * sizeof(*c->seq));
        if (c->seq == NULL)
            return -ENOMEM;
    }
    c->seq[c->n++] = r->seq;
    return 0;
}

/* Scans all of slot's segments: each clean, each starting with the seq of its name. */
static void collect_slot(struct collect *c, uint16_t slot)
{
    struct store_segment_name *v = NULL;
    size_t n = 0;
    char err[256];

    memset(c, 0, sizeof(*c));
    c->slot = slot;
    assert_int_equal(store_segment_list(dir, &v, &n, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++) {
        struct store_scan_result res;
        char path[256];
        size_t before = c->n;

        if (v[i].slot != slot)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
        assert_int_equal(store_segment_scan(path, on_record, c, &res), 0);
        assert_int_equal(res.end, STORE_SCAN_CLEAN);
        if (c->n > before)
            assert_int_equal(c->seq[before], v[i].first_seq);
        c->files++;
    }
    free(v);
}

/* The slot's records are exactly 1..n. */
static void assert_seqs(uint16_t slot, uint64_t n)
{
    struct collect c;

    collect_slot(&c, slot);
    assert_int_equal(c.n, n);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.seq[i], i + 1);
    free(c.seq);
}

static void last_segment_path(char *buf, size_t len, uint16_t slot)
{
    struct store_segment_name *v = NULL;
    size_t n = 0;
    char err[256];
    const char *name = NULL;

    assert_int_equal(store_segment_list(dir, &v, &n, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].slot == slot)
            name = v[i].name;
    assert_non_null(name);
    snprintf(buf, len, "%s/%s", dir, name);
    free(v);
}

/* --- tests --------------------------------------------------------------------------- */

static void test_sync_parse(void **state)
{
    (void)state;
    assert_int_equal(store_sync_parse("batch"), STORE_SYNC_BATCH);
    assert_int_equal(store_sync_parse("always"), STORE_SYNC_ALWAYS);
    assert_int_equal(store_sync_parse("off"), STORE_SYNC_OFF);
    assert_int_equal(store_sync_parse("Batch"), -EINVAL);
    assert_int_equal(store_sync_parse(""), -EINVAL);
}

static void test_open_bad_args(void **state)
{
    struct store_writer w;
    char err[256] = "";

    (void)state;
    assert_int_equal(store_writer_open(&w, dir, 65536, STORE_SYNC_BATCH, 0, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(store_writer_close(&w), 0);
    assert_int_equal(
        store_writer_open(&w, "/nonexistent/x", 1, STORE_SYNC_BATCH, 0, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x"));
    assert_int_equal(store_writer_close(&w), 0);
}

static void test_add_commit_reopen(void **state)
{
    struct store_writer w;
    struct store_record r;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    assert_string_equal(w.warn, "");
    assert_int_equal(add_commit(&w, 5), 1);
    assert_int_equal(add_commit(&w, 1), 6);
    assert_int_equal(store_writer_commit(&w), 0); /* nothing pending */
    assert_int_equal(w.stats.commits, 2);
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 6);

    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    assert_int_equal(add_commit(&w, 3), 7);
    /* a record the codec refuses does not use a sequence number */
    token_make(&r, 0);
    r.type = 200;
    assert_int_equal(store_writer_add(&w, &r), -EINVAL);
    assert_int_equal(store_writer_pending(&w), 0);
    assert_int_equal(add_commit(&w, 1), 10);
    /* records added and never committed are never written */
    token_make(&r, 0);
    assert_int_equal(store_writer_add(&w, &r), 0);
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 10);

    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    assert_int_equal(add_commit(&w, 2), 11);
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 12);
}

static void test_slots_independent(void **state)
{
    struct store_writer a, b;

    (void)state;
    writer_open_ok(&a, 1, STORE_SYNC_BATCH, 0);
    writer_open_ok(&b, 2, STORE_SYNC_BATCH, 0);
    assert_int_equal(add_commit(&a, 4), 1);
    assert_int_equal(add_commit(&b, 2), 1);
    assert_int_equal(add_commit(&a, 1), 5);
    assert_int_equal(store_writer_close(&a), 0);
    assert_int_equal(store_writer_close(&b), 0);
    writer_open_ok(&b, 2, STORE_SYNC_BATCH, 0);
    assert_int_equal(add_commit(&b, 1), 3);
    assert_int_equal(store_writer_close(&b), 0);
    assert_seqs(1, 5);
    assert_seqs(2, 3);
}

static void test_rotation(void **state)
{
    struct store_writer w;
    struct collect c;
    uint64_t next = 1;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 2048);
    for (unsigned i = 0; i < 40; i++) {
        unsigned n = 1 + i % 7;

        assert_int_equal(add_commit(&w, n), next);
        next += n;
        if (i % 10 == 9) { /* reopen now and then, possibly just after a rotation */
            assert_int_equal(store_writer_close(&w), 0);
            writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 2048);
        }
    }
    assert_int_equal(store_writer_close(&w), 0);
    collect_slot(&c, SLOT);
    assert_true(c.files > 5);
    free(c.seq);
    assert_seqs(SLOT, next - 1);
}

static void test_torn_tail(void **state)
{
    struct store_writer w;
    struct store_record r;
    msgpack_sbuffer sb;
    char path[256];
    int fd;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    add_commit(&w, 10);
    assert_int_equal(store_writer_close(&w), 0);

    /* half of record 11, as a killed writer would leave it */
    token_make(&r, 11);
    r.writer = SLOT;
    r.seq = 11;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    last_segment_path(path, sizeof(path), SLOT);
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd != -1);
    assert_int_equal(write(fd, sb.data, sb.size / 2), (ssize_t)(sb.size / 2));
    assert_int_equal(close(fd), 0);
    msgpack_sbuffer_destroy(&sb);

    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    assert_non_null(strstr(w.warn, "torn"));
    assert_non_null(strstr(w.warn, path));
    assert_int_equal(add_commit(&w, 2), 11);
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 12);
}

static void test_corrupt_middle(void **state)
{
    struct store_writer w;
    char path[256], err[512] = "", want[64];
    struct stat st;
    int fd;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    add_commit(&w, 10);
    assert_int_equal(store_writer_close(&w), 0);
    last_segment_path(path, sizeof(path), SLOT);
    assert_int_equal(stat(path, &st), 0);

    /* a byte in the middle of the file: inside a frame with whole frames after it */
    fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd != -1);
    {
        off_t mid = st.st_size / 2;
        uint8_t b;

        assert_int_equal(pread(fd, &b, 1, mid), 1);
        b ^= 0x40;
        assert_int_equal(pwrite(fd, &b, 1, mid), 1);
    }
    assert_int_equal(close(fd), 0);

    assert_int_equal(store_writer_open(&w, dir, SLOT, STORE_SYNC_BATCH, 0, err, sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "offset"));
    snprintf(want, sizeof(want), "offset %" PRIu64, (uint64_t)0);
    assert_null(strstr(err, want)); /* the bad frame is not the first one */
    assert_int_equal(store_writer_close(&w), 0);
    /* nothing was cut: the evidence stays */
    {
        struct stat after;

        assert_int_equal(stat(path, &after), 0);
        assert_int_equal(after.st_size, st.st_size);
    }
}

/* A whole record of another slot or out of sequence is not this writer's: refused. */
static void test_foreign_record(void **state)
{
    struct store_writer w;
    struct store_record r;
    msgpack_sbuffer sb;
    char path[256], err[512] = "";
    int fd;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    add_commit(&w, 3);
    assert_int_equal(store_writer_close(&w), 0);
    token_make(&r, 5);
    r.writer = SLOT;
    r.seq = 5; /* 4 is missing */
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    last_segment_path(path, sizeof(path), SLOT);
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd != -1);
    assert_int_equal(write(fd, sb.data, sb.size), (ssize_t)sb.size);
    assert_int_equal(close(fd), 0);
    msgpack_sbuffer_destroy(&sb);

    assert_int_equal(store_writer_open(&w, dir, SLOT, STORE_SYNC_BATCH, 0, err, sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "offset"));
    assert_non_null(strstr(err, "expected seq 4"));
}

static void test_failed_commit(void **state)
{
    struct store_writer w;
    struct store_record r;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    add_commit(&w, 4);
    for (unsigned i = 0; i < 3; i++) {
        token_make(&r, i);
        assert_int_equal(store_writer_add(&w, &r), 0);
    }
    /* make the next write fail: the segment's fd now reads /dev/null */
    assert_int_equal(close(w.seg.fd), 0);
    w.seg.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(w.seg.fd != -1);
    assert_int_equal(store_writer_commit(&w), -EBADF);
    assert_non_null(strstr(w.err, "write("));
    assert_true(w.failed);
    assert_int_equal(store_writer_pending(&w), 0);
    assert_int_equal(store_writer_add(&w, &r), -EIO);
    assert_int_equal(store_writer_commit(&w), -EIO);
    assert_int_equal(w.stats.records, 4);
    assert_int_equal(store_writer_close(&w), 0);

    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 0);
    assert_int_equal(add_commit(&w, 1), 5);
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 5);
}

static void test_sync_modes(void **state)
{
    static const struct {
        enum store_sync mode;
        uint64_t fsyncs;
    } cases[] = {{STORE_SYNC_BATCH, 3}, {STORE_SYNC_ALWAYS, 15}, {STORE_SYNC_OFF, 0}};

    (void)state;
    for (unsigned i = 0; i < 3; i++) {
        struct store_writer w;
        char path[256];
        struct stat st;

        writer_open_ok(&w, 10 + i, cases[i].mode, 0);
        for (unsigned k = 0; k < 3; k++)
            add_commit(&w, 5);
        assert_int_equal(w.stats.fsyncs, cases[i].fsyncs);
        assert_int_equal(w.stats.records, 15);
        assert_int_equal(w.stats.commits, 3);
        last_segment_path(path, sizeof(path), (uint16_t)(10 + i));
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(w.stats.bytes, (uint64_t)st.st_size);
        assert_int_equal(store_writer_close(&w), 0);
        assert_seqs((uint16_t)(10 + i), 15);
    }
}

/* --- kill -9 ------------------------------------------------------------------------- */

/* The child: commits batches of 1..8 records forever, reporting each committed seq. */
static void child_run(int out, unsigned seed)
{
    struct store_writer w;
    char err[512];

    if (store_writer_open(&w, dir, SLOT, STORE_SYNC_BATCH, 8192, err, sizeof(err)) != 0)
        _exit(3);
    for (unsigned i = 0;; i++) {
        uint64_t seqs[8];
        unsigned n = 1 + (seed + i * 7) % 8;

        for (unsigned k = 0; k < n; k++) {
            struct store_record r;

            token_make(&r, i + k);
            if (store_writer_add(&w, &r) != 0)
                _exit(4);
            seqs[k] = r.seq;
        }
        if (store_writer_commit(&w) != 0)
            _exit(5);
        /* one write of at most 64 bytes: atomic on a pipe */
        if (write(out, seqs, n * sizeof(seqs[0])) != (ssize_t)(n * sizeof(seqs[0])))
            _exit(6);
    }
}

/* Reads reported seqs until want of them (then kills the child) and on to EOF. */
static uint64_t parent_read(int in, pid_t child, uint64_t want, uint64_t *last)
{
    uint8_t buf[4096];
    size_t have = 0;
    uint64_t count = 0;
    bool killed = false;

    for (;;) {
        ssize_t got = read(in, buf + have, sizeof(buf) - have);

        if (got == -1 && errno == EINTR)
            continue;
        assert_true(got >= 0);
        if (got == 0)
            break;
        have += (size_t)got;
        for (size_t off = 0; off + 8 <= have; off += 8) {
            uint64_t s;

            memcpy(&s, buf + off, 8);
            assert_true(s > *last); /* reported in order */
            *last = s;
            count++;
        }
        memmove(buf, buf + have - have % 8, have % 8);
        have %= 8;
        if (!killed && count >= want) {
            assert_int_equal(kill(child, SIGKILL), 0);
            killed = true;
        }
    }
    assert_int_equal(have, 0);
    return count;
}

static void test_kill9(void **state)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    uint64_t last = 0;

    (void)state;
    srand(seed);
    print_message("# kill -9 seed %u\n", seed);
    for (unsigned round = 0; round < 5; round++) {
        struct store_writer w;
        struct collect c;
        int fds[2], status;
        pid_t pid;
        uint64_t want = 1 + (uint64_t)(rand() % 300);

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid != -1);
        if (pid == 0) {
            close(fds[0]);
            child_run(fds[1], (unsigned)rand());
        }
        close(fds[1]);
        parent_read(fds[0], pid, want, &last);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* every reported seq is on disk, and the sequence goes on after the last record */
        writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 8192);
        collect_slot(&c, SLOT);
        for (size_t i = 0; i < c.n; i++)
            assert_int_equal(c.seq[i], i + 1);
        assert_true(c.n >= last);
        assert_int_equal(w.next_seq, c.n + 1);
        print_message("# round %u: %" PRIu64 " reported, %zu on disk%s%s\n", round, last, c.n,
                      w.warn[0] ? ", " : "", w.warn[0] ? "torn tail cut" : "");
        free(c.seq);
        assert_int_equal(store_writer_close(&w), 0);
    }
}

/* --- bench --------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Commits batches of n for about 100 ms (and at least twice); prints records/s. */
static void bench_one(enum store_sync mode, const char *name, unsigned n, unsigned slot)
{
    struct store_writer w;
    double t0, t;
    uint64_t records = 0;

    writer_open_ok(&w, slot, mode, 0);
    t0 = now_s();
    do {
        for (unsigned i = 0; i < n; i++) {
            struct store_record r;

            token_make(&r, i);
            assert_int_equal(store_writer_add(&w, &r), 0);
        }
        assert_int_equal(store_writer_commit(&w), 0);
        records += n;
        t = now_s() - t0;
    } while (t < 0.1 || w.stats.commits < 2);
    print_message("# bench sync=%-6s batch=%3u: %9.0f records/s, %6.0f fsyncs/s, %3.0f B/record\n",
                  name, n, (double)records / t, (double)w.stats.fsyncs / t,
                  (double)w.stats.bytes / (double)records);
    assert_int_equal(store_writer_close(&w), 0);
}

static void test_bench(void **state)
{
    static const unsigned sizes[] = {1, 16, 256};
    static const char *const names[] = {"batch", "always", "off"};

    (void)state;
    for (unsigned m = 0; m < 3; m++)
        for (unsigned s = 0; s < 3; s++)
            bench_one((enum store_sync)store_sync_parse(names[m]), names[m], sizes[s],
                      20 + m * 3 + s);
}

/* The split commit of the asynchronous group commit: write without a sync, then the
 * writer's file synced (from any thread), the written sequence telling what it covers;
 * a full segment says so before the write that would rotate it. */
static void test_write_then_sync(void **state)
{
    struct store_writer w;
    struct store_record r;

    (void)state;
    writer_open_ok(&w, SLOT, STORE_SYNC_BATCH, 200);
    assert_int_equal(store_writer_written(&w), 0);
    for (unsigned i = 0; i < 3; i++) {
        token_make(&r, i);
        assert_int_equal(store_writer_add(&w, &r), 0);
    }
    assert_int_equal(store_writer_written(&w), 0); /* added, not written */
    assert_int_equal(store_writer_write(&w), 0);
    assert_int_equal(store_writer_written(&w), 3);
    assert_int_equal(w.stats.fsyncs, 0);
    assert_int_equal(fdatasync(store_writer_fd(&w)), 0);
    assert_true(store_writer_may_rotate(&w)); /* 3 records are past 200 bytes */
    token_make(&r, 3);
    assert_int_equal(store_writer_add(&w, &r), 0);
    assert_int_equal(store_writer_written(&w), 3);
    assert_int_equal(store_writer_write(&w), 0); /* rotates: a new file named 4 */
    assert_false(store_writer_may_rotate(&w));
    assert_int_equal(store_writer_written(&w), 4);
    assert_int_equal(w.seg.first_seq, 4);
    /* a failed sync leaves the writer failed, as a failed commit does */
    store_writer_sync_failed(&w, EIO);
    assert_int_equal(store_writer_write(&w), -EIO);
    assert_non_null(strstr(w.err, "fdatasync"));
    assert_int_equal(store_writer_close(&w), 0);
    assert_seqs(SLOT, 4);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_parse),
        T(test_open_bad_args),
        T(test_add_commit_reopen),
        T(test_write_then_sync),
        T(test_slots_independent),
        T(test_rotation),
        T(test_torn_tail),
        T(test_corrupt_middle),
        T(test_foreign_record),
        T(test_failed_commit),
        T(test_sync_modes),
        T(test_kill9),
        T(test_bench),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
