"""The trap-and-context-switch entry shared by the linux and lwk kernels.

What a conventional kernel does on `syscall`, done for real on the emulated
core: the CPU switches to kernel mode; the kernel saves the task's whole
register state into its kernel-side context (Linux's pt_regs: one batched read
of every general register, rip, rflags and the segment bases); the call's
number and arguments are taken from that saved context; on the way back the
kernel checks for pending signals and rescheduling, reloads the registers from
the context (one batched write) and returns to user mode.

What differs between kernels — the kernel-wide lock and shared tables of the
monolithic kernel, the per-core structures of the LWK, address-space switches —
comes in through `enter(nr)` and `as_switches`, supplied by kernels/linux.py
and kernels/lwk.py.
"""
from __future__ import annotations

from operator import itemgetter

from azemu.ucfast import GPR_NAMES

from .syscalls.dispatch import KEEP_REGISTERS, NR_LIMIT, Stop, serve, unknown_number

_RAX, _RCX, _R11 = (GPR_NAMES.index(n) for n in ("rax", "rcx", "r11"))
_RIP, _EFLAGS = GPR_NAMES.index("rip"), GPR_NAMES.index("eflags")
_ARGS = tuple(GPR_NAMES.index(n) for n in ("rdi", "rsi", "rdx", "r10", "r8", "r9"))
SYSCALL_LEN = 2


def _argument_readers() -> list:
    """For k = 0..6, a function giving the first k syscall arguments from
    the saved context, as a tuple (itemgetter reads them in C)."""
    readers = [lambda ctx: (), lambda ctx, i=_ARGS[0]: (ctx[i],)]
    return readers + [itemgetter(*_ARGS[:k]) for k in range(2, 7)]


def context_switch_entry(kernel, cur, core, table, c, enter, as_switches: int):
    """The raw syscall callback for a kernel that switches context on a trap."""
    regs = core.regs
    ctx = regs.ctx
    save, restore = regs.save_context, regs.restore_context
    saved, restored = regs.saved_count, regs.restored_count
    stop = core.stop
    unknown = unknown_number(kernel.notices)
    args_of = _argument_readers()
    sched = kernel.sched

    def syscall_entry(_uch, _ud):
        # user -> kernel: the CPU's part, then the kernel's entry code
        p = cur.task
        c.trap += 1
        c.mode_switch += 1
        c.as_switch += as_switches
        save()
        c.context_switch += 1
        c.regs_saved += saved
        ctx[_RCX] = ctx[_RIP] + SYSCALL_LEN   # what `syscall` leaves in rcx and r11
        ctx[_R11] = ctx[_EFLAGS] | 0x200      # user mode runs with IF set
        nr = ctx[_RAX]
        h, k = table[nr] if nr < NR_LIMIT else (unknown, 0)
        enter(p, nr)
        try:
            ret = serve(kernel, p, nr, h, args_of[k](ctx))
        except Stop:
            stop()
            return
        if ret is KEEP_REGISTERS:             # rt_sigreturn wrote the registers itself
            if p.pending_delivery:            # and may have unblocked a pending signal
                kernel.deliver_signals(p, core)
            c.mode_switch += 1
            c.as_switch += as_switches
            return
        ctx[_RAX] = ret & 0xFFFFFFFFFFFFFFFF
        # kernel -> user: pending work, then the saved context back
        c.return_checks += 2
        restore()
        c.regs_restored += restored
        if p.pending_delivery:
            kernel.deliver_signals(p, core)
        c.as_switch += as_switches
        c.mode_switch += 1
        if sched.resched:                     # another thread became runnable: slice from now on
            stop()

    return syscall_entry
