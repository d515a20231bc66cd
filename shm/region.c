/*
 * The shared-memory region (see region.h): a memfd sized from configuration, mapped
 * shared, its parts laid out at 4 KiB-aligned offsets recorded in the header.  A new
 * memfd reads as zeros, so formatting touches only headers and the memory of a table is
 * committed as entries land in it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "shm"
#include "shm/client.h"
#include "shm/client_tokens.h"
#include "shm/intern.h"
#include "shm/log.h"
#include "shm/ratelimit.h"
#include "shm/region.h"
#include "shm/jti.h"
#include "shm/keys.h"
#include "shm/logstat.h"
#include "shm/peers.h"
#include "shm/stats.h"
#include "shm/token.h"

#define REGION_ALIGN 4096
#define JTI_WORDS 5

static uint64_t region_align(uint64_t n)
{
    return (n + REGION_ALIGN - 1) & ~(uint64_t)(REGION_ALIGN - 1);
}

static uint64_t region_peer_buckets(const struct shm_region_sizes *sz)
{
    return sz->peer_records ? shm_peers_buckets((uint64_t)sz->peer_slots * sz->peer_records) : 0;
}

static void region_layout(struct shm_region_header *h, const struct shm_region_sizes *sz)
{
    uint64_t off = region_align(sizeof(*h));

    memcpy(h->magic, SHM_REGION_MAGIC, sizeof(SHM_REGION_MAGIC));
    h->layout = SHM_REGION_LAYOUT;
    h->header_size = sizeof(*h);
    h->tokens_capacity = sz->tokens;
    h->clients_capacity = sz->clients;
    h->intern_capacity = shm_intern_capacity(sz->intern);
    h->jti_capacity = sz->jti;
    h->tokens_off = off;
    off += region_align(shm_table_size(sz->tokens, SHM_TOKEN_WORDS));
    h->token_queue_off = off;
    off += region_align(shm_table_size(sz->tokens, SHM_CLIENT_QUEUE_WORDS));
    h->clients_off = off;
    off += region_align(shm_clients_size(sz->clients));
    h->client_index_off = off;
    off += region_align(shm_table_size(sz->clients, SHM_CLIENT_INDEX_WORDS));
    h->intern_off = off;
    off += region_align(shm_table_size(h->intern_capacity, SHM_INTERN_WORDS));
    h->intern_budget_off = off;
    off += region_align(sizeof(struct shm_intern_budget));
    h->jti_off = off;
    off += region_align(shm_table_size(sz->jti, JTI_WORDS));
    h->ratelimit_off = off;
    off += region_align(sizeof(struct shm_ratelimit));
    h->keys_off = off;
    off += region_align(shm_keys_size());
    h->logstat_off = off;
    off += region_align(sizeof(struct shm_logstat));
    h->peers_off = off;
    off += region_align(shm_peers_size(region_peer_buckets(sz), sz->peer_slots, sz->peer_records));
    h->stats_off = off;
    off += region_align(sizeof(struct shm_stats));
    h->size = off;
}

static void region_bind(struct shm_region *r)
{
    char *base = (char *)r->hdr;

    r->tokens = (struct shm_table *)(base + r->hdr->tokens_off);
    r->token_queue = (struct shm_table *)(base + r->hdr->token_queue_off);
    r->clients = (struct shm_clients *)(base + r->hdr->clients_off);
    r->client_index = (struct shm_table *)(base + r->hdr->client_index_off);
    r->intern = (struct shm_table *)(base + r->hdr->intern_off);
    r->intern_budget = (struct shm_intern_budget *)(base + r->hdr->intern_budget_off);
    r->jti = (struct shm_table *)(base + r->hdr->jti_off);
    r->ratelimit = (struct shm_ratelimit *)(base + r->hdr->ratelimit_off);
    r->keys = (struct shm_keys *)(base + r->hdr->keys_off);
    r->logstat = (struct shm_logstat *)(base + r->hdr->logstat_off);
    r->peers = (struct shm_peers *)(base + r->hdr->peers_off);
    r->stats = (struct shm_stats *)(base + r->hdr->stats_off);
}

static int region_map(struct shm_region *r, int fd, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    if (p == MAP_FAILED)
        return -errno;
    r->fd = fd;
    r->size = size;
    r->hdr = p;
    return 0;
}

/* Commits the token table's pages (and its queue's, laid out after it) now rather than one
 * page fault per first insert into a page (tokens land at random slots, so a cold table
 * faults on most early inserts). */
