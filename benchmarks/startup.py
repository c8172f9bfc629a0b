#!/usr/bin/env python3
"""Start-up: how long `azemu exec` of a static hello takes, against the least
a Python emulator on Unicorn can take (issue #8).

In one run, interleaved, each command started --repeat times as a whole
process and timed from outside (wall clock and CPU time, median; ratios are
medians of each run against the bare run of the same round):

  bare        a Python process that imports unicorn, maps the program's
              PT_LOAD segments and a stack, and runs its first instruction:
              the floor for any Python + Unicorn emulator
  linux       azemu exec (the monolithic kernel) of the same program
  lwk, unikernel-binary, unikernel-source
              the same program on the other kernels (these also start the
              FWK proxy process); unikernel-source runs the libOS image
  native, qemu-user   for context, when available

Target: linux at most 1.5x bare.  By default azemu is measured as a user has
it: this tree's wheel installed into a fresh virtual environment outside the
tree (built and installed first, not timed); --python PY measures the azemu
installed for PY instead.  --load N adds N busy processes while measuring (an
oversubscribed host).

    python benchmarks/startup.py [--repeat 15] [--load 0] [--python PY] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = os.path.join(ROOT, "guest_bins/bin/glibc/hello")
HELLO_LIBOS = os.path.join(ROOT, "guest_bins/bin/libos/glibc/hello")

# The floor: import unicorn, map the ELF's loadable segments and a stack, run one instruction.
BARE = r'''
import struct, sys
from unicorn import Uc, UC_ARCH_X86, UC_MODE_64
from unicorn.x86_const import UC_X86_REG_RSP
data = open(sys.argv[1], "rb").read()
entry, phoff = struct.unpack_from("<QQ", data, 24)
phnum = struct.unpack_from("<H", data, 56)[0]
uc = Uc(UC_ARCH_X86, UC_MODE_64)
for i in range(phnum):
    kind, _, off, va, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
    if kind == 1:
        lo, hi = va & ~0xFFF, (va + memsz + 0xFFF) & ~0xFFF
        uc.mem_map(lo, hi - lo)
        uc.mem_write(va, data[off:off + filesz])
uc.mem_map(0x7FFFFFFDE000, 0x21000)
uc.reg_write(UC_X86_REG_RSP, 0x7FFFFFFFE000)
uc.emu_start(entry, 0, count=1)
'''


def fresh_install(tmp: str) -> str:
    """This tree's wheel in a new venv under `tmp`; returns its python."""
    dist, venv = os.path.join(tmp, "dist"), os.path.join(tmp, "venv")
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--disable-pip-version-check", "-w", dist, ROOT], **quiet)
    subprocess.run([sys.executable, "-m", "venv", venv], **quiet)
    wheel = next(os.path.join(dist, n) for n in os.listdir(dist) if n.endswith(".whl"))
    subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                    "--disable-pip-version-check", wheel], **quiet)
    return os.path.join(venv, "bin", "python")


def timed(cmd, env) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one whole run of `cmd`."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {p.returncode}")
    return dt, usage.ru_utime + usage.ru_stime


def busy(n: int):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--load", type=int, default=0, help="busy processes running meanwhile")
    ap.add_argument("--python", help="measure the azemu installed for this python "
                                     "(default: a fresh venv with this tree's wheel)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with tempfile.TemporaryDirectory(prefix="azemu-startup-") as tmp:
        py = a.python or fresh_install(tmp)
        azemu = [os.path.join(os.path.dirname(py), "azemu")]
        cmds = {
            "bare": [py, "-c", BARE, HELLO],
            "linux": azemu + ["exec", HELLO],
            "lwk": azemu + ["exec", "--mode", "lwk", HELLO],
            "unikernel-binary": azemu + ["exec", "--mode", "unikernel", HELLO],
            "unikernel-source": azemu + ["exec", "--mode", "unikernel", HELLO_LIBOS],
            "native": [HELLO],
        }
        if shutil.which("qemu-x86_64"):
            cmds["qemu-user"] = ["qemu-x86_64", HELLO]
        hogs = busy(a.load)
        try:
            for cmd in cmds.values():           # warm the page cache and the .pyc files
                timed(cmd, env)
            runs = {name: [] for name in cmds}
            cpu = {name: [] for name in cmds}
            for _ in range(a.repeat):
                for name, cmd in cmds.items():
                    wall, used = timed(cmd, env)
                    runs[name].append(wall)
                    cpu[name].append(used)
        finally:
            for h in hogs:
                h.kill()
    med = {k: statistics.median(v) for k, v in runs.items()}
    # Ratios pair each run with the bare run of the same round: on a busy host
    # the load drifts, and a pair sees the same load.
    pair = {k: statistics.median(x / b for x, b in zip(v, runs["bare"])) for k, v in runs.items()}
    pair_cpu = {k: statistics.median(x / b for x, b in zip(v, cpu["bare"])) for k, v in cpu.items()}
    res = {"params": {"repeat": a.repeat, "load": a.load, "installed": "given python" if a.python
                      else "fresh venv with this tree's wheel", "cpus": os.cpu_count()},
           "seconds": {k: {"median": med[k], "min": min(v), "max": max(v), "runs": v,
                           "cpu_median": statistics.median(cpu[k]), "vs_bare": pair[k],
                           "cpu_vs_bare": pair_cpu[k]}
                       for k, v in runs.items()},
           "ratio_linux_over_bare": pair["linux"], "cpu_ratio_linux_over_bare": pair_cpu["linux"]}
    print(f"start-up of a static hello, median of {a.repeat} "
          f"({a.load} busy processes; azemu: {res['params']['installed']}):")
    for k, v in runs.items():
        print(f"  {k:18} wall {med[k] * 1000:7.1f} ms  (min {min(v) * 1000:.1f}, "
              f"max {max(v) * 1000:.1f})  {pair[k]:.2f}x bare;  "
              f"cpu {statistics.median(cpu[k]) * 1000:6.1f} ms  {pair_cpu[k]:.2f}x bare")
    r, rc = pair["linux"], pair_cpu["linux"]
    print(f"azemu exec (linux) / bare: {r:.2f}x wall, {rc:.2f}x cpu  "
          f"(target <= 1.5x: {'met' if r <= 1.5 else 'missed'})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
