/*
 * Unit tests of the store's control socket: its requests (store/control_ops.c) against a
 * real Berkeley DB in an mkdtemp directory — listing pages, the client filter, what is not
 * live, JSON escaping, bad and oversize requests —, the hot backup (store/backup.c) of a
 * data directory with database, segments, keys and top-level files, and the socket server
 * (store/control.c) with the worker's client of it (worker/storeq.c) on one libuv loop:
 * replies, an unreachable store, a silent one, a malformed reply, cancellation.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>

#include "store/backup.h"
#include "store/bdb.h"
#include "store/control.h"
#include "store/segment.h"
#include "tests/unit/store/tmpdir.h"
#include "worker/storeq.h"

#define NOW 1700000000
#define WRITER 3

struct dirs {
    char data[64];  /* a data directory: data/db, data/log, data/keys */
    char db[96];    /* data/db */
    char log[96];   /* data/log */
    char other[64]; /* a backup target's parent, outside data */
    struct store_bdb *bdb;
    uint64_t seq;
};

/* --- helpers ----------------------------------------------------------------------------- */

static int dirs_setup(void **state)
{
    static struct dirs d;
    char err[1024];

    memset(&d, 0, sizeof(d));
    if (tmpdir_make(d.data, sizeof(d.data), "ctl") < 0 ||
        tmpdir_make(d.other, sizeof(d.other), "ctl-out") < 0)
        return -1;
    snprintf(d.db, sizeof(d.db), "%s/db", d.data);
    snprintf(d.log, sizeof(d.log), "%s/log", d.data);
    if (mkdir(d.log, 0700) < 0 || store_bdb_open(d.db, &d.bdb, err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = &d;
    return 0;
}

static int dirs_teardown(void **state)
{
    struct dirs *d = *state;

    store_bdb_close(d->bdb);
    tmpdir_remove(d->data);
    tmpdir_remove(d->other);
    return 0;
}

static void apply_ok(struct dirs *d, struct store_record *r, size_t n)
{
    int rc = store_bdb_apply(d->bdb, r, n);

    if (rc != (int)n)
        fail_msg("apply: %d of %zu (%s)", rc, n, store_bdb_error(d->bdb));
}

static void rec_init(struct dirs *d, struct store_record *r, uint8_t type)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->version = STORE_RECORD_VERSION;
    r->writer = WRITER;
    r->seq = ++d->seq;
    r->time_ms = (int64_t)NOW * 1000;
}

/* Client id at generation gen. */
static void put_client(struct dirs *d, const char *id, uint32_t gen)
{
    struct store_record r;

    rec_init(d, &r, STORE_REC_CLIENT_PUT);
    snprintf(r.u.client.client.id, sizeof(r.u.client.client.id), "%s", id);
    r.u.client.generation = gen;
    r.u.client.version = d->seq;
    apply_ok(d, &r, 1);
}

/* Token n (its hash starts with n, big-endian, so ids sort as n does) of client. */
static void token_rec(struct dirs *d, struct store_record *r, uint32_t n, const char *client,
                      uint32_t gen, int64_t exp)
{
    struct store_token *t = &r->u.token;

    rec_init(d, r, STORE_REC_TOKEN_ISSUED);
    memset(t->hash, 0xa5, sizeof(t->hash));
    for (int i = 0; i < 4; i++)
        t->hash[i] = (uint8_t)(n >> (24 - 8 * i));
    snprintf(t->client_id, sizeof(t->client_id), "%s", client);
    t->client_gen = gen;
    snprintf(t->scope, sizeof(t->scope), "read write");
    snprintf(t->audience, sizeof(t->audience), "https://api.example");
    t->iat = NOW - 60;
    t->exp = exp;
    t->kind = 1;
}

static void put_tokens(struct dirs *d, uint32_t from, uint32_t n, const char *client, uint32_t gen)
{
    struct store_record r;

    for (uint32_t i = 0; i < n; i++) {
        token_rec(d, &r, from + i, client, gen, NOW + 3600);
        apply_ok(d, &r, 1);
    }
}

/* Runs one request; the reply's body parsed (the test fails on a body that is not JSON). */
static json_t *call(struct dirs *d, const char *req, int want_status)
{
    struct store_control_reply out;
    json_error_t jerr;
    json_t *j;

    store_control_handle(d->bdb, d->data, NOW, req, strlen(req), &out);
    assert_non_null(out.body);
    assert_int_equal(strlen(out.body), out.len);
    if (out.status != want_status)
        fail_msg("%s: status %d, not %d: %s", req, out.status, want_status, out.body);
    j = json_loads(out.body, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("%s: the reply is not JSON: %s", req, out.body);
    store_control_reply_free(&out);
    return j;
}

static void assert_error(struct dirs *d, const char *req, int status, const char *error)
{
    json_t *j = call(d, req, status);

    assert_string_equal(json_string_value(json_object_get(j, "error")), error);
    assert_non_null(json_string_value(json_object_get(j, "error_description")));
    json_decref(j);
}

/* The 16 bytes of a session id (base64url sorts otherwise: digits before letters). */
static void id_bytes(const char *id, uint8_t out[16])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0, n = 0;

    assert_int_equal(strlen(id), 22);
    for (int i = 0; i < 22; i++) {
        const char *p = strchr(alphabet, id[i]);

        assert_non_null(p);
        acc = acc << 6 | (uint32_t)(p - alphabet);
        if ((bits += 6) >= 8 && n < 16)
            out[n++] = (uint8_t)(acc >> (bits -= 8));
    }
}

/* Pages through a listing of limit rows; returns how many rows, checking their shape and
 * order, and that no page is empty unless it is the only one. */
static int list_all(struct dirs *d, const char *client, int limit, int *pages)
{
    char req[256];
    uint8_t prev[16] = {0}, cur[16];
    const char *next = NULL;
    json_t *page = NULL;
    int total = 0;

    *pages = 0;
    do {
        json_t *rows, *row;
        size_t i;

        snprintf(req, sizeof(req), "{\"op\":\"sessions\"%s%s%s,\"limit\":%d%s%s%s}",
                 client ? ",\"client_id\":\"" : "", client ? client : "", client ? "\"" : "", limit,
                 next ? ",\"after\":\"" : "", next ? next : "", next ? "\"" : "");
        json_decref(page);
        page = call(d, req, 200);
        rows = json_object_get(page, "sessions");
        assert_true(json_is_array(rows));
        assert_true(json_array_size(rows) <= (size_t)limit);
        json_array_foreach(rows, i, row)
        {
            const char *id = json_string_value(json_object_get(row, "id"));

            assert_int_equal(json_object_size(row), 7);
            id_bytes(id, cur);
            assert_true(memcmp(prev, cur, 16) < 0);
            memcpy(prev, cur, 16);
            if (client)
                assert_string_equal(json_string_value(json_object_get(row, "client_id")), client);
        }
        total += (int)json_array_size(rows);
        next = json_string_value(json_object_get(page, "next"));
        assert_true(next || json_is_null(json_object_get(page, "next")));
        ++*pages;
    } while (next);
    json_decref(page);
    return total;
}

/* --- listings ---------------------------------------------------------------------------- */

static void test_paging(void **state)
{
    struct dirs *d = *state;
    int pages;

    put_client(d, "big", 4);
    put_client(d, "small", 7);
    put_tokens(d, 100, 25, "big", 4);
    put_tokens(d, 200, 5, "small", 7);
    assert_int_equal(list_all(d, "big", 10, &pages), 25);
    assert_int_equal(pages, 3); /* 10, 10, 5 (next null) */
    assert_int_equal(list_all(d, "big", 5, &pages), 25);
    assert_int_equal(pages, 6); /* the fifth page is full: a sixth, empty, says so */
    assert_int_equal(list_all(d, "big", 1000, &pages), 25);
    assert_int_equal(pages, 1);
    assert_int_equal(list_all(d, "small", 2, &pages), 5);
    assert_int_equal(list_all(d, NULL, 7, &pages), 30);
    assert_int_equal(list_all(d, NULL, 100, &pages), 30);
    assert_int_equal(pages, 1);
    assert_int_equal(list_all(d, "nobody", 10, &pages), 0);
    assert_int_equal(pages, 1);
}

static void test_row(void **state)
{
    struct dirs *d = *state;
    struct store_record r;
    json_t *j, *row;

    put_client(d, "app", 1);
    token_rec(d, &r, 0x01020304, "app", 1, NOW + 100);
    r.u.token.kind = 2;
    r.u.token.audience[0] = '\0';
    apply_ok(d, &r, 1);
    j = call(d, "{\"op\":\"sessions\",\"client_id\":\"app\"}\n", 200);
    row = json_array_get(json_object_get(j, "sessions"), 0);
    /* 01 02 03 04 a5 a5 …: the first 16 bytes of the hash in base64url, nothing more. */
    assert_string_equal(json_string_value(json_object_get(row, "id")), "AQIDBKWlpaWlpaWlpaWlpQ");
    assert_string_equal(json_string_value(json_object_get(row, "client_id")), "app");
    assert_string_equal(json_string_value(json_object_get(row, "kind")), "refresh");
    assert_string_equal(json_string_value(json_object_get(row, "scope")), "read write");
    assert_string_equal(json_string_value(json_object_get(row, "aud")), "");
    assert_int_equal(json_integer_value(json_object_get(row, "iat")), NOW - 60);
    assert_int_equal(json_integer_value(json_object_get(row, "exp")), NOW + 100);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
}

static void test_not_live(void **state)
{
    struct dirs *d = *state;
    struct store_record r[6];
    int pages;

    put_client(d, "app", 5);
    token_rec(d, &r[0], 1, "app", 5, NOW + 100);   /* live */
    token_rec(d, &r[1], 2, "app", 5, NOW);         /* expires now */
    token_rec(d, &r[2], 3, "app", 5, NOW - 1);     /* expired */
    token_rec(d, &r[3], 4, "app", 4, NOW + 100);   /* an older generation */
    token_rec(d, &r[4], 5, "ghost", 1, NOW + 100); /* no such client */
    token_rec(d, &r[5], 6, "app", 5, NOW + 100);   /* revoked below */
    apply_ok(d, r, 6);
    rec_init(d, &r[0], STORE_REC_TOKEN_REVOKED);
    memcpy(r[0].u.token_hash, r[5].u.token.hash, 32);
    apply_ok(d, r, 1);
    rec_init(d, &r[0], STORE_REC_TOKEN_REVOKED); /* a tombstone: revoked before issued */
    memset(r[0].u.token_hash, 0x11, 32);
    apply_ok(d, r, 1);
    assert_int_equal(list_all(d, "app", 10, &pages), 1);
    assert_int_equal(list_all(d, "ghost", 10, &pages), 0);
    assert_int_equal(list_all(d, NULL, 10, &pages), 1);
    assert_int_equal(list_all(d, NULL, 1, &pages), 1);
}

static void test_escaping(void **state)
{
    struct dirs *d = *state;
    static const char id[] = "a\"b\\c/d e";
    struct store_record r;
    json_t *j, *row;

    put_client(d, id, 1);
    token_rec(d, &r, 9, id, 1, NOW + 100);
    snprintf(r.u.token.scope, sizeof(r.u.token.scope), "x\ty\x01");
    apply_ok(d, &r, 1);
    j = call(d, "{\"op\":\"sessions\",\"client_id\":\"a\\\"b\\\\c/d e\"}", 200);
    row = json_array_get(json_object_get(j, "sessions"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "client_id")), id);
    assert_string_equal(json_string_value(json_object_get(row, "scope")), "x\ty\x01");
    json_decref(j);
}

