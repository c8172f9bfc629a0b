"""Debug control of one kernel instance's first process: where the guest
stops, and how a debugger looks at it while it is stopped.  Shared by the
two debuggers azemu has: the gdb remote stub (kernels/gdbstub.py, `azemu
exec --gdb`) and the terminal debugger (kernels/debug_session.py and
azemu/debug_tui.py, `azemu debug`).

Every core gets a code hook that runs before each instruction while a
debugger is attached (the guest is slower, as under any single-stepping
debugger) and stops where it was asked: before the first instruction, at a
breakpoint (hooks: the guest's code is never patched), after a single
step (of a core, as gdb's stub steps, or of a thread, which may move
between cores), on an interrupt, at a one-shot stop condition (the
debugger's "next" and "run to the next syscall").  Watchpoints are memory
hooks, added when the first is set; the cores walk page tables, so the
hooks see guest-physical addresses, matched against the frames behind each
watched page; the stop is reported after the access, at the next
instruction, as a CPU's debug registers report it.

A stop calls `on_stop(core, task, stop)` from the emulation thread itself:
the cores of an instance run one after another on that thread, so while
on_stop has not returned, the whole instance stands still, and the caller
may read and write registers and memory.  When it returns, the guest goes
on as the control's fields then say (`stepping`, `until`, `attached`).

Processes the debugged one forks are not debugged (gdb's default,
follow-fork-mode parent): their steps and breakpoints do not stop them.
"""
from __future__ import annotations

from dataclasses import dataclass

from unicorn import unicorn_const as ucc
from unicorn.x86_const import UC_X86_REG_RIP

from azemu import ucfast
from azemu.memory import GuestFault

_MEM_CB = ucfast.ctypes.CFUNCTYPE(None, ucfast.ctypes.c_void_p, ucfast.ctypes.c_int,
                                  ucfast.ctypes.c_uint64, ucfast.ctypes.c_int,
                                  ucfast.ctypes.c_int64, ucfast.ctypes.c_void_p)


@dataclass
class Stop:
    """Why the guest stopped: "start" (before its first instruction),
    "breakpoint", "step", "interrupt", "until" (a one-shot condition) or
    "watch" (then `watch` is gdb's name of it, "watch", "rwatch" or
    "awatch", and `addr` the watched address)."""
    why: str
    addr: int = 0
    watch: str = ""


