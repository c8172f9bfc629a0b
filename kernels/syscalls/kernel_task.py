"""Per-task registrations made by libc at start-up: set_tid_address (Linux
kernel/fork.c), set_robust_list / get_robust_list (kernel/futex/syscalls.c),
rseq (kernel/rseq.c).  Futexes are in kernel_fork.py, with the threads."""
from __future__ import annotations

import struct

from ..abi.linux_errno import EINVAL
from ..errors import LinuxError
from .util import s32

RSEQ_SIZE = 32
RSEQ_FLAG_UNREGISTER = 1


def set_tid_address(p, tidptr):
    p.clear_child_tid = tidptr
    return p.tid


def set_robust_list(p, head, length):
    if length != 24:
        raise LinuxError(EINVAL)
    p.robust_list = (head, length)
    return 0


def get_robust_list(p, pid, head_ptr, len_ptr):
    p.mm.write_u64(head_ptr, p.robust_list[0])
    p.mm.write_u64(len_ptr, p.robust_list[1] or 24)
    return 0


def rseq(p, rseq_addr, rseq_len, flags, sig):
    """Register the restartable-sequence area; the task never migrates between
    cores in the middle of one, so the area only needs its cpu fields set."""
    if flags & RSEQ_FLAG_UNREGISTER:
        if rseq_addr != p.rseq:
            raise LinuxError(EINVAL)
        p.rseq = 0
        return 0
    if rseq_len < RSEQ_SIZE or rseq_addr & 31 or flags:
        raise LinuxError(EINVAL)
    if p.rseq:
        raise LinuxError(16)                      # EBUSY: already registered
    cpu = p.core.index if p.core else 0
    p.mm.write(rseq_addr, struct.pack("<II", cpu, cpu))   # cpu_id_start, cpu_id
    p.rseq = rseq_addr
    return 0