/* A listing of more sessions than one request visits ends early with a cursor. */
static void test_scan_bound(void **state)
{
    struct dirs *d = *state;
    enum { N = STORE_CONTROL_SCAN_MAX + 10, BATCH = 1000 };
    struct store_record *r = calloc(BATCH, sizeof(*r));
    json_t *j;
    int pages;

    assert_non_null(r);
    put_client(d, "app", 1);
    for (uint32_t b = 0; b < N / BATCH + 1; b++) {
        for (uint32_t i = 0; i < BATCH; i++) /* expired: visited, never listed */
            token_rec(d, &r[i], b * BATCH + i, "app", 1, b * BATCH + i < N ? NOW - 1 : NOW + 9);
        apply_ok(d, r, BATCH);
    }
    j = call(d, "{\"op\":\"sessions\",\"limit\":1000}", 200);
    assert_int_equal(json_array_size(json_object_get(j, "sessions")), 0);
    assert_true(json_is_string(json_object_get(j, "next")));
    json_decref(j);
    /* Page one visits the bound's worth of expired sessions and lists none; page two, the
     * rest. */
    assert_int_equal(list_all(d, "app", 1000, &pages), BATCH * (N / BATCH + 1) - N);
    assert_int_equal(pages, 2);
    free(r);
}

