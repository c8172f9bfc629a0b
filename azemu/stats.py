"""`azemu exec --stats`: the kernel's event counters as a table, per core."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


MAX_CORE_COLUMNS = 8          # more cores than this: the totals only


P99_SAMPLES = 100          # a p99 is printed only from this many round trips


def print_stats(kernel, stream) -> None:
    from kernels.counters import FIELDS
    total = kernel.stats()
    per_core = kernel.counters
    t = Table(title=f"kernel events: mode {kernel.variant}")
    t.add_column("event")
    shown = per_core if len(per_core) <= MAX_CORE_COLUMNS else []
    for core, _ in zip(kernel.part.cores, shown):
        t.add_column(f"core {core.index}", justify="right")
    if len(per_core) > 1:
        t.add_column(f"total ({len(per_core)} cores)" if not shown else "total", justify="right")
    for f in ("syscalls",) + FIELDS:
        cells = [f"{round(getattr(c, f)):,}" for c in shown]
        if len(per_core) > 1:
            cells.append(f"{round(getattr(total, f)):,}")
        t.add_row(f.replace("_", " "), *cells)
    console = Console(file=stream, width=100)
    console.print(t)
    inst = kernel.instances
    if inst is not None:
        console.print(f"unikernel instances: {inst.booted:,} booted (one per process), "
                      f"{len(kernel.part.cores):,} cores used")
    rtts = [x for core in getattr(kernel.io_backend, "rtt_ns", []) for x in core]
    if rtts:
        import statistics
        rtts.sort()
        if len(rtts) >= P99_SAMPLES:
            tail = f"p99 {rtts[int(len(rtts) * 0.99)] / 1000:.1f} µs"
        else:                                     # too few for a 99th percentile
            tail = f"maximum {rtts[-1] / 1000:.1f} µs"
        console.print(f"FWK offload channel ({kernel.io_backend.policy}): {len(rtts):,} round trips, "
                      f"median {statistics.median(rtts) / 1000:.1f} µs, {tail}")
    elif kernel.mode == "linux":
        console.print("file and network calls served in-process (monolithic kernel): no offload")
