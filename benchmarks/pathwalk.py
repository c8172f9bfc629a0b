#!/usr/bin/env python3
"""Path walks in the sandbox, measured (issue 12 item 6).

guest_bins/bin/glibc/openmany makes N files in DIR/sub/dir and then, phase
by phase, creates them, opens+fstats+closes them, stats them, fstatats them
relative to the directory, holds them all open, unlinks them — timing each
phase itself.  It runs natively, and under `azemu exec --root DIR` on the
linux kernel (the sandbox in-process) and on the lwk (the sandbox in the FWK
proxy), with the sandbox walking runs of components by openat2 ("openat2")
and one component at a time as before it ("components",
AZEMU_SANDBOX_WALK=components).  Reported: µs per call of each phase, the
medians of --repeat runs, and the whole program's time.

With --strace (needs strace): host system calls per guest call of each phase
(`strace -f -c` of azemu and its proxy, a run with N=0 subtracted), and the
same for `ls -la /usr/bin` (host opens, fstats, closes per guest path call).

Target: the whole program on lwk within 3x of linux.

    python benchmarks/pathwalk.py [--files 2000] [--repeat 5] [--strace] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = os.path.join(ROOT, "guest_bins/bin/glibc/openmany")
PHASES = {"c": "create, write, close", "o": "open, fstat, close", "s": "stat", "a": "fstatat (dir fd)",
          "l": "open all, then close", "u": "unlink"}
WALKS = ("openat2", "components")
# the host calls a path walk makes (what --strace counts as "path calls")
PATH_CALLS = ("openat", "openat2", "open", "newfstatat", "fstat", "statx", "close", "readlinkat",
              "readlink", "fstatfs", "statfs", "getxattr", "lgetxattr")


def _env(walk):
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e["AZEMU_SANDBOX_WALK"] = "components" if walk == "components" else "openat2"
    return e


def _cmd(mode, root, n, phases):
    if mode == "native":
        return [PROG, root, str(n), phases]
    return [sys.executable, "-m", "azemu", "exec", "--mode", mode, "--root", root, PROG, "/", str(n), phases]


def run_once(mode, walk, n, tmp):
    """{phase: seconds} of one run of every phase, in a fresh root."""
    root = tempfile.mkdtemp(dir=tmp)
    try:
        p = subprocess.run(_cmd(mode, root, n, "".join(PHASES)), capture_output=True, env=_env(walk),
                           timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"{mode}/{walk}: {p.stderr.decode(errors='replace')[-500:]}")
        return {line.split()[0]: float(line.split()[2]) for line in p.stdout.decode().splitlines()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _strace_counts(cmd, env) -> dict:
    """{syscall: calls} of `cmd` and its children."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        subprocess.run(["strace", "-f", "-c", "-o", out.name, *cmd], capture_output=True, env=env,
                       timeout=3600)
        counts = {}
        for line in open(out.name):
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m:
                counts[m.group(2)] = int(m.group(1))
        return counts


def _path_calls(counts) -> int:
    return sum(counts.get(c, 0) for c in PATH_CALLS)


def syscalls_per_call(mode, walk, n, tmp):
    """{phase: (host path calls, all host calls) per guest call}: each phase
    alone, with the files it needs made beforehand, minus the same with N=0."""
    out = {}
    for ph in PHASES:
        root = tempfile.mkdtemp(dir=tmp)
        try:
            if ph in "osalu":                                # the files must be there
                subprocess.run(_cmd("native", root, n, "c"), check=True, capture_output=True)
            env = _env(walk)
            full = _strace_counts(_cmd(mode, root, n, ph), env)
            base = _strace_counts(_cmd(mode, root, 0, ph), env)
            out[ph] = ((_path_calls(full) - _path_calls(base)) / n,
                       (sum(full.values()) - sum(base.values())) / n)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return out


