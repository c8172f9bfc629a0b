#!/usr/bin/env python3
"""How close azemu's syscall path and execution speed are to bare Unicorn.

Measured in one run, on the same machine, same guest binaries:

1. getpid per call, trapped by the `syscall` instruction:
   - azemu: the unikernel's binary-compatibility trap path (kernels/unikernel.py:
     number, table, handler, -errno translation, result, counters — no context
     switch) running guest_bins/bin/raw/getpid_raw; and, for context, the
     linux kernel's trap with a full context switch;
   - floor: the same binary under a bare Unicorn whose raw ctypes hook reads
     rax and writes the pid back — the least any Python-hooked emulator can do;
   - native: the same binary run on the host.
   Per-call figures are (time(N calls) - time(0 calls)) / N, so start-up and
   loading are excluded.
2. A compute-bound loop (guest_bins/bin/raw/compute_raw, registers only, no
   syscalls inside) under azemu and under bare Unicorn.

Targets: azemu's trap path within 1.5x of the floor (issue #2) and within
1.3x (issue #3); the compute loop within 1.2x of bare Unicorn.
Each figure is the median of --repeat runs; min-max shown beside it.

    python benchmarks/syscall_floor.py [--calls 200000] [--iters 30000000] [--repeat 5] [--json FILE]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import unicorn  # noqa: E402
from elftools.elf.elffile import ELFFile  # noqa: E402
from unicorn import x86_const as x86  # noqa: E402
from unicorn.unicorn_py3.unicorn import uclib  # noqa: E402

from kernels import Kernel  # noqa: E402

GETPID = os.path.join(ROOT, "guest_bins/bin/raw/getpid_raw")
COMPUTE = os.path.join(ROOT, "guest_bins/bin/raw/compute_raw")


# ---- the floor: bare Unicorn, minimal raw hook ----------------------------------
_lib = ctypes.CDLL(uclib._name)
_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def bare_unicorn(path: str, arg: int) -> float:
    """Run a no-libc static binary under a bare Unicorn; returns emu seconds."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                lo = seg["p_vaddr"] & ~0xFFF
                hi = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
                uc.mem_map(lo, hi - lo)
                uc.mem_write(seg["p_vaddr"], seg.data())
        entry = elf.header.e_entry
    stack = 0x7FFF00000000
    uc.mem_map(stack, 0x10000)
    sp = stack + 0x8000
    argstr = str(arg).encode() + b"\0"
    uc.mem_write(sp + 0x100, argstr)
    uc.mem_write(sp, (2).to_bytes(8, "little") + (sp + 0x100).to_bytes(8, "little") * 2 + bytes(16))
    uc.reg_write(x86.UC_X86_REG_RSP, sp)
    uch = uc._uch
    buf = ctypes.c_uint64()
    ref = ctypes.byref(buf)
    rr, rw, stop = _lib.uc_reg_read, _lib.uc_reg_write, _lib.uc_emu_stop
    RAX = x86.UC_X86_REG_RAX
    pid = os.getpid()

    def on_syscall(h, ud):               # the minimal raw hook
        rr(uch, RAX, ref)
        if buf.value == 231:
            stop(uch)
            return
        buf.value = pid
        rw(uch, RAX, ref)

    cb = _CB(on_syscall)
    handle = ctypes.c_size_t()
    _lib.uc_hook_add(uch, ctypes.byref(handle), unicorn.UC_HOOK_INSN, cb, None,
                     ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(x86.UC_X86_INS_SYSCALL))
    t = time.perf_counter()
    uc.emu_start(entry, 0xFFFFFFFFFFFFFFFF)
    return time.perf_counter() - t


def azemu(path: str, arg: int, mode: str = "unikernel", memory: int = 64 << 20) -> float:
    """Run under azemu's kernel; returns the seconds of the run (not loading).
    The unikernel mode's binary-compatibility path is azemu's bare trap path:
    no context switch, only the registers the call needs."""
    k = Kernel(mode=mode, memory=memory)
    k.exec(path, [path.encode(), str(arg).encode()], [])
    t = time.perf_counter()
    out = k.run()
    dt = time.perf_counter() - t
    k.close()
    assert out.signal == 0, out
    return dt


