# kirin's workers under valgrind's memcheck (tests/memcheck/memcheck.py), for
# the stack-switching workers AddressSanitizer cannot follow. Not part of make
# check: about 15 minutes for every worker type, plain and TLS.
#
#   make memcheck
#   make memcheck MEMCHECK_ARGS='--only greenlet,asyncio'

EXTRA_DIST += tests/memcheck/memcheck.py tests/memcheck/memcheck.mk

MEMCHECK_ARGS =

.PHONY: memcheck
memcheck: kirin$(EXEEXT)
	$(PYTHON) $(srcdir)/tests/memcheck/memcheck.py --kirin $(abs_top_builddir)/kirin$(EXEEXT) \
	  $(MEMCHECK_ARGS)
