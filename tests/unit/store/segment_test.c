/*
 * Unit tests of store/segment.c on real files in a mkdtemp directory per test: appending,
 * reopening, rotation by size, listing order, undoing a failed write; and the scanner's
 * three endings: clean, a torn last frame (cut at every byte of it, or garbled at every
 * byte of it) and corruption in the middle (a byte changed anywhere in a middle frame),
 * which is reported with the file and the frame's offset, never skipped.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>

#include "store/crc.h"
#include "store/segment.h"
#include "tests/unit/store/tmpdir.h"

#define BIG_LIMIT (64u << 20)

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof(dir), "segment");
}

static int dir_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* Appends records seq .. seq + n - 1 of writer 7 to sb: tokens whose scope length varies,
 * so frames have different sizes. */
static void frames_make(msgpack_sbuffer *sb, uint64_t seq, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct store_record r;

        memset(&r, 0, sizeof(r));
        r.type = STORE_REC_TOKEN_ISSUED;
        r.writer = 7;
        r.seq = seq + i;
        r.time_ms = 1700000000000 + (int64_t)r.seq;
        snprintf(r.u.token.client_id, sizeof(r.u.token.client_id), "client-%" PRIu64, r.seq);
        memset(r.u.token.scope, 's', (r.seq * 37) % 200);
        r.u.token.exp = 3600;
        r.u.token.hash[0] = (uint8_t)r.seq;
        assert_int_equal(store_record_encode(&r, sb), 0);
    }
}

static void file_write(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd != -1);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* What the scan callback saw. */
struct seen {
    uint64_t n;
    uint64_t seq[256], offset[256];
    uint64_t stop_at; /* stop with -ECANCELED at this record (0: never) */
};

static int on_record(const struct store_record *r, uint64_t offset, void *arg)
{
    struct seen *s = arg;

    assert_true(s->n < 256);
    s->seq[s->n] = r->seq;
    s->offset[s->n] = offset;
    if (++s->n == s->stop_at)
        return -ECANCELED;
    return 0;
}

/* Frame offsets of a buffer of frames: starts[i], and starts[n] = its size. */
static unsigned frame_starts(const msgpack_sbuffer *sb, uint64_t *starts)
{
    unsigned n = 0;
    size_t off = 0;

    while (off < sb->size) {
        uint32_t len;

        assert_int_equal(store_frame_check((uint8_t *)sb->data + off, sb->size - off, &len), 0);
        starts[n++] = off;
        off += STORE_FRAME_HEADER + len;
    }
    starts[n] = off;
    return n;
}

/* --- writing ------------------------------------------------------------------------- */

static void test_append_scan_clean(void **state)
{
    static const unsigned batches[] = {5, 1, 7};
    struct store_segment seg;
    struct store_scan_result res;
    struct seen seen = {0};
    msgpack_sbuffer sb;
    char path[128];
    struct stat st;
    uint64_t seq = 1;

    (void)state;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_segment_open_append(&seg, dir, 3, 1, BIG_LIMIT), 0);
    assert_string_equal(seg.name, "w3-0000000000000001.seg");
    for (size_t b = 0; b < 3; b++) {
        msgpack_sbuffer_clear(&sb);
        frames_make(&sb, seq, batches[b]);
        assert_int_equal(store_segment_append(&seg, seq, sb.data, sb.size), 0);
        seq += batches[b];
    }
    assert_int_equal(store_segment_sync(&seg), 0);
    assert_int_equal(store_segment_close(&seg), 0);

    path_of(path, sizeof(path), "w3-0000000000000001.seg");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_CLEAN);
    assert_int_equal(res.records, 13);
    assert_int_equal(res.valid_end, (uint64_t)st.st_size);
    assert_int_equal(seen.n, 13);
    for (uint64_t i = 0; i < 13; i++) {
        assert_int_equal(seen.seq[i], i + 1);
        assert_true(i == 0 ? seen.offset[i] == 0 : seen.offset[i] > seen.offset[i - 1]);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_reopen_append(void **state)
{
    struct store_segment seg;
    struct store_scan_result res;
    struct seen seen = {0};
    msgpack_sbuffer sb;
    char path[128];

    (void)state;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_segment_open_append(&seg, dir, 1, 5, BIG_LIMIT), 0);
    frames_make(&sb, 5, 2);
    assert_int_equal(store_segment_append(&seg, 5, sb.data, sb.size), 0);
    assert_int_equal(store_segment_close(&seg), 0);
    /* another slot has its own file */
    assert_int_equal(store_segment_open_append(&seg, dir, 2, 1, BIG_LIMIT), 0);
    assert_string_equal(seg.name, "w2-0000000000000001.seg");
    assert_int_equal(store_segment_close(&seg), 0);
    /* slot 1 again: the same file, appended to */
    assert_int_equal(store_segment_open_append(&seg, dir, 1, 7, BIG_LIMIT), 0);
    assert_string_equal(seg.name, "w1-0000000000000005.seg");
    assert_int_equal(seg.size, sb.size);
    msgpack_sbuffer_clear(&sb);
    frames_make(&sb, 7, 1);
    assert_int_equal(store_segment_append(&seg, 7, sb.data, sb.size), 0);
    assert_int_equal(store_segment_close(&seg), 0);
    path_of(path, sizeof(path), "w1-0000000000000005.seg");
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_CLEAN);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.seq[2], 7);
    /* a next sequence number before the last file's first one is refused */
    assert_int_equal(store_segment_open_append(&seg, dir, 1, 4, BIG_LIMIT), -EINVAL);
    assert_non_null(strstr(seg.err, "w1-0000000000000005.seg"));
    msgpack_sbuffer_destroy(&sb);
}

