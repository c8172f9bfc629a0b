"""The machine-wide part of the guest's /proc, and its /dev and /sys
(kernels/procfs.py): the emulated machine, never the host.

/proc/cpuinfo lists the partition's emulated cores as their CPUID describes
them; meminfo the partition's physical memory segment (what the guest can
have) and its use; stat, uptime and loadavg the kernel's threads and
counters.  The clocks are the host's (azemu keeps none of its own: the
guest reads CLOCK_BOOTTIME from the host too), so uptime and a process's
start time agree with the guest's clock_gettime.  The load average is the
number of runnable guest threads, averaged the way Linux does (1, 5 and 15
minute exponential decay) over the moments it was sampled: when a guest
reads it.
"""
from __future__ import annotations

import math
import os
import time

from .abi import linux as L
from .procfs import DEVICE, DEVICES, HOST, Entries, Node, dir_node, file_node, link_node
from .procfs_files import process_dir

PID_MAX = 4194304                 # Linux's default on 64-bit (kernel/pid.c)
def _uuid4() -> str:
    """A random UUID, as /proc/sys/kernel/random/uuid gives (uuid's format
    from os.urandom: importing uuid costs 2 ms of every start-up)."""
    b = bytearray(os.urandom(16))
    b[6], b[8] = (b[6] & 0x0F) | 0x40, (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_BOOT_ID = _uuid4()


def proc_root(p) -> Node:
    k = p.kernel
    e = {}
    for pid in sorted(k.procs.by_pid) if k is not None else [p.pid]:
        who = k.procs.get(pid) if k is not None else p.proc
        if who is not None:
            e[b"%d" % pid] = (L.DT_DIR, lambda who=who: process_dir(p, who, b"/proc/%d" % who.pid))

    def made(name, maker):
        return (L.DT_REG, lambda: file_node(b"/proc/" + name, maker(p)))
    e.update({
        b"self": (L.DT_LNK, lambda: link_node(b"/proc/self", b"%d" % p.pid, b"/proc/%d" % p.pid)),
        b"thread-self": (L.DT_LNK, lambda: link_node(
            b"/proc/thread-self", b"%d/task/%d" % (p.pid, p.tid), b"/proc/%d/task/%d" % (p.pid, p.tid))),
        b"mounts": (L.DT_LNK, lambda: link_node(b"/proc/mounts", b"self/mounts", b"/proc/self/mounts")),
        b"cpuinfo": made(b"cpuinfo", cpuinfo), b"meminfo": made(b"meminfo", meminfo),
        b"stat": made(b"stat", stat), b"uptime": made(b"uptime", uptime),
        b"loadavg": made(b"loadavg", loadavg), b"version": made(b"version", version),
        b"filesystems": made(b"filesystems", lambda p: b"nodev\tproc\nnodev\tsysfs\nnodev\ttmpfs\n"
                             b"nodev\tdevtmpfs\n\tazemu\n"),
        b"cmdline": made(b"cmdline", lambda p: b"azemu\n"),
        b"sys": (L.DT_DIR, lambda: _tree(b"/proc/sys", _sysctl(p)))})
    return dir_node(b"/proc", Entries(e, lambda name: _hidden_thread(p, name)))


def _hidden_thread(p, name: bytes):
    """/proc/TID of a thread that leads no process: not listed, but there."""
    k = p.kernel
    t = k.shared.tasks.get(int(name)) if k is not None and name.isdigit() else None
    if t is None or t.tid == t.proc.pid:
        return None
    return (L.DT_DIR, lambda: process_dir(p, t.proc, b"/proc/" + name, t))


def _tree(path, spec) -> Node:
    """A directory of fixed files (bytes) and subdirectories (dicts)."""
    e = {}
    for name, v in spec.items():
        sub = path + b"/" + name
        if isinstance(v, dict):
            e[name] = (L.DT_DIR, lambda sub=sub, v=v: _tree(sub, v))
        else:
            e[name] = (L.DT_REG, lambda sub=sub, v=v: file_node(sub, v() if callable(v) else v,
                                                                mode=0o100644))
    return dir_node(path, e)


def _sysctl(p) -> dict:
    u = os.uname()
    return {b"kernel": {b"osrelease": u.release.encode() + b"\n", b"ostype": b"Linux\n",
                        b"version": u.version.encode() + b"\n",
                        b"hostname": u.nodename.encode() + b"\n", b"domainname": b"(none)\n",
                        b"pid_max": b"%d\n" % PID_MAX, b"threads-max": b"%d\n" % PID_MAX,
                        b"ngroups_max": b"65536\n", b"cap_last_cap": b"40\n",
                        b"random": {b"boot_id": _BOOT_ID.encode() + b"\n",
                                    b"uuid": lambda: _uuid4().encode() + b"\n"}},
            b"fs": {b"nr_open": b"1048576\n", b"file-max": b"9223372036854775807\n"},
            b"vm": {b"overcommit_memory": b"0\n", b"max_map_count": b"65530\n"}}


def dev_root(p) -> Node:
    def dev(name):
        return (L.DT_CHR, lambda: Node(DEVICE, name, b"/dev/" + name, 0o20666))

    def link(name, target):
        return (L.DT_LNK, lambda: link_node(b"/dev/" + name, target, target))
    e = {name: dev(name) for name in DEVICES}
    e.update({b"fd": link(b"fd", b"/proc/self/fd"), b"stdin": link(b"stdin", b"/proc/self/fd/0"),
              b"stdout": link(b"stdout", b"/proc/self/fd/1"),
              b"stderr": link(b"stderr", b"/proc/self/fd/2"),
              b"shm": (L.DT_DIR, lambda: Node(HOST, b"/dev/shm", b"/dev/shm")),
              b"pts": (L.DT_DIR, lambda: _pts(p))})
    return dir_node(b"/dev", e, mode=0o40755)


def _pts(p) -> Node:
    """/dev/pts: the host terminal the guest was given, and those it opened
    through /dev/ptmx (the FWK checks which, kernels/fwk/server_model.py)."""
    def pty(name):
        if name.isdigit():
            return (L.DT_CHR, lambda: Node(DEVICE, b"pts/" + name, b"/dev/pts/" + name, 0o20620))
        return None
    e = Entries({b"ptmx": (L.DT_CHR, lambda: Node(DEVICE, b"ptmx", b"/dev/pts/ptmx", 0o20666))}, pty)
    return dir_node(b"/dev/pts", e, mode=0o40755)


def sys_root(p) -> Node:
    n = _ncores(p)
    span = b"0-%d\n" % (n - 1) if n > 1 else b"0\n"
    cpus = {b"online": span, b"possible": span, b"present": span, b"kernel_max": b"8191\n"}
    cpus.update({b"cpu%d" % i: {b"online": b"1\n"} for i in range(n)})
    return _tree(b"/sys", {b"devices": {b"system": {b"cpu": cpus}}})


# ---- /proc's machine-wide files ----------------------------------------------------------

def _ncores(p) -> int:
    return p.kernel.ncores if p.kernel is not None else 1


def cpuinfo(p) -> bytes:
    core = p.kernel.core if p.kernel is not None else None
    cpuid = core.cpuid if core is not None and hasattr(core, "cpuid") else (lambda leaf: (0, 0, 0, 0))
    _, b, c, d = cpuid(0)
    vendor = b"".join(x.to_bytes(4, "little") for x in (b, d, c)).decode(errors="replace").strip("\0")
    eax, _, ecx, edx = cpuid(1)
    family, model, stepping = (eax >> 8) & 0xF, (eax >> 4) & 0xF, eax & 0xF
    if family == 0xF:
        family += (eax >> 20) & 0xFF
    if family in (6, 0xF):
        model += ((eax >> 16) & 0xF) << 4
    brand = b"".join(x.to_bytes(4, "little") for leaf in (0x80000002, 0x80000003, 0x80000004)
                     for x in cpuid(leaf)).split(b"\0")[0].decode(errors="replace").strip()
    flags = " ".join(name for bit, name in _EDX if edx >> bit & 1) + " " + \
        " ".join(name for bit, name in _ECX if ecx >> bit & 1)
    n = _ncores(p)
    out = []
    for i in range(n):
        out.append(f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\n"
                   f"model\t\t: {model}\nmodel name\t: {brand or 'azemu emulated x86-64'}\n"
                   f"stepping\t: {stepping}\nphysical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\n"
                   f"cpu cores\t: {n}\napicid\t\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\n"
                   f"cpuid level\t: {cpuid(0)[0]}\nwp\t\t: yes\nflags\t\t: {flags.strip()}\n"
                   f"clflush size\t: 64\ncache_alignment\t: 64\n"
                   f"address sizes\t: 48 bits physical, 48 bits virtual\npower management:\n\n")
    return "".join(out).encode()


_EDX = [(0, "fpu"), (1, "vme"), (2, "de"), (3, "pse"), (4, "tsc"), (5, "msr"), (6, "pae"), (7, "mce"),
        (8, "cx8"), (9, "apic"), (11, "sep"), (12, "mtrr"), (13, "pge"), (14, "mca"), (15, "cmov"),
        (16, "pat"), (17, "pse36"), (19, "clflush"), (23, "mmx"), (24, "fxsr"), (25, "sse"),
        (26, "sse2"), (28, "ht")]
_ECX = [(0, "pni"), (1, "pclmulqdq"), (9, "ssse3"), (12, "fma"), (13, "cx16"), (19, "sse4_1"),
        (20, "sse4_2"), (22, "movbe"), (23, "popcnt"), (25, "aes"), (26, "xsave"), (28, "avx"),
        (29, "f16c"), (30, "rdrand")]


def memory(p) -> dict:
    """The partition's memory in KiB: what meminfo and sysinfo report."""
    phys = p.kernel.part.memory if p.kernel is not None else None
    total = phys.size // 1024 if phys is not None else 0
    used = phys.used // 1024 if phys is not None else 0
    cached = sum(getattr(c, "size", 0) for c in list(p.kernel.page_cache.values())) // 1024 \
        if p.kernel is not None else 0
    return {"MemTotal": total, "MemFree": max(total - used, 0),
            "MemAvailable": max(total - used + cached, 0), "Buffers": 0, "Cached": cached,
            "SwapCached": 0, "SwapTotal": 0, "SwapFree": 0, "Shmem": 0,
            "CommitLimit": total, "Committed_AS": (phys.committed // 1024) if phys is not None else 0}


def meminfo(p) -> bytes:
    return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in memory(p).items()).encode()


def stat(p) -> bytes:
    k = p.kernel
    n = _ncores(p)
    busy = [0] * n
    tasks = list(k.sched.tasks.values()) if k is not None else []
    for t in tasks:
        busy[t.sched.core % n] += t.sched.cpu_ns * 100 // 1_000_000_000
    total = sum(busy)
    lines = [f"cpu  {total} 0 0 0 0 0 0 0 0 0"] + [f"cpu{i} {b} 0 0 0 0 0 0 0 0 0" for i, b in enumerate(busy)]
    running = sum(1 for t in tasks if t.sched.state == "runnable")
    blocked = sum(1 for t in tasks if t.sched.state == "blocked")
    lines += ["intr 0", f"ctxt {sum(t.sched.nvcsw + t.sched.nivcsw for t in tasks)}",
              f"btime {int(time.time() - time.clock_gettime(time.CLOCK_BOOTTIME))}",
              f"processes {len(k.procs.by_pid) if k is not None else 1}",
              f"procs_running {running}", f"procs_blocked {blocked}", "softirq 0"]
    return ("\n".join(lines) + "\n").encode()


def uptime(p) -> bytes:
    up = time.clock_gettime(time.CLOCK_BOOTTIME)
    return f"{up:.2f} {0.0:.2f}\n".encode()


class LoadAverage:
    """Runnable guest threads, decayed over 1, 5 and 15 minutes (Linux's
    calc_global_load), sampled when read."""

    def __init__(self):
        self.loads = [0.0, 0.0, 0.0]
        self.when = time.monotonic()

    def sample(self, running: int) -> list[float]:
        now = time.monotonic()
        dt, self.when = now - self.when, now
        for i, minutes in enumerate((1, 5, 15)):
            e = math.exp(-dt / (60 * minutes))
            self.loads[i] = self.loads[i] * e + running * (1 - e)
        return self.loads


def load_of(p) -> tuple[list[float], int, int]:
    """(load averages, runnable threads, all threads) of the machine."""
    k = p.kernel
    if k is None:
        return [0.0] * 3, 1, 1
    tasks = [t for t in k.sched.tasks.values() if t.sched.state != "exited"]
    running = sum(1 for t in tasks if t.sched.state == "runnable")
    m = k.machine
    if not hasattr(m, "load_average"):
        m.load_average = LoadAverage()
    return m.load_average.sample(running), running, len(tasks)


def loadavg(p) -> bytes:
    loads, running, total = load_of(p)
    last = getattr(p.kernel.machine, "last_id", p.pid) if p.kernel is not None else p.pid
    return f"{loads[0]:.2f} {loads[1]:.2f} {loads[2]:.2f} {running}/{total} {last}\n".encode()


def version(p) -> bytes:
    u = os.uname()
    return f"Linux version {u.release} (azemu) (emulated by azemu) {u.version}\n".encode()
