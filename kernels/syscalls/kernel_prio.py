"""Priorities and scheduling policies (Linux kernel/sys.c getpriority and
setpriority, kernel/sched/core.c sched_setscheduler and friends,
block/ioprio.c).

Each thread keeps what the guest set — its nice value, its policy and
real-time priority, its I/O priority — with Linux's permission rules: a
process may lower its own priority, raising it (a lower nice value, a
real-time policy) takes privilege (the guest's effective uid 0, standing
for CAP_SYS_NICE), and another user's processes are out of reach.  azemu's
scheduler gives every runnable thread the same quantum whatever it holds
(kernels/sched.py): the values are kept and reported, not acted on.
"""
from __future__ import annotations

import os
import struct

from ..abi.linux_errno import EACCES, EINVAL, EPERM, ESRCH
from ..errors import LinuxError
from .util import s32

PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
RR_INTERVAL_NS = 100_000_000                 # Linux's default SCHED_RR time slice
_SCHED_ATTR = struct.Struct("<IIQiIQQQ")     # size policy flags nice prio runtime deadline period
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER = 1, 2, 3
_START_NICE = None


def _nice(t) -> int:
    global _START_NICE
    n = t.sched.nice
    if n is None:
        if _START_NICE is None:
            _START_NICE = os.getpriority(os.PRIO_PROCESS, 0)   # azemu's own, as exec keeps it
        n = _START_NICE
    return n


def _threads(p, which: int, who: int):
    """The threads `which`/`who` names (getpriority's and ioprio's rules)."""
    procs = p.kernel.procs
    if which == PRIO_PROCESS:
        if who == 0:
            return [p]
        t = p.kernel.sched.tasks.get(who)
        return [t] if t is not None and t.sched.state != "exited" else []
    if which == PRIO_PGRP:
        group = procs.group(who or p.pgid)
        return [t for c in group for t in c.tasks]
    if which == PRIO_USER:
        uid = p.uid if who == 0 else who
        return [t for c in procs.live() if c.uid == uid for t in c.tasks]
    raise LinuxError(EINVAL)


def _may_touch(p, t) -> None:
    if p.euid != 0 and p.euid not in (t.uid, t.euid):
        raise LinuxError(EPERM)


def getpriority(p, which, who):
    threads = _threads(p, s32(which), s32(who))
    if not threads:
        raise LinuxError(ESRCH)
    return 20 - min(_nice(t) for t in threads)       # the raw call: 40..1 for nice -20..19


def setpriority(p, which, who, prio):
    threads = _threads(p, s32(which), s32(who))
    if not threads:
        raise LinuxError(ESRCH)
    nice = max(-20, min(19, s32(prio)))
    for t in threads:
        _may_touch(p, t)
        if nice < _nice(t) and p.euid != 0:
            raise LinuxError(EACCES)
        t.sched.nice = nice
    return 0


# ---- scheduling policies -------------------------------------------------------------
def _target(p, pid):
    pid = s32(pid)
    if pid < 0:
        raise LinuxError(EINVAL)
    if pid == 0:
        return p
    t = p.kernel.sched.tasks.get(pid)
    if t is None and pid == p.kernel.process.ppid:
        return _HostParent()                     # getppid() of the first process: azemu's parent
    if t is None or t.sched.state == "exited":
        raise LinuxError(ESRCH)
    return t


class _HostParent:
    """The host process that started azemu, seen from the guest: a process
    of another user as far as changes go, the default policy when asked
    (what root changes on it is not kept: azemu never changes the host)."""

    def __init__(self):
        import types
        self.uid = self.euid = -1
        self.sched = types.SimpleNamespace(policy=(SCHED_OTHER, 0), nice=0, ioprio=0)


def _policy(t) -> tuple[int, int]:
    return t.sched.policy


def _check_policy(p, t, policy: int, prio: int) -> None:
    if policy in (SCHED_FIFO, SCHED_RR):
        if not 1 <= prio <= 99:
            raise LinuxError(EINVAL)
        if p.euid != 0:                          # RLIMIT_RTPRIO is 0 for a user
            raise LinuxError(EPERM)
    elif policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE):
        if prio != 0:
            raise LinuxError(EINVAL)
    elif policy == SCHED_DEADLINE:
        raise LinuxError(EPERM if p.euid != 0 else EINVAL)
    else:
        raise LinuxError(EINVAL)
    _may_touch(p, t)


