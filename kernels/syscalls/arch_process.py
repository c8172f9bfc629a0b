"""arch_prctl (Linux arch/x86/kernel/process_64.c): the thread pointer.

glibc and musl put their thread control block behind %fs; ARCH_SET_FS writes
the core's FS base directly."""
from __future__ import annotations

from unicorn.x86_const import UC_X86_REG_FS_BASE, UC_X86_REG_GS_BASE

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, EPERM, ENODEV
from ..errors import LinuxError


def arch_prctl(p, code, addr):
    regs = p.core.regs
    if code == L.ARCH_SET_FS:
        if addr >= L.TASK_SIZE:
            raise LinuxError(EPERM)
        regs.write(UC_X86_REG_FS_BASE, addr)
        p.kernel.set_thread_pointer(p, addr)
        return 0
    if code == L.ARCH_SET_GS:
        if addr >= L.TASK_SIZE:
            raise LinuxError(EPERM)
        regs.write(UC_X86_REG_GS_BASE, addr)
        p.gs_base = addr
        return 0
    if code == L.ARCH_GET_FS:
        p.mm.write_u64(addr, regs.read(UC_X86_REG_FS_BASE))
        return 0
    if code == L.ARCH_GET_GS:
        p.mm.write_u64(addr, regs.read(UC_X86_REG_GS_BASE))
        return 0
    if code == L.ARCH_GET_CPUID:
        return 1                                  # cpuid is enabled (never faulting)
    if code == L.ARCH_SET_CPUID:
        raise LinuxError(ENODEV)                  # no CPUID faulting on this CPU
    raise LinuxError(EINVAL)
