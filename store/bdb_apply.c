/*
 * Applying log records to Berkeley DB, a batch per transaction, idempotently: meta holds
 * the highest seq applied of every writer ("seq/<writer>"), moved in the same transaction
 * as the records, so a record is applied exactly once however often the log is replayed.
 * Every call inside the transaction passes it: a call outside it would conflict with the
 * transaction's own locks (DB_RUNRECOVERY, see store/bdb.c).  Run by the store process.
 *
 * Client changes: each writer's records come in order, but two writers' segments are
 * applied in any interleaving, so a client's changes are ordered by their version (one clock
 * for all writers, store/record.h) and the result must not depend on the order they are
 * applied in.  A stored client is two last-writer-wins registers (store__client_value):
 * - the body: the CLIENT_PUT or CLIENT_DELETE of the highest version.  A PUT replaces it if
 *   newer than the body held; a DELETE, if newer, leaves a tombstone (id, versions,
 *   generation, time) that makes an older PUT applied later lose.
 * - the generation: set by the change of the highest version of any kind (PUT: its
 *   generation; CLIENT_REVOKE: the new one; DELETE: the one it set).  A REVOKE is applied
 *   whatever the body: newer than a tombstone, it is of a re-created client whose PUT is
 *   still in another writer's segment; before any PUT, it leaves a placeholder without body.
 *   (Refusing it there would let that PUT's older generation win: revoked tokens revived.)
 * This gives the state of applying every change in version order, once each.  A value
 * without a body is not a client (store_bdb_each_client skips it); the purge drops it
 * STORE_BDB_TOMBSTONE_TTL after its last change.
 * - CLIENT_DELETE also deletes the client's sessions whose client_gen < its version: those of
 *   it and earlier instances.  A later instance's sessions have client_gen > the version and
 *   stay (they may be applied first, from another writer's segment).  Done whether or not
 *   the tombstone is written.  A TOKEN_ISSUED of a deleted instance applied after the DELETE
 *   stays until it expires; its client_gen marks it dead.
 * - CLIENT_REVOKE leaves the sessions: an older generation marks them dead, and kept until
 *   they expire they keep old JWTs from being accepted again on their signature after a
 *   restart.  Whether a session is alive is decided at load (store/bdb.h).
 * - meta "clock" keeps the highest version, generation or client_gen ever applied, so that
 *   purging a tombstone never lets the clock restart below a value in use (store_bdb_clock).
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

static void meta_seq_key(uint16_t writer, char out[16])
{
    snprintf(out, 16, "seq/%u", (unsigned)writer);
}

int store__bdb_meta_get(struct store_bdb *db, DB_TXN *txn, const char *k, uint64_t *out)
{
    DB *m = db->db[STORE__DB_META];
    uint8_t v[8];
    DBT key = store__dbt(k, strlen(k)), data = store__dbt_out(v, sizeof(v));
    int ret = m->get(m, txn, &key, &data, txn ? DB_RMW : 0);

    *out = 0;
    if (ret == DB_NOTFOUND)
        return 0;
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_META, "DB->get(meta)", ret);
    if (data.size != sizeof(v))
        return store__bdb_failf(db, STORE__DB_META, EIO, "%s: value of %u bytes", k, data.size);
    for (int i = 7; i >= 0; i--)
        *out = *out << 8 | v[i];
    return 0;
}

static int meta_put(struct store_bdb *db, DB_TXN *txn, const char *k, uint64_t val)
{
    DB *m = db->db[STORE__DB_META];
    uint8_t v[8];
    DBT key = store__dbt(k, strlen(k)), data = store__dbt(v, sizeof(v));
    int ret;

    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)(val >> (8 * i));
    ret = m->put(m, txn, &key, &data, 0);
    return ret ? store__bdb_fail(db, STORE__DB_META, "DB->put(meta)", ret) : 0;
}

int store_bdb_applied_seq(struct store_bdb *db, uint16_t writer, uint64_t *seq)
{
    char k[16];

    meta_seq_key(writer, k);
    return store__bdb_meta_get(db, NULL, k, seq);
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

/* The stored client of id into *v: 0 (absent: *v holds nothing but the id) or -errno. */
static int client_get(struct store_bdb *db, DB_TXN *txn, const char *id,
                      struct store__client_value *v)
{
    uint8_t buf[STORE__VALUE_MAX];
    size_t len = strnlen(id, SHM_CLIENT_ID_MAX);
    int64_t n = get_value(db, txn, STORE__DB_CLIENTS, id, len, buf, sizeof(buf));

