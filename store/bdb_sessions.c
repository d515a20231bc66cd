/*
 * Reading Berkeley DB for recovery and the admin API, and purging expired sessions and old
 * client tombstones.  Recovery walks clients (not tombstones), keys, accounts and live
 * sessions in key order, and reads the highest clock value stored; listings walk the
 * by-client index (client id -> token hashes, sorted), paged by a session's public id.
 * The purge walks sessions in key order, a bounded slice per call, going on where the last
 * call stopped: a pass visits every session once and deletes the expired ones.  Measured
 * with 200,000 sessions against a secondary index by expiry: the index added ~7 us to
 * every session issued (2.5 s -> 3.8 s for 200,000) and made the purge of all of them
 * random-access (3.6 s against 1.3 s in page order), while a pass that finds nothing to
 * delete costs ~0.1 s.  Client tombstones are few (one per deleted client for
 * STORE_BDB_TOMBSTONE_TTL): each pass of the purge starts with a walk of the clients.
 * Reads run outside transactions: the store process is the only user, one operation at a
 * time.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "store/bdb_int.h"

int store__bdb_walk(struct store_bdb *db, int which, store__bdb_walk_fn fn, void *arg)
{
    DB *d = db->db[which];
    DBT key = {0}, data = {0};
    DBC *c;
    int ret, rc = 0;

    if ((ret = d->cursor(d, NULL, &c, 0)) != 0)
        return store__bdb_fail(db, which, "DB->cursor", ret);
    while (rc == 0 && (ret = c->get(c, &key, &data, DB_NEXT)) == 0)
        rc = fn(db, &key, &data, arg);
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, which, "DBC->get(DB_NEXT)", ret);
    c->close(c);
    return rc;
}

struct visit {
    void *fn;
    void *arg;
    int64_t now;
};

static int client_of(struct store_bdb *db, const DBT *key, const DBT *data,
                     struct store__client_value *c)
{
    if (store__client_decode(data->data, data->size, c) < 0)
        return store__bdb_failf(db, STORE__DB_CLIENTS, EIO, "client %.*s: undecodable value",
                                (int)key->size, (const char *)key->data);
    return 0;
}

static int visit_client(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct visit *v = arg;
    struct store__client_value c;
    int rc = client_of(db, key, data, &c);

    if (rc < 0 || !store__client_exists(&c))
        return rc;
    return ((store_bdb_client_fn)v->fn)(&c.rec, v->arg);
}

static int visit_clock(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    uint64_t *max = arg;
    struct store__client_value c;
    int rc = client_of(db, key, data, &c);

    if (rc == 0 && c.rec.version > *max)
        *max = c.rec.version;
    if (rc == 0 && c.rec.generation > *max)
        *max = c.rec.generation;
    return rc;
}

static int visit_key(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct visit *v = arg;
    struct store_key k;

    if (store__key_decode(data->data, data->size, &k) < 0)
        return store__bdb_failf(db, STORE__DB_KEYS, EIO, "key %.*s: undecodable value",
                                (int)key->size, (const char *)key->data);
    return ((store_bdb_key_fn)v->fn)(&k, v->arg);
}

static int visit_account(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct visit *v = arg;
    struct store_account a;

    (void)key; /* an email: not for a log line */
    if (store__account_decode(data->data, data->size, &a) < 0)
        return store__bdb_failf(db, STORE__DB_ACCOUNTS, EIO, "an undecodable account value");
    return ((store_bdb_account_fn)v->fn)(&a, v->arg);
}

static int session_of(struct store_bdb *db, const DBT *key, const DBT *data,
                      struct store_session *s)
{
    if (key->size != 32 || store__session_decode(data->data, data->size, s) < 0)
        return store__bdb_failf(db, STORE__DB_SESSIONS, EIO, "an undecodable session");
    memcpy(s->token.hash, key->data, 32);
    return 0;
}

static int visit_session(struct store_bdb *db, const DBT *key, const DBT *data, void *arg)
{
    struct visit *v = arg;
    struct store_session s;
    int rc = session_of(db, key, data, &s);

    if (rc < 0 || s.token.exp <= v->now)
        return rc;
    return ((store_bdb_session_fn)v->fn)(&s, v->arg);
}

