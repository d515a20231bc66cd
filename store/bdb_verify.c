/*
 * Reading every record of every database of the store, decoding every value, for
 * `tesserad --check-data` (store/check.c): a damaged page fails its checksum (DB_CHKSUM)
 * and a value this version cannot decode is an error naming its file.  It also checks the
 * by-client index against the sessions it indexes, and counts what it read, a session as
 * live when it has not expired, is not revoked and carries its existing client's
 * generation (what loading at start would make of it).  Reads only, outside transactions.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/bdb_int.h"

struct verify {
    struct store_bdb_counts *n;
    int64_t now;
    uint64_t indexed; /* sessions with a client: what the by-client index must hold */
};

static int verify_client(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct store_bdb_counts *n = ((struct verify *)arg)->n;
    struct store__client_value c;

    if (store__client_decode(data->data, data->size, &c) < 0 || key->size == 0 ||
        key->size >= sizeof(c.rec.client.id) || memcmp(key->data, c.rec.client.id, key->size))
        return store__bdb_failf(db, STORE__DB_CLIENTS, EIO, "client %.*s: undecodable value",
                                (int)key->size, (const char *)key->data);
    if (store__client_exists(&c))
        n->clients++;
    else
        n->tombstones++;
    return 0;
}

static int verify_key(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct store_key k;

    if (store__key_decode(data->data, data->size, &k) < 0)
        return store__bdb_failf(db, STORE__DB_KEYS, EIO, "key %.*s: undecodable value",
                                (int)key->size, (const char *)key->data);
    ((struct verify *)arg)->n->keys++;
    return 0;
}

static int verify_account(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct store_account a;

    (void)key; /* an email: not for a message */
    if (store__account_decode(data->data, data->size, &a) < 0)
        return store__bdb_failf(db, STORE__DB_ACCOUNTS, EIO, "an undecodable account value");
    ((struct verify *)arg)->n->accounts++;
    return 0;
}

static int verify_meta(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    (void)arg;
    if (data->size != 8) /* every value is a little-endian u64 (store/bdb_apply.c) */
        return store__bdb_failf(db, STORE__DB_META, EIO, "%.*s: value of %u bytes", (int)key->size,
                                (const char *)key->data, data->size);
    return 0;
}

static int verify_session(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct verify *v = arg;
    struct store_session s;
    struct store_client_rec c;
    int rc;

    if (key->size != 32 || store__session_decode(data->data, data->size, &s) < 0)
        return store__bdb_failf(db, STORE__DB_SESSIONS, EIO,
                                "an undecodable session (number %llu in key order)",
                                (unsigned long long)v->n->sessions + 1);
    v->n->sessions++;
    if (s.token.client_id[0] == '\0') /* a revocation seen before its token */
        return 0;
    v->indexed++;
    if (s.revoked || s.token.exp <= v->now)
        return 0;
    rc = store_bdb_client_get(db, s.token.client_id, &c);
    v->n->sessions_live += rc == 1 && c.generation == s.token.client_gen;
    return rc < 0 ? rc : 0;
}

/* Every entry of the by-client index points at a session of that client, and there is one
 * for each session with a client. */
static int verify_index(struct store_bdb *db, uint64_t indexed)
{
    DB *x = db->db[STORE__DB_BY_CLIENT];
    DBT key = {0}, pkey = {0}, data = {0};
    struct store_session s;
    uint64_t entries = 0;
    DBC *c;
    int ret, rc = 0;

    if ((ret = x->cursor(x, NULL, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_BY_CLIENT, "DB->cursor", ret);
    while (rc == 0 && (ret = c->pget(c, &key, &pkey, &data, DB_NEXT)) == 0) {
        if (store__session_decode(data.data, data.size, &s) < 0 ||
            key.size != strlen(s.token.client_id) || memcmp(key.data, s.token.client_id, key.size))
            rc = store__bdb_failf(db, STORE__DB_BY_CLIENT, EIO,
                                  "entry %llu points at a session of another client",
                                  (unsigned long long)entries + 1);
        entries++;
    }
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_BY_CLIENT, "DBC->pget(DB_NEXT)", ret);
    c->close(c);
    if (rc == 0 && entries != indexed)
        rc = store__bdb_failf(db, STORE__DB_BY_CLIENT, EIO,
                              "%llu entries for %llu sessions with a client",
                              (unsigned long long)entries, (unsigned long long)indexed);
    return rc;
}

int store_bdb_verify(struct store_bdb *db, int64_t now, struct store_bdb_counts *out)
{
    static const struct {
        int which;
        store__bdb_walk_fn fn;
    } walks[] = {
        {STORE__DB_CLIENTS, verify_client},   {STORE__DB_KEYS, verify_key},
        {STORE__DB_ACCOUNTS, verify_account}, {STORE__DB_META, verify_meta},
        {STORE__DB_SESSIONS, verify_session},
    };
    struct verify v = {out, now, 0};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]) && rc == 0; i++)
        rc = store__bdb_walk(db, walks[i].which, walks[i].fn, &v);
    if (rc == 0)
        rc = verify_index(db, v.indexed);
    return rc < 0 ? rc : store_bdb_clock(db, &out->clock);
}
