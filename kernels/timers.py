"""A process's timers: interval timers (setitimer, alarm) and POSIX timers
(timer_create and friends) — Linux kernel/time/itimer.c, posix-timers.c,
posix-cpu-timers.c.

A timer runs on a clock:

* wall clocks — ITIMER_REAL, CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME —
  on the host's own (azemu has no clock of its own); its deadline is kept
  on the monotonic clock, a realtime deadline converted when it is set;
* CPU clocks — ITIMER_VIRTUAL, ITIMER_PROF, CLOCK_PROCESS_CPUTIME_ID,
  CLOCK_THREAD_CPUTIME_ID — on the CPU time kernels/rusage.py measures for the
  process (or thread).

The scheduler asks each process's `Timers` for the nearest wall deadline (it
slices the run, and sleeps no longer than that, while one is armed) and
calls `expire` between runs: a timer that has run out sends its signal —
SIGALRM, SIGVTALRM or SIGPROF for an interval timer; for a POSIX timer its
own signal and value (SI_TIMER), to the process or to one thread
(SIGEV_THREAD_ID), or nothing (SIGEV_NONE) — and a periodic one is armed
again.  A periodic timer that runs out again while its last signal is still
pending counts an overrun instead of sending another (timer_getoverrun).
"""
from __future__ import annotations

import time

from .rusage import _cpu_ns, of_process
from .siginfo import SI_KERNEL, SI_TIMER, SigInfo

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 8, 9, 11
ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
_ITIMER_SIGNALS = {ITIMER_REAL: 14, ITIMER_VIRTUAL: 26, ITIMER_PROF: 27}   # ALRM VTALRM PROF
WALL = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM,
        CLOCK_BOOTTIME_ALARM)
TIMER_MAX = 4096                          # per process; past it timer_create gives EAGAIN


class Timer:
    __slots__ = ("id", "clock", "notify", "signo", "value", "tid", "next", "interval",
                 "overrun", "last_overrun", "queued")

    def __init__(self, id_: int, clock: int, notify: int, signo: int, value: int, tid: int):
        self.id, self.clock, self.notify = id_, clock, notify
        self.signo, self.value, self.tid = signo, value, tid
        self.next = None            # when it runs out: monotonic ns, or CPU ns; None: disarmed
        self.interval = 0           # ns between runs; 0: once
        self.overrun = self.last_overrun = 0
        self.queued = None          # its SigInfo while that is pending

    @property
    def wall(self) -> bool:
        return self.clock in WALL


def now_on(clock: int, proc, thread=None) -> int:
    """The clock's reading in ns (CPU clocks: the process's or thread's time)."""
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return of_process(proc).cpu_ns
    if clock == CLOCK_THREAD_CPUTIME_ID:
        return _cpu_ns((thread or proc).sched)
    return time.monotonic_ns()


class Timers:
    """The timers of one process."""

    def __init__(self):
        self.by_id: dict[int, Timer] = {}
        self.itimers: dict[int, Timer] = {}
        self._next_id = 0

    # ---- POSIX timers --------------------------------------------------------------
    def create(self, clock: int, notify: int, signo: int, value: int, tid: int) -> Timer:
        i = self._next_id
        self._next_id += 1
        t = self.by_id[i] = Timer(i, clock, notify, signo, value, tid)
        return t

    def delete(self, t: Timer) -> None:
        self.by_id.pop(t.id, None)

    # ---- interval timers -----------------------------------------------------------
    def itimer(self, which: int) -> Timer:
        t = self.itimers.get(which)
        if t is None:
            clock = CLOCK_MONOTONIC if which == ITIMER_REAL else CLOCK_PROCESS_CPUTIME_ID
            t = self.itimers[which] = Timer(-1 - which, clock, SIGEV_SIGNAL,
                                            _ITIMER_SIGNALS[which], 0, 0)
        return t

    # ---- running out -----------------------------------------------------------------
    def armed(self):
        return [t for t in (*self.by_id.values(), *self.itimers.values()) if t.next is not None]

    def nearest_wall(self) -> int | None:
        """The nearest wall deadline, monotonic ns (None: none armed)."""
        walls = [t.next for t in self.armed() if t.wall]
        return min(walls) if walls else None

    def expire(self, proc, send) -> None:
        """Fire the timers of `proc` that have run out: `send(thread or
        None, info)` sends the signal (None: to the process)."""
        for t in self.armed():
            now = now_on(t.clock, proc)
            if now < t.next:
                continue
            runs = 1
            if t.interval:
                runs += (now - t.next) // t.interval
                t.next += runs * t.interval
            else:
                t.next = None
            if t.notify == SIGEV_NONE:
                continue
            if t.queued is not None:             # its signal still waits: overruns
                t.overrun += runs
                continue
            t.overrun = runs - 1
            code = SI_KERNEL if t.id < 0 else SI_TIMER
            info = SigInfo(t.signo, code, tid=max(t.id, 0), overrun=t.overrun, value=t.value)
            t.queued = info
            info.timer = t
            send(t.tid if t.notify == SIGEV_THREAD_ID else None, info)


def delivered(info) -> None:
    """`info` is being delivered (a handler, sigtimedwait, a signalfd): its
    timer may send again, and its overrun count is fixed."""
    t = info.timer
    if t is not None:
        info.timer = None
        t.last_overrun = t.overrun
        info.overrun = t.overrun
        t.overrun = 0
        t.queued = None
