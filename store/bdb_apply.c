/*
 * Applying log records to Berkeley DB, a batch per transaction, idempotently: meta holds
 * the highest seq applied of every writer ("seq/<writer>"), moved in the same transaction
 * as the records, so a record is applied exactly once however often the log is replayed.
 * Every call inside the transaction passes it: a call outside it would conflict with the
 * transaction's own locks (DB_RUNRECOVERY, see store/bdb.c).  Run by the store process.
 *
 * Semantics chosen where the record leaves a choice:
 * - CLIENT_DELETE deletes the client and its sessions (the by-client index's key): a JWT of
 *   a later client of the same id is told apart by its iat < created.
 * - CLIENT_REVOKE bumps the stored generation and leaves the sessions: an older generation
 *   marks them dead, and kept until they expire they keep old JWTs from being accepted
 *   again on their signature after a restart.  The purge takes them at expiry.
 * - TOKEN_REVOKED keeps the session, revoked, until it expires; one for a token not seen yet
 *   (its writer's segment is applied later, or a JWT known only by its signature) leaves a
 *   revoked tombstone without client, kept STORE_BDB_TOMBSTONE_TTL, that the token's
 *   TOKEN_ISSUED fills in without clearing the revocation.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/bdb_int.h"

struct applied {
    uint16_t writer;
    bool moved;
    uint64_t seq;
};

static size_t meta_seq_key(uint16_t writer, char out[16])
{
    return (size_t)snprintf(out, 16, "seq/%u", (unsigned)writer);
}

static int meta_seq_get(struct store_bdb *db, DB_TXN *txn, uint16_t writer, uint64_t *seq)
{
    DB *m = db->db[STORE__DB_META];
    char k[16];
    uint8_t v[8];
    DBT key = store__dbt(k, meta_seq_key(writer, k)), data = store__dbt_out(v, sizeof(v));
    int ret = m->get(m, txn, &key, &data, txn ? DB_RMW : 0);

    *seq = 0;
    if (ret == DB_NOTFOUND)
        return 0;
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_META, "DB->get(seq)", ret);
    if (data.size != sizeof(v))
        return store__bdb_failf(db, STORE__DB_META, EIO, "%s: value of %u bytes", k, data.size);
    for (int i = 7; i >= 0; i--)
        *seq = *seq << 8 | v[i];
    return 0;
}

static int meta_seq_put(struct store_bdb *db, DB_TXN *txn, uint16_t writer, uint64_t seq)
{
    DB *m = db->db[STORE__DB_META];
    char k[16];
    uint8_t v[8];
    DBT key = store__dbt(k, meta_seq_key(writer, k)), data = store__dbt(v, sizeof(v));
    int ret;

    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)(seq >> (8 * i));
    ret = m->put(m, txn, &key, &data, 0);
    return ret ? store__bdb_fail(db, STORE__DB_META, "DB->put(seq)", ret) : 0;
}

int store_bdb_applied_seq(struct store_bdb *db, uint16_t writer, uint64_t *seq)
{
    return meta_seq_get(db, NULL, writer, seq);
}

static int put_value(struct store_bdb *db, DB_TXN *txn, int which, const void *k, size_t klen,
                     const uint8_t *v, size_t vlen)
{
    DB *d = db->db[which];
    DBT key = store__dbt(k, klen), data = store__dbt(v, vlen);
    int ret;

    if (vlen == 0)
        return store__bdb_failf(db, which, EINVAL, "a record does not encode (bad string)");
    ret = d->put(d, txn, &key, &data, 0);
    return ret ? store__bdb_fail(db, which, "DB->put", ret) : 0;
}

/* Deletes key; a missing key is not an error (the record was applied before). */
static int del_value(struct store_bdb *db, DB_TXN *txn, int which, const void *k, size_t klen)
{
    DB *d = db->db[which];
    DBT key = store__dbt(k, klen);
    int ret = d->del(d, txn, &key, 0);

    return ret && ret != DB_NOTFOUND ? store__bdb_fail(db, which, "DB->del", ret) : 0;
}

