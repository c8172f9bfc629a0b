"""Job control on the controlling terminal (Linux drivers/tty/tty_jobctrl.c,
the orphaned-group rules of kernel/exit.c and kernel/signal.c).

The instance's first process is azemu's host process: it has azemu's pid,
process group and session, and azemu's controlling terminal, when it has
one, is that session's terminal — the guest's.  Guest process groups other
than the first one's exist only in the model, so the terminal's foreground
process group is kept here:

* until the guest sets it (tcsetpgrp), it is the host's: azemu's own group
  when azemu is the host's foreground job;
* a process of the terminal's session that is not in the foreground group
  and reads the terminal — or writes to it with TOSTOP set, or changes its
  settings or its foreground group — gets SIGTTIN (SIGTTOU) sent to its
  whole group, and its call is restarted once it is continued (Linux's
  -ERESTARTSYS); with the signal ignored or blocked a read gives EIO and
  the rest go through; in an orphaned process group both give EIO;
* a stop signal other than SIGSTOP is dropped in an orphaned process group,
  and a group orphaned while one of its processes is stopped gets SIGHUP
  and SIGCONT.

A write by the first process's group is not checked while the guest has not
set a foreground group: that group is azemu's host group, whose writes the
host's terminal driver checks itself — so a program that never uses job
control pays nothing on its output.  A read is always checked (one host
ioctl, at the speed of typing): on lwk and unikernel the host process that
reads is the FWK proxy, whose stop the host's shell would not see as the
job's.

Whether a guest file is the controlling terminal is asked of the host once
per open file: TIOCGPGRP succeeds only on the caller's controlling terminal
(the FWK proxy shares azemu's session and terminal).
"""
from __future__ import annotations

import os
import struct

from .abi import linux as L
from .abi.linux_errno import EINTR, EINVAL, EIO, ENOTTY, EPERM, ESRCH
from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
from .errors import LinuxError
from .fwk.channel import KIND_CHAR

TOSTOP = 0o400                        # c_lflag
_LFLAG = 12                           # offset of c_lflag in struct termios
# Requests that change the terminal: a background process gets SIGTTOU (tty_check_change).
CHANGES = (L.TCSETS, L.TCSETSW, L.TCSETSF, L.TIOCSWINSZ, L.TCFLSH, L.TCXONC)


class Terminal:
    """azemu's controlling terminal as the guest sees it."""

    def __init__(self, first):
        self.sid = first.sid              # the session it belongs to: the host's
        self.fg = None                    # the foreground group the guest set, or None
        self.host_pgid = os.getpgrp()     # azemu's group on the host: the first process's at start


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


def is_ctty(p, f) -> bool:
    """Is open file `f` azemu's controlling terminal (asked once per file)?"""
    if f.kind != KIND_CHAR:
        return False
    if f.ctty is None:
        try:
            _host_pgrp(p, f)
            f.ctty = True
        except LinuxError:
            f.ctty = False
    return f.ctty


def _host_pgrp(p, f) -> int:
    p.scratch.reset()
    out = p.scratch.alloc(8)
    p.io.call(NR["ioctl"], f.hfd, L.TIOCGPGRP, out)
    return int.from_bytes(p.scratch.get(out, 4), "little", signed=True)


def controlling(p, f) -> bool:
    """Is `f` the controlling terminal of `p`'s session?"""
    return p.proc.sid == p.kernel.tty.sid and is_ctty(p, f)


def foreground(p, f) -> int:
    term = p.kernel.tty
    return term.fg if term.fg is not None else _host_pgrp(p, f)


# ---- background processes -------------------------------------------------------------
def check(p, f, sig: int) -> None:
    """Linux's __tty_check_change: may `p` use terminal `f` this way?
    Returns if it may; raises EIO, or stops `p`'s group (the call runs
    again once it is continued), or EINTR for a handler to run."""
    if f.kind != KIND_CHAR:
        return
    k = p.kernel
    proc = p.proc
    if not controlling(p, f) or proc.pgid == foreground(p, f):
        return
    if p.sigmask & _bit(sig) or proc.sigactions[sig].handler == L.SIG_IGN:
        if sig == L.SIGTTIN:
            raise LinuxError(EIO)
        return
    if orphaned(k, proc.pgid):
        raise LinuxError(EIO)
    from .syscalls.kernel_signal import SI_KERNEL, _stop_self
    for other in k.procs.group(proc.pgid):
        if other is not proc:
            k.procs.signal(other, sig, SI_KERNEL)
    if proc.sigactions[sig].handler == L.SIG_DFL:
        _stop_self(p, sig, restart=True)  # the call runs again once it is continued
    from .siginfo import SigInfo
    p.pending_delivery.append(SigInfo(sig, SI_KERNEL))
    raise LinuxError(EINTR)               # a handler runs first (no SA_RESTART restart)


