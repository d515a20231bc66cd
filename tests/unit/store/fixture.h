/*
 * What the store's unit tests build their data with: data directories, a Berkeley DB store
 * opened or the test failed, records of every kind with recognisable contents, log
 * segments written through the real segment writer, damaged files, and children to run
 * what may panic Berkeley DB.  Include after cmocka.h.
 */
#ifndef TESTS_UNIT_STORE_FIXTURE_H
#define TESTS_UNIT_STORE_FIXTURE_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/bdb.h"
#include "store/segment.h"
#include "tests/unit/store/tmpdir.h"

#define NOW 1700000000
#define WRITER 3 /* of the records whose writer a test does not choose */

/* A throwaway data directory: home (/tmp/tessera-<name>-XXXXXX) with db/ and log/. */
struct data_dirs {
    char home[64];
    char db[80];
    char log[80];
};

/* 0 or -1 (a test setup's answer). */
static inline int data_dirs_make(struct data_dirs *d, const char *name)
{
    if (tmpdir_make(d->home, sizeof(d->home), name) < 0)
        return -1;
    snprintf(d->db, sizeof(d->db), "%s/db", d->home);
    snprintf(d->log, sizeof(d->log), "%s/log", d->home);
    return mkdir(d->db, 0700) == -1 || mkdir(d->log, 0700) == -1 ? -1 : 0;
}

static inline struct store_bdb *open_ok(const char *dir)
{
    struct store_bdb *db;
    char err[1024];

    if (store_bdb_open(dir, &db, err, sizeof(err)) < 0)
        fail_msg("store_bdb_open(%s): %s", dir, err);
    return db;
}

static inline void apply_ok(struct store_bdb *db, const struct store_record *r, size_t n,
                            int expect)
{
    int rc = store_bdb_apply(db, r, n);

    if (rc != expect)
        fail_msg("apply: %d, expected %d (%s)", rc, expect, store_bdb_error(db));
}

/* A token hash made from n (splitmix64), n in its last 8 bytes to find it again. */
static inline void hash_of(uint64_t n, uint8_t out[32])
{
    uint64_t x = n;

    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        memcpy(out + 8 * i, &z, 8);
    }
    memcpy(out + 24, &n, 8);
}

static inline uint64_t number_of(const uint8_t hash[32])
{
    uint64_t n;

    memcpy(&n, hash + 24, 8);
    return n;
}

static inline void rec_init(struct store_record *r, uint8_t type, uint16_t writer, uint64_t seq)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->version = STORE_RECORD_VERSION;
    r->writer = writer;
    r->seq = seq;
    r->time_ms = (int64_t)NOW * 1000;
}

/* Token n of client, generation 1 (the caller may change it). */
static inline void rec_token(struct store_record *r, uint16_t writer, uint64_t seq, uint64_t n,
                             const char *client, int64_t exp)
{
    struct store_token *t = &r->u.token;

    rec_init(r, STORE_REC_TOKEN_ISSUED, writer, seq);
    hash_of(n, t->hash);
    snprintf(t->client_id, sizeof(t->client_id), "%s", client);
    t->client_gen = 1;
    snprintf(t->scope, sizeof(t->scope), "read write");
    snprintf(t->audience, sizeof(t->audience), "https://api.example");
    t->iat = NOW - 60;
    t->exp = exp;
    t->kind = 1;
}

/* A CLIENT_PUT of WRITER; its version is seq, its generation 4 (the caller may change
 * both). */
