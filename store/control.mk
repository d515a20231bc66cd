# The store process's control socket and what is built on it: the socket server
# (store/control.c), its requests (store/control_ops.c), session listings over Berkeley DB
# (store/bdb_listing.c), hot backup (store/backup.c); and their unit tests, with those of
# the worker's client of the socket (worker/storeq.c) and of GET /admin/sessions
# (proto/admin/admin_sessions.c), whose sources Makefile.am lists.
libtessera_a_SOURCES += store/control.c store/control.h store/control_ops.c \
	store/bdb_listing.c store/bdb_listing.h store/backup.c store/backup.h

UNIT_TESTS += tests/unit/store/control_test tests/unit/proto/admin/admin_sessions_test
check_PROGRAMS += tests/unit/store/control_test tests/unit/proto/admin/admin_sessions_test
tests_unit_store_control_test_SOURCES = tests/unit/store/control_test.c
tests_unit_store_control_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_control_test_LDADD = $(UNIT_LDADD)
tests_unit_proto_admin_admin_sessions_test_SOURCES = tests/unit/proto/admin/admin_sessions_test.c
tests_unit_proto_admin_admin_sessions_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_proto_admin_admin_sessions_test_LDADD = $(UNIT_LDADD)
