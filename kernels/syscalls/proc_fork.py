"""New processes: fork, vfork, clone without CLONE_THREAD, clone3 (Linux
kernel/fork.c).

A child is a new `Process` in the same kernel instance (kernels/procs.py):

* its address space is a copy-on-write copy of the parent's
  (AddressSpace.fork: no page is copied until one side writes it) — or the
  parent's own with CLONE_VM (vfork, posix_spawn);
* its fd table refers to the parent's open file descriptions (shared
  offsets and status flags, as after a Linux fork; the FWK serves the same
  host handles to both); CLONE_FILES shares the table itself;
* it gets the parent's working directory (in the FWK), umask, credentials,
  signal dispositions (CLONE_SIGHAND: shared) and the calling thread's mask
  and registers, with rax = 0, and runs on the instance's cores like any
  thread (kernels/sched.py) — a core switching to it loads its page tables.

vfork (CLONE_VFORK) suspends the calling thread until the child execs or
ends.  The child's exit signal is the low byte of the flags (SIGCHLD for
fork).  Threads (CLONE_THREAD) are kernels/syscalls/kernel_fork.py's.

Limits, as Linux's copy_process checks them: EAGAIN past MAX_PROCS
processes in the instance, or when the caller's real user already has
RLIMIT_NPROC processes (root is exempt, as Linux exempts INIT_USER and
CAP_SYS_RESOURCE); ENOMEM when the instance's memory cannot hold the new
page tables.
"""
from __future__ import annotations

import struct

from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EINVAL, ENOMEM
from ..errors import LinuxError
from .kernel_sys import rlimit

from azemu.physmem import OutOfMemory

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED = 0x100000, 0x200000, 0x400000
CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_IO = 0x800000, 0x1000000, 0x80000000
_KNOWN = (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_PIDFD | CLONE_PTRACE
          | CLONE_VFORK | CLONE_PARENT | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID
          | CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED | CLONE_CHILD_SETTID
          | CLONE_IO | 0xFF)
MAX_PROCS = 4096                  # processes per instance (Linux's pid_max is a limit of this kind)
_CLONE_ARGS = struct.Struct("<QQQQQQQQ")        # flags pidfd child_tid parent_tid exit_signal stack stack_size tls


def fork(p):
    return make_process(p, L.SIGCHLD, 0, 0, 0, 0)


def vfork(p):
    return make_process(p, CLONE_VM | CLONE_VFORK | L.SIGCHLD, 0, 0, 0, 0)


def clone_process(p, flags, newsp, parent_tid, child_tid, tls):
    """clone without CLONE_THREAD (kernel_fork.clone sends it here)."""
    return make_process(p, flags, newsp, parent_tid, child_tid, tls)


def clone3(p, args, size):
    if size < 64 or size > 4096:
        raise LinuxError(EINVAL)
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = \
        _CLONE_ARGS.unpack(p.mm.read(args, 64))
    if exit_signal > L.NSIG or flags & 0xFF:
        raise LinuxError(EINVAL)
    if flags & CLONE_THREAD:
        if flags & CLONE_PIDFD:
            raise LinuxError(EINVAL)             # no thread pidfds (Linux before PIDFD_THREAD)
        from .kernel_fork import clone
        return clone(p, flags | exit_signal, stack + stack_size if stack else 0,
                     parent_tid, child_tid, tls)
    return make_process(p, flags | exit_signal, stack + stack_size if stack else 0,
                        parent_tid, child_tid, tls, pidfd_at=pidfd)


