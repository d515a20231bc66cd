/*
 * tools/bench/gen_log: writes a durability log of one client and N live opaque access
 * tokens, for tools/bench/recovery (recovery time of a large store) without issuing them
 * over HTTP.
 *
 *   gen_log --dir DATA_DIR/log [--tokens N] [--slot S] [--client-id ID] [--secret S]
 *           [--ttl SECONDS] [--batch R] [--seed X] [--token I]...
 *
 * Appends, with store/writer.h as writer slot S (default 0, worker 0's), one CLIENT_PUT
 * (generation 1, version 1: the first value of the change clock, so a store that already
 * holds clients of higher versions is not a place for it: use a data directory whose log
 * and database are empty of clients, e.g. a fresh `tesserad --dev` one, whose demo clients
 * the master makes again at each start) and N TOKEN_ISSUED records (client_gen 1, scope
 * "read", no audience, exp = now + ttl, default 7 days), committed R records at a time
 * with one write and one fdatasync each (sync = batch).  The tokens are those the server
 * would accept: token i is the base64url of SHA-256("gen_log <seed> <i>"), 43 characters
 * like the server's own opaque tokens, and its record carries the SHA-256 of that text
 * (proto_token_hash), so a sample of them can be validated after recovery.  The client's
 * secret is stored as the server stores generated ones (SHA-256), so the client can also
 * get new tokens after recovery.
 *
 * Prints, on stdout:
 *   GEN_LOG slot=S records=N+1 first_seq=F last_seq=L bytes=B seconds=T client_id=ID
 *   GEN_TOKEN <i> <token>        for each --token I (and, without any, tokens 0 and N-1)
 * Exit status 0, or 1 with the reason on stderr.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/oauth/client_policy.h"
#include "proto/oauth/secret.h"
#include "proto/oauth/tokens.h"
#include "shm/token.h"
#include "store/writer.h"

#define GEN_MAX_SAMPLES 64

struct gen_opts {
    const char *dir, *client_id, *secret, *seed;
    uint64_t tokens, batch, ttl;
    unsigned slot;
    uint64_t samples[GEN_MAX_SAMPLES];
    size_t nsamples;
};

static double gen_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Token i of the run: base64url of SHA-256("gen_log <seed> <i>"), PROTO_TOKEN_CHARS long. */
static void gen_token(const struct gen_opts *o, uint64_t i, char out[PROTO_TOKEN_CHARS + 1])
{
    char text[160];
    uint8_t raw[32];
    int n = snprintf(text, sizeof(text), "gen_log %s %" PRIu64, o->seed, i);

    proto_sha256(text, (size_t)n, raw);
    proto_b64url_encode(raw, sizeof(raw), out);
}

static int gen_usage(void)
{
    fputs("usage: gen_log --dir DATA_DIR/log [--tokens N] [--slot S] [--client-id ID]\n"
          "               [--secret S] [--ttl SECONDS] [--batch R] [--seed X] [--token I]...\n",
          stderr);
    return 1;
}

static int gen_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int gen_parse(int argc, char **argv, struct gen_opts *o)
{
    uint64_t v;

    *o = (struct gen_opts){.client_id = "bench-recovery",
                           .secret = "bench-recovery-secret-not-for-production",
                           .seed = "1",
                           .tokens = 1000000,
                           .batch = 4096,
                           .ttl = 7 * 86400};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (val == NULL)
            return -1;
        i++;
        if (strcmp(a, "--dir") == 0)
            o->dir = val;
        else if (strcmp(a, "--client-id") == 0)
            o->client_id = val;
        else if (strcmp(a, "--secret") == 0)
            o->secret = val;
        else if (strcmp(a, "--seed") == 0)
            o->seed = val;
        else if (strcmp(a, "--tokens") == 0) {
            if (gen_uint(val, 0, 100000000, &o->tokens) < 0)
                return -1;
        } else if (strcmp(a, "--batch") == 0) {
            if (gen_uint(val, 1, 1000000, &o->batch) < 0)
                return -1;
        } else if (strcmp(a, "--ttl") == 0) {
            if (gen_uint(val, 1, 10 * 365 * 86400ull, &o->ttl) < 0)
                return -1;
        } else if (strcmp(a, "--slot") == 0) {
            if (gen_uint(val, 0, 65535, &v) < 0)
                return -1;
            o->slot = (unsigned)v;
        } else if (strcmp(a, "--token") == 0) {
            if (o->nsamples == GEN_MAX_SAMPLES || gen_uint(val, 0, UINT64_MAX, &v) < 0)
                return -1;
            o->samples[o->nsamples++] = v;
        } else
            return -1;
    }
    if (o->dir == NULL || strlen(o->client_id) == 0 || strlen(o->client_id) >= SHM_CLIENT_ID_MAX ||
        strlen(o->seed) > 100)
        return -1;
    if (o->nsamples == 0 && o->tokens > 0) {
        o->samples[o->nsamples++] = 0;
        if (o->tokens > 1)
            o->samples[o->nsamples++] = o->tokens - 1;
    }
    return 0;
}

