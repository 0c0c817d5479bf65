"""Requests that run too long, for --request-timeout. Every path answers
with the worker's pid when it ends normally.

/ok            at once
/sleep         time.sleep(60) (pool threads cannot be interrupted in it)
/ksleep        kirin.sleep(60)
/spin          a pure-Python loop, under `except Exception` that would
               swallow an ordinary exception
/stream        sends its head and a first chunk, then kirin.sleep(60)
/read          reads the whole body (for a client that never sends it),
               swallowing an Exception, then kirin.sleep(60)
/big           8 MB at once (for a client that reads it slowly)
/longpoll      kirin.sleep(2.5), then 2.5 s in kirin.Queue.get(): long, not stuck
/stuck         sum() over an endless C iterator: C code that holds the GIL
               and never reaches a bytecode boundary nor checks signals (a
               ctypes call to libc sleep() would not do: the signal that
               carries RequestTimeout interrupts it)
/finally       GET: how many /ksleep and /spin requests ran their finally
"""
import itertools
import os
import time

import kirin

finished = []


def hang_in_sleep():
    time.sleep(60)


def hang_in_kirin_sleep():
    kirin.sleep(60)


def hang_in_loop():
    n = 0
    while True:
        try:
            n += 1
        except Exception:
            pass


def hang_in_c():
    sum(itertools.repeat(1))


def stream(start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"started\n"
    kirin.sleep(60)
    yield b"never\n"


HANGS = {"/sleep": hang_in_sleep, "/ksleep": hang_in_kirin_sleep,
         "/spin": hang_in_loop, "/stuck": hang_in_c}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        return stream(start_response)
    if path == "/read":
        try:
            environ["wsgi.input"].read()
        except Exception:
            pass  # the read failed; RequestTimeout (no Exception) still comes
        kirin.sleep(60)
    if path == "/longpoll":
        kirin.sleep(2.5)
        try:
            kirin.Queue().get(timeout=2.5)
        except kirin.Empty:
            pass
    if path == "/big":
        start_response("200 OK", [("Content-Length", str(8 << 20))])
        return [b"x" * (8 << 20)]
    if path in HANGS:
        try:
            HANGS[path]()
        except Exception:
            pass  # RequestTimeout is no Exception: it goes past this
        finally:
            finished.append(path)
    body = ("%d %d\n" % (os.getpid(), len(finished))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
