"""Threads: the per-thread part of a process.

A `Process` (kernels/process.py) is the first thread of its process and holds
everything the threads share: the address space, the fd table, signal
dispositions, limits, the program break.  Each further thread is a `Thread`
whose own attributes are only what Linux keeps per thread (its tid, signal
mask and pending signals, TLS base, clear-child-tid and robust-list
pointers, the core it runs on, its scheduling state); every other attribute
is read from and written to the process, so syscall handlers treat a
Process and a Thread alike.
"""
from __future__ import annotations

from .abi import linux as L

RUNNABLE, BLOCKED, EXITED, STOPPED = "runnable", "blocked", "exited", "stopped"

PER_THREAD = ("tid", "io", "scratch", "sigmask", "pending_delivery", "altstack",
              "clear_child_tid", "robust_list", "rseq", "fs_base", "gs_base", "core", "sched",
              "libos_block", "saved_mask")


class SchedState:
    """What the scheduler keeps for a task."""
    __slots__ = ("state", "core", "ctx", "result", "deadline", "futex", "bitset", "started",
                 "io", "restart", "until", "timed_out", "cpu_ns", "began", "nvcsw", "nivcsw",
                 "nice", "policy", "ioprio", "call", "done", "saved_calls", "finish_first",
                 "waits_for", "reserved")

    def __init__(self, core: int):
        self.state = RUNNABLE
        self.core = core          # index of the core whose run queue holds the task
        self.ctx = None           # saved registers while the task is off its core
        self.result = None        # the rax it resumes with after blocking
        self.deadline = None      # monotonic time a timed wait ends
        self.futex = None         # the futex word address it waits on
        self.bitset = 0
        self.started = False
        self.io = None            # [(host handle, poll events), ...] it waits for
        self.restart = False      # resume by running the syscall again
        self.finish_first = False # ... to its end before a signal that came meanwhile is handled
        self.waits_for = None     # wait4/waitid: which child would end its wait (a predicate)
        self.call = -1            # the syscall it waits in (a signal's SA_RESTART restarts it)
        self.until = None         # when a timed poll/select/epoll_wait ends, across restarts
        self.timed_out = False    # its time ran out: the restarted call must not wait again
        self.done = 0             # bytes a send that waits midway has sent, across restarts
        self.reserved = None      # (fd table, number) an accept holds across its restarts
        self.saved_calls = []     # libOS call blocks of calls a handler interrupted, to restart
        self.cpu_ns = 0           # host time its core spent running it (kernels/rusage.py)
        self.began = 0            # when its running slice began (host thread time), or 0
        self.nvcsw = self.nivcsw = 0   # its waits; its preemptions for another thread
        # What the guest set (kernels/syscalls/kernel_prio.py): kept and reported
        self.nice = None          # None: azemu's own nice value
        self.policy = (0, 0)      # (SCHED_OTHER, priority 0)
        self.ioprio = 0

    def inherit(self, parent: "SchedState") -> "SchedState":
        """A new thread or process takes its creator's priorities (fork, clone)."""
        self.nice, self.policy, self.ioprio = parent.nice, parent.policy, parent.ioprio
        return self


class Thread:
    __slots__ = PER_THREAD + ("proc", "pid", "mm", "fds", "sigactions", "kernel")

    def __init__(self, proc, tid: int, io, scratch, core, sched):
        set_ = object.__setattr__
        set_(self, "proc", proc)
        for name in ("pid", "mm", "fds", "sigactions", "kernel"):   # shared, never rebound
            set_(self, name, getattr(proc, name))
        set_(self, "tid", tid)
        set_(self, "io", io)
        set_(self, "scratch", scratch)
        set_(self, "sigmask", proc.sigmask)
        set_(self, "pending_delivery", [])
        set_(self, "altstack", (0, L.SS_DISABLE, 0))
        set_(self, "clear_child_tid", 0)
        set_(self, "robust_list", (0, 0))
        set_(self, "rseq", 0)
        set_(self, "fs_base", 0)
        set_(self, "gs_base", 0)
        set_(self, "core", core)
        set_(self, "sched", sched)
        set_(self, "libos_block", None)         # its libOS call block, once looked up
        set_(self, "saved_mask", None)          # the mask sigsuspend replaced

    def __getattr__(self, name):            # only called for what the thread does not hold
        return getattr(self.proc, name)

    def __setattr__(self, name, value):
        if name in PER_THREAD:
            object.__setattr__(self, name, value)
        else:
            setattr(self.proc, name, value)
