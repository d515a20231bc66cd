/*
 * Unit tests of store/check.c (tesserad --check-data) on real data directories made with
 * the segment writer and the applier: a clean directory and what it counts; a torn tail in
 * a slot's last segment (a warning, rc 0, the file byte for byte as it was); corruption in
 * the middle, a torn tail in an earlier segment, a newer record version and a sequence gap
 * against the store (errors naming file and offset); a damaged sessions.db (an error naming
 * it).  The log directory is compared byte for byte before and after every check.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/applier.h"
#include "store/check.h"
#include "store/crc.h"
#include "tests/unit/store/fixture.h"
#include "tests/unit/store/tmpdir.h"

static int dirs_setup(void **state)
{
    static struct data_dirs d;

    *state = &d;
    return data_dirs_make(&d, "check");
}

static int dirs_teardown(void **state)
{
    return tmpdir_remove(((struct data_dirs *)*state)->home);
}

/* --- data ------------------------------------------------------------------------------ */

/* Writer 5's segment: clients a and b, a token of b, b deleted, a key, an account, then two
 * tokens of a (one of an old generation). */
static void state_write(const char *log)
{
    struct store_record r[8];
    struct store_segment seg;
    msgpack_sbuffer sb;

    rec_client(&r[0], 1, "a");
    rec_client(&r[1], 2, "b");
    rec_token(&r[2], WRITER, 3, 3, "b", NOW + 3600);
    rec_ref(&r[3], STORE_REC_CLIENT_DELETE, 4, "b", 3, 3);
    rec_init(&r[4], STORE_REC_KEY_PUT, WRITER, 5);
    snprintf(r[4].u.key.kid, sizeof(r[4].u.key.kid), "k1");
    r[4].u.key.der_len = 10;
    rec_init(&r[5], STORE_REC_ACCOUNT_PUT, WRITER, 6);
    snprintf(r[5].u.account.email, sizeof(r[5].u.account.email), "a@example.org");
    rec_token(&r[6], WRITER, 7, 1, "a", NOW + 3600);
    r[6].u.token.client_gen = 4;   /* rec_client's generation: live */
    r[6].u.token.exp = 4102444800; /* 2100: the check's now is the clock's */
    rec_token(&r[7], WRITER, 8, 2, "a", NOW + 3600);
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < 8; i++) {
        r[i].writer = 5;
        assert_int_equal(store_record_encode(&r[i], &sb), 0);
    }
    if (store_segment_open_append(&seg, log, 5, 1, 1 << 20) < 0 ||
        store_segment_append(&seg, 1, sb.data, sb.size) < 0)
        fail_msg("writer 5: %s", seg.err);
    assert_int_equal(store_segment_close(&seg), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Applies everything in d->log to d->db, as a start does, and closes the store. */
static void recover_all(const struct data_dirs *d)
{
    struct store_bdb *db = open_ok(d->db);
    char err[1024];

    if (store_recover(db, d->log, NULL, NULL, err, sizeof(err)) < 0)
        fail_msg("store_recover: %s", err);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    assert_int_equal(store_bdb_checkpoint(db), 0);
    store_bdb_close(db);
}

/* --- the log directory, byte for byte ------------------------------------------------ */

struct snapshot {
    size_t n;
    char names[16][256];
    char *bytes[16];
    size_t sizes[16];
};

static void snapshot_take(const char *dir, struct snapshot *s)
{
    DIR *dh = opendir(dir);
    struct dirent *e;

    assert_non_null(dh);
    memset(s, 0, sizeof(*s));
    while ((e = readdir(dh)) != NULL) {
        char path[512];
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        assert_true(s->n < 16);
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        s->sizes[s->n] = file_size(path);
        s->bytes[s->n] = malloc(s->sizes[s->n] + 1);
        assert_non_null(f = fopen(path, "rb"));
        assert_int_equal(fread(s->bytes[s->n], 1, s->sizes[s->n], f), s->sizes[s->n]);
        fclose(f);
        s->n++;
    }
    closedir(dh);
}

/* Asserts dir holds what s held, and frees s. */
static void snapshot_same(const char *dir, struct snapshot *s)
{
    struct snapshot now;

    snapshot_take(dir, &now);
    assert_int_equal(now.n, s->n);
    for (size_t i = 0; i < s->n; i++) {
        size_t j = 0;

        while (j < now.n && strcmp(now.names[j], s->names[i]) != 0)
            j++;
        assert_true(j < now.n);
        assert_int_equal(now.sizes[j], s->sizes[i]);
        assert_memory_equal(now.bytes[j], s->bytes[i], s->sizes[i]);
    }
    for (size_t i = 0; i < s->n; i++) {
        free(s->bytes[i]);
        free(now.bytes[i]);
    }
}

/* --- checking ---------------------------------------------------------------------------- */

static unsigned warnings;
static char last_warning[1024];

static void on_warn(const char *msg, void *arg)
{
    assert_ptr_equal(arg, &warnings);
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

static struct store_check_stats stats;

/* store_check on d, the log compared before and after; returns its rc, err in err. */
static int check(const struct data_dirs *d, char *err, size_t errlen)
{
    struct snapshot before;
    int rc;

    warnings = 0;
    last_warning[0] = err[0] = '\0';
    snapshot_take(d->log, &before);
    rc = store_check(d->log, d->db, &stats, on_warn, &warnings, err, errlen);
    snapshot_same(d->log, &before);
    return rc;
}

static void err_has(const char *err, const char *a, const char *b)
{
    if (strstr(err, a) == NULL || (b != NULL && strstr(err, b) == NULL))
        fail_msg("\"%s\" lacks \"%s\" or \"%s\"", err, a, b ? b : "");
}

static void test_clean(void **state)
{
    struct data_dirs *d = *state;
    char err[1024];

    seg_write(d->log, 1, 1, 10);
    seg_write(d->log, 1, 11, 20);
    seg_write(d->log, 2, 1, 7);
    state_write(d->log);
    recover_all(d);
    seg_write(d->log, 2, 8, 3); /* not applied yet: fine */
    if (check(d, err, sizeof(err)) < 0)
        fail_msg("store_check: %s", err);
    assert_int_equal(warnings, 0);
    assert_int_equal(stats.segments, 5);
    assert_int_equal(stats.records, 30 + 10 + 8);
    assert_true(stats.bytes > 48 * STORE_FRAME_HEADER);
    assert_int_equal(stats.torn, 0);
    assert_int_equal(stats.clients, 1);
    assert_int_equal(stats.tombstones, 1);
    assert_int_equal(stats.sessions, 30 + 7 + 2); /* b's went with the delete */
    assert_int_equal(stats.sessions_live, 1);     /* the others: expired, dead generation */
    assert_int_equal(stats.accounts, 1);
    assert_int_equal(stats.keys, 1);
    assert_int_equal(stats.clock, 4);
    assert_int_equal(stats.writers, 3);
    assert_int_equal(stats.writer[0].slot, 1);
    assert_int_equal(stats.writer[0].segments, 2);
    assert_int_equal(stats.writer[0].last_seq, 30);
    assert_int_equal(stats.writer[0].applied_seq, 30);
    assert_int_equal(stats.writer[1].first_seq, 1);
    assert_int_equal(stats.writer[1].last_seq, 10);
    assert_int_equal(stats.writer[1].applied_seq, 7);
    assert_int_equal(stats.writer[2].slot, 5);
    assert_int_equal(stats.writer[2].records, 8);
}

/* Appends the first 11 bytes of a frame: a torn write. */
static void torn_append(const char *path)
{
    struct store_record r;
    msgpack_sbuffer sb;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    assert_true(fd != -1);
    msgpack_sbuffer_init(&sb);
    token_make(&r, 1, 999, NOW + 3600);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    assert_int_equal(write(fd, sb.data, 11), 11);
    assert_int_equal(close(fd), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_torn_last(void **state)
{
    struct data_dirs *d = *state;
    char path[160], err[1024], where[64];

    seg_write(d->log, 1, 1, 10);
    seg_write(d->log, 1, 11, 10);
    seg_path(path, sizeof(path), d->log, 1, 11);
    snprintf(where, sizeof(where), "offset %" PRIu64, file_size(path));
    torn_append(path);
    if (check(d, err, sizeof(err)) < 0)
        fail_msg("store_check: %s", err);
    assert_int_equal(warnings, 1);
    err_has(last_warning, "w1-000000000000000b.seg", where);
    err_has(last_warning, "next start", NULL);
    assert_int_equal(stats.torn, 1);
    assert_int_equal(stats.records, 20);
    /* nothing applied yet: the log is ahead of the store, which is fine */
    assert_int_equal(stats.writer[0].applied_seq, 0);
}

/* The offset of the frame after the first k of the file at path. */
static uint64_t frame_offset(const char *path, int k)
{
    uint8_t buf[8192];
    uint64_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd != -1);
    assert_true(read(fd, buf, sizeof(buf)) > 0);
    close(fd);
    for (int i = 0; i < k; i++) {
        uint32_t len;

        assert_int_equal(store_frame_check(buf + off, sizeof(buf) - off, &len), 0);
        off += STORE_FRAME_HEADER + len;
    }
    return off;
}

static void byte_flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    uint8_t b;

    assert_true(fd != -1);
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    assert_int_equal(close(fd), 0);
}

static void test_corrupt(void **state)
{
    struct data_dirs *d = *state;
    char path[160], err[1024], where[64];
    uint64_t off;

    seg_write(d->log, 2, 1, 10);
    seg_write(d->log, 2, 11, 10);
    recover_all(d);
    seg_path(path, sizeof(path), d->log, 2, 11);
    off = frame_offset(path, 4);
    byte_flip(path, off + STORE_FRAME_HEADER + 3); /* the fifth frame's payload */
    snprintf(where, sizeof(where), "offset %" PRIu64, off);
    assert_int_equal(check(d, err, sizeof(err)), -EBADMSG);
    err_has(err, "w2-000000000000000b.seg", where);

    /* a torn tail in a segment that is not its slot's last is corruption too */
    byte_flip(path, off + STORE_FRAME_HEADER + 3);
    seg_path(path, sizeof(path), d->log, 2, 1);
    snprintf(where, sizeof(where), "offset %" PRIu64, file_size(path));
    torn_append(path);
    assert_int_equal(check(d, err, sizeof(err)), -EBADMSG);
    err_has(err, "w2-0000000000000001.seg", where);
}

/* A record of a newer format, in a frame whose CRC is right. */
static void test_newer_version(void **state)
{
    static const uint8_t payload[] = {0x92, STORE_RECORD_VERSION + 1, 0xa1, 'x'};
    struct data_dirs *d = *state;
    uint8_t frame[STORE_FRAME_HEADER + sizeof(payload)];
    uint32_t crc = store_crc32c(payload, sizeof(payload));
    char path[160], err[1024], where[64];
    int fd;

    seg_write(d->log, 3, 1, 5);
    seg_path(path, sizeof(path), d->log, 3, 1);
    snprintf(where, sizeof(where), "offset %" PRIu64, file_size(path));
    memset(frame, 0, sizeof(frame));
    frame[0] = sizeof(payload);
    for (int i = 0; i < 4; i++)
        frame[4 + i] = (uint8_t)(crc >> (8 * i));
    memcpy(frame + STORE_FRAME_HEADER, payload, sizeof(payload));
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd != -1);
    assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
    assert_int_equal(close(fd), 0);
    assert_int_equal(check(d, err, sizeof(err)), -ENOTSUP);
    err_has(err, "w3-0000000000000001.seg", where);
}

static void empty_file(const char *path)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
}

