"""Waiting for children, process groups and sessions, and signals between
processes (Linux kernel/exit.c, kernel/sys.c, kernel/signal.c).

wait4 and waitid look through the caller's children (kernels/procs.py) for
one that has ended and matches: a pid, a process group, any.  Found, its
status is reported (and it is reaped unless WNOWAIT); none yet and no
WNOHANG, the thread sleeps on its process's wait queue, which every child's
end, stop or continuation wakes, and looks again.  A child stopped by
SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU is reported once to WUNTRACED
(WSTOPPED), and once to WCONTINUED after a SIGCONT (kernels/procs.py).
"""
from __future__ import annotations

import struct

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, ECHILD, EINVAL, EPERM, ESRCH
from ..errors import LinuxError
from ..procs import child_wait_key
from ..rusage import of_process, reaped
from .util import s32

WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
__WNOTHREAD, __WALL, __WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 5, 6


def _matching(p, which: str, ident: int, clone_kind):
    kids = p.kernel.procs.children(p.proc)
    if which == "pid":
        kids = [c for c in kids if c.pid == ident]
    elif which == "pgid":
        kids = [c for c in kids if c.pgid == ident]
    if clone_kind is not None:                   # __WCLONE: only non-SIGCHLD children
        kids = [c for c in kids if (c.exit_signal != L.SIGCHLD) == clone_kind]
    return kids


def _wait(p, which, ident, options, clone_kind, exited=True):
    """The child to report — ended (with `exited`), stopped (WSTOPPED) or
    continued (WCONTINUED) since last reported — or None with WNOHANG;
    sleeps otherwise."""
    kids = _matching(p, which, ident, clone_kind)
    if not kids:
        raise LinuxError(ECHILD)
    for c in kids:
        if c.zombie:
            if exited:
                return c
        elif c.report is not None and options & (WSTOPPED if c.report[0] == "stopped" else WCONTINUED):
            return c
    if options & WNOHANG:
        return None
    p.sched.waits_for = lambda child, report: child in _matching(p, which, ident, clone_kind) and (
        report == "exited" and exited or report == "stopped" and options & WSTOPPED
        or report == "continued" and options & WCONTINUED)
    p.kernel.sched.wait(p, futex=child_wait_key(p.proc.pid))   # woken by a child's change: look again


def wait4(p, pid, wstatus, options, rusage):
    pid, options = s32(pid), s32(options)
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        raise LinuxError(EINVAL)
    if pid == -(1 << 31):
        raise LinuxError(ESRCH)
    which, ident = ("all", 0) if pid == -1 else ("pgid", p.pgid) if pid == 0 else \
        ("pgid", -pid) if pid < 0 else ("pid", pid)
    clone_kind = None if options & __WALL else bool(options & __WCLONE)
    c = _restartable(p, lambda: _wait(p, which, ident, options, clone_kind))
    if c is None:
        return 0
    if c.zombie:
        word = c.status.word()
    else:
        kind, sig = c.report
        word = (sig << 8) | 0x7F if kind == "stopped" else 0xFFFF
    if wstatus:
        p.mm.write(wstatus, struct.pack("<i", word))
    if rusage:
        p.mm.write(rusage, _usage(c))
    if c.zombie:
        reaped(p.proc, c)
        p.kernel.procs.reap(c)
    else:
        c.report = None
    return c.pid


def _usage(c) -> bytes:
    """What wait4/waitid report of child `c`: its own usage and its reaped
    children's (Linux's getrusage(RUSAGE_BOTH) of the child)."""
    u = of_process(c)
    u.add(c.cusage)
    return u.pack()