/* The client: opaque tokens, client_credentials, scopes "read write" (default "read"). */
static int gen_client(const struct gen_opts *o, struct store_record *r, int64_t now)
{
    struct store_client_rec *c = &r->u.client;

    memset(r, 0, sizeof(*r));
    r->type = STORE_REC_CLIENT_PUT;
    r->time_ms = now * 1000;
    snprintf(c->client.id, sizeof(c->client.id), "%s", o->client_id);
    snprintf(c->client.name, sizeof(c->client.name), "tools/bench gen_log");
    if (proto_secret_set(&c->client, o->secret, strlen(o->secret), true) < 0)
        return -1;
    c->client.token_format = PROTO_FORMAT_OPAQUE;
    c->client.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
    c->client.access_ttl = 3600;
    c->client.created = c->client.updated = now;
    snprintf(c->scopes, sizeof(c->scopes), "read write");
    snprintf(c->default_scopes, sizeof(c->default_scopes), "read");
    c->generation = 1;
    c->version = 1;
    return 0;
}

static void gen_token_rec(const struct gen_opts *o, uint64_t i, struct store_record *r, int64_t now)
{
    struct store_token *t = &r->u.token;
    char token[PROTO_TOKEN_CHARS + 1];

    memset(r, 0, sizeof(*r));
    r->type = STORE_REC_TOKEN_ISSUED;
    r->time_ms = now * 1000;
    gen_token(o, i, token);
    proto_token_hash(token, PROTO_TOKEN_CHARS, t->hash);
    snprintf(t->client_id, sizeof(t->client_id), "%s", o->client_id);
    t->client_gen = 1;
    snprintf(t->scope, sizeof(t->scope), "read");
    t->iat = now;
    t->exp = now + (int64_t)o->ttl;
    t->kind = SHM_TOKEN_ACCESS;
}

int main(int argc, char **argv)
{
    struct gen_opts o;
    struct store_writer w;
    struct store_record *r = malloc(sizeof(*r));
    char err[STORE_SEGMENT_MSG_MAX], token[PROTO_TOKEN_CHARS + 1];
    int64_t now = (int64_t)time(NULL);
    uint64_t first_seq = 0, last_seq = 0;
    double t0 = gen_now();
    int rc;

    if (r == NULL)
        return 1;
    if (gen_parse(argc, argv, &o) < 0) {
        free(r);
        return gen_usage();
    }
    memset(&w, 0, sizeof(w));
    rc = store_writer_open(&w, o.dir, o.slot, STORE_SYNC_BATCH, 0, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "gen_log: cannot open the log of slot %u in %s: %s\n", o.slot, o.dir, err);
        free(r);
        return 1;
    }
    if (w.warn[0])
        fprintf(stderr, "gen_log: %s\n", w.warn);
    rc = gen_client(&o, r, now) < 0 ? -EIO : store_writer_add(&w, r);
    first_seq = r->seq;
    for (uint64_t i = 0; rc == 0 && i < o.tokens; i++) {
        gen_token_rec(&o, i, r, now);
        rc = store_writer_add(&w, r);
        if (rc == 0 && store_writer_pending(&w) >= o.batch)
            rc = store_writer_commit(&w);
    }
    last_seq = r->seq;
    if (rc == 0)
        rc = store_writer_commit(&w);
    if (rc < 0) {
        fprintf(stderr, "gen_log: %s\n", w.err[0] ? w.err : strerror(-rc));
        store_writer_close(&w);
        free(r);
        return 1;
    }
    printf("GEN_LOG slot=%u records=%" PRIu64 " first_seq=%" PRIu64 " last_seq=%" PRIu64
           " bytes=%" PRIu64 " fsyncs=%" PRIu64 " seconds=%.3f client_id=%s\n",
           o.slot, w.stats.records, first_seq, last_seq, w.stats.bytes, w.stats.fsyncs,
           gen_now() - t0, o.client_id);
    for (size_t i = 0; i < o.nsamples; i++) {
        gen_token(&o, o.samples[i], token);
        printf("GEN_TOKEN %" PRIu64 " %s\n", o.samples[i], token);
    }
    rc = store_writer_close(&w);
    free(r);
    if (rc < 0) {
        fprintf(stderr, "gen_log: closing: %s\n", w.err);
        return 1;
    }
    return 0;
}
