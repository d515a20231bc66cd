/*
 * The signing keys' files: DATA_DIR/keys/<kid>.pem (directory 0700, files 0600), one per
 * key, written to a hidden temporary file, synced, renamed and the directory synced, so a
 * crash leaves the old state or the new, never half a key.  Workers persist rotated keys
 * through the proto_keystore interface built here; the master calls worker_keys_start()
 * once before forking, which loads every key, derives which are retired (a key is retired
 * when the next key of its algorithm was created), deletes those no token can need, makes
 * a key for any algorithm without one, and publishes them all in shared memory.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define LOG_MODULE "keys"
#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "shm/log.h"
#include "worker/worker.h"

#define KEY_FILE_MAX 16384

static int keystore_path(char *out, const char *dir, const char *kid, const char *fmt)
{
    int n = snprintf(out, PATH_MAX, fmt, dir, kid);

    return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static void keystore_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd != -1) {
        fsync(fd);
        close(fd);
    }
}

static int keystore_write_all(int fd, const char *text, size_t len)
{
    while (len) {
        ssize_t n = write(fd, text, len);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -errno;
        text += n;
        len -= (size_t)n;
    }
    return fsync(fd) == -1 ? -errno : 0;
}

static int keystore_save(void *arg, const char *kid, const char *text, size_t len)
{
    const char *dir = arg;
    char tmp[PATH_MAX], path[PATH_MAX];
    int fd, rc;

    if (dir == NULL)
        return -EIO;
    if (keystore_path(tmp, dir, kid, "%s/.%s.pem.tmp") < 0 ||
        keystore_path(path, dir, kid, "%s/%s.pem") < 0)
        return -ENAMETOOLONG;
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1) {
        rc = -errno;
        log_error("cannot create %s: %s", tmp, strerror(errno));
        return rc;
    }
    rc = keystore_write_all(fd, text, len);
    close(fd);
    if (rc == 0 && rename(tmp, path) == -1)
        rc = -errno;
    if (rc < 0) {
        log_error("cannot write the key %s: %s", path, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    keystore_sync_dir(dir);
    log_info("stored the new signing key %s", kid);
    return 0;
}

static int keystore_remove(void *arg, const char *kid)
{
    const char *dir = arg;
    char path[PATH_MAX];

    if (dir == NULL || keystore_path(path, dir, kid, "%s/%s.pem") < 0)
        return -ENAMETOOLONG;
    if (unlink(path) == -1 && errno != ENOENT) {
        log_warn("cannot remove the expired key %s: %s", path, strerror(errno));
        return -errno;
    }
    keystore_sync_dir(dir);
    log_info("removed signing key %s: every token it signed has expired", kid);
    return 0;
}

void worker_keystore_init(struct proto_keystore *ks, const char *dir)
{
    ks->arg = (void *)dir;
    ks->save = keystore_save;
    ks->remove = keystore_remove;
}

/* Creates the directory (0700) or tightens its mode. */
static int keys_dir_ready(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
        log_error("%s is not a directory", dir);
        return -1;
    }
    if ((st.st_mode & 077) && chmod(dir, 0700) == 0)
        log_warn("%s was accessible to others: now mode 0700", dir);
    return 0;
}

/* Names a key file by its kid, as removal expects. */
static void keys_rename(const char *dir, const char *path, const char *kid)
{
    char to[PATH_MAX];

    if (keystore_path(to, dir, kid, "%s/%s.pem") == 0 && rename(path, to) == 0)
        log_warn("signing key %s renamed %s: a key file is named by its kid", path, to);
}

/* Reads one key file into rec.  0, 1 (not a key file: skipped), or -1 (logged). */
static int keys_read_file(const char *dir, const char *name, struct shm_key *rec)
{
    char path[PATH_MAX], *text = NULL;
    const char *why = "cannot be read";
    struct stat st;
    size_t n = strlen(name);
    ssize_t got;
    int fd, rc = -1;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (name[0] == '.' && n > 8 && strcmp(name + n - 8, ".pem.tmp") == 0)
        unlink(path); /* a save a crash interrupted */
    if (name[0] == '.' || n < 5 || strcmp(name + n - 4, ".pem") != 0)
        return 1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX ||
        (text = malloc((size_t)st.st_size + 1)) == NULL)
        goto done;
    if ((st.st_mode & 077) && fchmod(fd, 0600) == 0)
        log_warn("%s was readable by others: now mode 0600", path);
    got = read(fd, text, (size_t)st.st_size);
    if (got == st.st_size && proto_jwk_file_parse(text, (size_t)got, rec, &why) == 0)
        rc = 0;
    OPENSSL_cleanse(text, (size_t)st.st_size);
