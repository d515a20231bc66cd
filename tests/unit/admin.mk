# Unit tests of the admin API's conversions (proto/admin/client_json.c): JSON to client and
# back, client ids in paths, list cursors.
UNIT_TESTS += tests/unit/proto/admin/client_json_test
check_PROGRAMS += tests/unit/proto/admin/client_json_test
tests_unit_proto_admin_client_json_test_SOURCES = tests/unit/proto/admin/client_json_test.c
tests_unit_proto_admin_client_json_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_admin_client_json_test_LDADD = $(UNIT_LDADD)
