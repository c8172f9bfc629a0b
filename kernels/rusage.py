"""Resource usage of guest processes: what getrusage, wait4, waitid and
times report (Linux kernel/sys.c getrusage, kernel/exit.c wait_task_zombie).

Every figure is measured, none is modelled:

* CPU time — the host time a thread's core spent running it, measured by the
  scheduler around each run slice (kernels/sched.py).  azemu's kernel serves
  a syscall inside the slice of the thread that made it, on the emulator's
  one host thread, so there is no separate kernel time to measure: all of it
  is reported as user time and ru_stime is zero.
* minor faults — the address space's demand and copy-on-write faults
  (azemu/memory.py counts both); there are no major faults (no swap, and
  file pages come from the FWK without a device wait).
* voluntary context switches — a thread's waits (futex, pipe, poll, wait4,
  sleep: the scheduler's `wait`); involuntary — a runnable thread taken off
  its core at the end of a quantum for another.
* ru_maxrss — the largest resident set of any image the process ran, in KiB,
  taken when an image ends (exit, exec) and for the running one when asked.
  azemu never reclaims a page a process still maps, so this is its peak
  unless it unmapped memory first.

A process's own usage adds its ended threads' and images' to its live
threads'; its children's is the sum, own and children's, of every child it
reaped by waiting — not of those reaped for it (SIGCHLD ignored,
SA_NOCLDWAIT), as in Linux.
"""
from __future__ import annotations

from time import thread_time_ns

from .abi import linux as L

_CLK_TCK = 100                      # sysconf(_SC_CLK_TCK) on x86-64 Linux: times() counts these


class Usage:
    __slots__ = ("cpu_ns", "minflt", "nvcsw", "nivcsw", "maxrss")

    def __init__(self):
        self.cpu_ns = self.minflt = self.nvcsw = self.nivcsw = self.maxrss = 0

    def add(self, other: "Usage") -> None:
        self.cpu_ns += other.cpu_ns
        self.minflt += other.minflt
        self.nvcsw += other.nvcsw
        self.nivcsw += other.nivcsw
        self.maxrss = max(self.maxrss, other.maxrss)

    def pack(self) -> bytes:
        """A struct rusage."""
        us = self.cpu_ns // 1000
        return L.RUSAGE.pack(us // 1_000_000, us % 1_000_000, 0, 0, self.maxrss, 0, 0, 0,
                             self.minflt, 0, 0, 0, 0, 0, 0, 0, self.nvcsw, self.nivcsw)

    def ticks(self) -> int:
        return self.cpu_ns * _CLK_TCK // 1_000_000_000


def image_ended(proc, mm) -> None:
    """Address space `mm` of `proc` is about to go (exit, exec): keep what
    it counted."""
    u = proc.usage
    u.minflt += mm.page_faults + mm.cow_faults
    u.maxrss = max(u.maxrss, mm.resident() // 1024)


def thread_ended(t) -> None:
    """Thread `t` is over: its process keeps its time and switches."""
    s, u = t.sched, t.proc.usage
    u.cpu_ns += s.cpu_ns
    u.nvcsw += s.nvcsw
    u.nivcsw += s.nivcsw
    s.cpu_ns = s.nvcsw = s.nivcsw = 0


def _cpu_ns(s) -> int:
    """A thread's time so far, with the slice it is running now (it asks
    from inside that slice)."""
    return s.cpu_ns + (thread_time_ns() - s.began if s.began else 0)


def of_process(proc) -> Usage:
    """`proc`'s own usage so far (RUSAGE_SELF)."""
    out = Usage()
    out.add(proc.usage)
    for t in proc.tasks:
        out.cpu_ns += _cpu_ns(t.sched)
        out.nvcsw += t.sched.nvcsw
        out.nivcsw += t.sched.nivcsw
    if not proc.zombie:
        mm = proc.mm
        out.minflt += mm.page_faults + mm.cow_faults
        out.maxrss = max(out.maxrss, mm.resident() // 1024)
    return out


def of_thread(t) -> Usage:
    """RUSAGE_THREAD: the thread's own time and switches; faults and the
    resident set are the process's (azemu counts them per address space)."""
    whole = of_process(t.proc)
    out = Usage()
    out.cpu_ns, out.nvcsw, out.nivcsw = _cpu_ns(t.sched), t.sched.nvcsw, t.sched.nivcsw
    out.minflt, out.maxrss = whole.minflt, whole.maxrss
    return out


def reaped(parent, child) -> None:
    """`parent` reaped `child` by waiting: its children's usage takes the
    child's own and its children's."""
    parent.cusage.add(of_process(child))
    parent.cusage.add(child.cusage)
