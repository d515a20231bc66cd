# JWT access tokens and signing keys: JWS and claims (proto/jwt.c), JWKs and key files
# (proto/jwk.c), the worker's key cache and rotation (proto/keys.c), discovery and key
# endpoints (proto/discovery.c), token resolution (proto/token_resolve.c) and the
# shared-memory key table (shm/keys.c).
JWT_UNIT_TESTS = \
	tests/unit/proto/jwt_test \
	tests/unit/proto/jwk_test \
	tests/unit/proto/keys_test \
	tests/unit/proto/discovery_test \
	tests/unit/proto/token_resolve_test \
	tests/unit/shm/keys_test
UNIT_TESTS += $(JWT_UNIT_TESTS)
check_PROGRAMS += $(JWT_UNIT_TESTS)

tests_unit_proto_jwt_test_SOURCES = tests/unit/proto/jwt_test.c tests/unit/proto/jwt_fixture.h
tests_unit_proto_jwt_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_jwt_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_jwk_test_SOURCES = tests/unit/proto/jwk_test.c
tests_unit_proto_jwk_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_jwk_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_keys_test_SOURCES = tests/unit/proto/keys_test.c
tests_unit_proto_keys_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_keys_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_discovery_test_SOURCES = tests/unit/proto/discovery_test.c
tests_unit_proto_discovery_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_discovery_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_token_resolve_test_SOURCES = tests/unit/proto/token_resolve_test.c
tests_unit_proto_token_resolve_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_token_resolve_test_LDADD = $(UNIT_LDADD)
tests_unit_shm_keys_test_SOURCES = tests/unit/shm/keys_test.c
tests_unit_shm_keys_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_keys_test_LDADD = $(UNIT_LDADD)
