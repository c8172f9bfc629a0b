#!/usr/bin/env python3
"""What making a process costs: azemu against qemu-user and native (issue #10).

guest_bins/bin/glibc/proc_bench OP N [MIB] times its own loop of N
operations (CLOCK_MONOTONIC; loading and start-up left out) and prints
ns/op:

* fork   — fork, the child _exits, the parent waits (fork+exit+wait);
* exec   — fork, the child execs proc_bench again as a static `true`, wait;
* vfork  — vfork + the same exec, wait;
* fork with MIB = 16 and 256 MiB touched before the loop: with copy-on-write
  the cost of fork must not grow with what the parent has touched.

A 3-stage shell pipeline (`echo x | cat | wc -l` in busybox sh, a loop of
--pipelines) is timed as a whole command, less the same command with a loop
of 0, divided by the loop count.  The host's python3.11 starting --spawns
children `python3.11 -c pass` with subprocess.run (what a test suite does)
times its own loop: a new interpreter's cost, where translating its code
again would dominate.  Each figure is the median of --repeat
runs, natively, under qemu-user (when installed) and under azemu in each
--modes kernel, all in this one run.  `unikernel-libos` runs the libOS image
of proc_bench (guest_bins/bin/libos/glibc/proc_bench) — on the unikernel every
process is an instance (kernels/instances.py), so there a fork clones an
instance and an exec boots one — and has no pipeline row (busybox is an
ordinary binary: the `unikernel` column runs it).  Targets (issue #10):
fork+wait at most 20x qemu-user; fork with 256 MiB touched within 1.5x of
16 MiB.

    python benchmarks/procs.py [--ops 200] [--pipelines 20] [--spawns 5] [--repeat 3]
                               [--modes linux,lwk,unikernel,unikernel-libos] [--json FILE]
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
PROGRAM = os.path.join(ROOT, "guest_bins/bin/glibc/proc_bench")
LIBOS_PROGRAM = os.path.join(ROOT, "guest_bins/bin/libos/glibc/proc_bench")   # azemu build
CASES = (("fork", 0), ("exec", 0), ("vfork", 0), ("fork", 16), ("fork", 256))
PIPELINE = 'i=0; while [ $i -lt {n} ]; do echo x | cat | wc -l >/dev/null; i=$((i+1)); done'
PYTHON = "/usr/bin/python3.11"
# python3 starting python3 (as a test suite's subprocess.run does): µs per child, timed inside.
PY_SPAWN = ("import subprocess, sys, time\n"
            "n = int(sys.argv[1])\n"
            "t = time.monotonic()\n"
            "for _ in range(n):\n"
            "    subprocess.run([sys.executable, '-E', '-s', '-c', 'pass'])\n"
            "sys.stderr.write('ns/op: %d\\n' % ((time.monotonic() - t) / n * 1e9))\n")


def azemu(mode):
    kernel = "unikernel" if mode == "unikernel-libos" else mode
    return [sys.executable, "-m", "azemu", "exec", "-q", "--mode", kernel, "--mem", "2G"]


def program(runner: str) -> str:
    return LIBOS_PROGRAM if runner.endswith("unikernel-libos") else PROGRAM


def timed(cmd) -> float:
    """µs per operation as the program measured it."""
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    if p.returncode != 0 or "ns/op:" not in err:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {err[-300:]}")
    return float(err.split("ns/op:")[1].split()[0]) / 1000


def wall(cmd) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.decode()[-300:]}")
    return time.perf_counter() - t


def busybox():
    for cand in (os.path.join(ROOT, ".cache/busybox/busybox"), shutil.which("busybox")):
        if cand and os.path.isfile(cand):
            return cand
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--pipelines", type=int, default=20)
    ap.add_argument("--spawns", type=int, default=5, help="python3 children per run (0: none)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", default="linux,lwk,unikernel,unikernel-libos")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    modes = a.modes.split(",")
    qemu = shutil.which("qemu-x86_64")
    runners = {"native": [], **({"qemu": [qemu]} if qemu else {}),
               **{f"azemu {m}": azemu(m) for m in modes}}
    res = {"params": vars(a), "runners": list(runners), "cases": [], "pipeline": None}
    for op, mib in CASES:
        row = {"op": op, "mib": mib}
        for name, pre in runners.items():
            xs = [timed(pre + [program(name), op, str(a.ops), str(mib)]) for _ in range(a.repeat)]
            row[name] = {"median": statistics.median(xs), "runs": xs}
        res["cases"].append(row)
    bb = busybox()
    if bb:
        row = {}
        for name, pre in runners.items():
            if name.endswith("unikernel-libos"):
                continue
            xs = []
            for _ in range(a.repeat):
                full = wall(pre + [bb, "sh", "-c", PIPELINE.format(n=a.pipelines)])
                empty = wall(pre + [bb, "sh", "-c", PIPELINE.format(n=0)])
                xs.append((full - empty) / a.pipelines * 1e6)
            row[name] = {"median": statistics.median(xs), "runs": xs}
        res["pipeline"] = row
    if os.path.exists(PYTHON) and a.spawns:
        row = {}
        for name, pre in runners.items():
            if not name.endswith("unikernel-libos"):
                xs = [timed(pre + [PYTHON, "-E", "-s", "-c", PY_SPAWN, str(a.spawns)])
                      for _ in range(a.repeat)]
                row[name] = {"median": statistics.median(xs), "runs": xs}
        res["python"] = row
    res["summary"] = summary(res, qemu is not None, modes)
    report(res, modes)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def summary(res, have_qemu, modes):
    by = {(r["op"], r["mib"]): r for r in res["cases"]}
    out = {}
    for m in modes:
        k = f"azemu {m}"
        s = {"fork_256_vs_16": by[("fork", 256)][k]["median"] / by[("fork", 16)][k]["median"]}
        if have_qemu:
            s["fork_vs_qemu"] = by[("fork", 0)][k]["median"] / by[("fork", 0)]["qemu"]["median"]
        out[m] = s
    return out


def report(res, modes):
    from rich.console import Console
    from rich.table import Table
    console = Console(width=140)
    runners = res["runners"]
    t = Table(title=f"µs per operation, as the program timed it (median of {res['params']['repeat']})")
    for col in ["operation", *runners] + ([f"{m} / qemu" for m in modes] if "qemu" in runners else []):
        t.add_column(col, justify="right")
    rows = [(f"{r['op']}" + (f", {r['mib']} MiB touched" if r["mib"] else ""), r) for r in res["cases"]]
    if res["pipeline"]:
        rows.append(("3-stage pipeline (sh)", res["pipeline"]))
    if res.get("python"):
        rows.append(("python3 runs python3 -c pass", res["python"]))
    for label, r in rows:
        cells = [f"{r[n]['median']:.1f}" if n in r else "–" for n in runners]
        if "qemu" in runners:
            cells += [f"{r[f'azemu {m}']['median'] / r['qemu']['median']:.2f}x"
                      if f"azemu {m}" in r else "–" for m in modes]
        t.add_row(label, *cells)
    console.print(t)
    for m, s in res["summary"].items():
        console.print(f"{m}: fork {s.get('fork_vs_qemu', float('nan')):.2f}x qemu-user (target <= 20x); "
                      f"fork with 256 MiB touched {s['fork_256_vs_16']:.2f}x 16 MiB (target <= 1.5x)")


if __name__ == "__main__":
    sys.exit(main())
