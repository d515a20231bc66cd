/*
 * Loading recovered state into shared memory (see load.h).  Clients come first (Berkeley
 * DB iterates them before sessions), each with its stored generation, so a session's
 * client_gen compares as it did before the restart.  A session that is dead — revoked,
 * its client's generation moved on, or its client gone — is loaded only when it is a JWT
 * or a bare revocation: the table must keep saying "revoked" for those, or a JWT would be
 * accepted again on its signature.  A dead opaque token is simply not loaded.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/client.h"
#include "shm/intern.h"
#include "shm/token.h"
#include "store/load.h"

/* The interned id of text, or < 0 with l->err set. */
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

static int load_client(const struct store_client_rec *rec, void *arg)
{
    struct store_load *l = arg;
    struct shm_client c = rec->client;
    int64_t scopes = load_intern(l, rec->scopes), defaults = load_intern(l, rec->default_scopes),
            audiences = load_intern(l, rec->audiences), subject = load_intern(l, rec->subject);
    int64_t slot;

    if (scopes < 0 || defaults < 0 || audiences < 0 || subject < 0)
        return -ENOSPC;
    c.scopes = (uint32_t)scopes;
    c.default_scopes = (uint32_t)defaults;
    c.audiences = (uint32_t)audiences;
    c.subject = (uint32_t)subject;
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

/* The token entry of s; false when it need not be loaded. */
static bool load_token(struct store_load *l, const struct store_session *s, struct shm_token *t)
{
    const struct store_token *st = &s->token;
    struct shm_client c;
    uint32_t gen = 0;
    int64_t slot = st->client_id[0]
                       ? shm_client_find(l->region, st->client_id, strlen(st->client_id), &c, &gen)
                       : -ENOENT;
    bool dead = s->revoked || slot < 0 || gen != st->client_gen;

    if (dead && !(st->flags & SHM_TOKEN_JWT) && st->client_id[0])
        return false;
    memset(t, 0, sizeof(*t));
    store_token_to_shm(t, st);
    /* No client: a slot no client has, so the entry reads as revoked whatever happens. */
    t->client_slot = slot < 0 ? UINT32_MAX : (uint32_t)slot;
    t->revoked = dead;
    return true;
}

static int load_session(const struct store_session *s, void *arg)
{
    struct store_load *l = arg;
    struct shm_token t;
    int64_t scope, aud;
    int rc;

    if (!load_token(l, s, &t)) {
        l->skipped++;
        return 0;
    }
    scope = load_intern(l, s->token.scope);
    aud = load_intern(l, s->token.audience);
    if (scope < 0 || aud < 0)
        return -ENOSPC;
    t.scope = (uint32_t)scope;
    t.audience = (uint32_t)aud;
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
