#!/bin/sh
# Best effort: put Debian's statically linked busybox at DEST/busybox, for the
# tests that compare a real, externally built program under azemu with native.
# Uses the registry through apt; when that cannot be reached, says so and
# leaves the busybox tests to be skipped.
set -u
dest=${1:-.cache/busybox}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[ -x "$dest/busybox" ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "fetch_busybox: no apt-get: busybox tests will be skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 0
if ! apt-get download busybox-static >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null 2>&1
        apt-get download busybox-static >/dev/null 2>&1
    fi
fi
deb=$(ls busybox-static_*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
    echo "fetch_busybox: busybox-static could not be downloaded: busybox tests will be skipped"
    exit 0
fi
dpkg-deb -x "$deb" x
bb=""
for c in x/bin/busybox x/usr/bin/busybox; do [ -f "$c" ] && bb=$c && break; done
[ -n "$bb" ] && cp "$bb" "$dest/busybox" && chmod +x "$dest/busybox" && echo "fetch_busybox: $dest/busybox"
exit 0
