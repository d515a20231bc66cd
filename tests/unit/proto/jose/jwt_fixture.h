/*
 * A fixture shared by the JWT, key and token-resolution unit tests: a small shared-memory
 * region holding one key of each algorithm, a worker-like proto_ctx over it with an
 * in-memory keystore that records what it was asked to save and remove, and a JWT client.
 */
#ifndef TESTS_UNIT_PROTO_JWT_FIXTURE_H
#define TESTS_UNIT_PROTO_JWT_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/secret.h"
#include "shm/client.h"
#include "shm/intern.h"
#include "shm/keys.h"
#include "shm/region.h"

#define FX_ISSUER "https://auth.example.com"
#define FX_NOW 1800000000LL
#define FX_MAX_TTL 3600

struct fx_store {
    int saves, removes;
    int fail_saves; /* answer -EIO to save */
    char saved[16][SHM_KEY_KID_MAX];
    char removed[16][SHM_KEY_KID_MAX];
};

struct fx {
    struct shm_region region;
    struct proto_config cfg;
    struct proto_ctx ctx;
    struct proto_keystore keystore;
    struct fx_store store;
    struct proto_buf arena;
    struct proto_params params;
    uint64_t client_slot;
    uint32_t client_gen;
};

static inline int fx_save(void *arg, const char *kid, const char *text, size_t len)
{
    struct fx_store *s = arg;

    if (s->fail_saves)
        return -EIO;
    if (s->saves < 16)
        snprintf(s->saved[s->saves], SHM_KEY_KID_MAX, "%s", kid);
    s->saves++;
    return text && len ? 0 : -EINVAL;
}

static inline int fx_remove(void *arg, const char *kid)
{
    struct fx_store *s = arg;

    if (s->removes < 16)
        snprintf(s->removed[s->removes], SHM_KEY_KID_MAX, "%s", kid);
    s->removes++;
    return 0;
}

/* Adds a fresh key of alg to shared memory (as the master does at start). */
static inline int fx_add_key(struct fx *f, int alg, int64_t created)
{
    struct shm_key rec;
    EVP_PKEY *pk = proto_jwk_generate(alg);
    int rc = pk ? proto_jwk_record(pk, created, shm_keys_next_serial(&f->region), &rec) : -1;
    struct shm_owner me = {200, 1};

    EVP_PKEY_free(pk);
    if (rc < 0 || shm_keys_lock(&f->region, me) < 0)
        return -1;
    rc = shm_keys_add(&f->region, &rec);
    shm_keys_unlock(&f->region);
    return rc;
}

static inline int fx_client(struct fx *f, const char *id, int64_t created)
{
    struct shm_owner me = {200, 1};
    struct shm_client c = {0};
    int64_t slot;

    snprintf(c.id, sizeof(c.id), "%s", id);
    c.scopes = (uint32_t)shm_intern_put(&f->region, "read write admin", 16, me);
    c.scope_base = (uint32_t)shm_intern_put(&f->region, "admin read write", 16, me);
    c.token_format = PROTO_FORMAT_JWT;
    c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
    c.access_ttl = 600;
    c.created = created;
    slot = shm_client_create(&f->region, &c, me, NULL);
    if (slot < 0)
        return -1;
    f->client_slot = (uint64_t)slot;
    f->client_gen = shm_client_generation(&f->region, (uint64_t)slot);
    return 0;
}

/* Builds f (zeroed) over a new region of sizes sz, with a key of each algorithm in the
 * bit set algs (1 << alg): the part of the fixture other fixtures build on.  0 or -1. */
static inline int fx_init(struct fx *f, const struct shm_region_sizes *sz, unsigned algs)
{
    if (shm_region_create(&f->region, sz) < 0)
        return -1;
    f->cfg.issuer = FX_ISSUER;
    f->cfg.max_access_ttl = FX_MAX_TTL;
    f->cfg.default_access_ttl = 600;
    f->cfg.jwt_verify_unknown = true; /* the resolution tests cover the signature path */
    f->keystore = (struct proto_keystore){&f->store, fx_save, fx_remove};
    f->ctx.cfg = &f->cfg;
    f->ctx.region = &f->region;
    f->ctx.owner = (struct shm_owner){3, 1};
    f->ctx.now = FX_NOW;
    f->ctx.keys = proto_keys_new();
    f->ctx.keystore = &f->keystore;
    f->ctx.arena = &f->arena;
    f->ctx.params = &f->params;
    f->params.arena = &f->arena;
    for (int alg = 0; alg < PROTO_JWT_ALGS; alg++)
        if ((algs & 1u << alg) && fx_add_key(f, alg, FX_NOW - 100) < 0)
            return -1;
    return f->ctx.keys ? 0 : -1;
}

static inline void fx_fini(struct fx *f)
{
    proto_keys_free(f->ctx.keys);
    proto_buf_free(&f->arena);
    shm_region_detach(&f->region);
}

static inline int fx_setup(void **state)
{
    struct shm_region_sizes sz = {.tokens = 1000, .clients = 16, .intern = 64, .jti = 100};
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL || fx_init(f, &sz, (1u << PROTO_JWT_ALGS) - 1) < 0 ||
        fx_client(f, "svc", FX_NOW - 1000) < 0)
        return -1;
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;

    fx_fini(f);
    free(f);
    return 0;
}

/* Claims of a token of the fixture's client, issued at `now`. */
static inline struct proto_jwt_claims fx_claims(const struct fx *f)
{
    return (struct proto_jwt_claims){
        .sub = "svc",
        .client_id = "svc",
        .scope = "read write",
        .iat = f->ctx.now,
        .exp = f->ctx.now + 600,
        .jti = "jti-0001",
    };
}

/* Mints a token of alg into out (NUL-terminated).  0 or -1. */
static inline int fx_mint(struct fx *f, int alg, const struct proto_jwt_claims *c,
                          struct proto_buf *out)
{
    proto_buf_reset(out);
    if (proto_jwt_mint(&f->ctx, alg, c, out) < 0 || proto_buf_append(out, "", 1) < 0)
        return -1;
    out->len--;
    return 0;
}

/* Decodes base64url part `index` (0 header, 1 payload) of a compact JWS as JSON. */
static inline json_t *fx_part(const char *jwt, int index)
{
    const char *p = jwt, *end;
    uint8_t buf[8192];
    long n;

    for (int i = 0; i < index; i++)
        p = strchr(p, '.') + 1;
    end = strchr(p, '.');
    n = proto_b64url_decode(p, end ? (size_t)(end - p) : strlen(p), buf, sizeof(buf));
    return n < 0 ? NULL : json_loadb((const char *)buf, (size_t)n, 0, NULL);
}

#endif
