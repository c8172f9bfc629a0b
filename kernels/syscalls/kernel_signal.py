"""Signals (Linux kernel/signal.c, arch/x86/kernel/signal.c).

A process can install handlers, block signals, set an alternate stack and send
signals to itself.  A signal whose action is to terminate ends the process with
that signal (exit status 128+N, as a shell shows it).  A signal with a handler
is delivered when the current syscall returns: an `rt_sigframe` is built on
the guest stack exactly as Linux lays it out (pretcode, ucontext, siginfo) and
the handler is entered; its `rt_sigreturn` restores the interrupted registers.
"""
from __future__ import annotations

import struct

from ..abi import linux as L
from ..abi.linux_errno import EINTR, EINVAL, EPERM, ESRCH
from ..errors import GuestExit, LinuxError, RegistersSet
from ..siginfo import SI_KERNEL, SI_QUEUE, SI_TKILL, SI_USER, SigInfo  # noqa: F401 (importers)
from .util import s32

_SIGCONTEXT_REGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi",
                    "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip", "eflags")
_UCONTEXT_SIZE = 8 + 8 + 24 + 256 + 8
_SIGINFO_SIZE = 128
_FXSAVE_SIZE = 512
_UNBLOCKABLE = (1 << (L.SIGKILL - 1)) | (1 << (L.SIGSTOP - 1))


def _bit(sig):
    return 1 << (sig - 1)


def rt_sigaction(p, sig, act, oact, sigsetsize):
    sig = s32(sig)
    if sig < 1 or sig > L.NSIG or sigsetsize != 8:
        raise LinuxError(EINVAL)
    cur = p.sigactions[sig]
    if act and sig in (L.SIGKILL, L.SIGSTOP):
        raise LinuxError(EINVAL)
    new = L.SIGACTION.unpack(p.mm.read(act, L.SIGACTION.size)) if act else None
    if oact:
        p.mm.write(oact, L.SIGACTION.pack(cur.handler, cur.flags, cur.restorer, cur.mask))
    if new:
        cur.handler, cur.flags, cur.restorer, cur.mask = new
        cur.mask &= ~_UNBLOCKABLE
        cur.flags &= _UAPI_SA_FLAGS            # unknown bits (SA_UNSUPPORTED) read back clear
    return 0


# The flags sigaction keeps (Linux's UAPI_SA_FLAGS on x86-64): others are
# cleared, so that a program can tell which ones the kernel knows.
_UAPI_SA_FLAGS = (L.SA_NOCLDSTOP | L.SA_NOCLDWAIT | L.SA_SIGINFO | L.SA_ONSTACK | L.SA_RESTART
                  | L.SA_NODEFER | L.SA_RESETHAND | L.SA_RESTORER)


def rt_sigprocmask(p, how, set_, oset, sigsetsize):
    if sigsetsize != 8:
        raise LinuxError(EINVAL)
    how = s32(how)
    old = p.sigmask
    if set_:
        new = int.from_bytes(p.mm.read(set_, 8), "little")
        if how == L.SIG_BLOCK:
            p.sigmask |= new
        elif how == L.SIG_UNBLOCK:
            p.sigmask &= ~new
        elif how == L.SIG_SETMASK:
            p.sigmask = new
        else:
            raise LinuxError(EINVAL)
        p.sigmask &= ~_UNBLOCKABLE
    if oset:
        p.mm.write(oset, old.to_bytes(8, "little"))
    _unblocked(p)
    return 0


def _unblocked(p):
    """Deliver the pending signals the current mask no longer blocks."""
    pending = p.pending
    while True:
        sig = pending.first(~p.sigmask)
        if not sig:
            return
        info = pending.take(sig)
        from .kernel_sigwait import changed
        changed(p.proc)
        raise_signal(p, sig, info=info)


def rt_sigsuspend(p, mask, sigsetsize):
    """Wait for a signal with `mask` in place; the handler returns to the
    mask of before (kept in its frame), and sigsuspend gives EINTR."""
    if sigsetsize != 8:
        raise LinuxError(EINVAL)
    new = p.mm.read_u64(mask) & ~_UNBLOCKABLE
    if p.saved_mask is None:
        p.saved_mask = p.sigmask
    p.sigmask = new
    _unblocked(p)
    if p.pending_delivery:
        raise LinuxError(EINTR)
    p.kernel.sched.wait(p, futex=("sigsuspend", p.tid))   # a signal interrupts it: EINTR


