/*
 * tesserad's entry point: reads the configuration, validates it (--test-config stops
 * there), prepares --dev files, builds the TLS context, the listening sockets and the
 * shared memory, loads (or first makes) the JWT signing keys, then hands over to the
 * supervision loop.  Exit status 2 means the configuration is wrong.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "master"
#include <openssl/crypto.h>

#include "master/master.h"
#include "proto/oauth/discovery.h"
#include "proto/jose/keys.h"
#include "proto/oauth/secret.h"
#include "shm/log.h"
#include "store/check.h"
#include "store/writer.h"

#define EXIT_CONFIG 2

static void main_settings(struct master *m)
{
    const struct master_config *cfg = &m->cfg;

    m->ws.limits = cfg->limits;
    m->ws.header_timeout_ms = (uint64_t)cfg->header_timeout * 1000;
    m->ws.idle_timeout_ms = (uint64_t)cfg->idle_timeout * 1000;
    m->ws.drain_timeout_ms = (uint64_t)cfg->drain_timeout * 1000;
    m->ws.max_connections = cfg->max_connections;
    m->ws.max_connections_per_address = cfg->max_connections_per_address;
    m->nslots = cfg->workers ? cfg->workers : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (m->nslots < 1)
        m->nslots = 1;
}

static int main_listen(struct master *m)
{
    size_t per = m->cfg.reuseport ? m->nslots : 1;

    for (size_t i = 0; i < m->cfg.listen.n; i++)
        if (master_listen_open(&m->ls, m->cfg.listen.v[i], true, per) < 0)
            return -1;
    for (size_t i = 0; i < m->cfg.listen_plain.n; i++)
        if (master_listen_open(&m->ls, m->cfg.listen_plain.v[i], false, per) < 0)
            return -1;
    for (size_t i = 0; i < m->ls.n; i++)
        log_info("listening on %s", m->ls.groups[i].name);
    return 0;
}

static int main_region(struct master *m)
{
    struct shm_region_sizes sz = {
        .tokens = m->cfg.tokens_capacity,
        .clients = m->cfg.clients_capacity,
        .intern = m->cfg.tokens_interned_strings,
        .jti = m->cfg.dpop_replay_capacity,
        .prefault = m->cfg.tokens_prefault,
        .peer_slots = (uint32_t)m->nslots,
        .peer_records = m->ws.max_connections_per_address ? m->ws.max_connections : 0,
    };

    if (shm_region_create(&m->region, &sz) < 0)
        return -1;
    m->ws.region = &m->region;
    log_info("shared memory: %llu MiB for %u tokens and %u clients",
             (unsigned long long)(m->region.size >> 20), m->cfg.tokens_capacity,
             m->cfg.clients_capacity);
    return 0;
}

/* Reads the admin token file; the workers keep only its SHA-256. */
static int main_admin_token(struct master *m)
{
    char buf[512];
    FILE *f;
    size_t n;

    if (m->cfg.admin_token_file == NULL)
        return 0;
    f = fopen(m->cfg.admin_token_file, "re");
    if (f == NULL) {
        log_error("cannot read the admin token %s: %s", m->cfg.admin_token_file, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < 16 || n == sizeof(buf)) {
        log_error("the admin token in %s must be 16 to 511 characters", m->cfg.admin_token_file);
        return -1;
    }
    proto_sha256(buf, n, m->proto.admin_token_hash);
    OPENSSL_cleanse(buf, sizeof(buf));
    m->proto.admin_enabled = true;
    return 0;
}

/* The RFC 8414 document: it depends only on the configuration, so it is built once. */
static int main_metadata(struct master *m)
{
    struct proto_buf b = {0};

    if (proto_discovery_build(&m->proto, &b) < 0 || proto_buf_append(&b, "", 1) < 0) {
        log_error("cannot build the metadata document for the issuer %s", m->issuer);
        proto_buf_free(&b);
        return -1;
    }
    m->proto.metadata = b.data;
    m->proto.metadata_len = b.len - 1;
    return 0;
}

/* DATA_DIR/name, allocated; NULL when out of memory. */
static char *main_path(const struct master *m, const char *name)
{
    size_t n = strlen(m->cfg.data_dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s/%s", m->cfg.data_dir, name);
    return p;
}

/* mkdir -m 0700 that accepts an existing directory. */
static int main_mkdir(const char *dir)
{
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        log_error("cannot create the directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The data directory: made when absent, locked against a second tesserad using it, with
 * its log and database directories; the paths every process is told. */
static int main_datadir(struct master *m, int *lock_fd)
{
    char err[512];

    m->log_dir = main_path(m, "log");
    m->db_dir = main_path(m, "db");
    m->sock_path = main_path(m, "store.sock");
    m->ws.keys_dir = main_path(m, "keys");
    if (!m->log_dir || !m->db_dir || !m->sock_path || !m->ws.keys_dir)
        return -1;
    if (main_mkdir(m->cfg.data_dir) < 0)
        return -1;
    if (master_datadir_lock(m->cfg.data_dir, lock_fd, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    if (main_mkdir(m->log_dir) < 0 || main_mkdir(m->db_dir) < 0)
        return -1;
    m->ws.log_dir = m->log_dir;
    m->ws.store_socket = m->sock_path;
    m->ws.store_sync = store_sync_parse(m->cfg.store_sync);
    m->ws.store_segment_bytes = (uint64_t)m->cfg.store_segment_mb << 20;
    return 0;
}

static void main_check_warn(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "tesserad: warning: %s\n", msg);
}

/* --check-data: the log and the database read whole, nothing served, nothing in the log
 * changed.  Berkeley DB is opened (with its own recovery) like at a start, so a running
 * server's data directory is refused: the lock says whether one runs.  0 or 2. */
static int main_check_data(struct master *m)
{
    struct store_check_stats *st = calloc(1, sizeof(*st));
    char err[1024];
    int lock_fd = -1, status = 2, rc;

    m->log_dir = main_path(m, "log");
    m->db_dir = main_path(m, "db");
    if (st == NULL || m->log_dir == NULL || m->db_dir == NULL)
        goto done;
    if (master_datadir_lock(m->cfg.data_dir, &lock_fd, err, sizeof(err)) < 0) {
        fprintf(stderr, "tesserad: %s\n", err);
        goto done;
    }
    rc = store_check(m->log_dir, m->db_dir, st, main_check_warn, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "tesserad: the data in %s is damaged: %s\n", m->cfg.data_dir, err);
        goto done;
    }
    printf("%s: OK\n  log: %llu segments, %llu records, %llu bytes%s\n"
           "  database: %llu clients (%llu deleted kept), %llu sessions (%llu live)\n",
           m->cfg.data_dir, (unsigned long long)st->segments, (unsigned long long)st->records,
           (unsigned long long)st->bytes, st->torn ? " (a torn tail: cut at the next start)" : "",
           (unsigned long long)st->clients, (unsigned long long)st->tombstones,
           (unsigned long long)st->sessions, (unsigned long long)st->sessions_live);
    status = 0;
done:
    if (lock_fd != -1)
        close(lock_fd);
    free(st);
    return status;
}

/* The JWT signing keys, from DATA_DIR/keys (made on first start), into shared memory. */
static int main_keys(struct master *m)
{
    struct shm_owner me = {MASTER_OWNER_SLOT, 1};

    return worker_keys_start(m->ws.keys_dir, &m->region, (int64_t)time(NULL),
                             proto_keys_retention(&m->proto), me);
}

/* What handlers read: the issuer (configured, else the first listener's URL), defaults. */
static int main_proto(struct master *m)
{
    const char *url = m->cfg.issuer;

    for (size_t i = 0; url == NULL && i < m->ls.n; i++)
        if (m->ls.groups[i].tls)
            url = m->ls.groups[i].name;
    if (url == NULL && m->ls.n)
        url = m->ls.groups[0].name;
    snprintf(m->issuer, sizeof(m->issuer), "%s", url ? url : "");
    if (m->cfg.issuer == NULL)
        log_info("issuer: %s (set [server] issuer to the public URL)", m->issuer);
    m->proto.issuer = m->issuer;
    m->proto.default_access_ttl = m->cfg.tokens_access_ttl;
    m->proto.default_refresh_ttl = m->cfg.tokens_refresh_ttl;
    m->proto.auth_fail_per_client_address = m->cfg.auth_failures_per_client_address;
    m->proto.auth_fail_per_address = m->cfg.auth_failures_per_address;
    m->proto.auth_fail_per_client = m->cfg.auth_failures_per_client;
    m->proto.max_access_ttl = m->cfg.tokens_max_access_ttl;
    m->proto.jwt_verify_unknown = m->cfg.tokens_jwt_verify_unknown;
    /* A tenth by default: no one client can take more than that share of the table. */
    m->proto.max_live_per_client = m->cfg.tokens_max_live_per_client
                                       ? m->cfg.tokens_max_live_per_client
                                       : m->cfg.tokens_capacity / 10;
    m->proto.limit_policy =
        strcmp(m->cfg.tokens_limit_policy, "refuse") == 0 ? PROTO_LIMIT_REFUSE : PROTO_LIMIT_EVICT;
    m->proto.scopes_supported = m->cfg.scopes_supported;
    if (main_metadata(m) < 0)
        return -1;
    m->ws.proto = &m->proto;
    return main_admin_token(m);
}

/* Checks what --test-config can check without writing or binding anything. */
static int main_check_tls(struct master *m)
{
    if (m->cfg.listen.n == 0)
        return 0;
    m->ws.ssl_ctx =
        worker_tls_ctx_new(m->cfg.tls_certificate, m->cfg.tls_private_key, m->cfg.tls_min_version);
    return m->ws.ssl_ctx ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct master m = {0};
    enum shm_log_level level = SHM_LOG_INFO;
    char err[512];
    int status = EXIT_CONFIG, lock_fd = -1;

    shm_log_setup("master", SHM_LOG_INFO);
    if (master_config_load(&m.cfg, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "tesserad: %s\n", err);
        goto done;
    }
    /* A backup needs no listener or certificate: it talks to the running store, or reads
     * the data directory itself when no server runs. */
    if (m.cfg.backup_dir && !m.cfg.show_help && !m.cfg.show_version) {
        status = master_backup_run(&m.cfg, m.cfg.backup_dir);
        goto done;
    }
    if (!m.cfg.show_help && !m.cfg.show_version &&
        master_config_validate(&m.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "tesserad: %s\n", err);
        goto done;
    }
    if (m.cfg.show_help || m.cfg.show_version) {
        fputs(m.cfg.show_help ? master_config_usage() : "tesserad " PACKAGE_VERSION "\n", stdout);
        status = 0;
        goto done;
    }
    shm_log_level_parse(m.cfg.log_level, &level);
    shm_log_setup("master", level);
    main_settings(&m);
    if (m.cfg.check_data) {
        status = main_check_data(&m);
        goto done;
    }
    if (m.cfg.dev && !m.cfg.test_config && master_dev_prepare(&m.cfg) < 0)
        goto done;
    if ((!m.cfg.dev || !m.cfg.test_config) && main_check_tls(&m) < 0)
        goto done;
    if (m.cfg.test_config) {
        fprintf(stderr, "tesserad: configuration OK\n");
        status = 0;
        goto done;
    }

    status = 1; /* from here on, failures are of the environment, not the configuration */
    m.slots = calloc(m.nslots, sizeof(*m.slots));
    if (m.slots == NULL || main_datadir(&m, &lock_fd) < 0 || main_listen(&m) < 0 ||
        master_rlimit_apply(&m) < 0 || main_region(&m) < 0 || main_proto(&m) < 0 ||
        main_keys(&m) < 0)
        goto done;
    /* Nothing is served before the data is recovered: the listening sockets queue
     * connections meanwhile, and /readyz answers once the workers exist. */
    status = master_store_start(&m);
    if (status != 0)
        goto done;
    status = 1;
    if (m.cfg.dev && master_dev_demo_client(&m) < 0)
        goto done;
    if (m.cfg.dev)
        master_dev_banner(&m);
    status = master_cycle_run(&m);
done:
    master_listen_close_all(&m.ls);
    SSL_CTX_free(m.ws.ssl_ctx);
    if (m.region.hdr)
        shm_region_detach(&m.region);
    free(m.slots);
    free((char *)m.ws.keys_dir);
    free(m.log_dir);
    free(m.db_dir);
    free(m.sock_path);
    if (lock_fd != -1)
        close(lock_fd);
    free((char *)m.proto.metadata);
    master_config_free(&m.cfg);
    return status;
}
