/*
 * What the fuzz targets of handler code share: a worker-like proto_ctx over a small
 * shared-memory region, made once per process as a worker makes its own; a request built
 * from a few headers and a body in one buffer of exactly its size (so that ASan sees a read
 * past it); and a check that an error description can go into a JSON body unescaped, as
 * proto_response_error() writes it.
 */
#ifndef TESTS_FUZZ_CTX_H
#define TESTS_FUZZ_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ctx.h"
#include "proto/http/http.h"
#include "shm/region.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_ISSUER "https://auth.example.com"
#define FUZZ_NOW 1800000000LL

struct fuzz_worker {
    struct shm_region region;
    struct proto_config cfg;
    struct proto_buf arena;
    struct proto_params params;
    struct proto_ctx ctx;
};

/* Formats w: a region with the smallest token and client tables the configuration allows
 * and `intern` interned strings; the master's defaults for the rest of the settings. */
static inline void fuzz_worker_init(struct fuzz_worker *w, uint64_t intern)
{
    const struct shm_region_sizes sizes = {
        .tokens = 1000, .clients = 10, .intern = intern, .jti = 100};

    memset(w, 0, sizeof(*w));
    FUZZ_CHECK(shm_region_create(&w->region, &sizes) == 0);
    w->cfg.issuer = FUZZ_ISSUER;
    w->cfg.default_access_ttl = 3600;
    w->cfg.default_refresh_ttl = 2592000;
    w->cfg.max_access_ttl = 86400;
    w->cfg.auth_fail_per_client = UINT32_MAX;
    w->cfg.auth_fail_per_address = UINT32_MAX;
    w->params.arena = &w->arena;
    w->ctx.date = "Fri, 15 Jan 2027 08:00:00 GMT";
    w->ctx.ready = 1;
    w->ctx.now = FUZZ_NOW;
    w->ctx.cfg = &w->cfg;
    w->ctx.region = &w->region;
    w->ctx.owner = (struct shm_owner){0, 1};
    w->ctx.arena = &w->arena;
    w->ctx.params = &w->params;
}

/* Frees every entry of a table: the targets empty what an input added, so that the next
 * input finds the state the first one found (libFuzzer wants each input to behave the
 * same whenever it runs). */
static inline int fuzz_visit_free(const struct shm_entry *e, void *arg)
{
    (void)e, (void)arg;
    return 1;
}

static inline void fuzz_table_clear(struct fuzz_worker *w, struct shm_table *t)
{
    shm_table_iterate(t, fuzz_visit_free, NULL, w->ctx.owner);
}

struct fuzz_header {
    const char *name;
    const void *value;
    size_t len;
};

/* Fills r with the headers and the body, copied into one allocation of exactly their size
 * (returned: the caller frees it after the request is handled). */
static inline char *fuzz_request_make(struct proto_request *r, const struct fuzz_header *h,
                                      size_t nh, const void *body, size_t blen)
{
    size_t size = blen, at = 0;
    char *base;

    for (size_t i = 0; i < nh; i++)
        size += strlen(h[i].name) + h[i].len;
    base = malloc(size ? size : 1);
    FUZZ_CHECK(base != NULL);
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->method = HTTP_POST;
    r->keep_alive = true;
    for (size_t i = 0; i < nh; i++) {
        struct proto_header *hd = &r->headers[r->nheaders++];
        size_t n = strlen(h[i].name);

        memcpy(base + at, h[i].name, n);
        hd->name = (struct proto_span){(uint32_t)at, (uint32_t)n};
        at += n;
        if (h[i].len)
            memcpy(base + at, h[i].value, h[i].len);
        hd->value = (struct proto_span){(uint32_t)at, (uint32_t)h[i].len};
        at += h[i].len;
    }
    if (blen)
        memcpy(base + at, body, blen);
    r->body = (struct proto_span){(uint32_t)at, (uint32_t)blen};
    return base;
}

/* True when s is printable ASCII: an error description names the problem, never echoes
 * the client's bytes (proto_response_error escapes quotes and backslashes). */
static inline bool fuzz_json_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Splits data at the first '\n' into two parts (the second empty when there is none). */
static inline void fuzz_split(const uint8_t *data, size_t size, const uint8_t **b, size_t *alen,
                              size_t *blen)
{
    const uint8_t *nl = memchr(data, '\n', size);

    *alen = nl ? (size_t)(nl - data) : size;
    *b = nl ? nl + 1 : data + size;
    *blen = nl ? size - *alen - 1 : 0;
}

#endif
