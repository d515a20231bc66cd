/*
 * The Berkeley DB environment of the store process: opening (with recovery), the databases
 * and their secondary indexes, errors that name the file, checkpoints, log removal,
 * compaction and hot backup.  Applying records is store/bdb_apply.c; sessions (purge,
 * loading, listings) store/bdb_sessions.c; the value format store/bdb_value.c.
 *
 * Durability: the msgpack log segments, fdatasync'd by the workers, are the durability
 * point; this database is rebuilt from them past its applied seqs.  So commits here use
 * DB_TXN_WRITE_NOSYNC: the commit's log records are write(2)n, not fsync'd.  A kill -9 of
 * the store loses nothing (the written log is in the page cache, recovery reads it); a
 * power loss may lose the last commits, but meta's applied seqs roll back with them (same
 * transaction), and the records are replayed from the segments.  That holds as long as a
 * segment is deleted only after store_bdb_sync() or store_bdb_checkpoint() (log_flush:
 * fsync) returned, for seqs applied before the call.  Single-threaded: no DB_THREAD.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/bdb_int.h"

/* ~200 bytes of pages per session with its index entry: 1,000,000 sessions fit.  With
 * DB_PRIVATE the cache is this process's memory, committed as pages are used. */
#define BDB_CACHE_BYTES (256u << 20)
#define BDB_LOG_FILE_BYTES (4u << 20) /* log files are removed whole: keep them small */
#define BDB_LOG_BUFFER_BYTES (1u << 20)
#define BDB_MAX_LOCKS 60000 /* page locks of the largest transaction (purge, client delete) */
/* DB_PRIVATE: the regions (cache, locks, log buffer) live in this process's heap, not in
 * __db.* files the kernel would keep writing back: one process uses the environment.
 * Without DB_THREAD a lock conflict cannot wait (there is no other thread to release it):
 * a call outside the open transaction that touches its pages fails with DB_RUNRECOVERY at
 * once (measured) instead of hanging, so every call inside a transaction passes it. */
#define BDB_ENV_FLAGS                                                                              \
    (DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_PRIVATE)

const char *const store__bdb_file[STORE__DB_COUNT] = {
    [STORE__DB_CLIENTS] = "clients.db",
    [STORE__DB_SESSIONS] = "sessions.db",
    [STORE__DB_BY_CLIENT] = "sessions_by_client.db",
    [STORE__DB_ACCOUNTS] = "accounts.db",
    [STORE__DB_KEYS] = "keys.db",
    [STORE__DB_META] = "meta.db",
};

/* Berkeley DB's own words, kept for the next failure's message; a repeat is dropped. */
static void on_bdb_error(const DB_ENV *env, const char *prefix, const char *msg)
{
    struct store_bdb *db = env->app_private;
    size_t len = strlen(db->bdb_msg);

    (void)prefix;
    if (strstr(db->bdb_msg, msg) || len >= sizeof(db->bdb_msg) - 1)
        return;
    snprintf(db->bdb_msg + len, sizeof(db->bdb_msg) - len, "%s%s", len ? "; " : "", msg);
}

static int errno_of(int ret)
{
    if (ret > 0)
        return -ret;
    if (ret == DB_NOTFOUND)
        return -ENOENT;
    if (ret == DB_LOCK_NOTGRANTED || ret == DB_LOCK_DEADLOCK)
        return -EAGAIN;
    return -EIO; /* DB_RUNRECOVERY, DB_VERIFY_BAD, checksum failures: the data is unusable */
}

static void fail_write(struct store_bdb *db, int which, const char *what)
{
    bool env = which == STORE__DB_ENV;

    snprintf(db->err, sizeof(db->err), "%s%s%s: %s%s%s%s", db->dir, env ? "" : "/",
             env ? "" : store__bdb_file[which], what, db->bdb_msg[0] ? " (" : "", db->bdb_msg,
             db->bdb_msg[0] ? ")" : "");
    db->bdb_msg[0] = '\0';
}

