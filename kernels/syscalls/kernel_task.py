"""Per-task registrations made by libc at start-up: set_tid_address (Linux
kernel/fork.c), set_robust_list / get_robust_list (kernel/futex/syscalls.c),
rseq (kernel/rseq.c), and the single-threaded subset of futex."""
from __future__ import annotations

import struct

from ..abi.linux_errno import EAGAIN, EINVAL, ENOSYS, ETIMEDOUT
from ..errors import LinuxError
from .util import s32

FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
FUTEX_CMD_MASK = 0x7F          # without FUTEX_PRIVATE_FLAG (128) and CLOCK_REALTIME (256)
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


def futex(p, uaddr, op, val, timeout, uaddr2, val3):
    """With one thread, nobody can wake a waiter: a wait whose value still
    matches would sleep forever natively; here it times out or fails."""
    cmd = s32(op) & FUTEX_CMD_MASK
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        return 0
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        cur = int.from_bytes(p.mm.read(uaddr, 4), "little")
        if cur != (val & 0xFFFFFFFF):
            raise LinuxError(EAGAIN)
        if timeout:
            raise LinuxError(ETIMEDOUT)
        raise LinuxError(35)                      # EDEADLK: it would never wake
    raise LinuxError(ENOSYS)
