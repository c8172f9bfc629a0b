"""`azemu exec --stats`: the kernel's event counters as a table, per core."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_stats(kernel, stream) -> None:
    from kernels.counters import FIELDS
    total = kernel.stats()
    per_core = kernel.counters
    t = Table(title=f"kernel events: mode {kernel.variant}")
    t.add_column("event")
    for core, _ in zip(kernel.part.cores, per_core):
        t.add_column(f"core {core.index}", justify="right")
    if len(per_core) > 1:
        t.add_column("total", justify="right")
    for f in ("syscalls",) + FIELDS:
        cells = [f"{getattr(c, f):,}" for c in per_core]
        if len(per_core) > 1:
            cells.append(f"{getattr(total, f):,}")
        t.add_row(f.replace("_", " "), *cells)
    Console(file=stream, width=100).print(t)
