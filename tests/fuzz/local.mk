# Fuzzing: one libFuzzer target per parser, tests/fuzz/<name>_fuzz.c, with a seed corpus
# in tests/fuzz/corpus/<name>/ and a dictionary tests/fuzz/<name>.dict.
#
# make check builds each target with replay.c (any compiler, no libFuzzer) into
# tests/fuzz/<name>_replay: the seeds plus a fixed number of deterministic mutations
# (about a second's worth), one TAP line.  Give it a crash file to replay just that.
# configure CC=clang --enable-fuzzers (what tools/fuzz does, in build-fuzz/) builds the
# libFuzzer binaries tests/fuzz/<name>_fuzz instead.

UNIT_TESTS += tests/fuzz/http_replay tests/fuzz/config_replay tests/fuzz/record_replay
check_PROGRAMS += tests/fuzz/http_replay tests/fuzz/config_replay tests/fuzz/record_replay

tests_fuzz_http_replay_SOURCES = tests/fuzz/http_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_http_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"http"' \
	-DFUZZ_REPLAY_MUTATIONS=200000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/http"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/http.dict"'
tests_fuzz_http_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_http_replay_LDADD = $(TESSERA_LIBS)

tests_fuzz_config_replay_SOURCES = tests/fuzz/config_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_config_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"config"' \
	-DFUZZ_REPLAY_MUTATIONS=50000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/config"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/config.dict"'
tests_fuzz_config_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_config_replay_LDADD = $(TESSERA_LIBS)

tests_fuzz_record_replay_SOURCES = tests/fuzz/record_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_record_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"record"' \
	-DFUZZ_REPLAY_MUTATIONS=150000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/record"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/record.dict"'
tests_fuzz_record_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_record_replay_LDADD = $(TESSERA_LIBS)

if FUZZERS
# libtessera.a gets coverage instrumentation from CFLAGS=-fsanitize=fuzzer-no-link at
# configure time (tools/fuzz); the targets add libFuzzer's main().
noinst_PROGRAMS = tests/fuzz/http_fuzz tests/fuzz/config_fuzz tests/fuzz/record_fuzz

tests_fuzz_http_fuzz_SOURCES = tests/fuzz/http_fuzz.c tests/fuzz/fuzz.h
tests_fuzz_http_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_http_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_http_fuzz_LDADD = $(TESSERA_LIBS)

tests_fuzz_config_fuzz_SOURCES = tests/fuzz/config_fuzz.c tests/fuzz/fuzz.h
tests_fuzz_config_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_config_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_config_fuzz_LDADD = $(TESSERA_LIBS)

tests_fuzz_record_fuzz_SOURCES = tests/fuzz/record_fuzz.c tests/fuzz/fuzz.h
tests_fuzz_record_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_record_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_record_fuzz_LDADD = $(TESSERA_LIBS)
endif
