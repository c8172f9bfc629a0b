#!/usr/bin/env python3
"""Memory-heavy programs: azemu (linux mode) against qemu-user, and where the limit is (issue #9).

In one run, each the median of --repeat:

1. Host programs, whole commands (stdout to /dev/null), on inputs made here
   deterministically: `sort` of 1M lines, `sha256sum` of 64 MiB, `gzip -c`
   of 32 MiB — native, qemu-user, `azemu exec`.
2. The same kinds of memory traffic with nothing else in the way, to find the
   limit: guest_bins/bin/raw/stream_raw (64 MiB written and read back, x4)
   and random_raw (8M read-modify-writes at random places in 64 MiB) —
   native, qemu-user, a bare Unicorn with one flat mapping of the program
   (benchmarks/syscall_floor.py's floor: no MMU model, no kernel), and azemu
   (paging on, demand-paged frames).  Emulation time only for the last two.

3. For each host program, one more run inside this process, profiled: the
   share of the run spent in Unicorn's own code (the emulation loop, outside
   every Python callback azemu installs: syscalls, page faults) — what azemu
   could still remove is at most the rest.

Target (issue #9): the host programs at most 3x qemu-user; if Unicorn
itself is the limit, parts 2 and 3 show it.  GNU sort sorts with a thread
per CPU it sees: two here under qemu-user (the host's), one under azemu (a
program sees the cores of its kernel instance: 1 by default, and an
instance's cores take turns on one host thread).  So sort runs twice: as
it is (qemu-user then sorts on both host CPUs at once), and with
`--parallel=1`, the same work everywhere — the emulators compared.

    python benchmarks/memory_heavy.py [--repeat 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from syscall_floor import azemu, bare_unicorn  # noqa: E402

from kernels import Kernel  # noqa: E402

RAW = os.path.join(ROOT, "guest_bins/bin/raw")


def make_inputs(d: str) -> dict:
    r = random.Random(1)
    lines = os.path.join(d, "lines.txt")
    with open(lines, "w") as f:
        for i in range(1_000_000):
            f.write(f"{r.getrandbits(32):08x} {i}\n")
    blob = os.path.join(d, "random64")
    with open(blob, "wb") as f:
        f.write(random.Random(2).randbytes(64 << 20))
    text = os.path.join(d, "text32")
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta", b"eta", b"theta"]
    r, out = random.Random(3), bytearray()
    while len(out) < 32 << 20:
        out += r.choice(words) + b" "
    with open(text, "wb") as f:
        f.write(out[:32 << 20])
    return {"sort 1M lines": ["/usr/bin/sort", lines],
            "sort 1M lines, one thread": ["/usr/bin/sort", "--parallel=1", lines],
            "sha256sum 64 MiB": ["/usr/bin/sha256sum", blob],
            "gzip -c 32 MiB": ["/usr/bin/gzip", "-c", text]}


def wall(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def unicorn_share(cmd) -> float:
    """Fraction of an in-process azemu run of `cmd` spent inside Unicorn's
    emulation loop rather than in azemu's Python callbacks."""
    import cProfile
    import pstats
    from azemu.bench import timed_run
    env = [f"{k}={v}".encode() for k, v in os.environ.items()]
    prof = cProfile.Profile()
    prof.enable()
    k, dt, out = timed_run(lambda: Kernel(mode="linux"), cmd[0], cmd[1:], env)
    prof.disable()
    k.close()
    stats = pstats.Stats(prof).stats
    inside = sum(v[2] for (f, _, name), v in stats.items() if name == "run" and f.endswith("azemu/core.py"))
    return inside / dt


def med(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    qemu = shutil.which("qemu-x86_64")
    azemu_cmd = [sys.executable, "-m", "azemu", "exec", "-q"]
    res = {"params": vars(a), "qemu": bool(qemu), "programs": {}, "raw": {}}
    from rich.console import Console
    from rich.table import Table
    console = Console(width=130)
    with tempfile.TemporaryDirectory() as d:
        progs = make_inputs(d)
        for name, cmd in progs.items():
            row = {"native": [], "qemu": [], "azemu": []}
            for _ in range(a.repeat):
                row["native"].append(wall(cmd))
                if qemu:
                    row["qemu"].append(wall([qemu] + cmd))
                row["azemu"].append(wall(azemu_cmd + cmd))
            res["programs"][name] = {k: med(v) for k, v in row.items() if v}
            res["programs"][name]["unicorn_share"] = unicorn_share(cmd)
    for name, arg in (("stream_raw", 4), ("random_raw", 8)):
        path = os.path.join(RAW, name)
        row = {"native": [], "qemu": [], "bare_unicorn": [], "azemu": []}
        for _ in range(a.repeat):
            row["native"].append(_wall_status(path, arg))
            if qemu:
                row["qemu"].append(_wall_status(qemu, arg, path))
            row["bare_unicorn"].append(bare_unicorn(path, arg))
            row["azemu"].append(azemu(path, arg, "linux", 256 << 20))   # 64 MiB of .bss
        res["raw"][f"{name} {arg}"] = {k: med(v) for k, v in row.items() if v}

    t = Table(title=f"memory-heavy programs, linux mode: seconds (median of {a.repeat})")
    for col in ("workload", "native", "qemu-user", "bare Unicorn", "azemu", "azemu / qemu",
                "azemu / bare", "bare / qemu", "in Unicorn"):
        t.add_column(col, justify="right")

    def cell(r, k):
        return f"{r[k]['median']:.2f}" if k in r else "-"

    def ratio(r, x, y):
        return f"{r[x]['median'] / r[y]['median']:.2f}x" if x in r and y in r else "-"
    for group in ("programs", "raw"):
        for name, r in res[group].items():
            t.add_row(name, cell(r, "native"), cell(r, "qemu"), cell(r, "bare_unicorn"), cell(r, "azemu"),
                      ratio(r, "azemu", "qemu"), ratio(r, "azemu", "bare_unicorn"),
                      ratio(r, "bare_unicorn", "qemu"),
                      f"{r['unicorn_share']:.1%}" if "unicorn_share" in r else "-")
    console.print(t)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def _wall_status(prog: str, arg: int, path: str | None = None) -> float:
    """Wall time of a raw program (which exits with its checksum byte)."""
    cmd = [prog, path, str(arg)] if path else [prog, str(arg)]
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
