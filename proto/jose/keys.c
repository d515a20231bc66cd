/*
 * A worker's signing keys (see keys.h).  Runs in every worker, single-threaded: the cache
 * is the worker's own; shared memory is read under its sequence checks and written only
 * under the keys' writer lock.  Rotation generates and persists the new keys before it
 * publishes them, so a key that ever signed a token is on disk.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "proto/jose/jwk.h"
#include "proto/jose/jwt.h"
#include "proto/jose/keys.h"
#include "proto/jsonw.h"
#include "proto/oauth/secret.h"

#define SYNC_TRIES 4

struct proto_keys *proto_keys_new(void)
{
    struct proto_keys *ks = calloc(1, sizeof(*ks));

    for (int a = 0; ks && a < PROTO_JWT_ALGS; a++)
        ks->active[a] = -1;
    return ks;
}

static void keys_key_free(struct proto_key *k)
{
    EVP_PKEY_CTX_free(k->sign);
    EVP_PKEY_free(k->pkey);
    k->sign = NULL;
    k->pkey = NULL;
}

void proto_keys_free(struct proto_keys *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++)
        keys_key_free(&ks->k[i]);
    proto_buf_free(&ks->jwks);
    proto_buf_free(&ks->scratch);
    free(ks);
}

int64_t proto_keys_retention(const struct proto_config *cfg)
{
    return (int64_t)cfg->max_access_ttl + PROTO_KEYS_LEEWAY;
}

static bool keys_published(const struct proto_ctx *ctx, int64_t retired_at)
{
    return retired_at == 0 || ctx->now < retired_at + proto_keys_retention(ctx->cfg);
}

/* The JWS header of the tokens k signs, base64url-encoded, with the '.' that follows. */
static int keys_header(struct proto_key *k)
{
    char json[128];
    int n = snprintf(json, sizeof(json), "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
                     proto_jwt_alg_name(k->alg), k->kid);

    if (n < 0 || (size_t)n >= sizeof(json) || proto_b64url_len((size_t)n) + 2 > sizeof(k->header))
        return -ENOSPC;
    k->header_len = proto_b64url_encode((const uint8_t *)json, (size_t)n, k->header);
    k->header[k->header_len++] = '.';
    k->header[k->header_len] = '\0';
    return 0;
}

static int keys_parse(const struct shm_key *rec, struct proto_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->kid, rec->kid, sizeof(k->kid));
    k->kid[sizeof(k->kid) - 1] = '\0';
    k->alg = (int)rec->alg;
    k->serial = rec->serial;
    k->created = rec->created;
    k->pkey = proto_jwk_from_record(rec);
    if (k->pkey == NULL || proto_jwk_alg_of(k->pkey) != k->alg || keys_header(k) < 0) {
        EVP_PKEY_free(k->pkey);
        k->pkey = NULL;
        ERR_clear_error(); /* nothing left on the queue the worker's TLS calls read */
        return -EINVAL;
    }
    return 0;
}

/* The cached entry of a record, if this worker parsed it before. */
static struct proto_key *keys_cached(struct proto_keys *ks, const struct shm_key *rec)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->k[i].pkey && ks->k[i].serial == rec->serial && strcmp(ks->k[i].kid, rec->kid) == 0)
            return &ks->k[i];
    return NULL;
}

static void keys_pick_active(struct proto_keys *ks)
{
    for (int a = 0; a < PROTO_JWT_ALGS; a++)
        ks->active[a] = -1;
    for (size_t i = 0; i < ks->n; i++) {
        const struct proto_key *k = &ks->k[i];
        int *best = k->alg >= 0 && k->alg < PROTO_JWT_ALGS ? &ks->active[k->alg] : NULL;

        if (best && k->retired_at == 0 && (*best < 0 || k->serial > ks->k[*best].serial))
            *best = (int)i;
    }
}

/* Reads every record, reusing the keys already parsed, and replaces the cache. */
static void keys_load(const struct proto_ctx *ctx, struct proto_keys *ks)
{
    struct proto_key next[SHM_KEYS_MAX];
    struct shm_key rec;
    size_t n = 0;

    for (unsigned slot = 0; slot < SHM_KEYS_MAX; slot++) {
        struct proto_key *old;

        if (shm_keys_read(ctx->region, slot, &rec) < 0)
            continue;
        old = keys_cached(ks, &rec);
        if (old) {
            next[n] = *old;
            old->pkey = NULL;
            old->sign = NULL;
        } else if (keys_parse(&rec, &next[n]) < 0) {
            continue;
        }
        next[n++].retired_at = rec.retired_at;
    }
    OPENSSL_cleanse(&rec, sizeof(rec));
    for (size_t i = 0; i < ks->n; i++)
        keys_key_free(&ks->k[i]);
    memcpy(ks->k, next, n * sizeof(next[0]));
    ks->n = n;
    keys_pick_active(ks);
    proto_buf_reset(&ks->jwks);
}

