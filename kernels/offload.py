"""Which calls go to the FWK, and the counting of them.

In Azalea the LWK and the unikernel have no file system or network stack:
those calls are offloaded to Linux, the full-weight kernel.  The syscall table
says which calls those are (`Syscall.offloaded`: the fs and net families).
Here each such handler is wrapped so the offload is counted on the core that
made it; the FWK proxy (a later issue) replaces the wrapper's local service
with a round trip over the offload channel.
"""
from __future__ import annotations

from .syscalls.table import BY_NUMBER


def mark_offloaded(table: list, counters) -> list:
    out = list(table)
    for nr, (h, k) in enumerate(table):
        e = BY_NUMBER.get(nr)
        if e is not None and e.offloaded:
            out[nr] = (_counted(h, counters), k)
    return out


def _counted(handler, c):
    def offloaded(p, *args):
        c.offload += 1
        return handler(p, *args)
    offloaded.__wrapped__ = handler
    return offloaded
