/*
 * tesserad's configuration: built-in defaults, then --dev defaults, then the INI file,
 * then command-line flags, each layer overriding the one before key by key.  The table
 * in config.c is the single list of keys; docs/CONFIG.md documents each one.
 */
#ifndef MASTER_CONFIG_H
#define MASTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http/http.h"

#define MASTER_LISTEN_MAX 16

struct master_strlist {
    char *v[MASTER_LISTEN_MAX];
    size_t n;
    int layer; /* the layer that set these values; a later layer replaces them */
};

struct master_config {
    /* what to do */
    bool dev;
    bool test_config;
    bool check_data;
    bool show_help;
    bool show_version;
    char *config_file;
    char *backup_dir; /* --backup DIR: back the data directory up into DIR and exit */

    /* [server] */
    struct master_strlist listen;
    struct master_strlist listen_plain;
    uint32_t workers; /* 0: one per core */
    char *data_dir;
    char *issuer;
    char *scopes_supported; /* space-delimited, published in the metadata */
    bool reuseport;
    uint32_t drain_timeout; /* seconds */

    /* [tls] */
    char *tls_certificate;
    char *tls_private_key;
    char *tls_min_version;

    /* [limits] */
    struct proto_limits limits;
    uint32_t header_timeout; /* seconds */
    uint32_t idle_timeout;   /* seconds */
    uint32_t max_connections;
    uint32_t max_connections_per_address;      /* all workers together; 0: no limit */
    uint32_t auth_failures_per_client_address; /* a minute, one client id from one address */
    uint32_t auth_failures_per_address;        /* a minute, one address */
    uint32_t auth_failures_per_client;         /* a minute, one client id: chosen secrets */

    /* [tokens], [clients], [dpop]: shared-memory table sizes */
    uint32_t tokens_capacity;
    uint32_t tokens_interned_strings;
    uint32_t tokens_sweep_interval; /* seconds */
    bool tokens_prefault;
    uint32_t tokens_access_ttl; /* default for clients created without one */
    uint32_t tokens_refresh_ttl;
    uint32_t tokens_max_access_ttl; /* no JWT lives longer; retired keys stay published as long */
    bool tokens_jwt_verify_unknown; /* verify JWTs the token table does not know */
    uint32_t tokens_max_live_per_client; /* 0: a tenth of tokens_capacity */
    char *tokens_limit_policy;           /* evict or refuse */
    uint32_t clients_capacity;
    uint32_t dpop_replay_capacity;

    /* [store] */
    char *store_sync; /* batch, always or off */
    uint32_t store_segment_mb;
    uint32_t store_apply_interval_ms;
    uint32_t store_purge_interval; /* seconds */

    /* [admin] */
    char *admin_token_file;

    /* [log] */
    char *log_level;
};

/* Fills cfg from argv and the file argv names.  Returns 0, or -1 with a message naming
 * the flag or key and the problem in err.  Called once by main(). */
int master_config_load(struct master_config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Checks values that depend on each other; 0 or -1 with err. */
int master_config_validate(struct master_config *cfg, char *err, size_t errlen);
void master_config_free(struct master_config *cfg);
/* The usage text of --help. */
const char *master_config_usage(void);

#endif