def pause(p):
    """Wait for a signal: a handled one ends the wait with EINTR."""
    p.kernel.sched.wait(p, futex=("sigsuspend", p.tid))


def with_mask(p, mask_ptr, sigsetsize, call):
    """pselect6, ppoll, epoll_pwait: `call()` with the mask at `mask_ptr` in
    place (none: as it is).  A signal it lets through ends the call with
    EINTR and its handler runs with the caller's mask saved in the frame, as
    sigsuspend's; otherwise the caller's mask is back when the call returns.
    A call that waits keeps the mask while it waits (it is restarted)."""
    if not mask_ptr:
        return call()
    if sigsetsize != 8:
        raise LinuxError(EINVAL)
    new = p.mm.read_u64(mask_ptr) & ~_UNBLOCKABLE
    if p.saved_mask is None:
        p.saved_mask = p.sigmask
    p.sigmask = new
    _unblocked(p)
    if p.pending_delivery:
        raise LinuxError(EINTR)
    ret = call()                                  # (Block: waits with the mask in place)
    p.sigmask, p.saved_mask = p.saved_mask, None
    return ret


def rt_sigpending(p, set_, sigsetsize):
    if sigsetsize > 8:
        raise LinuxError(EINVAL)
    p.mm.write(set_, (p.pending.mask & p.sigmask).to_bytes(8, "little")[:sigsetsize])
    return 0


def _on_altstack(p, rsp: int) -> bool:
    sp, flags, size = p.altstack
    return not flags & L.SS_DISABLE and sp < rsp <= sp + size


def sigaltstack(p, ss, old_ss):
    from unicorn.x86_const import UC_X86_REG_RSP
    on = _on_altstack(p, p.core.regs.read(UC_X86_REG_RSP))
    if ss and on:
        raise LinuxError(EPERM)                  # cannot change the stack in use
    if old_ss:
        sp, flags, size = p.altstack
        flags = (flags | (L.SS_ONSTACK if on else 0)) & 0xFFFFFFFF
        p.mm.write(old_ss, L.STACK_T.pack(sp, flags - (1 << 32) if flags >> 31 else flags, size))
    if ss:
        sp, flags, size = L.STACK_T.unpack(p.mm.read(ss, L.STACK_T.size))
        flags &= 0xFFFFFFFF
        if flags & ~(L.SS_DISABLE | L.SS_ONSTACK | (1 << 31)):      # 1<<31: SS_AUTODISARM
            raise LinuxError(EINVAL)
        if flags & L.SS_DISABLE:
            p.altstack = (0, L.SS_DISABLE, 0)
        else:
            if size < L.MINSIGSTKSZ:
                raise LinuxError(12)             # ENOMEM, as Linux says for a small stack
            p.altstack = (sp, flags & SS_AUTODISARM, size)
    return 0



SS_AUTODISARM = 1 << 31
SEGV_MAPERR, SEGV_ACCERR = 1, 2


def raise_signal(p, sig: int, code: int = SI_KERNEL, addr: int = 0, info=None) -> None:
    """Send `sig` to thread `p` (the caller itself, or a thread of its
    process: tgkill); `code` and `addr` fill its siginfo, or `info` is it.
    A thread waiting in a call that the signal's handler interrupts wakes."""
    if info is None:
        sender = p if code in (SI_USER, SI_TKILL, SI_QUEUE) else None
        info = SigInfo.sent_by(sig, code, sender)
        info.addr = addr
    if p.sigmask & _bit(sig) and sig not in (L.SIGKILL, L.SIGSTOP):
        from ..procs import hold
        hold(p.proc, info)
        return
    if p.kernel.strace is not None:              # the trace's --- SIG {...} --- line
        p.kernel.strace.signal(p, info)
    from ..procs import stops
    if sig == L.SIGCONT:
        p.kernel.procs.cont(p)
    act = p.sigactions[sig]
    if act.handler == L.SIG_IGN and sig not in (L.SIGKILL, L.SIGSTOP):
        return
    if stops(sig, act):
        from ..tty import drops_stop
        if not drops_stop(p.proc, sig):
            _stop_self(p, sig)
        return
    if act.handler == L.SIG_DFL or sig == L.SIGKILL:
        if sig in L.SIG_DEFAULT_IGNORE:
            return
        raise GuestExit(signal=sig, result=0)     # the sending call succeeded; then the end
    p.pending_delivery.append(info)
    if p.sched.state == "blocked":                # another thread, in a wait: EINTR
        p.kernel.sched.interrupt(p, -EINTR)


