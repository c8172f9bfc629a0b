"""fcntl, dup, dup2, dup3 (Linux fs/fcntl.c, fs/file.c), pipe (fs/pipe.c),
ioctl (fs/ioctl.c: terminal queries are answered from the host terminal;
anything else on a non-terminal is ENOTTY), getcwd (fs/d_path.c)."""
from __future__ import annotations

import os

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EBADF, EINVAL, ENOTDIR, EPERM, ERANGE
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..abi.linux_errno import ENOTTY
from ..errors import LinuxError
from .. import tty
from ..fwk.channel import KIND_CHAR, KIND_SOCKET
from .fs_open import install_handle
from .util import host_open_flags, s32

_SETFL_MASK = L.O_APPEND | L.O_NONBLOCK | L.O_DIRECT | L.O_NOATIME


def dup(p, oldfd):
    return p.fds.install(p.fds.get(s32(oldfd)))


def dup3(p, oldfd, newfd, flags):
    oldfd, newfd, flags = s32(oldfd), s32(newfd), s32(flags)
    if flags & ~L.O_CLOEXEC or oldfd == newfd:
        raise LinuxError(EINVAL)
    if newfd < 0 or newfd >= p.fds.limit:
        raise LinuxError(EBADF)
    f = p.fds.get(oldfd)
    p.fds.check_target(newfd)
    return p.fds.install(f, at=newfd, cloexec=bool(flags & L.O_CLOEXEC))


def dup2(p, oldfd, newfd):
    if s32(oldfd) == s32(newfd):
        p.fds.get(s32(oldfd))
        return s32(newfd)
    return dup3(p, oldfd, newfd, 0)


