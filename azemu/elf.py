"""Just enough of an ELF64 reader for execve: the header, the program headers,
and one named section.

The loader runs on every `azemu exec`, so it reads these few structures with
`struct` (the System V gABI's field names) instead of importing pyelftools,
whose import alone costs a large part of azemu's start-up.  pyelftools stays
for the tools that need all of an ELF: `azemu build`'s rewriter and `azemu
info`.  Everything here raises `ValueError` on a malformed file; the loader
turns that into the user's one line.
"""
from __future__ import annotations

import struct

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
ET_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
PT_LOAD, PT_INTERP, PT_PHDR, PT_TLS = 1, 3, 6, 7
PF_X, PF_W, PF_R = 1, 2, 4


class Segment:
    """One program header (Elf64_Phdr)."""
    __slots__ = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz",
                 "p_memsz", "p_align")

    def __init__(self, raw: tuple):
        (self.p_type, self.p_flags, self.p_offset, self.p_vaddr, self.p_paddr,
         self.p_filesz, self.p_memsz, self.p_align) = raw


class ElfFile:
    """The ELF64 little-endian file open as `f` (the caller checked the ident)."""

    def __init__(self, f):
        self.f = f
        f.seek(0)
        raw = f.read(_EHDR.size)
        if len(raw) < _EHDR.size:
            raise ValueError("the ELF header is cut short")
        (_, e_type, self.e_machine, _, self.e_entry, self.e_phoff, self.e_shoff, _,
         _, self.e_phentsize, self.e_phnum, self.e_shentsize, self.e_shnum,
         self.e_shstrndx) = _EHDR.unpack(raw)
        self.e_type = ET_TYPES.get(e_type, f"type {e_type}")
        if self.e_phnum and self.e_phentsize < _PHDR.size:
            raise ValueError(f"program headers of {self.e_phentsize} bytes")
        f.seek(self.e_phoff)
        table = f.read(self.e_phentsize * self.e_phnum)
        if len(table) < self.e_phentsize * self.e_phnum:
            raise ValueError("the program headers run past the end of the file")
        self.segments = [Segment(_PHDR.unpack_from(table, i * self.e_phentsize))
                         for i in range(self.e_phnum)]

    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.p_type == PT_LOAD]

    def read(self, offset: int, size: int) -> bytes:
        self.f.seek(offset)
        return self.f.read(size)

    def interpreter(self) -> str | None:
        """The PT_INTERP path of a dynamically linked program."""
        for s in self.segments:
            if s.p_type == PT_INTERP:
                return self.read(s.p_offset, s.p_filesz).rstrip(b"\0").decode(errors="replace")
        return None

    def section(self, name: str) -> bytes | None:
        """The contents of the section called `name`, or None."""
        if not self.e_shnum or self.e_shentsize < _SHDR.size or self.e_shstrndx >= self.e_shnum:
            return None
        table = self.read(self.e_shoff, self.e_shentsize * self.e_shnum)
        if len(table) < self.e_shentsize * self.e_shnum:
            return None
        headers = [_SHDR.unpack_from(table, i * self.e_shentsize) for i in range(self.e_shnum)]
        strtab = headers[self.e_shstrndx]
        names = self.read(strtab[4], strtab[5])
        want = name.encode()
        for h in headers:
            sh_name, sh_type, sh_offset, sh_size = h[0], h[1], h[4], h[5]
            if names[sh_name:sh_name + len(want) + 1] == want + b"\0":
                return b"" if sh_type == 8 else self.read(sh_offset, sh_size)   # NOBITS: empty
        return None
