"""One emulated CPU core: a Unicorn instance, its fast register file, its run loop.

A core knows how to execute guest code and how to stop; it knows nothing of a
kernel.  A kernel attaches to a core by giving it a syscall callback (a raw
ctypes callback, see ucfast) and reading the outcome of `run()`:

* `RunResult.STOPPED` — someone called `stop()` (the kernel, on exit);
* `RunResult.FAULT`   — the guest did something a CPU traps on; `fault` says
  what (kind, address, the faulting RIP).

Only three hooks are installed, none of which fires on the normal path: the
`syscall` instruction, invalid memory accesses and CPU exceptions.  No
per-instruction or per-block hook is ever installed by default (DESIGN.md §3).
"""
from __future__ import annotations

import struct

import unicorn
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from . import ucfast

# What the guest's CPUID reports.  glibc picks its string routines from CPUID
# and, when built for a higher ISA level, refuses to start below it; so the
# model must claim exactly what Unicorn's TCG executes.  Unicorn 2.1's default
# "qemu64" model claims SSE..SSE3 plus CX16/POPCNT-less baseline, which
# satisfies x86-64 v1 (the level Debian's glibc and musl are built for) and
# never advertises AVX, which TCG 5 cannot run.
CPU_MODEL = x86.UC_CPU_X86_QEMU64

FAULT_SEGV, FAULT_ILL, FAULT_FPE, FAULT_TRAP, FAULT_BUS = "SIGSEGV", "SIGILL", "SIGFPE", "SIGTRAP", "SIGBUS"

_MEM_ACCESS = {
    ucc.UC_MEM_READ_UNMAPPED: ("read", "unmapped"),
    ucc.UC_MEM_WRITE_UNMAPPED: ("write", "unmapped"),
    ucc.UC_MEM_FETCH_UNMAPPED: ("execute", "unmapped"),
    ucc.UC_MEM_READ_PROT: ("read", "protection"),
    ucc.UC_MEM_WRITE_PROT: ("write", "protection"),
    ucc.UC_MEM_FETCH_PROT: ("execute", "protection"),
}

# x86 exception vectors raised through UC_HOOK_INTR -> the signal Linux sends.
_VECTOR_SIGNAL = {0: FAULT_FPE, 1: FAULT_TRAP, 3: FAULT_TRAP, 4: FAULT_SEGV, 5: FAULT_SEGV,
                  6: FAULT_ILL, 7: FAULT_FPE, 10: FAULT_SEGV, 11: FAULT_BUS, 12: FAULT_BUS,
                  13: FAULT_SEGV, 14: FAULT_SEGV, 16: FAULT_FPE, 17: FAULT_BUS, 19: FAULT_FPE}


class Fault:
    """What the guest did that a CPU traps on."""
    __slots__ = ("signal", "detail", "addr", "rip")

    def __init__(self, signal: str, detail: str, addr: int | None = None, rip: int = 0):
        self.signal = signal       # "SIGSEGV", "SIGILL", ...
        self.detail = detail       # human description
        self.addr = addr           # faulting data address, if any
        self.rip = rip

    def __repr__(self):
        return f"Fault({self.signal}, {self.detail!r}, addr={self.addr}, rip={self.rip:#x})"


def _abridged_tag(tag: int) -> int:
    """Full x87 tag word (2 bits a register, 11 = empty) -> FXSAVE's 1 bit a register."""
    return sum(1 << i for i in range(8) if (tag >> (2 * i)) & 3 != 3)


class RunResult:
    STOPPED = "stopped"
    FAULT = "fault"


