/*
 * Listening sockets of the master (see listen.h).  Sockets are non-blocking, close-on-exec,
 * IPv6 ones v6-only so [::]:P and 0.0.0.0:P can both be bound.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "listen"
#include "master/listen.h"
#include "shm/log.h"

#define LISTEN_BACKLOG 4096

int master_listen_parse(const char *spec, char *host, size_t hostlen, char *port, size_t portlen,
                        char *err, size_t errlen)
{
    const char *h = spec, *p, *hend;
    char *end;
    long n;

    if (spec[0] == '[') {
        h = spec + 1;
        hend = strchr(h, ']');
        if (hend == NULL || hend[1] != ':')
            return snprintf(err, errlen, "expected [IPV6]:PORT"), -1;
        p = hend + 2;
    } else {
        hend = strrchr(spec, ':');
        if (hend == NULL)
            return snprintf(err, errlen, "expected HOST:PORT"), -1;
        if (memchr(spec, ':', (size_t)(hend - spec)))
            return snprintf(err, errlen, "write IPv6 addresses in brackets: [::1]:PORT"), -1;
        p = hend + 1;
    }
    if (hend == h)
        return snprintf(err, errlen, "missing host (use 0.0.0.0 or [::] for every address)"), -1;
    errno = 0;
    n = strtol(p, &end, 10);
    if (*p < '0' || *p > '9' || *end || errno || n < 1 || n > 65535)
        return snprintf(err, errlen, "port must be a number from 1 to 65535"), -1;
    if ((size_t)(hend - h) >= 256)
        return snprintf(err, errlen, "host name too long"), -1;
    if (host) {
        snprintf(host, hostlen, "%.*s", (int)(hend - h), h);
        snprintf(port, portlen, "%ld", n);
    }
    return 0;
}

static int listen_socket(const struct addrinfo *ai, bool reuseport, const char *spec)
{
    int fd, one = 1;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd == -1) {
        log_error("socket(%s) failed: %s", spec, strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)) {
        log_error("setsockopt(%s) failed: %s", spec, strerror(errno));
        goto fail;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        log_error("bind(%s) failed: %s", spec, strerror(errno));
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) == -1) {
        log_error("listen(%s) failed: %s", spec, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* SO_REUSEPORT lets a second tesserad share a port with the first without a word; bind a
 * plain socket first, so an address in use is refused as it would be without it. */
static int listen_probe(const struct addrinfo *ai, const char *spec)
{
    int fd = listen_socket(ai, false, spec);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static void listen_group_name(struct master_listen_group *g, const struct addrinfo *ai)
{
    char host[INET6_ADDRSTRLEN + 16], port[8];
    const char *scheme = g->tls ? "https" : "http";

    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
    if (ai->ai_family == AF_INET6)
        snprintf(g->name, sizeof(g->name), "%s://[%s]:%s", scheme, host, port);
    else
        snprintf(g->name, sizeof(g->name), "%s://%s:%s", scheme, host, port);
}

static int listen_group_add(struct master_listeners *ls, const struct addrinfo *ai, bool tls,
                            size_t nslots, const char *spec)
{
    struct master_listen_group *g, *groups;

    groups = realloc(ls->groups, (ls->n + 1) * sizeof(*groups));
    if (groups == NULL)
        return -1;
    ls->groups = groups;
    g = &groups[ls->n];
    memset(g, 0, sizeof(*g));
    g->tls = tls;
    g->fds = calloc(nslots, sizeof(int));
    if (g->fds == NULL)
        return -1;
    ls->n++;
    listen_group_name(g, ai);
    if (nslots > 1 && listen_probe(ai, spec) < 0)
        return -1;
    for (g->nfds = 0; g->nfds < nslots; g->nfds++) {
        g->fds[g->nfds] = listen_socket(ai, nslots > 1, spec);
        if (g->fds[g->nfds] < 0)
            return -1;
    }
    return 0;
}

int master_listen_open(struct master_listeners *ls, const char *spec, bool tls, size_t nslots)
{
    char host[256], port[8], why[128];
    struct addrinfo hints = {0}, *res = NULL, *ai;
    int rc;

    if (master_listen_parse(spec, host, sizeof(host), port, sizeof(port), why, sizeof(why)) < 0) {
        log_error("listen address '%s': %s", spec, why);
        return -1;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        log_error("listen address '%s': %s", spec, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (listen_group_add(ls, ai, tls, nslots, spec) < 0) {
            freeaddrinfo(res);
            return -1;
        }
    }
    freeaddrinfo(res);
    return 0;
}

size_t master_listen_for_slot(const struct master_listeners *ls, size_t slot,
                              struct worker_listener *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < ls->n && n < max; i++) {
        const struct master_listen_group *g = &ls->groups[i];

        out[n].fd = g->nfds > 1 ? g->fds[slot] : g->fds[0];
        out[n].tls = g->tls;
        if (out[n].fd >= 0)
            n++;
    }
    return n;
}

void master_listen_close_slot(struct master_listeners *ls, size_t slot)
{
    for (size_t i = 0; i < ls->n; i++) {
        struct master_listen_group *g = &ls->groups[i];

        if (g->nfds > 1 && g->fds[slot] >= 0) {
            close(g->fds[slot]);
            g->fds[slot] = -1;
        }
    }
}

void master_listen_close_all(struct master_listeners *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        for (size_t j = 0; j < ls->groups[i].nfds; j++)
            if (ls->groups[i].fds[j] >= 0)
                close(ls->groups[i].fds[j]);
        free(ls->groups[i].fds);
    }
    free(ls->groups);
    ls->groups = NULL;
    ls->n = 0;
}
