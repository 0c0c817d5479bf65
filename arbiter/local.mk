# The kirin program: the arbiter's modules plus main(); workers run in forks of it.
bin_PROGRAMS += kirin
kirin_SOURCES = arbiter/main.c
kirin_LDADD = $(KIRIN_LIBS)

noinst_LIBRARIES += libkirin.a
libkirin_a_SOURCES = \
	arbiter/config.c arbiter/config.h arbiter/config_parts.h arbiter/config_table.c \
	arbiter/config_rows.h arbiter/config_rows_serving.c arbiter/config_rows_running.c \
	arbiter/config_ini.c arbiter/config_cli.c arbiter/config_py.c arbiter/config_refusals.c \
	arbiter/config_class.c \
	arbiter/log.c arbiter/log.h \
	arbiter/monotime.c arbiter/monotime.h arbiter/decimal.c arbiter/decimal.h \
	arbiter/notify.c arbiter/notify.h \
	arbiter/listener.c arbiter/listener.h \
	arbiter/arbiter.c arbiter/arbiter.h arbiter/arbiter_parts.h \
	arbiter/signals.c arbiter/upgrade.c arbiter/stats.c arbiter/control.c arbiter/statsd.c \
	arbiter/ctl.c arbiter/ctl.h \
	arbiter/process.c arbiter/process.h \
	arbiter/throttle.c arbiter/throttle.h \
	arbiter/sslctx.c arbiter/sslctx.h
