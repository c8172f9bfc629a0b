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
* emulator time — the guest's run alone (`azemu exec --stats-json`'s run_s)
  less the same point's with 0 iterations, over the calls the iterations
  added; medians of --repeats.
Each point is an azemu process of its own, run one at a time by azemu
sweep's engine (matrix(); the same matrix is the shipped spec `azemu sweep
scaling`, docs/sweeps.md).

    python benchmarks/scaling.py [--max 64] [--iters 500] [--repeats 3] [--json FILE] [--plot FILE]

With --machines, the size of the machine instead (issue #12): `azemu run` of
machines of 64 ... 1024 cores, in partitions of 4 and of 16 cores, every
partition a linux, lwk or unikernel instance running hello.  Per machine:
boot, run and shutdown time, and the peak memory of all its processes
(azemu and the FWK proxies), sampled: RSS summed, and PSS (shared pages
counted once), in total and per core; and azemu's own peak RSS (its VmHWM).  A machine that fails or times out is
a row that says so.

    python benchmarks/scaling.py --machines [--cores 64,128,256,512,1024]
        [--partition-cores 4,16] [--kernels linux,lwk,unikernel] [--timeout 300] [--json FILE]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.calibrate import host_info, host_label  # noqa: E402

PROGRAM = os.path.join(ROOT, "guest_bins/bin/glibc/syscall_threads")
HELLO = os.path.join(ROOT, "guest_bins/bin/glibc/hello")
WORKLOAD = "syscall_threads: per thread, getpid, and mmap/munmap every tenth call"


def plot_data(res: dict) -> dict:
    """What scaling.png shows, apart from the drawing (tested): per kernel
    mode, the points of both panels; the axes' scales; title, workload and
    host."""
    p = res["params"]
    series = {mode: {"n": [r["n"] for r in rows], "modelled_ns": [r["modelled_ns"] for r in rows],
                     "emulator_us": [r["emulator_us"] for r in rows]} for mode, rows in res["modes"].items()}
    return {
        "title": f"N threads on N cores: syscall cost per call, {p.get('iters', '?')} iterations per thread",
        "workload": f"workload: {p.get('workload', WORKLOAD)}",
        "host": host_label(p.get("host")),
        "series": series,
        "xscale": ("log", 2), "xlabel": "threads = cores (log2)",
        "panels": [{"key": "modelled_ns", "yscale": "log", "ylabel": "ns per call (log)",
                    "title": "Modelled native time per call\n(counted events x cost model; not measured)"},
                   {"key": "emulator_us", "yscale": "log", "ylabel": "µs per call (log)",
                    "title": "Emulator time per call (measured under azemu)"}],
    }


def plot(res: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = plot_data(res)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, panel in zip(axes, d["panels"]):
        for mode, s in d["series"].items():
            ax.plot(s["n"], s[panel["key"]], marker="o", label=mode)
        ax.set_xscale(d["xscale"][0], base=d["xscale"][1])
        ax.set_yscale(panel["yscale"])
        ax.set_xlabel(d["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(panel["title"], fontsize=9)
        ax.legend()
    fig.suptitle(f"{d['title']}\n{d['workload']}\n{d['host']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def matrix(ns, iters, console, repeats: int = 3) -> dict:
    """The N-threads matrix, run by azemu sweep's engine (azemu/sweep*.py): each
    (mode, N) point an azemu process of its own, one at a time (its time is
    compared), `repeats` times.  Emulator time per call: the guest's run
    alone (`run_s`: no interpreter start-up, no loading), less that of the
    same point with 0 iterations (what a fresh process pays once: thread
    creation, first-use code paths), over the calls the iterations added;
    medians of the repeats.  The modelled time per call and the line transfers
    come from the counters of the full point."""
    from pathlib import Path
    from azemu.sweep import run_sweep, read_results
    from azemu.sweep_engines import LocalPool
    from azemu.sweep_spec import parse
    spec = parse({"name": "scaling-benchmark", "command": "exec", "program": PROGRAM,
                  "args": ["{cores}", "{iters}"], "axes": {"mode": ["linux", "lwk", "unikernel"],
                                                         "cores": ns, "iters": [0, iters]},
                  "repeats": repeats,
                  "options": {"mem": "2G"}}, "benchmarks/scaling.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scaling.jsonl"
        run_sweep(spec, out, LocalPool(1), console)
        recs = read_results(out)
    bad = [r for r in recs if r["status"] != 0]
    if bad:
        raise SystemExit(f"a point failed: {bad[0]['argv']}: {bad[0].get('stderr_tail', '')}")
    import statistics
    at = {}
    for r in recs:
        at.setdefault((r["point"]["mode"], r["point"]["cores"], r["point"]["iters"]), []).append(r)
    med = lambda rs, f: statistics.median(f(r) for r in rs)   # noqa: E731
    modes = {}
    for mode in ("linux", "lwk", "unikernel"):
        rows = []
        for n in ns:
            full, zero = at[(mode, n, iters)], at[(mode, n, 0)]
            c = full[0]["counters"]
            calls = c["syscalls"]
            added = calls - zero[0]["counters"]["syscalls"]
            per_call = (med(full, lambda r: r["run_s"]) - med(zero, lambda r: r["run_s"])) / max(1, added)
            rows.append({"n": n, "calls": calls, "emulator_us": per_call * 1e6,
                         "modelled_ns": med(full, lambda r: r["modelled_ns_per_call"]),
                         "line_transfers_per_call": c["line_transfer"] / calls,
                         "tlb_shootdowns": c["tlb_shootdown"]})
        modes[mode] = rows
    return modes


# ---- --machines: the machine's size -------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the FWK service and its proxy workers)."""
    pids, todo = [], [pid]
    while todo:
        q = todo.pop()
        pids.append(q)
        for f in glob.glob(f"/proc/{q}/task/*/children"):
            try:
                with open(f) as fh:
                    todo += [int(x) for x in fh.read().split()]
            except OSError:
                pass
    return pids


def _memory(pids) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over `pids`."""
    rss = pss = 0
    for q in pids:
        try:
            with open(f"/proc/{q}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class _Sampler:
    """The peak memory of a process tree, sampled every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every = pid, every
        self.rss = self.pss = self.procs = self.hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            pids = _tree(self.pid)
            rss, pss = _memory(pids)
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self.procs = max(self.procs, len(pids))
            try:                                # azemu's own peak, exact
                with open(f"/proc/{self.pid}/status") as fh:
                    self.hwm = max([self.hwm] + [int(x.split()[1]) for x in fh if x.startswith("VmHWM")])
            except OSError:
                pass
            self._stop.wait(self.every if len(pids) < 32 else 2.5 * self.every)

    def stop(self):
        self._stop.set()
        self._thread.join()


def machine_file(path: str, cores: int, per: int, kernel: str, program: str = HELLO) -> int:
    """A machine of `cores` cores in partitions of `per`, each `kernel` running `program`."""
    n = cores // per
    lines = ["[machine]", f"cores = {cores}", f'memory = "{32 * n}M"']
    for i in range(n):
        lines += ["", "[[partition]]", f'name = "p{i}"', f'kernel = "{kernel}"', f"cores = {per}",
                  'memory = "32M"', f'program = "{program}"']
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return n


def run_machine_row(cores: int, per: int, kernel: str, timeout: float) -> dict:
    """`azemu run` one machine; its times, its peak memory, or why it failed."""
    row = {"cores": cores, "partition_cores": per, "partitions": cores // per, "kernel": kernel}
    work = tempfile.mkdtemp(prefix="azemu-scaling-")
    try:
        toml = os.path.join(work, "machine.toml")
        n = machine_file(toml, cores, per, kernel)
        out = os.path.join(work, "out")
        os.mkdir(out)
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "azemu", "run", "--no-live", "--out", out, toml],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        sampler = _Sampler(p.pid)
        summary_at, err = None, []
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        for raw in p.stderr:                    # the summary's title comes when the run has ended
            line = raw.decode(errors="replace")
            err.append(line)
            if summary_at is None and re.search(r"machine: \d+ cores", line):
                summary_at = time.monotonic()
        status = p.wait()
        t_end = time.monotonic()
        timer.cancel()
        sampler.stop()
        text = "".join(err)
        row.update(total_s=t_end - t0, peak_rss_mib=sampler.rss / 1024, peak_pss_mib=sampler.pss / 1024,
                   azemu_peak_rss_mib=sampler.hwm / 1024, processes=sampler.procs)
        m = re.search(r"boot ([\d.]+) s, run ([\d.]+) s", text)
        if m and summary_at is not None:
            boot, wall = float(m.group(1)), float(m.group(2))      # run: from the boot's start
            row.update(boot_s=boot, run_s=wall - boot, shutdown_s=t_end - summary_at)
        if status != 0:
            why = [x.strip() for x in err if x.startswith("azemu:")]
            row["failed"] = (f"timed out after {timeout:g} s" if status == -9 else
                             f"exit {status}: " + (why[0] if why else text.strip()[-200:]))
            return row
        outs = {open(os.path.join(out, f"p{i}.out"), "rb").read() for i in range(n)}
        if len(outs) != 1 or not next(iter(outs)):
            row["failed"] = "the partitions' outputs differ (or are empty)"
        return row
    except Exception as e:                      # a row reports, the next one runs
        row["failed"] = f"{type(e).__name__}: {e}"
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def machines(a, console) -> int:
    from rich.table import Table
    sizes = [int(x) for x in a.cores.split(",")]
    pers = [int(x) for x in a.partition_cores.split(",")]
    kernels = a.kernels.split(",")
    rows = []
    t = Table(title="azemu run: machines of N cores, hello in every partition")
    for col in ("cores", "partitions", "kernel", "boot s", "run s", "shutdown s", "total s",
                "peak RSS MiB", "peak PSS MiB", "PSS/core MiB", "azemu peak MiB", "processes", "outcome"):
        t.add_column(col, justify="left" if col in ("kernel", "outcome") else "right")
    for kernel in kernels:
        for per in pers:
            for cores in sizes:
                if cores % per:
                    continue
                r = run_machine_row(cores, per, kernel, a.timeout)
                rows.append(r)
                f = lambda k, fmt="{:.2f}": fmt.format(r[k]) if k in r else "-"   # noqa: E731
                cells = [str(cores), f"{r['partitions']} x {per}", kernel, f("boot_s"), f("run_s"),
                         f("shutdown_s"), f("total_s"), f("peak_rss_mib", "{:.0f}"),
                         f("peak_pss_mib", "{:.0f}"),
                         f"{r['peak_pss_mib'] / cores:.2f}" if "peak_pss_mib" in r else "-",
                         f("azemu_peak_rss_mib", "{:.0f}"), str(r.get("processes", "-")),
                         r.get("failed", "ok")]
                t.add_row(*cells)
                console.print("  " + " | ".join(cells))
    console.print(t)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"params": vars(a), "program": os.path.relpath(HELLO, ROOT), "rows": rows}, fh,
                      indent=1)
    return 0 if all("failed" not in r for r in rows) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each point; medians are shown")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    ap.add_argument("--machines", action="store_true",
                    help="the machine's size instead: azemu run of machines of many cores")
    ap.add_argument("--cores", default="64,128,256,512,1024", help="with --machines: machine sizes")
    ap.add_argument("--partition-cores", default="4,16", help="with --machines: partition sizes")
    ap.add_argument("--kernels", default="linux,lwk,unikernel", help="with --machines")
    ap.add_argument("--timeout", type=float, default=300, help="with --machines: per machine, s")
    a = ap.parse_args(argv)
    if a.machines:
        from rich.console import Console
        return machines(a, Console(width=160))
    ns = [1]
    while ns[-1] * 2 <= a.max:
        ns.append(ns[-1] * 2)
    from rich.console import Console
    from rich.table import Table
    console = Console(width=120)
    res = {"params": dict(vars(a), host=host_info(), workload=WORKLOAD), "n": ns,
           "modes": matrix(ns, a.iters, console, a.repeats)}
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
        plot(res, a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
