/*
 * The token table over the shared table engine (see token.h).  Entry words:
 *   0-3 hash | 4 client slot, generation | 5 scope, audience | 6 iat | 7 exp
 *   8 client sequence (48), kind, flags | 9 parent | 10-13 jkt | 14-15 scope bits
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shm/client.h"
#include "shm/client_tokens.h"
#include "shm/intern.h"
#include "shm/token.h"

_Static_assert(SHM_TOKEN_WORDS * 8 <= 128, "token entries fit 128 bytes");

void shm_token_encode(const struct shm_token *t, uint64_t *w)
{
    memset(w, 0, SHM_TOKEN_WORDS * sizeof(*w));
    memcpy(w, t->hash, 32);
    w[4] = (uint64_t)t->client_slot << 32 | t->client_gen;
    w[5] = (uint64_t)t->scope << 32 | t->audience;
    w[6] = (uint64_t)t->iat;
    w[7] = (uint64_t)t->exp;
    w[8] = (t->seq & SHM_TOKEN_SEQ_MAX) << 16 | (uint64_t)t->kind << 8 | t->flags;
    w[9] = t->parent;
    memcpy(&w[10], t->jkt, 32);
    w[14] = t->scope_bits.w[0];
    w[15] = t->scope_bits.w[1];
}

void shm_token_decode(const uint64_t *w, struct shm_token *t)
{
    memcpy(t->hash, w, 32);
    t->client_slot = (uint32_t)(w[4] >> 32);
    t->client_gen = (uint32_t)w[4];
    t->scope = (uint32_t)(w[5] >> 32);
    t->audience = (uint32_t)w[5];
    t->iat = (int64_t)w[6];
    t->exp = (int64_t)w[7];
    t->kind = (uint8_t)(w[8] >> 8);
    t->flags = (uint8_t)w[8];
    t->seq = w[8] >> 16;
    t->parent = w[9];
    memcpy(t->jkt, &w[10], 32);
    t->scope_bits.w[0] = w[14];
    t->scope_bits.w[1] = w[15];
    t->revoked = false;
}

static int token_insert(struct shm_region *r, const struct shm_token *t, struct shm_owner who,
                        bool unique)
{
    uint64_t w[SHM_TOKEN_WORDS];
    int64_t slot;

    shm_token_encode(t, w);
    slot =
        unique ? shm_table_insert_unique(r->tokens, w, who) : shm_table_insert(r->tokens, w, who);
    if (slot < 0)
        return (int)slot;
    shm__client_tokens_added(r, t, (uint64_t)slot, who);
    return 0;
}

int shm_token_insert(struct shm_region *r, const struct shm_token *t, struct shm_owner who)
{
    return token_insert(r, t, who, false);
}

int shm_token_insert_unique(struct shm_region *r, const struct shm_token *t, struct shm_owner who)
{
    return token_insert(r, t, who, true);
}

int shm_token_lookup(const struct shm_region *r, const uint8_t hash[32], struct shm_token *out)
{
    struct shm_entry e;

    if (shm_table_lookup(r->tokens, hash, &e) < 0)
        return -ENOENT;
    shm_token_decode(e.words, out);
    out->revoked = e.revoked;
    return 0;
}

enum shm_token_state shm_token_state(const struct shm_region *r, const struct shm_token *t,
                                     int64_t now)
{
    if (t->revoked || shm_client_generation(r, t->client_slot) != t->client_gen)
        return SHM_TOKEN_REVOKED;
    if (t->exp <= now)
        return SHM_TOKEN_EXPIRED;
    return SHM_TOKEN_ACTIVE;
}

int shm_token_scope(const struct shm_region *r, const struct shm_token *t, char *buf, size_t cap)
{
    char base[SHM_INTERN_MAX_LEN + 1];
    int n = shm_intern_get(r, t->scope, base, sizeof(base));

    if (n < 0) {
        n = 0;
        base[0] = '\0';
    }
    return shm_scope_text(base, (size_t)n, &t->scope_bits, buf, cap);
}

int shm_token_revoke_entry(struct shm_region *r, const struct shm_entry *e)
{
    return e->revoked ? -EALREADY : shm_table_revoke(r->tokens, e);
}

/* Its client no longer counts the entry e, freed, nor queues it. */
static void token_freed_entry(struct shm_region *r, const struct shm_entry *e, struct shm_owner who)
{
    struct shm_token t;

    shm_token_decode(e->words, &t);
    shm__client_tokens_gone(r, t.client_slot, t.client_gen);
    if (t.seq)
        shm__client_tokens_unqueue(r, t.client_slot, t.seq, who);
}

int shm_token_remove_entry(struct shm_region *r, const struct shm_entry *e, struct shm_owner who)
{
    int rc = shm_table_remove(r->tokens, e, who);

    if (rc == 0)
        token_freed_entry(r, e, who);
    return rc;
}

int shm_token_revoke(struct shm_region *r, const uint8_t hash[32])
{
    struct shm_entry e;
    int rc;

    do {
        if (shm_table_lookup(r->tokens, hash, &e) < 0)
            return -ENOENT;
        rc = shm_token_revoke_entry(r, &e);
    } while (rc == -EAGAIN);
    return rc == -EALREADY ? 0 : rc;
}

static int token_expired(const struct shm_entry *e, void *arg)
{
    return (int64_t)e->words[7] < *(const int64_t *)arg;
}

struct token_sweep {
    struct shm_region *r;
    struct shm_owner who;
    int64_t now;
};

static void token_freed(const struct shm_entry *e, void *arg)
{
    struct token_sweep *s = arg;

    token_freed_entry(s->r, e, s->who);
}

int64_t shm_token_sweep(struct shm_region *r, int64_t now, struct shm_owner who)
{
    struct token_sweep s = {r, who, now};

    return shm_table_sweep(r->tokens, token_expired, &s.now, token_freed, &s, who);
}
