/*
 * Unit tests of proto/admin/client_json.c: JSON bodies to validated clients (defaults, every
 * field, normalised scope lists, and each refusal naming its field), clients back to
 * JSON (never the verifier; a GET answer parses again), client ids in paths, and list
 * cursors.  A small shared-memory region holds the interned strings.  The last tests run
 * the admin handlers of proto/admin/admin_clients.c through the route table on that region.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/jose/jwt.h"
#include "proto/oauth/secret.h"

#define ADMIN_TOKEN "admin-token-for-unit-tests"

struct fixture {
    struct shm_region region;
    struct proto_config cfg;
    struct proto_ctx ctx;
    struct proto_buf arena;
    struct proto_params params;
    struct proto_buf out;
    struct proto_response res;
    struct proto_request req;
    char reqbuf[4096];
};

static int setup(void **state)
{
    struct shm_region_sizes sz = {.tokens = 100, .clients = 8, .intern = 64, .jti = 16};
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || shm_region_create(&f->region, &sz) < 0)
        return -1;
    f->cfg.issuer = "https://localhost";
    f->cfg.admin_enabled = true;
    proto_sha256(ADMIN_TOKEN, strlen(ADMIN_TOKEN), f->cfg.admin_token_hash);
    f->cfg.default_access_ttl = 3600;
    f->cfg.default_refresh_ttl = 86400;
    f->ctx.cfg = &f->cfg;
    f->ctx.region = &f->region;
    f->ctx.owner = (struct shm_owner){1, 1};
    f->ctx.now = 1700000000;
    f->ctx.arena = &f->arena;
    f->ctx.params = &f->params;
    proto_response_reset(&f->res);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    shm_region_detach(&f->region);
    proto_buf_free(&f->arena);
    proto_buf_free(&f->out);
    proto_response_free(&f->res);
    free(f);
    return 0;
}

static int parse(const char *body, struct proto_client_input *in, char *why)
{
    why[0] = '\0';
    return proto_client_parse(body, strlen(body), 3600, in, why);
}

/* ---- JSON to client ---------------------------------------------------------------- */

static void test_parse_defaults(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX];

    assert_int_equal(parse("{}", &in, why), 0);
    assert_string_equal(in.id, "");
    assert_false(in.has_secret);
    assert_string_equal(in.name, "");
    assert_string_equal(in.scopes, "");
    assert_string_equal(in.default_scopes, "");
    assert_string_equal(in.audiences, "");
    assert_int_equal(in.grant_types, PROTO_GRANT_CLIENT_CREDENTIALS);
    assert_int_equal(in.token_format, PROTO_FORMAT_OPAQUE);
    assert_int_equal(in.jwt_alg, PROTO_JWT_ES256);
    assert_int_equal(in.access_ttl, 3600);
    assert_int_equal(in.max_access_ttl, 0);
    assert_int_equal(in.refresh_ttl, 0);
    assert_int_equal(in.flags, 0);
    /* null is the same as absent */
    assert_int_equal(parse("{\"name\":null,\"scopes\":null,\"client_id\":null}", &in, why), 0);
    assert_string_equal(in.id, "");
}

static void test_parse_every_field(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX];
    const char *body =
        "{\"client_id\":\"a:b%c+d "
        "e\",\"client_secret\":\"p\xc3\xa4ss:%+\",\"name\":\"Caf\xc3\xa9\","
        "\"scopes\":[\"read\",\"write\",\"read\",\"admin:x\"],\"default_scopes\":[\"read\"],"
        "\"audiences\":[\"https://api.example\",\"urn:x\"],"
        "\"grant_types\":[\"refresh_token\",\"client_credentials\"],\"token_format\":\"jwt\","
        "\"jwt_alg\":\"EdDSA\",\"access_token_ttl\":60,\"max_access_token_ttl\":600,"
        "\"refresh_token_ttl\":7200,\"can_introspect\":true,\"created_at\":1,\"updated_at\":2}";

    assert_int_equal(parse(body, &in, why), 0);
    assert_string_equal(in.id, "a:b%c+d e");
    assert_true(in.has_secret);
    assert_int_equal(in.secret_len, 8);
    assert_memory_equal(in.secret, "p\xc3\xa4ss:%+", 8);
    assert_string_equal(in.name, "Caf\xc3\xa9");
    assert_string_equal(in.scopes, "read write admin:x");
    assert_string_equal(in.default_scopes, "read");
    assert_string_equal(in.audiences, "https://api.example urn:x");
    assert_int_equal(in.grant_types, PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN);
    assert_int_equal(in.token_format, PROTO_FORMAT_JWT);
    assert_int_equal(in.jwt_alg, PROTO_JWT_EDDSA);
    assert_int_equal(in.access_ttl, 60);
    assert_int_equal(in.max_access_ttl, 600);
    assert_int_equal(in.refresh_ttl, 7200);
    assert_int_equal(in.flags, PROTO_CLIENT_CAN_INTROSPECT);
}

