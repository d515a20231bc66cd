# The Berkeley DB store (store/bdb.c: environment, databases, checkpoints, backup;
# store/bdb_apply.c: records applied in transactions; store/bdb_sessions.c: loading,
# listings, purge; store/bdb_value.c: the stored value format; store/bdb_verify.c: reading
# everything for --check-data) and its tests (bdb_clients: client changes applied in any
# order).
libtessera_a_SOURCES += store/bdb.c store/bdb.h store/bdb_int.h store/bdb_apply.c \
	store/bdb_sessions.c store/bdb_value.c store/bdb_verify.c

UNIT_TESTS += tests/unit/store/bdb_test tests/unit/store/bdb_clients_test
check_PROGRAMS += tests/unit/store/bdb_test tests/unit/store/bdb_clients_test
tests_unit_store_bdb_test_SOURCES = tests/unit/store/bdb_test.c
tests_unit_store_bdb_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_bdb_test_LDADD = $(UNIT_LDADD)
tests_unit_store_bdb_clients_test_SOURCES = tests/unit/store/bdb_clients_test.c
tests_unit_store_bdb_clients_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_bdb_clients_test_LDADD = $(UNIT_LDADD)