def native(path: str, arg: int) -> float:
    t = time.perf_counter()
    subprocess.run([path, str(arg)], check=False)
    return time.perf_counter() - t


def per_call(fn, path, n, repeat):
    """[(t(n) - t(0)) / n] for each repeat, runs of n and 0 interleaved."""
    out = []
    for _ in range(repeat):
        t0 = fn(path, 0)
        tn = fn(path, n)
        out.append((tn - t0) / n)
    return out


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200_000, help="getpid calls per run")
    ap.add_argument("--iters", type=int, default=300_000_000, help="compute loop iterations")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    console = Console(width=110)
    results = {}
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("measuring", total=6)
        results["getpid_native_us"] = summary([x * 1e6 for x in per_call(native, GETPID, a.calls * 5, a.repeat)])
        prog.advance(task)
        results["getpid_floor_us"] = summary([x * 1e6 for x in per_call(bare_unicorn, GETPID, a.calls, a.repeat)])
        prog.advance(task)
        results["getpid_azemu_us"] = summary([x * 1e6 for x in per_call(azemu, GETPID, a.calls, a.repeat)])
        prog.advance(task)
        linux = lambda path, n: azemu(path, n, "linux")  # noqa: E731
        results["getpid_azemu_linux_us"] = summary([x * 1e6 for x in per_call(linux, GETPID, a.calls, a.repeat)])
        prog.advance(task)
        results["compute_floor_s"] = summary([bare_unicorn(COMPUTE, a.iters) for _ in range(a.repeat)])
        prog.advance(task)
        results["compute_azemu_s"] = summary([azemu(COMPUTE, a.iters) for _ in range(a.repeat)])
        prog.advance(task)
    ratio_sys = results["getpid_azemu_us"]["median"] / results["getpid_floor_us"]["median"]
    ratio_cpu = results["compute_azemu_s"]["median"] / results["compute_floor_s"]["median"]
    results["ratio_getpid_azemu_over_floor"] = ratio_sys
    results["ratio_compute_azemu_over_floor"] = ratio_cpu
    results["params"] = vars(a)

    t = Table(title=f"syscall floor: getpid x {a.calls:,}, compute x {a.iters:,}, median of {a.repeat}")
    for col in ("what", "median", "min-max", "vs floor", "target"):
        t.add_column(col)

    def row(name, key, unit, fmt, ratio="", target=""):
        r = results[key]
        t.add_row(name, f"{r['median']:{fmt}} {unit}", f"{r['min']:{fmt}}-{r['max']:{fmt}}", ratio, target)
    row("getpid, native (host)", "getpid_native_us", "µs/call", ".3f")
    row("getpid, bare Unicorn + raw hook (floor)", "getpid_floor_us", "µs/call", ".3f", "1.00x")
    row("getpid, azemu unikernel-binary (trap, no switch)", "getpid_azemu_us", "µs/call", ".3f",
        f"{ratio_sys:.2f}x", "<= 1.3x " + ("[green]met[/]" if ratio_sys <= 1.3 else "[red]missed[/]"))
    ratio_linux = results["getpid_azemu_linux_us"]["median"] / results["getpid_floor_us"]["median"]
    row("getpid, azemu linux (trap, full context switch)", "getpid_azemu_linux_us", "µs/call", ".3f",
        f"{ratio_linux:.2f}x", "(context)")
    row("compute loop, bare Unicorn", "compute_floor_s", "s", ".3f", "1.00x")
    row("compute loop, azemu", "compute_azemu_s", "s", ".3f",
        f"{ratio_cpu:.2f}x", "<= 1.2x " + ("[green]met[/]" if ratio_cpu <= 1.2 else "[red]missed[/]"))
    console.print(t)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
