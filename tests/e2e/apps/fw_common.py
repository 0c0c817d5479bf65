"""Shared by the fw_* framework apps: the streaming handshake with the test
and the summary of an uploaded file."""
import hashlib
import socket


def wait_go(port):
    """Block until the test, listening on 127.0.0.1:port, sends one byte."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=60) as s:
        s.settimeout(60)
        s.recv(1)


def chunks(ctl=None):
    """chunk0, then (with ctl) wait for the test, then chunk1 and chunk2."""
    yield b"chunk0\n"
    if ctl:
        wait_go(ctl)
    yield b"chunk1\n"
    yield b"chunk2\n"


def summary(filename, data, note):
    return {"name": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "note": note}


async def achunks(ctl=None):
    """chunks() for ASGI apps: waiting for the test does not block the loop."""
    import asyncio
    yield b"chunk0\n"
    if ctl:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(ctl))
        await asyncio.wait_for(reader.read(1), 60)
        writer.close()
    yield b"chunk1\n"
    yield b"chunk2\n"
