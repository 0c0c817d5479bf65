#!/bin/sh
# Install every Debian 12 package kirin needs to build, test, benchmark and run.
# Run as root. Safe to run again.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    build-essential autoconf automake libtool pkg-config \
    libevent-dev libinih-dev libjansson-dev libcmocka-dev \
    python3 python3-dev libpython3-dev \
    python3-greenlet python3-gevent \
    python3-flask python3-django python3-bottle python3-falcon \
    python3-requests python3-pytest python3-venv \
    groff-base procps strace curl \
    wrk gunicorn python3-waitress uwsgi uwsgi-plugin-python3 nginx-light \
    uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3 gnuplot-nox