int proto_keys_sync(const struct proto_ctx *ctx)
{
    struct proto_keys *ks = ctx->keys;
    uint64_t v;

    if (ks == NULL || ctx->region == NULL)
        return -EINVAL;
    v = shm_keys_version(ctx->region);
    if (ks->synced && v == ks->version)
        return 0;
    /* A writer publishes by moving the version when done: a load that saw the version
     * unchanged from before to after saw a finished state. */
    ks->synced = false;
    for (int tries = 0; tries < SYNC_TRIES && !ks->synced; tries++) {
        uint64_t after;

        keys_load(ctx, ks);
        after = shm_keys_version(ctx->region);
        ks->synced = after == v;
        ks->version = v;
        v = after;
    }
    return 0;
}

struct proto_key *proto_keys_active(const struct proto_ctx *ctx, int alg)
{
    if (proto_keys_sync(ctx) < 0 || alg < 0 || alg >= PROTO_JWT_ALGS || ctx->keys->active[alg] < 0)
        return NULL;
    return &ctx->keys->k[ctx->keys->active[alg]];
}

const struct proto_key *proto_keys_find(const struct proto_ctx *ctx, const char *kid, size_t len)
{
    struct proto_keys *ks = ctx->keys;

    if (proto_keys_sync(ctx) < 0)
        return NULL;
    for (size_t i = 0; i < ks->n; i++)
        if (strlen(ks->k[i].kid) == len && memcmp(ks->k[i].kid, kid, len) == 0 &&
            keys_published(ctx, ks->k[i].retired_at))
            return &ks->k[i];
    return NULL;
}

/* Indexes of the cached keys, newest first. */
static size_t keys_order(const struct proto_keys *ks, size_t idx[SHM_KEYS_MAX])
{
    for (size_t i = 0; i < ks->n; i++) {
        size_t j = i;

        for (; j > 0 && ks->k[idx[j - 1]].serial < ks->k[i].serial; j--)
            idx[j] = idx[j - 1];
        idx[j] = i;
    }
    return ks->n;
}

const struct proto_buf *proto_keys_jwks(const struct proto_ctx *ctx)
{
    struct proto_keys *ks = ctx->keys;
    size_t idx[SHM_KEYS_MAX], n;
    int64_t until = INT64_MAX;

    if (proto_keys_sync(ctx) < 0)
        return NULL;
    if (ks->jwks.len && ctx->now < ks->jwks_until)
        return &ks->jwks;
    proto_buf_reset(&ks->jwks);
    proto_buf_append_str(&ks->jwks, "{\"keys\":[");
    n = keys_order(ks, idx);
    for (size_t i = 0; i < n; i++) {
        const struct proto_key *k = &ks->k[idx[i]];

        if (!keys_published(ctx, k->retired_at))
            continue;
        if (k->retired_at && k->retired_at + proto_keys_retention(ctx->cfg) < until)
            until = k->retired_at + proto_keys_retention(ctx->cfg);
        if (ks->jwks.data[ks->jwks.len - 1] != '[')
            proto_buf_append(&ks->jwks, ",", 1);
        if (proto_jwk_public(k->pkey, k->kid, &ks->jwks) < 0)
            goto fail;
    }
    if (proto_buf_append_str(&ks->jwks, "]}") < 0)
        goto fail;
    ks->jwks_until = until;
    return &ks->jwks;
fail:
    proto_buf_reset(&ks->jwks);
    return NULL;
}

int proto_keys_list(const struct proto_ctx *ctx, struct proto_buf *out)
{
    struct proto_keys *ks = ctx->keys;
    size_t idx[SHM_KEYS_MAX], n;
    int rc = proto_keys_sync(ctx);

    if (rc < 0)
        return rc;
    proto_buf_append_str(out, "{\"keys\":[");
    n = keys_order(ks, idx);
    for (size_t i = 0; i < n; i++) {
        const struct proto_key *k = &ks->k[idx[i]];
        const char *alg = proto_jwt_alg_name(k->alg);

        proto_buf_append_str(out, i ? ",{" : "{");
        proto_jsonw_kv_str(out, "kid", k->kid, strlen(k->kid));
        proto_jsonw_kv_str(out, "alg", alg, strlen(alg));
        proto_jsonw_kv_int(out, "created", k->created);
        proto_jsonw_kv_bool(out, "active", ks->active[k->alg] == (int)idx[i]);
        proto_jsonw_kv_bool(out, "published", keys_published(ctx, k->retired_at));
        if (k->retired_at) {
            proto_jsonw_kv_int(out, "retired_at", k->retired_at);
            proto_jsonw_kv_int(out, "published_until",
                               k->retired_at + proto_keys_retention(ctx->cfg));
        }
        proto_buf_append(out, "}", 1);
    }
    return proto_buf_append_str(out, "]}");
}

