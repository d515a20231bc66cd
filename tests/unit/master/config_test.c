/*
 * Unit tests of master/config.c: the built-in and --dev defaults, the layers (INI file
 * over --dev, flags over the file, a --listen flag replacing the file's list), every key's
 * range, and the exact text of each error, which must name the flag or key at fault.
 * INI files are written to mkstemp files and removed by the teardown.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/config.h"

struct fixture {
    struct master_config cfg;
    char err[512];
    char path[128][64]; /* temporary INI files */
    int npaths;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    master_config_free(&f->cfg);
    for (int i = 0; i < f->npaths; i++)
        unlink(f->path[i]);
    free(f);
    return 0;
}

/* Writes text to a new temporary file; returns its path (owned by f). */
static const char *write_ini(struct fixture *f, const char *text)
{
    char *path;
    int fd;
    size_t len = strlen(text);

    assert_true(f->npaths < 128);
    path = f->path[f->npaths];
    snprintf(path, sizeof(f->path[0]), "/tmp/tessera-config-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f->npaths++;
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    return path;
}

/* Loads from the NULL-terminated argv (argv[0] included); frees an earlier load first. */
static int load_argv(struct fixture *f, char **argv)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    master_config_free(&f->cfg);
    f->err[0] = '\0';
    return master_config_load(&f->cfg, argc, argv, f->err, sizeof(f->err));
}

#define LOAD(f, ...) load_argv(f, (char *[]){"tesserad", __VA_ARGS__, NULL})
#define LOAD0(f) load_argv(f, (char *[]){"tesserad", NULL})

static int validate(struct fixture *f)
{
    f->err[0] = '\0';
    return master_config_validate(&f->cfg, f->err, sizeof(f->err));
}

/* Asserts that the last load or validate failed with exactly the message msg. */
static void assert_err(struct fixture *f, int rc, const char *msg)
{
    assert_int_equal(rc, -1);
    assert_string_equal(f->err, msg);
}

/* Loads a file holding text and expects the error "config PATH:LINE: msg". */
static void expect_file_error(struct fixture *f, const char *text, int line, const char *msg)
{
    const char *path = write_ini(f, text);
    char want[512];
    int rc = LOAD(f, "--config", (char *)path);

    snprintf(want, sizeof(want), "config %s:%d: %s", path, line, msg);
    assert_err(f, rc, want);
}

static void assert_list(const struct master_strlist *l, size_t n, ...)
{
    va_list ap;

    assert_int_equal(l->n, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->v[i], va_arg(ap, const char *));
    va_end(ap);
}

/* ---- defaults ----------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;

    assert_int_equal(LOAD0(f), 0);
    assert_false(c->dev);
    assert_false(c->test_config);
    assert_false(c->show_help);
    assert_false(c->show_version);
    assert_null(c->config_file);
    assert_int_equal(c->listen.n, 0);
    assert_int_equal(c->listen_plain.n, 0);
    assert_int_equal(c->workers, 0);
    assert_string_equal(c->data_dir, "/var/lib/tessera");
    assert_null(c->issuer);
    assert_true(c->reuseport);
    assert_int_equal(c->drain_timeout, 10);
    assert_null(c->tls_certificate);
    assert_null(c->tls_private_key);
    assert_string_equal(c->tls_min_version, "1.2");
    assert_int_equal(c->limits.header_bytes, 8192);
    assert_int_equal(c->limits.body_bytes, 16384);
    assert_int_equal(c->limits.headers, 64);
    assert_int_equal(c->header_timeout, 10);
    assert_int_equal(c->idle_timeout, 60);
    assert_int_equal(c->max_connections, 10000);
    assert_int_equal(c->max_connections_per_address, 512);
    assert_int_equal(c->auth_failures_per_client_address, 10);
    assert_int_equal(c->auth_failures_per_address, 200);
    assert_int_equal(c->auth_failures_per_client, 20);
    assert_int_equal(c->tokens_capacity, 1000000);
    assert_int_equal(c->tokens_interned_strings, 65536);
    assert_int_equal(c->tokens_sweep_interval, 10);
    assert_int_equal(c->clients_capacity, 100000);
    assert_int_equal(c->dpop_replay_capacity, 100000);
    assert_null(c->admin_token_file);
    assert_string_equal(c->log_level, "info");
    /* nothing to listen on without --dev, a file or a flag */
    assert_err(f, validate(f), "no listener: set [server] listen or --listen (or use --dev)");
}

