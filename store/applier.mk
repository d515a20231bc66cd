# The store process's core (store/applier.c: apply passes, trimming, recovery over the log
# segments and Berkeley DB) and its tests.
libtessera_a_SOURCES += store/applier.c store/applier.h

UNIT_TESTS += tests/unit/store/applier_test
check_PROGRAMS += tests/unit/store/applier_test
tests_unit_store_applier_test_SOURCES = tests/unit/store/applier_test.c
tests_unit_store_applier_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_applier_test_LDADD = $(UNIT_LDADD)
