/*
 * Configuration loading for tesserad: one table of keys {section, name, type, min, max,
 * default}, filled in layers (defaults, --dev, INI file via inih, flags).  Runs in the
 * master before anything is bound or forked; every error names the flag or key.
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/config.h"
#include "master/listen.h"
#include "store/writer.h"

enum cfg_type { CFG_STR, CFG_UINT, CFG_BOOL, CFG_LIST };

enum cfg_layer { LAYER_DEFAULT, LAYER_DEV, LAYER_FILE, LAYER_FLAG };

struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t offset;
    uint32_t min, max;
    const char *def; /* NULL: unset */
    const char *dev; /* the --dev default, NULL: same as def */
};

#define OFF(f) offsetof(struct master_config, f)

static const struct cfg_key cfg_keys[] = {
    {"server", "listen", CFG_LIST, OFF(listen), 0, 0, NULL, "127.0.0.1:8443"},
    {"server", "listen_plain", CFG_LIST, OFF(listen_plain), 0, 0, NULL, NULL},
    {"server", "workers", CFG_UINT, OFF(workers), 0, 256, "0", NULL},
    {"server", "data_dir", CFG_STR, OFF(data_dir), 0, 0, "/var/lib/tessera", "./tessera-dev"},
    {"server", "issuer", CFG_STR, OFF(issuer), 0, 0, NULL, NULL},
    {"server", "scopes_supported", CFG_STR, OFF(scopes_supported), 0, 0, NULL, NULL},
    {"server", "reuseport", CFG_BOOL, OFF(reuseport), 0, 0, "true", NULL},
    {"server", "drain_timeout", CFG_UINT, OFF(drain_timeout), 1, 3600, "10", NULL},
    {"tls", "certificate", CFG_STR, OFF(tls_certificate), 0, 0, NULL, NULL},
    {"tls", "private_key", CFG_STR, OFF(tls_private_key), 0, 0, NULL, NULL},
    {"tls", "min_version", CFG_STR, OFF(tls_min_version), 0, 0, "1.2", NULL},
    {"limits", "header_bytes", CFG_UINT, OFF(limits.header_bytes), 1024, 65536, "8192", NULL},
    {"limits", "body_bytes", CFG_UINT, OFF(limits.body_bytes), 1024, 1048576, "16384", NULL},
    {"limits", "headers", CFG_UINT, OFF(limits.headers), 8, PROTO_HTTP_HEADERS_MAX, "64", NULL},
    {"limits", "header_timeout", CFG_UINT, OFF(header_timeout), 1, 600, "10", NULL},
    {"limits", "idle_timeout", CFG_UINT, OFF(idle_timeout), 1, 3600, "60", NULL},
    {"limits", "auth_failures_per_client_address", CFG_UINT, OFF(auth_failures_per_client_address),
     1, 1000000, "10", NULL},
    {"limits", "auth_failures_per_client", CFG_UINT, OFF(auth_failures_per_client), 1, 1000000,
     "20", NULL},
    {"limits", "auth_failures_per_address", CFG_UINT, OFF(auth_failures_per_address), 1, 1000000,
     "200", NULL},
    {"limits", "max_connections", CFG_UINT, OFF(max_connections), 1, 1000000, "10000", NULL},
    {"limits", "max_connections_per_address", CFG_UINT, OFF(max_connections_per_address), 0,
     1000000, "512", NULL},
    {"tokens", "capacity", CFG_UINT, OFF(tokens_capacity), 1000, 200000000, "1000000", NULL},
    {"tokens", "interned_strings", CFG_UINT, OFF(tokens_interned_strings), 64, 10000000, "65536",
     NULL},
    {"tokens", "prefault", CFG_BOOL, OFF(tokens_prefault), 0, 0, "false", NULL},
    {"tokens", "sweep_interval", CFG_UINT, OFF(tokens_sweep_interval), 1, 3600, "10", NULL},
    {"tokens", "access_ttl", CFG_UINT, OFF(tokens_access_ttl), 1, 31536000, "3600", NULL},
    {"tokens", "refresh_ttl", CFG_UINT, OFF(tokens_refresh_ttl), 60, 315360000, "2592000", NULL},
    {"tokens", "max_access_ttl", CFG_UINT, OFF(tokens_max_access_ttl), 60, 31536000, "86400", NULL},
    {"tokens", "jwt_verify_unknown", CFG_BOOL, OFF(tokens_jwt_verify_unknown), 0, 0, "false", NULL},
    {"tokens", "max_live_per_client", CFG_UINT, OFF(tokens_max_live_per_client), 0, 200000000, "0",
     NULL},
    {"tokens", "limit_policy", CFG_STR, OFF(tokens_limit_policy), 0, 0, "evict", NULL},
    {"clients", "capacity", CFG_UINT, OFF(clients_capacity), 10, 10000000, "100000", NULL},
    {"dpop", "replay_capacity", CFG_UINT, OFF(dpop_replay_capacity), 100, 100000000, "100000",
     NULL},
    {"store", "sync", CFG_STR, OFF(store_sync), 0, 0, "batch", NULL},
    {"store", "segment_size", CFG_UINT, OFF(store_segment_mb), 1, 4096, "64", NULL},
    {"store", "apply_interval_ms", CFG_UINT, OFF(store_apply_interval_ms), 1, 60000, "20", NULL},
    {"store", "purge_interval", CFG_UINT, OFF(store_purge_interval), 1, 86400, "60", NULL},
    {"admin", "token_file", CFG_STR, OFF(admin_token_file), 0, 0, NULL, NULL},
    {"log", "level", CFG_STR, OFF(log_level), 0, 0, "info", NULL},
};

