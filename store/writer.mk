# The per-writer log writer (store/writer.c: sequence continuation, batched commits, sync
# modes) and its tests.
libtessera_a_SOURCES += store/writer.c store/writer.h

UNIT_TESTS += tests/unit/store/writer_test
check_PROGRAMS += tests/unit/store/writer_test
tests_unit_store_writer_test_SOURCES = tests/unit/store/writer_test.c
tests_unit_store_writer_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_writer_test_LDADD = $(UNIT_LDADD)