def _stop_self(p, sig: int, restart: bool = False) -> None:
    """A stop signal's default action on the calling process.  The
    instance's first process stands for azemu on the host: azemu itself
    stops (the host's shell sees the job stop) and goes on when continued.
    Any other process stops inside the instance: the calling thread's call
    ends (with 0, or to run again with `restart`) and the thread waits,
    stopped, until a SIGCONT (raises Block)."""
    import os
    import signal as host_signal
    k = p.kernel
    if p.proc is k.process:
        os.kill(os.getpid(), host_signal.SIGSTOP)
        if restart:
            k.sched.restart_later(p)
        return
    k.procs.stop(p, sig)
    if restart:
        k.sched.restart_later(p)
    k.sched.yield_(p)


def kill(p, pid, sig):
    pid, sig = s32(pid), s32(sig)
    if sig < 0 or sig > L.NSIG:
        raise LinuxError(EINVAL)
    from .proc_wait import targets
    reached = targets(p, pid)
    if sig:
        procs = p.kernel.procs
        for target in reached:
            if target is not p.proc:
                procs.signal(target, sig, info=SigInfo.sent_by(sig, SI_USER, p))
        if p.proc in reached:
            raise_signal(p, sig, SI_USER)
    return 0


def tgkill(p, tgid, tid, sig):
    tgid, tid, sig = s32(tgid), s32(tid), s32(sig)
    if tgid <= 0 or tid <= 0 or sig < 0 or sig > L.NSIG:
        raise LinuxError(EINVAL)
    from .kernel_fork import tgkill_target
    target = tgkill_target(p, tgid, tid)
    if sig:
        raise_signal(target, sig, SI_TKILL)
    return 0


def tkill(p, tid, sig):
    return tgkill(p, p.pid, tid, sig)