static void test_parse_default_scopes_follow_scopes(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX];

    assert_int_equal(parse("{\"scopes\":[\"a\",\"b\"]}", &in, why), 0);
    assert_string_equal(in.default_scopes, "a b");
    assert_int_equal(parse("{\"scopes\":[\"a\",\"b\"],\"default_scopes\":[]}", &in, why), 0);
    assert_string_equal(in.default_scopes, "");
}

static void test_parse_scope_length_limit(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX], body[1024], a[142], b[141];

    memset(a, 'x', sizeof(a));
    memset(b, 'y', sizeof(b));
    a[139] = b[140] = '\0';
    /* 139 + 1 + 140 = 280 bytes joined: the limit exactly */
    snprintf(body, sizeof(body), "{\"scopes\":[\"%s\",\"%s\",\"%s\"]}", a, b, a);
    assert_int_equal(parse(body, &in, why), 0);
    assert_int_equal(strlen(in.scopes), 280);
    a[139] = 'x';
    a[140] = '\0';
    snprintf(body, sizeof(body), "{\"scopes\":[\"%s\",\"%s\"]}", a, b);
    assert_int_equal(parse(body, &in, why), -EINVAL);
    assert_non_null(strstr(why, "scopes is longer than 280 bytes"));
}

struct rejection {
    const char *body;
    const char *why; /* a substring of the description: it names the field */
};

