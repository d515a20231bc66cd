/*
 * Unit tests of proto/oauth/auth_limit.c through proto_client_authenticate(), the one caller:
 * client authentication from several addresses against a client with a generated secret and one
 * with a chosen (Argon2id) secret, with small limits.  Failures from one address never
 * refuse another; only a chosen secret has a limit of its own client id.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/oauth/auth_limit.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/secret.h"

#define GENERATED "Gq8vG2oYt0ZyHkA1rVJd2dqUVQ4e0Kb8nJ3c7wXyZ1s" /* 43 characters */
#define CHOSEN "correct horse battery staple"
#define PAIR_MAX 3
#define ADDRESS_MAX 40
#define CLIENT_MAX 5

struct fixture {
    struct shm_region region;
    struct proto_config cfg;
    struct proto_ctx ctx;
    struct proto_buf arena;
    struct proto_params params;
    struct proto_http http;
    struct proto_limits limits;
    struct proto_response res;
    uint8_t peer[4][32]; /* "ip:127.0.0.1" … "ip:127.0.0.4" */
    char in[1024];
};

static void add_client(struct fixture *f, const char *id, const char *secret, bool generated)
{
    struct shm_client c;
    uint64_t version;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
    assert_int_equal(proto_secret_set(&c, secret, strlen(secret), generated), 0);
    assert_true(shm_client_create(&f->region, &c, f->ctx.owner, &version) >= 0);
}

static int setup(void **state)
{
    struct shm_region_sizes sz = {.tokens = 100, .clients = 8, .intern = 64, .jti = 16};
    struct fixture *f = calloc(1, sizeof(*f));
    char ip[32];

    if (f == NULL || shm_region_create(&f->region, &sz) < 0)
        return -1;
    f->cfg.auth_fail_per_client_address = PAIR_MAX;
    f->cfg.auth_fail_per_address = ADDRESS_MAX;
    f->cfg.auth_fail_per_client = CLIENT_MAX;
    f->ctx.cfg = &f->cfg;
    f->ctx.region = &f->region;
    f->ctx.owner = (struct shm_owner){1, 1};
    f->ctx.now = 1700000000 - 1700000000 % 60 + 15; /* 15 s into a minute */
    f->ctx.arena = &f->arena;
    f->ctx.params = &f->params;
    f->limits = (struct proto_limits){8192, 16384, 64};
    for (int i = 0; i < 4; i++) {
        int n = snprintf(ip, sizeof(ip), "ip:127.0.0.%d", i + 1);

        proto_sha256(ip, (size_t)n, f->peer[i]);
    }
    add_client(f, "gen", GENERATED, true);
    add_client(f, "chosen", CHOSEN, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    shm_region_detach(&f->region);
    proto_buf_free(&f->arena);
    proto_response_free(&f->res);
    free(f);
    return 0;
}

/* Authenticates id:secret (client_secret_post) from address 127.0.0.<from>, or from an
 * unknown address when from is 0; returns the status (200 for success). */
static int auth(struct fixture *f, int from, const char *id, const char *secret)
{
    struct proto_client client;
    char body[256];
    int n = snprintf(body, sizeof(body), "client_id=%s&client_secret=%s", id, secret);

    snprintf(f->in, sizeof(f->in),
             "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
             n, body);
    proto_http_init(&f->http, &f->limits);
    assert_int_equal(proto_http_feed(&f->http, f->in, strlen(f->in)), PROTO_HTTP_REQUEST);
    f->ctx.peer_key = from ? f->peer[from - 1] : NULL;
    proto_response_reset(&f->res);
    assert_int_equal(proto_oauth_params(&f->ctx, &f->http.req, &f->res), 0);
    if (proto_client_authenticate(&f->ctx, &f->http.req, &client, &f->res) == 0)
        return 200;
    return f->res.status;
}

/* The Retry-After of the last answer, or -1. */
static int retry_after(const struct fixture *f)
{
    const struct proto_buf *h = &f->res.headers;
    const char *at = h->len ? memmem(h->data, h->len, "Retry-After: ", 13) : NULL;

    return at ? atoi(at + 13) : -1;
}

static void test_pair_limit_refuses_only_the_failing_address(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < PAIR_MAX; i++) {
        assert_int_equal(auth(f, 2, "gen", "wrong"), 401);
        assert_int_equal(auth(f, 1, "gen", GENERATED), 200);
    }
    /* 127.0.0.2 is refused even with the right secret, until the minute is over */
    assert_int_equal(auth(f, 2, "gen", "wrong"), 429);
    assert_int_equal(retry_after(f), 45);
    assert_int_equal(auth(f, 2, "gen", GENERATED), 429);
    /* the client itself is not: 127.0.0.1 and 127.0.0.3 go on */
    assert_int_equal(auth(f, 1, "gen", GENERATED), 200);
    assert_int_equal(auth(f, 3, "gen", GENERATED), 200);
    /* nor is 127.0.0.2 for another client id */
    assert_int_equal(auth(f, 2, "chosen", CHOSEN), 200);
    f->ctx.now += 45; /* the next minute */
    assert_int_equal(auth(f, 2, "gen", GENERATED), 200);
}