static void test_dev_defaults(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;

    assert_int_equal(LOAD(f, "--dev"), 0);
    assert_true(c->dev);
    assert_list(&c->listen, 1, "127.0.0.1:8443");
    assert_int_equal(c->listen_plain.n, 0);
    assert_string_equal(c->data_dir, "./tessera-dev");
    /* keys without a --dev default keep the built-in one */
    assert_int_equal(c->workers, 0);
    assert_true(c->reuseport);
    assert_int_equal(c->limits.header_bytes, 8192);
    assert_string_equal(c->log_level, "info");
    /* the certificate and the admin token are derived from data_dir by validate */
    assert_null(c->tls_certificate);
    assert_null(c->tls_private_key);
    assert_null(c->admin_token_file);
    assert_int_equal(validate(f), 0);
    assert_string_equal(c->tls_certificate, "./tessera-dev/dev-cert.pem");
    assert_string_equal(c->tls_private_key, "./tessera-dev/dev-key.pem");
    assert_string_equal(c->admin_token_file, "./tessera-dev/admin.token");
}

static void test_dev_paths_follow_data_dir(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    assert_int_equal(LOAD(f, "--data-dir", "/srv/t", "--dev"), 0);
    assert_int_equal(validate(f), 0);
    assert_string_equal(c->data_dir, "/srv/t");
    assert_string_equal(c->tls_certificate, "/srv/t/dev-cert.pem");
    assert_string_equal(c->tls_private_key, "/srv/t/dev-key.pem");
    assert_string_equal(c->admin_token_file, "/srv/t/admin.token");

    path = write_ini(f, "[server]\ndata_dir = /var/t\n");
    assert_int_equal(LOAD(f, "--dev", "--config", (char *)path), 0);
    assert_int_equal(validate(f), 0);
    assert_string_equal(c->tls_certificate, "/var/t/dev-cert.pem");
    assert_string_equal(c->admin_token_file, "/var/t/admin.token");
}

static void test_dev_keeps_configured_tls(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    path = write_ini(f, "[tls]\ncertificate = /etc/c.pem\nprivate_key = /etc/k.pem\n"
                        "[admin]\ntoken_file = /etc/admin\n");
    assert_int_equal(LOAD(f, "--dev", "--config", (char *)path), 0);
    assert_int_equal(validate(f), 0);
    assert_string_equal(c->tls_certificate, "/etc/c.pem");
    assert_string_equal(c->tls_private_key, "/etc/k.pem");
    assert_string_equal(c->admin_token_file, "/etc/admin");

    /* half a pair is not completed from data_dir */
    path = write_ini(f, "[tls]\ncertificate = /etc/c.pem\n");
    assert_int_equal(LOAD(f, "--dev", "--config", (char *)path), 0);
    assert_err(f, validate(f),
               "TLS listener without a certificate: set [tls] certificate and [tls] private_key");
}

/* ---- layers ------------------------------------------------------------------------- */

static void test_file_overrides_dev(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    path = write_ini(f, "[server]\n"
                        "listen = 0.0.0.0:9443\n"
                        "data_dir = /srv/tessera\n"
                        "workers = 3\n");
    assert_int_equal(LOAD(f, "--dev", "--config", (char *)path), 0);
    assert_list(&c->listen, 1, "0.0.0.0:9443"); /* replaced, not appended to --dev's */
    assert_string_equal(c->data_dir, "/srv/tessera");
    assert_int_equal(c->workers, 3);
    assert_string_equal(c->config_file, path);
}

static void test_file_listen_lines_append(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    path = write_ini(f, "[server]\n"
                        "listen = 127.0.0.1:1\n"
                        "listen_plain = 127.0.0.1:80\n"
                        "listen = [::1]:2\n");
    assert_int_equal(LOAD(f, "--config", (char *)path), 0);
    assert_list(&c->listen, 2, "127.0.0.1:1", "[::1]:2");
    assert_list(&c->listen_plain, 1, "127.0.0.1:80");
}