static const struct rejection rejections[] = {
    {"", "the body is not valid JSON"},
    {"{\"client_id\":\"a\\u0000b\"}", "NUL"},
    {"{\"name\":\"\\u0000\"}", "NUL"},
    {"[]", "the body must be a JSON object"},
    {"{\"name\":\"a\",\"name\":\"b\"}", "duplicate"},
    {"{\"client_ide\":\"x\"}", "unknown field \"client_ide\""},
    {"{\"\\u0001evil\\\"\":1}", "unknown field \"?evil\"\""},
    {"{\"client_id\":7}", "client_id must be a string"},
    {"{\"client_id\":\"\"}", "client_id must be 1 to 127 characters"},
    {"{\"client_id\":\"caf\xc3\xa9\"}", "client_id must be 1 to 127 characters"},
    {"{\"client_id\":\"a\\tb\"}", "client_id must be 1 to 127"},
    {"{\"client_secret\":\"\"}", "client_secret must be 1 to 255 bytes"},
    {"{\"client_secret\":\"a\\nb\"}", "client_secret must be 1 to 255 bytes"},
    {"{\"client_secret\":[\"x\"]}", "client_secret must be a string"},
    {"{\"name\":\"a\\u0085b\"}", "name must be at most 127 bytes"},
    {"{\"name\":\"a\\u007fb\"}", "name must be at most 127 bytes"},
    {"{\"name\":false}", "name must be a string"},
    {"{\"scopes\":\"read write\"}", "scopes must be an array of strings"},
    {"{\"scopes\":[\"read\",3]}", "scopes[1] must be a non-empty string"},
    {"{\"scopes\":[\"\"]}", "scopes[0] must be a non-empty string"},
    {"{\"scopes\":[\"a b\"]}", "scopes[0] holds a character that is not allowed (RFC 6749"},
    {"{\"scopes\":[\"a\",\"b\\\"\"]}", "scopes[1] holds a character"},
    {"{\"scopes\":[\"x\\\\y\"]}", "scopes[0] holds a character"},
    {"{\"scopes\":[\"\xc3\xa9\"]}", "scopes[0] holds a character"},
    {"{\"default_scopes\":{}}", "default_scopes must be an array"},
    {"{\"scopes\":[\"a\"],\"default_scopes\":[\"a\",\"b\"]}",
     "default_scopes must be a subset of scopes"},
    {"{\"audiences\":[\"https://a b\"]}", "audiences[0] holds a character"},
    {"{\"audiences\":[\"ok\",\"\"]}", "audiences[1] must be a non-empty string"},
    {"{\"grant_types\":[]}", "grant_types must name at least one grant type"},
    {"{\"grant_types\":[\"password\"]}", "grant_types[0] must be \"client_credentials\""},
    {"{\"grant_types\":\"client_credentials\"}", "grant_types must be an array"},
    {"{\"token_format\":\"JWT\"}", "token_format must be \"opaque\" or \"jwt\""},
    {"{\"jwt_alg\":\"HS256\"}", "jwt_alg must be \"ES256\", \"EdDSA\" or \"RS256\""},
    {"{\"access_token_ttl\":0}", "access_token_ttl must be a whole number of seconds"},
    {"{\"access_token_ttl\":\"60\"}", "access_token_ttl must be a whole number"},
    {"{\"access_token_ttl\":1.5}", "access_token_ttl must be a whole number"},
    {"{\"access_token_ttl\":315360001}", "access_token_ttl must be a whole number"},
    {"{\"max_access_token_ttl\":-1}", "max_access_token_ttl must be a whole number"},
    {"{\"access_token_ttl\":600,\"max_access_token_ttl\":60}",
     "max_access_token_ttl must be at least access_token_ttl (600)"},
    {"{\"max_access_token_ttl\":60}", "max_access_token_ttl must be at least access_token_ttl"},
    {"{\"refresh_token_ttl\":true}", "refresh_token_ttl must be a whole number"},
    {"{\"can_introspect\":\"yes\"}", "can_introspect must be true or false"},
    {"{\"created_at\":\"now\"}", "created_at must be a number"},
    {"{\"max_live_tokens\":0}", "max_live_tokens must be a whole number from 1 to 200000000"},
    {"{\"max_live_tokens\":200000001}", "max_live_tokens must be a whole number"},
    {"{\"max_live_tokens\":\"5\"}", "max_live_tokens must be a whole number"},
};

static void test_parse_rejections(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX];

    for (size_t i = 0; i < sizeof(rejections) / sizeof(rejections[0]); i++) {
        int rc = parse(rejections[i].body, &in, why);

        if (rc != -EINVAL || strstr(why, rejections[i].why) == NULL)
            print_error("body %s: rc %d, why \"%s\", want \"%s\"\n", rejections[i].body, rc, why,
                        rejections[i].why);
        assert_int_equal(rc, -EINVAL);
        assert_non_null(strstr(why, rejections[i].why));
        for (const char *p = why; *p; p++) /* descriptions are printable ASCII */
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
}

static void test_parse_limits_accepted(void **state)
{
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX], body[1024], id[128], secret[256];

    memset(id, 'i', 127);
    id[127] = '\0';
    memset(secret, 's', 255);
    secret[255] = '\0';
    snprintf(body, sizeof(body), "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", id, secret);
    assert_int_equal(parse(body, &in, why), 0);
    assert_int_equal(strlen(in.id), 127);
    assert_int_equal(in.secret_len, 255);
    snprintf(body, sizeof(body), "{\"client_id\":\"%si\"}", id);
    assert_int_equal(parse(body, &in, why), -EINVAL);
    snprintf(body, sizeof(body), "{\"client_secret\":\"%ss\"}", secret);
    assert_int_equal(parse(body, &in, why), -EINVAL);
    /* every VSCHAR is allowed in an id */
    assert_int_equal(parse("{\"client_id\":\" !\\\"#$%&'()*+,-./:;<=>?@[\\\\]^_`{|}~\"}", &in, why),
                     0);
    assert_string_equal(in.id, " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
}

/* ---- client to JSON ------------------------------------------------------------------ */

