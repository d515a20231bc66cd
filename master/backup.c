/*
 * tesserad --backup DIR: a hot backup of the data directory.  When a server runs, its
 * store process does it (the backup op of DATA_DIR/store.sock, store/control.h), so workers
 * keep serving and logging meanwhile; when none runs, this process takes the data
 * directory's lock, so none can start, opens Berkeley DB itself and runs the same backup
 * (store/backup.c).  A server that holds the lock but whose store does not answer (still
 * recovering, or being respawned) is reported, not waited for.  Runs in the tesserad
 * process started with --backup; nothing is forked.  Prints the result as JSON on stdout.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "master/master.h"
#include "store/backup.h"
#include "store/bdb.h"
#include "store/control.h"

#define BACKUP_READ_TIMEOUT_S 3600 /* a backup copies the whole database */

/* target as an absolute path: the store process's working directory is not ours. */
static int backup_abs(const char *target, char out[PATH_MAX])
{
    char cwd[PATH_MAX];
    int n;

    if (target[0] == '/')
        n = snprintf(out, PATH_MAX, "%s", target);
    else if (getcwd(cwd, sizeof(cwd)) == NULL)
        return -errno;
    else
        n = snprintf(out, PATH_MAX, "%s/%s", strcmp(cwd, "/") ? cwd : "", target);
    return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* A connected socket to the store, or a negative errno (nobody listens: -ENOENT or
 * -ECONNREFUSED). */
static int backup_connect(const char *sock_path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = BACKUP_READ_TIMEOUT_S};
    int fd, rc;

    if (strlen(sock_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, sock_path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        rc = -errno;
        close(fd);
        return rc;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int backup_send(int fd, const char *target)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "backup", "dir", target);
    char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
    size_t len = line ? strlen(line) : 0, done = 0;
    ssize_t n;
    int rc = line ? 0 : -ENOMEM;

    if (line)
        line[len++] = '\n'; /* json_dumps leaves the NUL's byte ours to overwrite */
    while (rc == 0 && done < len) {
        if ((n = write(fd, line + done, len - done)) == -1 && errno != EINTR)
            rc = -errno;
        done += n > 0 ? (size_t)n : 0;
    }
    free(line);
    json_decref(req);
    return rc;
}

/* Reads the reply until EOF into a malloc'ed, NUL-terminated buffer; NULL with errno
 * (EAGAIN: the timeout; EMSGSIZE: longer than any reply). */
static char *backup_read(int fd, size_t *len)
{
    size_t cap = 0;
    char *buf = NULL, *p;
    ssize_t n;

    *len = 0;
    for (;;) {
        if (cap - *len < 2) {
            cap = cap ? cap * 2 : 4096;
            if ((p = realloc(buf, cap)) == NULL)
                goto fail;
            buf = p;
        }
        if ((n = read(fd, buf + *len, cap - *len - 1)) == 0)
            break;
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            goto fail;
        if ((*len += (size_t)n) > STORE_CONTROL_REPLY_MAX) {
            errno = EMSGSIZE;
            goto fail;
        }
    }
    buf[*len] = '\0';
    return buf;
fail:
    free(buf);
    return NULL;
}

/* Prints a reply of the store: its body on stdout when 200, else its description. */
static int backup_report(const char *reply)
{
    const char *body = strchr(reply, '\n');
    json_t *j = body ? json_loads(body + 1, 0, NULL) : NULL;
    const char *why = json_string_value(json_object_get(j, "error_description"));
    int status = body ? atoi(reply) : 0, rc = 1;

    if (status == 200 && j) {
        printf("%s\n", body + 1);
        rc = 0;
    } else {
        fprintf(stderr, "tesserad: backup failed: %s\n",
                why ? why : "the store process answered something unusable");
    }
    json_decref(j);
    return rc;
}

/* Through the running server's store process. */
static int backup_online(int fd, const char *target)
{
    char *reply = NULL;
    size_t len = 0;
    int rc = 1;

    if (backup_send(fd, target) < 0 || (reply = backup_read(fd, &len)) == NULL)
        fprintf(stderr, "tesserad: backup failed: no answer from the store process: %s\n",
                errno == EAGAIN ? "timed out" : strerror(errno));
    else if (len == 0)
        fprintf(stderr, "tesserad: backup failed: the store process closed the connection "
                        "without an answer (did it restart?)\n");
    else
        rc = backup_report(reply);
    free(reply);
    close(fd);
    return rc;
}

/* The same JSON the store's backup op answers. */
static void backup_print(const char *target, const struct store_backup_stats *st)
{
    json_t *j =
        json_pack("{s:s, s:I, s:I, s:I}", "backup", target, "segments", (json_int_t)st->segments,
                  "files", (json_int_t)st->files, "bytes", (json_int_t)st->bytes);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(j);
}

/* With no server running: the lock keeps one from starting meanwhile. */
static int backup_offline(const struct master_config *cfg, const char *target)
{
    char db_dir[PATH_MAX], err[1024];
    struct store_backup_stats st;
    struct store_bdb *db = NULL;
    struct stat sb;
    int lock_fd = -1, rc = 1;

    snprintf(db_dir, sizeof(db_dir), "%s/db", cfg->data_dir);
    if (stat(db_dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "tesserad: backup failed: %s: %s (is %s a tessera data directory?)\n",
                db_dir, stat(db_dir, &sb) == -1 ? strerror(errno) : "not a directory",
                cfg->data_dir);
        return 1;
    }
    if (master_datadir_lock(cfg->data_dir, &lock_fd, err, sizeof(err)) < 0) {
        fprintf(stderr,
                "tesserad: backup failed: %s, but its store process does not answer "
                "on %s/store.sock (starting or restarting?); try again\n",
                err, cfg->data_dir);
        return 1;
    }
    if (store_backup_target_check(cfg->data_dir, target, err, sizeof(err)) < 0 ||
        store_bdb_open(db_dir, &db, err, sizeof(err)) < 0 ||
        store_backup_run(db, cfg->data_dir, target, &st, err, sizeof(err)) < 0) {
        fprintf(stderr, "tesserad: backup failed: %s\n", err);
        goto done;
    }
    backup_print(target, &st);
    rc = 0;
done:
    store_bdb_close(db);
    close(lock_fd);
    return rc;
}

int master_backup_run(const struct master_config *cfg, const char *target)
{
    char abs[PATH_MAX], sock[PATH_MAX];
    int fd, rc;

    if ((rc = backup_abs(target, abs)) < 0) {
        fprintf(stderr, "tesserad: --backup %s: %s\n", target, strerror(-rc));
        return 1;
    }
    snprintf(sock, sizeof(sock), "%s/store.sock", cfg->data_dir);
    fd = backup_connect(sock);
    if (fd >= 0)
        return backup_online(fd, abs);
    if (fd != -ENOENT && fd != -ECONNREFUSED) {
        fprintf(stderr, "tesserad: backup failed: cannot connect to %s: %s\n", sock, strerror(-fd));
        return 1;
    }
    return backup_offline(cfg, abs);
}