static void test_flags_override_file(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    path = write_ini(f, "[server]\n"
                        "listen = 127.0.0.1:1\n"
                        "listen = 127.0.0.1:2\n"
                        "listen_plain = 127.0.0.1:3\n"
                        "workers = 4\n"
                        "data_dir = /from/file\n"
                        "[limits]\n"
                        "idle_timeout = 5\n");
    /* flags win wherever they stand relative to --config */
    assert_int_equal(LOAD(f, "--workers", "8", "--config", (char *)path, "--listen", "10.0.0.1:443",
                          "--data-dir=/from/flag"),
                     0);
    assert_int_equal(c->workers, 8);
    assert_string_equal(c->data_dir, "/from/flag");
    assert_list(&c->listen, 1, "10.0.0.1:443"); /* the flag replaces the file's list */
    assert_list(&c->listen_plain, 1, "127.0.0.1:3");
    assert_int_equal(c->idle_timeout, 5); /* no flag: the file's value stays */
}

static void test_repeated_listen_flags(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;

    assert_int_equal(LOAD(f, "--listen", "127.0.0.1:1", "--listen=[::1]:2", "--dev",
                          "--listen-plain", "127.0.0.1:80", "--listen", "0.0.0.0:3"),
                     0);
    assert_list(&c->listen, 3, "127.0.0.1:1", "[::1]:2", "0.0.0.0:3");
    assert_list(&c->listen_plain, 1, "127.0.0.1:80");
}

static void test_listen_max(void **state)
{
    struct fixture *f = *state;
    char *argv[2 + 2 * (MASTER_LISTEN_MAX + 1)];
    char addr[MASTER_LISTEN_MAX + 1][32];
    int argc = 1;

    argv[0] = "tesserad";
    for (int i = 0; i < MASTER_LISTEN_MAX; i++) {
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", 1000 + i);
        argv[argc++] = "--listen";
        argv[argc++] = addr[i];
    }
    argv[argc] = NULL;
    assert_int_equal(load_argv(f, argv), 0);
    assert_int_equal(f->cfg.listen.n, MASTER_LISTEN_MAX);
    assert_string_equal(f->cfg.listen.v[MASTER_LISTEN_MAX - 1], "127.0.0.1:1015");
    snprintf(addr[MASTER_LISTEN_MAX], sizeof(addr[0]), "127.0.0.1:2000");
    argv[argc++] = "--listen";
    argv[argc++] = addr[MASTER_LISTEN_MAX];
    argv[argc] = NULL;
    assert_err(f, load_argv(f, argv), "--listen: more than 16 addresses");
}

/* ---- flags -------------------------------------------------------------------------- */

static void test_action_flags(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;

    assert_int_equal(LOAD(f, "--help"), 0);
    assert_true(c->show_help);
    assert_false(c->show_version);
    assert_int_equal(LOAD(f, "--version"), 0);
    assert_true(c->show_version);
    assert_false(c->show_help);
    assert_int_equal(LOAD(f, "--test-config", "--dev"), 0);
    assert_true(c->test_config);
    assert_true(c->dev);
    assert_false(c->show_help);
    assert_int_equal(LOAD(f, "--help", "--version"), 0);
    assert_true(c->show_help);
    assert_true(c->show_version);
    assert_non_null(strstr(master_config_usage(), "--listen HOST:PORT"));
    assert_int_equal(strncmp(master_config_usage(), "usage: tesserad ", 16), 0);
}