def sched_getscheduler(p, pid):
    return _policy(_target(p, pid))[0]


def sched_setscheduler(p, pid, policy, param):
    t = _target(p, pid)
    if not param:
        raise LinuxError(EINVAL)
    prio = struct.unpack("<i", p.mm.read(param, 4))[0]
    policy = s32(policy) & ~SCHED_RESET_ON_FORK
    _check_policy(p, t, policy, prio)
    t.sched.policy = (policy, prio)
    return 0


def sched_getparam(p, pid, param):
    t = _target(p, pid)
    if not param:
        raise LinuxError(EINVAL)
    p.mm.write(param, struct.pack("<i", _policy(t)[1]))
    return 0


def sched_setparam(p, pid, param):
    t = _target(p, pid)
    if not param:
        raise LinuxError(EINVAL)
    prio = struct.unpack("<i", p.mm.read(param, 4))[0]
    policy = _policy(t)[0]
    _check_policy(p, t, policy, prio)
    t.sched.policy = (policy, prio)
    return 0


def sched_get_priority_max(p, policy):
    policy = s32(policy)
    if policy in (SCHED_FIFO, SCHED_RR):
        return 99
    if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return 0
    raise LinuxError(EINVAL)


def sched_get_priority_min(p, policy):
    policy = s32(policy)
    if policy in (SCHED_FIFO, SCHED_RR):
        return 1
    if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return 0
    raise LinuxError(EINVAL)


def sched_rr_get_interval(p, pid, interval):
    t = _target(p, pid)
    ns = RR_INTERVAL_NS if _policy(t)[0] == SCHED_RR else 0
    p.mm.write(interval, struct.pack("<qq", ns // 10**9, ns % 10**9))
    return 0


def sched_getattr(p, pid, attr, size, flags):
    t = _target(p, pid)
    if not attr or s32(flags) or size < 48 or size > 4096:
        raise LinuxError(EINVAL)
    policy, prio = _policy(t)
    p.mm.write(attr, _SCHED_ATTR.pack(48, policy, 0, _nice(t), prio, 0, 0, 0))
    return 0


def sched_setattr(p, pid, attr, flags):
    t = _target(p, pid)
    if not attr or s32(flags):
        raise LinuxError(EINVAL)
    size, policy, _flags, nice, prio, *_ = _SCHED_ATTR.unpack(p.mm.read(attr, _SCHED_ATTR.size))
    if size and size < 48:
        raise LinuxError(EINVAL)
    _check_policy(p, t, policy, prio)
    if policy in (SCHED_OTHER, SCHED_BATCH):
        nice = max(-20, min(19, nice))
        if nice < _nice(t) and p.euid != 0:
            raise LinuxError(EPERM)
        t.sched.nice = nice
    t.sched.policy = (policy, prio)
    return 0


# ---- I/O priorities ---------------------------------------------------------------------
def ioprio_get(p, which, who):
    which, who = s32(which), s32(who)
    if which not in (IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        raise LinuxError(EINVAL)
    threads = _threads(p, which - 1, who)
    if not threads:
        raise LinuxError(ESRCH)
    return max(t.sched.ioprio for t in threads)


def ioprio_set(p, which, who, ioprio):
    which, who, ioprio = s32(which), s32(who), s32(ioprio)
    if which not in (IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        raise LinuxError(EINVAL)
    klass, data = ioprio >> IOPRIO_CLASS_SHIFT, ioprio & ((1 << IOPRIO_CLASS_SHIFT) - 1)
    if klass not in (0, 1, 2, 3) or (klass in (1, 2) and data > 7):
        raise LinuxError(EINVAL)
    if klass == 1 and p.euid != 0:             # IOPRIO_CLASS_RT takes privilege
        raise LinuxError(EPERM)
    threads = _threads(p, which - 1, who)
    if not threads:
        raise LinuxError(ESRCH)
    for t in threads:
        _may_touch(p, t)
        t.sched.ioprio = ioprio
    return 0
