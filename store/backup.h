/*
 * Hot backup of a data directory: the Berkeley DB environment, the log segments, the
 * signing keys and the files at the top of the data directory (certificate, admin token,
 * demo secrets), into a new directory that a server can be started on as its data
 * directory.  Run by the store process for its control socket's backup op, and by
 * `tesserad --backup` itself when no server runs (master/backup.c).
 */
#ifndef STORE_BACKUP_H
#define STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store/bdb.h"

struct store_backup_stats {
    uint64_t segments; /* log segments copied */
    uint64_t files;    /* every file the backup holds */
    uint64_t bytes;    /* their total size */
};

/* Checks that target can receive a backup of data_dir: it does not exist (its parent
 * does) or is an empty directory, and it is not data_dir nor inside it.  0, or a negative
 * errno with a sentence naming the path in err: -ENOTEMPTY, -ENOTDIR, -ENOENT (no parent,
 * or no data_dir), -EINVAL (inside the data directory, or an empty path). */
int store_backup_target_check(const char *data_dir, const char *target, char *err, size_t errlen);

/* Backs data_dir up into target while the server keeps running: first target/db through
 * store_bdb_backup (a checkpoint, DB_ENV->backup, catastrophic recovery in the copy), then
 * every segment of data_dir/log into target/log, then data_dir/keys/ *.pem into
 * target/keys (directories 0700, those files 0600), then the regular files directly in
 * data_dir except the lock file and hidden ones (modes kept); every file and directory is
 * fsynced.  The segments are copied after the database: a record that is not in the copy
 * of the database is in a segment the store had not deleted yet, so it is copied; a
 * segment being appended may end torn in the copy, which recovery cuts (only a slot's last
 * segment can be torn, and no later one of the slot is copied).  The caller must keep the
 * store from deleting segments meanwhile (the store process runs this inside its loop;
 * offline, nothing else runs).  On failure what was written is removed again.
 * 0 with *st (may be NULL), or a negative errno with err naming the call and the file. */
int store_backup_run(struct store_bdb *db, const char *data_dir, const char *target,
                     struct store_backup_stats *st, char *err, size_t errlen);

#endif