static void test_flag_errors(void **state)
{
    struct fixture *f = *state;

    assert_err(f, LOAD(f, "--bogus"), "unknown flag '--bogus' (see --help)");
    assert_err(f, LOAD(f, "--dev", "--bogus=1"), "unknown flag '--bogus=1' (see --help)");
    assert_err(f, LOAD(f, "--dev=1"), "--dev takes no value");
    assert_err(f, LOAD(f, "--help=yes"), "--help takes no value");
    assert_err(f, LOAD(f, "-x"), "unknown flag '-x' (see --help)");
    assert_err(f, LOAD(f, "--dev", "-xy"), "unknown flag '-x' (see --help)");
    assert_err(f, LOAD(f, "--listen"), "--listen needs a value");
    assert_err(f, LOAD(f, "--dev", "--config"), "--config needs a value");
    assert_err(f, LOAD(f, "--workers"), "--workers needs a value");
    assert_err(f, LOAD(f, "--dev", "extra"), "unexpected argument 'extra' (see --help)");
    assert_err(f, LOAD(f, "--workers", "257"),
               "--workers: '257' is not a whole number from 0 to 256");
    assert_err(f, LOAD(f, "--workers", "-1"),
               "--workers: '-1' is not a whole number from 0 to 256");
    assert_err(f, LOAD(f, "--workers", "4x"),
               "--workers: '4x' is not a whole number from 0 to 256");
    assert_err(f, LOAD(f, "--workers="), "--workers: '' is not a whole number from 0 to 256");
    assert_err(f, LOAD(f, "--workers", "99999999999999999999"),
               "--workers: '99999999999999999999' is not a whole number from 0 to 256");
    assert_err(f, LOAD(f, "--data-dir="), "--data-dir: empty value");
    assert_err(f, LOAD(f, "--config", "/nonexistent/tessera.ini"),
               "config /nonexistent/tessera.ini: cannot open: No such file or directory");
    /* the flags are checked before the file is read */
    assert_err(f, LOAD(f, "--config", "/nonexistent/tessera.ini", "--bogus"),
               "unknown flag '--bogus' (see --help)");
}

/* getopt_long keeps state between calls; every load must start afresh, even after a
 * failed one stopped in the middle of "-xy". */
static void test_reload_after_error(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(LOAD(f, "-xy"), -1);
    assert_int_equal(LOAD(f, "--dev"), 0);
    assert_true(f->cfg.dev);
    assert_int_equal(LOAD(f, "--workers", "x"), -1);
    assert_int_equal(LOAD(f, "--workers", "2"), 0);
    assert_int_equal(f->cfg.workers, 2);
    assert_false(f->cfg.dev); /* nothing carried over from the earlier load */
    assert_int_equal(LOAD0(f), 0);
    assert_int_equal(f->cfg.workers, 0);
}

/* ---- the INI file ------------------------------------------------------------------- */

static void test_file_all_keys(void **state)
{
    struct fixture *f = *state;
    const struct master_config *c = &f->cfg;
    const char *path;

    path = write_ini(f, "; tessera configuration\n"
                        "# both comment styles\n"
                        "[server]\n"
                        "listen = 127.0.0.1:8443\n"
                        "listen_plain=127.0.0.1:8080\n"
                        "workers = 2\n"
                        "data_dir = /var/lib/t\n"
                        "issuer = https://auth.example.com\n"
                        "reuseport = no\n"
                        "drain_timeout = 30\n"
                        "\n"
                        "[tls]\n"
                        "certificate = /etc/t/cert.pem\n"
                        "private_key = /etc/t/key.pem\n"
                        "min_version = 1.3\n"
                        "[limits]\n"
                        "header_bytes = 4096\n"
                        "body_bytes = 2048\n"
                        "headers = 32\n"
                        "header_timeout = 5\n"
                        "idle_timeout = 120\n"
                        "max_connections = 500\n"
                        "[admin]\n"
                        "token_file = /etc/t/admin.token\n"
                        "[log]\n"
                        "level = debug\n");
    assert_int_equal(LOAD(f, "--config", (char *)path), 0);
    assert_false(c->dev);
    assert_list(&c->listen, 1, "127.0.0.1:8443");
    assert_list(&c->listen_plain, 1, "127.0.0.1:8080");
    assert_int_equal(c->workers, 2);
    assert_string_equal(c->data_dir, "/var/lib/t");
    assert_string_equal(c->issuer, "https://auth.example.com");
    assert_false(c->reuseport);
    assert_int_equal(c->drain_timeout, 30);
    assert_string_equal(c->tls_certificate, "/etc/t/cert.pem");
    assert_string_equal(c->tls_private_key, "/etc/t/key.pem");
    assert_string_equal(c->tls_min_version, "1.3");
    assert_int_equal(c->limits.header_bytes, 4096);
    assert_int_equal(c->limits.body_bytes, 2048);
    assert_int_equal(c->limits.headers, 32);
    assert_int_equal(c->header_timeout, 5);
    assert_int_equal(c->idle_timeout, 120);
    assert_int_equal(c->max_connections, 500);
    assert_string_equal(c->admin_token_file, "/etc/t/admin.token");
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(validate(f), 0);
    assert_string_equal(c->tls_certificate, "/etc/t/cert.pem");
}

