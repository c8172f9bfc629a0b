"""What a signal carries: Linux's siginfo_t, and the signals a process holds
pending (include/uapi/asm-generic/siginfo.h, kernel/signal.c).

A signal is sent with a `SigInfo` — its code and, by kind, who sent it
(si_pid, si_uid), a child's status, a faulting address, a timer's id and
overruns, or the value sigqueue passed — and is delivered with it: in the
handler's frame (SA_SIGINFO), from sigtimedwait and from a signalfd.

A signal the receiver blocks waits in its process's pending set: standard
signals once each (a second of the same kind merges into the first, as in
Linux), real-time signals (SIGRTMIN and up) queued in order, every one.
"""
from __future__ import annotations

import struct

from .abi import linux as L

SIGRTMIN = 32                   # the kernel's: glibc and musl reserve the first two or three
SI_USER, SI_KERNEL, SI_QUEUE, SI_TIMER, SI_MESGQ, SI_TKILL = 0, 0x80, -1, -2, -3, -6
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6
_FAULTS = (4, 5, 7, 8, 11)      # SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
SIGCHLD = 17
SIZE = 128


def bit(sig: int) -> int:
    return 1 << (sig - 1)


class SigInfo:
    __slots__ = ("sig", "code", "addr", "pid", "uid", "value", "status", "tid", "overrun", "timer")

    def __init__(self, sig: int, code: int = SI_USER, *, addr: int = 0, pid: int = 0,
                 uid: int = 0, value: int = 0, status: int = 0, tid: int = 0, overrun: int = 0):
        self.sig, self.code, self.addr = sig, code, addr
        self.pid, self.uid, self.value, self.status = pid, uid, value, status
        self.tid, self.overrun = tid, overrun
        self.timer = None           # the POSIX timer that sent it (kernels/timers.py)

    @classmethod
    def sent_by(cls, sig: int, code: int, sender) -> "SigInfo":
        """Sent by the guest thread `sender` (kill, tgkill, sigqueue), or by
        the kernel (None)."""
        if sender is None:
            return cls(sig, code)
        return cls(sig, code, pid=sender.pid, uid=sender.uid)

    def pack(self) -> bytes:
        """The 128-byte siginfo_t of x86-64 Linux."""
        head = struct.pack("<iii4x", self.sig, 0, self.code)
        if self.sig in _FAULTS and self.code > 0:
            body = struct.pack("<Q", self.addr)                          # si_addr
        elif self.code == SI_TIMER:
            body = struct.pack("<iiQ", self.tid, self.overrun, self.value)
        elif self.sig == SIGCHLD and CLD_EXITED <= self.code <= CLD_CONTINUED:
            body = struct.pack("<IIi4xqq", self.pid, self.uid, self.status, 0, 0)
        else:                                                            # kill, sigqueue
            body = struct.pack("<IIQ", self.pid & 0xFFFFFFFF, self.uid, self.value)
        return (head + body).ljust(SIZE, b"\0")

    def signalfd(self) -> bytes:
        """The 128-byte struct signalfd_siginfo a signalfd reads."""
        # ssi_signo errno code pid uid fd tid band overrun trapno status int; ptr utime stime addr
        raw = struct.pack("<IiiIIiIIIIiiQQQQ", self.sig, 0, self.code, self.pid & 0xFFFFFFFF,
                          self.uid, 0, self.tid, 0, self.overrun, 0, self.status,
                          _s32(self.value), self.value, 0, 0, self.addr)
        return raw.ljust(SIZE, b"\0")

    @classmethod
    def unpack(cls, raw: bytes) -> "SigInfo":
        """A siginfo_t the guest gave (rt_sigqueueinfo)."""
        sig, _errno, code = struct.unpack_from("<iii", raw)
        pid, uid, value = struct.unpack_from("<IIQ", raw, 16)
        return cls(sig, code, pid=pid, uid=uid, value=value)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class Pending:
    """A process's (or thread's) pending signals: a set, and their siginfo."""
    __slots__ = ("mask", "queue")

    def __init__(self):
        self.mask = 0                                # bit sig-1 set: pending
        self.queue: dict[int, list[SigInfo]] = {}

    def add(self, info: SigInfo) -> bool:
        """Hold `info`; False when a standard signal of its kind already was."""
        sig = info.sig
        q = self.queue.setdefault(sig, [])
        if sig < SIGRTMIN and q:
            return False
        q.append(info)
        self.mask |= bit(sig)
        return True

    def take(self, sig: int) -> SigInfo | None:
        """The first pending `sig`, dequeued (None if there is none)."""
        q = self.queue.get(sig)
        if not q:
            return None
        info = q.pop(0)
        if not q:
            del self.queue[sig]
            self.mask &= ~bit(sig)
        return info

    def first(self, allowed: int) -> int:
        """The lowest pending signal in `allowed` (0: none) — Linux takes
        the standard ones first, lowest number first."""
        ready = self.mask & allowed
        if not ready:
            return 0
        return (ready & -ready).bit_length()

    def drop(self, sig: int) -> None:
        self.queue.pop(sig, None)
        self.mask &= ~bit(sig)


# Calls a handler installed with SA_RESTART restarts when its signal ends
# their wait (signal(7), "Interruption of system calls and library functions
# by signal handlers"); the others — poll, select, epoll_wait, the sleeps,
# sigsuspend, sigtimedwait, semop, msgrcv... — fail with EINTR whatever the flags.
_RESTARTABLE = ("read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64",
                "pwritev", "pwritev2", "ioctl", "open", "openat", "wait4", "waitid", "accept",
                "accept4", "connect", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
                "sendmmsg", "flock", "fcntl", "futex", "getrandom", "splice", "tee", "vmsplice",
                "sendfile", "copy_file_range")
RESTARTABLE = None


def restarts(task) -> bool:
    """Does the signal just queued for waiting `task` restart its call?"""
    global RESTARTABLE
    if RESTARTABLE is None:
        from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
        RESTARTABLE = frozenset(NR[n] for n in _RESTARTABLE)
    if not task.pending_delivery:
        return False
    act = task.sigactions[task.pending_delivery[-1].sig]
    return bool(act.flags & L.SA_RESTART) and task.sched.call in RESTARTABLE
