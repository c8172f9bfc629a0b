"""Interval timers and POSIX timers: setitimer, getitimer, alarm, timer_create,
timer_settime, timer_gettime, timer_getoverrun, timer_delete (Linux
kernel/time/itimer.c, posix-timers.c).  The timers themselves, and how they
run out, are kernels/timers.py's; the scheduler expires them between runs
(kernels/sched.py)."""
from __future__ import annotations

import struct
import time

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EINVAL, EPERM
from ..errors import LinuxError
from ..timers import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC,
                      CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_TAI,
                      CLOCK_THREAD_CPUTIME_ID, ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL,
                      SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID, TIMER_MAX, Timers, now_on)
from .util import s32

_TIMEVALS = struct.Struct("<qqqq")              # struct itimerval: interval, value
_TIMESPECS = struct.Struct("<qqqq")             # struct itimerspec: interval, value
_SIGEVENT = struct.Struct("<Qiii")              # value, signo, notify, _tid
TIMER_ABSTIME = 1
CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
          CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI)


def timers_of(p) -> Timers:
    proc = p.proc
    if getattr(proc, "timers", None) is None:
        proc.timers = Timers()
    return proc.timers


def _changed(p) -> None:
    """A timer was armed or disarmed: the kernel watches the processes with one."""
    proc = p.proc
    k = p.kernel
    if proc.timers is not None and proc.timers.armed():
        k.timer_procs.add(proc)
        k.sched.check_resched()                  # after this call: the runs are sliced from now on
    else:
        k.timer_procs.discard(proc)


def _arm(t, p, value_ns: int, interval_ns: int, absolute: bool = False) -> None:
    if value_ns == 0:
        t.next, t.interval = None, 0
    else:
        if absolute and t.clock in (CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_TAI):
            value_ns -= time.time_ns()          # a realtime date: from now, on the monotonic clock
            absolute = False
        base = 0 if absolute else now_on(t.clock, p.proc, p)
        t.next, t.interval = base + max(value_ns, 1), interval_ns
    t.overrun = 0


def _left(t, p) -> tuple[int, int]:
    """(ns until it runs out, 0 if disarmed; its interval)."""
    if t.next is None:
        return 0, t.interval
    return max(t.next - now_on(t.clock, p.proc, p), 1), t.interval


# ---- setitimer, getitimer, alarm ---------------------------------------------------------
def _itimer(p, which):
    which = s32(which)
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise LinuxError(EINVAL)
    return timers_of(p).itimer(which)


def getitimer(p, which, curr):
    t = _itimer(p, which)
    left, interval = _left(t, p)
    p.mm.write(curr, _TIMEVALS.pack(interval // 10**9, interval % 10**9 // 1000,
                                    left // 10**9, (left % 10**9 + 999) // 1000))
    return 0


def setitimer(p, which, new, old):
    t = _itimer(p, which)
    if old:
        getitimer(p, which, old)
    if new:
        i_s, i_us, v_s, v_us = _TIMEVALS.unpack(p.mm.read(new, _TIMEVALS.size))
        if not (0 <= i_us < 10**6 and 0 <= v_us < 10**6) or i_s < 0 or v_s < 0:
            raise LinuxError(EINVAL)
        _arm(t, p, v_s * 10**9 + v_us * 1000, i_s * 10**9 + i_us * 1000)
    else:
        _arm(t, p, 0, 0)
    _changed(p)
    return 0


def alarm(p, seconds):
    t = timers_of(p).itimer(ITIMER_REAL)
    left, _ = _left(t, p)
    _arm(t, p, (seconds & 0xFFFFFFFF) * 10**9, 0)
    _changed(p)
    return (left + 500_000_000) // 10**9 if left else 0     # rounded, at least 1 if armed


# ---- POSIX timers ---------------------------------------------------------------------
def timer_create(p, clockid, sevp, timerid):
    clockid = s32(clockid)
    if clockid not in CLOCKS:
        raise LinuxError(EINVAL)
    if clockid in (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM) and p.euid != 0:
        raise LinuxError(EPERM)                  # CAP_WAKE_ALARM
    timers = timers_of(p)
    if len(timers.by_id) >= TIMER_MAX:
        raise LinuxError(EAGAIN)
    if sevp:
        value, signo, notify, tid = _SIGEVENT.unpack(p.mm.read(sevp, _SIGEVENT.size))
    else:
        value, signo, notify, tid = None, L.SIGALRM, SIGEV_SIGNAL, 0
    kind = notify & ~SIGEV_THREAD_ID
    if notify not in (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID):
        raise LinuxError(EINVAL)
    if kind == SIGEV_SIGNAL and not 1 <= signo <= L.NSIG:
        raise LinuxError(EINVAL)
    if notify == SIGEV_THREAD_ID:
        target = p.kernel.sched.tasks.get(tid)
        if target is None or target.proc is not p.proc:
            raise LinuxError(EINVAL)
    t = timers.create(clockid, notify, signo, 0, tid)
    t.value = t.id if value is None else value   # no sigevent: the value is the id
    p.mm.write(timerid, struct.pack("<i", t.id))
    return 0


def _timer(p, timerid):
    t = timers_of(p).by_id.get(s32(timerid))
    if t is None:
        raise LinuxError(EINVAL)
    return t


def timer_gettime(p, timerid, curr):
    t = _timer(p, timerid)
    left, interval = _left(t, p)
    p.mm.write(curr, _TIMESPECS.pack(interval // 10**9, interval % 10**9, left // 10**9, left % 10**9))
    return 0


def timer_settime(p, timerid, flags, new, old):
    t = _timer(p, timerid)
    if not new:
        raise LinuxError(EINVAL)
    i_s, i_ns, v_s, v_ns = _TIMESPECS.unpack(p.mm.read(new, _TIMESPECS.size))
    if not (0 <= i_ns < 10**9 and 0 <= v_ns < 10**9) or i_s < 0 or v_s < 0:
        raise LinuxError(EINVAL)
    if old:
        timer_gettime(p, timerid, old)
    _arm(t, p, v_s * 10**9 + v_ns, i_s * 10**9 + i_ns, absolute=bool(s32(flags) & TIMER_ABSTIME))
    _changed(p)
    return 0


def timer_getoverrun(p, timerid):
    return _timer(p, timerid).last_overrun


def timer_delete(p, timerid):
    t = _timer(p, timerid)
    timers_of(p).delete(t)
    _changed(p)
    return 0
