#!/usr/bin/env python3
"""The FWK offload channel, quiet and on an oversubscribed host, in one run (issues #4, #12).

Every measure is taken twice: on the host as it is ("quiet"), and with one
CPU hog (a busy-looping process) pinned on each host CPU ("busy"), so that
the emulator and its proxy compete for every CPU as on a shared machine.

1. Round trip of a small offloaded call: guest_bins/bin/glibc/offload_loop
   (lseek(fd, 0, SEEK_CUR) N times) on the lwk kernel, whose file calls go to
   the FWK proxy process, with each wait policy (spin, block, and the
   adaptive spin-then-block default), against the same call served
   in-process by the monolithic linux kernel.  Per call: (t(N) - t(0)) / N of
   the emulator run; and the channel's round trips as the client timed them
   (median, p99).
2. Small-block I/O: busybox `dd if=FILE of=/dev/null bs=64 count=N` in lwk
   against linux mode: two offloaded calls per block in lwk, none in linux;
   and the CPU time of each run in the emulator and in its proxy (on a busy
   host the wall time follows it: the two share a CPU with a hog).
3. Bulk reads: a file read by guest_bins/bin/glibc/readfile through the
   proxy, with cat's own 128 KiB reads and with 4 MiB reads, against `cat
   FILE > /dev/null` natively (the page cache warm for both); and the same
   128 KiB reads served in-process by linux mode.  Whole runs, and the
   reading alone: each run less the same program's run on an empty file
   (for the emulator, mostly the JIT translating the C library's start-up;
   for cat, its exec), as the per-call figures of 1. are taken.
4. Start-up: how long a kernel instance waits for its proxy: the FWK service
   started cold, and a worker forked by a running service.

Targets (issue #12): round trip median <= 10 µs quiet and <= 100 µs busy
(with the default policy); bulk reads with cat's block size >= 0.5x native
quiet; dd in lwk within 3x of linux in both states; a proxy ready within 0.15 s.

    python benchmarks/offload.py [--calls 20000] [--busy-calls 2000] [--size-mib 256]
                                 [--repeat 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
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
POLICIES = ("spin", "spin-then-block", "block")
STATES = ("quiet", "busy")


def busybox():
    for cand in (os.path.join(ROOT, ".cache/busybox/busybox"), shutil.which("busybox")):
        if cand and os.path.exists(cand):
            return cand
    return None


@contextlib.contextmanager
def load(state):
    """Nothing, or one busy-looping process on each host CPU (pinned there:
    left to the load balancer, two hogs sometimes share a CPU and the other
    runs the emulator as on a quiet host, so a run measured a different
    load from one repeat to the next)."""
    hogs = []
    if state == "busy":
        for cpu in sorted(os.sched_getaffinity(0)):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                         preexec_fn=lambda cpu=cpu: os.sched_setaffinity(0, {cpu})))
        time.sleep(0.3)
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def cpu_ns(pid):
    """CPU time of a process's threads so far, in ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def run(mode, path, args, policy=None, cpu=None):
    """(seconds of the run, round-trip times in ns); the guest's stderr to
    /dev/null too.  With `cpu` (a list), appends the CPU seconds the run took
    in this process and in its FWK proxy (0 in linux mode)."""
    null, saved = os.open(os.devnull, os.O_WRONLY), os.dup(2)
    os.dup2(null, 2)
    at = {}

    def make():
        k = Kernel(mode=mode, memory=256 << 20, fwk_policy=policy)
        at["proxy"] = getattr(k.io_backend, "pid", None)
        at["start"] = (cpu_ns(os.getpid()), cpu_ns(at["proxy"]) if at["proxy"] else 0)
        return k
    try:
        k, dt, out = timed_run(make, path, args)
        end = (cpu_ns(os.getpid()), cpu_ns(at["proxy"]) if at["proxy"] else 0)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    if cpu is not None:
        cpu.append(((end[0] - at["start"][0]) / 1e9, (end[1] - at["start"][1]) / 1e9))
    rtt = [x for core in getattr(k.io_backend, "rtt_ns", []) for x in core]
    k.close()
    assert out.exit_status == 0, out
    return dt, rtt


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def startup_times(repeat):
    """(cold: a new service and its first worker, warm: another worker) in s."""
    code = ("import time; t = time.perf_counter()\n"
            "from azemu.physmem import PhysicalMemory\n"
            "from kernels.fwk.client import FWKClient\n"
            "phys = PhysicalMemory(64 << 20, 'x')\n"
            "t = time.perf_counter(); c = FWKClient(phys, 1); cold = time.perf_counter() - t\n"
            "t = time.perf_counter(); d = FWKClient(phys, 1); warm = time.perf_counter() - t\n"
            "c.close(); d.close(); print(cold, warm)")
    cold, warm = [], []
    env = dict(os.environ, PYTHONPATH=ROOT)
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        cold.append(float(out[0]))
        warm.append(float(out[1]))
    return summary(cold), summary(warm)


