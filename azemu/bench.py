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
  * emulator time per call — measured, in --repeat pairs: each pair runs the
    N-call run and the 0-call run back to back, and its per-call figure is
    (t_N - t_0) / N (start-up and loading cancel out); the median over the
    pairs, with the interquartile range and min..max of the paired figures.
    A paired figure at or below zero is noise larger than the N calls, and
    is printed as "< noise", never as a negative time;
  * modelled native time per call — the counted kernel events of the same two
    runs, priced by the cost model (kernels/costmodel.py) with this host's
    calibration (`azemu calibrate`); for every variant also without KPTI
    (its as_switch events, the page-table switches, removed), and the
    ratios linux/lwk and linux/unikernel with and without KPTI.
The native row is measured the same way with N x NATIVE_SCALE calls (process
creation noise is large against 10,000 fast calls).

The plot (`--plot`) is drawn from `plot_data(results)`, which holds every
number, mark and label it shows (tested apart from the drawing): the
paper's "up to 7.5x faster than Linux" as a mark, and the published HermiTux
and Unikraft cycle ladders (kernels/costmodel.py) converted with this host's
measured cycle.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import textwrap
import time
from pathlib import Path

from . import resources
from .calibrate import host_info, host_label, load_or_measure

NATIVE_SCALE = 20
PAPER_SPEEDUP = 7.5           # Azalea paper, Figure 7: the unikernel "up to 7.5x faster than Linux"

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


def _pair(measure, n: int, first_zero: bool):
    """One pair: the N-call run and the 0-call run back to back (their order
    alternating between pairs, so a slow drift does not favour one); returns
    ((t_N - t_0) / N, what the N run returned, what the 0 run returned)."""
    if first_zero:
        zero, full = measure(0), measure(n)
    else:
        full, zero = measure(n), measure(0)
    return (full[0] - zero[0]) / n, full, zero


def run(iterations: int = 10_000, repeat: int = 5, progress=None) -> dict:
    from kernels.costmodel import Calibration, modelled_ns, prices
    cal_data = load_or_measure()
    cal = Calibration.from_dict(cal_data["figures"])
    results = {"params": {"iterations": iterations, "repeat": repeat, "native_scale": NATIVE_SCALE,
                          "pairs": "each repeat: the N-call and 0-call runs back to back",
                          "host": host_info()},
               "calibration": cal_data,
               "prices_ns": {k: {"ns": p.ns, "source": p.source} for k, p in prices(cal).items()},
               "variants": {}}
    native = []
    runs = {name: [] for name, *_ in VARIANTS}
    counts = {}
    for i in range(repeat):
        n_native = iterations * NATIVE_SCALE
        per, _, _ = _pair(lambda n: (_native(n),), n_native, i % 2 == 0)
        native.append(per)
        if progress:
            progress()
        for name, mode, image, in_guest in VARIANTS:
            per, (_, cn), (_, c0) = _pair(lambda n: _emulated(mode, image, n, in_guest),
                                          iterations, i % 2 == 0)
            runs[name].append(per)
            counts[name] = (cn - c0).as_dict()
            if progress:
                progress()
    results["variants"]["native"] = {
        "emulator_us": paired_summary([x * 1e6 for x in native]),
        "modelled_ns": None,
        "measured_native_getpid_ns": cal.getpid_ns,
    }
    for name, *_ in VARIANTS:
        per_call = {k: v / iterations for k, v in counts[name].items()}
        total, parts = modelled_ns(per_call, cal)
        results["variants"][name] = {
            "emulator_us": paired_summary([x * 1e6 for x in runs[name]]),
            "modelled_ns": total,
            "modelled_breakdown_ns": parts,
            "events_per_call": per_call,
        }
    add_ratios(results)
    return results


def paired_summary(xs: list[float]) -> dict:
    """The paired per-call figures of one variant: median, quartiles, min and
    max, and how many pairs came out at or below zero (noise larger than the
    calls).  Nothing is clamped: the figures are kept as measured."""
    s = sorted(xs)
    q1, q3 = (statistics.quantiles(s, n=4, method="inclusive")[::2] if len(s) > 1 else (s[0], s[0]))
    return {"median": statistics.median(s), "q1": q1, "q3": q3, "min": s[0], "max": s[-1],
            "nonpositive": sum(1 for x in s if x <= 0), "runs": xs}


def without_kpti(variant: dict) -> float | None:
    """A variant's modelled ns per call with its KPTI page-table switches
    (the as_switch events) taken out; None for the unmodelled native row."""
    if variant.get("modelled_ns") is None:
        return None
    return variant["modelled_ns"] - variant["modelled_breakdown_ns"].get("as_switch", 0.0)


