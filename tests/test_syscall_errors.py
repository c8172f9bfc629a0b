"""Syscalls azemu does not implement: -ENOSYS to the guest, named once on
stderr.  (Bad guest pointers -> EFAULT are checked against native Linux by the
`badptr` guest program in test_guest_bins.py.)"""
from __future__ import annotations

import pytest

from conftest import LIBCS, guest, run_azemu


@pytest.mark.parametrize("libc", LIBCS)
def test_unimplemented_syscalls_give_enosys_reported_once(libc):
    """ENOSYS for what azemu does not offer (with its reason) or does not
    implement, named once per number; a call refused by design (kexec_load:
    EPERM, as an unprivileged container answers) is not reported."""
    out, err, rc = run_azemu([guest(libc, "nosys")])
    assert rc == 0
    assert out.decode().splitlines() == [
        "io_setup: ret=-1 errno=ENOSYS",
        "io_setup: ret=-1 errno=ENOSYS",
        "io_setup: ret=-1 errno=ENOSYS",
        "kexec_load: ret=-1 errno=EPERM",
        "futex_waitv: ret=-1 errno=ENOSYS",
        "syscall_1000: ret=-1 errno=ENOSYS",
    ]
    lines = err.decode().splitlines()
    assert lines == [
        "azemu: unsupported syscall io_setup: returning -ENOSYS "
        "(Linux AIO is not offered (glibc's POSIX AIO uses threads))",
        "azemu: unsupported syscall futex_waitv: returning -ENOSYS",
        "azemu: unsupported syscall 1000: returning -ENOSYS (no such syscall number)",
    ]


def test_strace_shows_calls_arguments_and_errors():
    out, err, rc = run_azemu([guest("glibc", "badptr")], extra=["--strace"])
    assert rc == 0
    lines = [" ".join(ln.split()) for ln in err.decode().splitlines()]
    assert "write(1, 0x1, 5) = -1 EFAULT (Bad address)" in lines
    assert "open(0x1, O_RDONLY) = -1 EFAULT (Bad address)" in lines     # an unreadable path
    assert 'stat("/", 0x8) = -1 EFAULT (Bad address)' in lines
    assert lines[-2:] == ["exit_group(0) = ?", "+++ exited with 0 +++"]
