# Everything that runs in a worker process.
libkirin_a_SOURCES += \
	workers/channel.c workers/channel.h \
	workers/accesslog.c workers/accesslog.h \
	workers/worker.c workers/worker.h \
	workers/sync.c workers/sync.h \
	workers/gthread.c workers/gthread.h \
	workers/loop.c workers/loop.h \
	workers/waitlist.c workers/waitlist.h \
	workers/greenlet.c workers/greenlet.h \
	workers/gevent.c workers/gevent.h \
	workers/http/parser.c workers/http/parser.h \
	workers/http/response.c workers/http/response.h \
	workers/python/interp.c workers/python/interp.h \
	workers/python/wsgi.c workers/python/wsgi.h \
	workers/python/environ.c workers/python/environ.h \
	workers/python/input.c workers/python/input.h \
	workers/python/kirinmod.c workers/python/kirinmod.h \
	workers/python/gpool.c workers/python/gpool.h \
	workers/http/conn.c workers/http/conn.h \
	workers/http/allow.c workers/http/allow.h \
	workers/http/utf8.c workers/http/utf8.h \
	workers/http/ws_frame.c workers/http/ws_frame.h \
	workers/http/ws_message.c workers/http/ws_message.h \
	workers/http/ws_deflate.c workers/http/ws_deflate.h \
	workers/http/ws_handshake.c workers/http/ws_handshake.h
