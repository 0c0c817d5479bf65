# Programs of the benchmark harness; built by make bench, not by make check:
#   make bench-parser && tests/bench/bench_parser [seconds]
#   tests/bench/sleep_floor PORT     the floor of scenario (d)
#   tests/bench/ws_load PORT CONNS SECONDS SIZE   the WebSocket client of (i)

EXTRA_PROGRAMS = tests/bench/bench_parser tests/bench/sleep_floor tests/bench/ws_load
tests_bench_bench_parser_SOURCES = tests/bench/bench_parser.c
tests_bench_bench_parser_LDADD = libkirin.a
tests_bench_sleep_floor_SOURCES = tests/bench/sleep_floor.c
tests_bench_sleep_floor_LDADD = $(LIBEVENT_LIBS)
tests_bench_ws_load_SOURCES = tests/bench/ws_load.c
CLEANFILES = $(EXTRA_PROGRAMS)

.PHONY: bench-parser
bench-parser: tests/bench/bench_parser$(EXEEXT)
