"""Scheduling calls (Linux kernel/sched/core.c).  A process runs on the cores
its kernel instance gives it; affinity reports exactly those."""
from __future__ import annotations

from ..abi.linux_errno import EINVAL, ESRCH
from ..errors import LinuxError
from .util import s32


def sched_yield(p):
    if p.kernel.sched.several_runnable():
        p.kernel.sched.yield_(p)             # the core moves on to its next thread
    return 0


def _check(p, pid):
    if s32(pid) not in (0, p.pid, p.tid) and s32(pid) not in p.kernel.sched.tasks:
        raise LinuxError(ESRCH)


def sched_getaffinity(p, pid, cpusetsize, mask):
    _check(p, pid)
    ncores = p.kernel.ncores if p.kernel else 1
    nbytes = max(8, (ncores + 63) // 64 * 8)
    if cpusetsize < nbytes or cpusetsize & 7:
        raise LinuxError(EINVAL)
    bits = (1 << ncores) - 1
    p.mm.write(mask, bits.to_bytes(nbytes, "little"))
    return nbytes


def sched_setaffinity(p, pid, cpusetsize, mask):
    _check(p, pid)
    raw = p.mm.read(mask, min(cpusetsize, 128))
    ncores = p.kernel.ncores if p.kernel else 1
    bits = int.from_bytes(raw, "little") & ((1 << ncores) - 1)
    if not bits:
        raise LinuxError(EINVAL)
    return 0                                  # placement stays the kernel's choice


def getcpu(p, cpu, node, cache):
    core = p.core.index if p.core else 0
    if cpu:
        p.mm.write(cpu, core.to_bytes(4, "little"))
    if node:
        p.mm.write(node, bytes(4))
    return 0
