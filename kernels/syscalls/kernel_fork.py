"""Threads: clone with the thread flags, the thread's exit (Linux
kernel/fork.c, kernel/exit.c), and futexes (kernel/futex/).

Only threads are created: clone must share the address space, files,
signal handlers and thread group (what pthread_create asks for); a new
process (fork, vfork, clone without CLONE_VM) is not offered in this model
of one process per kernel instance.  The new thread gets the caller's
registers with rax = 0, its own stack and TLS, and a core of its own when
one is free (kernels/sched.py places it).  A thread of a libOS image starts
where the libOS call that made it returns (unikernel.LibOS.return_from_call).
"""
from __future__ import annotations

import struct
import time

from azemu.guest_access import GuestFault

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EFAULT, EINVAL, ENOSYS, EPERM, ESRCH
from ..errors import GuestExit, LinuxError
from .util import s32

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_THREAD, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
CLONE_VFORK, CLONE_DETACHED = 0x4000, 0x400000
THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
_KNOWN = (THREAD_FLAGS | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID
          | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED | 0xFF)


def clone(p, flags, newsp, parent_tid, child_tid, tls):
    k = p.kernel
    if not flags & CLONE_THREAD:                 # a new process
        from .proc_fork import clone_process
        return clone_process(p, flags, newsp, parent_tid, child_tid, tls)
    if flags & THREAD_FLAGS != THREAD_FLAGS or flags & ~_KNOWN:
        raise LinuxError(EINVAL)
    regs = p.core.regs.read_all()
    libos = p.libos
    if libos is not None and regs["rip"] == libos.entry:
        libos.return_from_call(regs, p.mm, newsp)    # as if the libOS call returned
    else:
        regs["rip"] += p.core.SYSCALL_INSN_LEN      # the child starts after the syscall
        if newsp:
            regs["rsp"] = newsp
    regs["rax"] = 0
    if flags & CLONE_SETTLS:
        if tls >= L.TASK_SIZE:
            raise LinuxError(EPERM)
        regs["fs_base"] = tls
    child = k.new_thread(p, (regs, p.core.save_fpu()))
    k.set_thread_pointer(child, tls if flags & CLONE_SETTLS else p.fs_base)
    if flags & CLONE_PARENT_SETTID:
        p.mm.write(parent_tid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_SETTID:
        p.mm.write(child_tid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid
    return child.tid


def exit(p, status):
    """The end of one thread; of the process when it was the last."""
    k = p.kernel
    if len(p.proc.tasks) <= 1:                   # the last thread: the process ends
        raise GuestExit(status & 0xFF)
    if p.clear_child_tid:                        # what pthread_join waits on
        try:
            p.mm.write(p.clear_child_tid, bytes(4))
        except Exception:
            pass
        k.sched.wake(futex_key(p, p.clear_child_tid), 1)
    if k.strace is not None:                     # the trace's +++ exited line of the thread
        k.strace.exited(p, GuestExit(status & 0xFF))
    k.sched.exit_task(p)
    from ..errors import Block
    raise Block


# ---- futex ------------------------------------------------------------------------
FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 2, 3, 4
FUTEX_WAKE_OP, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 5, 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF


def futex_key(p, uaddr, private: bool = False):
    """The wait queue of a futex word, as Linux keys it: the address space
    and the address for private memory (or FUTEX_PRIVATE_FLAG), the frame
    for a word in shared memory — so processes mapping it meet there,
    wherever it is mapped, and processes' private words never meet."""
    if not private:
        m = p.mm.find(uaddr)
        if m is not None and m.shared:
            try:
                (at, _), = p.mm.extents(uaddr, 4)
            except (ValueError, GuestFault):
                raise LinuxError(EFAULT) from None
            return ("shared", at)
    return (p.mm, uaddr)


def _word(p, addr):
    if addr & 3:
        raise LinuxError(EINVAL)
    return struct.unpack("<I", p.mm.read(addr, 4))[0]


def _deadline(p, timeout, absolute, realtime):
    if not timeout:
        return None
    sec, nsec = L.TIMESPEC.unpack(p.mm.read(timeout, 16))
    if sec < 0 or not 0 <= nsec < 10**9:
        raise LinuxError(EINVAL)
    t = sec + nsec / 1e9
    if not absolute:
        return time.monotonic() + t
    now = time.time() if realtime else time.monotonic()
    return time.monotonic() + (t - now)


def _wake_op(p, uaddr2, op):
    """FUTEX_WAKE_OP's operation on *uaddr2; returns whether to wake there too."""
    kind, cmp = (op >> 28) & 0xF, (op >> 24) & 0xF
    oparg, cmparg = (op >> 12) & 0xFFF, op & 0xFFF
    if kind & 8:
        oparg = 1 << oparg
        kind &= 7
    old = _word(p, uaddr2)
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(kind)
    if new is None:
        raise LinuxError(ENOSYS)
    p.mm.write(uaddr2, struct.pack("<I", new & 0xFFFFFFFF))
    return {0: old == cmparg, 1: old != cmparg, 2: old < cmparg, 3: old <= cmparg,
            4: old > cmparg, 5: old >= cmparg}.get(cmp, False)


def futex(p, uaddr, op, val, timeout, uaddr2, val3):
    sched = p.kernel.sched
    cmd = s32(op) & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    realtime = bool(s32(op) & FUTEX_CLOCK_REALTIME)
    private = bool(s32(op) & FUTEX_PRIVATE_FLAG)
    val &= 0xFFFFFFFF
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3 & 0xFFFFFFFF
        if not bitset:
            raise LinuxError(EINVAL)
        if _word(p, uaddr) != val:
            raise LinuxError(EAGAIN)
        deadline = _deadline(p, timeout, cmd == FUTEX_WAIT_BITSET, realtime)
        if sched.undisturbed() and deadline is None:
            p.kernel.report_once("futex", "the only thread waits on a futex nothing can wake")
            raise GuestExit(signal=L.SIGKILL)
        sched.wait(p, futex=futex_key(p, uaddr, private), bitset=bitset, deadline=deadline)
    if uaddr & 3:
        raise LinuxError(EINVAL)
    key = futex_key(p, uaddr, private)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3 & 0xFFFFFFFF
        if not bitset:
            raise LinuxError(EINVAL)
        return sched.wake(key, val, bitset)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if cmd == FUTEX_CMP_REQUEUE and _word(p, uaddr) != (val3 & 0xFFFFFFFF):
            raise LinuxError(EAGAIN)
        woken = sched.wake(key, val)
        moved = sched.requeue(key, futex_key(p, uaddr2, private), timeout & 0x7FFFFFFF)
        return woken + moved if cmd == FUTEX_CMP_REQUEUE else woken
    if cmd == FUTEX_WAKE_OP:
        also = _wake_op(p, uaddr2, val3 & 0xFFFFFFFF)
        return sched.wake(key, val) + (
            sched.wake(futex_key(p, uaddr2, private), timeout & 0x7FFFFFFF) if also else 0)
    raise LinuxError(ENOSYS)


def tgkill_target(p, tgid, tid):
    """The thread `tid` of this process, or ESRCH."""
    if tgid != p.pid:
        raise LinuxError(ESRCH)
    t = p.kernel.sched.tasks.get(tid)
    if t is None or t.sched.state == "exited":
        raise LinuxError(ESRCH)
    return t
