/*
 * Unit tests of proto/oauth/params.c: form-urlencoded and JSON parameters as the OAuth
 * endpoints and the admin API decode them.  The rule every decoder keeps: no decoded
 * name or value holds a NUL byte, however it was spelled (%00, a raw byte, \u0000).
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/oauth/params.h"

static struct proto_buf arena;

static int parse_form(const char *s, size_t len, struct proto_params *p)
{
    p->arena = &arena;
    return proto_form_parse(s, len, p);
}

static int parse_json(const char *s, size_t len, struct proto_params *p)
{
    p->arena = &arena;
    return proto_json_params_parse(s, len, p);
}

#define FORM(lit, p) parse_form(lit, sizeof(lit) - 1, p)
#define JSON(lit, p) parse_json(lit, sizeof(lit) - 1, p)

static void test_form_decode(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(proto_form_decode("a+b%41%7e", 9, out), 5);
    assert_memory_equal(out, "a bA~", 5);
    assert_int_equal(proto_form_decode("", 0, out), 0);
    assert_int_equal(proto_form_decode("%4", 2, out), -EINVAL);
    assert_int_equal(proto_form_decode("%zz", 3, out), -EINVAL);
    /* NUL, encoded or raw, anywhere */
    assert_int_equal(proto_form_decode("%00", 3, out), -EILSEQ);
    assert_int_equal(proto_form_decode("client_credentials%00garbage", 28, out), -EILSEQ);
    assert_int_equal(proto_form_decode("x%00", 4, out), -EILSEQ);
    assert_int_equal(proto_form_decode("a\0b", 3, out), -EILSEQ);
    /* %01 and the like are bytes like any other: the endpoints judge them */
    assert_int_equal(proto_form_decode("%01", 3, out), 1);
    assert_int_equal(out[0], 1);
}

static void test_form_parse(void **state)
{
    struct proto_params p;
    const struct proto_param *v;

    (void)state;
    assert_int_equal(FORM("grant_type=client_credentials&scope=a+b&&empty=&bare", &p), 0);
    assert_int_equal(p.n, 4);
    v = proto_params_get(&p, "grant_type");
    assert_non_null(v);
    assert_string_equal(v->value, "client_credentials");
    assert_int_equal(v->len, 18);
    assert_string_equal(proto_params_get(&p, "scope")->value, "a b");
    assert_int_equal(proto_params_get(&p, "empty")->len, 0);
    assert_int_equal(proto_params_get(&p, "bare")->len, 0);
    assert_null(proto_params_get(&p, "absent"));
}

static void test_form_nul_refused(void **state)
{
    static const char *const bad[] = {
        "grant_type=client_credentials%00garbage",
        "grant_type=client_credentials&client_secret=s%00",
        "grant%00_type=client_credentials",
        "%00=x",
        "scope=%00",
    };
    struct proto_params p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_form(bad[i], strlen(bad[i]), &p), -EINVAL);
        assert_non_null(p.error);
        assert_non_null(strstr(p.error, "NUL"));
    }
    /* a raw NUL byte in the body is no different */
    assert_int_equal(FORM("grant_type=client_credentials\0garbage", &p), -EINVAL);
    assert_non_null(strstr(p.error, "NUL"));
    /* a bad escape keeps its own description */
    assert_int_equal(FORM("scope=%zz", &p), -EINVAL);
    assert_null(strstr(p.error, "NUL"));
}

static void test_json_parse(void **state)
{
    struct proto_params p;

    (void)state;
    assert_int_equal(JSON("{\"grant_type\":\"client_credentials\",\"scope\":[\"a\",\"b\"],"
                          "\"validity_period\":60}",
                          &p),
                     0);
    assert_int_equal(p.n, 3);
    assert_string_equal(proto_params_get(&p, "grant_type")->value, "client_credentials");
    assert_string_equal(proto_params_get(&p, "scope")->value, "a b");
    assert_string_equal(proto_params_get(&p, "validity_period")->value, "60");
    assert_int_equal(JSON("{\"a\":\"\\u0001\"}", &p), 0);
}