def add_ratios(results: dict) -> dict:
    """Per variant: the modelled figure without KPTI and the speed-ups over
    linux (emulator; modelled with and without KPTI); and results["ratios"],
    "linux/<variant>" -> {"with_kpti", "without_kpti"}, for the modelled
    variants other than linux."""
    vs = results["variants"]
    for v in vs.values():
        if "q1" not in v["emulator_us"]:              # results from before the paired summary
            v["emulator_us"] = paired_summary(v["emulator_us"]["runs"])
    base = vs["linux"]
    base_no = without_kpti(base)
    results["ratios"] = {}
    for name, v in vs.items():
        v["modelled_ns_no_kpti"] = without_kpti(v)
        e, b = v["emulator_us"]["median"], base["emulator_us"]["median"]
        v["speedup_emulator"] = b / e if e > 0 and b > 0 else None
        v["speedup_modelled"] = base["modelled_ns"] / v["modelled_ns"] if v["modelled_ns"] else None
        v["speedup_modelled_no_kpti"] = base_no / v["modelled_ns_no_kpti"] if v["modelled_ns"] else None
        if v["modelled_ns"] and name != "linux":
            results["ratios"][f"linux/{name}"] = {"with_kpti": v["speedup_modelled"],
                                                  "without_kpti": v["speedup_modelled_no_kpti"]}
    return results


def fmt_time(x: float, digits: int = 3) -> str:
    """A paired per-call time: at or below zero it is noise, said so."""
    return f"{x:.{digits}f}" if x > 0 else "< noise"


def fmt_spread(e: dict, digits: int = 3, extremes: bool = True) -> str:
    """The interquartile range, and the extremes, unambiguous: '[q1, q3] (min to max)'."""
    iqr = f"[{fmt_time(e['q1'], digits)}, {fmt_time(e['q3'], digits)}]"
    return iqr + (f" ({fmt_time(e['min'], digits)} to {fmt_time(e['max'], digits)})" if extremes else "")


def _x(r):
    return f"{r:.2f}x" if r else ""


