# Micro-benchmark of the request parser; not part of make check:
#   make bench-parser && tests/bench/bench_parser [seconds]

EXTRA_PROGRAMS = tests/bench/bench_parser
tests_bench_bench_parser_SOURCES = tests/bench/bench_parser.c
tests_bench_bench_parser_LDADD = libkirin.a
CLEANFILES = $(EXTRA_PROGRAMS)

.PHONY: bench-parser
bench-parser: tests/bench/bench_parser$(EXEEXT)
