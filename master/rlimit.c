/*
 * The open-file limit, set by the master before it forks.  A worker holds one descriptor
 * per connection, so the soft RLIMIT_NOFILE is raised to the hard limit (Debian's soft
 * default of 1024 is far below the default max_connections), and max_connections is
 * lowered to what the limit leaves once the descriptors a worker holds besides its
 * connections are counted, with a margin.  A worker at max_connections pauses accepting
 * cleanly; one that runs out of descriptors first can only fail accept4() (worker.c
 * pauses then too, but the clients it cannot take wait for a retry).
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define LOG_MODULE "master"
#include "master/master.h"
#include "shm/log.h"

/* Descriptors a worker opens besides its connections and what it inherits: libuv's epoll,
 * eventfd and signal pipes, the log directory and segments (two during a rotation),
 * queries to the store process, key files during a rotation, and headroom. */
#define RLIMIT_MARGIN 64

/* Descriptors open in this process now: every worker inherits them (or fewer: it closes
 * the other slots' listeners). */
static rlim_t rlimit_open_now(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    rlim_t n = 0;

    if (d == NULL)
        return 32; /* no /proc: a generous guess */
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* The highest soft limit the kernel accepts: the hard limit, or nr_open if that is
 * unlimited. */
static rlim_t rlimit_ceiling(rlim_t hard)
{
    unsigned long long nr_open = 1048576;
    FILE *f;

    if (hard != RLIM_INFINITY)
        return hard;
    f = fopen("/proc/sys/fs/nr_open", "re");
    if (f) {
        if (fscanf(f, "%llu", &nr_open) != 1)
            nr_open = 1048576;
        fclose(f);
    }
    return (rlim_t)nr_open;
}

static void rlimit_raise(struct rlimit *rl)
{
    rlim_t target = rlimit_ceiling(rl->rlim_max), old = rl->rlim_cur;

    if (old >= target)
        return;
    rl->rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, rl) == -1) {
        log_warn("setrlimit(RLIMIT_NOFILE, %llu) failed: %s", (unsigned long long)target,
                 strerror(errno));
        rl->rlim_cur = old;
        return;
    }
    log_info("open files: soft limit raised from %llu to %llu", (unsigned long long)old,
             (unsigned long long)target);
}

int master_rlimit_apply(struct master *m)
{
    uint32_t want = m->ws.max_connections;
    struct rlimit rl;
    rlim_t kept, room;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        log_error("getrlimit(RLIMIT_NOFILE) failed: %s", strerror(errno));
        return -1;
    }
    rlimit_raise(&rl);
    kept = rlimit_open_now() + RLIMIT_MARGIN;
    if (rl.rlim_cur <= kept) {
        log_error("the open-file limit (%llu) leaves no descriptor for connections: %llu are "
                  "kept for listeners, logs and the store; raise it (ulimit -n, LimitNOFILE=)",
                  (unsigned long long)rl.rlim_cur, (unsigned long long)kept);
        return -1;
    }
    room = rl.rlim_cur - kept;
    if ((rlim_t)want <= room)
        return 0;
    m->ws.max_connections = (uint32_t)room;
    log_warn("limits.max_connections lowered from %u to %u: the open-file limit is %llu and %llu "
             "descriptors are kept for listeners, logs and the store",
             want, m->ws.max_connections, (unsigned long long)rl.rlim_cur,
             (unsigned long long)kept);
    return 0;
}
