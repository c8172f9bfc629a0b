"""The monolithic baseline: a Linux-like kernel.

Every syscall traps and switches context fully (kernels/trap.py), with the
page-table swap a Meltdown-mitigated Linux does on entry and exit (KPTI), and
on the way through touches kernel-wide structures under one global lock — the
shared process table and syscall accounting every core of a monolithic kernel
writes to.  With several cores, those shared structures are what contends.
"""
from __future__ import annotations

import threading

from .syscalls.dispatch import NR_LIMIT
from .trap import context_switch_entry

AS_SWITCHES_PER_CROSSING = 1        # KPTI: user page tables <-> kernel page tables


class SharedKernelState:
    """Kernel-wide structures: one per kernel instance, shared by all its cores."""

    def __init__(self):
        self.lock = threading.Lock()          # the big kernel lock of this model
        self.syscall_counts = [0] * NR_LIMIT  # system-wide accounting, written by every core
        self.tasks = {}                       # pid -> process, looked up on every entry


def entry(kernel, cur, core, table, counters):
    shared = kernel.shared
    lock, counts, tasks = shared.lock, shared.syscall_counts, shared.tasks
    c = counters

    def enter(p, nr):
        with lock:
            c.global_lock += 1
            tasks.get(p.tid)                  # find the current task in the shared table
            if nr < NR_LIMIT:
                counts[nr] += 1               # account the call system-wide
            c.shared_access += 2

    return context_switch_entry(kernel, cur, core, table, c, enter, AS_SWITCHES_PER_CROSSING)