#define NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static int cfg_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const struct cfg_key *cfg_find(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

static int cfg_parse_uint(const struct cfg_key *k, const char *v, uint32_t *out, char *err,
                          size_t errlen)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno || n < k->min || n > k->max)
        return cfg_fail(err, errlen, "'%s' is not a whole number from %u to %u", v, k->min, k->max);
    *out = (uint32_t)n;
    return 0;
}

static int cfg_parse_bool(const char *v, bool *out, char *err, size_t errlen)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return cfg_fail(err, errlen, "'%s' is not a boolean (true or false)", v);
    return 0;
}

static int cfg_list_add(struct master_strlist *l, const char *v, int layer, char *err,
                        size_t errlen)
{
    if (l->layer < layer) {
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
        l->n = 0;
        l->layer = layer;
    }
    if (l->n == MASTER_LISTEN_MAX)
        return cfg_fail(err, errlen, "more than %d addresses", MASTER_LISTEN_MAX);
    l->v[l->n++] = strdup(v);
    return 0;
}

/* Sets key k from text v at the given layer; the message in err lacks the key's name. */
static int cfg_set(struct master_config *cfg, const struct cfg_key *k, const char *v, int layer,
                   char *err, size_t errlen)
{
    void *field = (char *)cfg + k->offset;

    switch (k->type) {
    case CFG_STR:
        if (*v == '\0')
            return cfg_fail(err, errlen, "empty value");
        free(*(char **)field);
        *(char **)field = strdup(v);
        return 0;
    case CFG_UINT:
        return cfg_parse_uint(k, v, field, err, errlen);
    case CFG_BOOL:
        return cfg_parse_bool(v, field, err, errlen);
    case CFG_LIST:
        return cfg_list_add(field, v, layer, err, errlen);
    }
    return -1;
}

static void cfg_apply_defaults(struct master_config *cfg, int layer)
{
    char err[128];

    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = layer == LAYER_DEV ? cfg_keys[i].dev : cfg_keys[i].def;

        if (v && cfg_set(cfg, &cfg_keys[i], v, layer, err, sizeof(err)) < 0)
            abort(); /* a default that does not parse is a bug in the table */
    }
}

struct cfg_file_ctx {
    struct master_config *cfg;
    FILE *f;
    int line;     /* lines read so far: the line inih is working on */
    int bad_line; /* the first line the handler refused, 0: none */
    int too_long; /* a line longer than inih's buffer, 0: none */
    int max;      /* the longest line inih takes */
    int read_errno;
    char msg[192]; /* why bad_line was refused */
};

