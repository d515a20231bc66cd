/*
 * Hot backup of a data directory (see store/backup.h for the layout and the guarantee).
 * The order is what makes it consistent while workers append: the database is copied
 * first, the log segments after it, so every record acknowledged before the backup began
 * is in one or the other.  Runs synchronously in the store process (which therefore
 * deletes no segment meanwhile) or in `tesserad --backup` with the data directory locked.
 * A failed backup removes what it wrote: the target was new or empty when it began.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/backup.h"
#include "store/segment.h"

#define COPY_BUF (64 * 1024)

struct bk {
    const char *data_dir, *target;
    struct store_backup_stats *st;
    char *err;
    size_t errlen;
};

static int bk_fail(struct bk *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bk_fail(struct bk *b, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

    return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd == -1)
        return -errno;
    if (fsync(fd) == -1)
        rc = -errno;
    close(fd);
    return rc;
}

/* --- the target ------------------------------------------------------------------------ */

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int rc = 1;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rc = 0;
    closedir(d);
    return rc;
}

/* The absolute, symlink-free spelling of path, which may not exist yet (its parent must). */
static int resolve(const char *path, char out[PATH_MAX])
{
    char copy[PATH_MAX], dir[PATH_MAX], *slash;
    const char *parent = copy, *base;
    size_t n = strlen(path);

    if (realpath(path, out))
        return 0;
    if (errno != ENOENT)
        return -errno;
    if (n >= sizeof(copy))
        return -ENAMETOOLONG;
    memcpy(copy, path, n + 1);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    slash = strrchr(copy, '/');
    base = slash ? slash + 1 : copy;
    if (!slash)
        parent = ".";
    else if (slash == copy)
        parent = "/";
    else
        *slash = '\0';
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return -EINVAL;
    if (!realpath(parent, dir))
        return -errno;
    return path_join(out, strcmp(dir, "/") ? dir : "", base);
}

static int check_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int check_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

int store_backup_target_check(const char *data_dir, const char *target, char *err, size_t errlen)
{
    char rd[PATH_MAX], rt[PATH_MAX];
    struct stat sb;
    size_t n;
    int rc;

    if (target[0] == '\0')
        return check_fail(err, errlen, -EINVAL, "the backup directory is an empty path");
    if (!realpath(data_dir, rd))
        return check_fail(err, errlen, -errno, "data directory %s: %s", data_dir, strerror(errno));
    if (stat(target, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return check_fail(err, errlen, -ENOTDIR, "%s exists and is not a directory", target);
        if ((rc = dir_is_empty(target)) < 0)
            return check_fail(err, errlen, rc, "opendir(%s): %s", target, strerror(-rc));
        if (rc == 0)
            return check_fail(err, errlen, -ENOTEMPTY,
                              "%s is not empty: a backup goes into a new or empty directory",
                              target);
    }
    if ((rc = resolve(target, rt)) < 0)
        return check_fail(err, errlen, rc, "%s: %s (its parent directory must exist)", target,
                          strerror(-rc));
    n = strlen(rd);
    if (strncmp(rt, rd, n) == 0 && (rt[n] == '\0' || rt[n] == '/'))
        return check_fail(err, errlen, -EINVAL, "%s is inside the data directory %s", target,
                          data_dir);
    return 0;
}

/* --- copying ----------------------------------------------------------------------------- */

static int copy_bytes(int in, int out)
{
    char buf[COPY_BUF];
    ssize_t n;

    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -errno;
        for (ssize_t done = 0, w; done < n; done += w)
            if ((w = write(out, buf + done, (size_t)(n - done))) == -1)
                return -errno;
    }
    return 0;
}

/* Copies sdir/name to ddir/name (created with mode, never overwriting) and fsyncs it. */
static int copy_file(struct bk *b, const char *sdir, const char *ddir, const char *name,
                     mode_t mode)
{
    char src[PATH_MAX], dst[PATH_MAX];
    int in = -1, out = -1, rc;
    struct stat sb;

    if ((rc = path_join(src, sdir, name)) < 0 || (rc = path_join(dst, ddir, name)) < 0)
        return bk_fail(b, rc, "%s/%s: path too long", sdir, name);
    if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
        return bk_fail(b, -errno, "open(%s): %s", src, strerror(errno));
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out == -1) {
        rc = bk_fail(b, -errno, "open(%s): %s", dst, strerror(errno));
        goto done;
    }
    if ((rc = copy_bytes(in, out)) < 0) {
        bk_fail(b, rc, "copying %s to %s: %s", src, dst, strerror(-rc));
        goto done;
    }
    if (fsync(out) == -1 || fstat(out, &sb) == -1) {
        rc = bk_fail(b, -errno, "fsync(%s): %s", dst, strerror(errno));
        goto done;
    }
    b->st->files++;
    b->st->bytes += (uint64_t)sb.st_size;
done:
    if (out != -1)
        close(out);
    close(in);
    return rc;
}

static int make_dir(struct bk *b, const char *path)
{
    if (mkdir(path, 0700) == -1 && errno != EEXIST)
        return bk_fail(b, -errno, "mkdir(%s): %s", path, strerror(errno));
    return 0;
}