def measure(a, tmp, big, empty, bb, state, prog, task):
    calls = a.calls if state == "quiet" else a.busy_calls
    res = {"calls": calls, "round_trip": {}, "dd": {}, "bulk": {}}
    variants = [("linux (in-process)", "linux", None)] + [(f"lwk, {p}", "lwk", p) for p in POLICIES]
    per = {n: [] for n, *_ in variants}
    rtts = {n: [] for n, *_ in variants}
    dd = {"linux": [], "lwk": []}
    dd_cpu = {"linux": [], "lwk": []}       # (emulator, proxy) CPU seconds of each dd run
    native, emu_4m, emu_128k, linux_128k = [], [], [], []
    native0, emu0 = [], []                 # the same programs reading an empty file: start and end
    with load(state):
        for _ in range(a.repeat):
            for name, mode, policy in variants:
                t0, _ = run(mode, LOOP, ["0", tmp], policy)
                tn, rtt = run(mode, LOOP, [str(calls), tmp], policy)
                per[name].append((tn - t0) / calls * 1e6)
                rtts[name] += rtt
                prog.advance(task)
            if bb:
                for mode in ("linux", "lwk"):
                    dd[mode].append(run(mode, bb, ["dd", f"if={big}", "of=/dev/null", "bs=64",
                                                   f"count={a.dd_blocks}"], cpu=dd_cpu[mode])[0])
            for f, out in ((big, native), (empty, native0)):
                t = time.perf_counter()
                subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)
                out.append(time.perf_counter() - t)
            emu0.append(run("lwk", READ, [empty, str(128 << 10)])[0])
            emu_128k.append(run("lwk", READ, [big, str(128 << 10)])[0])
            emu_4m.append(run("lwk", READ, [big, str(4 << 20)])[0])
            linux_128k.append(run("linux", READ, [big, str(128 << 10)])[0])
            prog.advance(task)
    for name, *_ in variants:
        r = sorted(rtts[name])
        res["round_trip"][name] = {
            "per_call_us": summary(per[name]),
            "channel_rtt_us": ({"median": statistics.median(r) / 1000,
                                "p99": r[int(len(r) * 0.99)] / 1000, "samples": len(r)}
                               if len(r) >= 100 else None)}
    if bb:
        res["dd"] = {"blocks": a.dd_blocks, "linux_s": summary(dd["linux"]), "lwk_s": summary(dd["lwk"]),
                     "ratio": statistics.median(dd["lwk"]) / statistics.median(dd["linux"]),
                     # where the time went: CPU of the emulator and of its proxy, and their
                     # sum against linux mode's (on a busy host, the wall ratio follows it)
                     "cpu_s": {m: {"emulator": statistics.median(c[0] for c in dd_cpu[m]),
                                   "proxy": statistics.median(c[1] for c in dd_cpu[m]),
                                   "both": statistics.median(c[0] + c[1] for c in dd_cpu[m])}
                               for m in dd_cpu}}
        res["dd"]["cpu_ratio"] = res["dd"]["cpu_s"]["lwk"]["both"] / res["dd"]["cpu_s"]["linux"]["both"]
    mib = a.size_mib
    n0, e0 = statistics.median(native0), statistics.median(emu0)
    res["bulk"] = {"native_cat_mib_s": summary([mib / x for x in native]),
                   "lwk_proxy_128k_mib_s": summary([mib / x for x in emu_128k]),
                   "lwk_proxy_4m_mib_s": summary([mib / x for x in emu_4m]),
                   "linux_128k_mib_s": summary([mib / x for x in linux_128k]),
                   # the reading alone: each run less the same program's run on an empty file
                   "empty_file_s": {"native_cat": n0, "lwk_readfile": e0},
                   "native_cat_reading_mib_s": summary([mib / (x - n0) for x in native]),
                   "lwk_proxy_128k_reading_mib_s": summary([mib / (x - e0) for x in emu_128k])}
    b = res["bulk"]
    for key in ("lwk_proxy_128k_mib_s", "lwk_proxy_4m_mib_s", "linux_128k_mib_s"):
        b[key]["vs_native"] = b[key]["median"] / b["native_cat_mib_s"]["median"]
    b["lwk_proxy_128k_reading_mib_s"]["vs_native"] = (b["lwk_proxy_128k_reading_mib_s"]["median"]
                                                      / b["native_cat_reading_mib_s"]["median"])
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20_000, help="offloaded calls per run, quiet")
    ap.add_argument("--busy-calls", type=int, default=2_000, help="offloaded calls per run, busy")
    ap.add_argument("--dd-blocks", type=int, default=5_000)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    from rich.console import Console
    from rich.progress import Progress
    console = Console(width=120)
    results = {"params": vars(a), "host_cpus": len(os.sched_getaffinity(0))}
    bb = busybox()
    with tempfile.TemporaryDirectory() as tmp:
        big, empty = os.path.join(tmp, "big.bin"), os.path.join(tmp, "empty")
        open(empty, "wb").close()
        chunk = os.urandom(1 << 20)
        with open(big, "wb") as f:
            for _ in range(a.size_mib):
                f.write(chunk)
        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("offload benchmark", total=len(STATES) * a.repeat * 5 + 1)
            for state in STATES:
                results[state] = measure(a, tmp, big, empty, bb, state, prog, task)
            cold, warm = startup_times(max(3, a.repeat))
            results["startup_s"] = {"cold_service": cold, "warm_worker": warm}
            prog.advance(task)
    report(console, results)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def report(console, results):
    from rich.table import Table
    t = Table(title="small offloaded call (lseek): emulator µs per call and the channel's round trip")
    for col in ("served by", *(f"{s} µs/call" for s in STATES), *(f"{s} round trip median / p99" for s in STATES)):
        t.add_column(col)
    for name in results["quiet"]["round_trip"]:
        cells = [f"{results[s]['round_trip'][name]['per_call_us']['median']:.2f}" for s in STATES]
        for s in STATES:
            rt = results[s]["round_trip"][name]["channel_rtt_us"]
            cells.append(f"{rt['median']:.1f} / {rt['p99']:.1f} µs" if rt else "(no channel)")
        t.add_row(name, *cells)
    console.print(t)
    if results["quiet"]["dd"]:
        t = Table(title="busybox dd bs=64 (seconds of the run)")
        for col in ("state", "linux", "lwk", "lwk / linux", "CPU s: linux / lwk emulator + proxy",
                    "CPU lwk / linux"):
            t.add_column(col)
        for s in STATES:
            d = results[s]["dd"]
            c = d["cpu_s"]
            t.add_row(s, f"{d['linux_s']['median']:.2f}", f"{d['lwk_s']['median']:.2f}", f"{d['ratio']:.2f}x",
                      f"{c['linux']['both']:.2f} / {c['lwk']['emulator']:.2f} + {c['lwk']['proxy']:.2f}",
                      f"{d['cpu_ratio']:.2f}x")
        console.print(t)
    t = Table(title="bulk reads, MiB/s (vs native cat of the same state); whole runs, "
                    "and the reading alone (less each program's run on an empty file)")
    for col in ("state", "native cat", "lwk, 128 KiB reads", "lwk, 4 MiB reads", "linux, 128 KiB",
                "reading alone: native / lwk 128 KiB"):
        t.add_column(col)

    def cell(b, key):
        return f"{b[key]['median']:.0f} ({b[key]['vs_native']:.2f}x)"
    for s in STATES:
        b = results[s]["bulk"]
        t.add_row(s, f"{b['native_cat_mib_s']['median']:.0f}", cell(b, "lwk_proxy_128k_mib_s"),
                  cell(b, "lwk_proxy_4m_mib_s"), cell(b, "linux_128k_mib_s"),
                  f"{b['native_cat_reading_mib_s']['median']:.0f} / "
                  + cell(b, "lwk_proxy_128k_reading_mib_s"))
    console.print(t)
    st = results["startup_s"]
    console.print(f"proxy ready: cold service {st['cold_service']['median'] * 1000:.0f} ms, "
                  f"warm worker {st['warm_worker']['median'] * 1000:.0f} ms (median)")


if __name__ == "__main__":
    sys.exit(main())
