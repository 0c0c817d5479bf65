# make check: cmocka unit tests (one per module) and end-to-end tests that run
# the real ./kirin over 127.0.0.1 with the interpreter configure found.

if HAVE_CMOCKA
UNIT_TESTS = tests/unit/test_config tests/unit/test_parser tests/unit/test_arbiter
UNIT_TESTS += tests/unit/test_chunked tests/unit/test_proxy tests/unit/test_chars
UNIT_TESTS += tests/unit/test_policy
UNIT_TESTS += tests/unit/test_accesslog tests/unit/test_accesslog_format
UNIT_TESTS += tests/unit/test_waitlist tests/unit/test_gpool
UNIT_TESTS += tests/unit/test_worker_type tests/unit/test_kirinmod tests/unit/test_percent
UNIT_TESTS += tests/unit/test_throttle tests/unit/test_config_ini tests/unit/test_config_cli
UNIT_TESTS += tests/unit/test_config_py tests/unit/test_reloader tests/unit/test_hooks
UNIT_TESTS += tests/unit/test_notify tests/unit/test_stats tests/unit/test_sslctx
UNIT_TESTS += tests/unit/test_connset tests/unit/test_gconn tests/unit/test_reqtimeout
UNIT_TESTS += tests/unit/test_pystack
UNIT_TESTS += tests/unit/test_utf8 tests/unit/test_ws_frame tests/unit/test_ws_message
UNIT_TESTS += tests/unit/test_ws_deflate tests/unit/test_ws_handshake tests/unit/test_spool tests/unit/test_decimal
UNIT_TESTS += tests/unit/test_response tests/unit/test_conn_write tests/unit/test_mem
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
UNIT_LDADD = $(KIRIN_LIBS) $(CMOCKA_LIBS)
# A test is tests/unit/NAME.c linked with libkirin.a and cmocka unless its
# lines below say otherwise (sources of its own, other libraries).
tests_unit_test_config_SOURCES = tests/unit/test_config.c tests/unit/config_fixture.h
tests_unit_test_config_LDADD = $(UNIT_LDADD)
tests_unit_test_config_ini_SOURCES = tests/unit/test_config_ini.c tests/unit/config_fixture.h
tests_unit_test_config_ini_LDADD = $(UNIT_LDADD)
tests_unit_test_config_cli_SOURCES = tests/unit/test_config_cli.c tests/unit/config_fixture.h
tests_unit_test_config_cli_LDADD = $(UNIT_LDADD)
tests_unit_test_config_py_SOURCES = tests/unit/test_config_py.c tests/unit/config_fixture.h
tests_unit_test_config_py_LDADD = $(UNIT_LDADD)
tests_unit_test_parser_SOURCES = tests/unit/test_parser.c tests/unit/guard.c tests/unit/guard.h
tests_unit_test_parser_LDADD = $(UNIT_LDADD)
tests_unit_test_chunked_SOURCES = tests/unit/test_chunked.c tests/unit/guard.c tests/unit/guard.h
tests_unit_test_chunked_LDADD = $(UNIT_LDADD)
tests_unit_test_proxy_SOURCES = tests/unit/test_proxy.c tests/unit/guard.c tests/unit/guard.h
tests_unit_test_proxy_LDADD = $(UNIT_LDADD)
tests_unit_test_chars_LDADD = $(UNIT_LDADD)
tests_unit_test_policy_LDADD = $(UNIT_LDADD)
tests_unit_test_arbiter_LDADD = $(UNIT_LDADD)
tests_unit_test_throttle_LDADD = $(UNIT_LDADD)
tests_unit_test_decimal_LDADD = $(UNIT_LDADD)
tests_unit_test_notify_LDADD = $(UNIT_LDADD)
tests_unit_test_stats_LDADD = $(UNIT_LDADD)
tests_unit_test_sslctx_LDADD = $(UNIT_LDADD)
tests_unit_test_accesslog_LDADD = $(UNIT_LDADD)
tests_unit_test_accesslog_format_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_accesslog_format_LDADD = $(UNIT_LDADD) $(JANSSON_LIBS)
tests_unit_test_waitlist_LDADD = $(UNIT_LDADD)
tests_unit_test_gpool_LDADD = $(UNIT_LDADD)
tests_unit_test_worker_type_LDADD = $(UNIT_LDADD)
tests_unit_test_kirinmod_LDADD = $(PYTHON_LIBS) $(CMOCKA_LIBS) -lm
tests_unit_test_percent_SOURCES = tests/unit/test_percent.c workers/http/percent.c \
	workers/http/percent.h