class Core:
    def __init__(self, index: int = 0):
        self.index = index
        self.uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
        self.uc.ctl_set_cpu_model(CPU_MODEL)
        self.uch = self.uc._uch
        self.regs = ucfast.RegisterFile(self.uch)
        # Enable SSE as a 64-bit OS does: CR0.MP set, CR0.EM clear, CR4.OSFXSR
        # and CR4.OSXMMEXCPT set; without them every SSE instruction is #UD.
        cr0 = self.regs.read(x86.UC_X86_REG_CR0)
        self.regs.write(x86.UC_X86_REG_CR0, (cr0 | 0x2) & ~0x4)
        self.regs.write(x86.UC_X86_REG_CR4, self.regs.read(x86.UC_X86_REG_CR4) | 0x600)
        self.fault: Fault | None = None
        self._callbacks = []            # keep ctypes callbacks alive
        self._mem_fault = None
        self._vector = None
        self._add(ucc.UC_HOOK_MEM_INVALID, ucfast.MEM_INVALID_CB(self._on_mem_invalid))
        self._add(ucc.UC_HOOK_INTR, ucfast.INTR_CB(self._on_interrupt))

    def _add(self, htype, cfunc, *extra):
        self._callbacks.append(cfunc)
        return ucfast.add_hook(self.uch, htype, cfunc, 1, 0, *extra)

    def set_syscall_handler(self, callback) -> None:
        """`callback(uch, user_data)` runs on every `syscall` instruction; it is
        called straight from C and must not raise."""
        self._add(ucc.UC_HOOK_INSN, ucfast.SYSCALL_CB(callback), x86.UC_X86_INS_SYSCALL)

    # ---- fault capture ------------------------------------------------------
    def _on_mem_invalid(self, uch, access, addr, size, value, ud):
        self._mem_fault = (access, addr)
        return False

    def _on_interrupt(self, uch, intno, ud):
        self._vector = intno
        ucfast.emu_stop(self.uch)

    # ---- running ------------------------------------------------------------
    def run(self, pc: int, timeout_us: int = 0, count: int = 0) -> str:
        """Run from `pc` until stopped or faulted — or, for time slicing, for at
        most `timeout_us` microseconds or `count` instructions (both 0: no limit)."""
        self.fault = None
        self._mem_fault = self._vector = None
        err = ucfast.lib.uc_emu_start(self.uch, pc, 0xFFFFFFFFFFFFFFFF, timeout_us, count)
        if err == ucc.UC_ERR_OK and self._vector is None:
            return RunResult.STOPPED
        rip = self.regs.read(x86.UC_X86_REG_RIP)
        if self._vector is not None:
            sig = _VECTOR_SIGNAL.get(self._vector, FAULT_SEGV)
            names = {0: "divide error", 3: "breakpoint (int3)", 6: "invalid opcode",
                     13: "general protection fault", 14: "page fault"}
            self.fault = Fault(sig, names.get(self._vector, f"CPU exception {self._vector}"),
                               None, rip)
        elif self._mem_fault is not None:
            access, addr = self._mem_fault
            kind, why = _MEM_ACCESS.get(access, ("access", "invalid"))
            self.fault = Fault(FAULT_SEGV, f"{kind} of {why} address", addr, rip)
        elif err == ucc.UC_ERR_INSN_INVALID:
            self.fault = Fault(FAULT_ILL, "invalid instruction", None, rip)
        else:
            self.fault = Fault(FAULT_SEGV, ucfast.strerror(err), None, rip)
        return RunResult.FAULT

    # ---- what the CPU says about itself --------------------------------------
    _cpuid_cache: dict = {}

    def cpuid(self, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        """(eax, ebx, ecx, edx) of CPUID as this core's model answers it.
        Runs the instruction once on a scratch page; call before mapping guest
        memory at the scratch address (the kernel does, at boot)."""
        key = (CPU_MODEL, leaf, subleaf)
        if key not in Core._cpuid_cache:
            scratch = 0xFFFF0000
            self.uc.mem_map(scratch, 0x1000, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC)
            self.uc.mem_write(scratch, b"\x0f\xa2")           # cpuid
            self.regs.write(x86.UC_X86_REG_RAX, leaf)
            self.regs.write(x86.UC_X86_REG_RCX, subleaf)
            self.uc.emu_start(scratch, scratch + 2)
            Core._cpuid_cache[key] = tuple(self.regs.read(r) & 0xFFFFFFFF for r in (
                x86.UC_X86_REG_RAX, x86.UC_X86_REG_RBX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX))
            self.uc.mem_unmap(scratch, 0x1000)
        return Core._cpuid_cache[key]

    # ---- FPU/SSE state, in the fxsave layout (for signal frames) -------------
    def save_fpu(self) -> bytes:
        """The x87/SSE state as the 512-byte FXSAVE image."""
        r = self.uc.reg_read
        out = bytearray(512)
        struct.pack_into("<HHBxH", out, 0, r(x86.UC_X86_REG_FPCW), r(x86.UC_X86_REG_FPSW),
                         _abridged_tag(r(x86.UC_X86_REG_FPTAG)), 0)
        struct.pack_into("<II", out, 24, r(x86.UC_X86_REG_MXCSR), 0xFFFF)
        for i in range(8):
            st = r(x86.UC_X86_REG_ST0 + i)          # the 80-bit value as an int
            out[32 + 16 * i:42 + 16 * i] = (st & ((1 << 80) - 1)).to_bytes(10, "little")
        for i in range(16):
            v = r(x86.UC_X86_REG_XMM0 + i) if i < 8 else r(getattr(x86, f"UC_X86_REG_XMM{i}"))
            out[160 + 16 * i:176 + 16 * i] = v.to_bytes(16, "little")
        return bytes(out)

    def reset_fpu(self) -> None:
        """The x87/SSE state a new process starts with, as after FNINIT and
        LDMXCSR on a real CPU (Linux's fpstate_init_fx): x87 control word 0x37F
        (extended precision, exceptions masked), MXCSR 0x1F80.  Unicorn starts
        with both zero: single precision and every SSE exception unmasked."""
        w = self.uc.reg_write
        w(x86.UC_X86_REG_FPCW, 0x037F)
        w(x86.UC_X86_REG_FPSW, 0)
        w(x86.UC_X86_REG_FPTAG, 0xFFFF)
        w(x86.UC_X86_REG_MXCSR, 0x1F80)

    def restore_fpu(self, image: bytes) -> None:
        w = self.uc.reg_write
        fcw, fsw = struct.unpack_from("<HH", image, 0)
        w(x86.UC_X86_REG_FPCW, fcw)
        w(x86.UC_X86_REG_FPSW, fsw)
        w(x86.UC_X86_REG_MXCSR, struct.unpack_from("<I", image, 24)[0] & 0xFFFF)
        for i in range(8):
            w(x86.UC_X86_REG_ST0 + i, int.from_bytes(image[32 + 16 * i:42 + 16 * i], "little"))
        for i in range(16):
            reg = getattr(x86, f"UC_X86_REG_XMM{i}")
            w(reg, int.from_bytes(image[160 + 16 * i:176 + 16 * i], "little"))

    # Unicorn runs the `syscall` hook, then advances rip past the instruction
    # (helper_syscall: env->eip += next_eip_addend).  A kernel that redirects
    # the guest from inside a syscall (signal delivery, sigreturn) must
    # therefore write the target minus the instruction's length.
    SYSCALL_INSN_LEN = 2

    def stop(self) -> None:
        ucfast.emu_stop(self.uch)

    def read_bytes(self, addr: int, n: int) -> bytes | None:
        try:
            return bytes(self.uc.mem_read(addr, n))
        except unicorn.UcError:
            return None