static void test_file_booleans(void **state)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true},   {"yes", true}, {"on", true},   {"1", true},
        {"false", false}, {"no", false}, {"off", false}, {"0", false},
    };
    struct fixture *f = *state;
    char text[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "[server]\nreuseport = %s\n", cases[i].text);
        assert_int_equal(LOAD(f, "--config", (char *)write_ini(f, text)), 0);
        assert_int_equal(f->cfg.reuseport, cases[i].value);
    }
    expect_file_error(f, "[server]\nreuseport = maybe\n", 2,
                      "[server] reuseport: 'maybe' is not a boolean (true or false)");
    expect_file_error(f, "[server]\n\nreuseport = 2\n", 3,
                      "[server] reuseport: '2' is not a boolean (true or false)");
}

/* Each number key: its minimum and maximum load, one past either side is refused with a
 * message naming the key and the range. */
static void test_file_uint_ranges(void **state)
{
    static const struct {
        const char *section, *name;
        uint32_t min, max;
        size_t offset;
    } keys[] = {
        {"server", "workers", 0, 256, offsetof(struct master_config, workers)},
        {"server", "drain_timeout", 1, 3600, offsetof(struct master_config, drain_timeout)},
        {"limits", "header_bytes", 1024, 65536,
         offsetof(struct master_config, limits.header_bytes)},
        {"limits", "body_bytes", 1024, 1048576, offsetof(struct master_config, limits.body_bytes)},
        {"limits", "headers", 8, 128, offsetof(struct master_config, limits.headers)},
        {"limits", "header_timeout", 1, 600, offsetof(struct master_config, header_timeout)},
        {"limits", "idle_timeout", 1, 3600, offsetof(struct master_config, idle_timeout)},
        {"limits", "max_connections", 1, 1000000, offsetof(struct master_config, max_connections)},
        {"limits", "max_connections_per_address", 0, 1000000,
         offsetof(struct master_config, max_connections_per_address)},
        {"limits", "auth_failures_per_client_address", 1, 1000000,
         offsetof(struct master_config, auth_failures_per_client_address)},
        {"limits", "auth_failures_per_address", 1, 1000000,
         offsetof(struct master_config, auth_failures_per_address)},
        {"limits", "auth_failures_per_client", 1, 1000000,
         offsetof(struct master_config, auth_failures_per_client)},
        {"tokens", "capacity", 1000, 200000000, offsetof(struct master_config, tokens_capacity)},
        {"tokens", "interned_strings", 64, 10000000,
         offsetof(struct master_config, tokens_interned_strings)},
        {"tokens", "sweep_interval", 1, 3600,
         offsetof(struct master_config, tokens_sweep_interval)},
        {"clients", "capacity", 10, 10000000, offsetof(struct master_config, clients_capacity)},
        {"dpop", "replay_capacity", 100, 100000000,
         offsetof(struct master_config, dpop_replay_capacity)},
    };
    struct fixture *f = *state;
    char text[128], msg[256], bad[32];

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const uint32_t good[2] = {keys[i].min, keys[i].max};

        for (int j = 0; j < 2; j++) {
            snprintf(text, sizeof(text), "[%s]\n%s = %u\n", keys[i].section, keys[i].name, good[j]);
            assert_int_equal(LOAD(f, "--config", (char *)write_ini(f, text)), 0);
            assert_int_equal(*(uint32_t *)((char *)&f->cfg + keys[i].offset), good[j]);
        }
        for (int j = 0; j < 3; j++) {
            if (j == 0)
                snprintf(bad, sizeof(bad), "%ld", (long)keys[i].min - 1);
            else if (j == 1)
                snprintf(bad, sizeof(bad), "%lu", (unsigned long)keys[i].max + 1);
            else
                snprintf(bad, sizeof(bad), "%s", "ten");
            snprintf(text, sizeof(text), "[%s]\n%s = %s\n", keys[i].section, keys[i].name, bad);
            snprintf(msg, sizeof(msg), "[%s] %s: '%s' is not a whole number from %u to %u",
                     keys[i].section, keys[i].name, bad, keys[i].min, keys[i].max);
            expect_file_error(f, text, 2, msg);
        }
    }
}

