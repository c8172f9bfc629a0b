"""`azemu bench getpid`: the paper's Figure 7 experiment, reproduced and explained.

The getpid loop (guest_bins/src/getpid_loop.c, `syscall(SYS_getpid)` N times)
runs natively and on each kernel variant:

  native                 the host's Linux
  linux                  azemu's monolithic kernel (trap, full switch, KPTI, lock)
  lwk                    Azalea's LWK (trap, full switch, per-core structures)
  unikernel-binary       the unmodified binary on the unikernel (trap, no switch)
  unikernel-source hook  the program rebuilt with `azemu build`: function calls
                         caught by the libOS function hook
  unikernel-source in-guest  the same image, getpid answered inside the guest

Two figures per variant, never mixed:
  * emulator time per call — measured: wall time of the run of N calls minus
    the run of 0 calls, divided by N (start-up and loading excluded); median
    of --repeat runs, with min and max;
  * modelled native time per call — the counted kernel events of the same two
    runs, priced by the cost model (kernels/costmodel.py) with this host's
    calibration (`azemu calibrate`).
The native row is measured the same way with N x NATIVE_SCALE calls (process
creation noise is large against 10,000 fast calls).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from . import resources
from .calibrate import load_or_measure

NATIVE_SCALE = 20

VARIANTS = [
    ("linux", "linux", "glibc/getpid_loop", True),
    ("lwk", "lwk", "glibc/getpid_loop", True),
    ("unikernel-binary", "unikernel", "glibc/getpid_loop", True),
    ("unikernel-source hook", "unikernel", "libos/glibc/getpid_loop", False),
    ("unikernel-source in-guest", "unikernel", "libos/glibc/getpid_loop", True),
]


def timed_run(make_kernel, path: str, args: list[str], envp: list[bytes] | None = None):
    """Make a kernel, exec `path` with `args` and run it, with the guest's
    stdout sent to /dev/null; returns (the kernel, seconds of the run alone,
    how it ended).  The kernel is made inside the redirection because its
    FWK proxy inherits stdout when it starts.  Shared by the benchmarks."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    try:
        kernel = make_kernel()
        kernel.exec(path, [os.fsencode(path)] + [os.fsencode(a) for a in args], envp or [])
        t = time.perf_counter()
        out = kernel.run()
        return kernel, time.perf_counter() - t, out
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _emulated(mode: str, image: str, n: int, in_guest: bool):
    from kernels import Kernel
    path = str(resources.guest(image))
    k, dt, out = timed_run(lambda: Kernel(mode=mode, memory=64 << 20, in_guest=in_guest), path, [str(n)])
    stats = k.stats()
    k.close()
    if out.exit_status != 0:
        raise RuntimeError(f"{image} under {mode} exited {out.exit_status}")
    return dt, stats