static json_t *client_to_json(struct fixture *f, const struct shm_client *c)
{
    json_error_t err;
    json_t *j;

    proto_buf_reset(&f->out);
    proto_buf_append(&f->out, "{", 1);
    assert_int_equal(proto_client_json(&f->ctx, c, &f->out), 0);
    proto_buf_append(&f->out, "}", 1);
    j = json_loadb(f->out.data, f->out.len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        print_error("%.*s: %s\n", (int)f->out.len, f->out.data, err.text);
    assert_non_null(j);
    return j;
}

static void assert_list(json_t *j, const char *name, const char *const *want, size_t n)
{
    json_t *a = json_object_get(j, name);

    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(a, i)), want[i]);
}

static void test_build_and_json(void **state)
{
    struct fixture *f = *state;
    struct proto_client_input in;
    char why[PROTO_CLIENT_WHY_MAX];
    struct shm_client c = {0};
    static const char *const scopes[] = {"read", "write"}, *const defaults[] = {"read"};
    static const char *const auds[] = {"https://api"}, *const grants[] = {"client_credentials"};
    json_t *j;

    assert_int_equal(parse("{\"name\":\"N \\\"q\\\"\",\"scopes\":[\"read\",\"write\"],"
                           "\"default_scopes\":[\"read\"],\"audiences\":[\"https://api\"],"
                           "\"max_access_token_ttl\":7200,\"can_introspect\":true}",
                           &in, why),
                     0);
    snprintf(c.id, sizeof(c.id), "c1");
    assert_int_equal(proto_client_build(&f->ctx, &in, &c), 0);
    assert_true(c.scopes > 0 && c.default_scopes > 0 && c.audiences > 0);
    assert_int_equal(proto_secret_set(&c, "s3cret", 6, true), 0);
    c.created = 100;
    c.updated = 200;
    j = client_to_json(f, &c);
    assert_string_equal(json_string_value(json_object_get(j, "client_id")), "c1");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "N \"q\"");
    assert_list(j, "scopes", scopes, 2);
    assert_list(j, "default_scopes", defaults, 1);
    assert_list(j, "audiences", auds, 1);
    assert_list(j, "grant_types", grants, 1);
    assert_string_equal(json_string_value(json_object_get(j, "token_format")), "opaque");
    assert_string_equal(json_string_value(json_object_get(j, "jwt_alg")), "ES256");
    assert_int_equal(json_integer_value(json_object_get(j, "access_token_ttl")), 3600);
    assert_int_equal(json_integer_value(json_object_get(j, "max_access_token_ttl")), 7200);
    assert_int_equal(json_integer_value(json_object_get(j, "refresh_token_ttl")), 86400);
    assert_true(json_is_true(json_object_get(j, "can_introspect")));
    assert_int_equal(json_integer_value(json_object_get(j, "created_at")), 100);
    assert_int_equal(json_integer_value(json_object_get(j, "updated_at")), 200);
    assert_true(json_is_null(json_object_get(j, "max_live_tokens"))); /* the server's */
    assert_int_equal(json_object_size(j), 15); /* nothing else: no secret, no verifier */
    json_decref(j);
    /* Its own limit; the scope base is the allowed list sorted (the same string if it was). */
    assert_int_equal(parse("{\"scopes\":[\"write\",\"read\"],\"max_live_tokens\":5}", &in, why), 0);
    assert_int_equal(proto_client_build(&f->ctx, &in, &c), 0);
    assert_int_equal(c.max_live_tokens, 5);
    assert_string_equal(proto_interned(&f->ctx, c.scope_base, why, sizeof(why)), "read write");
    j = client_to_json(f, &c);
    assert_int_equal(json_integer_value(json_object_get(j, "max_live_tokens")), 5);
    assert_list(j, "scopes", (const char *const[]){"write", "read"}, 2);
    json_decref(j);
}

