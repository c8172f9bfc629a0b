"""Memory policy calls that have little to do on azemu's machine (Linux
mm/mlock.c, mm/mempolicy.c, mm/migrate.c, kernel/sched/membarrier.c,
mm/mprotect.c's protection keys).

* Locking: every frame azemu gives stays resident (there is no swap), so
  mlock, mlockall and mlock2 check their arguments and succeed.
* NUMA: the machine's memory is one node (node 0); policies are checked and
  kept per address space, and pages are always on node 0.
* membarrier: the cores of one instance never run guest code at the same
  moment (kernels/sched.py), so every barrier is already there when asked.
* Protection keys: the CPU model has none (CPUID says so): pkey_alloc finds
  no key (ENOSPC), pkey_mprotect with key -1 is mprotect.
"""
from __future__ import annotations

import struct

from ..abi.linux_errno import EFAULT, EINVAL, ENOMEM, ENOSPC
from ..errors import LinuxError
from .util import s32

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
MLOCK_ONFAULT = 1
MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL = 0, 1, 2, 3, 4
MPOL_PREFERRED_MANY = 5
MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED = 1, 2, 4
MEMBARRIER_CMD_QUERY = 0
# GLOBAL, GLOBAL_EXPEDITED (+ register), PRIVATE_EXPEDITED (+ register),
# PRIVATE_EXPEDITED_SYNC_CORE (+ register), PRIVATE_EXPEDITED_RSEQ (+ register)
MEMBARRIER_SUPPORTED = 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 256


def mlockall(p, flags):
    flags = s32(flags)
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise LinuxError(EINVAL)
    return 0


def munlockall(p):
    return 0


def mlock2(p, addr, length, flags):
    if s32(flags) & ~MLOCK_ONFAULT:
        raise LinuxError(EINVAL)
    if length and not p.mm.fully_mapped(addr & ~0xFFF, (addr + length + 0xFFF) & ~0xFFF):
        raise LinuxError(ENOMEM)
    return 0


def membarrier(p, cmd, flags, cpu_id):
    cmd = s32(cmd)
    if s32(flags) & ~1:
        raise LinuxError(EINVAL)
    if cmd == MEMBARRIER_CMD_QUERY:
        return MEMBARRIER_SUPPORTED
    if cmd & (cmd - 1) or not cmd & MEMBARRIER_SUPPORTED:
        raise LinuxError(EINVAL)
    return 0


# ---- NUMA: one node ------------------------------------------------------------------
def _nodes(p, nodemask, maxnode) -> int:
    """The node mask the call names (bits past maxnode ignored); EINVAL for
    a node the machine does not have."""
    if not nodemask or not maxnode:
        return 0
    nbytes = min((maxnode + 63) // 64 * 8, 4096)
    try:
        bits = int.from_bytes(p.mm.read(nodemask, nbytes), "little") & ((1 << maxnode) - 1)
    except LinuxError:
        raise LinuxError(EFAULT) from None
    if bits & ~1:
        raise LinuxError(EINVAL)
    return bits


def _check_mode(p, mode: int, nodes: int) -> int:
    base = mode & 0xFFFF
    if base not in (MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL,
                    MPOL_PREFERRED_MANY):
        raise LinuxError(EINVAL)
    if base in (MPOL_DEFAULT, MPOL_LOCAL) and nodes:
        raise LinuxError(EINVAL)
    if base in (MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED_MANY) and not nodes:
        raise LinuxError(EINVAL)
    return base


def set_mempolicy(p, mode, nodemask, maxnode):
    p.mm.numa_policy = (_check_mode(p, s32(mode), _nodes(p, nodemask, maxnode)), 1)
    return 0


def mbind(p, addr, length, mode, nodemask, maxnode, flags):
    if addr & 0xFFF or s32(flags) & ~7:
        raise LinuxError(EINVAL)
    _check_mode(p, s32(mode), _nodes(p, nodemask, maxnode))
    if length and not p.mm.fully_mapped(addr, (addr + length + 0xFFF) & ~0xFFF):
        raise LinuxError(EFAULT)
    return 0


def get_mempolicy(p, mode, nodemask, maxnode, addr, flags):
    flags = s32(flags)
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        raise LinuxError(EINVAL)
    if flags & MPOL_F_MEMS_ALLOWED and flags & (MPOL_F_NODE | MPOL_F_ADDR):
        raise LinuxError(EINVAL)
    if flags & MPOL_F_ADDR and p.mm.find(addr) is None:
        raise LinuxError(EFAULT)
    policy, nodes = getattr(p.mm, "numa_policy", (MPOL_DEFAULT, 0))
    if mode:
        value = 0 if flags & MPOL_F_NODE else (MPOL_DEFAULT if flags & MPOL_F_ADDR else policy)
        p.mm.write(mode, struct.pack("<i", value))
    if nodemask:
        if maxnode < 1:
            raise LinuxError(EINVAL)
        nbytes = (maxnode + 63) // 64 * 8
        bits = 1 if flags & MPOL_F_MEMS_ALLOWED or nodes else 0
        p.mm.write(nodemask, bits.to_bytes(nbytes, "little"))
    return 0


def migrate_pages(p, pid, maxnode, old_nodes, new_nodes):
    _nodes(p, old_nodes, maxnode)
    _nodes(p, new_nodes, maxnode)
    return 0                                     # nothing is on another node


def move_pages(p, pid, count, pages, nodes, status, flags):
    if s32(flags) & ~6:
        raise LinuxError(EINVAL)
    if count and status:
        addrs = struct.unpack(f"<{count}Q", p.mm.read(pages, 8 * count))
        want = struct.unpack(f"<{count}i", p.mm.read(nodes, 4 * count)) if nodes else (0,) * count
        out = []
        for a, n in zip(addrs, want):
            if n not in (0,):
                out.append(-19)                  # -ENODEV: no such node
            elif p.mm.find(a) is None:
                out.append(-14)                  # -EFAULT
            else:
                out.append(0)
        p.mm.write(status, struct.pack(f"<{count}i", *out))
    return 0


def set_mempolicy_home_node(p, start, length, home_node, flags):
    if s32(flags) or start & 0xFFF or home_node != 0:
        raise LinuxError(EINVAL)
    return 0


# ---- protection keys: none -----------------------------------------------------------
def pkey_alloc(p, flags, access_rights):
    if flags or access_rights & ~3:
        raise LinuxError(EINVAL)
    raise LinuxError(ENOSPC)


def pkey_free(p, pkey):
    raise LinuxError(EINVAL)


def pkey_mprotect(p, addr, length, prot, pkey):
    if s32(pkey) != -1:
        raise LinuxError(EINVAL)
    from .mm_mmap import mprotect
    return mprotect(p, addr, length, prot)