def _native(n: int) -> float:
    t = time.perf_counter()
    subprocess.run([str(resources.guest("glibc/getpid_loop")), str(n)], stdout=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


def run(iterations: int = 10_000, repeat: int = 5, progress=None) -> dict:
    from kernels.costmodel import Calibration, modelled_ns, prices
    cal_data = load_or_measure()
    cal = Calibration.from_dict(cal_data["figures"])
    results = {"params": {"iterations": iterations, "repeat": repeat, "native_scale": NATIVE_SCALE},
               "calibration": cal_data,
               "prices_ns": {k: {"ns": p.ns, "source": p.source} for k, p in prices(cal).items()},
               "variants": {}}
    native = []
    runs = {name: [] for name, *_ in VARIANTS}
    counts = {}
    for _ in range(repeat):
        n_native = iterations * NATIVE_SCALE
        native.append((_native(n_native) - _native(0)) / n_native)
        if progress:
            progress()
        for name, mode, image, in_guest in VARIANTS:
            t0, c0 = _emulated(mode, image, 0, in_guest)
            tn, cn = _emulated(mode, image, iterations, in_guest)
            runs[name].append((tn - t0) / iterations)
            counts[name] = (cn - c0).as_dict()
            if progress:
                progress()
    results["variants"]["native"] = {
        "emulator_us": _summary([x * 1e6 for x in native]),
        "modelled_ns": None,
        "measured_native_getpid_ns": cal.getpid_ns,
    }
    for name, *_ in VARIANTS:
        per_call = {k: v / iterations for k, v in counts[name].items()}
        total, parts = modelled_ns(per_call, cal)
        results["variants"][name] = {
            "emulator_us": _summary([x * 1e6 for x in runs[name]]),
            "modelled_ns": total,
            "modelled_breakdown_ns": parts,
            "events_per_call": per_call,
        }
    base = results["variants"]["linux"]
    for name, v in results["variants"].items():
        v["speedup_emulator"] = base["emulator_us"]["median"] / v["emulator_us"]["median"]
        v["speedup_modelled"] = (base["modelled_ns"] / v["modelled_ns"]) if v["modelled_ns"] else None
    return results


def _summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def print_table(results: dict, console) -> None:
    from rich.table import Table
    p = results["params"]
    t = Table(title=f"getpid x {p['iterations']:,}: per call, median of {p['repeat']} "
                    "(emulator time: measured; native time: modelled)")
    for col, j in (("variant", "left"), ("emulator µs/call", "right"), ("min-max", "right"),
                   ("vs linux", "right"), ("modelled native ns/call", "right"), ("vs linux ", "right")):
        t.add_column(col, justify=j)
    for name, v in results["variants"].items():
        e = v["emulator_us"]
        m = v["modelled_ns"]
        t.add_row(name, f"{e['median']:.3f}", f"{e['min']:.3f}-{e['max']:.3f}",
                  f"{v['speedup_emulator']:.2f}x",
                  f"{m:.1f}" if m is not None else f"({v['measured_native_getpid_ns']:.1f} measured)",
                  f"{v['speedup_modelled']:.1f}x" if v["speedup_modelled"] else "")
    console.print(t)


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results["variants"])
    emu = [results["variants"][n]["emulator_us"]["median"] for n in names]
    err = [[e - results["variants"][n]["emulator_us"]["min"] for n, e in zip(names, emu)],
           [results["variants"][n]["emulator_us"]["max"] - e for n, e in zip(names, emu)]]
    mnames = [n for n in names if results["variants"][n]["modelled_ns"] is not None]
    mod = [results["variants"][n]["modelled_ns"] for n in mnames]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5))
    colors = ["#777777", "#c0392b", "#e67e22", "#2980b9", "#27ae60", "#16a085"]
    a.bar(range(len(names)), emu, yerr=err, color=colors[:len(names)], capsize=3)
    label = lambda n: n.replace("-", "-\n", 1).replace(" ", "\n", 1)  # noqa: E731
    a.set_xticks(range(len(names)), [label(n) for n in names], fontsize=8)
    a.set_ylabel("µs per getpid call")
    a.set_title("Emulator time per call (measured under azemu;\nnative = the host running it directly)")
    for i, v in enumerate(emu):
        a.text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    b.bar(range(len(mnames)), mod, color=colors[1:1 + len(mnames)])
    b.set_xticks(range(len(mnames)), [label(n) for n in mnames], fontsize=8)
    b.set_ylabel("ns per getpid call (log scale)")
    b.set_yscale("log")
    b.set_ylim(min(mod) / 2, max(mod) * 4)
    a.set_ylim(0, max(emu) * 1.25 + max(err[1]))
    b.set_title("Modelled native time per call\n(counted kernel events x cost model; not measured)")
    base = results["variants"]["linux"]["modelled_ns"]
    for i, v in enumerate(mod):
        b.text(i, v, f"{v:.1f} ns\n{base / v:.1f}x", ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"getpid x {results['params']['iterations']:,} on linux, Azalea LWK and "
                 "unikernel (cf. the paper's Figure 7)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args) -> int:
    from rich.console import Console
    from rich.progress import Progress
    console = Console(width=max(120, Console().width))
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("getpid benchmark", total=args.repeat * (len(VARIANTS) + 1))
        results = run(args.iterations, args.repeat, lambda: prog.advance(task))
    print_table(results, console)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(results, args.plot)
        console.print(f"plot: {args.plot}")
    return 0
