"""Post-link rewriting of a source-compatible image's remaining `syscall` sites.

After `azemu build` links a program with the libOS, libc's internal syscall
wrappers still contain `syscall` instructions.  As HermiTux does, each site is
rewritten into a 5-byte `jmp` to a per-site trampoline in the libOS's
`azemu_libos_tramp` area.  The 2-byte `syscall` is too short for a jump, so the
jump also takes the place of whole instructions next to it (before it first,
after it if need be); the trampoline runs them around a call to
`azemu_libos_syscall`, made 128 bytes below the stack pointer (sparing the red
zone), with the flags saved around it and rcx and r11 left as the `syscall`
instruction leaves them (the return address; the flags, IF set):

    site:  mov %r12,%rdi; mov $39,%eax; syscall     ->    jmp tramp; int3...
    tramp: mov %r12,%rdi; mov $39,%eax
           lea -128(%rsp),%rsp; pushfq; call azemu_libos_syscall
           mov (%rsp),%r11; or $0x200,%r11; popfq; lea site_end(%rip),%rcx
           lea 128(%rsp),%rsp; jmp site_end

Moved instructions must not be branches; rip-relative operands are re-aimed.
Nothing may jump into the middle of the patched bytes: every direct branch
target and every symbol in the code (function entries reached only through
pointers) is collected first, and only code sections are swept, data objects
in them skipped.  Two sites never share patched bytes.  A site that fails
these checks is left as a trap: still correct, only slower, and reported.
Targets no static analysis can see (computed jumps into the middle of a
function, jump tables into such windows) are the known limit, as for HermiTux.
So is code that runs without a stack: a rewritten site returns through the
stack and the calling thread's libOS block (in its TLS), so the sites of
functions that unmap their own stack and TLS before their last syscalls
(musl's `__unmapself`, at the end of a detached thread) stay traps.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import capstone
from elftools.elf.elffile import ELFFile

SLOT = 96                 # bytes per trampoline (see the layout above)
# Functions whose syscalls run after their own stack is gone (see above).
STACKLESS = {"__unmapself"}
_BRANCH = {"jmp", "call", "je", "jne", "jz", "jnz", "ja", "jae", "jb", "jbe", "jg", "jge",
           "jl", "jle", "js", "jns", "jo", "jno", "jp", "jnp", "jrcxz", "jecxz", "loop",
           "loope", "loopne"}


@dataclass
class RewriteReport:
    syscall_sites: int = 0                      # `syscall` instructions found in the code
    rewritten: int = 0
    left: dict = field(default_factory=dict)    # reason -> count

    def summary(self) -> str:
        left = ", ".join(f"{n} {why}" for why, n in sorted(self.left.items())) or "none"
        return (f"{self.syscall_sites} syscall sites: {self.rewritten} rewritten to function "
                f"calls, left as traps: {left}")


def _symbols(elf) -> dict:
    tab = elf.get_section_by_name(".symtab")
    return {s.name: s["st_value"] for s in tab.iter_symbols()} if tab else {}


def _exec_segments(elf):
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 1:
            yield seg["p_vaddr"], seg["p_offset"], seg["p_filesz"]


def _code_sections(elf):
    """(address, file offset, size) of the sections that hold instructions."""
    for sec in elf.iter_sections():
        if sec["sh_flags"] & 0x4 and sec["sh_type"] == "SHT_PROGBITS" \
                and sec.name != ".text.azemu_tramp":
            yield sec["sh_addr"], sec["sh_offset"], sec["sh_size"]


def _symbol_ranges(elf):
    """Function entries (branch targets), data objects (not code), and the
    ranges of the STACKLESS functions."""
    funcs, objects, stackless = set(), [], []
    tab = elf.get_section_by_name(".symtab")
    for s in (tab.iter_symbols() if tab else ()):
        kind = s["st_info"]["type"]
        if kind in ("STT_FUNC", "STT_NOTYPE") and s["st_shndx"] != "SHN_UNDEF" and s["st_value"]:
            funcs.add(s["st_value"])
            if s.name in STACKLESS:
                stackless.append((s["st_value"], s["st_size"]))
        elif kind == "STT_OBJECT" and s["st_size"]:
            objects.append((s["st_value"], s["st_value"] + s["st_size"]))
    # assembly functions often have no size: they end where the next one starts
    ranges = [(lo, lo + size if size else min((f for f in funcs if f > lo), default=lo + 1))
              for lo, size in stackless]
    return funcs, objects, ranges


def rewrite(path_in: str, path_out: str) -> RewriteReport:
    data = bytearray(open(path_in, "rb").read())
    with open(path_in, "rb") as f:
        elf = ELFFile(f)
        syms = _symbols(elf)
        segs = list(_exec_segments(elf))
        code = list(_code_sections(elf))
        funcs, objects, stackless = _symbol_ranges(elf)
    need = ("azemu_libos_syscall", "azemu_libos_tramp", "azemu_libos_tramp_end")
    if not all(n in syms for n in need):
        raise ValueError(f"{path_in}: not linked with the azemu libOS")
    target = syms["azemu_libos_syscall"]
    tramp, tramp_end = syms["azemu_libos_tramp"], syms["azemu_libos_tramp_end"]

    insns, targets = _sweep(data, code, objects)
    targets |= funcs
    order = sorted(insns)
    used = set()                         # instructions already moved by another site
    index = {a: i for i, a in enumerate(order)}
    rep = RewriteReport()
    slot = tramp
    for addr in order:
        if insns[addr][1] != "syscall" or tramp <= addr < tramp_end:
            continue
        rep.syscall_sites += 1
        if any(lo <= addr < hi for lo, hi in stackless):
            rep.left["runs without a stack"] = rep.left.get("runs without a stack", 0) + 1
            continue
        window = _window(addr, insns, order, index, targets)
        if not isinstance(window, str) and used.intersection(window[0] + [addr] + window[1]):
            window = "overlaps another site"
        if isinstance(window, str):
            rep.left[window] = rep.left.get(window, 0) + 1
            continue
        used.update(window[0] + [addr] + window[1])
        if slot + SLOT > tramp_end:
            rep.left["no trampoline slot"] = rep.left.get("no trampoline slot", 0) + 1
            continue
        before, after = window
        start = before[0] if before else addr
        end = (after[-1] + insns[after[-1]][0]) if after else addr + 2

        def moved(addrs, at):
            out = b""
            for a in addrs:
                out += _relocated(data, segs, a, insns[a], at + len(out))
            return out
        code = moved(before, slot)
        code += b"\x48\x8d\x64\x24\x80"                          # lea -0x80(%rsp),%rsp
        code += b"\x9c"                                          # pushfq
        code += b"\xe8" + struct.pack("<i", target - (slot + len(code) + 5))  # call the libOS
        code += b"\x4c\x8b\x1c\x24"                              # mov (%rsp),%r11: the flags
        code += b"\x49\x81\xcb\x00\x02\x00\x00"                  # or $0x200,%r11 (IF)
        code += b"\x9d"                                          # popfq: the caller's flags back
        code += b"\x48\x8d\x0d" + struct.pack("<i", addr + 2 - (slot + len(code) + 7))  # lea site_end,%rcx
        code += b"\x48\x8d\xa4\x24\x80\x00\x00\x00"             # lea 0x80(%rsp),%rsp
        code += moved(after, slot + len(code))
        code += b"\xe9" + struct.pack("<i", end - (slot + len(code) + 5))     # jmp back
        if len(code) > SLOT:
            rep.left["too long to move"] = rep.left.get("too long to move", 0) + 1
            continue
        toff = _file_offset(segs, slot)
        data[toff:toff + len(code)] = code
        soff = _file_offset(segs, start)
        patch = b"\xe9" + struct.pack("<i", slot - (start + 5))
        data[soff:soff + (end - start)] = patch + b"\xcc" * (end - start - 5)
        slot += SLOT
        rep.rewritten += 1
    with open(path_out, "wb") as f:
        f.write(data)
    return rep


def _window(addr, insns, order, index, targets):
    """The instructions to move with the `syscall` at `addr` so that a 5-byte
    jump fits: ([before...], [after...]), or the reason there is none.
    Instructions before it are taken first; then instructions after it."""
    before, after = [], []
    start, end = addr, addr + 2
    if addr in targets:
        # something jumps straight to the syscall: only a window starting here works
        before = None
    while before is not None and end - start < 5:
        i = index[start] - 1
        prev = order[i] if i >= 0 else None
        if prev is None or prev + insns[prev][0] != start or _unmovable(*insns[prev][1:]):
            break
        before.insert(0, prev)
        start = prev
        if start in targets:             # entering the window here is fine: it is the jmp
            break
    if before is None:
        before = []
    while end - start < 5:
        nxt = end
        if nxt not in insns or nxt in targets or _unmovable(*insns[nxt][1:]):
            return "branch target" if nxt in targets else "no room around it"
        after.append(nxt)
        end = nxt + insns[nxt][0]
    # no branch may land strictly inside the patched bytes
    for a in before[1:] + [addr] + after:
        if a != start and a in targets:
            return "branch target"
    return before, after


def _relocated(data, segs, addr, insn, new_addr) -> bytes:
    """The bytes of the instruction at `addr`, fixed up to run at `new_addr`."""
    size, mnem, ops = insn
    off = _file_offset(segs, addr)
    raw = bytearray(data[off:off + size])
    if "rip" in ops:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        md.detail = True
        i = next(md.disasm(bytes(raw), addr))
        disp = i.disp + addr - new_addr
        if i.disp_size != 4 or not -2**31 <= disp < 2**31:
            raise ValueError("rip-relative displacement out of range")
        struct.pack_into("<i", raw, i.disp_offset, disp)
    return bytes(raw)


def _unmovable(mnem: str, ops: str) -> bool:
    """Branches move badly (their targets are relative); so do the few
    instructions that read rip other than through a rip-relative operand."""
    return (mnem.startswith("j") or mnem.startswith("loop") or mnem in
            ("call", "ret", "syscall", "int3", "ud2", "hlt", "int", "iretq", "sysret",
             "xbegin", "xend", "endbr64"))


def _file_offset(segs, vaddr: int) -> int:
    for base, off, size in segs:
        if base <= vaddr < base + size:
            return off + vaddr - base
    raise ValueError(f"{vaddr:#x} is not in the file")


def _sweep(data, sections, objects):
    """{address: (size, mnemonic, operands)} for every instruction, and the set
    of direct branch targets, by a linear sweep of the code sections; data
    objects inside them are stepped over."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    insns, targets = {}, set()
    objects = sorted(objects)
    for vaddr, off, size in sections:
        # split the section around the data objects in it
        pieces, cur = [], vaddr
        for lo, hi in objects:
            if hi <= cur or lo >= vaddr + size:
                continue
            if lo > cur:
                pieces.append((cur, lo))
            cur = max(cur, hi)
        if cur < vaddr + size:
            pieces.append((cur, vaddr + size))
        for lo, hi in pieces:
            code = bytes(data[off + lo - vaddr:off + hi - vaddr])
            pos = 0
            while pos < len(code):
                last = pos
                for addr, ln, mnem, ops in md.disasm_lite(code[pos:], lo + pos):
                    insns[addr] = (ln, mnem, ops)
                    if (mnem in _BRANCH or mnem.startswith("j")) and ops.startswith("0x"):
                        try:
                            targets.add(int(ops, 16))
                        except ValueError:
                            pass
                    last = addr - lo + ln
                pos = last if last > pos else pos + 1     # skip a byte capstone cannot decode
    return insns, targets