/* Reads key into v (cap bytes): its length, 0 when missing, or a negative errno. */
static int64_t get_value(struct store_bdb *db, DB_TXN *txn, int which, const void *k, size_t klen,
                         uint8_t *v, size_t cap)
{
    DB *d = db->db[which];
    DBT key = store__dbt(k, klen), data = store__dbt_out(v, cap);
    int ret = d->get(d, txn, &key, &data, DB_RMW);

    if (ret == DB_NOTFOUND)
        return 0;
    return ret ? store__bdb_fail(db, which, "DB->get", ret) : (int64_t)data.size;
}

static int client_put(struct store_bdb *db, DB_TXN *txn, const struct store_client_rec *c)
{
    uint8_t v[STORE__VALUE_MAX];
    size_t vlen = store__client_encode(c, v, sizeof(v));

    return put_value(db, txn, STORE__DB_CLIENTS, c->client.id,
                     strnlen(c->client.id, sizeof(c->client.id)), v, vlen);
}

static int client_delete(struct store_bdb *db, DB_TXN *txn, const char *id)
{
    size_t len = strnlen(id, SHM_CLIENT_ID_MAX);
    int rc = del_value(db, txn, STORE__DB_CLIENTS, id, len);

    /* Deleting a secondary key deletes every primary record it indexes. */
    return rc < 0 ? rc : del_value(db, txn, STORE__DB_BY_CLIENT, id, len);
}

static int client_revoke(struct store_bdb *db, DB_TXN *txn, const char *id)
{
    uint8_t v[STORE__VALUE_MAX];
    struct store_client_rec c;
    size_t len = strnlen(id, SHM_CLIENT_ID_MAX);
    int64_t n = get_value(db, txn, STORE__DB_CLIENTS, id, len, v, sizeof(v));

    if (n <= 0)
        return (int)n;
    if (store__client_decode(v, (size_t)n, &c) < 0)
        return store__bdb_failf(db, STORE__DB_CLIENTS, EIO, "client %.*s: undecodable value",
                                (int)len, id);
    c.generation++;
    return client_put(db, txn, &c);
}

static int session_put(struct store_bdb *db, DB_TXN *txn, const struct store_session *s)
{
    uint8_t v[STORE__VALUE_MAX];
    size_t vlen = store__session_encode(s, v, sizeof(v));

    return put_value(db, txn, STORE__DB_SESSIONS, s->token.hash, 32, v, vlen);
}

/* The stored session of hash: 1 with *s, 0 when there is none, or a negative errno. */
static int session_get(struct store_bdb *db, DB_TXN *txn, const uint8_t hash[32],
                       struct store_session *s)
{
    uint8_t v[STORE__VALUE_MAX];
    int64_t n = get_value(db, txn, STORE__DB_SESSIONS, hash, 32, v, sizeof(v));

    if (n <= 0)
        return (int)n;
    if (store__session_decode(v, (size_t)n, s) < 0)
        return store__bdb_failf(db, STORE__DB_SESSIONS, EIO, "a session value is undecodable");
    memcpy(s->token.hash, hash, 32);
    return 1;
}

static int token_issued(struct store_bdb *db, DB_TXN *txn, const struct store_token *t)
{
    struct store_session old, s = {.token = *t, .revoked = false};
    int rc = session_get(db, txn, t->hash, &old);

    if (rc < 0)
        return rc;
    s.revoked = rc == 1 && old.revoked;
    return session_put(db, txn, &s);
}

static int token_revoked(struct store_bdb *db, DB_TXN *txn, const struct store_record *r)
{
    struct store_session s;
    int rc = session_get(db, txn, r->u.token_hash, &s);

    if (rc < 0)
        return rc;
    if (rc == 0) {
        memset(&s, 0, sizeof(s));
        memcpy(s.token.hash, r->u.token_hash, 32);
        s.token.exp = r->time_ms / 1000 + STORE_BDB_TOMBSTONE_TTL;
    } else if (s.revoked) {
        return 0;
    }
    s.revoked = true;
    return session_put(db, txn, &s);
}

static int key_put(struct store_bdb *db, DB_TXN *txn, const struct store_key *k)
{
    uint8_t v[STORE__VALUE_MAX];
    size_t vlen = store__key_encode(k, v, sizeof(v));

    return put_value(db, txn, STORE__DB_KEYS, k->kid, strnlen(k->kid, sizeof(k->kid)), v, vlen);
}

