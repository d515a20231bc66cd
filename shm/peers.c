/*
 * Open connections per client address (see peers.h).  Lock-free: a word is claimed,
 * counted up and down and emptied with CAS.  An address may end up in two words of its
 * window (two workers claiming different empty words at once); its count is therefore
 * always the sum over the window, and a connection takes one off the word it added to.
 *
 * Acquiring adds first and checks the sum after, with sequentially consistent operations:
 * of two connections racing for an address's last place, the later add sees the earlier,
 * so the limit is never exceeded (both may be refused, once: a client retries).
 *
 * A worker writes a connection's record before its add and clears it after its subtract,
 * so a worker killed between the two steps leaves a record the master releases although
 * the count may not include it: a kill can only free a place too many, never leak one.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>

#include "shm/hash.h"
#include "shm/peers.h"

#define PEERS_WAYS 8  /* words per cache line */
#define PEERS_LINES 4 /* cache lines an address may live in, from its home */
#define PEERS_WINDOW (PEERS_WAYS * PEERS_LINES)
#define PEERS_COUNT_BITS 20
#define PEERS_COUNT_MASK ((UINT64_C(1) << PEERS_COUNT_BITS) - 1)
#define PEERS_REC_TAG_BITS 40 /* a record: word index + 1 above, the tag's low bits below */
#define PEERS_REC_TAG_MASK ((UINT64_C(1) << PEERS_REC_TAG_BITS) - 1)
#define PEERS_BUCKETS_MAX (UINT64_C(1) << 19)
#define PEERS_RETRIES 64 /* lost CAS races before a connection is admitted uncounted */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(SHM_PEERS_COUNT_MAX == PEERS_COUNT_MASK, "count field");

struct peers_hash {
    uint64_t home; /* first cache line */
    uint64_t tag;  /* 44 bits, never 0 */
};

static size_t peers_align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

size_t shm_peers_size(uint64_t nbuckets, uint32_t slots, uint64_t records)
{
    if (nbuckets == 0)
        return sizeof(struct shm_peers);
    return peers_align(sizeof(struct shm_peers)) + nbuckets * PEERS_WAYS * 8 +
           (size_t)slots * records * 8;
}

uint64_t shm_peers_buckets(uint64_t connections)
{
    uint64_t want = (connections * 4 + PEERS_WAYS - 1) / PEERS_WAYS, n = PEERS_LINES;

    while (n < want && n < PEERS_BUCKETS_MAX)
        n <<= 1;
    return n;
}

int shm_peers_init(struct shm_peers *p, uint64_t nbuckets, uint32_t slots, uint64_t records)
{
    p->nbuckets = nbuckets;
    p->nrecords = records;
    p->nslots = slots;
    p->words_off = peers_align(sizeof(*p));
    p->records_off = p->words_off + nbuckets * PEERS_WAYS * 8;
    if (getrandom(p->secret, sizeof(p->secret), 0) != (ssize_t)sizeof(p->secret))
        return -errno;
    return 0;
}

