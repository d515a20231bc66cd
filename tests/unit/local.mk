# cmocka unit tests: tests/unit/<folder>/<file>_test.c, one per source file.
UNIT_TESTS += \
	tests/unit/proto/buf_test \
	tests/unit/proto/http/http_test \
	tests/unit/proto/http/request_test \
	tests/unit/proto/oauth/params_test \
	tests/unit/proto/oauth/scope_test \
	tests/unit/proto/oauth/client_auth_test \
	tests/unit/proto/oauth/auth_limit_test \
	tests/unit/proto/http/router_test \
	tests/unit/proto/http/response_test \
	tests/unit/master/config_test \
	tests/unit/master/listen_test
check_PROGRAMS += $(UNIT_TESTS)

tests_unit_proto_buf_test_SOURCES = tests/unit/proto/buf_test.c
tests_unit_proto_buf_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_buf_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_http_http_test_SOURCES = tests/unit/proto/http/http_test.c
tests_unit_proto_http_http_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_http_http_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_http_request_test_SOURCES = tests/unit/proto/http/request_test.c
tests_unit_proto_http_request_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_http_request_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_params_test_SOURCES = tests/unit/proto/oauth/params_test.c
tests_unit_proto_oauth_params_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_params_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_scope_test_SOURCES = tests/unit/proto/oauth/scope_test.c
tests_unit_proto_oauth_scope_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_scope_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_client_auth_test_SOURCES = tests/unit/proto/oauth/client_auth_test.c
tests_unit_proto_oauth_client_auth_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_client_auth_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_oauth_auth_limit_test_SOURCES = tests/unit/proto/oauth/auth_limit_test.c
tests_unit_proto_oauth_auth_limit_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_oauth_auth_limit_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_http_router_test_SOURCES = tests/unit/proto/http/router_test.c
tests_unit_proto_http_router_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_http_router_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_http_response_test_SOURCES = tests/unit/proto/http/response_test.c
tests_unit_proto_http_response_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_http_response_test_LDADD = $(UNIT_LDADD)
tests_unit_master_config_test_SOURCES = tests/unit/master/config_test.c
tests_unit_master_config_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_master_config_test_LDADD = $(UNIT_LDADD)
tests_unit_master_listen_test_SOURCES = tests/unit/master/listen_test.c
tests_unit_master_listen_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_master_listen_test_LDADD = $(UNIT_LDADD)