tests_unit_test_percent_LDADD = $(CMOCKA_LIBS)
tests_unit_test_connset_LDADD = $(UNIT_LDADD)
tests_unit_test_gconn_LDADD = $(UNIT_LDADD)
tests_unit_test_pystack_LDADD = $(UNIT_LDADD)
tests_unit_test_reqtimeout_LDADD = $(UNIT_LDADD)
tests_unit_test_utf8_LDADD = $(UNIT_LDADD)
tests_unit_test_conn_write_LDADD = $(UNIT_LDADD)
tests_unit_test_ws_frame_SOURCES = tests/unit/test_ws_frame.c tests/unit/ws_client.h
tests_unit_test_ws_frame_LDADD = $(UNIT_LDADD)
tests_unit_test_ws_message_SOURCES = tests/unit/test_ws_message.c tests/unit/ws_client.h
tests_unit_test_ws_message_LDADD = $(UNIT_LDADD)
tests_unit_test_ws_deflate_LDADD = $(UNIT_LDADD)
tests_unit_test_ws_handshake_LDADD = $(UNIT_LDADD)
tests_unit_test_reloader_LDADD = $(UNIT_LDADD)
tests_unit_test_hooks_LDADD = $(UNIT_LDADD)
tests_unit_test_spool_LDADD = $(UNIT_LDADD)
tests_unit_test_response_LDADD = $(UNIT_LDADD)
tests_unit_test_mem_LDADD = $(UNIT_LDADD)
endif

# The fuzz targets built without libFuzzer, replaying the inputs that once
# found a bug (tests/fuzz/regress/NAME/): a harness that drifts from the code
# fails here, not only in a fuzzing build.
FUZZ_REPLAYS = tests/fuzz/replay_connection
check_PROGRAMS += $(FUZZ_REPLAYS)
TESTS += $(FUZZ_REPLAYS)
tests_fuzz_replay_connection_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_connection.c
tests_fuzz_replay_connection_CPPFLAGS = $(AM_CPPFLAGS) \
	-DREPLAY_DIR='"$(srcdir)/tests/fuzz/regress/connection"'
tests_fuzz_replay_connection_LDADD = $(KIRIN_LIBS)
EXTRA_DIST += tests/fuzz/regress

E2E_TESTS = \
	tests/e2e/test_serve.py \
	tests/e2e/test_cli.py \
	tests/e2e/test_pyconfig.py \
	tests/e2e/test_subclass.py \
	tests/e2e/test_privileges.py \
	tests/e2e/test_reload.py \
	tests/e2e/test_signals.py \
	tests/e2e/test_operations.py \
	tests/e2e/test_systemd.py \
	tests/e2e/test_metrics.py \
	tests/e2e/test_nginx.py \
	tests/e2e/test_conformance.py \
	tests/e2e/test_docs.py \
	tests/e2e/test_gunicorn_settings.py \
	tests/e2e/test_logging.py \
	tests/e2e/test_gthread.py \
	tests/e2e/test_keepalive.py \
	tests/e2e/test_greenlet.py \
	tests/e2e/test_websocket.py \
	tests/e2e/test_ws_autobahn.py \
	tests/e2e/test_tls.py \
	tests/e2e/test_gevent.py \
	tests/e2e/test_asyncio.py \
	tests/e2e/test_wsgi.py \
	tests/e2e/test_http.py \
	tests/e2e/test_forwarder.py \
	tests/e2e/test_loading.py \
	tests/e2e/test_frameworks.py \
	tests/e2e/test_request_timeout.py \
	tests/e2e/test_hostile.py \
	tests/e2e/test_slow_clients.py \
	tests/bench/test_bench_quick.py
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/kirintest.py tests/e2e/gunicorn_example_config.py tests/e2e/apps \
	tests/e2e/gunicorn_settings.txt docs/gunicorn-settings.md tests/procs.py \
	tests/e2e/tls_shim.py

if ASAN
KIRIN_ASAN = 1
else
KIRIN_ASAN = 0
endif

TEST_EXTENSIONS = .py
PY_LOG_COMPILER = $(PYTHON)
AM_TESTS_ENVIRONMENT = \
	KIRIN='$(abs_top_builddir)/kirin'; export KIRIN; \
	KIRIN_SRCDIR='$(abs_top_srcdir)'; export KIRIN_SRCDIR; \
	KIRIN_PYTHON='$(PYTHON)'; export KIRIN_PYTHON; \
	: $${KIRIN_CONFORMANCE_DIR:='$(abs_top_srcdir)/../shared/conformance'}; export KIRIN_CONFORMANCE_DIR; \
	PYTHONDONTWRITEBYTECODE=1; export PYTHONDONTWRITEBYTECODE; \
	ASAN_OPTIONS=detect_leaks=0; export ASAN_OPTIONS; \
	KIRIN_ASAN=$(KIRIN_ASAN); export KIRIN_ASAN;
