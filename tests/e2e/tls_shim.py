"""A plain-to-TLS shim, so that a harness that speaks plain HTTP (the shared
conformance corpus) can test kirin's TLS path:

    tls_shim.py --listen 127.0.0.1:PORT --ca CA.pem -- kirin ... --bind @INNER@ ...

starts the command with @INNER@ replaced by a free 127.0.0.1 port, and
forwards every plain connection to PORT over TLS to it, byte for byte: each
read becomes its own TLS record (a request sent one byte at a time arrives in
one-byte records), and the client's EOF (shutdown for writing) reaches the
server as an end of the TCP stream. Killing the shim's process group stops
the command too (it is started in the same group).
"""
import argparse
import os
import select
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from procs import free_port  # noqa: E402


def send_all(tls, data):
    """sendall() on the non-blocking TLS socket."""
    while data:
        try:
            data = data[tls.send(data):]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            select.select([tls], [tls], [], 1)


def serve(client, inner, ctx):
    """One thread per connection, and one for both directions: an SSL
    object must not read in one thread while another writes."""
    try:
        raw = socket.create_connection(("127.0.0.1", inner), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.setblocking(False)
    except OSError:
        client.close()
        return
    up, down = True, True
    try:
        while down:
            ready, _, _ = select.select([client] if up else [], [], [], 0) if tls.pending() \
                else select.select([tls] + ([client] if up else []), [], [], 60)
            if not ready and not tls.pending():
                break
            if up and client in ready:
                data = client.recv(65536)
                if data:
                    send_all(tls, data)
                else:
                    # The EOF goes on as a TCP FIN under TLS (socket.socket's
                    # own shutdown: SSLSocket's would drop the session first).
                    socket.socket.shutdown(tls, socket.SHUT_WR)
                    up = False
            try:
                data = tls.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            if data:
                client.sendall(data)
            else:
                client.shutdown(socket.SHUT_WR)
                down = False
    except OSError:
        pass
    finally:
        tls.close()
        client.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    inner = free_port()
    host, _, port = args.listen.rpartition(":")
    ctx = ssl.create_default_context(cafile=args.ca)
    lsock = socket.create_server((host, int(port)))
    proc = subprocess.Popen([a.replace("@INNER@", f"127.0.0.1:{inner}") for a in command])
    try:
        while True:
            client, _ = lsock.accept()
            threading.Thread(target=serve, args=(client, inner, ctx), daemon=True).start()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