static void test_json_empty_lists_and_effective_ttls(void **state)
{
    struct fixture *f = *state;
    struct shm_client c = {0};
    static const char *const both[] = {"client_credentials", "refresh_token"};
    json_t *j;

    snprintf(c.id, sizeof(c.id), "x");
    c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN;
    c.token_format = PROTO_FORMAT_JWT;
    c.jwt_alg = PROTO_JWT_RS256;
    c.access_ttl = 60;
    c.refresh_ttl = 120;
    j = client_to_json(f, &c);
    assert_list(j, "scopes", NULL, 0);
    assert_list(j, "audiences", NULL, 0);
    assert_list(j, "grant_types", both, 2);
    assert_string_equal(json_string_value(json_object_get(j, "token_format")), "jwt");
    assert_string_equal(json_string_value(json_object_get(j, "jwt_alg")), "RS256");
    assert_int_equal(json_integer_value(json_object_get(j, "max_access_token_ttl")), 60);
    assert_int_equal(json_integer_value(json_object_get(j, "refresh_token_ttl")), 120);
    assert_true(json_is_false(json_object_get(j, "can_introspect")));
    json_decref(j);
    c.grant_types = PROTO_GRANT_REFRESH_TOKEN;
    j = client_to_json(f, &c);
    assert_list(j, "grant_types", both + 1, 1);
    json_decref(j);
}

/* A GET answer (with client_id) can be sent back as a PUT body unchanged. */
static void test_json_round_trip(void **state)
{
    struct fixture *f = *state;
    struct proto_client_input in, again;
    char why[PROTO_CLIENT_WHY_MAX];
    struct shm_client c = {0};

    assert_int_equal(parse("{\"client_id\":\"rt\",\"scopes\":[\"a\",\"b\"],\"audiences\":[\"u\"],"
                           "\"grant_types\":[\"client_credentials\",\"refresh_token\"],"
                           "\"access_token_ttl\":30,\"refresh_token_ttl\":90}",
                           &in, why),
                     0);
    memcpy(c.id, in.id, sizeof(c.id));
    assert_int_equal(proto_client_build(&f->ctx, &in, &c), 0);
    proto_buf_reset(&f->out);
    proto_buf_append(&f->out, "{", 1);
    assert_int_equal(proto_client_json(&f->ctx, &c, &f->out), 0);
    proto_buf_append(&f->out, "}", 1);
    assert_int_equal(proto_client_parse(f->out.data, f->out.len, 3600, &again, why), 0);
    assert_string_equal(again.id, "rt");
    assert_string_equal(again.scopes, in.scopes);
    assert_string_equal(again.default_scopes, in.default_scopes);
    assert_string_equal(again.audiences, in.audiences);
    assert_int_equal(again.grant_types, in.grant_types);
    assert_int_equal(again.access_ttl, 30);
    assert_int_equal(again.max_access_ttl, 30);
    assert_int_equal(again.refresh_ttl, 90);
}

/* ---- paths and cursors ------------------------------------------------------------- */

static void test_id_valid(void **state)
{
    char id[129];

    assert_true(proto_client_id_valid("a", 1));
    assert_true(proto_client_id_valid(" ~", 2));
    assert_false(proto_client_id_valid("", 0));
    assert_false(proto_client_id_valid("a\x7f", 2));
    assert_false(proto_client_id_valid("a\x1f", 2));
    assert_false(proto_client_id_valid("\xc3\xa9", 2));
    assert_false(proto_client_id_valid("a\0b", 3));
    memset(id, 'a', sizeof(id));
    assert_true(proto_client_id_valid(id, 127));
    assert_false(proto_client_id_valid(id, 128));
}

static int path(const char *rest, char *id, const char **suffix, size_t *slen)
{
    return proto_client_path_parse(rest, strlen(rest), id, suffix, slen);
}