/* A small limit: every file but the last has reached it, is named by its first record and
 * holds whole batches; together they hold every record in order. */
static void test_rotation(void **state)
{
    struct store_segment seg;
    struct store_segment_name *names;
    msgpack_sbuffer sb;
    char err[256];
    size_t n;
    uint64_t seq = 1, next = 1;

    (void)state;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_segment_open_append(&seg, dir, 4, 1, 700), 0);
    for (unsigned b = 0; b < 20; b++) {
        unsigned count = 1 + b % 3;

        msgpack_sbuffer_clear(&sb);
        frames_make(&sb, seq, count);
        assert_int_equal(store_segment_append(&seg, seq, sb.data, sb.size), 0);
        seq += count;
    }
    assert_int_equal(store_segment_close(&seg), 0);

    assert_int_equal(store_segment_list(dir, &names, &n, err, sizeof(err)), 0);
    assert_true(n >= 4);
    for (size_t i = 0; i < n; i++) {
        struct store_scan_result res;
        struct seen seen = {0};
        char path[128];

        path_of(path, sizeof(path), names[i].name);
        assert_int_equal(names[i].slot, 4);
        assert_int_equal(names[i].first_seq, next);
        assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
        assert_int_equal(res.end, STORE_SCAN_CLEAN);
        assert_true(i == n - 1 || res.size >= 700);
        assert_true(res.size < 700 + 3 * 400);
        for (uint64_t k = 0; k < seen.n; k++)
            assert_int_equal(seen.seq[k], next + k);
        next += seen.n;
    }
    assert_int_equal(next, seq);
    free(names);
    msgpack_sbuffer_destroy(&sb);
}

