/*
 * The master process's context: configuration, listening sockets, the settings every
 * worker inherits, and the table of worker slots it keeps filled.
 */
#ifndef MASTER_MASTER_H
#define MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "master/config.h"
#include "master/listen.h"
#include "proto/ctx.h"
#include "shm/region.h"
#include "worker/worker.h"

struct master_slot {
    pid_t pid;           /* 0: not running */
    unsigned generation; /* spawns of this slot so far */
    uint64_t started_ms;
    uint64_t respawn_at_ms; /* when a dead worker may be replaced */
    unsigned failures;      /* quick deaths in a row, for the backoff */
    bool retired;           /* exited 2: not respawned */
};

/* Owner slots of the shared tables that are not workers. */
#define MASTER_OWNER_SLOT 255

struct master {
    struct master_config cfg;
    struct worker_settings ws;
    struct master_listeners ls;
    struct shm_region region;
    struct proto_config proto;
    char issuer[256];
    char demo_secret[64]; /* --dev only: printed in the banner */
    uint64_t next_sweep_ms;
    struct master_slot *slots;
    size_t nslots;
    struct master_slot store;           /* the store process */
    char *log_dir, *db_dir, *sock_path; /* DATA_DIR/log, DATA_DIR/db, DATA_DIR/store.sock */
    pid_t pid;
    bool stopping;
    uint64_t stop_deadline_ms;
};

/* Takes the exclusive lock of data_dir (DATA_DIR/lock): 0 with *fd, or a negative errno
 * with err saying why (-EWOULDBLOCK: another tesserad uses it). */
int master_datadir_lock(const char *data_dir, int *fd, char *err, size_t errlen);

/* --backup DIR: backs cfg->data_dir up into target (relative to the working directory, or
 * absolute): through the store process when a server runs, else itself with the data
 * directory locked (store/backup.h).  Prints the result as JSON on stdout, or a reason on
 * stderr.  Returns the exit status: 0, or 1.  Called by main() instead of serving. */
int master_backup_run(const struct master_config *cfg, const char *target);

/* Raises the soft open-file limit to the hard one and lowers ws.max_connections to what
 * it leaves beside the descriptors open now (call it after the listeners exist, before
 * fork); logs what it changed.  0, or -1 when no descriptor is left for connections. */
int master_rlimit_apply(struct master *m);

/* Forks the workers and supervises them and the store process until SIGTERM/SIGINT;
 * returns the exit status. */
int master_cycle_run(struct master *m);
/* Ends a forked child (a worker, the store) with its status: _exit(), so that it runs
 * none of the master's atexit() handlers; in a sanitizer build, after the leak check
 * exit() would have run, so a child's leaks are reported like the master's. */
__attribute__((noreturn)) void master_child_exit(int status);

/* Starts the store process, which recovers the data and loads shared memory, and waits
 * until it is ready.  0, or the exit status to stop with (2: damaged data). */
int master_store_start(struct master *m);
/* Forks a store process (recover: the first start, with the write end of the ready pipe).
 * 0, or -1 (logged). */
int master_store_spawn(struct master *m, bool recover, int ready_fd);

/* --dev: creates the data directory, the self-signed certificate and the admin token when
 * absent.  0, or -1 with the reason logged. */
int master_dev_prepare(const struct master_config *cfg);
/* --dev: creates the demo clients in shared memory: "demo" (opaque tokens, secret kept in
 * DATA_DIR/demo-client.secret) and "demo-jwt" (JWTs, DATA_DIR/demo-jwt-client.secret).
 * 0, or -1 (logged). */
int master_dev_demo_client(struct master *m);
/* --dev: prints where the server listens and a curl command that works as printed. */
void master_dev_banner(const struct master *m);

#endif
