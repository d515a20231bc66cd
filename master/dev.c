/*
 * --dev: a working server with no setup.  On first start it creates, in the data
 * directory, a self-signed certificate for localhost, 127.0.0.1 and ::1 and an admin
 * token (mode 0600), and the secrets of two demo clients, "demo" (opaque tokens) and
 * "demo-jwt" (JWTs); later starts reuse them.  Files are written to a temporary name,
 * synced and renamed, so a crash never leaves half a key behind.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define LOG_MODULE "dev"
#include "master/master.h"
#include "proto/jose/jwt.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/secret.h"
#include "shm/client.h"
#include "shm/intern.h"
#include "shm/log.h"
#include "worker/journal.h"

#define DEV_CERT_DAYS 825

/* Writes data to path atomically with the given mode. */
static int dev_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd == -1) {
        log_error("cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) == -1) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    if (rename(tmp, path) == -1) {
        log_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
fail:
    close(fd);
    unlink(tmp);
    return -1;
}

/* PEM of an OpenSSL object, written through a memory BIO and then atomically to path. */
static int dev_write_bio(const char *path, BIO *bio, mode_t mode)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);

    return n > 0 ? dev_write_file(path, p, (size_t)n, mode) : -1;
}

static int dev_cert_extensions(X509 *x)
{
    static const char *const ext[][2] = {
        {"basicConstraints", "critical,CA:FALSE"},
        {"keyUsage", "critical,digitalSignature"},
        {"extendedKeyUsage", "serverAuth"},
        {"subjectAltName", "DNS:localhost,IP:127.0.0.1,IP:::1"},
        {"subjectKeyIdentifier", "hash"},
    };
    X509V3_CTX v3;

    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, ext[i][0], ext[i][1]);

        if (e == NULL || !X509_add_ext(x, e, -1)) {
            X509_EXTENSION_free(e);
            return -1;
        }
        X509_EXTENSION_free(e);
    }
    return 0;
}

static X509 *dev_cert_new(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn = NULL;

    if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto fail;
    X509_set_version(x, X509_VERSION_3);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)DEV_CERT_DAYS * 86400);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tessera dev", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (dev_cert_extensions(x) < 0 || !X509_sign(x, key, EVP_sha256()))
        goto fail;
    BN_free(bn);
    return x;
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

static int dev_make_cert(const char *cert_path, const char *key_path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? dev_cert_new(key) : NULL;
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    int rc = -1;

    if (x == NULL || kb == NULL || cb == NULL ||
        !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cb, x)) {
        log_error("cannot generate the development certificate");
        goto done;
    }
    if (dev_write_bio(key_path, kb, 0600) < 0 || dev_write_bio(cert_path, cb, 0644) < 0)
        goto done;
    log_info("created a self-signed certificate for localhost, 127.0.0.1 and ::1: %s", cert_path);
    rc = 0;