def print_table(results: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table
    p = results["params"]
    t = Table(title=escape(f"getpid x {p['iterations']:,}: per call, median of {p['repeat']} paired "
                           "runs (emulator time: measured, [q1, q3] of the pairs; native time: "
                           "modelled, with KPTI and without)"),
              caption=host_label(p.get("host")))
    for col in ("variant", "emulator µs/call", "[q1, q3]", "vs linux",
                "modelled ns/call", "vs linux ", "no KPTI: ns/call", "vs linux  "):
        t.add_column(escape(col), justify="left" if col == "variant" else "right")
    for name, v in results["variants"].items():
        e, m = v["emulator_us"], v["modelled_ns"]
        t.add_row(name, fmt_time(e["median"]), escape(fmt_spread(e, extremes=False)), _x(v["speedup_emulator"]),
                  f"{m:.1f}" if m is not None else f"({v['measured_native_getpid_ns']:.1f} measured)",
                  _x(v["speedup_modelled"]),
                  f"{v['modelled_ns_no_kpti']:.1f}" if m is not None else "",
                  _x(v["speedup_modelled_no_kpti"]))
    console.print(t)
    console.print("modelled ratios, with KPTI / without KPTI (linux's page-table switches removed): "
                  + "; ".join(f"{k} {r['with_kpti']:.2f}x / {r['without_kpti']:.2f}x"
                              for k, r in results["ratios"].items()))
    noisy = [n for n, v in results["variants"].items() if v["emulator_us"]["nonpositive"]]
    if noisy:
        console.print(f"< noise: in {', '.join(noisy)}, some pairs' N-call run was not slower than "
                      "the 0-call run (noise larger than the calls): use more --iterations")


def plot_data(results: dict) -> dict:
    """Everything the getpid plot shows, as numbers and strings (drawn by
    plot()): the emulator bars with their interquartile whiskers, the
    modelled bars with and without KPTI, the paper's 7.5x mark, and the
    published ladders converted with this host's measured cycle."""
    from kernels.costmodel import published_ladder
    if "ratios" not in results:                       # saved results: complete a copy
        results = add_ratios(json.loads(json.dumps(results)))
    vs = results["variants"]
    names = list(vs)
    emu = [vs[n]["emulator_us"] for n in names]
    med = [max(e["median"], 0.0) for e in emu]       # a bar at or below zero is drawn empty
    err_low = [max(m - max(e["q1"], 0.0), 0.0) for m, e in zip(med, emu)]
    err_high = [max(e["q3"] - m, 0.0) for m, e in zip(med, emu)]
    mnames = [n for n in names if vs[n]["modelled_ns"] is not None]
    cycle_ns = results["calibration"]["figures"]["cycle_ns"]
    linux = vs["linux"]["modelled_ns"]
    p = results["params"]
    return {
        "title": f"getpid x {p['iterations']:,} on linux, Azalea LWK and unikernel "
                 "(cf. the paper's Figure 7)",
        "host": host_label(p.get("host") or results["calibration"].get("host")),
        "emulator": {"names": names, "median_us": med, "err_low": err_low, "err_high": err_high,
                     "labels": [fmt_time(e["median"]) for e in emu],
                     "whiskers": "interquartile range of the paired per-call figures"},
        "modelled": {"names": mnames, "kpti_ns": [vs[n]["modelled_ns"] for n in mnames],
                     "no_kpti_ns": [vs[n]["modelled_ns_no_kpti"] for n in mnames],
                     "yscale": "log"},
        "paper_mark": {"ratio": PAPER_SPEEDUP, "ns": linux / PAPER_SPEEDUP,
                       "label": f"paper: up to {PAPER_SPEEDUP:g}x faster than Linux "
                                f"(modelled linux / {PAPER_SPEEDUP:g})"},
        "published": {"cycle_ns": cycle_ns,
                      "label": f"published, cycles x this host's {cycle_ns:.3f} ns cycle",
                      "bars": [{"source": src, "rung": rung, "cycles": cyc, "ns": cyc * cycle_ns,
                                "label": f"published: {src}: {rung}"}
                               for src, rung, cyc in published_ladder()]},
    }


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = plot_data(results)
    em, mo, pub = d["emulator"], d["modelled"], d["published"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(18, 5.5), gridspec_kw={"width_ratios": [6, 5, 7]})
    colors = ["#777777", "#c0392b", "#e67e22", "#2980b9", "#27ae60", "#16a085"]
    label = lambda n: n.replace("-", "-\n", 1).replace(" ", "\n", 1)  # noqa: E731
    x = range(len(em["names"]))
    a.bar(x, em["median_us"], yerr=[em["err_low"], em["err_high"]], color=colors[:len(em["names"])],
          capsize=3)
    a.set_xticks(list(x), [label(n) for n in em["names"]], fontsize=8)
    a.set_ylabel("µs per getpid call")
    a.set_title("Emulator time per call, measured under azemu (median of\n"
                "paired runs; whiskers: interquartile range; native = the host)", fontsize=9)
    for i, (v, t) in enumerate(zip(em["median_us"], em["labels"])):
        a.text(i, v, t, ha="center", va="bottom", fontsize=8)
    a.set_ylim(0, max(max(em["median_us"]) * 1.25 + max(em["err_high"]), 1e-9))
    w = 0.4
    xs = range(len(mo["names"]))
    b.bar([i - w / 2 for i in xs], mo["kpti_ns"], w, color=colors[1:1 + len(mo["names"])],
          label="modelled (linux with KPTI)")
    b.bar([i + w / 2 for i in xs], mo["no_kpti_ns"], w, color=colors[1:1 + len(mo["names"])],
          alpha=0.45, hatch="..", label="modelled, without KPTI")
    b.set_xticks(list(xs), [label(n) for n in mo["names"]], fontsize=8)
    base = mo["kpti_ns"][0]
    for i, v in enumerate(mo["kpti_ns"]):
        b.text(i - w / 2, v, f"{v:.0f}\n{base / v:.1f}x", ha="center", va="bottom", fontsize=7)
    b.axhline(d["paper_mark"]["ns"], color="black", ls="--", lw=1, label=d["paper_mark"]["label"])
    b.set_title("Modelled native time per call\n(counted kernel events x cost model; not measured)",
                fontsize=9)
    c.bar(range(len(pub["bars"])), [p["ns"] for p in pub["bars"]], color="#bbbbbb", hatch="//",
          edgecolor="#555555", label=pub["label"])
    c.set_xticks(range(len(pub["bars"])),
                 [p["source"] + ":\n" + textwrap.fill(p["rung"], 13) for p in pub["bars"]], fontsize=6.5)
    for i, p in enumerate(pub["bars"]):
        c.text(i, p["ns"], f"{p['cycles']:g} cyc\n{p['ns']:.0f} ns", ha="center", va="bottom", fontsize=7)
    c.axhline(d["paper_mark"]["ns"], color="black", ls="--", lw=1, label=d["paper_mark"]["label"])
    c.set_title("Published: one call's cycles (HermiTux, VEE'19; Unikraft,\nEuroSys'21 artifact), "
                "converted with this host's measured cycle", fontsize=9)
    allv = mo["kpti_ns"] + mo["no_kpti_ns"] + [p["ns"] for p in pub["bars"]] + [d["paper_mark"]["ns"]]
    for ax in (b, c):
        ax.set_yscale(mo["yscale"])
        ax.set_ylim(min(allv) / 2, max(allv) * 4)
        ax.set_ylabel("ns per call (log scale)")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{d['title']}\n{d['host']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args) -> int:
    from rich.console import Console
    from rich.progress import Progress
    console = Console(width=max(140, Console().width))
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
