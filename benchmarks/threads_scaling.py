#!/usr/bin/env python3
"""N threads on N cores, whole commands: azemu against qemu-user and native (issue #9).

`threads N` (guest_bins/src/threads.c: thread creation, joins, mutexes,
condition variables, semaphores, TLS — each thread's stack is an mmap, its
guard page an mprotect, its exit an munmap) and `lost_update N` (N threads
adding to shared counters) for N = 1, 2, 4, ..., --max, run as
`azemu exec --cores N`, under qemu-user and natively; wall time of the whole
command, median of --repeat.  Before the MMU model every mapping change was
replayed on every core's Unicorn instance, and `threads 64` took 106x
qemu-user; target (issue #9): at most 5x qemu-user at 64, growing no faster
than N.

A last table runs `lost_update 1 ITERS*--max`: the same work as
`lost_update --max`, in one thread (no scheduling, no quantum).  Its
azemu/qemu ratio is the speed of the emulation itself — Unicorn against
qemu-user's TCG on this loop of locked and plain memory operations — which
bounds the N-thread ratio from below.

    python benchmarks/threads_scaling.py [--max 64] [--repeat 3] [--json FILE] [--plot FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.calibrate import host_info, host_label  # noqa: E402

BIN = os.path.join(ROOT, "guest_bins/bin/glibc")
PROGRAMS = ("threads", "lost_update")
ITERS = 100000                    # lost_update's default iterations per thread


def wall(cmd) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.decode()[-300:]}")
    return time.perf_counter() - t


def plot_title(res: dict) -> str:
    """The plot's title: the workload, how it was measured, and the host."""
    return (f"N threads on N cores, whole commands (median of {res['params']['repeat']}): "
            f"azemu against qemu-user and native\n{host_label(res.get('host'))}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--plot")
    a = ap.parse_args(argv)
    ns = [1]
    while ns[-1] * 2 <= a.max:
        ns.append(ns[-1] * 2)
    qemu = shutil.which("qemu-x86_64")
    res = {"params": vars(a), "n": ns, "qemu": bool(qemu), "programs": {}, "host": host_info()}
    from rich.console import Console
    from rich.table import Table
    console = Console(width=120)
    for prog in PROGRAMS:
        exe = os.path.join(BIN, prog)
        rows = []
        for n in ns:
            runs = {"native": [], "qemu": [], "azemu": []}
            for _ in range(a.repeat):
                runs["native"].append(wall([exe, str(n)]))
                if qemu:
                    runs["qemu"].append(wall([qemu, exe, str(n)]))
                runs["azemu"].append(wall([sys.executable, "-m", "azemu", "exec", "-q",
                                           "--cores", str(n), exe, str(n)]))
            row = {"n": n, **{k: statistics.median(v) for k, v in runs.items() if v}, "runs": runs}
            if qemu:
                row["azemu_vs_qemu"] = row["azemu"] / row["qemu"]
            rows.append(row)
        res["programs"][prog] = rows
    exe = os.path.join(BIN, "lost_update")
    alone = [str(1), str(ITERS * ns[-1])]
    runs = {"native": [], "qemu": [], "azemu": []}
    for _ in range(a.repeat):
        runs["native"].append(wall([exe, *alone]))
        if qemu:
            runs["qemu"].append(wall([qemu, exe, *alone]))
        runs["azemu"].append(wall([sys.executable, "-m", "azemu", "exec", "-q", exe, *alone]))
    one = {"threads": 1, "iterations": ITERS * ns[-1],
           **{k: statistics.median(v) for k, v in runs.items() if v}, "runs": runs}
    if qemu:
        one["azemu_vs_qemu"] = one["azemu"] / one["qemu"]
    res["one_thread_same_work"] = one
    for prog, rows in res["programs"].items():
        t = Table(title=f"{prog} N on N cores: seconds, whole command (median of {a.repeat})")
        for col in ("N", "native", "qemu-user", "azemu", "azemu / qemu", "azemu growth vs N=1"):
            t.add_column(col, justify="right")
        for r in rows:
            t.add_row(str(r["n"]), f"{r['native']:.3f}", f"{r.get('qemu', float('nan')):.3f}",
                      f"{r['azemu']:.3f}", f"{r.get('azemu_vs_qemu', float('nan')):.2f}x",
                      f"{r['azemu'] / rows[0]['azemu']:.1f}x")
        console.print(t)
    t = Table(title=f"lost_update: the work of {ns[-1]} threads in 1 thread "
                    f"({one['iterations']} iterations each way): the emulation's own speed")
    for col in ("native", "qemu-user", "azemu", "azemu / qemu"):
        t.add_column(col, justify="right")
    t.add_row(f"{one['native']:.3f}", f"{one.get('qemu', float('nan')):.3f}",
              f"{one['azemu']:.3f}", f"{one.get('azemu_vs_qemu', float('nan')):.2f}x")
    console.print(t)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(PROGRAMS), figsize=(12, 4.5))
        for ax, (prog, rows) in zip(axes, res["programs"].items()):
            for key, label in (("native", "native"), ("qemu", "qemu-user"), ("azemu", "azemu")):
                if key in rows[0]:
                    ax.plot(ns, [r[key] for r in rows], marker="o", label=label)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("threads = cores")
            ax.set_ylabel("seconds (whole command)")
            ax.set_title(f"{prog} N (measured)")
            ax.legend()
        fig.suptitle(plot_title(res))
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
