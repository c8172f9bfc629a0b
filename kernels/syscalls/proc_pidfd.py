"""Process file descriptors: pidfd_open, CLONE_PIDFD, pidfd_send_signal,
pidfd_getfd and waitid(P_PIDFD) (Linux kernel/pid.c, kernel/fork.c).

A pidfd refers to one process of the instance, for as long as the fd is
open; the process can end and be reaped meanwhile without the fd coming to
mean another (azemu never reuses a pid within a run).  It must also work in
poll, select and epoll beside the guest's other fds — and those are served
by the host (kernels/syscalls/fs_select.py) — so a pidfd is, on the host,
the read end of a pipe the FWK holds, and its process keeps the write end:

* the process ends (becomes a zombie): one byte is written, and the pidfd
  polls readable (POLLIN), as Linux's does for an exited process;
* it is reaped: the write end closes, and the pidfd polls POLLIN | POLLHUP,
  as Linux's does once the process is gone.

read and write on a pidfd give EINVAL, as on Linux; the guest's fd carries
the kind KIND_PIDFD (no host handle is ever of that kind) and the process.
"""
from __future__ import annotations

import struct

from ..abi import linux as L
from ..abi.linux_errno import EBADF, EFAULT, EINVAL, EPERM, ESRCH
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..fwk.channel import KIND_PIDFD
from ..process import OpenFile
from .util import s32

PIDFD_NONBLOCK = L.O_NONBLOCK
_SIGINFO = struct.Struct("<iii")                 # si_signo, si_errno, si_code


def new_pidfd(p, target, nonblock: bool = False) -> int:
    """A new pidfd for process `target` in `p`'s fd table (close-on-exec,
    as Linux always makes them)."""
    fd = p.fds.lowest_free()
    ret = p.io.call(NR["pipe2"], 0)
    r, w = ret & 0xFFFFFFFF, (ret >> 32) & 0xFFFFFFFF
    f = OpenFile(r, L.O_RDWR | (L.O_NONBLOCK if nonblock else 0), b"anon_inode:[pidfd]",
                 False, KIND_PIDFD)
    f.target = target
    target.pidfd_ends.append(w)
    if target.zombie:
        _tell(target, w)
    return p.fds.install(f, at=fd, cloexec=True)


def ended(proc) -> None:
    """`proc` became a zombie: its pidfds poll readable."""
    for w in proc.pidfd_ends:
        _tell(proc, w)


def gone(proc) -> None:
    """`proc` was reaped: its pidfds poll POLLIN | POLLHUP."""
    ends, proc.pidfd_ends = proc.pidfd_ends, []
    for w in ends:
        try:
            proc.io.call(NR["close"], w)
        except LinuxError:
            pass


def _tell(proc, w: int) -> None:
    scratch = proc.scratch                         # no reset: a call on this core may be using it
    at = scratch.put(b"\1")
    iov, n = scratch.iov([(at, 1)])
    try:
        proc.io.call(NR["writev"], w, iov, n)
    except LinuxError:
        pass


def pidfd_target(p, fd: int):
    """The process pidfd `fd` refers to (EBADF if it is not a pidfd)."""
    f = p.fds.get(s32(fd))
    if f.kind != KIND_PIDFD:
        node = f.model                           # a /proc/PID directory stands for its process
        path = node.path if node is not None else b""
        if path.startswith(b"/proc/") and path[6:].isdigit():
            target = p.kernel.procs.get(int(path[6:]))
            if target is None or target.zombie:
                raise LinuxError(ESRCH)
            return target, f
        raise LinuxError(EBADF)
    return f.target, f


# ---- the syscalls -------------------------------------------------------------------
def pidfd_open(p, pid, flags):
    pid, flags = s32(pid), s32(flags)
    if flags & ~PIDFD_NONBLOCK or pid <= 0:
        raise LinuxError(EINVAL)
    target = p.kernel.procs.get(pid)
    if target is None:
        if pid in p.kernel.shared.tasks:           # a thread, not a process
            raise LinuxError(EINVAL)
        raise LinuxError(ESRCH)
    return new_pidfd(p, target, bool(flags & PIDFD_NONBLOCK))


def pidfd_send_signal(p, pidfd, sig, info, flags):
    sig = s32(sig)
    if flags:
        raise LinuxError(EINVAL)
    target, _ = pidfd_target(p, pidfd)
    if sig < 0 or sig > L.NSIG:
        raise LinuxError(EINVAL)
    code = 0                                        # SI_USER, as kill sends
    if info:
        try:
            signo, _errno, code = _SIGINFO.unpack(p.mm.read(info, _SIGINFO.size))
        except LinuxError:
            raise LinuxError(EFAULT) from None
        if signo != sig:
            raise LinuxError(EINVAL)
        if target is not p.proc and code >= 0:      # only SI_QUEUE-like codes may be forged
            raise LinuxError(EPERM)
    if p.kernel.procs.get(target.pid) is not target:
        raise LinuxError(ESRCH)                     # reaped (a zombie takes the signal and drops it)
    if sig:
        if target is p.proc:
            from .kernel_signal import raise_signal
            raise_signal(p, sig, code)
        else:
            p.kernel.procs.signal(target, sig, code)
    return 0


def pidfd_getfd(p, pidfd, targetfd, flags):
    if flags:
        raise LinuxError(EINVAL)
    target, _ = pidfd_target(p, pidfd)
    if target.zombie:
        raise LinuxError(ESRCH)
    if target.uid != p.uid and p.euid != 0:         # ptrace's PTRACE_MODE_ATTACH_REALCREDS
        raise LinuxError(EPERM)
    f = target.fds.get(s32(targetfd))
    return p.fds.install(f, lowest=0, cloexec=True)
