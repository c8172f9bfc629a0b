"""`azemu exec --stats`: the kernel's event counters as a table, per core.

Every row's total is the sum of the cells it shows (stats_table): cores past
MAX_CORE_COLUMNS share one summed column, and anything the instance counted
on no single core has a column of its own."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


MAX_CORE_COLUMNS = 8          # more cores than this: the first 7, then the others summed


P99_SAMPLES = 100          # a p99 is printed only from this many round trips


def stats_table(per_core: list[dict], core_indices: list[int], total: dict, fields) -> dict:
    """The numbers of the --stats table, so that every row's total is the sum
    of the cells shown: one column per core (beyond MAX_CORE_COLUMNS cores,
    the first MAX_CORE_COLUMNS - 1 and one column summing the rest), and a
    "not per core" column, shown only if some row needs it, for what the
    total holds that no core's counters do.  Returns {"columns": [...],
    "rows": [(field, [cells], total)], "note": how the total is made}."""
    n = len(per_core)
    if n <= MAX_CORE_COLUMNS:
        groups = [(f"core {i}", [c]) for i, c in zip(core_indices, per_core)]
    else:
        k = MAX_CORE_COLUMNS - 1
        groups = [(f"core {i}", [c]) for i, c in zip(core_indices[:k], per_core[:k])]
        groups.append((f"cores {core_indices[k]}-{core_indices[-1]}", per_core[k:]))
    rows, rest = [], []
    for f in fields:
        cells = [sum(c[f] for c in cs) for _, cs in groups]
        rows.append((f, cells))
        r = total[f] - sum(cells)
        rest.append(r if abs(r) > 1e-6 * max(1.0, abs(total[f])) else 0)   # not float rounding
    columns = [name for name, _ in groups]
    machine = any(rest)
    if machine:
        columns.append("not per core")
        rows = [(f, cells + [r]) for (f, cells), r in zip(rows, rest)]
    note = "total = the sum of the row's cells: the " + ("core columns" if n > 1 else "core's column")
    if n > MAX_CORE_COLUMNS:
        note += f" (cores {core_indices[MAX_CORE_COLUMNS - 1]}-{core_indices[-1]} summed in one)"
    if machine:
        note += " and the events not counted on any one core"
    if any(x != round(x) for _, cells in rows for x in cells):
        note += "; fractional (modelled) counts rounded cell by cell, the total from those"
    # whole numbers as printed (line transfers are modelled, fractional), the
    # total made of them, so that it is the sum of what the row shows
    rows = [(f, [round(x) for x in cells], sum(round(x) for x in cells)) for f, cells in rows]
    return {"columns": columns, "rows": rows, "note": note}


def _round_trips(kernel) -> list[int]:
    """The FWK channel's round trips of the run, in ns, sorted (none in linux mode)."""
    return sorted(x for core in getattr(kernel.io_backend, "rtt_ns", []) for x in core)


def stats_dict(kernel) -> dict:
    """`azemu exec --stats-json FILE`: the same counters for scripts (and
    `azemu sweep`): the instance's totals, each core's, and the FWK round
    trips in µs (median and count), with the kernel variant."""
    total = kernel.stats().as_dict()              # first: it brings the per-core counters up to date
    import statistics
    rtts = _round_trips(kernel)
    fwk = None
    if rtts:
        fwk = {"round_trips": len(rtts), "median_us": statistics.median(rtts) / 1000,
               "policy": kernel.io_backend.policy}
    inst = kernel.instances
    return {"variant": kernel.variant, "cores": len(kernel.part.cores), "total": total,
            "per_core": [c.as_dict() for c in kernel.counters], "fwk": fwk,
            "instances_booted": inst.booted if inst is not None else None}


def print_stats(kernel, stream) -> None:
    from kernels.counters import FIELDS
    total = kernel.stats().as_dict()              # first: it brings the per-core counters up to date
    per_core = [c.as_dict() for c in kernel.counters]
    indices = [core.index for core in kernel.part.cores][:len(per_core)]
    indices += list(range(len(indices), len(per_core)))
    d = stats_table(per_core, indices, total, ("syscalls",) + FIELDS)
    t = Table(title=f"kernel events: mode {kernel.variant}", caption=d["note"])
    t.add_column("event")
    for col in d["columns"]:
        t.add_column(col, justify="right")
    t.add_column("total", justify="right")
    for f, cells, tot in d["rows"]:
        t.add_row(f.replace("_", " "), *(f"{x:,}" for x in cells), f"{tot:,}")
    console = Console(file=stream, width=max(100, 16 + 11 * (len(d["columns"]) + 1)))
    console.print(t)
    inst = kernel.instances
    if inst is not None:
        console.print(f"unikernel instances: {inst.booted:,} booted (one per process), "
                      f"{len(kernel.part.cores):,} cores used")
    rtts = _round_trips(kernel)
    if rtts:
        import statistics
        if len(rtts) >= P99_SAMPLES:
            tail = f"p99 {rtts[int(len(rtts) * 0.99)] / 1000:.1f} µs"
        else:                                     # too few for a 99th percentile
            tail = f"maximum {rtts[-1] / 1000:.1f} µs"
        console.print(f"FWK offload channel ({kernel.io_backend.policy}): {len(rtts):,} round trips, "
                      f"median {statistics.median(rtts) / 1000:.1f} µs, {tail}")
    elif kernel.mode == "linux":
        console.print("file and network calls served in-process (monolithic kernel): no offload")
