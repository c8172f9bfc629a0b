#!/usr/bin/env python3
"""What a mapping change costs the emulator: flat in mappings and in cores (issue #9).

guest_bins/bin/glibc/mm_ops first makes NMAPS one-page mappings (alternately
read-only and read-write, each touched, so none merge), starts THREADS-1
threads that touch the address space and then wait on a barrier (so with
THREADS = cores every core holds the address space and must receive each
change: a TLB shootdown), then makes CALLS changes of one kind:

* mprotect — one page of a two-page mapping flipped between R and RW (and
  written after each RW): one page-table update and a flush per call;
* mapunmap — mmap one page and munmap it: the pair alone;
* mmap     — mmap one page, write it (a demand page fault), munmap it: the
  pair with a frame to give and take back, and a TLB entry to flush;
* getpid   — the reference: one trapped syscall, in the same configuration.

Per iteration = the time of the CALLS loop as the guest itself measures it
(CLOCK_MONOTONIC around the loop: set-up, threads and loading left out),
divided by CALLS; the median of --repeat runs, for NMAPS in {10, 1000,
10000} and cores in {1, 4, 16, 64}.  An iteration of mapunmap and of mmap
is two syscalls: their cost per call is half the iteration's, and both are
shown.  The ops take turns within each repeat, and a ratio to getpid is the
median of the repeats' own ratios.  The kernel's counters (faults, flushes,
shootdowns) per iteration come from the same run minus a run with CALLS = 0.
Target (issue #9): the per-call cost of mprotect and of mmap+munmap within
3x of one getpid of the same row — flat in mappings and cores.  The pair as
a whole, and the pair with a store, are reported beside it.

    python benchmarks/mm.py [--calls 5000] [--repeat 3] [--mode linux] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.bench import timed_run  # noqa: E402
from kernels import Kernel  # noqa: E402

PROGRAM = os.path.join(ROOT, "guest_bins/bin/glibc/mm_ops")
OPS = ("getpid", "mprotect", "mapunmap", "mmap")


def run(mode, op, nmaps, calls, cores):
    """(µs per call as the guest measured it, the kernel's counters)."""
    err = tempfile.TemporaryFile()
    saved = os.dup(2)
    os.dup2(err.fileno(), 2)                     # the guest's stderr: its timing line
    try:
        k, _, out = timed_run(lambda: Kernel(mode=mode, ncores=cores, memory=1 << 30),
                              PROGRAM, [op, str(nmaps), str(calls), str(cores)])
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    stats = k.stats().as_dict()
    k.close()
    err.seek(0)
    text = err.read().decode()
    if out.exit_status != 0 or "ns/call:" not in text:
        raise SystemExit(f"mm_ops {op} {nmaps} {calls} {cores} failed: {out} {text}")
    return float(text.split("ns/call:")[1].split()[0]) / 1000, stats


def measure_row(mode, nmaps, calls, cores, repeat) -> dict:
    """Each op's emulator µs per call and counted events per call (run of
    `calls` minus run of 0, so the set-up is left out), and its ratio to
    getpid.  The ops take turns within each repeat, and a ratio is the
    median of the repeats' own ratios: a shared host's speed drifts over
    minutes, and so affects the calls compared alike."""
    row = {"maps": nmaps, "cores": cores}
    zero = {op: run(mode, op, nmaps, 0, cores)[1] for op in OPS}
    xs, last = {op: [] for op in OPS}, {}
    for _ in range(repeat):
        for op in OPS:
            us, last[op] = run(mode, op, nmaps, calls, cores)
            xs[op].append(us)
    for op in OPS:
        events = {k: (last[op][k] - zero[op][k]) / calls for k in ("page_fault", "tlb_flush", "tlb_shootdown")}
        row[op] = {"median": statistics.median(xs[op]), "min": min(xs[op]), "max": max(xs[op]),
                   "runs": xs[op], **events}
        if op != "getpid":
            row[f"{op}_vs_getpid"] = statistics.median(x / g for x, g in zip(xs[op], xs["getpid"]))
    for op in ("mapunmap", "mmap"):                  # two syscalls an iteration
        row[f"{op}_per_call_vs_getpid"] = row[f"{op}_vs_getpid"] / 2
    return row


def verdicts(rows) -> dict:
    """The worst ratio of each kind over all rows."""
    keys = ("mprotect_vs_getpid", "mapunmap_per_call_vs_getpid", "mapunmap_vs_getpid",
            "mmap_per_call_vs_getpid", "mmap_vs_getpid")
    return {k: max(r[k] for r in rows) for k in keys}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", default="linux", choices=("linux", "lwk", "unikernel"))
    ap.add_argument("--maps", default="10,1000,10000")
    ap.add_argument("--cores", default="1,4,16,64")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    maps = [int(x) for x in a.maps.split(",")]
    cores = [int(x) for x in a.cores.split(",")]
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    console = Console(width=130)
    rows = []
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("mm", total=len(maps) * len(cores))
        for nm in maps:
            for nc in cores:
                rows.append(measure_row(a.mode, nm, a.calls, nc, a.repeat))
                prog.advance(task)
    worst = verdicts(rows)
    target = max(worst["mprotect_vs_getpid"], worst["mapunmap_per_call_vs_getpid"])
    spread = {op: max(r[op]["median"] for r in rows) / min(r[op]["median"] for r in rows)
              for op in ("mprotect", "mapunmap", "mmap")}
    res = {"params": vars(a), "rows": rows, "worst": worst, "worst_ratio": target, "target": 3.0,
           "spread": spread}
    t = Table(title=f"mapping changes, mode {a.mode}: emulator µs (median of {a.repeat}), "
                    f"{a.calls} iterations")
    for col in ("mappings", "cores", "getpid", "mprotect", "vs getpid", "mmap+munmap",
                "per call vs getpid", "pair vs getpid", "mmap, store, munmap", "per call vs getpid",
                "mprotect: flushes, shootdowns", "mmap, store, munmap: faults, shootdowns"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r['maps']:,}", str(r["cores"]), f"{r['getpid']['median']:.2f}",
                  f"{r['mprotect']['median']:.2f}", f"{r['mprotect_vs_getpid']:.2f}x",
                  f"{r['mapunmap']['median']:.2f}", f"{r['mapunmap_per_call_vs_getpid']:.2f}x",
                  f"{r['mapunmap_vs_getpid']:.2f}x",
                  f"{r['mmap']['median']:.2f}", f"{r['mmap_per_call_vs_getpid']:.2f}x",
                  f"{r['mprotect']['tlb_flush']:.1f}, {r['mprotect']['tlb_shootdown']:.1f}",
                  f"{r['mmap']['page_fault']:.1f}, {r['mmap']['tlb_shootdown']:.1f}")
    console.print(t)
    console.print(f"worst per-call ratio to getpid: mprotect {worst['mprotect_vs_getpid']:.2f}x, "
                  f"mmap+munmap {worst['mapunmap_per_call_vs_getpid']:.2f}x (target <= 3x: "
                  + ("[green]met[/])" if target <= 3 else "[red]missed[/])")
                  + f"; the pair as a whole {worst['mapunmap_vs_getpid']:.2f}x, with a store "
                    f"{worst['mmap_per_call_vs_getpid']:.2f}x per call")
    console.print(f"largest / smallest over all rows: mprotect {spread['mprotect']:.2f}x, "
                  f"mmap+munmap {spread['mapunmap']:.2f}x, with a store {spread['mmap']:.2f}x")
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