class DebugControl:
    """The stops of one kernel instance's first process."""

    def __init__(self, kernel, on_stop):
        self.k = kernel
        self.on_stop = on_stop                    # (core, task, Stop) -> None, guest stopped
        self.breakpoints: set[int] = set()
        self.watches: dict[tuple, str] = {}       # (addr, len) -> "w" / "r" / "a"
        self.stepping = None                      # the core or the task that steps, or None
        self.until = None                         # (core, task, addr) -> bool: a one-shot stop
        self.interrupt = False
        self.pending_watch = None                 # (kind, addr): reported at the next instruction
        self.attached = True
        self.first_stop = True
        self._mem_hooks = []
        for core in kernel.part.cores:
            core.add_hook(ucc.UC_HOOK_CODE, lambda core=core: ucfast.CODE_CB(
                lambda uc, addr, size, ud, core=core: self._on_code(core, addr)), 1, 0)

    # ---- stopping -------------------------------------------------------------
    def _on_code(self, core, addr: int) -> None:
        if not self.attached:
            return
        task = self.k.slots[core.index].task
        if task is not None and task.proc is not self.k.process:
            return                          # another process: the parent of a fork is followed
        stop = None
        if self.pending_watch is not None:
            kind, waddr = self.pending_watch
            self.pending_watch = None
            stop = Stop("watch", waddr, kind)
        elif self.interrupt:
            stop = Stop("interrupt")
        elif self.first_stop:
            stop = Stop("start")
        elif self.stepping is not None and (self.stepping is core or self.stepping is task):
            stop = Stop("step")
        elif addr in self.breakpoints:
            stop = Stop("breakpoint")
        elif self.until is not None and self.until(core, task, addr):
            stop = Stop("until")
        if stop is None:
            return
        self.first_stop = self.interrupt = False
        self.stepping = self.until = None
        try:
            self.on_stop(core, task, stop)
        except BaseException as e:                    # C must not see it: the run ends
            self.k.internal_error = (-1, e, e.__traceback__)
            core.stop()

    def kill(self, core, signal: int) -> None:
        """End the guest (from on_stop), as a debugger's kill does."""
        from .errors import GuestExit
        self.attached = False
        self.k.exit = GuestExit(signal=signal)
        core.stop()

    # ---- watchpoints ------------------------------------------------------------------
    def watch(self, addr: int, length: int, kind: str) -> None:
        """Stop after an access to [addr, addr+length): kind "w", "r" or "a"."""
        self.watches[(addr, max(length, 1))] = kind
        self._add_memory_hooks()

    def unwatch(self, addr: int, length: int) -> None:
        self.watches.pop((addr, max(length, 1)), None)

    def _on_memory(self, core, kind_code: int, paddr: int, size: int) -> None:
        if not self.attached or self.pending_watch is not None or core.mm is not self.k.process.mm:
            return
        access = "w" if kind_code == ucc.UC_MEM_WRITE else "r"
        mm = core.mm
        from azemu.mmu import FRAME, P
        for (addr, length), kind in self.watches.items():
            if access == "r" and kind == "w" or access == "w" and kind == "r":
                continue
            for vpn in range(addr >> 12, ((addr + length - 1) >> 12) + 1):
                entry = mm.pt.get(vpn)
                if entry & P and entry & FRAME == paddr & ~0xFFF:
                    va = (vpn << 12) | (paddr & 0xFFF)
                    if va < addr + length and addr < va + size:
                        name = {"w": "watch", "r": "rwatch", "a": "awatch"}[kind]
                        self.pending_watch = (name, addr)
                        return

    def _add_memory_hooks(self) -> None:
        if self._mem_hooks:
            return
        for core in self.k.part.cores:
            def make(core=core):
                return _MEM_CB(lambda uc, kind, addr, size, value, ud, core=core:
                               self._on_memory(core, kind, addr, size))
            self._mem_hooks.append(core.add_hook(ucc.UC_HOOK_MEM_READ | ucc.UC_HOOK_MEM_WRITE, make, 1, 0))
            core.forget_code()                     # retranslated with the hooks in place

    # ---- threads, registers, memory ------------------------------------------------
    def tids(self) -> list[int]:
        p = self.k.process
        return sorted(t.tid for t in p.tasks) if p is not None and not p.zombie else []

    def task(self, tid):
        for t in (self.k.process.tasks if self.k.process is not None else ()):
            if t.tid == tid:
                return t
        return None

    def where(self, core, tid):
        """(registers dict, fxsave bytes, the core running it or None) of
        thread `tid`; those of `core` when there is no such thread."""
        task = self.task(tid)
        for i, slot in enumerate(self.k.slots):
            if slot.task is task and task is not None:
                c = self.k.part.cores[i]
                if c.made:
                    return c.regs.read_all(), c.save_fpu(), c
        ctx = getattr(task.sched, "ctx", None) if task is not None else None
        if ctx:
            return dict(ctx[0]), ctx[1], None
        return core.regs.read_all(), core.save_fpu(), core

    def write_registers(self, core, tid, values: dict) -> None:
        """Set general registers (by name, rip among them) of thread `tid`."""
        regs, fx, running = self.where(core, tid)
        if running is not None:
            running.regs.write_many({k: v for k, v in values.items() if k != "rip"})
            if "rip" in values:
                running.regs.write(UC_X86_REG_RIP, values["rip"])
        else:
            task = self.task(tid)
            if task is not None and getattr(task.sched, "ctx", None):
                task.sched.ctx = ({**task.sched.ctx[0], **values}, task.sched.ctx[1])

    def read_mem(self, addr: int, length: int) -> bytes | None:
        try:
            return self.k.process.mm.read(addr, length) if length else b""
        except (GuestFault, ValueError, OverflowError):
            return None

    def write_mem(self, addr: int, data: bytes) -> bool:
        mm = self.k.process.mm
        try:
            mm.read(addr, len(data))               # it must be mapped, as for ptrace
            mm.poke(addr, data)
        except (GuestFault, ValueError, OverflowError):
            return False
        for core in self.k.part.cores:
            core.forget_code(addr, len(data))      # (a debugger may patch code)
        return True
