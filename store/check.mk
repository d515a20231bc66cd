# tesserad --check-data: a data directory's log and Berkeley DB store verified without
# changing the log (store/check.c) and its tests.
libtessera_a_SOURCES += store/check.c store/check.h

UNIT_TESTS += tests/unit/store/check_test
check_PROGRAMS += tests/unit/store/check_test
tests_unit_store_check_test_SOURCES = tests/unit/store/check_test.c
tests_unit_store_check_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_check_test_LDADD = $(UNIT_LDADD)