# ---- delivery ----------------------------------------------------------------
def deliver_pending(p, regs: dict, fpu) -> dict | None:
    """Build the frame for the first pending signal; returns the registers to
    enter the handler with (None if nothing is to be delivered).  `fpu` saves
    and restores the FPU/SSE state in fxsave format (azemu.core.Core)."""
    if not p.pending_delivery:
        return None
    info = p.pending_delivery.pop(0)
    sig, code, addr = info.sig, info.code, info.addr
    from ..timers import delivered
    delivered(info)
    act = p.sigactions[sig]
    if not act.flags & L.SA_RESTORER or not act.restorer:
        raise GuestExit(signal=L.SIGSEGV)       # x86-64 Linux requires a restorer
    sp = regs["rsp"] - 128                       # skip the red zone
    alt_sp, alt_flags, alt_size = p.altstack
    onstack = bool(act.flags & L.SA_ONSTACK) and not alt_flags & L.SS_DISABLE
    if onstack and not _on_altstack(p, regs["rsp"]):
        sp = alt_sp + alt_size
    fx_at = (sp - _FXSAVE_SIZE) & ~63            # the FPU state, 64-byte aligned
    frame_size = 8 + _UCONTEXT_SIZE + _SIGINFO_SIZE
    sp = ((fx_at - frame_size) & ~0xF) - 8      # as after a call: (rsp + 8) % 16 == 0
    uc_at = sp + 8
    info_at = uc_at + _UCONTEXT_SIZE
    gregs = [regs[r] for r in _SIGCONTEXT_REGS]
    ss_flags = L.SS_DISABLE if alt_flags & L.SS_DISABLE else (L.SS_ONSTACK if _on_altstack(p, sp) else 0)
    ss_flags |= alt_flags & SS_AUTODISARM
    ss_flags &= 0xFFFFFFFF
    uc = struct.pack("<QQ", 0, 0) + L.STACK_T.pack(alt_sp, ss_flags - (1 << 32) if ss_flags >> 31
                                                    else ss_flags, alt_size)
    if onstack and alt_flags & SS_AUTODISARM:    # disarmed while the handler runs
        p.altstack = (0, L.SS_DISABLE, 0)
    trapno, cr2 = (14, addr) if sig in (L.SIGSEGV, L.SIGBUS) and code > 0 else (0, 0)
    sigcontext = struct.pack("<18Q", *gregs) + struct.pack("<HHHH", 0x33, 0, 0, 0x2B)
    frame_mask = p.sigmask if p.saved_mask is None else p.saved_mask   # sigsuspend's caller's
    p.saved_mask = None
    sigcontext += struct.pack("<QQQQQ", 4 if trapno else 0, trapno, frame_mask, cr2, fx_at) + bytes(64)
    uc += sigcontext + struct.pack("<Q", frame_mask)
    p.mm.write(fx_at, fpu.save_fpu())
    fpu.reset_fpu()                              # the handler starts fresh (fpu__clear_user_states)
    p.mm.write(sp, struct.pack("<Q", act.restorer) + uc + info.pack())
    if not act.flags & L.SA_NODEFER:
        p.sigmask |= _bit(sig)
    p.sigmask |= act.mask & ~_UNBLOCKABLE
    handler = act.handler
    if act.flags & L.SA_RESETHAND:               # the handler only: flags and mask stay (Linux)
        act.handler = L.SIG_DFL
    return {"rsp": sp, "rip": handler, "rdi": sig, "rsi": info_at, "rdx": uc_at, "rax": 0}


def rt_sigreturn(p):
    """Restore the context saved by `deliver_pending`.  After a trap the frame's
    ucontext is at rsp (the handler's `ret` popped pretcode); after a call
    through a libOS trampoline it is above the trampoline's call frame."""
    from unicorn.x86_const import UC_X86_REG_RIP, UC_X86_REG_RSP
    regs = p.core.regs
    libos = p.libos
    via_libos = libos is not None and regs.read(UC_X86_REG_RIP) == libos.entry
    rsp = regs.read(UC_X86_REG_RSP)
    uc_at = rsp + (libos.caller_frame(p.mm, rsp) if via_libos else 0)
    # The restored rip is the hooked address only for a call to run again.
    raw = p.mm.read(uc_at, _UCONTEXT_SIZE)
    gregs = struct.unpack_from("<18Q", raw, 40)
    restored = dict(zip(_SIGCONTEXT_REGS, gregs))
    fx_at = struct.unpack_from("<Q", raw, 40 + 184)[0]
    p.sigmask = struct.unpack_from("<Q", raw, 40 + 256)[0] & ~_UNBLOCKABLE
    ss_sp, ss_flags, ss_size = L.STACK_T.unpack_from(raw, 16)   # restore_altstack()
    ss_flags &= 0xFFFFFFFF
    if ss_flags & L.SS_DISABLE:
        p.altstack = (0, L.SS_DISABLE, 0)
    elif ss_size >= L.MINSIGSTKSZ:
        p.altstack = (ss_sp, ss_flags & SS_AUTODISARM, ss_size)
    if fx_at:
        p.core.restore_fpu(p.mm.read(fx_at, _FXSAVE_SIZE))
    if not via_libos:
        restored["rip"] -= p.core.SYSCALL_INSN_LEN  # a trap: Unicorn adds it back after the hook
    elif restored["rip"] == libos.entry and p.sched.saved_calls:
        # Back to a libOS call the handler interrupted, to run it again
        # (SA_RESTART): its call block as it was, and the call from the hook.
        p.libos_block[0:7] = p.sched.saved_calls.pop()
        regs.write_many(restored)
        _unblocked(p)
        p.kernel.sched.restart_later(p)
    regs.write_many(restored)
    _unblocked(p)                                 # signals the restored mask lets through
    raise RegistersSet                            # rax was restored with the rest
