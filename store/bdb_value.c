/*
 * How records are stored as Berkeley DB values: a version byte, then the fields one by one,
 * little-endian, strings as a 16-bit length and their bytes (no NUL).  Not the structs' raw
 * bytes: those are ~700 bytes per session, mostly zeros of fixed-size text fields, and
 * change with every field added to shm_client.  Pure: no file, no global.
 * A session puts its expiry and its client id (the by-client index's key) first, at fixed
 * offsets, so the purge and the index callback read them without decoding the value:
 *   0 version | 1..8 exp | 9 client id length | client id | the rest
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "store/bdb_int.h"

struct wbuf {
    uint8_t *p;
    size_t cap, len;
    int bad;
};

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    int bad;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
    if (w->bad || n > w->cap - w->len) {
        w->bad = 1;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_uint(struct wbuf *w, uint64_t v, size_t n)
{
    uint8_t b[8];

    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, n);
}

/* A NUL-terminated string of a field of max bytes. */
static void put_str(struct wbuf *w, const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    if (n == max) {
        w->bad = 1;
        return;
    }
    put_uint(w, n, 2);
    put(w, s, n);
}

static void put_blob(struct wbuf *w, const uint8_t *b, size_t n, size_t max)
{
    if (n > max) {
        w->bad = 1;
        return;
    }
    put_uint(w, n, 2);
    put(w, b, n);
}

static void get(struct rbuf *r, void *dst, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->off, n);
    r->off += n;
}