done:
    if (rc < 0)
        log_error("signing key %s: %s", path, why);
    if (rc == 0 && (strlen(rec->kid) != n - 4 || strncmp(rec->kid, name, n - 4) != 0))
        keys_rename(dir, path, rec->kid);
    free(text);
    if (fd != -1)
        close(fd);
    return rc;
}

static int keys_read_all(const char *dir, struct shm_key *recs, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL) {
        log_error("cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    while (rc >= 0 && (e = readdir(d)) != NULL) {
        if (*n == SHM_KEYS_MAX) {
            log_error("more than %d signing keys in %s", SHM_KEYS_MAX, dir);
            rc = -1;
        } else if ((rc = keys_read_file(dir, e->d_name, &recs[*n])) == 0) {
            (*n)++;
        } else if (rc == 1) {
            rc = 0;
        }
    }
    closedir(d);
    return rc;
}

static int keys_cmp(const void *a, const void *b)
{
    const struct shm_key *x = a, *y = b;

    if (x->alg != y->alg)
        return x->alg < y->alg ? -1 : 1;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->kid, y->kid);
}

/* Retires every key that has a successor of its algorithm (at the successor's creation),
 * and drops (deleting the file) those whose retention is over.  Returns the count kept. */
static size_t keys_arrange(const struct proto_keystore *ks, struct shm_key *recs, size_t n,
                           int64_t now, int64_t retention)
{
    size_t kept = 0;

    qsort(recs, n, sizeof(recs[0]), keys_cmp);
    for (size_t i = 0; i < n; i++) {
        struct shm_key *k = &recs[i];

        k->retired_at = 0;
        if (i + 1 < n && recs[i + 1].alg == k->alg)
            k->retired_at = recs[i + 1].created > k->created ? recs[i + 1].created : k->created;
        if (k->retired_at && k->retired_at + retention <= now) {
            ks->remove(ks->arg, k->kid);
            continue;
        }
        if (kept != i)
            memcpy(&recs[kept], k, sizeof(*k));
        kept++;
    }
    return kept;
}

/* A key for each algorithm that has none, stored and appended to recs. */
static int keys_make_missing(const struct proto_keystore *ks, struct shm_region *r,
                             struct shm_key *recs, size_t *n, int64_t now)
{
    struct proto_buf text = {0};
    int rc = 0;

    for (int alg = 0; alg < PROTO_JWT_ALGS && rc == 0; alg++) {
        EVP_PKEY *pk = NULL;
        bool have = false;

        for (size_t i = 0; i < *n; i++)
            have |= recs[i].alg == (uint32_t)alg && recs[i].retired_at == 0;
        if (have)
            continue;
        rc = -1;
        if (*n < SHM_KEYS_MAX && (pk = proto_jwk_generate(alg)) != NULL &&
            proto_jwk_record(pk, now, shm_keys_next_serial(r), &recs[*n]) == 0 &&
            proto_jwk_file_text(&recs[*n], &text) == 0 &&
            ks->save(ks->arg, recs[*n].kid, text.data, text.len) == 0) {
            log_info("made a new %s signing key: there was none", proto_jwt_alg_name(alg));
            (*n)++;
            rc = 0;
        }
        EVP_PKEY_free(pk);
        if (text.data)
            OPENSSL_cleanse(text.data, text.cap);
    }
    proto_buf_free(&text);
    if (rc < 0)
        log_error("cannot generate a signing key");
    return rc;
}

int worker_keys_start(const char *dir, struct shm_region *r, int64_t now, int64_t retention,
                      struct shm_owner who)
{
    struct proto_keystore ks;
    struct shm_key *recs = calloc(SHM_KEYS_MAX, sizeof(*recs));
    size_t n = 0, loaded;
    int rc = -1;

    worker_keystore_init(&ks, dir);
    if (recs == NULL || keys_dir_ready(dir) < 0 || keys_read_all(dir, recs, &n) < 0 ||
        shm_keys_lock(r, who) < 0)
        goto done;
    loaded = n = keys_arrange(&ks, recs, n, now, retention);
    /* The loaded keys first: adding them moves the serial counter past theirs. */
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = shm_keys_add(r, &recs[i]) < 0 ? -1 : 0;
    if (rc == 0)
        rc = keys_make_missing(&ks, r, recs, &n, now);
    for (size_t i = loaded; i < n && rc == 0; i++)
        rc = shm_keys_add(r, &recs[i]) < 0 ? -1 : 0;
    shm_keys_unlock(r);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (recs[i].retired_at == 0)
            log_info("signing with the %s key %s", proto_jwt_alg_name((int)recs[i].alg),
                     recs[i].kid);
done:
    if (recs)
        OPENSSL_cleanse(recs, SHM_KEYS_MAX * sizeof(*recs));
    free(recs);
    return rc;
}
