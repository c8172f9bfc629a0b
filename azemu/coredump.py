"""An ELF core file of a crashed guest process, as Linux writes one, for gdb
(`gdb PROGRAM CORE`, then `bt`, `info registers`, `x/4i $pc`).

Layout (include/uapi/linux/elfcore.h, fs/binfmt_elf.c): an ELF64 header of
type ET_CORE, a PT_NOTE segment, then a PT_LOAD segment per mapping of the
address space.  The notes, each named "CORE":
  NT_PRSTATUS   the signal, the pid, and the thread's general registers
                (struct user_regs_struct order);
  NT_PRPSINFO   the program's name and arguments;
  NT_FPREGSET   the x87/SSE state (fxsave's 512 bytes);
  NT_AUXV       the auxiliary vector the program started with (gdb finds a
                PIE's load address in it);
  NT_FILE       which file each file mapping comes from (gdb finds shared
                libraries by it).
A segment's pages that were never touched (no frame) are left as holes of
the file: a large reservation costs nothing on disk, as with Linux.  Pages
are read through the page table, so writing a core takes no frame.
"""
from __future__ import annotations

import os
import struct

from .mmu import FRAME, P

ET_CORE, EM_X86_64 = 4, 62
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS, NT_FPREGSET, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 2, 3, 6, 0x46494C45
_PAGE = 4096
# struct user_regs_struct, in order
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
             "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
             "gs_base", "ds", "es", "fs", "gs")


def _note(kind: int, desc: bytes, name: bytes = b"CORE\0") -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)                         # noqa: E731
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def prstatus(signal: int, pid: int, ppid: int, regs: dict) -> bytes:
    """struct elf_prstatus (336 bytes on x86-64)."""
    values = {"cs": 0x33, "ss": 0x2B, "orig_rax": 0xFFFFFFFFFFFFFFFF, **regs}
    head = struct.pack("<iiihxxQQiiii", signal, 0, 0, signal, 0, 0, pid, ppid, pid, pid)
    times = bytes(64)                                              # utime, stime, cutime, cstime
    reg = struct.pack("<27Q", *[values.get(r, 0) & 0xFFFFFFFFFFFFFFFF for r in USER_REGS])
    return head + times + reg + struct.pack("<i4x", 1)             # pr_fpvalid


def prpsinfo(pid: int, ppid: int, uid: int, gid: int, name: bytes, args: bytes) -> bytes:
    """struct elf_prpsinfo (136 bytes)."""
    return struct.pack("<bcbb4xQIIiiii16s80s", 0, b"R", 0, 0, 0, uid, gid, pid, ppid, pid, pid,
                       name[:15], args[:79])


def file_note(mappings) -> bytes:
    files = [(m.start, m.end, m.pgoff, m.name) for m in mappings
             if m.name and not m.name.startswith("[") and m.pager is not None]
    out = struct.pack("<QQ", len(files), _PAGE)
    out += b"".join(struct.pack("<QQQ", s, e, off) for s, e, off, _ in files)
    return out + b"".join(os.fsencode(n) + b"\0" for *_, n in files)


def write_core(path: str, mm, regs: dict, fpu: bytes | None, *, signal: int, pid: int,
               ppid: int, uid: int, gid: int, name: bytes, args: bytes, auxv: bytes) -> None:
    """Write the core of the process whose address space is `mm` and whose
    crashed thread had `regs` (and FPU state `fpu`, fxsave format)."""
    maps = [m for m in mm.mappings()]
    notes = _note(NT_PRSTATUS, prstatus(signal, pid, ppid, regs))
    notes += _note(NT_PRPSINFO, prpsinfo(pid, ppid, uid, gid, name, args))
    if fpu:
        notes += _note(NT_FPREGSET, fpu[:512].ljust(512, b"\0"))
    if auxv:
        notes += _note(NT_AUXV, auxv)
    notes += _note(NT_FILE, file_note(maps))
    phnum = 1 + len(maps)
    data_at = 64 + 56 * phnum
    first_load = (data_at + len(notes) + _PAGE - 1) & ~(_PAGE - 1)
    phdrs = [struct.pack("<IIQQQQQQ", PT_NOTE, 0, data_at, 0, 0, len(notes), 0, 4)]
    offset = first_load
    for m in maps:
        flags = (PF_R if m.prot & 1 else 0) | (PF_W if m.prot & 2 else 0) | (PF_X if m.prot & 4 else 0)
        size = m.end - m.start
        filesz = size if m.prot & 1 else 0                         # Linux skips what it cannot read
        phdrs.append(struct.pack("<IIQQQQQQ", PT_LOAD, flags, offset, m.start, 0, filesz, size, _PAGE))
        offset += filesz
    header = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
              + struct.pack("<HHIQQQIHHHHHH", ET_CORE, EM_X86_64, 1, 0, 64, 0, 0, 64, 56, phnum,
                            64, 0, 0))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(header + b"".join(phdrs) + notes)
        offset = first_load
        for m in maps:
            if m.prot & 1:
                _write_pages(f, mm, m.start, m.end, offset)
                offset += m.end - m.start
        f.truncate(offset)


def _write_pages(f, mm, start: int, end: int, at: int) -> None:
    view = mm.phys.view
    for va in range(start, end, _PAGE):
        entry = mm.pt.get(va >> 12)
        if entry & P:                                               # a page with a frame
            frame = entry & FRAME
            f.seek(at + va - start)
            f.write(view[frame:frame + _PAGE])
