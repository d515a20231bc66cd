# libFuzzer targets (configure --enable-fuzzers CC=clang); filled in by tests/fuzz/.
