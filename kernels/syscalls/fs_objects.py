"""Kernel objects that are file descriptors, made on the host by the FWK:
eventfd, timerfd, inotify and memfd (Linux fs/eventfd.c, fs/timerfd.c,
fs/notify/inotify/, mm/memfd.c).

Each is a host descriptor served like a file, so read, write, poll, select,
epoll and close need nothing new; timerfds run on the host's clocks, which
are the guest's (azemu has no clock of its own).  They are non-blocking on
the host — a read that would block waits in the scheduler instead
(kernels/blocking.py) — and keep the guest's own O_NONBLOCK apart.  An
inotify watch is added on what the sandbox's walk finds, never on a host
path (kernels/fwk/server_files.py).  A memfd is an ordinary file with no
name: it maps, shares through MAP_SHARED and survives fork like one.
"""
from __future__ import annotations

import struct

from ..abi import linux as L
from ..abi.linux_errno import EFAULT, EINVAL
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .fs_open import install_handle
from .util import gpath, path_arg, s32

EFD_SEMAPHORE = 1
MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB = 1, 2, 4
TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 1, 2
CLOCKS = (0, 1, 7, 8, 9)                 # REALTIME, MONOTONIC, BOOTTIME, *_ALARM
_ITIMERSPEC = struct.Struct("<qqqq")


def _install(p, ret: int, flags: int, path: bytes, access: int = L.O_RDWR) -> int:
    fd = install_handle(p, ret, access | (flags & L.O_NONBLOCK), bool(flags & L.O_CLOEXEC))
    f = p.fds.get(fd)
    f.hostnb = True                              # its blocking is the kernel's
    f.path = path
    return fd


def eventfd2(p, initval, flags):
    flags = s32(flags)
    if flags & ~(L.O_CLOEXEC | L.O_NONBLOCK | EFD_SEMAPHORE):
        raise LinuxError(EINVAL)
    return _install(p, p.io.call(NR["eventfd2"], initval & 0xFFFFFFFF, flags & EFD_SEMAPHORE), flags,
                    b"anon_inode:[eventfd]")


def eventfd(p, initval):
    return eventfd2(p, initval, 0)


def timerfd_create(p, clockid, flags):
    clockid, flags = s32(clockid), s32(flags)
    if clockid not in CLOCKS or flags & ~(L.O_CLOEXEC | L.O_NONBLOCK):
        raise LinuxError(EINVAL)
    return _install(p, p.io.call(NR["timerfd_create"], clockid, 0), flags, b"anon_inode:[timerfd]",
                    L.O_RDONLY)


def _timer(p, fd):
    f = p.fds.get(s32(fd))
    if f.path != b"anon_inode:[timerfd]":
        raise LinuxError(EINVAL)
    return f


def timerfd_settime(p, fd, flags, new_value, old_value):
    f = _timer(p, fd)
    if s32(flags) & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise LinuxError(EINVAL)
    raw = p.mm.read(new_value, _ITIMERSPEC.size)
    for nsec in _ITIMERSPEC.unpack(raw)[1::2]:
        if not 0 <= nsec < 10**9:
            raise LinuxError(EINVAL)
    p.scratch.reset()
    new = p.scratch.put(raw)
    old = p.scratch.alloc(_ITIMERSPEC.size)
    p.io.call(NR["timerfd_settime"], f.hfd, s32(flags), new, old)
    if old_value:
        p.mm.write(old_value, p.scratch.get(old, _ITIMERSPEC.size))
    return 0


def timerfd_gettime(p, fd, curr_value):
    f = _timer(p, fd)
    p.scratch.reset()
    out = p.scratch.alloc(_ITIMERSPEC.size)
    p.io.call(NR["timerfd_gettime"], f.hfd, out)
    p.mm.write(curr_value, p.scratch.get(out, _ITIMERSPEC.size))
    return 0


def inotify_init1(p, flags):
    flags = s32(flags)
    if flags & ~(L.O_CLOEXEC | L.O_NONBLOCK):
        raise LinuxError(EINVAL)
    return _install(p, p.io.call(NR["inotify_init1"], 0), flags, b"anon_inode:inotify", L.O_RDONLY)


def inotify_init(p):
    return inotify_init1(p, 0)


def inotify_add_watch(p, fd, pathname, mask):
    f = p.fds.get(s32(fd))
    if f.path != b"anon_inode:inotify":
        raise LinuxError(EINVAL)
    if not mask & 0xFFF:                         # no event asked for
        raise LinuxError(EINVAL)
    p.scratch.reset()
    return p.io.call(NR["inotify_add_watch"], f.hfd, gpath(p, pathname), mask & 0xFFFFFFFF)


def inotify_rm_watch(p, fd, wd):
    f = p.fds.get(s32(fd))
    if f.path != b"anon_inode:inotify":
        raise LinuxError(EINVAL)
    return p.io.call(NR["inotify_rm_watch"], f.hfd, s32(wd))


def memfd_create(p, name, flags):
    flags &= 0xFFFFFFFF
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB) or flags & MFD_HUGETLB:
        raise LinuxError(EINVAL)
    try:
        raw = path_arg(p, name, empty_ok=True)
    except LinuxError:
        raise LinuxError(EFAULT) from None
    if len(raw) > 249:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    at = p.scratch.put(raw + b"\0")
    ret = p.io.call(NR["memfd_create"], at, flags & MFD_ALLOW_SEALING)
    fd = install_handle(p, ret, L.O_RDWR, bool(flags & MFD_CLOEXEC))
    p.fds.get(fd).path = b"/memfd:" + raw + b" (deleted)"
    return fd
