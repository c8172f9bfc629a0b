"""Azalea's lightweight kernel (LWK).

A syscall still traps and switches context (kernels/trap.py), but the LWK
keeps its structures per core — the core's own run queue and accounting — so
no kernel-wide lock is taken and nothing shared is touched, and the kernel is
mapped in every address space (no page-table swap).  It serves only task,
memory, scheduling and time calls itself; file and network calls are offloaded
to the FWK (the table marks them; kernels/offload.py counts and routes them).
"""
from __future__ import annotations

from .syscalls.dispatch import NR_LIMIT
from .trap import context_switch_entry


class PerCoreState:
    """Kernel structures of one LWK core: touched only by that core."""

    def __init__(self):
        self.syscall_counts = None      # made with the core's entry (a core that never runs has none)
        self.current = None


def entry(kernel, cur, core, table, counters):
    local = kernel.per_core[core.index]
    if local.syscall_counts is None:
        local.syscall_counts = [0] * NR_LIMIT
    counts = local.syscall_counts

    def enter(p, nr):
        local.current = p
        if nr < NR_LIMIT:
            counts[nr] += 1                   # per-core accounting: no lock, no sharing

    return context_switch_entry(kernel, cur, core, table, counters, enter, 0)
