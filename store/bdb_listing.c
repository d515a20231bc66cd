/*
 * The admin API's session listings over Berkeley DB, run by the store process for its
 * control socket (store/control_ops.c): every session in key order (the token hash, whose
 * first STORE_BDB_ID_LEN bytes are the public id, so key order is id order), or one
 * client's through the by-client index (sorted duplicates: id order too).  A page starts
 * after an id: the walk positions at the first hash >= id || ff..ff and skips the one hash
 * with that id it may land on.  Reads run outside transactions, as in bdb_sessions.c: the
 * store process is the only user, one operation at a time.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "store/bdb_int.h"
#include "store/bdb_listing.h"

/* The key to position at: the id `after` followed by ff..ff. */
static DBT start_key(const uint8_t *after, uint8_t from[32])
{
    memcpy(from, after, STORE_BDB_ID_LEN);
    memset(from + STORE_BDB_ID_LEN, 0xff, 32 - STORE_BDB_ID_LEN);
    return store__dbt(from, 32);
}

static int walk_row(struct store_bdb *db, const DBT *key, const DBT *data, const uint8_t *after,
                    store_bdb_listing_fn fn, void *arg)
{
    uint8_t id[STORE_BDB_ID_LEN];
    struct store_session s;

    if (key->size != 32 || store__session_decode(data->data, data->size, &s) < 0)
        return store__bdb_failf(db, STORE__DB_SESSIONS, EIO, "an undecodable session");
    if (after && memcmp(key->data, after, STORE_BDB_ID_LEN) <= 0)
        return 0;
    if (s.token.client_id[0] == '\0') /* a revocation seen before its token */
        return 0;
    memcpy(id, key->data, STORE_BDB_ID_LEN);
    return fn(id, &s, arg); /* s.token.hash stays zeroed: decode does not fill it */
}

static int walk_all(struct store_bdb *db, const uint8_t *after, store_bdb_listing_fn fn, void *arg)
{
    DB *d = db->db[STORE__DB_SESSIONS];
    uint8_t from[32];
    DBT key = {0}, data = {0};
    DBC *c;
    int ret, rc = 0;

    if ((ret = d->cursor(d, NULL, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_SESSIONS, "DB->cursor", ret);
    if (after)
        key = start_key(after, from);
    ret = c->get(c, &key, &data, after ? DB_SET_RANGE : DB_FIRST);
    for (; ret == 0 && rc == 0; ret = c->get(c, &key, &data, DB_NEXT))
        rc = walk_row(db, &key, &data, after, fn, arg);
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_SESSIONS, "DBC->get", ret);
    c->close(c);
    return rc;
}

static int walk_client(struct store_bdb *db, const char *client_id, const uint8_t *after,
                       store_bdb_listing_fn fn, void *arg)
{
    DB *x = db->db[STORE__DB_BY_CLIENT];
    DBT key = store__dbt(client_id, strnlen(client_id, SHM_CLIENT_ID_MAX)), pkey = {0}, data = {0};
    uint8_t from[32];
    DBC *c;
    int ret, rc = 0;

    if ((ret = x->cursor(x, NULL, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_BY_CLIENT, "DB->cursor", ret);
    if (after)
        pkey = start_key(after, from);
    ret = c->pget(c, &key, &pkey, &data, after ? DB_GET_BOTH_RANGE : DB_SET);
    for (; ret == 0 && rc == 0; ret = c->pget(c, &key, &pkey, &data, DB_NEXT_DUP))
        rc = walk_row(db, &pkey, &data, after, fn, arg);
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_BY_CLIENT, "DBC->pget", ret);
    c->close(c);
    return rc;
}

int store_bdb_sessions_walk(struct store_bdb *db, const char *client_id, const uint8_t *after,
                            store_bdb_listing_fn fn, void *arg)
{
    return client_id ? walk_client(db, client_id, after, fn, arg) : walk_all(db, after, fn, arg);
}

int store_bdb_client_generation(struct store_bdb *db, const char *id, uint32_t *gen)
{
    DB *d = db->db[STORE__DB_CLIENTS];
    uint8_t v[STORE__VALUE_MAX];
    struct store__client_value c;
    size_t len = strnlen(id, SHM_CLIENT_ID_MAX);
    DBT key = store__dbt(id, len), data = store__dbt_out(v, sizeof(v));
    int ret = d->get(d, NULL, &key, &data, 0);

    if (ret == DB_NOTFOUND)
        return 0;
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_CLIENTS, "DB->get", ret);
    if (store__client_decode(v, data.size, &c) < 0)
        return store__bdb_failf(db, STORE__DB_CLIENTS, EIO, "client %.*s: undecodable value",
                                (int)len, id);
    if (!store__client_exists(&c)) /* a tombstone or a placeholder */
        return 0;
    *gen = c.rec.generation;
    return 1;
}