def waitid(p, idtype, id_, infop, options, rusage):
    idtype, ident, options = s32(idtype), s32(id_), s32(options)
    if options & ~(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL
                   | __WCLONE) or not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise LinuxError(EINVAL)
    nonblocking = False
    if idtype == P_ALL:
        which = "all"
    elif idtype == P_PID:
        which = "pid"
    elif idtype == P_PGID:
        which, ident = "pgid", ident or p.pgid
    elif idtype == P_PIDFD:
        from .proc_pidfd import pidfd_target
        target, f = pidfd_target(p, ident)
        which, ident = "pid", target.pid
        if f.flags & L.O_NONBLOCK and not options & WNOHANG:
            nonblocking = True                   # a non-blocking pidfd: EAGAIN rather than wait
            options |= WNOHANG
    else:
        raise LinuxError(EINVAL)
    clone_kind = None if options & __WALL else bool(options & __WCLONE)
    c = _restartable(p, lambda: _wait(p, which, ident, options, clone_kind,
                                      exited=bool(options & WEXITED)))
    if c is None and nonblocking:
        raise LinuxError(EAGAIN)
    if infop:
        info = bytearray(128)
        if c is not None and c.zombie:
            st = c.status
            code = (CLD_DUMPED if st.core else CLD_KILLED) if st.signal else CLD_EXITED
            struct.pack_into("<iii", info, 0, L.SIGCHLD, 0, code)
            struct.pack_into("<iIi", info, 16, c.pid, c.uid, st.signal or st.code)
        elif c is not None:
            kind, sig = c.report
            struct.pack_into("<iii", info, 0, L.SIGCHLD, 0,
                             CLD_STOPPED if kind == "stopped" else CLD_CONTINUED)
            struct.pack_into("<iIi", info, 16, c.pid, c.uid, sig)
        p.mm.write(infop, bytes(info))
    if rusage:
        p.mm.write(rusage, _usage(c) if c is not None else bytes(L.RUSAGE.size))
    if c is not None and not options & WNOWAIT:
        if c.zombie:
            reaped(p.proc, c)
            p.kernel.procs.reap(c)
        else:
            c.report = None
    return 0


def _restartable(p, look):
    """Run `look`; a wait in it restarts the whole syscall when woken (so
    the children are looked through again)."""
    from ..errors import Block
    try:
        return look()
    except Block:
        p.sched.restart = True                   # woken: run wait4/waitid again
        p.sched.result = None
        raise


# ---- process groups and sessions ----------------------------------------------------
def _process(p, pid):
    if pid == 0:
        return p.proc
    c = p.kernel.procs.get(pid)
    if c is None or c.zombie:
        raise LinuxError(ESRCH)
    return c


def setpgid(p, pid, pgid):
    pid, pgid = s32(pid), s32(pgid)
    if pgid < 0:
        raise LinuxError(EINVAL)
    target = _process(p, pid)
    if target is not p.proc and target.ppid != p.pid:
        raise LinuxError(ESRCH)
    if target.sid != p.sid or target.pid == target.sid:
        raise LinuxError(EPERM)
    pgid = pgid or target.pid
    if pgid != target.pid and not any(c.sid == p.sid for c in p.kernel.procs.group(pgid)):
        raise LinuxError(EPERM)
    target.pgid = pgid
    return 0


def getpgid(p, pid):
    return _process(p, s32(pid)).pgid


def getpgrp(p):
    return p.pgid


def getsid(p, pid):
    return _process(p, s32(pid)).sid


def setsid(p):
    me = p.proc
    if me.pgid == me.pid or p.kernel.procs.group(me.pid):
        raise LinuxError(EPERM)
    me.sid = me.pgid = me.pid
    return me.sid


# ---- kill ---------------------------------------------------------------------------
def targets(p, pid: int) -> list:
    """The processes kill(pid) reaches: one, a group, or all but the caller."""
    procs = p.kernel.procs
    if pid > 0:
        c = procs.get(pid)
        if c is None or c.zombie:
            raise LinuxError(ESRCH)
        return [c]
    if pid == -1:
        return [c for c in procs.live() if c is not p.proc]
    group = procs.group(p.pgid if pid == 0 else -pid)
    if not group:
        raise LinuxError(ESRCH)
    return group