/* inih's reader: fgets() that counts lines, since inih does not tell its handler where
 * it is, and stops at a line inih's buffer would split in two (the pieces would parse as
 * two lines, the second one misread). */
static char *cfg_file_read(char *str, int num, void *stream)
{
    struct cfg_file_ctx *fc = stream;
    size_t n;
    int ch;

    if (fc->too_long)
        return NULL;
    if (fgets(str, num, fc->f) == NULL) {
        fc->read_errno = ferror(fc->f) ? errno : 0;
        return NULL;
    }
    fc->line++;
    n = strlen(str);
    if (n && str[n - 1] != '\n' && (ch = getc(fc->f)) != EOF && ch != '\n') {
        fc->too_long = fc->line;
        fc->max = num - 1;
        return NULL;
    }
    return str;
}

/* inih's callback: returns 0 (inih reports the line) for a bad key; the first message is
 * kept, as inih reports the first line. */
static int cfg_file_entry(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_file_ctx *fc = user;
    const struct cfg_key *k = cfg_find(section, name);
    char why[160];

    if (k == NULL) {
        if (fc->bad_line == 0)
            snprintf(fc->msg, sizeof(fc->msg), "unknown key '%s' in section [%s]", name, section);
    } else if (cfg_set(fc->cfg, k, value, LAYER_FILE, why, sizeof(why)) < 0) {
        if (fc->bad_line == 0)
            snprintf(fc->msg, sizeof(fc->msg), "[%s] %s: %s", section, name, why);
    } else {
        return 1;
    }
    if (fc->bad_line == 0)
        fc->bad_line = fc->line;
    return 0;
}

static int cfg_load_file(struct master_config *cfg, const char *path, char *err, size_t errlen)
{
    struct cfg_file_ctx fc = {.cfg = cfg};
    int rc;

    fc.f = fopen(path, "r");
    if (fc.f == NULL)
        return cfg_fail(err, errlen, "config %s: cannot open: %s", path, strerror(errno));
    rc = ini_parse_stream(cfg_file_read, &fc, cfg_file_entry, &fc);
    fclose(fc.f);
    if (fc.read_errno) /* e.g. EISDIR: a directory opens, but does not read */
        return cfg_fail(err, errlen, "config %s: cannot read: %s", path, strerror(fc.read_errno));
    if (rc == -2)
        return cfg_fail(err, errlen, "config %s: out of memory", path);
    if (rc > 0 && rc == fc.bad_line)
        return cfg_fail(err, errlen, "config %s:%d: %s", path, rc, fc.msg);
    if (rc > 0)
        return cfg_fail(err, errlen, "config %s:%d: not 'key = value' or '[section]'", path, rc);
    if (fc.too_long)
        return cfg_fail(err, errlen, "config %s:%d: line longer than %d characters", path,
                        fc.too_long, fc.max);
    return 0;
}

enum {
    OPT_DEV = 256,
    OPT_TEST_CONFIG,
    OPT_VERSION,
    OPT_HELP,
    OPT_CHECK_DATA,
    OPT_BACKUP,
    OPT_CONFIG,
    OPT_DATA_DIR,
    OPT_LISTEN,
    OPT_LISTEN_PLAIN,
    OPT_WORKERS
};

