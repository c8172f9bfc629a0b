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
    """Kernel-wide structures: one per kernel instance, shared by all its cores.

    Contention is counted, by mechanism: the cores of an instance are modelled
    as running at the same time within one scheduling round (kernels/sched.py
    runs them one after another only because Unicorn instances sharing memory
    cannot run at once).  At the end of a round, each access a core made to
    the shared structures found their cache lines last written by another
    core with probability (s - 1) / s, where s is the number of cores that
    touched them in that round: that many cache-line transfers are counted
    (`line_transfer`), and the cost model prices each with the transfer time
    `azemu calibrate` measures between two real cores.  One core, or per-core
    structures (the LWK), give none."""

    def __init__(self):
        self.lock = threading.Lock()          # the big kernel lock of this model
        self.syscall_counts = [0] * NR_LIMIT  # system-wide accounting, written by every core
        self.tasks = {}                       # pid -> process, looked up on every entry
        self.round_accesses = {}              # core -> accesses to the shared lines this round

    def end_round(self, counters_of) -> None:
        sharers = len(self.round_accesses)
        if sharers > 1:
            for core, n in self.round_accesses.items():
                counters_of(core).line_transfer += n * (sharers - 1) / sharers
        self.round_accesses.clear()


def entry(kernel, cur, core, table, counters):
    shared = kernel.shared
    lock, counts, tasks = shared.lock, shared.syscall_counts, shared.tasks
    c = counters

    accesses = shared.round_accesses
    me = core.index

    def enter(p, nr):
        with lock:
            c.global_lock += 1
            tasks.get(p.tid)                  # find the current task in the shared table
            if nr < NR_LIMIT:
                counts[nr] += 1               # account the call system-wide
            c.shared_access += 3              # the lock's line, the table, the accounting
            accesses[me] = accesses.get(me, 0) + 3

    return context_switch_entry(kernel, cur, core, table, c, enter, AS_SWITCHES_PER_CROSSING)
