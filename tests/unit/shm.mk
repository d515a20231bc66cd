# The shared-memory table engine (shm/table.c): its unit test, its multi-process stress
# test (a TAP program run by make check; `tests/stress/table_stress --seconds N` for
# longer runs) and its micro-benchmark (tools/bench/shm runs it).
UNIT_TESTS += tests/unit/shm/table_test tests/stress/table_stress
check_PROGRAMS += tests/unit/shm/table_test tests/stress/table_stress
tests_unit_shm_table_test_SOURCES = tests/unit/shm/table_test.c
tests_unit_shm_table_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_table_test_LDADD = $(UNIT_LDADD)
tests_stress_table_stress_SOURCES = tests/stress/table_stress.c
tests_stress_table_stress_CFLAGS = $(UNIT_CFLAGS)
tests_stress_table_stress_LDADD = $(UNIT_LDADD)

# Built by `make`.  Not noinst_PROGRAMS: tests/fuzz/local.mk assigns that one with `=`
# under `if FUZZERS`, which automake refuses after any unconditional definition.
EXTRA_PROGRAMS = tools/bench/shm_bench
all-local: tools/bench/shm_bench$(EXEEXT)
tools_bench_shm_bench_SOURCES = tools/bench/shm_bench.c
tools_bench_shm_bench_CFLAGS = $(AM_CFLAGS) -O2
tools_bench_shm_bench_LDADD = libtessera.a

# The event log's format and its per-site repeat limit (shm/log.c).
UNIT_TESTS += tests/unit/shm/log_test
check_PROGRAMS += tests/unit/shm/log_test
tests_unit_shm_log_test_SOURCES = tests/unit/shm/log_test.c
tests_unit_shm_log_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_log_test_LDADD = $(UNIT_LDADD)

# Open connections per client address (shm/peers.c), with processes racing for one
# address's last places.
UNIT_TESTS += tests/unit/shm/peers_test
check_PROGRAMS += tests/unit/shm/peers_test
tests_unit_shm_peers_test_SOURCES = tests/unit/shm/peers_test.c
tests_unit_shm_peers_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_peers_test_LDADD = $(UNIT_LDADD)

# The failed-authentication counters (shm/ratelimit.c).
UNIT_TESTS += tests/unit/shm/ratelimit_test
check_PROGRAMS += tests/unit/shm/ratelimit_test
tests_unit_shm_ratelimit_test_SOURCES = tests/unit/shm/ratelimit_test.c
tests_unit_shm_ratelimit_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_ratelimit_test_LDADD = $(UNIT_LDADD)

# Scope sets over a canonical base (shm/scope.c).
UNIT_TESTS += tests/unit/shm/scope_test
check_PROGRAMS += tests/unit/shm/scope_test
tests_unit_shm_scope_test_SOURCES = tests/unit/shm/scope_test.c
tests_unit_shm_scope_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_scope_test_LDADD = $(UNIT_LDADD)

# Each client's live tokens: count and issue-order queue (shm/client_tokens.c).
UNIT_TESTS += tests/unit/shm/client_tokens_test
check_PROGRAMS += tests/unit/shm/client_tokens_test
tests_unit_shm_client_tokens_test_SOURCES = tests/unit/shm/client_tokens_test.c
tests_unit_shm_client_tokens_test_CFLAGS = $(UNIT_CFLAGS)
tests_unit_shm_client_tokens_test_LDADD = $(UNIT_LDADD)
