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

4. Two CPUs at once, which is what sort as it is needs (see below): a loop
   of N `lock add` on a counter, on two bare Unicorn instances driven by two
   host threads — once with a counter each (does Unicorn run two instances
   at the same host moment?) and once on one counter in one shared mapping
   (are its locked instructions atomic between instances, as two cores of
   one address space need?) — against lost_update's lock-add threads
   natively, under qemu-user and under azemu on two cores.

Target (issue #9): the host programs at most 3x qemu-user; if Unicorn
itself is the limit, parts 2 and 3 show it.  GNU sort sorts with a thread
per CPU it sees: two here under qemu-user (the host's), one under azemu (a
program sees the cores of its kernel instance: 1 by default, and an
instance's cores take turns on one host thread).  So sort runs twice: as
it is (qemu-user then sorts on both host CPUs at once), and with
`--parallel=1`, the same work everywhere — the emulators compared.  Part 4
shows why azemu's cores of one address space cannot take the second CPU.

    python benchmarks/memory_heavy.py [--repeat 3] [--adds 20000000] [--json FILE]
                                      [--only-two-cpus]
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


# mov ecx, N; 1: lock add qword [COUNTER], 1; dec rcx; jnz 1b; hlt
COUNTER, CODE = 0x2000, 0x1000


def _adder(n: int) -> bytes:
    body = bytes.fromhex("f0 48 83 04 25") + COUNTER.to_bytes(4, "little") + b"\x01" \
        + bytes.fromhex("48 ff c9")
    return b"\xb9" + n.to_bytes(4, "little") + body + b"\x75" + bytes([256 - len(body) - 2]) + b"\xf4"


def two_cpus_at_once(n: int) -> dict:
    """Part 4: seconds for one instance, for two at once with a counter
    each, and for two at once on one shared counter, with what that counter
    reached (2n when `lock add` is atomic between instances)."""
    import ctypes
    import mmap
    import threading
    import unicorn
    code = _adder(n)
    shared = mmap.mmap(-1, 0x3000)
    base = ctypes.addressof(ctypes.c_char.from_buffer(shared))
    shared[CODE:CODE + len(code)] = code

    def instance(own_counter: bool):
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
        uc.mem_map_ptr(CODE, 0x1000, unicorn.UC_PROT_ALL, base + CODE)
        if own_counter:
            uc.mem_map(COUNTER, 0x1000)
        else:
            uc.mem_map_ptr(COUNTER, 0x1000, unicorn.UC_PROT_ALL, base + COUNTER)
        return uc

    def timed(ucs):
        threads = [threading.Thread(target=u.emu_start, args=(CODE, CODE + len(code) - 1)) for u in ucs]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return time.perf_counter() - t
    one = timed([instance(True)])
    apart = timed([instance(True), instance(True)])
    shared[COUNTER:COUNTER + 8] = bytes(8)
    together = timed([instance(False), instance(False)])
    return {"one_s": one, "two_apart_s": apart, "two_shared_s": together,
            "shared_count": int.from_bytes(shared[COUNTER:COUNTER + 8], "little"), "expected": 2 * n}


def cpus_used(cmd) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds over wall seconds, exit status) of a command."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    status = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    wall_s = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, cpu / wall_s, status


def med(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--adds", type=int, default=20_000_000, help="part 4: lock adds per instance")
    ap.add_argument("--json")
    ap.add_argument("--only-two-cpus", action="store_true", help="run part 4 alone")
    a = ap.parse_args(argv)
    qemu = shutil.which("qemu-x86_64")
    azemu_cmd = [sys.executable, "-m", "azemu", "exec", "-q"]
    res = {"params": vars(a), "qemu": bool(qemu), "programs": {}, "raw": {}}
    from rich.console import Console
    from rich.table import Table
    console = Console(width=130)
    if a.only_two_cpus:
        console.print(two_cpus_table(two_cpus(a, qemu, azemu_cmd), a.repeat))
        return 0
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
    res["two_cpus"] = two_cpus(a, qemu, azemu_cmd)

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
    console.print(two_cpus_table(res["two_cpus"], a.repeat))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def two_cpus(a, qemu, azemu_cmd) -> dict:
    """Part 4, each the median of --repeat."""
    runs = [two_cpus_at_once(a.adds) for _ in range(a.repeat)]
    bare = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    bare["shared_counts"] = [r["shared_count"] for r in runs]
    prog = os.path.join(ROOT, "guest_bins/bin/glibc/lost_update")
    args = [prog, "2", str(a.adds // 10)]
    ways = {"native": args, "azemu, 2 cores": azemu_cmd + ["--cores", "2"] + args}
    if qemu:
        ways["qemu-user"] = [qemu] + args
    lost = {}
    for name, cmd in ways.items():
        rs = [cpus_used(cmd) for _ in range(a.repeat)]
        lost[name] = {"wall_s": statistics.median(r[0] for r in rs),
                      "cpus": statistics.median(r[1] for r in rs),
                      "exact": all(r[2] == 0 for r in rs)}
    return {"adds": a.adds, "bare_unicorn": bare, "lost_update": {"iters": a.adds // 10, **lost}}


def two_cpus_table(r: dict, repeat: int):
    from rich.table import Table
    b, n = r["bare_unicorn"], r["adds"]
    t = Table(title=f"two CPUs at once (median of {repeat}): {n:,} `lock add` per instance on a bare "
                    f"Unicorn; lost_update 2 {r['lost_update']['iters']:,}")
    for col in ("run", "seconds", "CPUs used", "counted / expected"):
        t.add_column(col, justify="right")
    t.add_row("bare Unicorn, one instance", f"{b['one_s']:.2f}", "1", "-")
    t.add_row("bare Unicorn, two at once, a counter each", f"{b['two_apart_s']:.2f}",
              f"{2 * b['one_s'] / b['two_apart_s']:.2f}", "-")
    t.add_row("bare Unicorn, two at once, one shared counter", f"{b['two_shared_s']:.2f}", "-",
              ", ".join(f"{c / b['expected']:.0%}" for c in b["shared_counts"]))
    for name in ("native", "qemu-user", "azemu, 2 cores"):
        x = r["lost_update"].get(name)
        if x:
            t.add_row(f"lost_update, {name}", f"{x['wall_s']:.2f}", f"{x['cpus']:.2f}",
                      "exact" if x["exact"] else "LOST")
    return t


def _wall_status(prog: str, arg: int, path: str | None = None) -> float:
    """Wall time of a raw program (which exits with its checksum byte)."""
    cmd = [prog, path, str(arg)] if path else [prog, str(arg)]
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