/* --- bad requests ------------------------------------------------------------------------ */

static void test_bad_requests(void **state)
{
    struct dirs *d = *state;
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"op\":\"sessions\"} trailing",
        "{}",
        "{\"op\":7}",
        "{\"op\":\"sessions\",\"op\":\"sessions\"}",
        "{\"op\":\"sessions\",\"limit\":0}",
        "{\"op\":\"sessions\",\"limit\":1001}",
        "{\"op\":\"sessions\",\"limit\":\"10\"}",
        "{\"op\":\"sessions\",\"limit\":1.5}",
        "{\"op\":\"sessions\",\"client_id\":5}",
        "{\"op\":\"sessions\",\"client_id\":\"\"}",
        "{\"op\":\"sessions\",\"client_id\":\"a\\nb\"}",
        "{\"op\":\"sessions\",\"client_id\":\"a\\u0000b\"}",
        "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWlpQ=\"}",
        "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWlpR\"}", /* unused bits set */
        "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWlp\"}",
        "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWl+Q\"}",
        "{\"op\":\"sessions\",\"hash\":\"x\"}",
        "{\"op\":\"backup\"}",
        "{\"op\":\"backup\",\"dir\":\"relative/path\"}",
        "{\"op\":\"backup\",\"dir\":\"/tmp\",\"x\":1}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(d, bad[i], 400, "invalid_request");
    assert_error(d, "{\"op\":\"drop\"}", 400, "invalid_request");
    json_decref(call(d,
                     "{\"op\":\"sessions\",\"after\":\"AQIDBKWlpaWlpaWlpaWlpQ\",\"limit\":null,"
                     "\"client_id\":null}\n",
                     200));
}

