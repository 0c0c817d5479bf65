/*
 * pystack — a small Python data stack for each connection greenlet.
 *
 * Python 3.11 keeps a thread's frames in a data stack of chunks of at
 * least 16 KiB, mapped by the arena allocator; greenlet gives each
 * greenlet a stack of its own, so every greenlet that ever runs Python
 * holds a 16 KiB chunk whose first page is touched: 4 KiB of memory for
 * each parked connection, whose frames (a WebSocket app waiting in
 * receive(), say) fill a few hundred bytes of it. pystack_begin() starts
 * a new greenlet on a root chunk of 1 KiB from malloc instead; deeper
 * frames spill into ordinary 16 KiB chunks, as Python does on any
 * thread, and the few last given back are kept for the next spill.
 *
 * Relies on CPython 3.11's data stack (PyThreadState's datastack_*,
 * _PyStackChunk: public structures, not a stable API) and on greenlet
 * saving them per greenlet and freeing a finished greenlet's chunks
 * through the arena allocator, which pystack_init() wraps so that a root
 * chunk goes back to free(). Without them (another Python) it does
 * nothing. Runs in workers, GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Wrap the arena allocator; once per worker, before any greenlet starts. */
void pystack_init(void);

/*
 * At the start of a new greenlet's function, before it runs any Python:
 * put the thread on a small root chunk. Returns it (pass it to
 * pystack_end()), or NULL when the greenlet already has frames (nothing
 * done) or pystack_init() did not run.
 */
void *pystack_begin(void);

/*
 * At the end of the same function, every frame it pushed popped: back to
 * no data stack, as greenlet started it, and root freed. NULL: nothing.
 */
void pystack_end(void *root);
