"""What a program image is made of: its app, its runtime (libc, libgcc, the
C start files) and the azemu libOS — for `azemu bench boot` (bench_boot.py).

Sizes come from the ELF symbol table (pyelftools).  Each defined symbol with
an extent (st_size, or for the libOS's unsized labels the distance to the
next symbol of its section) is counted once per address range, as text (an
executable section) or data (any other allocated section: .rodata, .data,
.bss, .tdata; not .tbss, which is each thread's and in no segment), and
attributed by one rule:

  libos    the image has the libOS (its `.azemu_libos` section) and the name
           is a label of kernels/libos/libos.S (azemu_libos_*, `syscall`);
  runtime  a local symbol whose file (the STT_FILE before it: `printf.o`,
           `exit.lo`, `crtstuff.c`) is a member of the runtime archives or a
           C start file; a global symbol defined in those archives (`nm`);
  app      every other symbol: the program's own objects.

The runtime is what a C program links implicitly (libc, libm, libpthread,
libgcc, the start files): another library linked in (libstdc++, a -l of the
program's own) counts as app.  The runtime archives are those of the image's
C library: musl when its file
symbols are musl's `.lo` objects, else glibc — found with `gcc
-print-file-name` (glibc, libgcc) and musl-gcc's specs directory.  Without
them (no gcc on this host) app and runtime are None; for a stripped
program (no .symtab) all three are.  Bytes no symbol covers
(string literals, .eh_frame, padding) are `unattributed`: app + runtime +
libos + unattributed = loaded, the PT_LOAD segments' memsz.  For a dynamic
program these are the program file's alone (`dynamic`): its interpreter and
shared libraries are not counted.
"""
from __future__ import annotations

import bisect
import functools
import os
import re
import shutil
import subprocess

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

PARTS = ("app", "runtime", "libos")
_MUSL_DIRS = ("/usr/lib/x86_64-linux-musl", "/usr/lib/musl/lib", "/usr/local/musl/lib")
_START_FILES = {"crtstuff.c", "Scrt1.c", "crt1.c", "rcrt1.c", "start.S", "crti.o", "crtn.o",
                "crt1.o", "Scrt1.o", "crti.S", "crtn.S"}


class ImageError(Exception):
    """The file is not an ELF whose parts can be told apart (one line)."""