static void test_path_parse(void **state)
{
    char id[SHM_CLIENT_ID_MAX], long_path[512];
    const char *suffix;
    size_t slen;

    assert_int_equal(path("demo", id, &suffix, &slen), 0);
    assert_string_equal(id, "demo");
    assert_null(suffix);
    assert_int_equal(path("a%2Fb%3A%25%2b+c%20d", id, &suffix, &slen), 0);
    assert_string_equal(id, "a/b:%++c d"); /* '+' is itself in a path */
    assert_null(suffix);
    assert_int_equal(path("a%2Fb/secret", id, &suffix, &slen), 0);
    assert_string_equal(id, "a/b");
    assert_int_equal(slen, 6);
    assert_memory_equal(suffix, "secret", 6);
    assert_int_equal(path("x/", id, &suffix, &slen), 0);
    assert_non_null(suffix);
    assert_int_equal(slen, 0);
    assert_int_equal(path("", id, &suffix, &slen), -ENOENT);
    assert_int_equal(path("/secret", id, &suffix, &slen), -ENOENT);
    assert_int_equal(path("a%2", id, &suffix, &slen), -EINVAL);
    assert_int_equal(path("a%", id, &suffix, &slen), -EINVAL);
    assert_int_equal(path("a%zz", id, &suffix, &slen), -EINVAL);
    assert_int_equal(path("a%2/x", id, &suffix, &slen), -EINVAL);
    assert_int_equal(path("a%0Ab", id, &suffix, &slen), -EINVAL); /* not a VSCHAR */
    assert_int_equal(path("a%00b", id, &suffix, &slen), -EINVAL);
    assert_int_equal(path("caf%C3%A9", id, &suffix, &slen), -EINVAL);
    /* 127 bytes decoded is the longest id */
    memset(long_path, 'a', 127);
    long_path[127] = '\0';
    assert_int_equal(path(long_path, id, &suffix, &slen), 0);
    assert_int_equal(strlen(id), 127);
    strcpy(long_path + 127, "%41");
    assert_int_equal(path(long_path, id, &suffix, &slen), -EINVAL);
}

static void test_path_encode(void **state)
{
    struct proto_buf b = {0};
    char id[SHM_CLIENT_ID_MAX];
    const char *suffix;
    size_t slen;
    const char *odd = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~Az09";

    assert_int_equal(proto_client_path_encode("a-b.c_d~e/f g+h%", &b), 0);
    proto_buf_append(&b, "", 1);
    assert_string_equal(b.data, "a-b.c_d~e%2Ff%20g%2Bh%25");
    /* encode then parse gives the id back */
    proto_buf_reset(&b);
    assert_int_equal(proto_client_path_encode(odd, &b), 0);
    assert_int_equal(proto_client_path_parse(b.data, b.len, id, &suffix, &slen), 0);
    assert_string_equal(id, odd);
    assert_null(suffix);
    proto_buf_free(&b);
}

static void test_cursor(void **state)
{
    static const uint64_t slots[] = {0, 1, 255, 256, 65537, UINT32_MAX, UINT64_MAX};
    char text[PROTO_CLIENT_CURSOR_MAX];
    uint64_t slot;

    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        proto_client_cursor_encode(slots[i], text);
        assert_int_equal(strlen(text), 11);
        for (const char *p = text; *p; p++)
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_",
                                   *p));
        assert_int_equal(proto_client_cursor_decode(text, strlen(text), &slot), 0);
        assert_true(slot == slots[i]);
    }
    assert_int_equal(proto_client_cursor_decode("", 0, &slot), -EINVAL);
    assert_int_equal(proto_client_cursor_decode("12", 2, &slot), -EINVAL);
    assert_int_equal(proto_client_cursor_decode("AAAAAAAAAA!", 11, &slot), -EINVAL);
    assert_int_equal(proto_client_cursor_decode("AAAAAAAAAAAA", 12, &slot), -EINVAL);
    assert_int_equal(proto_client_cursor_decode("AAAAAAAAAAB", 11, &slot), -EINVAL);
}

/* ---- the handlers, through the route table ---------------------------------------------- */

