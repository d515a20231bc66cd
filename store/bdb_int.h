/*
 * Shared only inside store/bdb*.c: the handle, the database table, error reporting and the
 * value codec.  Nothing outside store/ includes this.
 */
#ifndef STORE_BDB_INT_H
#define STORE_BDB_INT_H

#include <db.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/bdb.h"

enum store__bdb_which {
    STORE__DB_CLIENTS,
    STORE__DB_SESSIONS,
    STORE__DB_BY_CLIENT, /* secondary of sessions: client id -> token hashes (sorted dups) */
    STORE__DB_ACCOUNTS,
    STORE__DB_KEYS,
    STORE__DB_META,
    STORE__DB_COUNT,
    STORE__DB_ENV = -1, /* an error of the environment, not of one file */
};

struct store_bdb {
    DB_ENV *env;
    DB *db[STORE__DB_COUNT];
    char dir[512];        /* longer paths are refused */
    char err[1536];       /* the last failure, for store_bdb_error() */
    char bdb_msg[512];    /* what Berkeley DB said through its error callback since then */
    uint8_t purge_at[32]; /* where the purge's pass goes on (a token hash) */
    bool purge_resume;    /* false: the next purge starts a pass at the first session */
};

/* File names, indexed by enum store__bdb_which. */
extern const char *const store__bdb_file[STORE__DB_COUNT];

/* Calls fn for every pair of database `which` in key order, outside any transaction; fn
 * returns 0 to go on, or a negative value that stops the walk and is returned.  Otherwise
 * 0, or a negative errno when the database cannot be read (store_bdb_error names it). */
typedef int (*store__bdb_walk_fn)(struct store_bdb *db, const DBT *key, const DBT *data, void *arg);
int store__bdb_walk(struct store_bdb *db, int which, store__bdb_walk_fn fn, void *arg);

/* meta's key of the highest clock value applied (store/bdb_apply.c). */
#define STORE__META_CLOCK "clock"

/* The u64 in meta under key (0 when missing), read in txn (may be NULL) with a write
 * lock when in one.  0 or a negative errno.  Keys: "seq/<writer>", STORE__META_CLOCK. */
int store__bdb_meta_get(struct store_bdb *db, DB_TXN *txn, const char *key, uint64_t *v);

/* Records a failure of op on database `which` (or STORE__DB_ENV) with Berkeley DB's return
 * ret, naming the file; returns the negative errno to pass up. */
int store__bdb_fail(struct store_bdb *db, int which, const char *op, int ret);
/* The same for a failure that is ours (bad value, encoding): -err. */
int store__bdb_failf(struct store_bdb *db, int which, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Value codec (store/bdb_value.c): versioned, little-endian, strings length-prefixed;
 * version 2 appends a session's scope_base and seq and a client's max_live_tokens, and
 * values of version 1 are still read.
 * Encoders return the length written, or 0 when a string is not terminated inside its
 * field or the value does not fit; decoders return 0 or -EINVAL. */
#define STORE__VALUE_VERSION 2
#define STORE__VALUE_MAX 4096

size_t store__session_encode(const struct store_session *s, uint8_t *out, size_t cap);
int store__session_decode(const uint8_t *p, size_t len, struct store_session *s);
/* The by-client secondary key of an encoded session, pointing into it: 0, DB_DONOTINDEX
 * for a session without client (a tombstone), or -EINVAL. */
int store__session_client_key(const uint8_t *p, size_t len, const uint8_t **key, size_t *klen);
/* The expiry of an encoded session without decoding the rest: 0 or -EINVAL. */
int store__session_exp(const uint8_t *p, size_t len, int64_t *exp);

/* A client as stored: two registers, each taking the change of the highest version (see
 * store/bdb_apply.c).  The body: the newest CLIENT_PUT, or CLIENT_DELETE (a tombstone).
 * The generation: the newest client change of any kind, in rec.generation and rec.version.
 * A value without a body (tombstone, or placeholder: a CLIENT_REVOKE came first) is not a
 * client; it remembers versions so that older changes applied later lose. */
struct store__client_value {
    struct store_client_rec rec; /* without a body: zeros but id, generation and version */
    uint64_t body_version;       /* of the PUT or DELETE held; 0: none yet (placeholder) */
    bool deleted;                /* the body register holds a DELETE */
    int64_t bodiless_ms;         /* without a body: the time of its newest change */
};

static inline bool store__client_exists(const struct store__client_value *v)
{
    return v->body_version != 0 && !v->deleted;
}

size_t store__client_encode(const struct store__client_value *c, uint8_t *out, size_t cap);
int store__client_decode(const uint8_t *p, size_t len, struct store__client_value *c);
size_t store__key_encode(const struct store_key *k, uint8_t *out, size_t cap);
int store__key_decode(const uint8_t *p, size_t len, struct store_key *k);
size_t store__account_encode(const struct store_account *a, uint8_t *out, size_t cap);
int store__account_decode(const uint8_t *p, size_t len, struct store_account *a);

/* A DBT over caller memory. */
static inline DBT store__dbt(const void *p, size_t len)
{
    DBT d = {0};

    d.data = (void *)p;
    d.size = (u_int32_t)len;
    return d;
}

/* A DBT that receives into caller memory of cap bytes. */
static inline DBT store__dbt_out(void *p, size_t cap)
{
    DBT d = {0};

    d.data = p;
    d.ulen = (u_int32_t)cap;
    d.flags = DB_DBT_USERMEM;
    return d;
}

#endif