static void test_json_nul_refused(void **state)
{
    static const char *const bad[] = {
        "{\"grant_type\":\"client_credentials\\u0000garbage\"}",
        "{\"grant_type\":\"client_credentials\",\"client_secret\":\"\\u0000\"}",
        "{\"grant_type\\u0000x\":\"client_credentials\"}",
        "{\"scope\":[\"read\",\"wr\\u0000ite\"]}",
    };
    struct proto_params p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_json(bad[i], strlen(bad[i]), &p), -EINVAL);
        if (strstr(p.error, "NUL") == NULL)
            print_error("%s: %s\n", bad[i], p.error);
        assert_non_null(strstr(p.error, "NUL"));
    }
    assert_int_equal(JSON("{\"a\":\"x\",\"a\":\"y\"}", &p), -EINVAL);
    assert_non_null(strstr(p.error, "repeats a name"));
    assert_int_equal(JSON("{\"a\":", &p), -EINVAL);
    assert_string_equal(p.error, "the body is not valid JSON");
}

static void test_check_single(void **state)
{
    static const char *const repeatable[] = {"resource", NULL};
    struct proto_params p;

    (void)state;
    assert_int_equal(FORM("resource=a&resource=b&scope=x", &p), 0);
    assert_null(proto_params_check_single(&p, repeatable));
    assert_int_equal(FORM("scope=a&resource=b&scope=x", &p), 0);
    assert_string_equal(proto_params_check_single(&p, repeatable), "scope");
}

static void test_too_many(void **state)
{
    char form[512] = "", json[1024] = "{";
    struct proto_params p;

    (void)state;
    for (int i = 0; i < PROTO_PARAMS_MAX; i++) {
        snprintf(form + strlen(form), sizeof(form) - strlen(form), "%sp%d=1", i ? "&" : "", i);
        snprintf(json + strlen(json), sizeof(json) - strlen(json), "%s\"p%d\":\"1\"", i ? "," : "",
                 i);
    }
    assert_int_equal(parse_form(form, strlen(form), &p), 0);
    assert_int_equal(p.n, PROTO_PARAMS_MAX);
    strcat(json, "}");
    assert_int_equal(parse_json(json, strlen(json), &p), 0);
    assert_int_equal(p.n, PROTO_PARAMS_MAX);
    /* one more is refused, not dropped */
    strcat(form, "&one=more");
    assert_int_equal(parse_form(form, strlen(form), &p), -EINVAL);
    assert_string_equal(p.error, "too many parameters");
    strcpy(json + strlen(json) - 1, ",\"one\":\"more\"}");
    assert_int_equal(parse_json(json, strlen(json), &p), -EINVAL);
    assert_string_equal(p.error, "too many parameters");
}

static void test_json_types(void **state)
{
    static const char *const bad[] = {
        "{\"a\":true}",          "{\"a\":null}",     "{\"a\":1.5}", "{\"a\":{}}", "{\"a\":[\"x\"]}",
        "{\"scope\":[\"x\",1]}", "{\"scope\":[[]]}", "[\"a\"]",     "\"a\"",      "",
    };
    struct proto_params p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_json(bad[i], strlen(bad[i]), &p) != -EINVAL)
            print_error("%s was taken\n", bad[i]);
        assert_int_equal(parse_json(bad[i], strlen(bad[i]), &p), -EINVAL);
        assert_non_null(p.error);
    }
    assert_int_equal(JSON("{\"n\":-42,\"scope\":[],\"e\":\"\"}", &p), 0);
    assert_string_equal(proto_params_get(&p, "n")->value, "-42");
    assert_int_equal(proto_params_get(&p, "scope")->len, 0);
    assert_int_equal(proto_params_get(&p, "e")->len, 0);
}

static void test_form_names(void **state)
{
    struct proto_params p;

    (void)state;
    /* a pair without a name is a parameter named "", which no handler asks for */
    assert_int_equal(FORM("=x&a=b=c&%41=1", &p), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(proto_params_get(&p, "")->value, "x");
    assert_string_equal(proto_params_get(&p, "a")->value, "b=c");
    assert_string_equal(proto_params_get(&p, "A")->value, "1");
    assert_int_equal(FORM("a%zz=1", &p), -EINVAL);
    assert_string_equal(p.error, "malformed form encoding in a parameter name");
    assert_int_equal(proto_hex_value('0'), 0);
    assert_int_equal(proto_hex_value('f'), 15);
    assert_int_equal(proto_hex_value('F'), 15);
    assert_int_equal(proto_hex_value('g'), -EINVAL);
    assert_int_equal(proto_hex_value('G'), -EINVAL);
    assert_int_equal(proto_hex_value('/'), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_decode),      cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_nul_refused), cmocka_unit_test(test_json_parse),
        cmocka_unit_test(test_json_nul_refused), cmocka_unit_test(test_check_single),
        cmocka_unit_test(test_too_many),         cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_form_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    proto_buf_free(&arena);
    return rc;
}
