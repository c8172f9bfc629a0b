"""Unwinding a crashed guest thread's stack: the frames of a backtrace.

Each step applies the call-frame information of the function the pc is in
(.eh_frame, read by azemu/symbols.py): the canonical frame address (CFA) is
a register plus an offset, the return address and the callee-saved registers
are saved at offsets from it.  Where a function has none, the frame-pointer
chain is followed instead (rbp -> saved rbp, return address above it).  The
walk stops at a null or unmapped return address, a stack that does not move
up, or MAX_FRAMES.  Memory is read without side effects (`read_u64` returns
None for what is not there), so a bad stack ends the walk, never the report.
"""
from __future__ import annotations

MAX_FRAMES = 64
# DWARF register numbers of x86-64 (System V ABI, Figure 3.36)
DWARF_REGS = {0: "rax", 1: "rdx", 2: "rcx", 3: "rbx", 4: "rsi", 5: "rdi", 6: "rbp", 7: "rsp",
              8: "r8", 9: "r9", 10: "r10", 11: "r11", 12: "r12", 13: "r13", 14: "r14", 15: "r15"}
RA = 16


def frames(regs: dict, locator, read_u64, is_code) -> list[int]:
    """The pcs of the thread's frames, innermost first: its rip, then each
    return address.  `is_code(addr)`: an executable mapping holds it."""
    pc = regs.get("rip", 0)
    regs = {k: regs[k] for k in DWARF_REGS.values() if k in regs}
    regs["rip"] = pc
    out = [pc]
    first = True
    while len(out) < MAX_FRAMES:
        step = _cfi_step(regs, pc, first, locator, read_u64) or _fp_step(regs, read_u64)
        if step is None:
            break
        new_pc, new_regs = step
        if not new_pc or not is_code(new_pc) or new_regs.get("rsp", 0) <= regs.get("rsp", 0):
            break
        out.append(new_pc)
        regs, pc, first = new_regs, new_pc, False
    return out


def _cfi_step(regs, pc, first, locator, read_u64):
    found = locator.object_at(pc)
    if found is None:
        return None
    obj, bias, _ = found
    row = obj.fde_row(pc - bias - (0 if first else 1))
    if row is None:
        return None
    rule = row["cfa"]
    if rule.expr is not None or DWARF_REGS.get(rule.reg) not in regs:
        return None
    cfa = regs[DWARF_REGS[rule.reg]] + rule.offset
    new = dict(regs)
    new["rsp"] = cfa
    for number, rr in row.items():
        if not isinstance(number, int):
            continue
        if rr.type == "OFFSET":
            value = read_u64(cfa + rr.arg)
            if value is None:
                return None
            if number == RA:
                new["rip"] = value
            elif number in DWARF_REGS:
                new[DWARF_REGS[number]] = value
        elif rr.type == "UNDEFINED" and number == RA:
            return None                                   # the outermost frame (_start)
    if "rip" not in new or new["rip"] == regs.get("rip") and cfa == regs.get("rsp"):
        return None
    return new["rip"], new


def _fp_step(regs, read_u64):
    rbp = regs.get("rbp", 0)
    if not rbp or rbp & 7 or rbp <= regs.get("rsp", 0) - 8:
        return None
    saved_rbp, ra = read_u64(rbp), read_u64(rbp + 8)
    if saved_rbp is None or ra is None:
        return None
    new = dict(regs)
    new.update(rbp=saved_rbp, rsp=rbp + 16, rip=ra)
    return ra, new