    if (n < 0)
        return (int)n;
    if (n > 0 && store__client_decode(buf, (size_t)n, v) < 0)
        return store__bdb_failf(db, STORE__DB_CLIENTS, EIO, "client %.*s: undecodable value",
                                (int)len, id);
    if (n == 0) {
        memset(v, 0, sizeof(*v));
        memcpy(v->rec.client.id, id, len);
    }
    return 0;
}

static int client_store(struct store_bdb *db, DB_TXN *txn, const struct store__client_value *v)
{
    uint8_t buf[STORE__VALUE_MAX];
    const char *id = v->rec.client.id;
    size_t vlen = store__client_encode(v, buf, sizeof(buf));

    return put_value(db, txn, STORE__DB_CLIENTS, id, strnlen(id, SHM_CLIENT_ID_MAX), buf, vlen);
}

/* The generation register: true when the change (version) is newer than what it holds. */
static bool client_gen_set(struct store__client_value *v, uint32_t generation, uint64_t version)
{
    if (version <= v->rec.version)
        return false;
    v->rec.generation = generation;
    v->rec.version = version;
    return true;
}

/* The body register: body (NULL for a DELETE) replaces it when version is newer than what it
 * holds.  A tombstone keeps the id and the other register, nothing of the body. */
static bool client_body_set(struct store__client_value *v, const struct store_client_rec *body,
                            uint64_t version, int64_t time_ms)
{
    struct store_client_rec keep = v->rec;

    if (version <= v->body_version)
        return false;
    if (body != NULL) {
        v->rec = *body;
    } else {
        memset(&v->rec, 0, sizeof(v->rec));
        memcpy(v->rec.client.id, keep.client.id, sizeof(keep.client.id));
    }
    v->rec.generation = keep.generation;
    v->rec.version = keep.version;
    v->body_version = version;
    v->deleted = body == NULL;
    v->bodiless_ms = body == NULL ? time_ms : 0;
    return true;
}

static int client_put(struct store_bdb *db, DB_TXN *txn, const struct store_client_rec *c)
{
    struct store__client_value v;
    int rc = client_get(db, txn, c->client.id, &v);
    bool body, gen;

    if (rc < 0)
        return rc;
    body = client_body_set(&v, c, c->version, 0);
    gen = client_gen_set(&v, c->generation, c->version);
    return body || gen ? client_store(db, txn, &v) : 0;
}

static int client_revoke(struct store_bdb *db, DB_TXN *txn, const struct store_record *r)
{
    const struct store_client_ref *ref = &r->u.ref;
    struct store__client_value v;
    int rc = client_get(db, txn, ref->id, &v);

    if (rc < 0 || !client_gen_set(&v, ref->generation, ref->version))
        return rc;
    if (!store__client_exists(&v)) /* a placeholder's age */
        v.bodiless_ms = r->time_ms;
    return client_store(db, txn, &v);
}

/* Deletes id's sessions issued under a generation older than `before`, through the
 * by-client index (a deletion there deletes the session and its index entries). */
