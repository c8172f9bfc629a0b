"""Clocks and sleeping (Linux kernel/time/): clock_gettime, clock_getres,
gettimeofday, time, nanosleep, clock_nanosleep.  Guest clocks are the host's."""
from __future__ import annotations

import time

from ..abi import linux as L
from ..abi.linux_errno import EINVAL
from ..errors import LinuxError
from .util import s32

_CLOCKS = {
    L.CLOCK_REALTIME: time.CLOCK_REALTIME, L.CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    L.CLOCK_PROCESS_CPUTIME_ID: time.CLOCK_PROCESS_CPUTIME_ID,
    L.CLOCK_THREAD_CPUTIME_ID: time.CLOCK_THREAD_CPUTIME_ID,
    L.CLOCK_MONOTONIC_RAW: getattr(time, "CLOCK_MONOTONIC_RAW", time.CLOCK_MONOTONIC),
    L.CLOCK_REALTIME_COARSE: 5, L.CLOCK_MONOTONIC_COARSE: 6,
    L.CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC),
    L.CLOCK_TAI: getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME),
}


def _clock(clockid):
    try:
        return _CLOCKS[s32(clockid)]
    except KeyError:
        raise LinuxError(EINVAL) from None


def _ts(ns):
    return L.TIMESPEC.pack(ns // 10**9, ns % 10**9)


def cpu_clock_ns(p, clockid: int) -> int | None:
    """A CPU-time clock's reading for the guest (not azemu's own): the
    process's or thread's, by CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID
    or a clock id made by clock_getcpuclockid/pthread_getcpuclockid (Linux's
    encoding: ~pid << 3, 4 for a thread, 0..2 for PROF/VIRT/SCHED); None for
    another clock."""
    from ..rusage import of_process, of_thread
    if clockid == L.CLOCK_PROCESS_CPUTIME_ID:
        return of_process(p.proc).cpu_ns
    if clockid == L.CLOCK_THREAD_CPUTIME_ID:
        return of_thread(p).cpu_ns
    if clockid >= 0:
        return None
    if clockid & 7 in (3, 7):
        raise LinuxError(EINVAL)
    who = ~(clockid >> 3)
    k = p.kernel
    if clockid & 4:                               # a thread: of the caller's process
        t = p if who == 0 else k.sched.tasks.get(who)
        if t is None or t.proc is not p.proc:
            raise LinuxError(EINVAL)
        return of_thread(t).cpu_ns
    proc = p.proc if who == 0 else k.procs.get(who)
    if proc is None or proc.zombie:
        raise LinuxError(EINVAL)
    return of_process(proc).cpu_ns


def clock_gettime(p, clockid, tp):
    ns = cpu_clock_ns(p, s32(clockid))
    p.mm.write(tp, _ts(ns if ns is not None else time.clock_gettime_ns(_clock(clockid))))
    return 0


def clock_getres(p, clockid, res):
    if cpu_clock_ns(p, s32(clockid)) is not None:
        if res:
            p.mm.write(res, _ts(1))
        return 0
    c = _clock(clockid)
    if res:
        p.mm.write(res, _ts(int(time.clock_getres(c) * 1e9)))
    return 0


def gettimeofday(p, tv, tz):
    if tv:
        ns = time.time_ns()
        p.mm.write(tv, L.TIMEVAL.pack(ns // 10**9, (ns // 1000) % 10**6))
    if tz:
        p.mm.write(tz, bytes(8))
    return 0


def time_(p, tloc):
    t = time.time_ns() // 10**9
    if tloc:
        p.mm.write_u64(tloc, t)
    return t


def _read_ts(p, addr):
    sec, nsec = L.TIMESPEC.unpack(p.mm.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 10**9:
        raise LinuxError(EINVAL)
    return sec * 10**9 + nsec


def clock_nanosleep(p, clockid, flags, request, remain):
    c = _clock(clockid)
    if s32(clockid) in (L.CLOCK_THREAD_CPUTIME_ID,):
        raise LinuxError(EINVAL)
    ns = _read_ts(p, request)
    if s32(flags) & L.TIMER_ABSTIME:
        ns -= time.clock_gettime_ns(c)
    if ns > 0 and not p.kernel.sched.undisturbed():   # others run, or a signal may end it
        p.kernel.sched.wait(p, deadline=time.monotonic() + ns / 1e9)
    while ns > 0:                             # in chunks: "sleep forever" is a real idiom
        chunk = min(ns, 86400 * 10**9)
        time.sleep(chunk / 1e9)
        ns -= chunk
    return 0


def nanosleep(p, req, rem):
    return clock_nanosleep(p, L.CLOCK_MONOTONIC, 0, req, rem)
