#!/usr/bin/env python3
"""The FWK offload channel, measured (issue #4).

1. Round trip of a small offloaded call: guest_bins/bin/glibc/offload_loop
   (lseek(fd, 0, SEEK_CUR) N times) on the lwk kernel, whose file calls go to
   the FWK proxy process, with each wait policy (spin, block,
   spin-then-block), against the same call served in-process by the
   monolithic linux kernel.  Per call: (t(N) - t(0)) / N of the emulator run;
   and the channel's own round-trip times (median, p99) as the client saw them.
2. Bulk reads: a 256 MiB file read by guest_bins/bin/glibc/readfile through
   the proxy — with 4 MiB read() calls, and with cat's own 128 KiB — against
   `cat FILE > /dev/null` natively.  The proxy reads straight into the
   guest's frames (zero copy), so what remains is the round trip per call.

Targets: spin round trip under 10 µs; bulk reads at least half of native.

    python benchmarks/offload.py [--calls 20000] [--size-mib 256] [--repeat 5] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.bench import timed_run  # noqa: E402
from kernels import Kernel  # noqa: E402

LOOP = os.path.join(ROOT, "guest_bins/bin/glibc/offload_loop")
READ = os.path.join(ROOT, "guest_bins/bin/glibc/readfile")


def run(mode, path, args, policy=None):
    """(seconds of the run, round-trip times in ns)"""
    k, dt, out = timed_run(lambda: Kernel(mode=mode, memory=256 << 20, fwk_policy=policy), path, args)
    rtt = [x for core in getattr(k.io_backend, "rtt_ns", []) for x in core]
    k.close()
    assert out.exit_status == 0, out
    return dt, rtt


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    console = Console(width=120)
    variants = [("linux (in-process)", "linux", None), ("lwk, spin", "lwk", "spin"),
                ("lwk, spin-then-block", "lwk", "spin-then-block"), ("lwk, block", "lwk", "block")]
    results = {"params": vars(a), "round_trip": {}, "bulk": {}}
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.bin")
        chunk = os.urandom(1 << 20)
        with open(big, "wb") as f:
            for _ in range(a.size_mib):
                f.write(chunk)
        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("offload benchmark", total=a.repeat * (len(variants) + 4))
            per = {n: [] for n, *_ in variants}
            rtts = {n: [] for n, *_ in variants}
            native, emu_lwk, emu_small, emu_linux = [], [], [], []
            for _ in range(a.repeat):
                for name, mode, policy in variants:
                    t0, _ = run(mode, LOOP, ["0", tmp], policy)
                    tn, rtt = run(mode, LOOP, [str(a.calls), tmp], policy)
                    per[name].append((tn - t0) / a.calls * 1e6)
                    rtts[name] += rtt
                    prog.advance(task)
                t = time.perf_counter()
                subprocess.run(["cat", big], stdout=subprocess.DEVNULL, check=True)
                native.append(time.perf_counter() - t)
                prog.advance(task)
                emu_lwk.append(run("lwk", READ, [big, str(4 << 20)])[0])
                prog.advance(task)
                emu_small.append(run("lwk", READ, [big, str(128 << 10)])[0])
                prog.advance(task)
                emu_linux.append(run("linux", READ, [big, str(4 << 20)])[0])
                prog.advance(task)
    for name, *_ in variants:
        r = sorted(rtts[name])
        results["round_trip"][name] = {
            "per_call_us": summary(per[name]),
            "channel_rtt_us": ({"median": statistics.median(r) / 1000,
                                "p99": r[min(len(r) - 1, int(len(r) * 0.99))] / 1000} if r else None)}
    mib = a.size_mib
    results["bulk"] = {"native_cat_mib_s": summary([mib / x for x in native]),
                       "lwk_proxy_mib_s": summary([mib / x for x in emu_lwk]),
                       "lwk_proxy_128k_mib_s": summary([mib / x for x in emu_small]),
                       "linux_in_process_mib_s": summary([mib / x for x in emu_linux])}
    ratio = results["bulk"]["lwk_proxy_mib_s"]["median"] / results["bulk"]["native_cat_mib_s"]["median"]
    results["bulk"]["ratio_proxy_over_native"] = ratio

    t = Table(title=f"small offloaded call (lseek) x {a.calls:,}, median of {a.repeat}")
    for col in ("served by", "emulator µs/call", "min-max", "channel round trip: median", "p99", "target"):
        t.add_column(col)
    for name, *_ in variants:
        v = results["round_trip"][name]
        rt = v["channel_rtt_us"]
        target = ""
        if name == "lwk, spin":
            target = "< 10 µs: " + ("[green]met[/]" if rt["median"] < 10 else "[red]missed[/]")
        t.add_row(name, f"{v['per_call_us']['median']:.2f}",
                  f"{v['per_call_us']['min']:.2f}-{v['per_call_us']['max']:.2f}",
                  f"{rt['median']:.2f} µs" if rt else "(no channel)", f"{rt['p99']:.2f} µs" if rt else "",
                  target)
    console.print(t)
    t = Table(title=f"reading a {mib} MiB file, median of {a.repeat}")
    for col in ("reader", "MiB/s", "min-max", "vs native", "target"):
        t.add_column(col)
    for key, name in (("native_cat_mib_s", "native cat"),
                      ("lwk_proxy_mib_s", "guest on lwk, through the FWK proxy, 4 MiB reads"),
                      ("lwk_proxy_128k_mib_s", "guest on lwk, through the FWK proxy, 128 KiB reads"),
                      ("linux_in_process_mib_s", "guest on linux, in-process, 4 MiB reads")):
        v = results["bulk"][key]
        r = v["median"] / results["bulk"]["native_cat_mib_s"]["median"]
        t.add_row(name, f"{v['median']:.0f}", f"{v['min']:.0f}-{v['max']:.0f}", f"{r:.2f}x",
                  (">= 0.5x: " + ("[green]met[/]" if r >= 0.5 else "[red]missed[/]")) if key == "lwk_proxy_mib_s" else "")
    console.print(t)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