/* Copies the segments of data_dir/log into target/log. */
static int copy_segments(struct bk *b)
{
    char src[PATH_MAX], dst[PATH_MAX];
    struct store_segment_name *v = NULL;
    size_t n = 0;
    int rc;

    if (path_join(src, b->data_dir, "log") < 0 || path_join(dst, b->target, "log") < 0)
        return bk_fail(b, -ENAMETOOLONG, "%s/log: path too long", b->target);
    if ((rc = make_dir(b, dst)) < 0)
        return rc;
    rc = store_segment_list(src, &v, &n, b->err, b->errlen);
    if (rc == -ENOENT) /* a server that never wrote a record */
        return sync_path(dst);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = copy_file(b, src, dst, v[i].name, 0600)) == 0)
            b->st->segments++;
    free(v);
    if (rc == 0 && (rc = sync_path(dst)) < 0)
        bk_fail(b, rc, "fsync(%s): %s", dst, strerror(-rc));
    return rc;
}

typedef bool (*want_fn)(const char *name);

/* Copies the regular files of sdir that want() names into ddir (made 0700); mode 0 keeps
 * each file's own permissions.  A missing sdir copies nothing. */
static int copy_dir(struct bk *b, const char *sdir, const char *ddir, want_fn want, mode_t mode)
{
    DIR *d;
    struct dirent *e;
    struct stat sb;
    int rc = 0;

    if ((rc = make_dir(b, ddir)) < 0)
        return rc;
    if ((d = opendir(sdir)) == NULL)
        return errno == ENOENT ? 0 : bk_fail(b, -errno, "opendir(%s): %s", sdir, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        if (!want(e->d_name) || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
            !S_ISREG(sb.st_mode))
            continue;
        rc = copy_file(b, sdir, ddir, e->d_name, mode ? mode : (sb.st_mode & 0777));
    }
    closedir(d);
    if (rc == 0 && (rc = sync_path(ddir)) < 0)
        bk_fail(b, rc, "fsync(%s): %s", ddir, strerror(-rc));
    return rc;
}

static bool want_key(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pem") == 0;
}

/* The top of the data directory: the lock is the running server's, hidden files are
 * temporaries of an atomic write in progress; the socket is not a regular file. */
static bool want_top(const char *name)
{
    return name[0] != '.' && strcmp(name, "lock") != 0;
}

static bool want_any(const char *name)
{
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* The copy of the database: fsynced file by file (recovery in the copy wrote them), and
 * counted. */
static int sync_db_copy(struct bk *b, const char *dbdir)
{
    DIR *d = opendir(dbdir);
    struct dirent *e;
    struct stat sb;
    int rc = 0, fd;

    if (d == NULL)
        return bk_fail(b, -errno, "opendir(%s): %s", dbdir, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        if (!want_any(e->d_name) || (fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC)) == -1)
            continue;
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (fsync(fd) == -1)
                rc = bk_fail(b, -errno, "fsync(%s/%s): %s", dbdir, e->d_name, strerror(errno));
            b->st->files++;
            b->st->bytes += (uint64_t)sb.st_size;
        }
        close(fd);
    }
    closedir(d);
    if (rc == 0 && (rc = sync_path(dbdir)) < 0)
        bk_fail(b, rc, "fsync(%s): %s", dbdir, strerror(-rc));
    return rc;
}

static int copy_db(struct bk *b, struct store_bdb *db)
{
    char dbdir[PATH_MAX];
    int rc;

    if (path_join(dbdir, b->target, "db") < 0)
        return bk_fail(b, -ENAMETOOLONG, "%s/db: path too long", b->target);
    if ((rc = make_dir(b, dbdir)) < 0)
        return rc;
    if ((rc = store_bdb_backup(db, dbdir)) < 0)
        return bk_fail(b, rc, "%s", store_bdb_error(db));
    return sync_db_copy(b, dbdir);
}

/* --- the whole backup ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    return ftw->level > 0 ? remove(path) : 0; /* the target itself is the caller's */
}

/* Everything, in the order the guarantee needs: the database, then the segments. */
static int copy_all(struct bk *b, struct store_bdb *db)
{
    char sk[PATH_MAX], dk[PATH_MAX], parent[PATH_MAX], *slash;
    int rc;

    if (path_join(sk, b->data_dir, "keys") < 0 || path_join(dk, b->target, "keys") < 0)
        return bk_fail(b, -ENAMETOOLONG, "%s/keys: path too long", b->target);
    if ((rc = copy_db(b, db)) < 0 || (rc = copy_segments(b)) < 0 ||
        (rc = copy_dir(b, sk, dk, want_key, 0600)) < 0 ||
        (rc = copy_dir(b, b->data_dir, b->target, want_top, 0)) < 0)
        return rc;
    /* The target's own entry in its parent (b->target is absolute, resolved). */
    snprintf(parent, sizeof(parent), "%s", b->target);
    slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    if ((rc = sync_path(parent)) < 0)
        return bk_fail(b, rc, "fsync(%s): %s", parent, strerror(-rc));
    return 0;
}

int store_backup_run(struct store_bdb *db, const char *data_dir, const char *target,
                     struct store_backup_stats *st, char *err, size_t errlen)
{
    struct store_backup_stats local;
    struct bk b = {data_dir, target, st ? st : &local, err, errlen};
    char real[PATH_MAX];
    bool made;
    int rc;

    memset(b.st, 0, sizeof(*b.st));
    if ((rc = store_backup_target_check(data_dir, target, err, errlen)) < 0)
        return rc;
    made = mkdir(target, 0700) == 0;
    if (!made && errno != EEXIST)
        return bk_fail(&b, -errno, "mkdir(%s): %s", target, strerror(errno));
    if (!realpath(target, real)) {
        rc = bk_fail(&b, -errno, "realpath(%s): %s", target, strerror(errno));
        goto fail;
    }
    b.target = real;
    if ((rc = copy_all(&b, db)) == 0)
        return 0;
    nftw(real, rm_one, 16, FTW_DEPTH | FTW_PHYS);
fail:
    if (made)
        rmdir(target);
    return rc;
}
