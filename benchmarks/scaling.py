#!/usr/bin/env python3
"""The multikernel's scalability argument, measured and modelled (issue #5).

N threads on N cores (N = 1, 2, 4, ..., 64) run a syscall-heavy loop
(guest_bins/bin/glibc/syscall_threads: getpid, and mmap/munmap every tenth
iteration) on linux, lwk and unikernel.  Per call:

* modelled native time — the events each kernel counted, priced by the cost
  model (kernels/costmodel.py).  On linux every call takes the kernel-wide
  lock and touches shared tables; when several cores do so in the same
  scheduling round, the lines move between them (counted `line_transfer`,
  priced at the cache-line transfer `azemu calibrate` measures).  The LWK and
  the unikernel keep per-core structures: nothing moves, whatever N.
* emulator time — wall time of the run divided by the calls made.

    python benchmarks/scaling.py [--max 64] [--iters 500] [--json FILE] [--plot FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.calibrate import load_or_measure  # noqa: E402
from azemu.bench import timed_run  # noqa: E402
from kernels import Kernel  # noqa: E402
from kernels.costmodel import Calibration, modelled_ns  # noqa: E402

PROGRAM = os.path.join(ROOT, "guest_bins/bin/glibc/syscall_threads")


def one(mode, n, iters):
    k, dt, out = timed_run(lambda: Kernel(mode=mode, ncores=n, memory=2 << 30),   # 64 stacks of 8 MiB
                           PROGRAM, [str(n), str(iters)])
    stats = k.stats().as_dict()
    k.close()
    assert out.exit_status == 0, out
    return dt, stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--json")
    ap.add_argument("--plot")
    a = ap.parse_args(argv)
    cal = Calibration.from_dict(load_or_measure()["figures"])
    ns = [1]
    while ns[-1] * 2 <= a.max:
        ns.append(ns[-1] * 2)
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    console = Console(width=120)
    res = {"params": vars(a), "n": ns, "modes": {}}
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("scaling", total=3 * len(ns))
        for mode in ("linux", "lwk", "unikernel"):
            rows = []
            for n in ns:
                dt, st = one(mode, n, a.iters)
                calls = st["syscalls"]
                total, parts = modelled_ns(st, cal)
                rows.append({"n": n, "calls": calls, "emulator_us": dt / calls * 1e6,
                             "modelled_ns": total / calls,
                             "line_transfers_per_call": st["line_transfer"] / calls,
                             "tlb_shootdowns": st["tlb_shootdown"]})
                prog.advance(task)
            res["modes"][mode] = rows
    t = Table(title=f"N threads on N cores, {a.iters} getpid + {a.iters // 10} mmap/munmap each: per call")
    t.add_column("N", justify="right")
    for mode in res["modes"]:
        t.add_column(f"{mode}: modelled ns", justify="right")
        t.add_column(f"{mode}: emulator µs", justify="right")
    t.add_column("linux: line transfers/call", justify="right")
    for i, n in enumerate(ns):
        cells = [str(n)]
        for mode, rows in res["modes"].items():
            cells += [f"{rows[i]['modelled_ns']:.1f}", f"{rows[i]['emulator_us']:.2f}"]
        cells.append(f"{res['modes']['linux'][i]['line_transfers_per_call']:.2f}")
        t.add_row(*cells)
    console.print(t)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (x, y) = plt.subplots(1, 2, figsize=(12, 4.5))
        for mode, rows in res["modes"].items():
            x.plot(ns, [r["modelled_ns"] for r in rows], marker="o", label=mode)
            y.plot(ns, [r["emulator_us"] for r in rows], marker="o", label=mode)
        for ax, title, unit in ((x, "Modelled native time per call\n(counted events x cost model)", "ns"),
                                (y, "Emulator time per call (measured)", "µs")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("threads = cores")
            ax.set_ylabel(unit)
            ax.set_title(title)
            ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
