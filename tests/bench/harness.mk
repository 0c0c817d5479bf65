# kirin's benchmark harness (tests/bench/bench.py): kirin and its peers side by
# side, ratios taken in one run. Not part of make check, except its --quick
# mode (tests/bench/test_bench_quick.py), which checks that it still runs.
#
#   make bench                      everything (about 25 minutes)
#   make bench BENCH_ARGS='--only a,b --runs 5'
#   make ws-autobahn                Autobahn's WebSocket server cases (1-7, 9,
#                                   12, 13) on every worker type, and ASGI on
#                                   asyncio, pass counts by section (15-35 minutes)
#
# Results land in bench-results/ (bench.json, bench.md, bench.png).

BENCH_FILES = \
	tests/bench/bench.py \
	tests/bench/client.py \
	tests/bench/kill_load.py \
	tests/bench/test_bench_quick.py \
	tests/bench/apps/hello.py \
	tests/bench/apps/bodies.py \
	tests/bench/apps/echo.py \
	tests/bench/apps/sleepers.py \
	tests/bench/apps/ready.py \
	tests/bench/apps/ws_echo.py \
	tests/bench/apps/ws_gevent_server.py \
	tests/bench/wsbench.py \
	tests/bench/ws_autobahn.py
EXTRA_DIST += $(BENCH_FILES) tests/bench/harness.mk tests/bench/README.md

BENCH_ARGS =

.PHONY: bench
bench: kirin$(EXEEXT)
	-@$(MAKE) $(AM_MAKEFLAGS) tests/bench/bench_parser$(EXEEXT) >/dev/null 2>&1 || \
	  echo "bench: the parser micro-benchmark did not build; (h) will be skipped"
	-@$(MAKE) $(AM_MAKEFLAGS) tests/bench/sleep_floor$(EXEEXT) >/dev/null 2>&1 || \
	  echo "bench: sleep_floor did not build; (d) will have no floor"
	-@$(MAKE) $(AM_MAKEFLAGS) tests/bench/ws_load$(EXEEXT) >/dev/null 2>&1 || \
	  echo "bench: ws_load did not build; (i) will be skipped"
	$(PYTHON) $(srcdir)/tests/bench/bench.py --kirin $(abs_top_builddir)/kirin$(EXEEXT) \
	  --out $(abs_top_builddir)/bench-results $(BENCH_ARGS)

WS_AUTOBAHN_ARGS =

.PHONY: ws-autobahn
ws-autobahn: kirin$(EXEEXT)
	$(PYTHON) $(srcdir)/tests/bench/ws_autobahn.py --kirin $(abs_top_builddir)/kirin$(EXEEXT) \
	  $(WS_AUTOBAHN_ARGS)