static void request(struct fixture *f, int method, const char *target, const char *token,
                    const char *body)
{
    int n = snprintf(f->reqbuf, sizeof(f->reqbuf), "%s%s%s", target, token ? token : "",
                     body ? body : "");
    const char *q = strchr(target, '?');
    size_t tlen = strlen(target), klen = token ? strlen(token) : 0;

    assert_true(n > 0 && (size_t)n < sizeof(f->reqbuf));
    memset(&f->req, 0, sizeof(f->req));
    f->req.base = f->reqbuf;
    f->req.method = method;
    f->req.target = (struct proto_span){0, (uint32_t)tlen};
    f->req.path = (struct proto_span){0, (uint32_t)(q ? (size_t)(q - target) : tlen)};
    f->req.query = q ? (struct proto_span){(uint32_t)(q - target + 1),
                                           (uint32_t)(tlen - (size_t)(q - target) - 1)}
                     : (struct proto_span){(uint32_t)tlen, 0};
    f->req.body = (struct proto_span){(uint32_t)(tlen + klen), body ? (uint32_t)strlen(body) : 0};
    /* The header block: "Authorization: <token>" lives in the buffer after the target;
     * a body is declared JSON, as the admin API requires. */
    f->reqbuf[n] = '\0';
    if (token) {
        static char name[] = "authorization";

        memmove(f->reqbuf + n + 1, name, sizeof(name));
        f->req.headers[0].name = (struct proto_span){(uint32_t)n + 1, sizeof(name) - 1};
        f->req.headers[0].value = (struct proto_span){(uint32_t)tlen, (uint32_t)klen};
        f->req.nheaders = 1;
        n += (int)sizeof(name);
    }
    if (body && *body) {
        static char header[] = "content-typeapplication/json";
        struct proto_header *h = &f->req.headers[f->req.nheaders++];

        assert_true((size_t)n + 1 + sizeof(header) <= sizeof(f->reqbuf));
        memcpy(f->reqbuf + n + 1, header, sizeof(header));
        h->name = (struct proto_span){(uint32_t)n + 1, 12};
        h->value = (struct proto_span){(uint32_t)n + 13, 16};
    }
    proto_response_reset(&f->res);
    proto_router_dispatch(proto_routes, proto_nroutes, &f->ctx, &f->req, &f->res);
}

static json_t *answer(struct fixture *f, int status)
{
    json_t *j;

    if (f->res.status != status)
        print_error("status %d: %.*s\n", f->res.status, (int)f->res.body.len, f->res.body.data);
    assert_int_equal(f->res.status, status);
    j = json_loadb(f->res.body.data, f->res.body.len, 0, NULL);
    assert_non_null(j);
    return j;
}

#define BEARER "Bearer " ADMIN_TOKEN

static void test_handlers_admin_token(void **state)
{
    struct fixture *f = *state;

    request(f, HTTP_GET, "/admin/clients", NULL, NULL);
    assert_int_equal(f->res.status, 401);
    request(f, HTTP_GET, "/admin/clients", "Bearer wrong-token-wrong-token", NULL);
    assert_int_equal(f->res.status, 401);
    request(f, HTTP_POST, "/admin/clients/x/secret", "Bearer nope", NULL);
    assert_int_equal(f->res.status, 401);
    f->cfg.admin_enabled = false;
    request(f, HTTP_GET, "/admin/clients", BEARER, NULL);
    assert_int_equal(f->res.status, 401);
}

static void test_handlers_lifecycle(void **state)
{
    struct fixture *f = *state;
    char secret[64];
    struct shm_client c;
    json_t *j;

    request(f, HTTP_POST, "/admin/clients", BEARER, "{\"client_id\":\"a/b\",\"scopes\":[\"r\"]}");
    j = answer(f, 201);
    snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(j, "client_secret")));
    assert_int_equal(strlen(secret), PROTO_TOKEN_CHARS);
    json_decref(j);
    assert_non_null(strstr(f->res.headers.data, "Location: /admin/clients/a%2Fb\r\n"));
    assert_non_null(strstr(f->res.headers.data, "Cache-Control: no-store\r\n"));
    assert_true(shm_client_find(&f->region, "a/b", 3, &c, NULL) >= 0);
    assert_true(proto_secret_verify(&c, secret, strlen(secret)));
    request(f, HTTP_POST, "/admin/clients", BEARER, "{\"client_id\":\"a/b\"}");
    json_decref(answer(f, 409));
    request(f, HTTP_GET, "/admin/clients/a%2Fb", BEARER, NULL);
    j = answer(f, 200);
    assert_null(json_object_get(j, "client_secret"));
    json_decref(j);
    request(f, HTTP_GET, "/admin/clients/a/b", BEARER, NULL);
    json_decref(answer(f, 404));
    request(f, HTTP_GET, "/admin/clients/a%2Fb/secret", BEARER, NULL);
    json_decref(answer(f, 405));
    request(f, HTTP_POST, "/admin/clients/a%2Fb", BEARER, NULL);
    json_decref(answer(f, 405));
    request(f, HTTP_POST, "/admin/clients/a%2Fb/secret?revoke_tokens=maybe", BEARER, NULL);
    json_decref(answer(f, 400));
    request(f, HTTP_POST, "/admin/clients/a%2Fb/secret", BEARER, NULL);
    json_decref(answer(f, 200));
    assert_true(shm_client_find(&f->region, "a/b", 3, &c, NULL) >= 0);
    assert_false(proto_secret_verify(&c, secret, strlen(secret)));
    request(f, HTTP_DELETE, "/admin/clients/a%2Fb", BEARER, NULL);
    json_decref(answer(f, 200));
    request(f, HTTP_DELETE, "/admin/clients/a%2Fb", BEARER, NULL);
    json_decref(answer(f, 404));
    request(f, HTTP_GET, "/admin/clients/a%zz", BEARER, NULL);
    json_decref(answer(f, 400));
}

