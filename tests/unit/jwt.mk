# JWT access tokens and signing keys: JWS and claims (proto/jose/jwt.c), JWKs and key
# files (proto/jose/jwk.c), the worker's key cache and rotation (proto/jose/keys.c), the
# discovery and key endpoints (proto/oauth/discovery.c, proto/admin/admin_keys.c), token
# resolution (proto/oauth/token_resolve.c) and the shared-memory key table (shm/keys.c).
JWT_UNIT_TESTS = \
	tests/unit/proto/jose/jwt_test \
	tests/unit/proto/jose/jwk_test \
	tests/unit/proto/jose/keys_test \
	tests/unit/proto/oauth/discovery_test \
	tests/unit/proto/admin/admin_keys_test \
	tests/unit/proto/oauth/token_resolve_test \
	tests/unit/shm/keys_test
UNIT_TESTS += $(JWT_UNIT_TESTS)
check_PROGRAMS += $(JWT_UNIT_TESTS)

tests_unit_proto_jose_jwt_test_SOURCES = tests/unit/proto/jose/jwt_test.c tests/unit/proto/jose/jwt_fixture.h
tests_unit_proto_jose_jwt_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_jose_jwt_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_jose_jwk_test_SOURCES = tests/unit/proto/jose/jwk_test.c
tests_unit_proto_jose_jwk_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_jose_jwk_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_jose_keys_test_SOURCES = tests/unit/proto/jose/keys_test.c
tests_unit_proto_jose_keys_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_jose_keys_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_discovery_test_SOURCES = tests/unit/proto/oauth/discovery_test.c \
	tests/unit/proto/routed_fixture.h tests/unit/proto/jose/jwt_fixture.h
tests_unit_proto_oauth_discovery_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_discovery_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_admin_admin_keys_test_SOURCES = tests/unit/proto/admin/admin_keys_test.c \
	tests/unit/proto/routed_fixture.h tests/unit/proto/jose/jwt_fixture.h
tests_unit_proto_admin_admin_keys_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_admin_admin_keys_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_token_resolve_test_SOURCES = tests/unit/proto/oauth/token_resolve_test.c
tests_unit_proto_oauth_token_resolve_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_token_resolve_test_LDADD = $(UNIT_LDADD)
tests_unit_shm_keys_test_SOURCES = tests/unit/shm/keys_test.c
tests_unit_shm_keys_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_keys_test_LDADD = $(UNIT_LDADD)