static uint64_t get_uint(struct rbuf *r, size_t n)
{
    uint8_t b[8];
    uint64_t v = 0;

    get(r, b, n);
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void get_str(struct rbuf *r, char *dst, size_t max)
{
    size_t n = (size_t)get_uint(r, 2);

    if (n >= max)
        r->bad = 1;
    else
        get(r, dst, n);
    dst[r->bad ? 0 : n] = '\0';
}

static uint16_t get_blob(struct rbuf *r, uint8_t *dst, size_t max)
{
    size_t n = (size_t)get_uint(r, 2);

    if (n > max)
        r->bad = 1;
    else
        get(r, dst, n);
    return r->bad ? 0 : (uint16_t)n;
}

/* Versions this code reads: 1, and 2, which appends fields to sessions (scope_base, seq)
 * and clients (max_live_tokens). */
static bool value_version_known(uint8_t version)
{
    return version >= 1 && version <= STORE__VALUE_VERSION;
}

static int rbuf_end(const struct rbuf *r, uint8_t version)
{
    return !r->bad && r->off == r->len && value_version_known(version) ? 0 : -EINVAL;
}

size_t store__session_encode(const struct store_session *s, uint8_t *out, size_t cap)
{
    const struct store_token *t = &s->token;
    struct wbuf w = {out, cap, 0, 0};
    uint8_t zero[32] = {0};
    size_t idlen = strnlen(t->client_id, sizeof(t->client_id));
    int bound = memcmp(t->jkt, zero, sizeof(zero)) != 0;

    put_uint(&w, STORE__VALUE_VERSION, 1);
    put_uint(&w, (uint64_t)t->exp, 8);
    if (idlen == sizeof(t->client_id))
        return 0;
    put_uint(&w, idlen, 1);
    put(&w, t->client_id, idlen);
    put_uint(&w, s->revoked, 1);
    put_uint(&w, t->kind, 1);
    put_uint(&w, t->flags, 1);
    put_uint(&w, t->client_gen, 4);
    put_uint(&w, (uint64_t)t->iat, 8);
    put_uint(&w, t->parent, 8);
    put_blob(&w, t->jkt, bound ? sizeof(t->jkt) : 0, sizeof(t->jkt));
    put_str(&w, t->scope, sizeof(t->scope));
    put_str(&w, t->audience, sizeof(t->audience));
    put_str(&w, t->scope_base, sizeof(t->scope_base));
    put_uint(&w, t->seq, 8);
    return w.bad ? 0 : w.len;
}

/* Fills everything but token.hash (zeroed), which is the key. */
int store__session_decode(const uint8_t *p, size_t len, struct store_session *s)
{
    struct store_token *t = &s->token;
    struct rbuf r = {p, len, 0, 0};
    uint8_t version = (uint8_t)get_uint(&r, 1);
    size_t idlen;

    memset(s, 0, sizeof(*s));
    t->exp = (int64_t)get_uint(&r, 8);
    idlen = (size_t)get_uint(&r, 1);
    if (idlen >= sizeof(t->client_id))
        return -EINVAL;
    get(&r, t->client_id, idlen);
    t->client_id[idlen] = '\0';
    s->revoked = get_uint(&r, 1) != 0;
    t->kind = (uint8_t)get_uint(&r, 1);
    t->flags = (uint8_t)get_uint(&r, 1);
    t->client_gen = (uint32_t)get_uint(&r, 4);
    t->iat = (int64_t)get_uint(&r, 8);
    t->parent = get_uint(&r, 8);
    get_blob(&r, t->jkt, sizeof(t->jkt));
    get_str(&r, t->scope, sizeof(t->scope));
    get_str(&r, t->audience, sizeof(t->audience));
    if (version >= 2) {
        get_str(&r, t->scope_base, sizeof(t->scope_base));
        t->seq = get_uint(&r, 8);
    }
    return rbuf_end(&r, version);
}

int store__session_client_key(const uint8_t *p, size_t len, const uint8_t **key, size_t *klen)
{
    size_t at = 1 + 8;

    if (len < at + 1 || !value_version_known(p[0]) || len < at + 1 + p[at])
        return -EINVAL;
    if (p[at] == 0)
        return DB_DONOTINDEX;
    *key = p + at + 1;
    *klen = p[at];
    return 0;
}

int store__session_exp(const uint8_t *p, size_t len, int64_t *exp)
{
    struct rbuf r = {p, len, 1, 0};

    if (len < 1 || !value_version_known(p[0]))
        return -EINVAL;
    *exp = (int64_t)get_uint(&r, 8);
    return r.bad ? -EINVAL : 0;
}

/* The shm_client fields that mean something outside shared memory: not the interned ids,
 * whose texts follow in the record. */
static void client_put(struct wbuf *w, const struct shm_client *c)
{
    put_str(w, c->id, sizeof(c->id));
    put_str(w, c->name, sizeof(c->name));
    put_uint(w, c->verifier_kind, 1);
    put_uint(w, c->token_format, 1);
    put_blob(w, c->verifier, c->verifier_len, sizeof(c->verifier));
    put_uint(w, c->grant_types, 4);
    put_uint(w, c->flags, 4);
    put_uint(w, c->access_ttl, 4);
    put_uint(w, c->max_access_ttl, 4);
    put_uint(w, c->refresh_ttl, 4);
    put_uint(w, c->jwt_alg, 4);
    put_uint(w, (uint64_t)c->created, 8);
    put_uint(w, (uint64_t)c->updated, 8);
}

static void client_get(struct rbuf *r, struct shm_client *c)
{
    get_str(r, c->id, sizeof(c->id));
    get_str(r, c->name, sizeof(c->name));
    c->verifier_kind = (uint8_t)get_uint(r, 1);
    c->token_format = (uint8_t)get_uint(r, 1);
    c->verifier_len = get_blob(r, c->verifier, sizeof(c->verifier));
    c->grant_types = (uint32_t)get_uint(r, 4);
    c->flags = (uint32_t)get_uint(r, 4);
    c->access_ttl = (uint32_t)get_uint(r, 4);
    c->max_access_ttl = (uint32_t)get_uint(r, 4);
    c->refresh_ttl = (uint32_t)get_uint(r, 4);
    c->jwt_alg = (uint32_t)get_uint(r, 4);
    c->created = (int64_t)get_uint(r, 8);
    c->updated = (int64_t)get_uint(r, 8);
}

/* A client: the registers' versions, the generation and the tombstone's state first, then
 * the body (empty texts and zeros for a tombstone or a placeholder, but its id). */
size_t store__client_encode(const struct store__client_value *v, uint8_t *out, size_t cap)
{
    const struct store_client_rec *c = &v->rec;
    struct wbuf w = {out, cap, 0, 0};

    put_uint(&w, STORE__VALUE_VERSION, 1);
    put_uint(&w, c->version, 8);
    put_uint(&w, c->generation, 4);
    put_uint(&w, v->body_version, 8);
    put_uint(&w, v->deleted, 1);
    put_uint(&w, (uint64_t)v->bodiless_ms, 8);
    client_put(&w, &c->client);
    put_str(&w, c->scopes, sizeof(c->scopes));
    put_str(&w, c->default_scopes, sizeof(c->default_scopes));
    put_str(&w, c->audiences, sizeof(c->audiences));
    put_str(&w, c->subject, sizeof(c->subject));
    put_uint(&w, c->client.max_live_tokens, 4);
    return w.bad ? 0 : w.len;
}

int store__client_decode(const uint8_t *p, size_t len, struct store__client_value *v)
{
    struct store_client_rec *c = &v->rec;
    struct rbuf r = {p, len, 0, 0};
    uint8_t version = (uint8_t)get_uint(&r, 1), deleted;

    memset(v, 0, sizeof(*v));
    c->version = get_uint(&r, 8);
    c->generation = (uint32_t)get_uint(&r, 4);
    v->body_version = get_uint(&r, 8);
    deleted = (uint8_t)get_uint(&r, 1);
    v->deleted = deleted != 0;
    v->bodiless_ms = (int64_t)get_uint(&r, 8);
    client_get(&r, &c->client);
    get_str(&r, c->scopes, sizeof(c->scopes));
    get_str(&r, c->default_scopes, sizeof(c->default_scopes));
    get_str(&r, c->audiences, sizeof(c->audiences));
    get_str(&r, c->subject, sizeof(c->subject));
    if (version >= 2)
        c->client.max_live_tokens = (uint32_t)get_uint(&r, 4);
    return deleted > 1 ? -EINVAL : rbuf_end(&r, version);
}

size_t store__key_encode(const struct store_key *k, uint8_t *out, size_t cap)
{
    struct wbuf w = {out, cap, 0, 0};

    put_uint(&w, STORE__VALUE_VERSION, 1);
    put_str(&w, k->kid, sizeof(k->kid));
    put_uint(&w, k->alg, 1);
    put_uint(&w, (uint64_t)k->created, 8);
    put_uint(&w, (uint64_t)k->retired_at, 8);
    put_blob(&w, k->der, k->der_len, sizeof(k->der));
    return w.bad ? 0 : w.len;
}

int store__key_decode(const uint8_t *p, size_t len, struct store_key *k)
{
    struct rbuf r = {p, len, 0, 0};
    uint8_t version = (uint8_t)get_uint(&r, 1);

    memset(k, 0, sizeof(*k));
    get_str(&r, k->kid, sizeof(k->kid));
    k->alg = (uint8_t)get_uint(&r, 1);
    k->created = (int64_t)get_uint(&r, 8);
    k->retired_at = (int64_t)get_uint(&r, 8);
    k->der_len = get_blob(&r, k->der, sizeof(k->der));
    return rbuf_end(&r, version);
}

size_t store__account_encode(const struct store_account *a, uint8_t *out, size_t cap)
{
    struct wbuf w = {out, cap, 0, 0};

    put_uint(&w, STORE__VALUE_VERSION, 1);
    put_str(&w, a->email, sizeof(a->email));
    put_str(&w, a->webid, sizeof(a->webid));
    put_blob(&w, a->verifier, a->verifier_len, sizeof(a->verifier));
    return w.bad ? 0 : w.len;
}

int store__account_decode(const uint8_t *p, size_t len, struct store_account *a)
{
    struct rbuf r = {p, len, 0, 0};
    uint8_t version = (uint8_t)get_uint(&r, 1);

    memset(a, 0, sizeof(*a));
    get_str(&r, a->email, sizeof(a->email));
    get_str(&r, a->webid, sizeof(a->webid));
    a->verifier_len = get_blob(&r, a->verifier, sizeof(a->verifier));
    return rbuf_end(&r, version);
}
