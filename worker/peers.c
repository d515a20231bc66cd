/*
 * limits.max_connections_per_address at accept: a connection from an address that
 * already has that many open, across all workers (the counts in shm/peers.c), is closed
 * at once, before TLS or HTTP cost anything, and counted on /metrics.  Each counted
 * connection holds one of this worker's records in shared memory (numbers kept on a free
 * list here), which is how the master releases them should the worker die.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

#define LOG_MODULE "worker"
#include "shm/log.h"
#include "shm/peers.h"
#include "worker/context.h"

int worker__peers_init(struct worker *w)
{
    uint64_t n = w->s->max_connections_per_address ? w->s->max_connections : 0;

    w->peer_free = calloc(n ? n : 1, sizeof(*w->peer_free));
    if (w->peer_free == NULL)
        return -ENOMEM;
    /* Lowest numbers on top: the records a worker uses stay on few pages. */
    for (uint64_t i = 0; i < n; i++)
        w->peer_free[i] = n - 1 - i;
    w->npeer_free = n;
    return 0;
}

void worker__peers_fini(struct worker *w)
{
    free(w->peer_free);
    w->peer_free = NULL;
}

static void peers_refused(const struct sockaddr *sa, uint32_t limit)
{
    char text[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
    log_warn("refused a connection from %s%s: %u are open from there "
             "(limits.max_connections_per_address)",
             text, sa->sa_family == AF_INET6 ? " (its /64)" : "", limit);
}

int worker__peers_admit(struct worker *w, const struct sockaddr *sa, uint64_t *rec)
{
    uint32_t limit = w->s->max_connections_per_address;
    uint8_t key[16];
    uint64_t r;
    int64_t n;

    *rec = 0;
    if (limit == 0 || w->npeer_free == 0 || shm_peers_key(sa, key) < 0)
        return 0;
    r = w->peer_free[--w->npeer_free];
    n = shm_peers_acquire(w->s->region->peers, key, limit, w->id.slot, r);
    if (n > 0) {
        *rec = r + 1;
        return 0;
    }
    w->peer_free[w->npeer_free++] = r;
    if (n == -EBUSY) {
        peers_refused(sa, limit);
        return -EBUSY;
    }
    return 0; /* not counted: admitted */
}

void worker__peers_release(struct worker *w, uint64_t rec)
{
    if (rec == 0)
        return;
    shm_peers_release(w->s->region->peers, w->id.slot, rec - 1);
    w->peer_free[w->npeer_free++] = rec - 1;
}