static void test_oversize(void **state)
{
    struct dirs *d = *state;
    char *req = malloc(STORE_CONTROL_REQUEST_MAX + 2);
    struct store_control_reply out;

    assert_non_null(req);
    /* Exactly the limit, its newline not counted: read, and refused as JSON only. */
    memset(req, ' ', STORE_CONTROL_REQUEST_MAX + 1);
    memcpy(req, "{\"op\":\"sessions\"}", 17);
    req[STORE_CONTROL_REQUEST_MAX] = '\n';
    store_control_handle(d->bdb, d->data, NOW, req, STORE_CONTROL_REQUEST_MAX + 1, &out);
    assert_int_equal(out.status, 200);
    store_control_reply_free(&out);
    req[STORE_CONTROL_REQUEST_MAX] = ' ';
    store_control_handle(d->bdb, d->data, NOW, req, STORE_CONTROL_REQUEST_MAX + 1, &out);
    assert_int_equal(out.status, 413);
    assert_non_null(strstr(out.body, "\"error\":\"request_too_large\""));
    store_control_reply_free(&out);
    free(req);
}

/* --- backup ------------------------------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = malloc(1 << 20);

    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void assert_same(const char *a_dir, const char *b_dir, const char *name, mode_t mode)
{
    char a[256], b[256];
    size_t alen, blen;
    char *x, *y;
    struct stat sb;

    snprintf(a, sizeof(a), "%s/%s", a_dir, name);
    snprintf(b, sizeof(b), "%s/%s", b_dir, name);
    x = slurp(a, &alen);
    y = slurp(b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(x, y, alen);
    assert_int_equal(stat(b, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, mode);
    free(x);
    free(y);
}

static bool exists(const char *dir, const char *name)
{
    char path[256];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return lstat(path, &sb) == 0;
}

/* Tokens first .. first + n - 1 of writer slot, as the segment named first. */
static void write_segment(const char *log, uint16_t slot, uint64_t first, unsigned n)
{
    struct store_segment seg;
    struct store_record r;
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    for (unsigned i = 0; i < n; i++) {
        memset(&r, 0, sizeof(r));
        r.type = STORE_REC_TOKEN_ISSUED;
        r.writer = slot;
        r.seq = first + i;
        r.time_ms = (int64_t)NOW * 1000;
        memcpy(r.u.token.hash, &r.seq, sizeof(r.seq));
        snprintf(r.u.token.client_id, sizeof(r.u.token.client_id), "app");
        r.u.token.exp = NOW + 100;
        assert_int_equal(store_record_encode(&r, &sb), 0);
    }
    if (store_segment_open_append(&seg, log, slot, first, 1) < 0)
        fail_msg("open_append: %s", seg.err);
    if (store_segment_append(&seg, first, sb.data, sb.size) < 0)
        fail_msg("append: %s", seg.err);
    assert_int_equal(store_segment_close(&seg), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* A unix socket file left at path (its listener gone). */
static void leave_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

/* The data directory of a running server: database, segments (one torn), keys, files. */
static void fill_data_dir(struct dirs *d)
{
    char keys[128], path[256];
    int fd;

    put_client(d, "app", 1);
    put_tokens(d, 1, 10, "app", 1);
    write_segment(d->log, 0, 1, 5);
    write_segment(d->log, 0, 6, 3);
    write_segment(d->log, 1, 1, 3);
    snprintf(path, sizeof(path), "%s/w1-0000000000000001.seg", d->log);
    assert_true((fd = open(path, O_WRONLY | O_APPEND)) >= 0);
    assert_int_equal(write(fd, "\x40\x00\x00\x00torn", 8), 8); /* an append under way */
    close(fd);
    snprintf(keys, sizeof(keys), "%s/keys", d->data);
    assert_int_equal(mkdir(keys, 0700), 0);
    write_file(keys, "k1.pem", "kid: k1\n-----BEGIN PRIVATE KEY-----\n", 0600);
    write_file(keys, ".k2.pem.tmp", "half a key", 0600);
    write_file(keys, "notes.txt", "not a key", 0600);
    write_file(d->data, "admin.token", "0123456789abcdef0123\n", 0600);
    write_file(d->data, "dev-cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file(d->data, "lock", "", 0600);
    write_file(d->data, ".admin.token.tmp", "x", 0600);
    snprintf(path, sizeof(path), "%s/store.sock", d->data);
    leave_socket(path);
}

static void check_backup(struct dirs *d, const char *bk)
{
    char log[128], keys[128], skeys[128], db[128], err[1024];
    struct store_control_reply out;
    struct store_bdb *copy;
    struct stat sb;
    json_t *j;

    snprintf(log, sizeof(log), "%s/log", bk);
    snprintf(keys, sizeof(keys), "%s/keys", bk);
    snprintf(skeys, sizeof(skeys), "%s/keys", d->data);
    snprintf(db, sizeof(db), "%s/db", bk);
    assert_same(d->log, log, "w0-0000000000000001.seg", 0600);
    assert_same(d->log, log, "w0-0000000000000006.seg", 0600);
    assert_same(d->log, log, "w1-0000000000000001.seg", 0600); /* torn tail included */
    assert_same(skeys, keys, "k1.pem", 0600);
    assert_false(exists(keys, ".k2.pem.tmp") || exists(keys, "notes.txt"));
    assert_same(d->data, bk, "admin.token", 0600);
    assert_same(d->data, bk, "dev-cert.pem", 0644);
    assert_false(exists(bk, "lock") || exists(bk, ".admin.token.tmp") || exists(bk, "store.sock"));
    assert_int_equal(stat(keys, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    if (store_bdb_open(db, &copy, err, sizeof(err)) < 0)
        fail_msg("the backup's database: %s", err);
    store_control_handle(copy, bk, NOW, "{\"op\":\"sessions\"}", 17, &out);
    assert_int_equal(out.status, 200);
    j = json_loads(out.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "sessions")), 10);
    json_decref(j);
    store_control_reply_free(&out);
    store_bdb_close(copy);
}

static void test_backup(void **state)
{
    struct dirs *d = *state;
    char bk[128], req[512];
    json_t *j;

    fill_data_dir(d);
    snprintf(bk, sizeof(bk), "%s/bk", d->other);
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s\"}", bk);
    j = call(d, req, 200);
    assert_string_equal(json_string_value(json_object_get(j, "backup")), bk);
    assert_int_equal(json_integer_value(json_object_get(j, "segments")), 3);
    assert_true(json_integer_value(json_object_get(j, "files")) >= 3 + 1 + 2 + 6);
    assert_true(json_integer_value(json_object_get(j, "bytes")) > 0);
    json_decref(j);
    check_backup(d, bk);
    assert_error(d, req, 400, "invalid_request"); /* no longer empty */

    snprintf(bk, sizeof(bk), "%s/empty", d->other); /* an empty directory will do */
    assert_int_equal(mkdir(bk, 0755), 0);
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s/\"}", bk);
    json_decref(call(d, req, 200));
    check_backup(d, bk);
}

static void test_backup_refused(void **state)
{
    struct dirs *d = *state;
    char req[512];

    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s/inside\"}", d->data);
    assert_error(d, req, 400, "invalid_request");
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s/../%s/log/x\"}", d->other,
             strrchr(d->data, '/') + 1);
    assert_error(d, req, 400, "invalid_request");
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s\"}", d->data);
    assert_error(d, req, 400, "invalid_request");
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s/no/such/parent\"}", d->other);
    assert_error(d, req, 400, "invalid_request");
    write_file(d->other, "file", "x", 0600);
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s/file\"}", d->other);
    assert_error(d, req, 400, "invalid_request");
}