int store_bdb_each_client(struct store_bdb *db, store_bdb_client_fn fn, void *arg)
{
    struct visit v = {(void *)fn, arg, 0};

    return store__bdb_walk(db, STORE__DB_CLIENTS, visit_client, &v);
}

int store_bdb_client_get(struct store_bdb *db, const char *id, struct store_client_rec *out)
{
    DB *d = db->db[STORE__DB_CLIENTS];
    uint8_t v[STORE__VALUE_MAX];
    struct store__client_value c;
    DBT key = store__dbt(id, strnlen(id, SHM_CLIENT_ID_MAX)), data = store__dbt_out(v, sizeof(v));
    int ret = d->get(d, NULL, &key, &data, 0), rc;

    if (ret == DB_NOTFOUND)
        return 0;
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_CLIENTS, "DB->get", ret);
    if ((rc = client_of(db, &key, &data, &c)) < 0 || !store__client_exists(&c))
        return rc;
    *out = c.rec;
    return 1;
}

int store_bdb_clock(struct store_bdb *db, uint64_t *max)
{
    int rc = store__bdb_meta_get(db, NULL, STORE__META_CLOCK, max);

    return rc < 0 ? rc : store__bdb_walk(db, STORE__DB_CLIENTS, visit_clock, max);
}

int store_bdb_each_key(struct store_bdb *db, store_bdb_key_fn fn, void *arg)
{
    struct visit v = {(void *)fn, arg, 0};

    return store__bdb_walk(db, STORE__DB_KEYS, visit_key, &v);
}

int store_bdb_each_account(struct store_bdb *db, store_bdb_account_fn fn, void *arg)
{
    struct visit v = {(void *)fn, arg, 0};

    return store__bdb_walk(db, STORE__DB_ACCOUNTS, visit_account, &v);
}

int store_bdb_each_live_session(struct store_bdb *db, int64_t now, store_bdb_session_fn fn,
                                void *arg)
{
    struct visit v = {(void *)fn, arg, now};

    return store__bdb_walk(db, STORE__DB_SESSIONS, visit_session, &v);
}

/* Visits up to max sessions from the cursor's position, deleting the expired ones; leaves
 * in db where the next call goes on.  Returns how many it deleted. */
static int64_t purge_run(struct store_bdb *db, DBC *c, int64_t now, size_t max, bool *done)
{
    DBT key = store__dbt(db->purge_at, sizeof(db->purge_at)), data = {0};
    int64_t n = 0, exp;
    size_t visited = 0;
    int ret = c->get(c, &key, &data, db->purge_resume ? DB_SET_RANGE : DB_FIRST);

    for (; ret == 0 && visited < max; ret = c->get(c, &key, &data, DB_NEXT), visited++) {
        if (store__session_exp(data.data, data.size, &exp) < 0)
            return store__bdb_failf(db, STORE__DB_SESSIONS, EIO, "an undecodable session");
        if (exp >= now)
            continue;
        /* The by-client index's entry goes with it (DB->associate). */
        if ((ret = c->del(c, 0)) != 0)
            return store__bdb_fail(db, STORE__DB_SESSIONS, "DBC->del", ret);
        n++;
    }
    if (ret != 0 && ret != DB_NOTFOUND)
        return store__bdb_fail(db, STORE__DB_SESSIONS, "DBC->get", ret);
    *done = ret == DB_NOTFOUND || key.size != sizeof(db->purge_at);
    if (!*done) /* key.data is Berkeley DB's copy (DB_DBT_USERMEM was not asked for) */
        memmove(db->purge_at, key.data, sizeof(db->purge_at));
    return n;
}

/* Deletes the clients without a body (tombstones, placeholders) whose last change is older
 * than STORE_BDB_TOMBSTONE_TTL.  Returns how many. */
