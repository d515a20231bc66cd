# The record codec, CRC32C framing and log segments (store/record.c, store/segment.c) and
# their tests.
libtessera_a_SOURCES += store/record.c store/record.h store/crc.c store/crc.h \
	store/segment.c store/segment.h

UNIT_TESTS += tests/unit/store/crc_test tests/unit/store/record_test \
	tests/unit/store/segment_test
check_PROGRAMS += tests/unit/store/crc_test tests/unit/store/record_test \
	tests/unit/store/segment_test
tests_unit_store_crc_test_SOURCES = tests/unit/store/crc_test.c
tests_unit_store_crc_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_crc_test_LDADD = $(UNIT_LDADD)
tests_unit_store_record_test_SOURCES = tests/unit/store/record_test.c
tests_unit_store_record_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_record_test_LDADD = $(UNIT_LDADD)
tests_unit_store_segment_test_SOURCES = tests/unit/store/segment_test.c
tests_unit_store_segment_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_store_segment_test_LDADD = $(UNIT_LDADD)
