"""Signals and timers (issue #11 item 2): guest_bins/src/sigtimers.c — alarm
and interval timers reaching code that makes no syscall, POSIX timers (values,
overruns, absolute times, SIGEV_NONE), sigtimedwait/sigwaitinfo, sigqueue and
real-time queueing, siginfo's sender and SIGCHLD's status, signalfd, and
thread-directed signals to a thread in a futex wait or computing — natively
and under azemu in every mode."""
from __future__ import annotations

import pytest

from conftest import LIBCS, assert_same, guest, run_azemu, run_native


_NATIVE = {}


def native_run(libc):
    """The program's native run, once per libc (its timers take seconds)."""
    if libc not in _NATIVE:
        _NATIVE[libc] = run_native([guest(libc, "sigtimers")])
        assert _NATIVE[libc][0].endswith(b"done\n"), _NATIVE[libc]
    return _NATIVE[libc]


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
@pytest.mark.parametrize("libc", LIBCS)
def test_signals_and_timers_match_linux(libc, mode):
    assert_same(native_run(libc), run_azemu([guest(libc, "sigtimers")], extra=["--mode", mode]))


@pytest.mark.parametrize("libc", LIBCS)
def test_libos_images_match_linux_and_restart_their_calls(libc):
    """The same program rebuilt for the libOS (syscalls are function calls):
    a call a handler interrupted runs again after it with SA_RESTART — its
    call block, which the handler's own calls overwrite, comes back too —
    and ends with EINTR without."""
    assert_same(native_run(libc), run_azemu([guest("libos/" + libc, "sigtimers")], extra=["--mode", "unikernel"]))
