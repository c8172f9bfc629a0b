"""What an address in a guest program is: `main+42` in which object, and how
to unwind the frame it is in.  For crash reports (azemu/crash.py) and core
files (azemu/coredump.py).

An address belongs to a mapping of the guest's address space; a mapping
made from an ELF file is named by that file.  The object's load bias is where
its first mapping starts less its first PT_LOAD's page, so that static,
static-pie and dynamic programs and their shared libraries read alike.  Each
file is read once (pyelftools): its function symbols (.symtab, else
.dynsym) and its call-frame information (.eh_frame), kept per path.
"""
from __future__ import annotations

import bisect
import os

from elftools.common.exceptions import ELFError
from elftools.dwarf.callframe import FDE
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

_PAGE = 4096


class ObjectFile:
    """One ELF file's symbols and unwind tables (by link-time address)."""

    def __init__(self, path: str):
        self.path = path
        self.first_load = 0
        self._starts, self._syms = [], []          # sorted (start, end, name)
        self._fdes = None                          # sorted (start, end, FDE), read when first asked
        self._elf_file = None
        with open(path, "rb") as f:
            elf = ELFFile(f)
            loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
            if loads:
                self.first_load = min(s["p_vaddr"] for s in loads) & ~(_PAGE - 1)
            syms = []
            for name in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(name)
                if isinstance(sec, SymbolTableSection):
                    for s in sec.iter_symbols():
                        if s["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and s["st_value"] and s.name:
                            syms.append((s["st_value"], s["st_value"] + max(s["st_size"], 1), s.name))
                    if syms:
                        break
        syms.sort()
        self._syms = syms
        self._starts = [s[0] for s in syms]

    def symbol(self, vaddr: int):
        """(name, offset) of the function holding link-time address `vaddr`, or None."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        while i >= 0:
            start, end, name = self._syms[i]
            if start <= vaddr < end:
                return name, vaddr - start
            if end <= vaddr:
                return None
            i -= 1
        return None

    def address(self, name: str) -> int | None:
        """The link-time address of function `name`, or None."""
        for start, _end, sym in self._syms:
            if sym == name:
                return start
        return None

    def fde_row(self, vaddr: int):
        """The unwind rule row in force at `vaddr` (a dict: 'cfa' and
        register rules by DWARF number), or None."""
        if self._fdes is None:
            self._fdes = []
            try:
                self._elf_file = open(self.path, "rb")       # kept: FDEs are decoded when needed
                elf = ELFFile(self._elf_file)
                if elf.get_section_by_name(".eh_frame") is not None:
                    for e in elf.get_dwarf_info().EH_CFI_entries():
                        if isinstance(e, FDE):
                            start = e.header["initial_location"]
                            self._fdes.append((start, start + e.header["address_range"], e))
            except (ELFError, OSError, ValueError, KeyError, AttributeError, AssertionError):
                self._fdes = []
            self._fdes.sort(key=lambda x: x[0])
        starts = [x[0] for x in self._fdes]
        i = bisect.bisect_right(starts, vaddr) - 1
        if i < 0 or not self._fdes[i][0] <= vaddr < self._fdes[i][1]:
            return None
        try:
            table = self._fdes[i][2].get_decoded().table
        except Exception:                                # one odd FDE: no rule here
            return None
        row = None
        for r in table:
            if r["pc"] <= vaddr:
                row = r
            else:
                break
        return row


_cache: dict[str, ObjectFile | None] = {}


def object_file(path: str) -> ObjectFile | None:
    if path not in _cache:
        try:
            _cache[path] = ObjectFile(path) if os.path.isfile(path) else None
        except (ELFError, OSError, ValueError, KeyError, AssertionError):
            _cache[path] = None
    return _cache[path]


class Locator:
    """Addresses of one address space -> (object, bias); `host_path`
    turns a mapping's name (the path the guest opened) into a host path."""

    def __init__(self, mm, host_path=lambda name: name):
        self.mm = mm
        self.host_path = host_path

    def object_at(self, addr: int):
        """(ObjectFile, bias, short name) for the ELF mapped at `addr`, or None."""
        m = self.mm.find(addr)
        if m is None or not m.name or m.name.startswith("["):
            return None
        first = min((x.start for x in self.mm.mappings() if x.name == m.name), default=m.start)
        path = self.host_path(m.name)
        obj = object_file(path) if path else None
        if obj is None:
            return None
        return obj, first - obj.first_load, os.path.basename(m.name)

    def describe(self, addr: int, call_site: bool = False) -> str:
        """`main+42 (prog)`, `?? (libc.so.6)` or `??`.  `call_site`: a return
        address, looked up one byte back (the call itself)."""
        found = self.object_at(addr)
        if found is None:
            return "??"
        obj, bias, short = found
        sym = obj.symbol(addr - bias - (1 if call_site else 0))
        if sym is None:
            return f"?? ({short})"
        name, off = sym
        if call_site:
            off += 1
        return f"{name}+{off} ({short})"