static void test_handlers_put(void **state)
{
    struct fixture *f = *state;
    struct shm_client c;
    uint32_t gen, gen2;
    json_t *j;

    request(f, HTTP_PUT, "/admin/clients/p", BEARER, "{\"client_secret\":\"chosen\"}");
    j = answer(f, 201);
    assert_string_equal(json_string_value(json_object_get(j, "client_secret")), "chosen");
    json_decref(j);
    assert_true(shm_client_find(&f->region, "p", 1, &c, &gen) >= 0);
    assert_int_equal(c.verifier_kind, SHM_VERIFIER_ARGON2ID);
    f->ctx.now += 10;
    request(f, HTTP_PUT, "/admin/clients/p", BEARER, "{\"name\":\"renamed\"}");
    j = answer(f, 200);
    assert_null(json_object_get(j, "client_secret"));
    assert_int_equal(json_integer_value(json_object_get(j, "created_at")), 1700000000);
    assert_int_equal(json_integer_value(json_object_get(j, "updated_at")), 1700000010);
    json_decref(j);
    assert_true(shm_client_find(&f->region, "p", 1, &c, &gen2) >= 0);
    assert_int_equal(gen, gen2); /* tokens stay valid */
    assert_string_equal(c.name, "renamed");
    assert_true(proto_secret_verify(&c, "chosen", 6)); /* the secret is kept */
    request(f, HTTP_PUT, "/admin/clients/p", BEARER, "{\"client_id\":\"q\"}");
    json_decref(answer(f, 400));
    request(f, HTTP_PUT, "/admin/clients/p", BEARER, "{\"scopes\":[\"a b\"]}");
    json_decref(answer(f, 400));
}

static void test_handlers_list_pages(void **state)
{
    struct fixture *f = *state;
    char target[128], body[64];
    const char *next = NULL;
    json_t *j;
    size_t seen = 0;

    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof(body), "{\"client_id\":\"c%d\"}", i);
        request(f, HTTP_POST, "/admin/clients", BEARER, body);
        assert_int_equal(f->res.status, 201);
    }
    j = NULL;
    do {
        snprintf(target, sizeof(target), "/admin/clients?limit=2%s%s", next ? "&after=" : "",
                 next ? next : "");
        json_decref(j);
        request(f, HTTP_GET, target, BEARER, NULL);
        j = answer(f, 200);
        seen += json_array_size(json_object_get(j, "clients"));
        assert_true(json_array_size(json_object_get(j, "clients")) <= 2);
        next = json_string_value(json_object_get(j, "next"));
    } while (next);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    assert_int_equal(seen, 5);
    request(f, HTTP_GET, "/admin/clients?limit=0", BEARER, NULL);
    json_decref(answer(f, 400));
    request(f, HTTP_GET, "/admin/clients?limit=1001", BEARER, NULL);
    json_decref(answer(f, 400));
    request(f, HTTP_GET, "/admin/clients?limit=1000", BEARER, NULL);
    json_decref(answer(f, 200));
    request(f, HTTP_GET, "/admin/clients?after=bogus", BEARER, NULL);
    json_decref(answer(f, 400));
    request(f, HTTP_GET, "/admin/clients?lmit=5", BEARER, NULL);
    json_decref(answer(f, 400));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_default_scopes_follow_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_scope_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_limits_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_empty_lists_and_effective_ttls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_encode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handlers_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handlers_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handlers_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handlers_list_pages, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