int store__bdb_fail(struct store_bdb *db, int which, const char *op, int ret)
{
    char what[256];

    snprintf(what, sizeof(what), "%s: %s", op, db_strerror(ret));
    fail_write(db, which, what);
    return errno_of(ret);
}

int store__bdb_failf(struct store_bdb *db, int which, int err, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fail_write(db, which, what);
    return -err;
}

const char *store_bdb_error(const struct store_bdb *db)
{
    return db->err;
}

static int env_configure(struct store_bdb *db, DB_ENV *env)
{
    int ret;

    env->app_private = db;
    env->set_errcall(env, on_bdb_error);
    if ((ret = env->set_cachesize(env, 0, BDB_CACHE_BYTES, 1)) != 0 ||
        (ret = env->set_lg_max(env, BDB_LOG_FILE_BYTES)) != 0 ||
        (ret = env->set_lg_bsize(env, BDB_LOG_BUFFER_BYTES)) != 0 ||
        (ret = env->set_lk_max_locks(env, BDB_MAX_LOCKS)) != 0 ||
        (ret = env->set_lk_max_objects(env, BDB_MAX_LOCKS)) != 0 ||
        (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV configuration", ret);
    return 0;
}

static int env_open(struct store_bdb *db, const char *dir)
{
    int ret;

    if (mkdir(dir, 0700) == -1 && errno != EEXIST)
        return store__bdb_failf(db, STORE__DB_ENV, errno, "mkdir: %s", strerror(errno));
    if ((ret = db_env_create(&db->env, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "db_env_create", ret);
    if ((ret = env_configure(db, db->env)) < 0)
        return ret;
    ret = db->env->open(db->env, dir, BDB_ENV_FLAGS | DB_RECOVER, 0600);
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->open with recovery", ret);
    return 0;
}

static int db_open_one(struct store_bdb *db, DB_TXN *txn, int which)
{
    bool secondary = which == STORE__DB_BY_CLIENT;
    DB *d;
    int ret;

    if ((ret = db_create(&d, db->env, 0)) != 0)
        return store__bdb_fail(db, which, "db_create", ret);
    db->db[which] = d;
    /* Page checksums: a damaged page is an error naming the file, never garbage read. */
    if ((ret = d->set_flags(d, DB_CHKSUM | (secondary ? DB_DUP | DB_DUPSORT : 0))) != 0)
        return store__bdb_fail(db, which, "DB->set_flags", ret);
    ret = d->open(d, txn, store__bdb_file[which], NULL, DB_BTREE, DB_CREATE, 0600);
    if (ret != 0)
        return store__bdb_fail(db, which, "DB->open", ret);
    return 0;
}

static int by_client_key(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
    const uint8_t *k;
    size_t klen;
    int rc = store__session_client_key(data->data, data->size, &k, &klen);

    (void)sec;
    (void)key;
    if (rc != 0)
        return rc == DB_DONOTINDEX ? rc : EINVAL;
    memset(result, 0, sizeof(*result));
    result->data = (void *)k;
    result->size = (u_int32_t)klen;
    return 0;
}

/* Opens every database in one transaction and associates the secondaries (DB_CREATE:
 * an index file that was lost is rebuilt from sessions). */
static int dbs_open(struct store_bdb *db)
{
    DB *s;
    DB_TXN *txn = NULL;
    int ret, rc = 0;

    if ((ret = db->env->txn_begin(db->env, NULL, &txn, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->txn_begin", ret);
    for (int i = 0; i < STORE__DB_COUNT && rc == 0; i++)
        rc = db_open_one(db, txn, i);
    if (rc < 0)
        goto fail;
    s = db->db[STORE__DB_SESSIONS];
    if ((ret = s->associate(s, txn, db->db[STORE__DB_BY_CLIENT], by_client_key, DB_CREATE)))
        goto fail_assoc;
    ret = txn->commit(txn, 0);
    txn = NULL;
    if (ret != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_TXN->commit (open)", ret);
    return 0;
fail_assoc:
    rc = store__bdb_fail(db, STORE__DB_SESSIONS, "DB->associate", ret);
fail:
    txn->abort(txn);
    return rc;
}

int store_bdb_open(const char *dir, struct store_bdb **out, char *err, size_t errlen)
{
    struct store_bdb *db = calloc(1, sizeof(*db));
    int rc;

    *out = NULL;
    if (!db) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -ENOMEM;
    }
    if (strlen(dir) >= sizeof(db->dir)) {
        snprintf(err, errlen, "%s: path too long", dir);
        free(db);
        return -ENAMETOOLONG;
    }
    strcpy(db->dir, dir);
    if ((rc = env_open(db, dir)) < 0 || (rc = dbs_open(db)) < 0)
        goto fail;
    *out = db;
    return 0;
fail:
    snprintf(err, errlen, "%s", db->err);
    store_bdb_close(db);
    return rc;
}

void store_bdb_close(struct store_bdb *db)
{
    /* Secondaries first: a primary must not close under an associated index. */
    static const int order[STORE__DB_COUNT] = {STORE__DB_BY_CLIENT, STORE__DB_SESSIONS,
                                               STORE__DB_CLIENTS,   STORE__DB_ACCOUNTS,
                                               STORE__DB_KEYS,      STORE__DB_META};

    if (!db)
        return;
    for (int i = 0; i < STORE__DB_COUNT; i++) {
        DB *d = db->db[order[i]];

        if (d)
            d->close(d, 0);
    }
    if (db->env)
        db->env->close(db->env, 0);
    free(db);
}

int store_bdb_sync(struct store_bdb *db)
{
    int ret = db->env->log_flush(db->env, NULL);

    return ret ? store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->log_flush", ret) : 0;
}

int store_bdb_checkpoint(struct store_bdb *db)
{
    int ret;

    if ((ret = db->env->txn_checkpoint(db->env, 0, 0, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->txn_checkpoint", ret);
    if ((ret = db->env->log_archive(db->env, NULL, DB_ARCH_REMOVE)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "DB_ENV->log_archive(DB_ARCH_REMOVE)", ret);
    return 0;
}

int store_bdb_compact(struct store_bdb *db)
{
    for (int i = 0; i < STORE__DB_COUNT; i++) {
        DB *d = db->db[i];
        int ret = d->compact(d, NULL, NULL, NULL, NULL, DB_FREE_SPACE, NULL);

        if (ret != 0)
            return store__bdb_fail(db, i, "DB->compact", ret);
    }
    return 0;
}

/* Catastrophic recovery in a backup, as db_hotbackup does: the copied files are fuzzy
 * (pages of different moments) until every copied log record is replayed over them. */
static int backup_recover(struct store_bdb *db, const char *target)
{
    DB_ENV *env;
    int ret;

    if ((ret = db_env_create(&env, 0)) != 0)
        return store__bdb_fail(db, STORE__DB_ENV, "db_env_create (backup)", ret);
    env->app_private = db;
    env->set_errcall(env, on_bdb_error);
    ret = env->open(env, target, BDB_ENV_FLAGS | DB_RECOVER_FATAL, 0600);
    if (ret == 0)
        ret = env->log_archive(env, NULL, DB_ARCH_REMOVE);
    env->close(env, 0);
    if (ret != 0)
        return store__bdb_failf(db, STORE__DB_ENV, EIO, "recovery of the backup in %s: %s", target,
                                db_strerror(ret));
    return 0;
}

int store_bdb_backup(struct store_bdb *db, const char *target_dir)
{
    int rc, ret;

    if ((rc = store_bdb_checkpoint(db)) < 0)
        return rc;
    ret = db->env->backup(db->env, target_dir, DB_CREATE | DB_BACKUP_CLEAN);
    if (ret != 0)
        return store__bdb_failf(db, STORE__DB_ENV, -errno_of(ret), "DB_ENV->backup to %s: %s",
                                target_dir, db_strerror(ret));
    return backup_recover(db, target_dir);
}
