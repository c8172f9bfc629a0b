"""Putting a Unicorn core into the state of a CPU running user code under an OS.

Unicorn 2.1 starts an x86-64 instance in a "flat" long mode: paging off,
CPL 0, no GDT.  azemu's cores run as a Linux user process does:

* `drop_to_user(uc)` — CPL 3, with Linux's user selectors (CS 0x33, SS
  0x2b), by executing one `sysretq` from a scratch page.  At CPL 3 the
  privileged instructions (`hlt`, `mov cr3`, `wrmsr`, `cli`, ...) raise #GP
  as on Linux, so a guest cannot switch page tables or turn paging off, and
  page-table entries without the U bit are out of its reach.
* `enable_paging(regs)` — CR0.PG/WP, CR4.PAE, EFER.LME/NXE: the CPU model
  walks the page tables of azemu/mmu.py.

And one thing Unicorn does not export: the #PF error code.  Unicorn hands a
CPU exception to the UC_HOOK_INTR callback instead of delivering it through
an IDT, and so never clears the CPU's "exception in flight" field: the next
#PF would escalate to a double fault (vector 8, error code 0) and the one
after to a triple fault, which stops the CPU.  `ExceptionState` reads the
error code and clears that field in the CPU state itself (azemu/cpu_state.py
finds it) or, where that is not found, through a saved CPU context — at
offsets found once per process by `_calibrate`, a probe that takes #PFs
with known error codes on a scratch instance, rather than hard-coded.
"""
from __future__ import annotations

import ctypes
from array import array
import struct

import unicorn
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from . import ucfast

USER_CS, USER_SS = 0x33, 0x2B                 # Linux's __USER_CS, __USER_DS
MSR_EFER, MSR_STAR = 0xC0000080, 0xC0000081
EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE = 1, 1 << 8, 1 << 10, 1 << 11
CR0_PE, CR0_MP, CR0_EM, CR0_WP, CR0_PG = 1, 2, 4, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
SCRATCH = 0xFFFF0000


