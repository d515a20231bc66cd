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
    pid_t pid;
    bool stopping;
    uint64_t stop_deadline_ms;
};

/* Forks the workers and supervises them until SIGTERM/SIGINT; returns the exit status. */
int master_cycle_run(struct master *m);

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
