/*
 * Loading recovered state into shared memory (see load.h).  Clients come first (Berkeley
 * DB iterates them before sessions), each with its stored generation, so a session's
 * client_gen compares as it did before the restart.  A session that is dead — revoked,
 * its client's generation moved on, or its client gone — is loaded only when it is a JWT
 * or a bare revocation: the table must keep saying "revoked" for those, or a JWT would be
 * accepted again on its signature where unknown JWTs are verified.  A dead opaque token is
 * simply not loaded.  Live tokens come back with their issue sequences, so their clients'
 * counts and eviction order are what they were.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/client.h"
#include "shm/intern.h"
#include "shm/scope.h"
#include "shm/token.h"
#include "store/load.h"

/* The interned id of text, or < 0 with l->err set.  Recovery may use the interned table's
 * spare slots: it interns at most what the previous run held. */
static int64_t load_intern(struct store_load *l, const char *text)
{
    int64_t id = shm_intern_restore(l->region, text, strlen(text), l->who);

    if (id < 0)
        snprintf(l->err, sizeof(l->err),
                 "cannot load \"%.40s\": the interned string table is full "
                 "(raise tokens.interned_strings)",
                 text);
    return id;
}

/* The interned canonical form of the scope list text (a scope base). */
static int64_t load_base(struct store_load *l, const char *text, char base[SHM_INTERN_MAX_LEN + 1])
{
    int n = shm_scope_canon(text, strlen(text), base, SHM_INTERN_MAX_LEN + 1);

    return n < 0 ? -EINVAL : shm_intern_restore(l->region, base, (size_t)n, l->who);
}

static int load_client(const struct store_client_rec *rec, void *arg)
{
    struct store_load *l = arg;
    struct shm_client c = rec->client;
    char base[SHM_INTERN_MAX_LEN + 1];
    int64_t scopes = load_intern(l, rec->scopes), defaults = load_intern(l, rec->default_scopes),
            audiences = load_intern(l, rec->audiences), subject = load_intern(l, rec->subject);
    int64_t scope_base = load_base(l, rec->scopes, base), slot;

    if (scopes < 0 || defaults < 0 || audiences < 0 || subject < 0 || scope_base < 0) {
        if (!l->err[0])
            snprintf(l->err, sizeof(l->err), "cannot load client %.64s: its scopes", c.id);
        return -ENOSPC;
    }
    c.scopes = (uint32_t)scopes;
    c.default_scopes = (uint32_t)defaults;
    c.audiences = (uint32_t)audiences;
    c.subject = (uint32_t)subject;
    c.scope_base = (uint32_t)scope_base;
    slot = shm_client_restore(l->region, &c, rec->generation, l->who);
    if (slot < 0) {
        snprintf(l->err, sizeof(l->err), "cannot load client %.64s: %s", c.id,
                 slot == -ENOSPC ? "the client table is full (raise clients.capacity)"
                                 : strerror((int)-slot));
        return (int)slot;
    }
    shm_clients_clock_raise(l->region, rec->version);
    l->clients++;
    return 0;
}

/* The token entry of s; false when it need not be loaded.  *c is its client when found. */
static bool load_token(struct store_load *l, const struct store_session *s, struct shm_token *t,
                       struct shm_client *c)
{
    const struct store_token *st = &s->token;
    uint32_t gen = 0;
    int64_t slot = st->client_id[0]
                       ? shm_client_find(l->region, st->client_id, strlen(st->client_id), c, &gen)
                       : -ENOENT;
    bool dead = s->revoked || slot < 0 || gen != st->client_gen;

    if (dead && !(st->flags & SHM_TOKEN_JWT) && st->client_id[0])
        return false;
    memset(t, 0, sizeof(*t));
    store_token_to_shm(t, st);
    t->client_slot = (uint32_t)slot;
    t->revoked = dead;
    return true;
}

/* The scope of a live token as it was: bits over its client's base when the client still
 * has every scope of it (no new string), else over the base it was issued under (its
 * client's earlier list, which the previous run held), else — a record of version 1 — over
 * its own text.  0, or < 0 when the string cannot be interned. */
static int load_scope(struct store_load *l, const struct store_token *st,
                      const struct shm_client *c, struct shm_token *t)
{
    char base[SHM_INTERN_MAX_LEN + 1];
    int64_t id;

    if (shm_intern_get(l->region, c->scope_base, base, sizeof(base)) >= 0 &&
        shm_scope_bits_of(base, strlen(base), st->scope, strlen(st->scope), &t->scope_bits) == 0) {
        t->scope = c->scope_base;
        return 0;
    }
    id = load_base(l, st->scope_base, base);
    if (id >= 0 &&
        shm_scope_bits_of(base, strlen(base), st->scope, strlen(st->scope), &t->scope_bits) == 0) {
        t->scope = (uint32_t)id;
        return 0;
    }
    id = load_base(l, st->scope, base);
    if (id < 0)
        return (int)id;
    t->scope = (uint32_t)id;
    return shm_scope_bits_of(base, strlen(base), base, strlen(base), &t->scope_bits);
}

/* Scope and audience of a live entry.  A string that does not fit even the interned
 * table's spare slots (tokens.interned_strings lowered since the previous run) does not
 * stop the start: the token is loaded revoked — refused, never granted more — and
 * counted. */
static void load_strings(struct store_load *l, const struct store_session *s,
                         const struct shm_client *c, struct shm_token *t)
{
    int64_t aud =
        shm_intern_restore(l->region, s->token.audience, strlen(s->token.audience), l->who);

    if (aud >= 0 && load_scope(l, &s->token, c, t) == 0) {
        t->audience = (uint32_t)aud;
        return;
    }
    memset(&t->scope_bits, 0, sizeof(t->scope_bits));
    t->scope = t->audience = 0;
    t->revoked = true;
    l->unscoped++;
}

static int load_session(const struct store_session *s, void *arg)
{
    struct store_load *l = arg;
    struct shm_client c;
    struct shm_token t;
    int rc;

    if (!load_token(l, s, &t, &c)) {
        l->skipped++;
        return 0;
    }
    /* A dead entry only has to say "revoked": it needs no string, and no client — it holds
     * a slot no client has, so it reads as revoked whatever happens and counts against no
     * client's limit of live tokens (the revocations of the run before freed theirs). */
    if (!t.revoked)
        load_strings(l, s, &c, &t);
    if (t.revoked)
        t.client_slot = UINT32_MAX;
    rc = shm_token_insert(l->region, &t, l->who);
    if (rc == 0 && t.revoked)
        rc = shm_token_revoke(l->region, t.hash);
    if (rc < 0) {
        snprintf(l->err, sizeof(l->err), "cannot load the sessions: %s",
                 rc == -ENOSPC ? "the token table is full (raise tokens.capacity)" : strerror(-rc));
        return rc;
    }
    if (t.revoked)
        l->dead++;
    else
        l->sessions++;
    return 0;
}

void store_load_ops(struct store_recover_ops *ops, struct store_load *l)
{
    ops->client = load_client;
    ops->session = load_session;
    ops->key = NULL;
    ops->account = NULL;
}