static void region_prefault(struct shm_region *r)
{
    char *p = (char *)r->hdr + r->hdr->tokens_off;
    size_t len = r->hdr->clients_off - r->hdr->tokens_off;

#ifdef MADV_POPULATE_WRITE
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t off = 0; off < len; off += 4096)
        ((volatile char *)p)[off] = 0;
}

int shm_region_create(struct shm_region *r, const struct shm_region_sizes *sz)
{
    struct shm_region_header h = {0};
    int fd, rc;

    region_layout(&h, sz);
    fd = memfd_create("tessera-shm", MFD_CLOEXEC);
    if (fd == -1) {
        rc = -errno;
        log_error("memfd_create() failed: %s", strerror(errno));
        return rc;
    }
    if (ftruncate(fd, (off_t)h.size) == -1 || (rc = region_map(r, fd, h.size)) < 0) {
        rc = -errno;
        log_error("cannot size or map %llu bytes of shared memory: %s", (unsigned long long)h.size,
                  strerror(errno));
        close(fd);
        return rc;
    }
    memcpy(r->hdr, &h, sizeof(h));
    region_bind(r);
    shm_table_init(r->tokens, shm_table_size(sz->tokens, SHM_TOKEN_WORDS), sz->tokens,
                   SHM_TOKEN_WORDS);
    shm_table_init(r->token_queue, shm_table_size(sz->tokens, SHM_CLIENT_QUEUE_WORDS), sz->tokens,
                   SHM_CLIENT_QUEUE_WORDS);
    shm_clients_init(r->clients, sz->clients);
    shm_table_init(r->client_index, shm_table_size(sz->clients, SHM_CLIENT_INDEX_WORDS),
                   sz->clients, SHM_CLIENT_INDEX_WORDS);
    shm_table_init(r->intern, shm_table_size(h.intern_capacity, SHM_INTERN_WORDS),
                   h.intern_capacity, SHM_INTERN_WORDS);
    r->intern_budget->limit = sz->intern;
    shm_table_init(r->jti, shm_table_size(sz->jti, JTI_WORDS), sz->jti, JTI_WORDS);
    shm_keys_init(r->keys);
    rc = shm_peers_init(r->peers, region_peer_buckets(sz), sz->peer_slots, sz->peer_records);
    if (rc < 0) {
        log_error("getrandom() failed: %s", strerror(-rc));
        shm_region_detach(r);
        return rc;
    }
    if (sz->prefault)
        region_prefault(r);
    return 0;
}

int shm_region_attach(struct shm_region *r, int fd)
{
    struct shm_region_header h;
    struct stat st;
    int rc;

    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || fstat(fd, &st) == -1)
        return -EIO;
    if (memcmp(h.magic, SHM_REGION_MAGIC, sizeof(SHM_REGION_MAGIC)) != 0 ||
        h.layout != SHM_REGION_LAYOUT || h.header_size != sizeof(h) ||
        (uint64_t)st.st_size != h.size) {
        log_error("shared memory region has an unknown layout (version %u)", h.layout);
        return -EPROTO;
    }
    rc = region_map(r, fd, h.size);
    if (rc < 0)
        return rc;
    region_bind(r);
    return 0;
}

void shm_region_detach(struct shm_region *r)
{
    if (r->hdr)
        munmap(r->hdr, r->size);
    if (r->fd >= 0)
        close(r->fd);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

uint64_t shm_region_reclaim(struct shm_region *r, struct shm_owner dead)
{
    return shm_table_reclaim(r->tokens, dead) + shm_table_reclaim(r->token_queue, dead) +
           shm_table_reclaim(r->client_index, dead) + shm_table_reclaim(r->intern, dead) +
           shm_table_reclaim(r->jti, dead) + shm_clients_reclaim(r, dead) +
           shm_keys_reclaim(r, dead);
}

int64_t shm_region_sweep(struct shm_region *r, int64_t now, struct shm_owner who)
{
    return shm_token_sweep(r, now, who) + shm_jti_sweep(r, now, who);
}
