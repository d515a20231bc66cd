/*
 * Listening sockets, created by the master before it forks.  Either one socket per
 * address shared by every worker, or (server.reuseport) one SO_REUSEPORT socket per
 * address and worker slot, held open by the master so a respawned worker takes over its
 * slot's queue.
 */
#ifndef MASTER_LISTEN_H
#define MASTER_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/worker.h"

struct master_listen_group {
    char name[128]; /* "https://127.0.0.1:8443" */
    bool tls;
    int *fds; /* one, or one per worker slot */
    size_t nfds;
};

struct master_listeners {
    struct master_listen_group *groups;
    size_t n;
};

/* Splits "HOST:PORT" or "[V6]:PORT".  host/port may be NULL to only validate.
 * Returns 0, or -1 with the reason in err. */
int master_listen_parse(const char *spec, char *host, size_t hostlen, char *port, size_t portlen,
                        char *err, size_t errlen);
/* Resolves spec and binds every address it names, appending groups to ls.  nslots is the
 * number of sockets per address with reuseport, else 1.  0, or -1 (logged). */
int master_listen_open(struct master_listeners *ls, const char *spec, bool tls, size_t nslots);
/* The sockets worker `slot` serves, written to out (capacity max); returns how many. */
size_t master_listen_for_slot(const struct master_listeners *ls, size_t slot,
                              struct worker_listener *out, size_t max);
/* Closes the sockets of one slot (a slot that will not be respawned). */
void master_listen_close_slot(struct master_listeners *ls, size_t slot);
void master_listen_close_all(struct master_listeners *ls);

#endif
