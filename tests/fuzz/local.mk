# libFuzzer targets, built only by a --enable-fuzzing configure with CC=clang:
#   ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_parser
#   tests/fuzz/fuzz_parser -max_total_time=120 -max_len=4096 CORPUS_DIR
# The sources are compiled into each target (not taken from libkirin.a) so that
# the fuzzer's coverage instrumentation reaches the code under test.

if FUZZING
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g
noinst_PROGRAMS = tests/fuzz/fuzz_parser
tests_fuzz_fuzz_parser_SOURCES = tests/fuzz/fuzz_parser.c workers/http/parser.c \
	workers/http/parser.h
tests_fuzz_fuzz_parser_CFLAGS = $(WARN_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_parser_LDFLAGS = $(FUZZ_FLAGS)
endif