/* Generates a key for each alg of mask and persists it; *n counts the keys saved. */
static int rotate_make(const struct proto_ctx *ctx, unsigned mask, struct shm_key *fresh, size_t *n)
{
    struct proto_buf text = {0};
    int rc = 0;

    for (int alg = 0; alg < PROTO_JWT_ALGS && rc == 0; alg++) {
        EVP_PKEY *pk;

        if (!(mask & (1u << alg)))
            continue;
        pk = proto_jwk_generate(alg);
        rc = pk &&
                     proto_jwk_record(pk, ctx->now, shm_keys_next_serial(ctx->region),
                                      &fresh[*n]) == 0 &&
                     proto_jwk_file_text(&fresh[*n], &text) == 0
                 ? 0
                 : -ENOMEM;
        EVP_PKEY_free(pk);
        if (rc == 0 &&
            ctx->keystore->save(ctx->keystore->arg, fresh[*n].kid, text.data, text.len) < 0)
            rc = -EIO;
        if (rc == 0)
            (*n)++;
        if (text.data)
            OPENSSL_cleanse(text.data, text.cap);
    }
    proto_buf_free(&text);
    return rc;
}

/* Under the lock: frees the keys whose retention is over; returns how many (kids kept). */
static size_t rotate_prune(const struct proto_ctx *ctx, char kids[][SHM_KEY_KID_MAX])
{
    struct shm_key rec;
    size_t n = 0;

    for (unsigned slot = 0; slot < SHM_KEYS_MAX; slot++) {
        if (shm_keys_read(ctx->region, slot, &rec) < 0 || keys_published(ctx, rec.retired_at))
            continue;
        memcpy(kids[n++], rec.kid, SHM_KEY_KID_MAX);
        shm_keys_free(ctx->region, slot);
    }
    OPENSSL_cleanse(&rec, sizeof(rec));
    return n;
}

/* Under the lock: adds the new keys and retires the ones they replace. */
static int rotate_publish(const struct proto_ctx *ctx, const struct shm_key *fresh, size_t n)
{
    int slots[PROTO_JWT_ALGS];
    struct shm_key rec;

    for (size_t i = 0; i < n; i++) {
        slots[i] = shm_keys_add(ctx->region, &fresh[i]);
        if (slots[i] < 0) {
            while (i-- > 0)
                shm_keys_free(ctx->region, (unsigned)slots[i]);
            return -ENOSPC;
        }
    }
    for (unsigned slot = 0; slot < SHM_KEYS_MAX; slot++) {
        if (shm_keys_read(ctx->region, slot, &rec) < 0 || rec.retired_at)
            continue;
        for (size_t i = 0; i < n; i++)
            if (rec.alg == fresh[i].alg && rec.serial < fresh[i].serial)
                shm_keys_retire(ctx->region, slot, ctx->now);
    }
    OPENSSL_cleanse(&rec, sizeof(rec));
    return 0;
}

int proto_keys_rotate(const struct proto_ctx *ctx, unsigned mask)
{
    struct shm_key fresh[PROTO_JWT_ALGS];
    char pruned[SHM_KEYS_MAX][SHM_KEY_KID_MAX];
    size_t nfresh = 0, npruned = 0;
    int rc;

    if (ctx->keystore == NULL)
        return -EIO;
    rc = rotate_make(ctx, mask, fresh, &nfresh);
    if (rc == 0)
        rc = shm_keys_lock(ctx->region, ctx->owner);
    if (rc == 0) {
        npruned = rotate_prune(ctx, pruned);
        rc = rotate_publish(ctx, fresh, nfresh);
        shm_keys_unlock(ctx->region);
    }
    for (size_t i = 0; i < npruned; i++)
        ctx->keystore->remove(ctx->keystore->arg, pruned[i]);
    /* Keys never published must not come back at the next start. */
    for (size_t i = 0; rc < 0 && i < nfresh; i++)
        ctx->keystore->remove(ctx->keystore->arg, fresh[i].kid);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    if (rc == 0)
        proto_keys_sync(ctx);
    return rc;
}