def _pipe_max_size() -> int:
    """The host's /proc/sys/fs/pipe-max-size (Linux's default, 1 MiB, if unreadable)."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1 << 20


def fcntl(p, fd, cmd, arg):
    fd, cmd = s32(fd), s32(cmd)
    f = p.fds.get(fd)
    if cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC):
        if s32(arg) < 0 or s32(arg) >= p.fds.limit:
            raise LinuxError(EINVAL)
        return p.fds.install(f, lowest=s32(arg), cloexec=cmd == L.F_DUPFD_CLOEXEC)
    if cmd == L.F_GETFD:
        return L.FD_CLOEXEC if fd in p.fds.cloexec else 0
    if cmd == L.F_SETFD:
        if arg & L.FD_CLOEXEC:
            p.fds.cloexec.add(fd)
        else:
            p.fds.cloexec.discard(fd)
        return 0
    if cmd == L.F_GETFL:
        return f.flags | (L.O_LARGEFILE if not f.flags & L.O_PATH else 0)
    if cmd == L.F_SETFL:
        new = (f.flags & ~_SETFL_MASK) | (arg & _SETFL_MASK)
        host = host_open_flags(new) & (os.O_APPEND | os.O_NONBLOCK)
        p.io.call(NR["fcntl"], f.hfd, L.F_SETFL, host | (os.O_NONBLOCK if f.hostnb else 0))
        f.flags = new
        return 0
    if cmd in (L.F_GETLK, L.F_SETLK, L.F_SETLKW, 36, 37, 38):   # and F_OFD_* (kernels/locks.py)
        from ..locks import fcntl_lock
        return fcntl_lock(p, f, cmd, arg)
    if cmd == L.F_GETPIPE_SZ:                    # the host pipe's (EBADF if it is none)
        return p.io.call(NR["fcntl"], f.hfd, L.F_GETPIPE_SZ, 0)
    if cmd == L.F_SETPIPE_SZ:
        # Linux lets privilege go past pipe-max-size; azemu does not, even for
        # the guest's root: the buffer is host memory, outside --mem.
        if (arg & 0xFFFFFFFF) > _pipe_max_size():
            raise LinuxError(EPERM)
        return p.io.call(NR["fcntl"], f.hfd, L.F_SETPIPE_SZ, arg & 0xFFFFFFFF)
    if cmd in (L.F_GETOWN, L.F_SETOWN):
        return 0
    # The signal-driven I/O owner and directory notifications are accepted
    # and checked; azemu sends no SIGIO (the guest learns of I/O by poll).
    if cmd == F_GETOWN_EX:
        p.mm.write(arg, bytes(8))                # type F_OWNER_TID, pid 0: none set
        return 0
    if cmd == F_SETOWN_EX:
        if int.from_bytes(p.mm.read(arg, 4), "little", signed=True) not in (0, 1, 2):
            raise LinuxError(EINVAL)
        return 0
    if cmd == F_NOTIFY:
        if not f.is_dir:
            raise LinuxError(ENOTDIR)
        return 0
    raise LinuxError(EINVAL)


F_SETOWN_EX, F_GETOWN_EX, F_NOTIFY = 15, 16, 1026


TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431       # a pseudo-terminal's number; its lock
_IOCTL_OUT = {L.TIOCGWINSZ: L.WINSIZE.size, L.TCGETS: L.TERMIOS_SIZE, L.FIONREAD: 4, TIOCGPTN: 4}
# Requests whose argument points at what the host's terminal takes, and those
# whose argument is a plain value.
_IOCTL_IN = {L.TCSETS: L.TERMIOS_SIZE, L.TCSETSW: L.TERMIOS_SIZE, L.TCSETSF: L.TERMIOS_SIZE,
             L.TIOCSWINSZ: L.WINSIZE.size, TIOCSPTLCK: 4}
_IOCTL_VALUE = (L.TCFLSH, L.TCXONC)


def ioctl(p, fd, request, arg):
    f = p.fds.get(s32(fd))
    request = request & 0xFFFFFFFF
    if request in (L.FIOCLEX, L.FIONCLEX):
        (p.fds.cloexec.add if request == L.FIOCLEX else p.fds.cloexec.discard)(s32(fd))
        return 0
    if request == L.FIONBIO:
        on = int.from_bytes(p.mm.read(arg, 4), "little")
        flags = (f.flags | L.O_NONBLOCK) if on else (f.flags & ~L.O_NONBLOCK)
        return fcntl(p, fd, L.F_SETFL, flags)
    if request in (L.TIOCGPGRP, L.TIOCGSID, L.TIOCSPGRP):     # job control (kernels/tty.py)
        if f.kind != KIND_CHAR:
            raise LinuxError(ENOTTY)
        if request == L.TIOCSPGRP:
            return tty.tiocspgrp(p, f, arg)
        value = tty.tiocgpgrp(p, f) if request == L.TIOCGPGRP else tty.tiocgsid(p, f)
        p.mm.write(arg, value.to_bytes(4, "little", signed=True))
        return 0
    if f.kind == KIND_SOCKET and (request in L.SIOCGIF or request in L.SIOCSIF):
        if request in L.SIOCSIF:
            raise LinuxError(EPERM)               # an interface's settings: CAP_NET_ADMIN
        p.scratch.reset()
        out = p.scratch.put(p.mm.read(arg, L.IFREQ_SIZE))
        ret = p.io.call(NR["ioctl"], f.hfd, request, out)
        p.mm.write(arg, p.scratch.get(out, L.IFREQ_SIZE))
        return ret
    if request in tty.CHANGES:
        tty.check(p, f, L.SIGTTOU)                # a background process: SIGTTOU
    size = _IOCTL_OUT.get(request, 0)
    p.scratch.reset()
    out = p.scratch.alloc(max(size, _IOCTL_IN.get(request, 0), 8))
    if request in _IOCTL_IN:
        p.scratch.phys.view[out:out + _IOCTL_IN[request]] = p.mm.read(arg, _IOCTL_IN[request])
    elif request in _IOCTL_VALUE:
        out = arg & 0xFFFFFFFF
    ret = p.io.call(NR["ioctl"], f.hfd, request, out)
    if size:
        p.mm.write(arg, p.scratch.get(out, size))
    return ret


LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8
FLOCK_RETRY_S = 0.005             # a blocked flock asks the host again this often


def flock(p, fd, op):
    """BSD locks, held on the host's open file description (the FWK's
    handle, shared by dup and fork as Linux shares them).  The host is only
    asked not to wait; a lock another holds makes a blocking caller wait in
    the scheduler and ask again (the host gives no event when it is freed)."""
    f = p.fds.get(s32(fd))
    op = s32(op)
    kind = op & ~LOCK_NB
    if kind not in (LOCK_SH, LOCK_EX, LOCK_UN) or f.flags & L.O_PATH:
        raise LinuxError(EINVAL if kind not in (LOCK_SH, LOCK_EX, LOCK_UN) else EBADF)
    try:
        return p.io.call(NR["flock"], f.hfd, kind)
    except LinuxError as e:
        if e.errno != EAGAIN or op & LOCK_NB:
            raise
    import time
    p.kernel.sched.wait(p, deadline=time.monotonic() + FLOCK_RETRY_S, restart=True)


def pipe2(p, fds, flags):
    flags = s32(flags)
    if flags & ~(L.O_CLOEXEC | L.O_NONBLOCK | L.O_DIRECT):
        raise LinuxError(EINVAL)
    rfd = p.fds.lowest_free()
    wfd = p.fds.lowest_free(rfd + 1)
    p.mm.write(fds, rfd.to_bytes(4, "little") + wfd.to_bytes(4, "little"))  # EFAULT first
    ret = p.io.call(NR["pipe2"], 0)                 # non-blocking on the host in any case
    r, w = ret & 0xFFFFFFFF, ret >> 32
    extra = flags & L.O_NONBLOCK
    cloexec = bool(flags & L.O_CLOEXEC)
    kind = 2 << 32                                   # KIND_FIFO
    install_handle(p, r | kind, L.O_RDONLY | extra, cloexec, at=rfd)
    install_handle(p, w | kind, L.O_WRONLY | extra, cloexec, at=wfd)
    p.fds.get(rfd).hostnb = p.fds.get(wfd).hostnb = True    # kernels/blocking.py
    return 0


def pipe(p, fds):
    return pipe2(p, fds, 0)


def getcwd(p, buf, size):
    p.scratch.reset()
    n = min(size, 4096)
    out = p.scratch.alloc(n)
    try:
        got = p.io.call(NR["getcwd"], out, n)
    except LinuxError as e:
        raise LinuxError(ERANGE if e.errno == ERANGE else e.errno) from None
    p.mm.write(buf, p.scratch.get(out, got))
    return got