static const struct option cfg_options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"dev", no_argument, NULL, OPT_DEV},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-plain", required_argument, NULL, OPT_LISTEN_PLAIN},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"test-config", no_argument, NULL, OPT_TEST_CONFIG},
    {"check-data", no_argument, NULL, OPT_CHECK_DATA},
    {"backup", required_argument, NULL, OPT_BACKUP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* A flag that sets a key, kept until the file (which flags override) has been read. */
struct cfg_flag {
    const char *flag;
    const struct cfg_key *key;
    const char *value;
};

const char *master_config_usage(void)
{
    return "usage: tesserad [--dev] [--config FILE] [--data-dir DIR] [--listen HOST:PORT]...\n"
           "                [--listen-plain HOST:PORT]... [--workers N] [--test-config]\n"
           "                [--check-data] [--backup DIR] [--version] [--help]\n"
           "\n"
           "  --config FILE            read the INI configuration FILE (see docs/CONFIG.md)\n"
           "  --dev                    development defaults: ./tessera-dev, a self-signed\n"
           "                           certificate, an admin token, 127.0.0.1:8443\n"
           "  --data-dir DIR           keep state in DIR\n"
           "  --listen HOST:PORT       serve HTTPS on HOST:PORT (repeatable; [::1]:PORT for IPv6)\n"
           "  --listen-plain HOST:PORT serve plain HTTP on HOST:PORT (repeatable; off by default)\n"
           "  --workers N              worker processes (default: one per core)\n"
           "  --test-config            check the configuration, bind nothing, exit 0 or 2\n"
           "  --check-data             verify the data directory (log and database), change\n"
           "                           nothing, serve nothing; exit 0, or 2 naming the damage\n"
           "  --backup DIR             copy the data directory into DIR, new or empty, while\n"
           "                           the server runs (or while none does); exit 0 or 1\n"
           "  --version                print the version and exit\n"
           "  --help                   print this text and exit\n";
}

static const struct cfg_key *cfg_flag_key(int opt)
{
    switch (opt) {
    case OPT_DATA_DIR:
        return cfg_find("server", "data_dir");
    case OPT_LISTEN:
        return cfg_find("server", "listen");
    case OPT_LISTEN_PLAIN:
        return cfg_find("server", "listen_plain");
    case OPT_WORKERS:
        return cfg_find("server", "workers");
    default:
        return NULL;
    }
}

/* The message for getopt_long's '?'.  optopt says which case it was: one of our long
 * flags given a value it does not take, a short flag (argv[optind - 1] is then not the
 * flag when it sits inside a cluster like -xy), or 0, an unknown long flag. */
static int cfg_argv_unknown(char **argv, char *err, size_t errlen)
{
    for (const struct option *o = cfg_options; o->name; o++)
        if (optopt != 0 && o->val == optopt)
            return cfg_fail(err, errlen, "--%s takes no value", o->name);
    if (optopt > 0 && optopt < 256)
        return cfg_fail(err, errlen, "unknown flag '-%c' (see --help)", optopt);
    return cfg_fail(err, errlen, "unknown flag '%s' (see --help)", argv[optind - 1]);
}

/* Reads argv into cfg's flags and the list of key-setting flags. */
static int cfg_parse_argv(struct master_config *cfg, int argc, char **argv, struct cfg_flag *flags,
                          size_t *nflags, char *err, size_t errlen)
{
    int opt;

    opterr = 0;
    optind = 0; /* not 1: 0 also drops a half-read "-xy" an earlier call stopped in */
    while ((opt = getopt_long(argc, argv, ":", cfg_options, NULL)) != -1) {
        switch (opt) {
        case OPT_DEV:
            cfg->dev = true;
            break;
        case OPT_TEST_CONFIG:
            cfg->test_config = true;
            break;
        case OPT_CHECK_DATA:
            cfg->check_data = true;
            break;
        case OPT_VERSION:
            cfg->show_version = true;
            break;
        case OPT_HELP:
            cfg->show_help = true;
            break;
        case OPT_CONFIG:
            free(cfg->config_file);
            cfg->config_file = strdup(optarg);
            break;
        case OPT_BACKUP:
            free(cfg->backup_dir);
            cfg->backup_dir = strdup(optarg);
            break;
        case ':':
            return cfg_fail(err, errlen, "%s needs a value", argv[optind - 1]);
        case '?':
            return cfg_argv_unknown(argv, err, errlen);
        default:
            flags[*nflags].key = cfg_flag_key(opt);
            flags[*nflags].value = optarg;
            for (const struct option *o = cfg_options; o->name; o++)
                if (o->val == opt)
                    flags[*nflags].flag = o->name;
            (*nflags)++;
        }
    }
    if (optind < argc)
        return cfg_fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

int master_config_load(struct master_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    struct cfg_flag *flags = calloc((size_t)argc + 1, sizeof(*flags));
    size_t nflags = 0;
    char why[160];
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    if (flags == NULL)
        return cfg_fail(err, errlen, "out of memory");
    if (cfg_parse_argv(cfg, argc, argv, flags, &nflags, err, errlen) < 0)
        goto done;
    cfg_apply_defaults(cfg, LAYER_DEFAULT);
    if (cfg->dev)
        cfg_apply_defaults(cfg, LAYER_DEV);
    if (cfg->config_file && cfg_load_file(cfg, cfg->config_file, err, errlen) < 0)
        goto done;
    for (size_t i = 0; i < nflags; i++) {
        if (cfg_set(cfg, flags[i].key, flags[i].value, LAYER_FLAG, why, sizeof(why)) < 0) {
            cfg_fail(err, errlen, "--%s: %s", flags[i].flag, why);
            goto done;
        }
    }
    rc = 0;
done:
    free(flags);
    return rc;
}

static char *cfg_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int cfg_validate_listen(const struct master_strlist *l, const char *key, char *err,
                               size_t errlen)
{
    char why[128];

    for (size_t i = 0; i < l->n; i++)
        if (master_listen_parse(l->v[i], NULL, 0, NULL, 0, why, sizeof(why)) < 0)
            return cfg_fail(err, errlen, "%s '%s': %s", key, l->v[i], why);
    return 0;
}

int master_config_validate(struct master_config *cfg, char *err, size_t errlen)
{
    if (cfg_validate_listen(&cfg->listen, "listen", err, errlen) < 0 ||
        cfg_validate_listen(&cfg->listen_plain, "listen_plain", err, errlen) < 0)
        return -1;
    if (cfg->listen.n == 0 && cfg->listen_plain.n == 0 && !cfg->check_data)
        return cfg_fail(err, errlen, "no listener: set [server] listen or --listen (or use --dev)");
    if (store_sync_parse(cfg->store_sync) < 0)
        return cfg_fail(err, errlen, "[store] sync: '%s' is not batch, always or off",
                        cfg->store_sync);
    if (strcmp(cfg->tls_min_version, "1.2") && strcmp(cfg->tls_min_version, "1.3"))
        return cfg_fail(err, errlen, "[tls] min_version '%s': must be 1.2 or 1.3",
                        cfg->tls_min_version);
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error"))
        return cfg_fail(err, errlen, "[log] level '%s': must be debug, info, warn or error",
                        cfg->log_level);
    if (strcmp(cfg->tokens_limit_policy, "evict") && strcmp(cfg->tokens_limit_policy, "refuse"))
        return cfg_fail(err, errlen, "[tokens] limit_policy '%s': must be evict or refuse",
                        cfg->tokens_limit_policy);
    if (cfg->tokens_access_ttl > cfg->tokens_max_access_ttl)
        return cfg_fail(err, errlen, "[tokens] access_ttl %u exceeds [tokens] max_access_ttl %u",
                        cfg->tokens_access_ttl, cfg->tokens_max_access_ttl);
    if (cfg->dev && cfg->tls_certificate == NULL && cfg->tls_private_key == NULL) {
        cfg->tls_certificate = cfg_join(cfg->data_dir, "dev-cert.pem");
        cfg->tls_private_key = cfg_join(cfg->data_dir, "dev-key.pem");
    }
    if (cfg->dev && cfg->admin_token_file == NULL)
        cfg->admin_token_file = cfg_join(cfg->data_dir, "admin.token");
    if (cfg->listen.n && (cfg->tls_certificate == NULL || cfg->tls_private_key == NULL))
        return cfg_fail(err, errlen,
                        "TLS listener without a certificate: set [tls] certificate and "
                        "[tls] private_key");
    return 0;
}

void master_config_free(struct master_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        void *field = (char *)cfg + cfg_keys[i].offset;

        if (cfg_keys[i].type == CFG_STR) {
            free(*(char **)field);
        } else if (cfg_keys[i].type == CFG_LIST) {
            struct master_strlist *l = field;

            for (size_t j = 0; j < l->n; j++)
                free(l->v[j]);
        }
    }
    free(cfg->config_file);
    free(cfg->backup_dir);
    memset(cfg, 0, sizeof(*cfg));
}