static void test_listing_order(void **state)
{
    static const char *const segments[] = {
        "w10-0000000000000001.seg", "w2-0000000000000010.seg", "w2-0000000000000005.seg",
        "w1-00000000000000ff.seg",  "w2-0000000000000003.seg", "w65535-ffffffffffffffff.seg",
    };
    static const char *const others[] = {
        "w2-3.seg",
        "W2-0000000000000003.seg",
        "w02-0000000000000003.seg",
        "w2-0000000000000003.seg.tmp",
        "w65536-0000000000000001.seg",
        "w2-000000000000000A.seg",
        "w-0000000000000001.seg",
        "w2-00000000000000001.seg",
        "w2+0000000000000001.seg",
        "w 2-0000000000000001.seg",
        "log.db",
        "w2-.seg",
    };
    static const char *const sorted[] = {
        "w1-00000000000000ff.seg", "w2-0000000000000003.seg",  "w2-0000000000000005.seg",
        "w2-0000000000000010.seg", "w10-0000000000000001.seg", "w65535-ffffffffffffffff.seg",
    };
    struct store_segment_name *names;
    char path[128], err[256];
    size_t n;

    (void)state;
    assert_int_equal(store_segment_list(dir, &names, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    assert_null(names);
    for (size_t i = 0; i < 6; i++) {
        path_of(path, sizeof(path), segments[i]);
        file_write(path, "", 0);
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        path_of(path, sizeof(path), others[i]);
        file_write(path, "", 0);
    }
    assert_int_equal(store_segment_list(dir, &names, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i].name, sorted[i]);
    assert_int_equal(names[5].slot, 65535);
    assert_int_equal(names[5].first_seq, UINT64_MAX);
    free(names);

    path_of(path, sizeof(path), "missing");
    assert_int_equal(store_segment_list(path, &names, &n, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "opendir("));
}

/* A write that fails half way (the file size limit here, ENOSPC in life) is cut back off:
 * the file still ends on a frame and the next append works. */
static void test_failed_write_undone(void **state)
{
    struct store_segment seg;
    struct store_scan_result res;
    struct seen seen = {0};
    struct rlimit old, small;
    msgpack_sbuffer sb;
    char path[128];
    uint64_t size;

    (void)state;
    signal(SIGXFSZ, SIG_IGN);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(store_segment_open_append(&seg, dir, 9, 1, BIG_LIMIT), 0);
    frames_make(&sb, 1, 3);
    assert_int_equal(store_segment_append(&seg, 1, sb.data, sb.size), 0);
    size = seg.size;
    msgpack_sbuffer_clear(&sb);
    frames_make(&sb, 4, 5);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = size + sb.size / 2;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(store_segment_append(&seg, 4, sb.data, sb.size), -EFBIG);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_non_null(strstr(seg.err, "write(w9-0000000000000001.seg)"));
    path_of(path, sizeof(path), seg.name);
    assert_int_equal(file_size(path), size);
    assert_int_equal(seg.size, size);
    assert_int_equal(store_segment_append(&seg, 4, sb.data, sb.size), 0);
    assert_int_equal(store_segment_close(&seg), 0);
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_CLEAN);
    assert_int_equal(seen.n, 8);
    msgpack_sbuffer_destroy(&sb);
}

/* --- scanning ------------------------------------------------------------------------ */

/* Every cut inside the last frame is a torn tail at its start; cutting it leaves a clean
 * file with the other records. */
static void test_torn_tail_every_offset(void **state)
{
    struct store_scan_result res;
    msgpack_sbuffer sb;
    uint64_t starts[8];
    char path[128], at[64];

    (void)state;
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 4);
    assert_int_equal(frame_starts(&sb, starts), 4);
    path_of(path, sizeof(path), "w1-0000000000000001.seg");
    snprintf(at, sizeof(at), "offset %" PRIu64 " ", starts[3]);
    for (uint64_t cut = starts[3]; cut < starts[4]; cut++) {
        struct seen seen = {0};

        file_write(path, sb.data, cut);
        assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
        assert_int_equal(seen.n, 3);
        assert_int_equal(res.valid_end, starts[3]);
        if (cut == starts[3]) {
            assert_int_equal(res.end, STORE_SCAN_CLEAN);
            continue;
        }
        assert_int_equal(res.end, STORE_SCAN_TORN);
        assert_non_null(strstr(res.msg, path));
        assert_non_null(strstr(res.msg, at));
        assert_int_equal(store_segment_cut(path, &res), 0);
        assert_int_equal(file_size(path), starts[3]);
        assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
        assert_int_equal(res.end, STORE_SCAN_CLEAN);
        assert_int_equal(res.records, 3);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* A whole last frame garbled at any byte (length, CRC or payload) is torn too. */
static void test_torn_garbled_last_frame(void **state)
{
    struct store_scan_result res;
    msgpack_sbuffer sb;
    uint64_t starts[8];
    char path[128];

    (void)state;
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 3);
    assert_int_equal(frame_starts(&sb, starts), 3);
    path_of(path, sizeof(path), "w1-0000000000000001.seg");
    for (uint64_t i = starts[2]; i < starts[3]; i++) {
        sb.data[i] ^= 0x5a;
        file_write(path, sb.data, sb.size);
        sb.data[i] ^= 0x5a;
        assert_int_equal(store_segment_scan(path, on_record, &(struct seen){0}, &res), 0);
        assert_int_equal(res.end, STORE_SCAN_TORN);
        assert_int_equal(res.valid_end, starts[2]);
        assert_int_equal(res.records, 2);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* What a crash may leave after the last frame: zeros or stale bytes, no frame. */
static void test_torn_zero_and_garbage_tails(void **state)
{
    static uint8_t buf[16384];
    struct store_scan_result res;
    msgpack_sbuffer sb;
    char path[128];
    uint32_t x = 88172645u;

    (void)state;
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 3);
    memcpy(buf, sb.data, sb.size);
    path_of(path, sizeof(path), "w1-0000000000000001.seg");
    file_write(path, buf, sizeof(buf)); /* zeros after the frames */
    assert_int_equal(store_segment_scan(path, on_record, &(struct seen){0}, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_TORN);
    assert_int_equal(res.valid_end, sb.size);
    for (size_t i = sb.size; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    file_write(path, buf, sizeof(buf));
    assert_int_equal(store_segment_scan(path, on_record, &(struct seen){0}, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_TORN);
    assert_int_equal(res.valid_end, sb.size);
    assert_int_equal(store_segment_cut(path, &res), 0);
    assert_int_equal(file_size(path), sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* A byte changed anywhere in a middle frame: corruption at that frame's offset. */
static void test_middle_corruption(void **state)
{
    struct store_scan_result res;
    msgpack_sbuffer sb;
    uint64_t starts[8];
    char path[128], at[64];

    (void)state;
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 3);
    assert_int_equal(frame_starts(&sb, starts), 3);
    path_of(path, sizeof(path), "w1-0000000000000001.seg");
    snprintf(at, sizeof(at), "offset %" PRIu64 " ", starts[1]);
    for (uint64_t i = starts[1]; i < starts[2]; i++) {
        struct seen seen = {0};

        sb.data[i] ^= 0x01;
        file_write(path, sb.data, sb.size);
        sb.data[i] ^= 0x01;
        assert_int_equal(store_segment_scan(path, on_record, &seen, &res), -EBADMSG);
        assert_int_equal(res.end, STORE_SCAN_CORRUPT);
        assert_int_equal(res.valid_end, starts[1]);
        assert_int_equal(seen.n, 1);
        assert_non_null(strstr(res.msg, path));
        assert_non_null(strstr(res.msg, at));
        assert_int_equal(store_segment_cut(path, &res), -EINVAL); /* never cut */
        assert_int_equal(file_size(path), sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Frames whose CRC matches but whose payload is no record, or a newer one: errors
 * wherever they are, even last (the writer wrote them whole). */
static void test_undecodable_frames(void **state)
{
    static const uint8_t newer[] = {0x92, STORE_RECORD_VERSION + 1, 0x00};
    static const uint8_t junk[] = {0xa3, 'a', 'b', 'c'};
    struct store_scan_result res;
    msgpack_sbuffer sb;
    char path[128];
    size_t good;

    (void)state;
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 1);
    good = sb.size;
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = i == 0 ? junk : newer;
        uint32_t len = i == 0 ? sizeof(junk) : sizeof(newer);
        uint32_t crc = store_crc32c(p, len);
        uint8_t head[8] = {
            (uint8_t)len,        0, 0, 0, (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
            (uint8_t)(crc >> 24)};

        sb.size = good;
        msgpack_sbuffer_write(&sb, (const char *)head, sizeof(head));
        msgpack_sbuffer_write(&sb, (const char *)p, len);
        path_of(path, sizeof(path), "w1-0000000000000001.seg");
        file_write(path, sb.data, sb.size);
        assert_int_equal(store_segment_scan(path, on_record, &(struct seen){0}, &res),
                         i == 0 ? -EBADMSG : -ENOTSUP);
        assert_int_equal(res.end, STORE_SCAN_CORRUPT);
        assert_int_equal(res.valid_end, good);
        assert_non_null(strstr(res.msg, i == 0 ? "does not decode" : "newer format"));
        frames_make(&sb, 2, 1); /* and in the middle */
        file_write(path, sb.data, sb.size);
        assert_int_equal(store_segment_scan(path, on_record, &(struct seen){0}, &res),
                         i == 0 ? -EBADMSG : -ENOTSUP);
        assert_int_equal(res.valid_end, good);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_scan_edges(void **state)
{
    struct store_scan_result res;
    struct seen seen = {.stop_at = 2};
    msgpack_sbuffer sb;
    char path[128];

    (void)state;
    path_of(path, sizeof(path), "w1-0000000000000001.seg");
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), -ENOENT);
    assert_non_null(strstr(res.msg, "open("));
    file_write(path, "", 0);
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), 0);
    assert_int_equal(res.end, STORE_SCAN_CLEAN);
    assert_int_equal(res.records, 0);
    assert_int_equal(store_segment_cut(path, &res), -EINVAL);
    /* the callback stops the scan */
    msgpack_sbuffer_init(&sb);
    frames_make(&sb, 1, 4);
    file_write(path, sb.data, sb.size);
    assert_int_equal(store_segment_scan(path, on_record, &seen, &res), -ECANCELED);
    assert_int_equal(seen.n, 2);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_append_scan_clean),
        T(test_reopen_append),
        T(test_rotation),
        T(test_listing_order),
        T(test_failed_write_undone),
        T(test_torn_tail_every_offset),
        T(test_torn_garbled_last_frame),
        T(test_torn_zero_and_garbage_tails),
        T(test_middle_corruption),
        T(test_undecodable_frames),
        T(test_scan_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
