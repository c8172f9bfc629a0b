#!/bin/sh
# Best effort: musl-gcc (Debian's musl-tools) for the tests that build
# unikernel images against musl with `azemu build`.  Without it those tests
# are skipped; everything else uses the committed binaries.
# bash-static, for the bash scripts of tests/test_host_programs.py.
# Also curl, for the test that fetches a file from the guest's HTTP server
# (a Python client stands in when it is missing), and Debian's CPython
# regression tests (libpython3.11-testsuite) for `azemu conformance`; strace
# and gdb, which the tracing and core-file tests compare against.
want=""
command -v bash-static >/dev/null 2>&1 || [ -x /bin/bash-static ] || want="$want bash-static"
command -v musl-gcc >/dev/null 2>&1 || want="$want musl-tools"
command -v curl >/dev/null 2>&1 || want="$want curl"
command -v strace >/dev/null 2>&1 || want="$want strace"       # tests/test_strace.py compares with it
command -v gdb >/dev/null 2>&1 || want="$want gdb"             # tests/test_crash_debug.py opens cores with it
[ ! -x /usr/bin/python3.11 ] || [ -f /usr/lib/python3.11/test/test_os.py ] || want="$want libpython3.11-testsuite"
[ -n "$want" ] || exit 0
command -v apt-get >/dev/null 2>&1 || { echo "install_musl: no apt-get: musl build tests will be skipped"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "install_musl: not root: musl build tests will be skipped"; exit 0; }
if ! apt-get install -y -qq $want >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq $want >/dev/null 2>&1 || echo "install_musl: could not install$want: the tests needing them are skipped"
fi
exit 0
