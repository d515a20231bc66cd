/*
 * The master's side of the store process: the first start, which recovers the data before
 * any worker exists (the master waits for its "ready" byte on a pipe, or for its death),
 * and the respawns after, which only resume applying.  A store process that exits 2 found
 * damaged data: at the first start that stops tesserad with status 2 (its message names
 * the file and offset); later the master logs it and goes on serving without it — every
 * change is still made durable by the workers' logs, only their application waits.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "master"
#include "master/master.h"
#include "shm/log.h"
#include "store/daemon.h"

static uint64_t storeproc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* In the child: default signals, no listening sockets, then the store's own loop. */
static void storeproc_child(struct master *m, bool recover, int ready_fd)
{
    struct store_daemon_settings s = {
        .data_dir = m->cfg.data_dir,
        .db_dir = m->db_dir,
        .log_dir = m->log_dir,
        .sock_path = m->sock_path,
        .region = &m->region,
        .master_pid = m->pid,
        .generation = m->store.generation,
        .recover = recover,
        .ready_fd = ready_fd,
        .apply_interval_ms = m->cfg.store_apply_interval_ms,
        .purge_interval = m->cfg.store_purge_interval,
    };
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    shm_log_setup("store", shm_log_current_level());
    master_listen_close_all(&m->ls);
    master_child_exit(store_daemon_run(&s));
}

int master_store_spawn(struct master *m, bool recover, int ready_fd)
{
    pid_t pid;

    m->store.generation++;
    pid = fork();
    if (pid == -1) {
        log_error("fork() failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)
        storeproc_child(m, recover, ready_fd);
    m->store.pid = pid;
    m->store.started_ms = storeproc_now_ms();
    m->store.respawn_at_ms = 0;
    log_debug("store started as pid %ld", (long)pid);
    return 0;
}

/* Waits for the recovering store's ready byte; 0, or the exit status to stop with. */
static int storeproc_wait_ready(struct master *m, int fd)
{
    char c;
    ssize_t n;
    int status = 0;

    do
        n = read(fd, &c, 1);
    while (n == -1 && errno == EINTR);
    if (n == 1)
        return 0;
    /* The store died before it was ready: its exit says why. */
    while (waitpid(m->store.pid, &status, 0) == -1 && errno == EINTR)
        ;
    m->store.pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == STORE_EXIT_DATA) {
        log_error("the data in %s cannot be recovered (see above): not starting", m->cfg.data_dir);
        return 2;
    }
    if (WIFSIGNALED(status))
        log_error("the store process was killed by signal %d while recovering", WTERMSIG(status));
    else
        log_error("the store process exited with status %d while recovering", WEXITSTATUS(status));
    return 1;
}

int master_store_start(struct master *m)
{
    int p[2], rc;

    if (pipe2(p, O_CLOEXEC) == -1) {
        log_error("pipe2() failed: %s", strerror(errno));
        return 1;
    }
    m->pid = getpid();
    if (master_store_spawn(m, true, p[1]) < 0) {
        close(p[0]);
        close(p[1]);
        return 1;
    }
    close(p[1]);
    rc = storeproc_wait_ready(m, p[0]);
    close(p[0]);
    return rc;
}