/* A backup that fails half-way leaves nothing behind. */
static void test_backup_cleanup(void **state)
{
    struct dirs *d = *state;
    char bad[128], bk[128], req[512];

    fill_data_dir(d);
    snprintf(bad, sizeof(bad), "%s/w9-0000000000000001.seg", d->log); /* unreadable */
    assert_int_equal(mkdir(bad, 0700), 0);
    snprintf(bk, sizeof(bk), "%s/bk", d->other);
    snprintf(req, sizeof(req), "{\"op\":\"backup\",\"dir\":\"%s\"}", bk);
    assert_error(d, req, 500, "server_error");
    assert_false(exists(d->other, "bk"));
    assert_int_equal(mkdir(bk, 0700), 0); /* a directory that was there stays, emptied */
    assert_error(d, req, 500, "server_error");
    assert_true(exists(d->other, "bk"));
    assert_false(exists(bk, "db") || exists(bk, "log"));
}

/* --- the socket and the worker's client ------------------------------------------------- */

struct got {
    int calls, status;
    char body[8192];
    size_t len;
};

static void on_reply(void *arg, int status, const char *body, size_t len)
{
    struct got *g = arg;

    g->calls++;
    g->status = status;
    g->len = len < sizeof(g->body) - 1 ? len : sizeof(g->body) - 1;
    memcpy(g->body, body, g->len);
    g->body[g->len] = '\0';
}