static void test_file_errors(void **state)
{
    struct fixture *f = *state;

    expect_file_error(f, "[server]\nlisten = 127.0.0.1:1\nbogus = 1\n", 3,
                      "unknown key 'bogus' in section [server]");
    expect_file_error(f, "[limits]\nlisten = 127.0.0.1:1\n", 2,
                      "unknown key 'listen' in section [limits]");
    expect_file_error(f, "[nope]\nworkers = 1\n", 2, "unknown key 'workers' in section [nope]");
    expect_file_error(f, "workers = 1\n", 1, "unknown key 'workers' in section []");
}

static void test_file_errors_2(void **state)
{
    struct fixture *f = *state;

    expect_file_error(f, "[server]\ndata_dir =\n", 2, "[server] data_dir: empty value");
    expect_file_error(f, "[tls]\ncertificate = \n", 2, "[tls] certificate: empty value");
    expect_file_error(f, "[server]\nthis is not ini\n", 2, "not 'key = value' or '[section]'");
    expect_file_error(f, "[server\nworkers = 1\n", 1, "not 'key = value' or '[section]'");
}

/* A line inih would split in two is refused rather than misread. */
static void test_file_long_line(void **state)
{
    struct fixture *f = *state;
    char text[512];
    int n;

    /* 199 characters before the newline fit */
    n = snprintf(text, sizeof(text), "[server]\ndata_dir = /");
    memset(text + n, 'd', 199 - 12);
    snprintf(text + n + 187, sizeof(text) - (size_t)n - 187, "\nworkers = 3\n");
    assert_int_equal(LOAD(f, "--config", (char *)write_ini(f, text)), 0);
    assert_int_equal(strlen(f->cfg.data_dir), 188);
    assert_int_equal(f->cfg.workers, 3);
    /* 200 do not */
    memset(text + n, 'd', 200 - 12);
    snprintf(text + n + 188, sizeof(text) - (size_t)n - 188, "\nworkers = 3\n");
    expect_file_error(f, text, 2, "line longer than 199 characters");
}

static void test_file_unreadable(void **state)
{
    struct fixture *f = *state;

    assert_err(f, LOAD(f, "--config", "/nonexistent/tessera.ini"),
               "config /nonexistent/tessera.ini: cannot open: No such file or directory");
    assert_err(f, LOAD(f, "--config", "/"), "config /: cannot read: Is a directory");
}

/* With several mistakes, the first one is reported, with its own line. */
static void test_file_first_error_wins(void **state)
{
    struct fixture *f = *state;

    expect_file_error(f, "[server]\nworkers = 1000\nbogus = 1\n", 2,
                      "[server] workers: '1000' is not a whole number from 0 to 256");
    expect_file_error(f, "[server]\nbogus = 1\n[limits]\nheaders = 1\n", 2,
                      "unknown key 'bogus' in section [server]");
    expect_file_error(f, "[server]\nnot ini at all\nbogus = 1\n", 2,
                      "not 'key = value' or '[section]'");
}

/* ---- validate ----------------------------------------------------------------------- */