def before_write(p, f) -> None:
    """A write to a terminal: with TOSTOP, only from the foreground."""
    k = p.kernel
    if f.kind != KIND_CHAR or (k.tty.fg is None and p.proc.pgid == k.process.pgid):
        return
    if controlling(p, f) and p.proc.pgid != foreground(p, f) and _tostop(p, f):
        check(p, f, L.SIGTTOU)


def _tostop(p, f) -> bool:
    p.scratch.reset()
    out = p.scratch.alloc(L.TERMIOS_SIZE)
    p.io.call(NR["ioctl"], f.hfd, L.TCGETS, out)
    lflag = struct.unpack_from("<I", p.scratch.get(out, L.TERMIOS_SIZE), _LFLAG)[0]
    return bool(lflag & TOSTOP)


# ---- the terminal's ioctls ----------------------------------------------------------------
def tiocgpgrp(p, f) -> int:
    if not controlling(p, f):
        raise LinuxError(ENOTTY)
    return foreground(p, f)


def tiocgsid(p, f) -> int:
    if not controlling(p, f):
        raise LinuxError(ENOTTY)
    return p.kernel.tty.sid


def tiocspgrp(p, f, arg: int) -> int:
    try:
        check(p, f, L.SIGTTOU)
    except LinuxError as e:
        if e.errno == EIO:
            raise LinuxError(ENOTTY) from None
        raise
    if not controlling(p, f):
        raise LinuxError(ENOTTY)
    pgid = struct.unpack("<i", p.mm.read(arg, 4))[0]
    if pgid < 0:
        raise LinuxError(EINVAL)
    procs = p.kernel.procs
    member = procs.get(pgid) or next(iter(procs.group(pgid)), None)
    if member is None:
        raise LinuxError(ESRCH)
    leader = next(iter(procs.group(pgid)), member)    # session_of_pgrp
    if leader.sid != p.proc.sid:
        raise LinuxError(EPERM)
    p.kernel.tty.fg = pgid
    return 0


# ---- orphaned process groups --------------------------------------------------------------
def orphaned(k, pgid: int) -> bool:
    """Linux's will_become_orphaned_pgrp: no live member of group `pgid`
    has a parent in another group of the same session (init, the reaper,
    does not count).  azemu's own host group has host members too (azemu,
    and whatever shares its group): theirs are read from the host's /proc."""
    from .procs import REAPER
    for c in k.procs.group(pgid):
        if c.ppid == REAPER:
            continue
        parent = k.procs.get(c.ppid)
        if parent is not None and not parent.zombie and parent.pgid != pgid \
                and parent.sid == c.sid:
            return False
    return not (pgid == k.tty.host_pgid and _host_link(pgid, k.tty.sid))


def _host_link(pgid: int, sid: int) -> bool:
    """Has a host process of group `pgid` its parent in another group of
    session `sid` (init aside)?"""
    def ids(pid):
        with open(f"/proc/{pid}/stat", "rb") as f:
            ppid, pgrp, session = f.read().rsplit(b")", 1)[1].split()[1:4]
        return int(ppid), int(pgrp), int(session)
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return True                           # cannot tell: as if not orphaned
    for pid in pids:
        try:
            ppid, pgrp, _ = ids(pid)
            if pgrp != pgid or ppid <= 1:
                continue
            _, ppgrp, psession = ids(ppid)
        except (OSError, ValueError):
            continue
        if ppgrp != pgid and psession == sid:
            return True
    return False


def drops_stop(target, sig: int) -> bool:
    """A stop signal at its default action is dropped in an orphaned group
    (SIGSTOP never is)."""
    return sig != L.SIGSTOP and orphaned(target.kernel, target.pgid)


def orphaning_exit(k, p, children) -> None:
    """`p` ended and `children` passed to the reaper: a group this orphans
    that has a stopped process gets SIGHUP, then SIGCONT (kill_orphaned_pgrp)."""
    for c in children:
        if not c.zombie and c.pgid != p.pgid and c.sid == p.sid:
            _hangup_if_stopped(k, c.pgid)
    parent = k.procs.get(p.ppid)
    if parent is not None and parent.pgid != p.pgid and parent.sid == p.sid:
        _hangup_if_stopped(k, p.pgid)


def _hangup_if_stopped(k, pgid: int) -> None:
    members = k.procs.group(pgid)
    if any(c.stopped for c in members) and orphaned(k, pgid):
        for c in members:
            k.procs.signal(c, L.SIGHUP)
        for c in members:
            k.procs.signal(c, L.SIGCONT)