def ls_usr_bin(walk):
    """Host path calls per guest path call of `ls -la /usr/bin` (linux mode,
    no --root: the sandbox's root is the host's /)."""
    env = _env(walk)
    base = [sys.executable, "-m", "azemu", "exec", "--mode", "linux"]
    p = subprocess.run(base + ["--strace", "/bin/ls", "-la", "/usr/bin"], capture_output=True, env=env,
                       timeout=600)
    guest = {}
    for line in p.stderr.decode(errors="replace").splitlines():
        m = re.match(r"(?:\[\d+\] )?(\w+)\(", line)
        if m:
            guest[m.group(1)] = guest.get(m.group(1), 0) + 1
    guest_path = sum(guest.get(c, 0) for c in ("statx", "lgetxattr", "getxattr", "readlink", "openat",
                                                "newfstatat", "readlinkat", "access", "faccessat2"))
    full = _strace_counts(base + ["/bin/ls", "-la", "/usr/bin"], env)
    idle = _strace_counts(base + ["/bin/true"], env)
    host = {c: full.get(c, 0) - idle.get(c, 0) for c in PATH_CALLS}
    return {"guest_path_calls": guest_path, "guest_statx": guest.get("statx", 0),
            "host": {c: v for c, v in host.items() if v},
            "host_path_calls": sum(host.values()),
            "per_guest_call": sum(host.values()) / max(guest_path, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--strace", action="store_true", help="count host system calls (slow)")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    if not os.path.exists(PROG):
        sys.exit(f"{PROG} is missing: make -C guest_bins")
    sys.path.insert(0, ROOT)
    from kernels.fwk.sandbox import fast_walks
    if not fast_walks():
        print("note: this host has no usable openat2: both walks are the component walk")
    from rich.console import Console
    from rich.table import Table
    console = Console(width=140)
    variants = [("native", None)] + [(m, w) for w in WALKS for m in ("linux", "lwk")]
    times = {f"{m}/{w}" if w else m: [] for m, w in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeat):
            for m, w in variants:                           # interleaved: load changes hit all alike
                times[f"{m}/{w}" if w else m].append(run_once(m, w or "openat2", a.files, tmp))
            print(f"run {r + 1}/{a.repeat} done", file=sys.stderr)
        counts = {}
        if a.strace and shutil.which("strace"):
            for m, w in variants[1:]:
                counts[f"{m}/{w}"] = syscalls_per_call(m, w, a.files, tmp)
            counts["ls -la /usr/bin"] = {w: ls_usr_bin(w) for w in WALKS}
    med = {k: {ph: statistics.median(run[ph] for run in v) for ph in PHASES} for k, v in times.items()}
    total = {k: statistics.median(sum(run.values()) for run in v) for k, v in times.items()}
    results = {"params": vars(a), "us_per_call": {k: {ph: s / a.files * 1e6 for ph, s in v.items()}
                                                  for k, v in med.items()},
               "program_s": total, "runs": times, "host_syscalls_per_call": counts}
    t = Table(title=f"µs per call, {a.files:,} files, median of {a.repeat} runs")
    t.add_column("phase")
    for k in med:
        t.add_column(k, justify="right")
    t.add_column("lwk/linux (openat2)", justify="right")
    for ph, what in PHASES.items():
        row = [f"{ph}: {what}"] + [f"{med[k][ph] / a.files * 1e6:.1f}" for k in med]
        row.append(f"{med['lwk/openat2'][ph] / med['linux/openat2'][ph]:.2f}x")
        t.add_row(*row)
    ratio = total["lwk/openat2"] / total["linux/openat2"]
    t.add_row("whole program (s)", *[f"{total[k]:.3f}" for k in med],
              f"{ratio:.2f}x " + ("[green](< 3x: met)[/]" if ratio < 3 else "[red](< 3x: missed)[/]"))
    console.print(t)
    if counts:
        t = Table(title="host system calls per guest call: path calls (open, stat, close...) / all")
        t.add_column("phase")
        keys = [k for k in counts if k != "ls -la /usr/bin"]
        for k in keys:
            t.add_column(k, justify="right")
        for ph, what in PHASES.items():
            t.add_row(f"{ph}: {what}", *[f"{counts[k][ph][0]:.1f} / {counts[k][ph][1]:.1f}" for k in keys])
        console.print(t)
        ls = counts["ls -la /usr/bin"]
        t = Table(title="ls -la /usr/bin on linux, no --root: host path calls")
        for col in ("walk", "guest path calls (statx)", "host path calls", "per guest call", "by call"):
            t.add_column(col)
        for w, v in ls.items():
            t.add_row(w, f"{v['guest_path_calls']} ({v['guest_statx']})", str(v["host_path_calls"]),
                      f"{v['per_guest_call']:.2f}", ", ".join(f"{c} {n}" for c, n in v["host"].items()))
        console.print(t)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