def make_process(p, flags, newsp, parent_tid, child_tid, tls, pidfd_at=None) -> int:
    """`pidfd_at`: where clone3 puts the CLONE_PIDFD fd (clone: at parent_tid)."""
    k = p.kernel
    if flags & ~_KNOWN:
        raise LinuxError(EINVAL)
    if flags & CLONE_PIDFD:
        if flags & CLONE_DETACHED or (pidfd_at is None and flags & CLONE_PARENT_SETTID):
            raise LinuxError(EINVAL)             # clone's one pointer cannot take both
        pidfd_at = parent_tid if pidfd_at is None else pidfd_at
        p.mm.write(pidfd_at, b"\xff\xff\xff\xff")   # EFAULT before a child exists
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise LinuxError(EINVAL)
    if len(k.procs.by_pid) >= MAX_PROCS:
        raise LinuxError(EAGAIN)
    if p.uid != 0:
        nproc = rlimit(p, L.RLIMIT_NPROC)[0]
        if nproc != L.RLIM_INFINITY and \
                sum(1 for q in k.procs.by_pid.values() if q.uid == p.uid) >= nproc:
            raise LinuxError(EAGAIN)
    parent = p.proc
    instance = k.instances.clone(parent) if k.instances is not None else None   # EAGAIN
    try:
        mm = parent.mm if flags & CLONE_VM else parent.mm.fork()
    except (MemoryError, OutOfMemory):
        if instance is not None:
            k.instances.free[:0] = instance.cores
        raise LinuxError(ENOMEM) from None
    if mm is not parent.mm:
        from .ipc_sysv import shm_fork
        shm_fork(k, parent.mm, mm)               # its System V attachments too
    cores = k.part.cores if instance is None else [k.part.cores[i] for i in instance.cores]
    for c in cores:
        if c not in mm.cores:
            mm.attach(c, switch=False)
    mm.users = mm.users + 1 if flags & CLONE_VM else 1
    core = p.core
    regs = core.regs.read_all()
    libos = p.libos
    frame = None
    if libos is not None and regs["rip"] == libos.entry:
        if flags & CLONE_VM:
            # The child runs on in the parent's memory, over the stack the
            # parent's libOS call returns through (the trampoline's frame):
            # kept here, put back before the parent goes on (procs.vfork_done).
            size = libos.caller_frame(p.mm, regs["rsp"]) + 8
            frame = (regs["rsp"], p.mm.read(regs["rsp"], size))
        libos.return_from_call(regs, p.mm, newsp)   # from a libOS call: where it returns
    else:
        regs["rip"] += core.SYSCALL_INSN_LEN     # the child starts after the syscall
        if newsp:
            regs["rsp"] = newsp
    regs["rax"] = 0
    if flags & CLONE_SETTLS:
        regs["fs_base"] = tls
    child = k.new_process(parent, p, mm, (regs, core.save_fpu()),
                          share_files=bool(flags & CLONE_FILES),
                          share_handlers=bool(flags & CLONE_SIGHAND),
                          ppid=parent.ppid if flags & CLONE_PARENT else parent.pid,
                          exit_signal=flags & 0xFF, instance=instance)
    if instance is not None:
        for i in instance.cores:                 # the clone's cores run its image
            k.install_libos(i, child.libos)
    if flags & CLONE_VM:                         # the parent's memory: its libOS data stays
        child.fs_base = tls if flags & CLONE_SETTLS else p.fs_base
    else:                                        # (a libOS keeps the thread's tid there)
        k.set_thread_pointer(child, tls if flags & CLONE_SETTLS else p.fs_base)
    if flags & CLONE_PIDFD:
        from .proc_pidfd import new_pidfd
        p.mm.write(pidfd_at, struct.pack("<i", new_pidfd(p, child)))
    if flags & CLONE_PARENT_SETTID:
        p.mm.write(parent_tid, struct.pack("<I", child.pid))
    if flags & CLONE_CHILD_SETTID:
        mm.write(child_tid, struct.pack("<I", child.pid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid
    counters = k.counters[core.index - k.part.cores[0].index]
    if instance is not None:
        counters.instance_clone += 1             # a unikernel forks by cloning its instance
    else:
        counters.fork += 1
    if flags & CLONE_VFORK:
        child.vfork_parent = p
        child.vfork_frame = frame
        k.sched.wait(p, futex=("vfork", child.pid))   # procs.vfork_done: the child's pid
    return child.pid