done:
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static int dev_make_token(const char *path)
{
    unsigned char raw[32];
    char text[64];
    int n;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    n = EVP_EncodeBlock((unsigned char *)text, raw, sizeof(raw));
    /* base64 → base64url without padding */
    for (int i = 0; i < n; i++)
        text[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
    while (n && text[n - 1] == '=')
        n--;
    text[n++] = '\n';
    if (dev_write_file(path, text, (size_t)n, 0600) < 0)
        return -1;
    log_info("created the admin token: %s", path);
    return 0;
}

int master_dev_prepare(const struct master_config *cfg)
{
    if (mkdir(cfg->data_dir, 0700) == -1 && errno != EEXIST) {
        log_error("cannot create the data directory %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    if ((access(cfg->tls_certificate, F_OK) == -1 || access(cfg->tls_private_key, F_OK) == -1) &&
        dev_make_cert(cfg->tls_certificate, cfg->tls_private_key) < 0)
        return -1;
    if (cfg->admin_token_file && access(cfg->admin_token_file, F_OK) == -1 &&
        dev_make_token(cfg->admin_token_file) < 0)
        return -1;
    return 0;
}

/* A demo client's secret: kept in DATA_DIR/<file> so it survives restarts.  *born is when
 * the file was made, the client's creation time: JWTs it got before a restart are its. */
static int dev_demo_secret(const char *dir, const char *file, char *secret, size_t cap,
                           int64_t *born)
{
    char path[PATH_MAX];
    struct stat st;
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "re");
    if (f) {
        n = fread(secret, 1, cap - 1, f);
        *born = fstat(fileno(f), &st) == 0 ? (int64_t)st.st_mtime : (int64_t)time(NULL);
        fclose(f);
        while (n && (secret[n - 1] == '\n' || secret[n - 1] == ' '))
            n--;
        secret[n] = '\0';
        if (n >= 32)
            return 0;
    }
    *born = (int64_t)time(NULL);
    if (proto_random_token(secret) < 0)
        return -1;
    n = strlen(secret);
    secret[n] = '\n';
    if (dev_write_file(path, secret, n + 1, 0600) < 0)
        return -1;
    secret[n] = '\0';
    return 0;
}

/* Creates a demo client, unless recovery brought it back: scopes "read write" (default
 * "read"), client credentials and refresh tokens, tokens in the given format, logged
 * through j.  Its secret is copied to out. */
static int dev_demo_make(struct master *m, struct worker_journal *j, const char *id,
                         const char *file, int format, char *out, size_t cap)
{
    struct shm_owner me = {MASTER_OWNER_SLOT, 1};
    struct shm_client c = {0}, found;
    char secret[128];
    int64_t scopes, defaults;
    uint64_t version;
    int rc = -1;

    if (dev_demo_secret(m->cfg.data_dir, file, secret, sizeof(secret), &c.created) < 0) {
        log_error("cannot create the secret of the demo client %s in %s", id, m->cfg.data_dir);
        return -1;
    }
    scopes = shm_intern_put(&m->region, "read write", 10, me);
    defaults = shm_intern_put(&m->region, "read", 4, me);
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.name, sizeof(c.name), "tessera --dev demo client (%s tokens)",
             format == PROTO_FORMAT_JWT ? "JWT" : "opaque");
    c.scopes = scopes > 0 ? (uint32_t)scopes : 0;
    c.default_scopes = defaults > 0 ? (uint32_t)defaults : 0;
    c.scope_base = c.scopes; /* "read write" is canonical already */
    c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN;
    c.token_format = (uint8_t)format;
    c.jwt_alg = PROTO_JWT_ES256;
    c.access_ttl = m->cfg.tokens_access_ttl;
    c.refresh_ttl = m->cfg.tokens_refresh_ttl;
    c.updated = c.created;
    /* A recovered demo client is kept: its secret file still holds its secret. */
    if (shm_client_find(&m->region, id, strlen(id), &found, NULL) < 0 &&
        (proto_secret_set(&c, secret, strlen(secret), true) < 0 ||
         shm_client_create(&m->region, &c, me, &version) < 0 ||
         j->ops.client_put(j, &c, (uint32_t)version, version) < 0)) {
        log_error("cannot create the demo client %s", id);
        goto done;
    }
    rc = out && snprintf(out, cap, "%s", secret) >= (int)cap ? -1 : 0;
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

int master_dev_demo_client(struct master *m)
{
    struct worker_journal j;
    int rc;

    if (worker_journal_open(&j, m->log_dir, MASTER_OWNER_SLOT, STORE_SYNC_BATCH,
                            m->ws.store_segment_bytes, &m->region) < 0)
        return -1;
    rc = dev_demo_make(m, &j, "demo", "demo-client.secret", PROTO_FORMAT_OPAQUE, m->demo_secret,
                       sizeof(m->demo_secret));
    if (rc == 0)
        rc = dev_demo_make(m, &j, "demo-jwt", "demo-jwt-client.secret", PROTO_FORMAT_JWT, NULL, 0);
    if (worker_journal_commit(&j) < 0)
        rc = -1;
    worker_journal_close(&j);
    return rc;
}

void master_dev_banner(const struct master *m)
{
    char cert[PATH_MAX], token[PATH_MAX];
    const char *url = NULL;

    if (realpath(m->cfg.tls_certificate, cert) == NULL)
        snprintf(cert, sizeof(cert), "%s", m->cfg.tls_certificate);
    if (realpath(m->cfg.admin_token_file, token) == NULL)
        snprintf(token, sizeof(token), "%s", m->cfg.admin_token_file);
    for (size_t i = 0; i < m->ls.n && url == NULL; i++)
        if (m->ls.groups[i].tls)
            url = m->ls.groups[i].name;
    printf("\ntessera is running in development mode.\n\n");
    if (url) {
        printf("  URL:          %s\n", url);
        printf("  certificate:  %s\n", cert);
        printf("  admin token:  %s\n\n", token);
        printf("Try it:\n  curl --cacert %s %s/healthz\n\n", cert, url);
        printf("Get a token as the demo client, then validate it:\n"
               "  TOKEN=$(curl -s --cacert %s -u demo:%s -d grant_type=client_credentials "
               "%s/oauth2/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n"
               "  curl --cacert %s -H \"Authorization: Bearer $TOKEN\" %s/oauth2/validate\n\n",
               cert, m->demo_secret, url, cert, url);
        printf("The client demo-jwt gets JWT access tokens (ES256; keys at %s/oauth2/jwks):\n"
               "  curl -s --cacert %s -u demo-jwt:$(cat %s/demo-jwt-client.secret) "
               "-d grant_type=client_credentials %s/oauth2/token\n\n",
               url, cert, m->cfg.data_dir, url);
    }
    for (size_t i = 0; i < m->ls.n; i++)
        if (!m->ls.groups[i].tls)
            printf("  plain HTTP:   %s (curl %s/healthz)\n\n", m->ls.groups[i].name,
                   m->ls.groups[i].name);
    fflush(stdout);
}