/* Runs loop until *calls reaches n (every query has a deadline: this ends). */
static void run_until(uv_loop_t *loop, const int *calls, int n)
{
    while (*calls < n)
        uv_run(loop, UV_RUN_ONCE);
}

static void send_ok(uv_loop_t *loop, const char *sock, const char *req, struct got *g)
{
    assert_non_null(worker__storeq_send(loop, sock, req, strlen(req), on_reply, g));
}

static void test_socket(void **state)
{
    struct dirs *d = *state;
    struct got a = {0}, b = {0}, big = {0}, gone = {0}, never = {0};
    struct store_control ctl;
    struct store_record r;
    char sock[128], *huge;
    uv_loop_t loop;
    struct stat sb;

    put_client(d, "app", 1);
    for (uint32_t i = 1; i <= 3; i++) { /* the server's clock is the real one */
        token_rec(d, &r, i, "app", 1, (int64_t)time(NULL) + 3600);
        apply_ok(d, &r, 1);
    }
    snprintf(sock, sizeof(sock), "%s/store.sock", d->data);
    leave_socket(sock); /* a store process that died left it */
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(store_control_start(&ctl, &loop, sock, d->bdb, d->data), 0);
    assert_int_equal(stat(sock, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    send_ok(&loop, sock, "{\"op\":\"sessions\",\"client_id\":\"app\"}", &a);
    send_ok(&loop, sock, "{\"op\":\"nope\"}\n", &b);
    huge = malloc(STORE_CONTROL_REQUEST_MAX * 2);
    memset(huge, ' ', STORE_CONTROL_REQUEST_MAX * 2);
    assert_non_null(
        worker__storeq_send(&loop, sock, huge, STORE_CONTROL_REQUEST_MAX * 2, on_reply, &big));
    free(huge); /* the query keeps its own copy */
    run_until(&loop, &big.calls, 1);
    run_until(&loop, &a.calls, 1);
    run_until(&loop, &b.calls, 1);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"sessions\":[{\"id\":\"AAAAAaWlpaWlpaWlpaWlpQ\""));
    assert_int_equal(b.status, 400);
    assert_int_equal(big.status, 413);

    worker__storeq_cancel(
        worker__storeq_send(&loop, sock, "{\"op\":\"sessions\"}", 17, on_reply, &never));
    store_control_stop(&ctl);
    store_control_stop(&ctl); /* twice is harmless */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(never.calls, 0);
    assert_false(exists(d->data, "store.sock"));

    send_ok(&loop, sock, "{\"op\":\"sessions\"}", &gone);
    run_until(&loop, &gone.calls, 1);
    assert_int_equal(gone.status, 503);
    assert_non_null(strstr(gone.body, "\"error\":\"temporarily_unavailable\""));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
}

