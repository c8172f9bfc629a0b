"""Taking signals rather than handling them, and sending them with a value:
rt_sigtimedwait, rt_sigqueueinfo, rt_tgsigqueueinfo, signalfd (Linux
kernel/signal.c, fs/signalfd.c).

Both ways of taking a signal dequeue it from the process's pending set
(kernels/siginfo.py), where signals the threads block wait:

* rt_sigtimedwait returns the first pending signal of its set with its
  siginfo, or waits in the scheduler — woken when one becomes pending
  (kernels/procs.py hold), for at most its timeout (EAGAIN), or until a
  handled signal interrupts it (EINTR);
* a signalfd is read 128 bytes a signal (struct signalfd_siginfo).  So that
  poll, select and epoll — served by the host — see it, it is, on the host,
  the read end of a pipe the kernel keeps: one byte in it while a signal of
  its mask is pending, none otherwise (as pidfds do, proc_pidfd.py).
"""
from __future__ import annotations

import time

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EFAULT, EINVAL, EPERM, ESRCH
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..process import OpenFile
from ..siginfo import SI_TKILL, SIZE, SigInfo
from ..timers import delivered
from .util import s32

KIND_SIGNALFD = 7                 # guest-side only, as KIND_PIDFD (fwk/channel.py)
_UNBLOCKABLE = (1 << (L.SIGKILL - 1)) | (1 << (L.SIGSTOP - 1))


def _take(p, allowed: int) -> SigInfo | None:
    sig = p.pending.first(allowed)
    if not sig:
        return None
    info = p.pending.take(sig)
    delivered(info)
    changed(p.proc)
    return info


def changed(proc) -> None:
    """The pending set changed: every signalfd of `proc` shows it again."""
    for sfd in proc.signal_listeners:
        sfd.update()


# ---- rt_sigtimedwait ------------------------------------------------------------------
def rt_sigtimedwait(p, uthese, uinfo, uts, sigsetsize):
    if sigsetsize != 8:
        raise LinuxError(EINVAL)
    these = p.mm.read_u64(uthese) & ~_UNBLOCKABLE
    s = p.sched
    info = _take(p, these)
    if info is not None:
        s.until = None
        if uinfo:
            p.mm.write(uinfo, info.pack())
        return info.sig
    if uts:
        if s.until is None:                      # the first time: its end, kept across restarts
            sec, nsec = L.TIMESPEC.unpack(p.mm.read(uts, L.TIMESPEC.size))
            if sec < 0 or not 0 <= nsec < 10**9:
                raise LinuxError(EINVAL)
            s.until = time.monotonic() + sec + nsec / 1e9
        if time.monotonic() >= s.until:
            s.until = None
            raise LinuxError(EAGAIN)
    p.kernel.sched.wait(p, futex=("sigwait", p.pid), deadline=s.until, restart=True)


# ---- sending with a value ---------------------------------------------------------------
def _queued(p, sig, uinfo, to_self: bool) -> SigInfo:
    sig = s32(sig)
    if not 1 <= sig <= L.NSIG:
        raise LinuxError(EINVAL)
    try:
        info = SigInfo.unpack(p.mm.read(uinfo, SIZE))
    except LinuxError:
        raise LinuxError(EFAULT) from None
    if (info.code >= 0 or info.code == SI_TKILL) and not to_self:
        raise LinuxError(EPERM)                  # only kill() may say it came from the kernel or kill
    info.sig = sig
    return info


def rt_sigqueueinfo(p, tgid, sig, uinfo):
    tgid = s32(tgid)
    target = p.kernel.procs.get(tgid)
    if target is None and tgid == p.proc.ppid and tgid > 1:
        raise LinuxError(EPERM)                  # the first process's parent: the host's, not ours
    if target is None or target.zombie:
        raise LinuxError(ESRCH)
    info = _queued(p, sig, uinfo, target is p.proc)
    if target is p.proc:
        from .kernel_signal import raise_signal
        raise_signal(p, info.sig, info=info)
    else:
        p.kernel.procs.signal(target, info.sig, info=info)
    return 0


def rt_tgsigqueueinfo(p, tgid, tid, sig, uinfo):
    from .kernel_fork import tgkill_target
    from .kernel_signal import raise_signal
    target = tgkill_target(p, s32(tgid), s32(tid))
    info = _queued(p, sig, uinfo, target.proc is p.proc)
    raise_signal(target, info.sig, info=info)
    return 0


# ---- signalfd -----------------------------------------------------------------------------
class SignalFd:
    """One signalfd: its mask, its process, and the host pipe behind it
    (the guest holds the read end; a byte is in it while a signal of the
    mask is pending)."""

    def __init__(self, p, mask: int, read_end: int, write_end: int):
        self.proc, self.mask, self.r, self.w = p.proc, mask, read_end, write_end
        self.full = False

    def _move(self, function: int, handle: int) -> None:
        scratch = self.proc.scratch
        at = scratch.alloc(8)
        iov, n = scratch.iov([(at, 1)])
        try:
            self.proc.io.call(function, handle, iov, n)
        except LinuxError:
            pass

    def update(self) -> None:
        want = bool(self.proc.pending.mask & self.mask)
        if want != self.full:
            self._move(NR["writev"] if want else NR["readv"], self.w if want else self.r)
            self.full = want

    def close(self) -> None:
        try:
            self.proc.io.call(NR["close"], self.w)
        except LinuxError:
            pass


def signalfd4(p, fd, mask, sizemask, flags):
    fd, flags = s32(fd), s32(flags)
    if sizemask != 8 or flags & ~(L.O_CLOEXEC | L.O_NONBLOCK):
        raise LinuxError(EINVAL)
    bits = p.mm.read_u64(mask) & ~_UNBLOCKABLE
    if fd != -1:
        f = p.fds.get(fd)
        if f.kind != KIND_SIGNALFD:
            raise LinuxError(EINVAL)
        f.target.mask = bits
        f.target.update()
        return fd
    ret = p.io.call(NR["pipe2"], 0)
    r, w = ret & 0xFFFFFFFF, (ret >> 32) & 0xFFFFFFFF
    f = OpenFile(r, L.O_RDWR | (flags & L.O_NONBLOCK), b"anon_inode:[signalfd]", False, KIND_SIGNALFD)
    f.target = SignalFd(p, bits, r, w)
    p.proc.signal_listeners.append(f.target)
    f.target.update()
    return p.fds.install(f, lowest=0, cloexec=bool(flags & L.O_CLOEXEC))


def signalfd(p, fd, mask, sizemask):
    return signalfd4(p, fd, mask, sizemask, 0)


def read(p, f, buf, count) -> int:
    """read() on a signalfd: pending signals of its mask, 128 bytes each."""
    if count < SIZE:
        raise LinuxError(EINVAL)
    sfd = f.target
    out = []
    while len(out) < count // SIZE:
        info = _take(p, sfd.mask)
        if info is None:
            break
        out.append(info.signalfd())
    if not out:
        if f.flags & L.O_NONBLOCK:
            raise LinuxError(EAGAIN)
        p.kernel.sched.wait(p, futex=("sigwait", p.pid), restart=True)
    data = b"".join(out)
    p.mm.write(buf, data)
    return len(data)
