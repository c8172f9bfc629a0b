#!/bin/sh
# Best effort: qemu-user (Debian's qemu-user), the peer some benchmarks put
# beside azemu (startup.py).  Without it those rows are left out.
command -v qemu-x86_64 >/dev/null 2>&1 && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "no apt-get: qemu-user rows are left out"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "not root: qemu-user rows are left out"; exit 0; }
if ! apt-get install -y -qq qemu-user >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq qemu-user >/dev/null 2>&1 || echo "could not install qemu-user: its rows are left out"
fi
exit 0