static void test_address_limit_counts_every_client_id(void **state)
{
    struct fixture *f = *state;
    char id[32];

    for (int i = 0; i < ADDRESS_MAX; i++) {
        snprintf(id, sizeof(id), "nobody-%d", i);
        assert_int_equal(auth(f, 2, id, "x"), 401);
    }
    assert_int_equal(auth(f, 2, "gen", GENERATED), 429);
    assert_true(retry_after(f) > 0);
    assert_int_equal(auth(f, 1, "gen", GENERATED), 200);
}

/* A generated secret: no flood from any number of addresses refuses the right one. */
static void test_generated_secret_has_no_client_limit(void **state)
{
    struct fixture *f = *state;

    for (int from = 2; from <= 4; from++)
        for (int i = 0; i < PAIR_MAX; i++)
            assert_int_equal(auth(f, from, "gen", "wrong"), 401);
    for (int i = 0; i < 3 * PAIR_MAX; i++) /* an unknown address is limited by nothing */
        assert_int_equal(auth(f, 0, "gen", "wrong"), 401);
    assert_int_equal(auth(f, 1, "gen", GENERATED), 200);
    assert_int_equal(auth(f, 0, "gen", GENERATED), 200);
}

/* A chosen secret can be guessed: its client id's failures from all addresses together
 * are limited, and then even the right secret from elsewhere waits out the minute. */
static void test_chosen_secret_has_a_client_limit(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < CLIENT_MAX; i++)
        assert_int_equal(auth(f, 2 + i % 3, "chosen", "guess"), 401);
    assert_int_equal(auth(f, 1, "chosen", CHOSEN), 429);
    assert_int_equal(retry_after(f), 45);
    assert_int_equal(auth(f, 0, "chosen", CHOSEN), 429);
    /* other clients are not concerned */
    assert_int_equal(auth(f, 1, "gen", GENERATED), 200);
    f->ctx.now += 45;
    assert_int_equal(auth(f, 1, "chosen", CHOSEN), 200);
}

/* Failures for a client id that does not exist count against the address only: the
 * client counter is read for chosen secrets alone, so nothing else is written to it. */
static void test_unknown_ids_fill_no_client_counter(void **state)
{
    struct fixture *f = *state;
    struct proto_auth_limit l;
    uint8_t h[32];

    for (int i = 0; i < CLIENT_MAX; i++)
        assert_int_equal(auth(f, 2 + i % 3, "later", "guess"), 401);
    proto_sha256("later", 5, h);
    proto_auth_limit_keys(&f->ctx, h, &l);
    proto_response_reset(&f->res);
    assert_false(proto_auth_limit_client(&f->ctx, &l, &f->res));
    add_client(f, "later", CHOSEN, false);
    assert_int_equal(auth(f, 1, "later", CHOSEN), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pair_limit_refuses_only_the_failing_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_address_limit_counts_every_client_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_secret_has_no_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chosen_secret_has_a_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ids_fill_no_client_counter, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
