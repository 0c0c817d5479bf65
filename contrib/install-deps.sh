#!/bin/sh
# Install the Debian 12 packages kirin needs, as root. Safe to run again.
#
#   sh contrib/install-deps.sh [build|test|bench]
#
#   build  compile kirin and serve an app (the default)
#   test   build, plus what `make check` needs: cmocka, the frameworks and
#          gevent the end-to-end tests serve (with the WebSocket client and
#          apps), groff for the man-page check,
#          wrk for the harness's smoke pass, Gunicorn as the access log's reference,
#          systemd for systemd-socket-activate and systemd-analyze,
#          prometheus_client for the server hooks' test and the metrics test, tmux for
#          `kirin ctl top`, nginx for contrib/nginx's test, PasteDeploy
#          for --paste (which users of --paste need too), openssl and curl for the
#          TLS tests (a test CA, a second client)
#   bench  test, plus the peers `make bench` measures kirin against
set -eu

BUILD="build-essential autoconf automake pkg-config
    libevent-dev libinih-dev libjansson-dev zlib1g-dev libssl-dev
    python3 python3-dev libpython3-dev python3-greenlet"
TEST="libcmocka-dev python3-gevent python3-venv gunicorn
    python3-flask python3-django python3-bottle python3-falcon
    python3-websocket python3-websockets python3-gevent-websocket python3-flask-sockets
    python3-socketio python3-prometheus-client python3-pastedeploy
    python3-uvloop python3-uvicorn python3-starlette python3-fastapi python3-multipart python3-asgiref
    groff-base wrk systemd tmux nginx-light openssl curl"
BENCH="python3-waitress python3-httptools
    uwsgi uwsgi-plugin-python3 uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3
    gnuplot-nox valgrind"

case "${1:-build}" in
build) pkgs="$BUILD" ;;
test) pkgs="$BUILD $TEST" ;;
bench) pkgs="$BUILD $TEST $BENCH" ;;
*)
	echo "usage: $0 [build|test|bench]" >&2
	exit 2
	;;
esac

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # one word per package
apt-get install -y --no-install-recommends $pkgs
