"""Just enough of an ELF64 reader for execve: the header, the program headers,
and one named section.

The loader runs on every `azemu exec`, so it reads these few structures with
`struct` (the System V gABI's field names) instead of importing pyelftools,
whose import alone costs a large part of azemu's start-up.  pyelftools stays
for the tools that need all of an ELF: `azemu build`'s rewriter and `azemu
info`.  Everything here raises `ValueError` on a malformed file (never reads
or seeks past what the file holds); the loader turns that into the user's
one line.  The program header checks are Linux's (fs/binfmt_elf.c:
load_elf_phdrs, and the PT_INTERP checks of load_elf_binary).
"""
from __future__ import annotations

import os
import struct

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
ET_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
PT_LOAD, PT_INTERP, PT_PHDR, PT_TLS = 1, 3, 6, 7
PF_X, PF_W, PF_R = 1, 2, 4
PHDR_TABLE_MAX = 65536     # the most bytes of program headers Linux reads (load_elf_phdrs)
PATH_MAX = 4096


class Truncated(ValueError):
    """The file ends before a structure it declares."""


def _file_size(f) -> int:
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return f.seek(0, 2)


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
        self.size = _file_size(f)
        f.seek(0)
        raw = f.read(_EHDR.size)
        if len(raw) < _EHDR.size:
            raise Truncated("the ELF header is cut short")
        (_, e_type, self.e_machine, _, self.e_entry, self.e_phoff, self.e_shoff, _,
         _, self.e_phentsize, self.e_phnum, self.e_shentsize, self.e_shnum,
         self.e_shstrndx) = _EHDR.unpack(raw)
        self.e_type = ET_TYPES.get(e_type, f"type {e_type}")
        self._interp: str | None | bool = False          # not read yet
        if self.e_phentsize != _PHDR.size:
            raise ValueError(f"program headers of {self.e_phentsize} bytes, not {_PHDR.size}")
        if not self.e_phnum:
            raise ValueError("no program headers")
        size = self.e_phentsize * self.e_phnum
        if size > PHDR_TABLE_MAX:
            raise ValueError(f"{self.e_phnum} program headers: more than Linux reads")
        table = self.read(self.e_phoff, size)
        if len(table) < size:
            raise Truncated("the program headers run past the end of the file")
        self.segments = [Segment(_PHDR.unpack_from(table, i * self.e_phentsize))
                         for i in range(self.e_phnum)]

    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.p_type == PT_LOAD]

    def read(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset`: fewer (or none) past the end of the file."""
        if offset >= self.size or size <= 0:
            return b""
        self.f.seek(offset)
        return self.f.read(min(size, self.size - offset))

    def interpreter(self) -> str | None:
        """The PT_INTERP path of a dynamically linked program (the first
        PT_INTERP, as Linux): 2 to PATH_MAX bytes, the last a NUL, the path
        what comes before the first NUL."""
        if self._interp is not False:
            return self._interp
        self._interp = None
        for s in self.segments:
            if s.p_type == PT_INTERP:
                if not 2 <= s.p_filesz <= PATH_MAX:
                    raise ValueError(f"a PT_INTERP of {s.p_filesz} bytes")
                raw = self.read(s.p_offset, s.p_filesz)
                if len(raw) < s.p_filesz:
                    raise Truncated("the PT_INTERP path runs past the end of the file")
                if raw[-1] != 0:
                    raise ValueError("the PT_INTERP path does not end with a NUL")
                self._interp = os.fsdecode(raw.split(b"\0", 1)[0])
                break
        return self._interp

    def section(self, name: str) -> bytes | None:
        """The contents of the section called `name`, or None (also when the
        section headers are not sound)."""
        if not self.e_shnum or self.e_shentsize < _SHDR.size or self.e_shstrndx >= self.e_shnum:
            return None
        table = self.read(self.e_shoff, self.e_shentsize * self.e_shnum)
        if len(table) < self.e_shentsize * self.e_shnum:
            return None
        headers = [_SHDR.unpack_from(table, i * self.e_shentsize) for i in range(self.e_shnum)]
        strtab = headers[self.e_shstrndx]
        names = self.read(strtab[4], min(strtab[5], 1 << 20))
        want = name.encode()
        for h in headers:
            sh_name, sh_type, sh_offset, sh_size = h[0], h[1], h[4], h[5]
            if names[sh_name:sh_name + len(want) + 1] == want + b"\0":
                if sh_type == 8:                                 # NOBITS: empty
                    return b""
                data = self.read(sh_offset, sh_size)
                return data if len(data) == sh_size else None
        return None
