/*
 * Unit tests of proto/admin/admin_keys.c, POST /admin/keys/rotate, over real parsed
 * requests routed through the server's table: the admin token is required, alg comes from
 * the query or a JSON or form body (or all three algorithms rotate), and the JWK Set
 * publishes the new keys beside the ones they replace.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/proto/routed_fixture.h"

static void test_rotate_endpoint(void **state)
{
    struct rfx *h = *state;
    struct proto_response *r;

    r = rfx_request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(r->status, 401);
    r = rfx_request(h, "POST /admin/keys/rotate?alg=ES256 HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " RFX_ADMIN_TOKEN "\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(rfx_has_header(r, "Cache-Control: no-store"));
    assert_int_equal(rfx_keys_in_jwks(h), 4);
    r = rfx_request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " RFX_ADMIN_TOKEN
                       "\r\nContent-Type: application/json\r\n"
                       "Content-Length: 15\r\n\r\n{\"alg\":\"EdDSA\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(rfx_keys_in_jwks(h), 5);
    r = rfx_request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " RFX_ADMIN_TOKEN "\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 9\r\n\r\nalg=HS256");
    assert_int_equal(r->status, 400);
    r = rfx_request(h, "POST /admin/keys/rotate HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " RFX_ADMIN_TOKEN "\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(rfx_keys_in_jwks(h), 8);
    assert_int_equal(h->f->store.saves, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotate_endpoint, rfx_setup, rfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
