/*
 * A worker process: its own libuv loop (created after fork), accepting TLS and plain HTTP
 * connections on sockets the master created, and answering requests through proto/.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "shm/region.h"

#define WORKER_LISTENERS_MAX 64

struct worker_listener {
    int fd;
    bool tls;
};

/* Everything a worker needs, built by the master before fork and inherited. */
struct worker_settings {
    struct proto_limits limits;
    uint64_t header_timeout_ms;           /* from a request's first byte (or accept) to its last */
    uint64_t idle_timeout_ms;             /* keep-alive connection with nothing to do */
    uint64_t drain_timeout_ms;            /* graceful stop: in-flight requests get this long */
    uint32_t max_connections;             /* per worker; accepting pauses at the limit */
    uint32_t max_connections_per_address; /* all workers together; 0: not counted */
    SSL_CTX *ssl_ctx;                     /* NULL when there is no TLS listener */
    struct shm_region *region;            /* the shared tables, mapped before fork */
    const struct proto_config *proto;     /* what handlers read */
    const char *keys_dir;                 /* DATA_DIR/keys: signing keys persisted by rotation */
    const char *log_dir;                  /* DATA_DIR/log: the per-slot log segments */
    const char *store_socket;     /* DATA_DIR/store.sock: the store process's control socket */
    int store_sync;               /* enum store_sync: store.sync */
    uint64_t store_segment_bytes; /* store.segment_size: a log segment's size limit */
};

/* Identity of a worker: its slot and how many times the slot was spawned. */
struct worker_id {
    unsigned slot;
    unsigned generation;
    pid_t master_pid;
};

/* Runs the worker until it is told to stop and has drained; returns the process exit
 * status (0, or 2 for a fatal configuration error).  Called in the child after fork. */
int worker_run(const struct worker_settings *s, const struct worker_id *id,
               const struct worker_listener *ls, size_t nls);

/* Builds the TLS context every worker inherits: certificate and key, TLS 1.2 minimum
 * (1.3 when min_version is "1.3"), ALPN http/1.1, stateless session tickets whose keys,
 * made here before fork, are the same in every worker.  NULL on error (logged). */
SSL_CTX *worker_tls_ctx_new(const char *cert_file, const char *key_file, const char *min_version);

struct proto_keystore;
/* Fills ks with the key files of dir (DATA_DIR/keys): what handlers persist keys through. */
void worker_keystore_init(struct proto_keystore *ks, const char *dir);
/* Master, before fork: loads the signing keys of dir (created 0700 if absent), deletes
 * those retired longer than `retention` seconds, generates a key for each algorithm that
 * has none, and publishes them in shared memory.  0, or -1 (logged). */
int worker_keys_start(const char *dir, struct shm_region *r, int64_t now, int64_t retention,
                      struct shm_owner who);

#endif
