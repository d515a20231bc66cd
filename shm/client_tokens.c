/*
 * Each client's live tokens: a generation-tagged count and a queue in issue order (see
 * client_tokens.h).  Run by every worker (issuing, evicting), the master (sweeping) and
 * the store process (recovery).  Lock-free: the count and the head move by CAS; queue
 * entries are the table engine's.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shm/client.h"
#include "shm/client_tokens.h"
#include "shm/token.h"

/* Queue lookups one walk may make.  More than QUEUE_INFLIGHT, so that a walk always gets
 * past the newest sequences it may not skip for good. */
#define QUEUE_WALK 1024
/* Sequences at the end that may be handed out and not queued yet: a process issues one
 * token at a time, so at most one per process.  Missing entries older than that are
 * tokens that were never queued (a process died, or the queue was full) or were freed. */
#define QUEUE_INFLIGHT SHM_TABLE_OWNERS

enum queue_step { STEP_LIVE, STEP_SKIP, STEP_DEAD, STEP_MISSING };

static struct shm_client_tokens *ct_of(const struct shm_region *r, uint64_t slot)
{
    return slot < r->clients->capacity ? &r->clients->slots[slot].tokens : NULL;
}

/* splitmix64's finaliser: the key's first word must be well mixed (home bucket, tag). */
static uint64_t queue_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void queue_key(uint32_t slot, uint64_t seq, uint64_t w[4])
{
    w[0] = queue_mix(seq ^ queue_mix(slot));
    w[1] = slot;
    w[2] = seq;
    w[3] = 0;
}

uint32_t shm_client_tokens_live(const struct shm_region *r, uint64_t slot, uint32_t gen)
{
    const struct shm_client_tokens *ct = ct_of(r, slot);
    uint64_t w = ct ? atomic_load_explicit(&ct->live, memory_order_acquire) : 0;

    return (uint32_t)(w >> 32) == gen ? (uint32_t)w : 0;
}

uint64_t shm_client_tokens_next(struct shm_region *r, uint64_t slot)
{
    struct shm_client_tokens *ct = ct_of(r, slot);

    return ct ? atomic_fetch_add_explicit(&ct->issued, 1, memory_order_acq_rel) + 1 : 0;
}

/* Moves *word to v when v is above it (above == true) or below it or unset (0). */
static void ct_move(_Atomic uint64_t *word, uint64_t v, bool above)
{
    uint64_t cur = atomic_load_explicit(word, memory_order_relaxed);

    while ((above ? cur < v : cur == 0 || cur > v) &&
           !atomic_compare_exchange_weak_explicit(word, &cur, v, memory_order_acq_rel,
                                                  memory_order_relaxed))
        ;
}

static void ct_count(const struct shm_region *r, struct shm_client_tokens *ct, uint32_t slot,
                     uint32_t gen)
{
    uint64_t w = atomic_load_explicit(&ct->live, memory_order_relaxed), n;

    /* Born dead (a bump raced with its issue): not counted. */
    if (shm_client_generation(r, slot) != gen)
        return;
    do
        n = (uint32_t)(w >> 32) == gen ? w + 1 : ((uint64_t)gen << 32 | 1);
    while (!atomic_compare_exchange_weak_explicit(&ct->live, &w, n, memory_order_acq_rel,
                                                  memory_order_relaxed));
}

void shm__client_tokens_added(struct shm_region *r, const struct shm_token *t, uint64_t at,
                              struct shm_owner who)
{
    struct shm_client_tokens *ct = ct_of(r, t->client_slot);
    uint64_t w[SHM_CLIENT_QUEUE_WORDS];

    if (ct == NULL)
        return;
    ct_count(r, ct, t->client_slot, t->client_gen);
    /* Not in the queue: verified by its signature, recovered from format 1, or revoked (it
     * holds a slot, so it counts, but there is nothing to evict). */
    if (t->seq == 0 || t->revoked)
        return;
    ct_move(&ct->issued, t->seq, true); /* recovery hands out sequences stored before */
    queue_key(t->client_slot, t->seq, w);
    w[4] = at + 1;
    /* A full queue leaves the token counted but not evictable; it expires as usual. */
    if (shm_table_insert(r->token_queue, w, who) >= 0)
        ct_move(&ct->head, t->seq, false);
}

void shm__client_tokens_gone(struct shm_region *r, uint32_t slot, uint32_t gen)
{
    struct shm_client_tokens *ct = ct_of(r, slot);
    uint64_t w = ct ? atomic_load_explicit(&ct->live, memory_order_relaxed) : 0;

    while (ct && (uint32_t)(w >> 32) == gen && (uint32_t)w > 0 &&
           !atomic_compare_exchange_weak_explicit(&ct->live, &w, w - 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
        ;
}

void shm__client_tokens_unqueue(struct shm_region *r, uint32_t slot, uint64_t seq,
                                struct shm_owner who)
{
    uint64_t key[4];
    struct shm_entry q;

    queue_key(slot, seq, key);
    while (shm_table_lookup(r->token_queue, (const uint8_t *)key, &q) == 0 &&
           shm_table_remove(r->token_queue, &q, who) == -EAGAIN)
        ;
}

/* What sequence seq of the client holds: the live token (in *e), the one to skip, or
 * nothing live — then its queue entry is dropped, and an expired token freed. */
static enum queue_step queue_step(struct shm_region *r, uint32_t slot, uint32_t gen, uint64_t seq,
                                  int64_t now, const uint8_t *skip, struct shm_owner who,
                                  struct shm_entry *e)
{
    uint64_t key[4];
    struct shm_entry q;
    struct shm_token t;

    queue_key(slot, seq, key);
    if (shm_table_lookup(r->token_queue, (const uint8_t *)key, &q) < 0)
        return STEP_MISSING;
    if (shm_table_read(r->tokens, q.words[4] - 1, e) == 0) {
        shm_token_decode(e->words, &t);
        t.revoked = e->revoked;
        if (t.client_slot == slot && t.seq == seq && t.client_gen == gen && !t.revoked) {
            if (t.exp > now)
                return skip && memcmp(t.hash, skip, 32) == 0 ? STEP_SKIP : STEP_LIVE;
            /* Expired: freed now rather than at the next sweep, so the count falls (and
             * its queue entry goes with it). */
            if (shm_token_remove_entry(r, e, who) == 0)
                return STEP_DEAD;
        }
    }
    shm_table_remove(r->token_queue, &q, who);
    return STEP_DEAD;
}

int shm_client_tokens_oldest(struct shm_region *r, uint64_t slot, uint32_t gen, int64_t now,
                             const uint8_t *skip, struct shm_owner who, struct shm_entry *e)
{
    struct shm_client_tokens *ct = ct_of(r, slot);
    uint64_t seq, issued, n = 0;
    bool advance = true;

    if (ct == NULL || (seq = atomic_load_explicit(&ct->head, memory_order_acquire)) == 0)
        return -ENOENT;
    issued = atomic_load_explicit(&ct->issued, memory_order_acquire);
    for (; seq <= issued && n < QUEUE_WALK; seq++, n++) {
        enum queue_step st = queue_step(r, (uint32_t)slot, gen, seq, now, skip, who, e);

        if (st == STEP_LIVE)
            return 0;
        /* The head moves only past a prefix of sequences known to hold nothing live. */
        if (st == STEP_SKIP || (st == STEP_MISSING && seq + QUEUE_INFLIGHT > issued))
            advance = false;
        if (advance)
            ct_move(&ct->head, seq + 1, true);
    }
    return -ENOENT;
}
