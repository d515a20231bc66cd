/*
 * Fuzz target of configuration loading (master/config.c): the INI file through inih,
 * the command line through getopt_long, then master_config_validate() as main() calls it.
 * Loading must not crash or leak (ASan's leak check runs under tools/fuzz), every failure
 * must come with a message, and a configuration that loads holds values inside the key
 * table's ranges.  master_config_free() always runs.
 *
 * Input: byte 0 picks the mode.  Even: the rest is the INI file, read through
 * `tesserad --config FILE` (bit 1 adds --dev).  Odd: the rest is argv, NUL-separated
 * strings up to an empty one, and after that the INI file; any argument starting with
 * "--c" (--config and its abbreviations) becomes --config=FILE, so no input names another
 * file.  The file is a memfd made once per process, reached as /proc/self/fd/N.
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "master/config.h"
#include "master/listen.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_ARGS_MAX 64

static char fuzz_path[64];        /* /proc/self/fd/N */
static char fuzz_config_arg[128]; /* --config=/proc/self/fd/N */

static void fuzz_file_write(const uint8_t *data, size_t size)
{
    static int fd = -1;

    if (fd == -1) {
        fd = memfd_create("tessera-config-fuzz", MFD_CLOEXEC);
        FUZZ_CHECK(fd != -1);
        snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fd);
        snprintf(fuzz_config_arg, sizeof(fuzz_config_arg), "--config=%s", fuzz_path);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
}

/* Splits text[0, len) (NUL-terminated at len) into argv after argv[0]; returns where the
 * file part starts. */
static size_t fuzz_split_args(char *text, size_t len, char **argv, int *argc)
{
    size_t at = 0;

    while (at < len && *argc < FUZZ_ARGS_MAX) {
        char *arg = text + at;

        at += strlen(arg) + 1;
        if (*arg == '\0')
            break;
        argv[(*argc)++] = strncmp(arg, "--c", 3) == 0 ? fuzz_config_arg : arg;
    }
    return at < len ? at : len;
}

static void fuzz_check_list(const struct master_strlist *l)
{
    FUZZ_CHECK(l->n <= MASTER_LISTEN_MAX);
    for (size_t i = 0; i < l->n; i++)
        FUZZ_CHECK(l->v[i] != NULL); /* may be empty: validation refuses it */
}

/* What master_config_load() guarantees: every key inside its table range. */
static void fuzz_check_loaded(const struct master_config *cfg)
{
    fuzz_check_list(&cfg->listen);
    fuzz_check_list(&cfg->listen_plain);
    FUZZ_CHECK(cfg->workers <= 256);
    FUZZ_CHECK(cfg->drain_timeout >= 1 && cfg->drain_timeout <= 3600);
    FUZZ_CHECK(cfg->limits.header_bytes >= 1024 && cfg->limits.header_bytes <= 65536);
    FUZZ_CHECK(cfg->limits.body_bytes >= 1024 && cfg->limits.body_bytes <= 1048576);
    FUZZ_CHECK(cfg->limits.headers >= 8 && cfg->limits.headers <= PROTO_HTTP_HEADERS_MAX);
    FUZZ_CHECK(cfg->header_timeout >= 1 && cfg->header_timeout <= 600);
    FUZZ_CHECK(cfg->idle_timeout >= 1 && cfg->idle_timeout <= 3600);
    FUZZ_CHECK(cfg->max_connections >= 1 && cfg->max_connections <= 1000000);
    FUZZ_CHECK(cfg->data_dir != NULL && cfg->data_dir[0] != '\0');
    FUZZ_CHECK(cfg->tls_min_version != NULL && cfg->log_level != NULL);
}

/* What master_config_validate() guarantees on top: main() can bind and serve. */
static void fuzz_check_valid(const struct master_config *cfg)
{
    char host[256], port[8], why[128];

    FUZZ_CHECK(cfg->listen.n + cfg->listen_plain.n > 0);
    for (size_t i = 0; i < cfg->listen.n + cfg->listen_plain.n; i++) {
        const char *spec =
            i < cfg->listen.n ? cfg->listen.v[i] : cfg->listen_plain.v[i - cfg->listen.n];

        FUZZ_CHECK(master_listen_parse(spec, host, sizeof(host), port, sizeof(port), why,
                                       sizeof(why)) == 0);
        FUZZ_CHECK(host[0] != '\0' && port[0] != '\0');
    }
    FUZZ_CHECK(!strcmp(cfg->tls_min_version, "1.2") || !strcmp(cfg->tls_min_version, "1.3"));
    FUZZ_CHECK(!strcmp(cfg->log_level, "debug") || !strcmp(cfg->log_level, "info") ||
               !strcmp(cfg->log_level, "warn") || !strcmp(cfg->log_level, "error"));
    if (cfg->listen.n)
        FUZZ_CHECK(cfg->tls_certificate != NULL && cfg->tls_private_key != NULL);
}

/* main()'s sequence: load, then validate unless --help or --version.  Returns 0 or -1;
 * err holds the message of a failure. */
static int fuzz_load(int argc, char **argv, char *err, size_t errlen)
{
    struct master_config cfg;
    int rc;

    memset(err, 0, errlen);
    rc = master_config_load(&cfg, argc, argv, err, errlen);
    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0');
        fuzz_check_loaded(&cfg);
        if (!cfg.show_help && !cfg.show_version)
            rc = master_config_validate(&cfg, err, errlen);
        if (rc == 0 && !cfg.show_help && !cfg.show_version) {
            fuzz_check_loaded(&cfg);
            fuzz_check_valid(&cfg);
        }
    }
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc < 0)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', errlen) != NULL);
    master_config_free(&cfg);
    return rc;
}

/* Loads twice: the outcome may not depend on what an earlier load left behind (getopt's
 * globals, say), which matters to the unit tests and to any reload that re-reads argv. */
static void fuzz_load_twice(int argc, char **argv)
{
    char *copy[FUZZ_ARGS_MAX + 2];
    char err1[512], err2[512];
    int rc1, rc2;

    /* getopt_long permutes argv: give each load the same order. */
    memcpy(copy, argv, sizeof(*argv) * (size_t)(argc + 1));
    rc1 = fuzz_load(argc, argv, err1, sizeof(err1));
    rc2 = fuzz_load(argc, copy, err2, sizeof(err2));
    FUZZ_CHECK(rc1 == rc2 && strcmp(err1, err2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[FUZZ_ARGS_MAX + 2] = {"tesserad"}, *text;
    int argc = 1;
    size_t file;

    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0) {
        fuzz_file_write(data + 1, size - 1);
        argv[argc++] = "--config";
        argv[argc++] = fuzz_path;
        if (data[0] & 2)
            argv[argc++] = "--dev";
        fuzz_load_twice(argc, argv);
        return 0;
    }
    text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    fuzz_file_write(data, 0); /* makes the file, so --config=FILE names it */
    file = fuzz_split_args(text, size - 1, argv, &argc);
    fuzz_file_write((const uint8_t *)text + file, size - 1 - file);
    fuzz_load_twice(argc, argv);
    free(text);
    return 0;
}
