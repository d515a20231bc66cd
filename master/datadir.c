/*
 * The data directory's lock: one tesserad at a time may use a data directory.  The master
 * takes an exclusive flock on DATA_DIR/lock at start; its children inherit the open file,
 * so the lock is held until the last process of that server is gone — a new server cannot
 * start while an old worker might still append to the log.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "master/master.h"

int master_datadir_lock(const char *data_dir, int *fd, char *err, size_t errlen)
{
    char path[4096];
    int f, rc;

    snprintf(path, sizeof(path), "%s/lock", data_dir);
    f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f == -1) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    if (flock(f, LOCK_EX | LOCK_NB) == -1) {
        rc = -errno;
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "the data directory %s is in use by another tesserad", data_dir);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}