static void test_socket_refused(void **state)
{
    struct dirs *d = *state;
    struct store_control ctl;
    char sock[128];
    uv_loop_t loop;

    assert_int_equal(uv_loop_init(&loop), 0);
    write_file(d->data, "store.sock", "not a socket", 0600);
    snprintf(sock, sizeof(sock), "%s/store.sock", d->data);
    assert_int_equal(store_control_start(&ctl, &loop, sock, d->bdb, d->data), -EEXIST);
    assert_true(exists(d->data, "store.sock"));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A fake store: answers each connection with `answer` (NULL: never; "": nothing), then
 * shuts its side down and closes at the client's EOF, as store/control.c does. */
struct fake {
    uv_pipe_t server;
    uv_pipe_t client;
    uv_write_t write;
    uv_shutdown_t shutdown;
    const char *answer;
    size_t answer_len;
    bool accepted;
    char sink[4096];
};

static void on_fake_closed(uv_handle_t *h)
{
    (void)h;
}

static void fake_close(struct fake *f)
{
    if (!uv_is_closing((uv_handle_t *)&f->client))
        uv_close((uv_handle_t *)&f->client, on_fake_closed);
}

static void on_fake_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fake *f = h->data;

    (void)hint;
    *buf = uv_buf_init(f->sink, sizeof(f->sink));
}

static void on_fake_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        fake_close(s->data);
}

static void on_fake_shutdown(uv_shutdown_t *sh, int status)
{
    if (status < 0)
        fake_close(sh->data);
}

