# Unit tests of the admin API's conversions (proto/client_json.c): JSON to client and
# back, client ids in paths, list cursors.
UNIT_TESTS += tests/unit/proto/client_json_test
check_PROGRAMS += tests/unit/proto/client_json_test
tests_unit_proto_client_json_test_SOURCES = tests/unit/proto/client_json_test.c
tests_unit_proto_client_json_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_client_json_test_LDADD = $(UNIT_LDADD)