static int sessions_delete_before(struct store_bdb *db, DB_TXN *txn, const char *id,
                                  uint64_t before)
{
    DB *x = db->db[STORE__DB_BY_CLIENT];
    DBT key = store__dbt(id, strnlen(id, SHM_CLIENT_ID_MAX)), pkey = {0}, data = {0};
    struct store_session s;
    DBC *c;
    int ret, rc = 0;

    if ((ret = x->cursor(x, txn, &c, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_BY_CLIENT, "DB->cursor", ret);
    ret = c->pget(c, &key, &pkey, &data, DB_SET | DB_RMW);
    for (; ret == 0; ret = c->pget(c, &key, &pkey, &data, DB_NEXT_DUP | DB_RMW)) {
        if (store__session_decode(data.data, data.size, &s) < 0) {
            rc = store__bdb_failf(db, STORE__DB_SESSIONS, EIO, "a session value is undecodable");
            break;
        }
        if (s.token.client_gen < before && (ret = c->del(c, 0)) != 0)
            break;
    }
    if (rc == 0 && ret != DB_NOTFOUND)
        rc = store__bdb_fail(db, STORE__DB_BY_CLIENT, "deleting a client's sessions", ret);
    c->close(c);
    return rc;
}

static int client_delete(struct store_bdb *db, DB_TXN *txn, const struct store_record *r)
{
    const struct store_client_ref *ref = &r->u.ref;
    struct store__client_value v;
    int rc = client_get(db, txn, ref->id, &v);
    bool body, gen;

    if (rc < 0)
        return rc;
    /* body_version <= rec.version (every change reaches the generation register), so a
     * DELETE that moves the generation also makes the tombstone, with its time. */
    body = client_body_set(&v, NULL, ref->version, r->time_ms);
    gen = client_gen_set(&v, ref->generation, ref->version);
    if ((body || gen) && (rc = client_store(db, txn, &v)) < 0)
        return rc;
    return sessions_delete_before(db, txn, ref->id, ref->version);
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
        return client_delete(db, txn, r);
    case STORE_REC_CLIENT_REVOKE:
        return client_revoke(db, txn, r);
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
    char k[16];
    int rc;

    for (size_t i = 0; i < *n; i++)
        if (a[i].writer == writer) {
            *out = &a[i];
            return 0;
        }
    a[*n].writer = writer;
    meta_seq_key(writer, k);
    if ((rc = store__bdb_meta_get(db, txn, k, &a[*n].seq)) < 0)
        return rc;
    *out = &a[(*n)++];
    return 0;
}

/* The largest clock value r holds: versions, generations, a token's client_gen. */
static uint64_t clock_of(const struct store_record *r)
{
    switch (r->type) {
    case STORE_REC_CLIENT_PUT:
        return r->u.client.version > r->u.client.generation ? r->u.client.version
                                                            : r->u.client.generation;
    case STORE_REC_CLIENT_DELETE:
    case STORE_REC_CLIENT_REVOKE:
        return r->u.ref.version > r->u.ref.generation ? r->u.ref.version : r->u.ref.generation;
    case STORE_REC_TOKEN_ISSUED:
        return r->u.token.client_gen;
    }
    return 0;
}

/* The applied seqs that moved, and meta's clock when the batch went past it. */
static int batch_meta_put(struct store_bdb *db, DB_TXN *txn, const struct applied *a,
                          size_t writers, uint64_t clock)
{
    uint64_t stored = 0;
    char k[16];
    int rc;

    for (size_t i = 0; i < writers; i++) {
        meta_seq_key(a[i].writer, k);
        if (a[i].moved && (rc = meta_put(db, txn, k, a[i].seq)) < 0)
            return rc;
    }
    if (clock == 0)
        return 0;
    if ((rc = store__bdb_meta_get(db, txn, STORE__META_CLOCK, &stored)) < 0)
        return rc;
    return clock > stored ? meta_put(db, txn, STORE__META_CLOCK, clock) : 0;
}

static int apply_batch(struct store_bdb *db, DB_TXN *txn, const struct store_record *recs, size_t n,
                       struct applied *a)
{
    size_t writers = 0;
    struct applied *w;
    uint64_t clock = 0;
    int rc, done = 0;

    for (size_t i = 0; i < n; i++) {
        if ((rc = applied_find(db, txn, a, &writers, recs[i].writer, &w)) < 0)
            return rc;
        if (recs[i].seq <= w->seq)
            continue;
        if ((rc = apply_one(db, txn, &recs[i])) < 0)
            return rc;
        if (clock_of(&recs[i]) > clock)
            clock = clock_of(&recs[i]);
        w->seq = recs[i].seq;
        w->moved = true;
        done++;
    }
    rc = batch_meta_put(db, txn, a, writers, clock);
    return rc < 0 ? rc : done;
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
