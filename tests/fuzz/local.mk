# libFuzzer targets, built only by a --enable-fuzzing configure with CC=clang:
#   ./configure --enable-fuzzing CC=clang && make tests/fuzz/fuzz_parser
#   tests/fuzz/fuzz_parser -max_total_time=120 -max_len=4096 CORPUS_DIR
#   make tests/fuzz/fuzz_connection
#   tests/fuzz/fuzz_connection -max_total_time=300 -max_len=8192 CORPUS_DIR
#   make tests/fuzz/fuzz_websocket
#   tests/fuzz/fuzz_websocket -max_total_time=120 -max_len=4096 CORPUS_DIR
# make check replays tests/fuzz/regress/connection/ through fuzz_connection.c
# built without libFuzzer (tests/fuzz/replay.c; see tests/local.mk): add an
# input there when it found a bug.
# The sources are compiled into each target (not taken from libkirin.a) so that
# the fuzzer's coverage instrumentation reaches the code under test.

if FUZZING
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g
noinst_PROGRAMS = tests/fuzz/fuzz_parser tests/fuzz/fuzz_connection tests/fuzz/fuzz_websocket
HTTP_PARSER_SOURCES = workers/http/parser.c workers/http/parser.h \
	workers/http/chunked.c workers/http/chunked.h \
	workers/http/proxy.c workers/http/proxy.h \
	workers/http/chars.c workers/http/chars.h \
	workers/http/percent.c workers/http/percent.h
tests_fuzz_fuzz_parser_SOURCES = tests/fuzz/fuzz_parser.c $(HTTP_PARSER_SOURCES)
tests_fuzz_fuzz_parser_CFLAGS = $(WARN_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_parser_LDFLAGS = $(FUZZ_FLAGS)
# A whole connection (conn.c, response.c) with a C stub for the app: only
# workers/http/, which depends on nothing outside itself.
tests_fuzz_fuzz_connection_SOURCES = tests/fuzz/fuzz_connection.c \
	workers/http/conn.c workers/http/conn.h workers/http/conn_write.c \
	workers/http/conn_policy.c \
	workers/http/spool.c workers/http/spool.h \
	workers/http/tls.c workers/http/tls.h \
	workers/http/response.c workers/http/response.h \
	$(HTTP_PARSER_SOURCES) \
	workers/http/allow.c workers/http/allow.h \
	workers/http/mem.c workers/http/mem.h
tests_fuzz_fuzz_connection_CFLAGS = $(WARN_CFLAGS) $(FUZZ_FLAGS) $(OPENSSL_CFLAGS)
tests_fuzz_fuzz_connection_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_connection_LDADD = $(OPENSSL_LIBS)
# The WebSocket reading side: frames, messages, UTF-8, inflate; the handshake.
tests_fuzz_fuzz_websocket_SOURCES = tests/fuzz/fuzz_websocket.c \
	workers/http/ws_handshake.c workers/http/ws_handshake.h \
	$(HTTP_PARSER_SOURCES) \
	workers/http/ws_message.c workers/http/ws_message.h \
	workers/http/ws_frame.c workers/http/ws_frame.h \
	workers/http/ws_deflate.c workers/http/ws_deflate.h \
	workers/http/utf8.c workers/http/utf8.h
tests_fuzz_fuzz_websocket_CFLAGS = $(WARN_CFLAGS) $(FUZZ_FLAGS) $(ZLIB_CFLAGS) $(LIBCRYPTO_CFLAGS)
tests_fuzz_fuzz_websocket_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_websocket_LDADD = $(ZLIB_LIBS) $(LIBCRYPTO_LIBS)
endif