static int64_t purge_clients(struct store_bdb *db, DB_TXN *txn, int64_t now)
{
    DB *d = db->db[STORE__DB_CLIENTS];
    DBT key = {0}, data = {0};
    struct store__client_value v;
    int64_t n = 0;
    DBC *c;
    int ret, rc = 0;

    if ((ret = d->cursor(d, txn, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_CLIENTS, "DB->cursor", ret);
    while ((ret = c->get(c, &key, &data, DB_NEXT | DB_RMW)) == 0) {
        if ((rc = client_of(db, &key, &data, &v)) < 0)
            break;
        if (store__client_exists(&v) || v.bodiless_ms / 1000 + STORE_BDB_TOMBSTONE_TTL >= now)
            continue;
        if ((ret = c->del(c, 0)) != 0)
            break;
        n++;
    }
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_CLIENTS, "purging tombstones", ret);
    c->close(c);
    return rc < 0 ? rc : n;
}

/* A slice: the clients first when it starts a pass, then up to max sessions. */
static int64_t purge_slice(struct store_bdb *db, DB_TXN *txn, int64_t now, size_t max, bool *done)
{
    DB *s = db->db[STORE__DB_SESSIONS];
    int64_t n = db->purge_resume ? 0 : purge_clients(db, txn, now), more;
    DBC *c;
    int ret;

    if (n < 0)
        return n;
    if ((ret = s->cursor(s, txn, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_SESSIONS, "DB->cursor", ret);
    more = purge_run(db, c, now, max, done);
    c->close(c);
    return more < 0 ? more : n + more;
}

int64_t store_bdb_purge(struct store_bdb *db, int64_t now, size_t max, bool *pass_done)
{
    bool done = false;
    DB_TXN *txn;
    int64_t n;
    int ret;

    if ((ret = db->env->txn_begin(db->env, NULL, &txn, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->txn_begin", ret);
    n = purge_slice(db, txn, now, max, &done);
    if (n < 0) {
        txn->abort(txn);
        db->purge_resume = false;
        return n;
    }
    if ((ret = txn->commit(txn, 0)) != 0)
        n = store__bdb_fail(db, STORE__DB_ENV, "DB_TXN->commit (purge)", ret);
    db->purge_resume = n >= 0 && !done;
    if (pass_done)
        *pass_done = n >= 0 && done;
    return n;
}

/* Positions c on the first session of client (key) whose id is after `after`. */
static int listing_start(DBC *c, DBT *key, DBT *pkey, DBT *data, const uint8_t *after)
{
    uint8_t from[32];
    int ret;

    if (!after)
        return c->pget(c, key, pkey, data, DB_SET);
    /* The first hash >= after || ff..ff, then past any with the same public id. */
    memcpy(from, after, STORE_BDB_ID_LEN);
    memset(from + STORE_BDB_ID_LEN, 0xff, sizeof(from) - STORE_BDB_ID_LEN);
    *pkey = store__dbt(from, sizeof(from));
    ret = c->pget(c, key, pkey, data, DB_GET_BOTH_RANGE);
    while (ret == 0 && memcmp(pkey->data, after, STORE_BDB_ID_LEN) <= 0)
        ret = c->pget(c, key, pkey, data, DB_NEXT_DUP);
    return ret;
}

static int listing_row(struct store_bdb *db, const DBT *pkey, const DBT *data,
                       store_bdb_listing_fn fn, void *arg)
{
    uint8_t id[STORE_BDB_ID_LEN];
    struct store_session s;
    int rc = session_of(db, pkey, data, &s);

    if (rc < 0)
        return rc;
    memcpy(id, s.token.hash, sizeof(id));
    memset(s.token.hash, 0, sizeof(s.token.hash));
    return fn(id, &s, arg);
}

int store_bdb_sessions_by_client(struct store_bdb *db, const char *client_id, const uint8_t *after,
                                 size_t limit, store_bdb_listing_fn fn, void *arg)
{
    DB *x = db->db[STORE__DB_BY_CLIENT];
    DBT key = store__dbt(client_id, strnlen(client_id, SHM_CLIENT_ID_MAX)), pkey = {0}, data = {0};
    DBC *c;
    int ret, rc = 0, n = 0;

    if ((ret = x->cursor(x, NULL, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_BY_CLIENT, "DB->cursor", ret);
    ret = limit ? listing_start(c, &key, &pkey, &data, after) : DB_NOTFOUND;
    while (ret == 0) {
        if ((rc = listing_row(db, &pkey, &data, fn, arg)) < 0)
            break;
        if ((size_t)++n == limit)
            break;
        ret = c->pget(c, &key, &pkey, &data, DB_NEXT_DUP);
    }
    if (rc == 0 && ret != 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_BY_CLIENT, "DBC->pget", ret);
    c->close(c);
    return rc < 0 ? rc : n;
}