static inline void rec_client(struct store_record *r, uint64_t seq, const char *id)
{
    struct store_client_rec *c = &r->u.client;

    rec_init(r, STORE_REC_CLIENT_PUT, WRITER, seq);
    snprintf(c->client.id, sizeof(c->client.id), "%s", id);
    snprintf(c->client.name, sizeof(c->client.name), "the %s app", id);
    c->client.verifier_kind = 2;
    c->client.verifier_len = 5;
    memcpy(c->client.verifier, "\x01\x02\x03\x04\x05", 5);
    c->client.scopes = 77; /* an interned id: not stored */
    c->client.grant_types = 0x5;
    c->client.access_ttl = 3600;
    c->client.refresh_ttl = 86400;
    c->client.created = NOW - 100;
    c->client.updated = NOW - 50;
    snprintf(c->scopes, sizeof(c->scopes), "read write admin");
    snprintf(c->default_scopes, sizeof(c->default_scopes), "read");
    snprintf(c->audiences, sizeof(c->audiences), "https://api.example");
    snprintf(c->subject, sizeof(c->subject), "https://alice.example/#me");
    c->generation = 4;
    c->version = seq;
}

/* A CLIENT_DELETE or CLIENT_REVOKE of WRITER. */
static inline void rec_ref(struct store_record *r, uint8_t type, uint64_t seq, const char *id,
                           uint32_t generation, uint64_t version)
{
    rec_init(r, type, WRITER, seq);
    snprintf(r->u.ref.id, sizeof(r->u.ref.id), "%s", id);
    r->u.ref.generation = generation;
    r->u.ref.version = version;
}

/* --- log segments -------------------------------------------------------------------- */

/* A token of writer w, seq s: its hash says both, so every record is a distinct session. */
static inline void token_make(struct store_record *r, uint16_t w, uint64_t s, int64_t exp)
{
    memset(r, 0, sizeof(*r));
    r->type = STORE_REC_TOKEN_ISSUED;
    r->writer = w;
    r->seq = s;
    r->time_ms = (int64_t)NOW * 1000;
    memcpy(r->u.token.hash, &w, sizeof(w));
    memcpy(r->u.token.hash + 8, &s, sizeof(s));
    snprintf(r->u.token.client_id, sizeof(r->u.token.client_id), "c%u", (unsigned)w);
    snprintf(r->u.token.scope, sizeof(r->u.token.scope), "read");
    r->u.token.iat = NOW - 10;
    r->u.token.exp = exp;
}

/* Writes tokens first .. first + n - 1 of slot as a new segment named first (the previous
 * last one, when not empty, is closed by the rotation a limit of 1 forces). */
static inline void seg_write(const char *dir, uint16_t slot, uint64_t first, unsigned n)
{
    struct store_segment seg;
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    for (unsigned i = 0; i < n; i++) {
        struct store_record r;

        token_make(&r, slot, first + i, NOW + 3600);
        assert_int_equal(store_record_encode(&r, &sb), 0);
    }
    if (store_segment_open_append(&seg, dir, slot, first, 1) < 0)
        fail_msg("open_append: %s", seg.err);
    if (store_segment_append(&seg, first, sb.data, sb.size) < 0)
        fail_msg("append: %s", seg.err);
    assert_int_equal(store_segment_close(&seg), 0);
    msgpack_sbuffer_destroy(&sb);
}

static inline void seg_path(char *buf, size_t len, const char *dir, uint16_t slot, uint64_t first)
{
    snprintf(buf, len, "%s/w%u-%016" PRIx64 ".seg", dir, (unsigned)slot, first);
}

static inline uint64_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* --- damage ------------------------------------------------------------------------- */

/* Overwrites n (<= 4096) bytes of dir/file at `at` (-1: the middle) with 0xa5. */
static inline void damage(const char *dir, const char *file, off_t at, size_t n)
{
    char path[512];
    unsigned char junk[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    if (at < 0)
        at = (off_t)(file_size(path) / 2);
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, n, at), (ssize_t)n);
    close(fd);
}

/* Runs fn(arg, out) in a child and copies the n bytes it leaves in out back: after a panic
 * Berkeley DB keeps the heap regions of its DB_PRIVATE environment (the store exits 2 at
 * once), which LeakSanitizer would count against the test. */
static inline void in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t n)
{
    int fds[2];
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    assert_true((pid = fork()) >= 0);
    if (pid == 0) {
        close(fds[0]);
        fn(arg, out);
        _exit(write(fds[1], out, n) == (ssize_t)n ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], out, n), (ssize_t)n);
    close(fds[0]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

#endif
