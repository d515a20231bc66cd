/*
 * The store process: a child of the master, the only Berkeley DB writer.  At the first
 * start it recovers (Berkeley DB recovery, every log record replayed, state loaded into
 * shared memory) before the master forks any worker; then, and after a respawn, it tails
 * the workers' log segments into Berkeley DB, trims applied segments, purges expired
 * sessions and answers the control socket (listings, backups).
 */
#ifndef STORE_DAEMON_H
#define STORE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/region.h"

/* Owner slot of the store process in the shared tables. */
#define STORE_OWNER_SLOT 254

struct store_daemon_settings {
    const char *data_dir;
    const char *db_dir;    /* DATA_DIR/db: the Berkeley DB environment */
    const char *log_dir;   /* DATA_DIR/log: the writers' segments */
    const char *sock_path; /* DATA_DIR/store.sock */
    struct shm_region *region;
    pid_t master_pid;
    unsigned generation; /* spawns so far, for shared-memory claims */
    bool recover;        /* first start: recover and load shared memory */
    int ready_fd;        /* recover: write end of the master's pipe; one byte = ready */
    uint32_t apply_interval_ms;
    uint32_t purge_interval; /* seconds */
};

/* Exit statuses of the store process besides 0 and 1. */
#define STORE_EXIT_DATA 2 /* damaged data: the log or the database; do not respawn */

/* Runs the store process; returns its exit status.  Called in the child after fork. */
int store_daemon_run(const struct store_daemon_settings *s);

#endif