@functools.lru_cache(maxsize=1)
def libos_labels() -> frozenset:
    """The names kernels/libos/libos.S defines (its labels and .set symbols)."""
    from importlib.resources import files
    try:
        text = (files("kernels.libos") / "libos.S").read_text()
    except OSError:
        return frozenset()
    names = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*):", text, re.M))
    names |= set(re.findall(r"^\s*\.set\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.M))
    return frozenset(names)


def _gcc_file(name: str) -> str | None:
    if shutil.which("gcc") is None:
        return None
    try:
        out = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                             text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if os.path.isabs(out) and os.path.isfile(out) else None


def runtime_files(libc: str) -> list[str]:
    """The archives and start files a static program of `libc` links from."""
    found = [_gcc_file(n) for n in ("libgcc.a", "libgcc_eh.a", "crtbeginT.o", "crtend.o")]
    if libc == "musl":
        for d in _MUSL_DIRS:
            if os.path.isfile(os.path.join(d, "libc.a")):
                found += [os.path.join(d, n) for n in ("libc.a", "crt1.o", "crti.o", "crtn.o")]
                break
    else:
        found += [_gcc_file(n) for n in ("libc.a", "libm.a", "libpthread.a", "crt1.o",
                                         "crti.o", "crtn.o")]
    return [f for f in found if f and os.path.isfile(f)]


@functools.lru_cache(maxsize=4)
def runtime_symbols(libc: str) -> tuple[frozenset, frozenset] | None:
    """(global names defined, member file names) of `libc`'s runtime, or
    None when its archives or `nm` are not on this host."""
    paths = runtime_files(libc)
    if not any(p.endswith("libc.a") for p in paths) or shutil.which("nm") is None:
        return None
    names, members = set(), set()
    for p in paths:
        members.add(os.path.basename(p))
        try:
            out = subprocess.run(["nm", "-g", "--defined-only", p], capture_output=True,
                                 text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in out.splitlines():
            if line.endswith(":") and " " not in line:           # "member.o:"
                members.add(line[:-1])
            else:
                parts = line.split()
                if len(parts) == 3:
                    names.add(parts[2])
    return frozenset(names), frozenset(members)


def _symbols(elf):
    """[(name, kind, file, shndx, value, size)] of the defined symbols,
    kind 'local' or 'global'; file: the STT_FILE a local follows."""
    sec = elf.get_section_by_name(".symtab")
    if not isinstance(sec, SymbolTableSection):
        return None
    out, current = [], None
    for s in sec.iter_symbols():
        typ, bind = s["st_info"]["type"], s["st_info"]["bind"]
        if typ == "STT_FILE":
            current = s.name
            continue
        shndx = s["st_shndx"]
        if not isinstance(shndx, int) or shndx == 0 or typ == "STT_SECTION" or not s.name:
            continue
        out.append((s.name, "local" if bind == "STB_LOCAL" else "global", current, shndx,
                    s["st_value"], s["st_size"]))
    return out


def _libc_of(symbols) -> str:
    return "musl" if any(f and f.endswith(".lo") for _, _, f, *_ in symbols) else "glibc"


def measure(path: str) -> dict:
    """Sizes of the image at `path` in bytes: file, loaded, and per part
    text and data (see the module docstring).  Raises ImageError."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            file_size = os.fstat(f.fileno()).st_size
            segments = list(elf.iter_segments())
            loaded = sum(s["p_memsz"] for s in segments if s["p_type"] == "PT_LOAD")
            dynamic = any(s["p_type"] == "PT_INTERP" for s in segments)
            # .tbss (TLS, no bits) is each thread's, not in a PT_LOAD segment: left out
            sections = [(0 if s["sh_flags"] & 0x400 and s["sh_type"] == "SHT_NOBITS"
                         else s["sh_flags"], s["sh_addr"], s["sh_size"])
                        for s in elf.iter_sections()]
            has_libos = elf.get_section_by_name(".azemu_libos") is not None
            symbols = _symbols(elf)
    except (ELFError, OSError, ValueError, KeyError, AssertionError) as e:
        raise ImageError(f"{path}: not an ELF file whose sizes can be read ({e})") from None
    if symbols is None:                         # stripped: only the totals
        return {"file": file_size, "loaded": loaded, "libc": None, "libos_image": has_libos,
                "dynamic": dynamic,
                "split_method": "unavailable (no symbol table: stripped)",
                "app": None, "runtime": None, "libos": None, "unattributed": None}
    libc = _libc_of(symbols)
    rt = runtime_symbols(libc)
    labels = libos_labels() if has_libos else frozenset()
    sizes = {p: {"text": 0, "data": 0} for p in PARTS}

    def part(name, kind, file):
        if name in labels:
            return "libos"
        if rt is None:
            return None
        if kind == "local":
            return "runtime" if (file in rt[1] or file in _START_FILES) else "app"
        return "runtime" if name in rt[0] else "app"

    by_section: dict[int, list] = {}
    for name, kind, file, shndx, value, size in symbols:
        if shndx < len(sections) and sections[shndx][0] & 0x2:        # SHF_ALLOC
            by_section.setdefault(shndx, []).append((value, size, name, kind, file))
    counted = 0
    for shndx, syms in by_section.items():
        flags, sec_addr, sec_size = sections[shndx]
        column = "text" if flags & 0x4 else "data"                       # SHF_EXECINSTR
        syms.sort(key=lambda s: (s[0], -s[1]))
        starts = sorted({s[0] for s in syms})
        seen = set()
        for value, size, name, kind, file in syms:
            p = part(name, kind, file)
            if p is None:
                continue
            if size == 0 and p == "libos":          # an unsized label: up to the next symbol
                i = bisect.bisect_right(starts, value)
                end = starts[i] if i < len(starts) else sec_addr + sec_size
                size = max(end - value, 0)
            if size == 0 or (value, size) in seen:
                continue
            seen.add((value, size))
            sizes[p][column] += size
            counted += size
    for p in sizes:
        sizes[p]["total"] = sizes[p]["text"] + sizes[p]["data"]
    split_known = rt is not None
    result = {"file": file_size, "loaded": loaded, "libc": libc, "libos_image": has_libos,
              "dynamic": dynamic,
              "split_method": "symbol table + runtime archives" if split_known
              else "unavailable (no libc archive or nm on this host)"}
    for p in PARTS:
        result[p] = sizes[p] if (split_known or p == "libos") else None
    result["unattributed"] = max(loaded - counted, 0)
    return result
