"""The report printed when a guest dies of a CPU fault.

It follows what Linux prints to the kernel log for an unhandled segfault
("prog[pid]: segfault at ADDR ip RIP sp RSP error N in prog[base+size]"), then
adds what a user debugging the program wants next: the function it happened
in (`main+42`, from the ELF's symbols: azemu/symbols.py), all general
registers, the faulting instruction disassembled with capstone, and a
backtrace unwound with the program's call-frame information
(azemu/backtrace.py), each frame with its symbol and object.
"""
from __future__ import annotations

import os

import capstone

from .backtrace import frames
from .core import Fault
from .memory import AddressSpace
from .symbols import Locator

_DESCRIPTION = {"SIGSEGV": "Segmentation fault", "SIGILL": "Illegal instruction",
                "SIGFPE": "Floating point exception", "SIGBUS": "Bus error",
                "SIGTRAP": "Trace/breakpoint trap"}

_md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def _where(mm: AddressSpace, addr: int) -> str:
    m = mm.find(addr)
    if m is None:
        return "an unmapped page"
    start, end = m.start, m.end
    for other in mm.mappings():                  # widen to the whole named object
        if other.name == m.name and other.end == start:
            start = other.start
    name = m.name.rsplit("/", 1)[-1] if m.name and not m.name.startswith("[") else m.name
    return f"{name or 'anonymous memory'}[{start:x}+{end - start:x}]"


def disassemble(code: bytes, rip: int) -> str:
    for insn in _md.disasm(code, rip, 1):
        return f"{insn.address:x}: {insn.bytes.hex(' '):<24} {insn.mnemonic} {insn.op_str}".rstrip()
    return f"{rip:x}: {code[:8].hex(' ')}  (not a valid instruction)"


def crash_report(core, fault: Fault, mm: AddressSpace, path: str, pid: int,
                 host_path=lambda name: name) -> str:
    """`host_path`: a mapping's name (the path the guest opened) as a host path."""
    regs = core.regs.read_all()
    rip = fault.rip
    prog = os.path.basename(path)
    where = Locator(mm, host_path)
    lines = []
    head = f"azemu: {prog}[{pid}]: {_DESCRIPTION.get(fault.signal, fault.signal)} ({fault.signal}): {fault.detail}"
    if fault.addr is not None:
        head += f" at {fault.addr:#x}"
    lines.append(head)
    lines.append(f"  ip {rip:016x} sp {regs['rsp']:016x} in {_where(mm, rip)}: {where.describe(rip)}")
    code = core.read_bytes(rip, 15)
    if code is None:
        lines.append(f"  instruction: {rip:x}: (cannot be read)")
    else:
        lines.append(f"  instruction: {disassemble(code, rip)}")
    names = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
    for i in range(0, len(names), 4):
        lines.append("  " + "  ".join(f"{n:>3} {regs[n]:016x}" for n in names[i:i + 4]))
    lines.append(f"  rip {rip:016x}  eflags {regs['eflags']:08x}  fs_base {regs['fs_base']:016x}")
    lines.append("  backtrace:")
    for i, pc in enumerate(_frames(core, mm, dict(regs, rip=rip), where)):
        lines.append(f"    #{i:<2} {pc:016x} {where.describe(pc, call_site=i > 0)}")
    return "\n".join(lines)


def _frames(core, mm, regs, where) -> list[int]:
    def read_u64(addr):
        data = core.read_bytes(addr, 8)
        return int.from_bytes(data, "little") if data is not None and len(data) == 8 else None

    def is_code(addr):
        m = mm.find(addr)
        return m is not None and bool(m.prot & 4)                  # PROT_EXEC
    try:
        return frames(regs, where, read_u64, is_code)
    except Exception:                          # a report must never fail: the innermost frame only
        return [regs["rip"]]