static void test_validate_listen(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(LOAD(f, "--dev", "--listen", "nohost"), 0);
    assert_err(f, validate(f), "listen 'nohost': expected HOST:PORT");
    assert_int_equal(LOAD(f, "--dev", "--listen", "127.0.0.1:1", "--listen", "::1:8443"), 0);
    assert_err(f, validate(f), "listen '::1:8443': write IPv6 addresses in brackets: [::1]:PORT");
    assert_int_equal(LOAD(f, "--dev", "--listen-plain", "127.0.0.1:0"), 0);
    assert_err(f, validate(f), "listen_plain '127.0.0.1:0': port must be a number from 1 to 65535");
    assert_int_equal(LOAD(f, "--listen", ":443"), 0);
    assert_err(f, validate(f),
               "listen ':443': missing host (use 0.0.0.0 or [::] for every address)");
}

static void test_validate_listeners(void **state)
{
    struct fixture *f = *state;
    const char *path;

    /* a plain listener needs no certificate */
    assert_int_equal(LOAD(f, "--listen-plain", "127.0.0.1:8080"), 0);
    assert_int_equal(validate(f), 0);
    assert_null(f->cfg.tls_certificate);
    assert_null(f->cfg.admin_token_file);
    /* a TLS listener does */
    assert_int_equal(LOAD(f, "--listen", "127.0.0.1:8443"), 0);
    assert_err(f, validate(f),
               "TLS listener without a certificate: set [tls] certificate and [tls] private_key");
    path = write_ini(f, "[tls]\ncertificate = /c\nprivate_key = /k\n");
    assert_int_equal(LOAD(f, "--listen", "127.0.0.1:8443", "--config", (char *)path), 0);
    assert_int_equal(validate(f), 0);
    assert_int_equal(LOAD(f, "--config", (char *)path), 0);
    assert_err(f, validate(f), "no listener: set [server] listen or --listen (or use --dev)");
}

static void test_validate_tls_min_version(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        LOAD(f, "--dev", "--config", (char *)write_ini(f, "[tls]\nmin_version = 1.1\n")), 0);
    assert_err(f, validate(f), "[tls] min_version '1.1': must be 1.2 or 1.3");
    assert_int_equal(
        LOAD(f, "--dev", "--config", (char *)write_ini(f, "[tls]\nmin_version = 1.3\n")), 0);
    assert_int_equal(validate(f), 0);
    assert_int_equal(
        LOAD(f, "--dev", "--config", (char *)write_ini(f, "[tls]\nmin_version = TLSv1.2\n")), 0);
    assert_err(f, validate(f), "[tls] min_version 'TLSv1.2': must be 1.2 or 1.3");
}

static void test_validate_log_level(void **state)
{
    static const char *const good[] = {"debug", "info", "warn", "error"};
    struct fixture *f = *state;
    char text[64];

    for (size_t i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), "[log]\nlevel = %s\n", good[i]);
        assert_int_equal(LOAD(f, "--dev", "--config", (char *)write_ini(f, text)), 0);
        assert_int_equal(validate(f), 0);
        assert_string_equal(f->cfg.log_level, good[i]);
    }
    assert_int_equal(LOAD(f, "--dev", "--config", (char *)write_ini(f, "[log]\nlevel = verbose\n")),
                     0);
    assert_err(f, validate(f), "[log] level 'verbose': must be debug, info, warn or error");
}

static void test_free_twice(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(LOAD(f, "--dev", "--listen", "127.0.0.1:1"), 0);
    assert_int_equal(validate(f), 0);
    master_config_free(&f->cfg);
    assert_null(f->cfg.data_dir);
    assert_int_equal(f->cfg.listen.n, 0);
    master_config_free(&f->cfg);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_dev_defaults),
        T(test_dev_paths_follow_data_dir),
        T(test_dev_keeps_configured_tls),
        T(test_file_overrides_dev),
        T(test_file_listen_lines_append),
        T(test_flags_override_file),
        T(test_repeated_listen_flags),
        T(test_listen_max),
        T(test_action_flags),
        T(test_flag_errors),
        T(test_reload_after_error),
        T(test_file_all_keys),
        T(test_file_booleans),
        T(test_file_uint_ranges),
        T(test_file_errors),
        T(test_file_errors_2),
        T(test_file_first_error_wins),
        T(test_file_long_line),
        T(test_file_unreadable),
        T(test_validate_listen),
        T(test_validate_listeners),
        T(test_validate_tls_min_version),
        T(test_validate_log_level),
        T(test_free_twice),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
