# Fuzzing: one libFuzzer target per parser, tests/fuzz/<name>_fuzz.c, with a seed corpus
# in tests/fuzz/corpus/<name>/ and a dictionary tests/fuzz/<name>.dict.
#
# make check builds each target with replay.c (any compiler, no libFuzzer) into
# tests/fuzz/<name>_replay: the seeds plus a fixed number of deterministic mutations
# (about a second's worth), one TAP line.  Give it a crash file to replay just that.
# configure CC=clang --enable-fuzzers (what tools/fuzz does, in build-fuzz/) builds the
# libFuzzer binaries tests/fuzz/<name>_fuzz instead.

FUZZ_REPLAYS = tests/fuzz/http_replay tests/fuzz/config_replay tests/fuzz/record_replay \
	tests/fuzz/form_replay tests/fuzz/json_replay tests/fuzz/client_json_replay \
	tests/fuzz/jwt_replay
UNIT_TESTS += $(FUZZ_REPLAYS)
check_PROGRAMS += $(FUZZ_REPLAYS)

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

tests_fuzz_form_replay_SOURCES = tests/fuzz/form_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
	tests/fuzz/ctx.h
tests_fuzz_form_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"form"' \
	-DFUZZ_REPLAY_MUTATIONS=1000000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/form"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/form.dict"'
tests_fuzz_form_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_form_replay_LDADD = $(TESSERA_LIBS)

tests_fuzz_json_replay_SOURCES = tests/fuzz/json_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
	tests/fuzz/ctx.h
tests_fuzz_json_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"json"' \
	-DFUZZ_REPLAY_MUTATIONS=700000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/json"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/json.dict"'
tests_fuzz_json_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_json_replay_LDADD = $(TESSERA_LIBS)

tests_fuzz_client_json_replay_SOURCES = tests/fuzz/client_json_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
	tests/fuzz/ctx.h
tests_fuzz_client_json_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"client_json"' \
	-DFUZZ_REPLAY_MUTATIONS=350000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/client_json"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/client_json.dict"'
tests_fuzz_client_json_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_client_json_replay_LDADD = $(TESSERA_LIBS)

tests_fuzz_jwt_replay_SOURCES = tests/fuzz/jwt_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
	tests/fuzz/ctx.h
tests_fuzz_jwt_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"jwt"' \
	-DFUZZ_REPLAY_MUTATIONS=5000 \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/jwt"' \
	-DFUZZ_DICT='"$(abs_top_srcdir)/tests/fuzz/jwt.dict"'
tests_fuzz_jwt_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_jwt_replay_LDADD = $(TESSERA_LIBS)

if FUZZERS
# libtessera.a gets coverage instrumentation from CFLAGS=-fsanitize=fuzzer-no-link at
# configure time (tools/fuzz); the targets add libFuzzer's main().
noinst_PROGRAMS = tests/fuzz/http_fuzz tests/fuzz/config_fuzz tests/fuzz/record_fuzz \
	tests/fuzz/form_fuzz tests/fuzz/json_fuzz tests/fuzz/client_json_fuzz tests/fuzz/jwt_fuzz

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

tests_fuzz_form_fuzz_SOURCES = tests/fuzz/form_fuzz.c tests/fuzz/fuzz.h tests/fuzz/ctx.h
tests_fuzz_form_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_form_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_form_fuzz_LDADD = $(TESSERA_LIBS)

tests_fuzz_json_fuzz_SOURCES = tests/fuzz/json_fuzz.c tests/fuzz/fuzz.h tests/fuzz/ctx.h
tests_fuzz_json_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_json_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_json_fuzz_LDADD = $(TESSERA_LIBS)

tests_fuzz_client_json_fuzz_SOURCES = tests/fuzz/client_json_fuzz.c tests/fuzz/fuzz.h \
	tests/fuzz/ctx.h
tests_fuzz_client_json_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_client_json_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_client_json_fuzz_LDADD = $(TESSERA_LIBS)

tests_fuzz_jwt_fuzz_SOURCES = tests/fuzz/jwt_fuzz.c tests/fuzz/fuzz.h tests/fuzz/ctx.h
tests_fuzz_jwt_fuzz_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_jwt_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_jwt_fuzz_LDADD = $(TESSERA_LIBS)
endif