static int account_put(struct store_bdb *db, DB_TXN *txn, const struct store_account *a)
{
    uint8_t v[STORE__VALUE_MAX];
    size_t vlen = store__account_encode(a, v, sizeof(v));

    return put_value(db, txn, STORE__DB_ACCOUNTS, a->email, strnlen(a->email, sizeof(a->email)), v,
                     vlen);
}

static int apply_one(struct store_bdb *db, DB_TXN *txn, const struct store_record *r)
{
    switch (r->type) {
    case STORE_REC_CLIENT_PUT:
        return client_put(db, txn, &r->u.client);
    case STORE_REC_CLIENT_DELETE:
        return client_delete(db, txn, r->u.client_id);
    case STORE_REC_CLIENT_REVOKE:
        return client_revoke(db, txn, r->u.client_id);
    case STORE_REC_TOKEN_ISSUED:
        return token_issued(db, txn, &r->u.token);
    case STORE_REC_TOKEN_REVOKED:
        return token_revoked(db, txn, r);
    case STORE_REC_KEY_PUT:
        return key_put(db, txn, &r->u.key);
    case STORE_REC_KEY_DELETE:
        return del_value(db, txn, STORE__DB_KEYS, r->u.kid, strnlen(r->u.kid, sizeof(r->u.kid)));
    case STORE_REC_ACCOUNT_PUT:
        return account_put(db, txn, &r->u.account);
    case STORE_REC_ACCOUNT_DELETE:
        return del_value(db, txn, STORE__DB_ACCOUNTS, r->u.email,
                         strnlen(r->u.email, sizeof(r->u.email)));
    }
    return store__bdb_failf(db, STORE__DB_ENV, EINVAL, "record %u/%llu: unknown type %u",
                            (unsigned)r->writer, (unsigned long long)r->seq, (unsigned)r->type);
}

/* The applied-seq entry of writer in the batch's table of n, loaded from meta when new. */
static int applied_find(struct store_bdb *db, DB_TXN *txn, struct applied *a, size_t *n,
                        uint16_t writer, struct applied **out)
{
    int rc;

    for (size_t i = 0; i < *n; i++)
        if (a[i].writer == writer) {
            *out = &a[i];
            return 0;
        }
    a[*n].writer = writer;
    if ((rc = meta_seq_get(db, txn, writer, &a[*n].seq)) < 0)
        return rc;
    *out = &a[(*n)++];
    return 0;
}

static int apply_batch(struct store_bdb *db, DB_TXN *txn, const struct store_record *recs, size_t n,
                       struct applied *a)
{
    size_t writers = 0;
    struct applied *w;
    int rc, done = 0;

    for (size_t i = 0; i < n; i++) {
        if ((rc = applied_find(db, txn, a, &writers, recs[i].writer, &w)) < 0)
            return rc;
        if (recs[i].seq <= w->seq)
            continue;
        if ((rc = apply_one(db, txn, &recs[i])) < 0)
            return rc;
        w->seq = recs[i].seq;
        w->moved = true;
        done++;
    }
    for (size_t i = 0; i < writers; i++)
        if (a[i].moved && (rc = meta_seq_put(db, txn, a[i].writer, a[i].seq)) < 0)
            return rc;
    return done;
}

int store_bdb_apply(struct store_bdb *db, const struct store_record *recs, size_t n)
{
    struct applied *a = calloc(n ? n : 1, sizeof(*a));
    DB_TXN *txn = NULL;
    int ret, rc;

    if (!a)
        return store__bdb_failf(db, STORE__DB_ENV, ENOMEM, "apply: out of memory");
    if ((ret = db->env->txn_begin(db->env, NULL, &txn, 0)) != 0) {
        rc = store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->txn_begin", ret);
        goto done;
    }
    if ((rc = apply_batch(db, txn, recs, n, a)) < 0)
        goto fail;
    ret = txn->commit(txn, 0);
    if (ret != 0)
        rc = store__bdb_fail(db, STORE__DB_ENV, "DB_TXN->commit", ret);
    goto done;
fail:
    txn->abort(txn);
done:
    free(a);
    return rc;
}
