# Unit tests of the endpoint handlers over a shared-memory region made by the test
# (tests/unit/proto/ctx_fixture.h): the token endpoint, client authentication (oauth.c),
# validation, introspection, revocation and the admin API's clients.
HANDLER_UNIT_TESTS = \
	tests/unit/proto/oauth/token_endpoint_test \
	tests/unit/proto/oauth/oauth_test \
	tests/unit/proto/oauth/validate_test \
	tests/unit/proto/oauth/introspect_test \
	tests/unit/proto/oauth/revoke_test \
	tests/unit/proto/admin/admin_clients_test
UNIT_TESTS += $(HANDLER_UNIT_TESTS)
check_PROGRAMS += $(HANDLER_UNIT_TESTS)
HANDLER_FIXTURE = tests/unit/proto/ctx_fixture.h tests/unit/proto/jose/jwt_fixture.h

tests_unit_proto_oauth_token_endpoint_test_SOURCES = tests/unit/proto/oauth/token_endpoint_test.c \
	$(HANDLER_FIXTURE)
tests_unit_proto_oauth_token_endpoint_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_token_endpoint_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_oauth_test_SOURCES = tests/unit/proto/oauth/oauth_test.c $(HANDLER_FIXTURE)
tests_unit_proto_oauth_oauth_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_oauth_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_validate_test_SOURCES = tests/unit/proto/oauth/validate_test.c $(HANDLER_FIXTURE)
tests_unit_proto_oauth_validate_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_validate_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_introspect_test_SOURCES = tests/unit/proto/oauth/introspect_test.c $(HANDLER_FIXTURE)
tests_unit_proto_oauth_introspect_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_introspect_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_revoke_test_SOURCES = tests/unit/proto/oauth/revoke_test.c $(HANDLER_FIXTURE)
tests_unit_proto_oauth_revoke_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_revoke_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_admin_admin_clients_test_SOURCES = tests/unit/proto/admin/admin_clients_test.c $(HANDLER_FIXTURE)
tests_unit_proto_admin_admin_clients_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_admin_admin_clients_test_LDADD = $(UNIT_LDADD)