static void fake_shutdown(struct fake *f)
{
    f->shutdown.data = f;
    if (uv_shutdown(&f->shutdown, (uv_stream_t *)&f->client, on_fake_shutdown) < 0)
        fake_close(f);
}

static void on_fake_written(uv_write_t *w, int status)
{
    if (status < 0)
        fake_close(w->data);
    else
        fake_shutdown(w->data);
}

static void on_fake_connection(uv_stream_t *s, int status)
{
    struct fake *f = s->data;
    uv_buf_t buf = uv_buf_init((char *)f->answer, (unsigned)f->answer_len);

    assert_int_equal(status, 0);
    assert_false(f->accepted);
    f->accepted = true;
    assert_int_equal(uv_pipe_init(s->loop, &f->client, 0), 0);
    f->client.data = f;
    assert_int_equal(uv_accept(s, (uv_stream_t *)&f->client), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&f->client, on_fake_alloc, on_fake_read), 0);
    f->write.data = f;
    if (f->answer && f->answer_len)
        assert_int_equal(uv_write(&f->write, (uv_stream_t *)&f->client, &buf, 1, on_fake_written),
                         0);
    else if (f->answer)
        fake_shutdown(f);
}

/* One query against a fake store answering `answer` of len bytes; the status it got. */
static int fake_query(struct dirs *d, const char *answer, size_t len, struct got *g)
{
    struct fake f = {.answer = answer, .answer_len = len};
    char sock[128];
    uv_loop_t loop;

    snprintf(sock, sizeof(sock), "%s/fake.sock", d->data);
    unlink(sock);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_pipe_init(&loop, &f.server, 0), 0);
    f.server.data = &f;
    assert_int_equal(uv_pipe_bind(&f.server, sock), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f.server, 4, on_fake_connection), 0);
    memset(g, 0, sizeof(*g));
    send_ok(&loop, sock, "{\"op\":\"sessions\"}", g);
    run_until(&loop, &g->calls, 1);
    uv_close((uv_handle_t *)&f.server, on_fake_closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* the client's EOF closes ours */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(g->calls, 1);
    return g->status;
}

static void test_storeq_replies(void **state)
{
    struct dirs *d = *state;
    size_t big_len = WORKER_STOREQ_REPLY_MAX + 10;
    char *big = malloc(big_len);
    struct got g;

    assert_int_equal(fake_query(d, "200\n{\"ok\":1}", 12, &g), 200);
    assert_string_equal(g.body, "{\"ok\":1}");
    assert_int_equal(fake_query(d, "404\n", 4, &g), 404);
    assert_int_equal(g.len, 0);
    assert_int_equal(fake_query(d, "hello", 5, &g), 502);
    assert_non_null(strstr(g.body, "\"error\":\"server_error\""));
    assert_int_equal(fake_query(d, "2000\n{}", 7, &g), 502);
    assert_int_equal(fake_query(d, "099\n{}", 6, &g), 502);
    assert_int_equal(fake_query(d, "", 0, &g), 503); /* closed without a word */
    memset(big, ' ', big_len);
    memcpy(big, "200\n", 4);
    assert_int_equal(fake_query(d, big, big_len, &g), 502);
    assert_int_equal(fake_query(d, big, WORKER_STOREQ_REPLY_MAX, &g), 200);
    free(big);
}

/* A store that accepts and never answers: the deadline (5 s) answers 503. */
static void test_storeq_deadline(void **state)
{
    struct dirs *d = *state;
    struct got g;

    assert_int_equal(fake_query(d, NULL, 0, &g), 503);
    assert_non_null(strstr(g.body, "did not answer in time"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paging, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_row, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_not_live, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_escaping, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_scan_bound, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_oversize, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_backup, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_backup_refused, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_backup_cleanup, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_socket, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_socket_refused, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_storeq_replies, dirs_setup, dirs_teardown),
        cmocka_unit_test_setup_teardown(test_storeq_deadline, dirs_setup, dirs_teardown),
    };

    signal(SIGPIPE, SIG_IGN); /* as in the worker and store processes */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