/* The store applied 1..10 of writer 1; its log now starts at 15 (records lost), or is one
 * empty segment named 11 (what a trim leaves after a rotation: fine) or 20 (lost), or ends
 * at 4 (the store is ahead of it). */
static void test_gap(void **state)
{
    struct data_dirs *d = *state;
    char path[160], err[1024];

    seg_write(d->log, 1, 1, 10);
    recover_all(d);
    seg_path(path, sizeof(path), d->log, 1, 1);
    assert_int_equal(unlink(path), 0);
    seg_write(d->log, 1, 15, 5);
    assert_int_equal(check(d, err, sizeof(err)), -EBADMSG);
    err_has(err, "w1-000000000000000f.seg", "gap at offset 0");

    seg_path(path, sizeof(path), d->log, 1, 15);
    assert_int_equal(unlink(path), 0);
    seg_path(path, sizeof(path), d->log, 1, 11);
    empty_file(path);
    if (check(d, err, sizeof(err)) < 0)
        fail_msg("store_check: %s", err);
    assert_int_equal(warnings, 0);
    assert_int_equal(stats.writer[0].next_seq, 11);
    assert_int_equal(unlink(path), 0);
    seg_path(path, sizeof(path), d->log, 1, 20);
    empty_file(path);
    assert_int_equal(check(d, err, sizeof(err)), -EBADMSG);
    err_has(err, "w1-0000000000000014.seg", "gap at offset 0");
    assert_int_equal(unlink(path), 0);

    seg_write(d->log, 1, 1, 4);
    if (check(d, err, sizeof(err)) < 0)
        fail_msg("store_check: %s", err);
    assert_int_equal(warnings, 1);
    err_has(last_warning, "writer 1", "applied up to seq 10");
}

struct outcome {
    int rc;
    char err[1024];
};

static void check_child(void *arg, void *out)
{
    const struct data_dirs *d = arg;
    struct outcome *o = out;

    o->rc = store_check(d->log, d->db, &stats, NULL, NULL, o->err, sizeof(o->err));
}

static void test_damaged_db(void **state)
{
    struct data_dirs *d = *state;
    struct outcome o;

    seg_write(d->log, 1, 1, 5000); /* sessions.db of many pages */
    recover_all(d);
    damage(d->db, "sessions.db", -1, 256);
    memset(&o, 0, sizeof(o));
    in_child(check_child, d, &o, sizeof(o)); /* the reading panics Berkeley DB */
    print_message("# damaged sessions.db: %s\n", o.err);
    assert_int_equal(o.rc, -EIO);
    err_has(o.err, "sessions.db", NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dirs_setup, dirs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_clean),         T(test_torn_last), T(test_corrupt),
        T(test_newer_version), T(test_gap),       T(test_damaged_db),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
