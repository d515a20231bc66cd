# Unit tests of the region and the tables over the engine (tokens, clients, intern, jti).
UNIT_TESTS += tests/unit/shm/region_test
check_PROGRAMS += tests/unit/shm/region_test
tests_unit_shm_region_test_SOURCES = tests/unit/shm/region_test.c
tests_unit_shm_region_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_region_test_LDADD = $(UNIT_LDADD)
