#!/usr/bin/env python3
"""Partitions run truly in parallel (issue #5).

Two compute-bound partitions (guest_bins/bin/glibc/compute, no syscalls in
its loop) on one machine, run side by side by `azemu run`, against the same
two partitions run one after the other.  The partitions share no guest
memory, so their cores run on two host threads at once (Unicorn releases the
GIL while it emulates).  Target: at least 1.6x on 2 host cores.

    python benchmarks/multikernel.py [--iters 400000000] [--repeat 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from azemu.multikernel import run_machine  # noqa: E402

COMPUTE = os.path.join(ROOT, "guest_bins/bin/glibc/compute")


def machine(path, kernels, iters):
    lines = ["[machine]", f"cores = {len(kernels)}", 'memory = "1G"']
    for i, k in enumerate(kernels):
        lines += ["[[partition]]", f'name = "p{i}"', f'kernel = "{k}"', "cores = 1",
                  'memory = "64M"', f'program = "{COMPUTE}"', f'args = ["{iters}"]']
    with open(path, "w") as f:
        f.write("\n".join(lines))


def timed(path):
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)                        # the summary tables
    try:
        t = time.perf_counter()
        assert run_machine(path, live=False, out_dir=os.path.dirname(path)) == 0
        return time.perf_counter() - t
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=400_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        both, one_a, one_b = (os.path.join(tmp, n) for n in ("both.toml", "a.toml", "b.toml"))
        machine(both, ["unikernel", "lwk"], a.iters)
        machine(one_a, ["unikernel"], a.iters)
        machine(one_b, ["lwk"], a.iters)
        par, seq = [], []
        for _ in range(a.repeat):
            par.append(timed(both))
            seq.append(timed(one_a) + timed(one_b))
    p, s = statistics.median(par), statistics.median(seq)
    res = {"parallel_s": par, "sequential_s": seq, "speedup": s / p, "iters": a.iters}
    print(f"two compute partitions ({a.iters:,} iterations each), median of {a.repeat}:")
    print(f"  side by side:      {p:.2f} s   (min {min(par):.2f}, max {max(par):.2f})")
    print(f"  one after another: {s:.2f} s   (min {min(seq):.2f}, max {max(seq):.2f})")
    print(f"  speed-up: {s / p:.2f}x   (target >= 1.6x: {'met' if s / p >= 1.6 else 'missed'})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