def enable_paging(uc) -> None:
    uc.msr_write(MSR_EFER, uc.msr_read(MSR_EFER) | EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
    uc.reg_write(x86.UC_X86_REG_CR4, uc.reg_read(x86.UC_X86_REG_CR4)
                 | CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT)
    cr0 = uc.reg_read(x86.UC_X86_REG_CR0)
    uc.reg_write(x86.UC_X86_REG_CR0, (cr0 | CR0_PG | CR0_WP | CR0_PE | CR0_MP) & ~CR0_EM)


def drop_to_user(uc) -> None:
    """CPL 0 -> 3 with a `sysretq` (call before any memory is mapped at
    SCRATCH and before paging is on: the scratch page is reached flat)."""
    uc.msr_write(MSR_EFER, uc.msr_read(MSR_EFER) | EFER_SCE)
    uc.reg_write(x86.UC_X86_REG_CR0, uc.reg_read(x86.UC_X86_REG_CR0) | CR0_PE)
    # STAR[63:48] + 16 is the 64-bit user CS sysret loads, + 8 the SS.
    uc.msr_write(MSR_STAR, ((USER_SS - 8) & ~3) << 48 | 0x10 << 32)
    uc.mem_map(SCRATCH, 0x1000, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC)
    try:
        uc.mem_write(SCRATCH, b"\x48\x0f\x07")                   # sysretq
        uc.reg_write(x86.UC_X86_REG_RCX, SCRATCH + 3)
        uc.reg_write(x86.UC_X86_REG_R11, 0x202)
        uc.emu_start(SCRATCH, SCRATCH + 3)
    finally:
        uc.mem_unmap(SCRATCH, 0x1000)
    if uc.reg_read(x86.UC_X86_REG_CS) != USER_CS:
        raise RuntimeError("this Unicorn did not enter user mode on sysretq")


class ExceptionState:
    """Per core: read the #PF error code and clear the exception in flight."""

    _offsets: tuple[int, int, int] | None = None

    def __init__(self, uch, cpu=None):
        """`cpu`: where the CPU lies in memory (azemu/cpu_state.py), to read
        and clear the fields in place; None: through a saved context."""
        self.uch = uch
        if ExceptionState._offsets is None:
            ExceptionState._offsets = _calibrate()
        self.ctx = ctypes.c_void_p()
        self.direct = cpu is not None
        if not self.direct and ucfast.lib.uc_context_alloc(uch, ctypes.byref(self.ctx)) != ucc.UC_ERR_OK:
            raise RuntimeError("uc_context_alloc failed")
        base = cpu.env - cpu.header if self.direct else self.ctx.value
        err_off, inflight_off, cr2_off = self._offsets
        self._err = ctypes.c_int.from_address(base + err_off)
        self._cr2 = ctypes.c_uint64.from_address(base + cr2_off)
        self._inflight = ctypes.c_int.from_address(base + inflight_off)

    def clear(self) -> None:
        """Forget any exception in flight.  Unicorn leaves one behind when a
        run is stopped (it probes a fetch past the stop: a #PF at -2), so a
        run starts with this."""
        if self.direct:
            self._inflight.value = -1
            return
        lib = ucfast.lib
        lib.uc_context_save(self.uch, self.ctx)
        self._inflight.value = -1
        lib.uc_context_restore(self.uch, self.ctx)

    def take(self) -> tuple[int, int]:
        """The error code of the exception just raised and CR2 (the
        faulting address); the CPU forgets the exception was in flight (as
        delivering it through the IDT would)."""
        if self.direct:
            self._inflight.value = -1
            return self._err.value, self._cr2.value
        lib = ucfast.lib
        lib.uc_context_save(self.uch, self.ctx)
        code = self._err.value
        self._inflight.value = -1
        lib.uc_context_restore(self.uch, self.ctx)
        return code, self._cr2.value


def _words(raw: bytes, code: str) -> array:
    """`raw` as native words of array type `code` ("i" or "Q")."""
    a = array(code)
    a.frombytes(raw[:len(raw) // a.itemsize * a.itemsize])
    return a


def _calibrate() -> tuple[int, int, int]:
    """(error code, exception-in-flight, CR2 offsets) in a saved context:
    three #PFs with error codes 2 (write, not present), 0 (read, not
    present) and 3 (write, present read-only), taken at CPL 0."""
    uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
    uch = uc._uch
    uc.mem_map(0, 0x10000, ucc.UC_PROT_ALL)
    p, w = 1, 2
    pml4, pdpt, pd, pt, code, ro = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000
    uc.mem_write(pml4, struct.pack("<Q", pdpt | p | w))
    uc.mem_write(pdpt, struct.pack("<Q", pd | p | w))
    uc.mem_write(pd + 8 * 2, struct.pack("<Q", pt | p | w))             # 0x400000
    uc.mem_write(pt, struct.pack("<Q", code | p))
    uc.mem_write(pt + 8 * 2, struct.pack("<Q", ro | p))
    # mov byte [rbx], 1 ; mov al, [rcx] ; mov byte [rdx], 1
    prog = b"\xc6\x03\x01\x8a\x01\xc6\x02\x01"
    uc.mem_write(code, prog)
    uc.reg_write(x86.UC_X86_REG_RBX, 0x401000)
    uc.reg_write(x86.UC_X86_REG_RCX, 0x403000)
    uc.reg_write(x86.UC_X86_REG_RDX, 0x402000)
    uc.reg_write(x86.UC_X86_REG_CR3, pml4)
    enable_paging(uc)
    ctx = ctypes.c_void_p()
    ucfast.lib.uc_context_alloc(uch, ctypes.byref(ctx))
    size = ucfast.lib.uc_context_size(uch)
    ucfast.lib.uc_context_save(uch, ctx)
    before = ctypes.string_at(ctx.value, size)
    snaps, inflight = [], []

    def on_intr(_uch, intno, _ud):
        ucfast.lib.uc_context_save(uch, ctx)
        snap = ctypes.string_at(ctx.value, size)
        snaps.append((intno, snap))
        if not inflight:
            inflight.extend(4 * i for i, (was, now) in enumerate(zip(_words(before, "i"),
                                                                      _words(snap, "i")))
                            if was == -1 and now == 14)
        for off in inflight:
            ctypes.c_int.from_address(ctx.value + off).value = -1
        ucfast.lib.uc_context_restore(uch, ctx)
        va = uc.reg_read(x86.UC_X86_REG_CR2)
        uc.mem_write(pt + 8 * ((va >> 12) & 511), struct.pack("<Q", (va - 0x400000 + 0x6000) | p | w))
        if len(snaps) > 4:
            ucfast.emu_stop(uch)

    cb = ucfast.INTR_CB(on_intr)
    ucfast.add_hook(uch, ucc.UC_HOOK_INTR, cb)
    uc.emu_start(0x400000, 0x400000 + len(prog))
    ucfast.lib.uc_context_free(ctx)
    if [n for n, _ in snaps] != [14, 14, 14]:
        raise RuntimeError("this Unicorn's page faults cannot be followed "
                           f"(vectors {[n for n, _ in snaps]})")
    ints = [_words(s, "i") for _, s in snaps]
    quads = [_words(s, "Q") for _, s in snaps]
    errs = [4 * i for i, seen in enumerate(zip(*ints)) if seen == (2, 0, 3)]
    cr2 = [8 * i for i, seen in enumerate(zip(*quads)) if seen == (0x401000, 0x403000, 0x402000)]
    inflight = [off for off in inflight if all(w[off // 4] == 14 for w in ints)]
    if len(errs) != 1 or len(inflight) != 1 or not cr2:
        raise RuntimeError("this Unicorn's CPU state layout is not the one azemu knows")
    return errs[0], inflight[0], cr2[0]