int shm_peers_key(const struct sockaddr *sa, uint8_t key[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (sa->sa_family == AF_INET) {
        memcpy(key, mapped, sizeof(mapped));
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    if (memcmp(key, mapped, sizeof(mapped)) != 0)
        memset(key + 8, 0, 8); /* the /64: an IPv4-mapped address stays whole */
    return 0;
}

static _Atomic uint64_t *peers_words(struct shm_peers *p)
{
    return (_Atomic uint64_t *)((char *)p + p->words_off);
}

static _Atomic uint64_t *peers_record(struct shm_peers *p, uint32_t slot, uint64_t rec)
{
    return (_Atomic uint64_t *)((char *)p + p->records_off) + (uint64_t)slot * p->nrecords + rec;
}

static void peers_hash(const struct shm_peers *p, const uint8_t key[16], struct peers_hash *h)
{
    uint8_t in[48], out[32];
    uint64_t v;

    memcpy(in, p->secret, 32);
    memcpy(in + 32, key, 16);
    shm_sha256(in, sizeof(in), out);
    memcpy(&v, out, sizeof(v));
    h->home = v & (p->nbuckets - 1);
    h->tag = v >> PEERS_COUNT_BITS;
    if (h->tag == 0)
        h->tag = 1;
}

/* The index of the i-th word of h's window. */
static uint64_t peers_index(const struct shm_peers *p, const struct peers_hash *h, unsigned i)
{
    return ((h->home + i / PEERS_WAYS) & (p->nbuckets - 1)) * PEERS_WAYS + i % PEERS_WAYS;
}

static uint32_t peers_sum(struct shm_peers *p, const struct peers_hash *h)
{
    _Atomic uint64_t *words = peers_words(p);
    uint64_t sum = 0;

    for (unsigned i = 0; i < PEERS_WINDOW; i++) {
        uint64_t w = atomic_load_explicit(&words[peers_index(p, h, i)], memory_order_seq_cst);

        if (w >> PEERS_COUNT_BITS == h->tag)
            sum += w & PEERS_COUNT_MASK;
    }
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

/* Takes one off word idx if it still holds the tag whose low bits are tag40; a word that
 * falls to 0 is emptied for any address. */
static bool peers_dec(struct shm_peers *p, uint64_t idx, uint64_t tag40)
{
    _Atomic uint64_t *wp = &peers_words(p)[idx];
    uint64_t w = atomic_load_explicit(wp, memory_order_relaxed), n;

    do {
        if (w == 0 || ((w >> PEERS_COUNT_BITS) & PEERS_REC_TAG_MASK) != tag40)
            return false;
        n = (w & PEERS_COUNT_MASK) == 1 ? 0 : w - 1;
    } while (!atomic_compare_exchange_weak_explicit(wp, &w, n, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return true;
}

/* One try at adding a connection to h's window: to a word of its tag, else to the first
 * empty word.  The word's index, -ENOSPC when the window is full of other addresses, or
 * -EAGAIN when another process changed the word first. */
static int64_t peers_inc(struct shm_peers *p, const struct peers_hash *h, _Atomic uint64_t *rec)
{
    _Atomic uint64_t *words = peers_words(p);
    uint64_t target = UINT64_MAX, seen = 0, n;

    for (unsigned i = 0; i < PEERS_WINDOW; i++) {
        uint64_t idx = peers_index(p, h, i);
        uint64_t w = atomic_load_explicit(&words[idx], memory_order_relaxed);

        if (w >> PEERS_COUNT_BITS == h->tag && (w & PEERS_COUNT_MASK) < PEERS_COUNT_MASK) {
            target = idx;
            seen = w;
            break;
        }
        if (w == 0 && target == UINT64_MAX)
            target = idx;
    }
    if (target == UINT64_MAX)
        return -ENOSPC;
    n = seen ? seen + 1 : h->tag << PEERS_COUNT_BITS | 1;
    atomic_store_explicit(rec, (target + 1) << PEERS_REC_TAG_BITS | (h->tag & PEERS_REC_TAG_MASK),
                          memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&words[target], &seen, n, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return -EAGAIN;
    return (int64_t)target;
}

int64_t shm_peers_acquire(struct shm_peers *p, const uint8_t key[16], uint32_t limit, uint32_t slot,
                          uint64_t rec)
{
    _Atomic uint64_t *r;
    struct peers_hash h;
    uint32_t sum;

    if (p->nbuckets == 0 || slot >= p->nslots || rec >= p->nrecords)
        return 0;
    r = peers_record(p, slot, rec);
    peers_hash(p, key, &h);
    for (int i = 0; i < PEERS_RETRIES; i++) {
        int64_t idx = peers_inc(p, &h, r);

        if (idx == -EAGAIN)
            continue;
        if (idx < 0)
            break;
        sum = peers_sum(p, &h);
        if (sum <= limit)
            return sum;
        peers_dec(p, (uint64_t)idx, h.tag & PEERS_REC_TAG_MASK);
        atomic_store_explicit(r, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->refused, 1, memory_order_relaxed);
        return -EBUSY;
    }
    atomic_store_explicit(r, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->untracked, 1, memory_order_relaxed);
    return 0;
}

/* Releases record r's connection; true when it was counted. */
static bool peers_release_record(struct shm_peers *p, _Atomic uint64_t *r)
{
    uint64_t v = atomic_load_explicit(r, memory_order_relaxed);

    if (v == 0)
        return false;
    peers_dec(p, (v >> PEERS_REC_TAG_BITS) - 1, v & PEERS_REC_TAG_MASK);
    atomic_store_explicit(r, 0, memory_order_relaxed);
    return true;
}

void shm_peers_release(struct shm_peers *p, uint32_t slot, uint64_t rec)
{
    if (p->nbuckets && slot < p->nslots && rec < p->nrecords)
        peers_release_record(p, peers_record(p, slot, rec));
}

uint64_t shm_peers_reclaim(struct shm_peers *p, uint32_t slot)
{
    uint64_t n = 0;

    if (p->nbuckets == 0 || slot >= p->nslots)
        return 0;
    for (uint64_t rec = 0; rec < p->nrecords; rec++)
        n += peers_release_record(p, peers_record(p, slot, rec));
    return n;
}

uint32_t shm_peers_count(struct shm_peers *p, const uint8_t key[16])
{
    struct peers_hash h;

    if (p->nbuckets == 0)
        return 0;
    peers_hash(p, key, &h);
    return peers_sum(p, &h);
}
