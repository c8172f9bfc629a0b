"""Loading a Linux x86-64 ELF program into a fresh address space (execve's job).

Handles static `ET_EXEC`, static-pie (`ET_DYN` without an interpreter) and
dynamically linked programs (the `PT_INTERP` interpreter is loaded beside the
program and started first, as Linux does).  Builds the System V initial stack:
argc, argv, envp, the auxiliary vector, and the strings and random bytes they
point to.

Everything that makes a file unrunnable is reported as one `ExecError` carrying
the message a user should see and the exit status a shell would give (126 for
"found but cannot execute", 127 for "not found").  A malformed file is one of
them: its header and segments are checked before anything is mapped (the
checks Linux's load_elf_binary makes, most of which it makes only past
execve's point of no return and answers with SIGSEGV), and no size or
address in the file is trusted to be small (tests/test_elf_fuzz.py).
"""
from __future__ import annotations

import os
import stat
import struct

from .elf import ElfFile, Truncated
from .memory import (PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace, OutOfMemory,
                     page_down, page_up)

# Auxiliary vector keys (include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h).
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE = 0, 3, 4, 5, 6, 7
AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID = 8, 9, 11, 12, 13, 14
AT_PLATFORM, AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_RANDOM = 15, 16, 17, 23, 25
AT_HWCAP2, AT_EXECFN, AT_MINSIGSTKSZ = 26, 31, 51

# Where Linux puts things when address-space randomisation is off.
ET_DYN_BASE = 0x555555554000            # ELF_ET_DYN_BASE for a 47-bit user space
STACK_TOP = 0x7FFFFFFFF000
USER_TOP = STACK_TOP                    # TASK_SIZE: the end of a 47-bit user space
STACK_SIZE = 8 << 20                    # the default RLIMIT_STACK
STACK_MIN = 128 << 10                   # what Linux's first stack mapping has beyond the strings
STACK_GUARD = 256 * 4096                # stack_guard_gap: no growing closer to a mapping
MMAP_TOP = STACK_TOP - STACK_SIZE - (1 << 30)  # mmap area starts below a stack gap

EM_X86_64 = 62
_MACHINES = {3: "x86 (i386)", 40: "ARM", 183: "AArch64", 243: "RISC-V", 8: "MIPS",
             20: "PowerPC", 21: "PowerPC64", 22: "S/390", 2: "SPARC", 62: "x86-64"}


class ExecError(Exception):
    """The program cannot be started; `status` is the shell's exit status."""

    def __init__(self, message: str, status: int = 126):
        super().__init__(message)
        self.message = message
        self.status = status


class Image:
    """What execve leaves behind: where to start and the process layout."""
    __slots__ = ("path", "entry", "program_entry", "stack_pointer", "brk", "load_bias",
                 "interp", "segments", "args", "env", "auxv")

    def __init__(self, path: str, entry: int, program_entry: int, stack_pointer: int, brk: int,
                 load_bias: int, interp: str | None = None, segments=None):
        self.args = self.env = (0, 0)        # [start, end) of the argv and envp strings
        self.auxv = b""                      # the auxiliary vector as laid out (/proc/PID/auxv)
        self.path = path
        self.entry = entry                   # where the first instruction runs (interpreter's if any)
        self.program_entry = program_entry   # AT_ENTRY
        self.stack_pointer = stack_pointer
        self.brk = brk                       # initial program break
        self.load_bias = load_bias
        self.interp = interp
        self.segments = segments or []       # (vaddr, memsz, prot) of the program


def _flags_to_prot(p_flags: int) -> int:
    prot = 0
    if p_flags & 4:
        prot |= PROT_READ
    if p_flags & 2:
        prot |= PROT_WRITE | PROT_READ
    if p_flags & 1:
        prot |= PROT_EXEC | PROT_READ
    return prot


def host_open(path: str):
    """Open a file of the host for reading (the default `opener`)."""
    return open(path, "rb")


def shown(path: str) -> str:
    """`path` fit for a one-line message: what is not printable escaped (a
    PT_INTERP may hold any bytes)."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _open(path: str, opener):
    """`opener(path)` as a binary file, its failures as the shell reports them."""
    name = shown(path)
    try:
        f = opener(path)
    except FileNotFoundError:
        raise ExecError(f"{name}: No such file or directory", 127)
    except IsADirectoryError:
        raise ExecError(f"{name}: Is a directory", 126)
    except PermissionError:
        raise ExecError(f"{name}: Permission denied", 126)
    except OSError as e:
        raise ExecError(f"{name}: {e.strerror or e}", 127 if e.errno == 2 else 126)
    except ValueError as e:                      # a path open() refuses (a NUL in it)
        raise ExecError(f"{name}: {e}", 126)
    if stat.S_ISDIR(os.fstat(f.fileno()).st_mode):
        f.close()
        raise ExecError(f"{name}: Is a directory", 126)
    return f


def open_elf(path: str, opener=host_open):
    """Open and validate `path` as a runnable x86-64 ELF; returns (file, ElfFile).
    `opener` opens a path as a binary file: the host's open, or one confined
    to a root (the kernel gives one for paths the guest names)."""
    f = _open(path, opener)
    path = shown(path)                         # (as the messages show it)
    head = f.read(64)
    if head[:4] != b"\x7fELF":
        f.close()
        what = "empty file" if not head else "not an ELF file"
        raise ExecError(f"{path}: cannot execute binary file: Exec format error ({what})", 126)
    if len(head) < 64 and (len(head) < 5 or head[4] == 2):
        f.close()
        raise ExecError(f"{path}: truncated ELF file (header is {len(head)} bytes)", 126)
    if head[4] != 2:
        f.close()
        bits = {1: "32-bit (ELFCLASS32)"}.get(head[4], f"ELF class {head[4]}")
        raise ExecError(f"{path}: cannot execute binary file: {bits} program; azemu runs x86-64 programs", 126)
    if head[5] != 1:
        f.close()
        raise ExecError(f"{path}: cannot execute binary file: big-endian ELF; azemu runs x86-64 programs", 126)
    machine = struct.unpack_from("<H", head, 18)[0]
    if machine != EM_X86_64:
        f.close()
        name = _MACHINES.get(machine, f"machine {machine}")
        raise ExecError(f"{path}: cannot execute binary file: {name} program; azemu runs x86-64 programs", 126)
    try:
        elf = ElfFile(f)
        if elf.e_type not in ("ET_EXEC", "ET_DYN"):
            raise ExecError(f"{path}: cannot execute binary file: not an executable ({elf.e_type})", 126)
        _check_segments(elf, path)
        elf.interpreter()                      # a PT_INTERP is checked here too
    except ExecError:
        f.close()
        raise
    except Truncated as e:
        f.close()
        raise ExecError(f"{path}: truncated ELF file ({e})", 126)
    except (struct.error, ValueError, OverflowError) as e:
        f.close()
        raise ExecError(f"{path}: malformed ELF file ({e})", 126)
    except OSError as e:
        f.close()
        raise ExecError(f"{path}: cannot read the ELF file ({e.strerror or e})", 126)
    return f, elf


def _check_segments(elf, path: str) -> None:
    """What Linux refuses in a PT_LOAD, refused before anything is mapped:
    file bytes past the end of the file, more file than memory, memory
    outside the user address space (the check of load_elf_binary, on the
    addresses as written), file bytes that cannot be mmapped (offset and
    address not congruent modulo the page size: mmap's EINVAL)."""
    loads = elf.loads()
    if not loads:
        raise ExecError(f"{path}: malformed ELF file (no loadable segment)", 126)
    for seg in loads:
        where = f"the segment at {seg.p_vaddr:#x}"
        if seg.p_offset + seg.p_filesz > elf.size:
            raise ExecError(f"{path}: truncated ELF file (a segment ends past the end of the file)", 126)
        if seg.p_filesz > seg.p_memsz:
            raise ExecError(f"{path}: malformed ELF file (segment file size exceeds memory size)", 126)
        if seg.p_vaddr >= USER_TOP or seg.p_memsz > USER_TOP - seg.p_vaddr:
            raise ExecError(f"{path}: malformed ELF file ({where}, {seg.p_memsz:#x} bytes, is "
                            f"outside the user address space)", 126)
        if seg.p_filesz and (seg.p_offset - seg.p_vaddr) % PAGE:
            raise ExecError(f"{path}: malformed ELF file ({where} and its file offset "
                            f"{seg.p_offset:#x} differ modulo the page size)", 126)


SCRIPT_HEAD = 256          # BINPRM_BUF_SIZE: how much of a #! line Linux reads
SCRIPT_DEPTH = 5           # scripts run by scripts: Linux runs 5 deep, refuses a 6th


def resolve_script(path: str, argv: list[bytes], opener=host_open, first=host_open):
    """What execve makes of a `#!` script (fs/binfmt_script.c): the
    interpreter runs instead, with argv [interpreter, optional argument,
    the script's path, the original argv[1:]...]; an interpreter may itself
    be a script.  Returns (the program to load, its argv, the opener to load
    it with); an ELF comes back as it is.  The script given is the host's;
    interpreter paths are the guest's, opened with `opener` (and the script
    itself with `first`: execve from a guest gives the guest's opener)."""
    given, how = path, first
    for depth in range(SCRIPT_DEPTH + 1):
        try:
            with how(path) as f:
                head = f.read(SCRIPT_HEAD)
        except OSError:
            return path, argv, how     # open_elf reports what is wrong with it
        if not head.startswith(b"#!"):
            return path, argv, how
        if depth == SCRIPT_DEPTH:
            break
        line = head[2:].split(b"\n", 1)[0]
        truncated = b"\n" not in head[2:]
        line = line.strip(b" \t")
        cut = next((i for i, c in enumerate(line) if c in b" \t"), len(line))
        interp, arg = line[:cut], line[cut:].strip(b" \t")
        if not interp or (truncated and not arg and len(head) == SCRIPT_HEAD):
            raise ExecError(f"{given}: cannot execute: Exec format error (no interpreter on its "
                            "#! line)", 126)
        argv = [interp] + ([arg] if arg else []) + [os.fsencode(path)] + argv[1:]
        path, how = os.fsdecode(interp), opener
        try:
            how(path).close()
        except FileNotFoundError:
            raise ExecError(f"{given}: {path}: bad interpreter: No such file or directory", 127)
        except OSError as e:
            raise ExecError(f"{given}: {path}: bad interpreter: {e.strerror}", 126)
    raise ExecError(f"{given}: too many levels of #! interpreters (ELOOP)", 126)


def _map_elf(aspace: AddressSpace, elf, bias: int, name: str, pager=None):
    """Map every PT_LOAD of `elf` at `bias`, as Linux's elf_load: each
    segment's pages replace whatever an earlier one mapped there (MAP_FIXED),
    hold the file's pages whole (bytes of the file before and after the
    segment in its first and last page too), the rest of the last file
    page is zeroed when the segment has a bss and is writable, and the
    pages past the file's are anonymous and writable (Linux maps them with
    vm_brk, which takes only PF_X from p_flags).  Returns
    (segments, highest end).  With `pager` (the kernel's cache of the file's
    pages), the file pages are mapped from it copy-on-write, as Linux's mmap
    (processes of one program share them, and the code translated from
    them); else they are copied in.  The segments were checked
    (_check_segments, _place): every size is bounded, and no loop here
    walks pages."""
    segs, top = [], 0
    for seg in elf.loads():
        vaddr, memsz, filesz = seg.p_vaddr + bias, seg.p_memsz, seg.p_filesz
        prot = _flags_to_prot(seg.p_flags)
        segs.append((vaddr, memsz, prot))
        top = max(top, vaddr + memsz)            # the break follows every segment, as Linux's
        if not memsz:                            # nothing to map (Linux maps nothing either)
            continue
        start, end = page_down(vaddr), page_up(vaddr + memsz)
        file_end = page_up(vaddr + filesz) if filesz else start
        if pager is not None and filesz:
            aspace.map(start, file_end - start, prot, name, pager=pager,
                       pgoff=page_down(seg.p_offset) // PAGE)
            aspace.populate(start, file_end)                    # the pages already cached
        elif filesz:
            aspace.map(start, file_end - start, prot, name)
            aspace.poke(start, elf.read(page_down(seg.p_offset), file_end - start))
        if memsz > filesz and prot & PROT_WRITE and file_end > vaddr + filesz:
            aspace.poke(vaddr + filesz, bytes(file_end - vaddr - filesz))   # padzero
        if end > file_end:                       # vm_brk: read-write whatever p_flags say
            aspace.map(file_end, end - file_end, PROT_READ | PROT_WRITE | (prot & PROT_EXEC), name)
    return segs, top


def _span(elf) -> tuple[int, int]:
    lo = min(s.p_vaddr for s in elf.loads())
    hi = max(s.p_vaddr + s.p_memsz for s in elf.loads())
    return page_down(lo), page_up(hi)


def _place(aspace: AddressSpace, elf, path: str, what: str, interp: bool = False) -> int:
    """The bias `elf`'s segments load at: none for ET_EXEC; for ET_DYN,
    ELF_ET_DYN_BASE for a program, else (an interpreter, a program too large
    for it) the highest free range below the mmap base, as Linux's mmap of
    the whole span.  Refuses what cannot be mapped there: a segment over
    the stack's first pages (Linux's MAP_FIXED_NOREPLACE fails on them, with
    address-space randomisation off), a bss larger than the memory (Linux's
    vm_brk accounting)."""
    lo, hi = _span(elf)
    if elf.e_type != "ET_DYN":
        bias = 0
    elif not interp and ET_DYN_BASE + (hi - lo) <= STACK_TOP - STACK_SIZE:
        bias = ET_DYN_BASE - lo
    else:
        base = aspace.find_free(hi - lo)
        if base is None:
            raise ExecError(f"{path}: cannot map {what}: Cannot allocate memory (its segments "
                            f"span {hi - lo:#x} bytes)", 126)
        bias = base - lo
    for seg in elf.loads():
        if not seg.p_memsz:
            continue
        start, end = page_down(seg.p_vaddr + bias), page_up(seg.p_vaddr + bias + seg.p_memsz)
        if end > STACK_TOP - STACK_MIN:
            raise ExecError(f"{path}: cannot map {what}: the segment at {start:#x}-{end:#x} "
                            f"overlaps the stack", 126)
        bss = end - page_up(seg.p_vaddr + bias + seg.p_filesz)
        if bss > aspace.commit_limit:
            raise ExecError(f"{path}: cannot map {what}: Cannot allocate memory (a segment of "
                            f"{seg.p_memsz:#x} bytes, more than the {aspace.commit_limit >> 20} "
                            f"MiB of memory)", 126)
    return bias


def _entry(elf, bias: int, path: str, what: str) -> int:
    """Where `elf` starts at `bias`; an address outside the user address space
    is refused (Linux: BAD_ADDR(elf_entry), a SIGSEGV past the point of no
    return); any other runs, and faults if nothing is mapped there."""
    entry = elf.e_entry + bias
    if not 0 <= entry < USER_TOP:
        raise ExecError(f"{path}: malformed ELF file ({what} entry point {elf.e_entry:#x} is "
                        f"outside the user address space)", 126)
    return entry


def _phdr_addr(elf, bias: int) -> int:
    """AT_PHDR as Linux (since 5.18) has it: where the PT_LOAD holding the
    program headers (the last that does) maps them; a PT_PHDR is not read."""
    addr = 0
    for seg in elf.loads():
        if seg.p_offset <= elf.e_phoff < seg.p_offset + seg.p_filesz:
            addr = seg.p_vaddr + elf.e_phoff - seg.p_offset
    return (addr + bias) & _U64


_U64 = (1 << 64) - 1


def load(aspace: AddressSpace, path: str, argv: list[bytes], envp: list[bytes],
         *, ids=(0, 0, 0, 0), hwcap: int = 0, random_bytes: bytes | None = None,
         execfn: bytes | None = None, opener=host_open, interp_opener=host_open,
         name: str | None = None, pager_of=None) -> Image:
    """execve(path, argv, envp) into the (empty) address space `aspace`;
    `path` is opened with `opener`, a dynamic program's interpreter (a guest
    path) with `interp_opener`; its mappings are named `name` (the path with
    its links resolved, as /proc/PID/maps shows it), else `path`.
    `pager_of(path, file)` gives the kernel's page cache of the file open
    as `file` to map from (or None: copied in)."""
    try:
        return _load(aspace, path, argv, envp, ids, hwcap, random_bytes, execfn, opener,
                     interp_opener, name, pager_of)
    except OutOfMemory:
        raise ExecError(f"{shown(path)}: Cannot allocate memory (the program does not fit in "
                        f"--mem {aspace.commit_limit >> 20}M)", 126) from None


def _load(aspace, path, argv, envp, ids, hwcap, random_bytes, execfn, opener, interp_opener,
          name, pager_of) -> Image:
    f, elf = open_elf(path, opener)
    shown_path = shown(path)
    with f:
        interp = elf.interpreter()
        bias = _place(aspace, elf, shown_path, "the program")
        entry = program_entry = _entry(elf, bias, shown_path, "its") if not interp \
            else (elf.e_entry + bias) & _U64
        segs, top = _map_elf(aspace, elf, bias, name or path,
                             pager_of(path, f) if pager_of is not None else None)
        phdr = _phdr_addr(elf, bias)
        phent, phnum = elf.e_phentsize, elf.e_phnum
        interp_base = 0
        if interp:
            try:
                fi, ielf = open_elf(interp, interp_opener)
                with fi:
                    ibias = _place(aspace, ielf, shown(interp), "it", interp=True)
                    entry = _entry(ielf, ibias, shown(interp), "its")
                    interp_base = ibias                  # AT_BASE: Linux's load_addr
                    _map_elf(aspace, ielf, ibias, interp,
                             pager_of(interp, fi) if pager_of is not None else None)
            except ExecError as e:
                raise ExecError(f"{shown_path}: cannot load its interpreter: {e.message}",
                                127 if e.status == 127 else 126)

    brk = page_up(top)
    # Not charged to the commit limit: Linux's stack starts at a few pages and is
    # charged as it grows; here the pages it touches take frames, as any do.  A
    # segment in the stack's 8 MiB leaves it less room to grow (Linux's guard gap).
    below = aspace.mappings_in(STACK_TOP - STACK_SIZE, STACK_TOP)
    bottom = min(max([m.end + STACK_GUARD for m in below] + [STACK_TOP - STACK_SIZE]),
                 STACK_TOP - STACK_MIN)
    aspace.map(bottom, STACK_TOP - bottom, PROT_READ | PROT_WRITE, "[stack]", reserve=False)
    sp, layout = _build_stack(aspace, argv, envp, execfn if execfn is not None else os.fsencode(path),
                      random_bytes if random_bytes is not None else os.urandom(16),
                      [(AT_PHDR, phdr), (AT_PHENT, phent), (AT_PHNUM, phnum),
                       (AT_PAGESZ, PAGE), (AT_BASE, interp_base), (AT_FLAGS, 0),
                       (AT_ENTRY, program_entry), (AT_UID, ids[0]), (AT_EUID, ids[1]),
                       (AT_GID, ids[2]), (AT_EGID, ids[3]), (AT_SECURE, 0),
                       (AT_HWCAP, hwcap), (AT_HWCAP2, 0), (AT_CLKTCK, 100),
                       (AT_MINSIGSTKSZ, 2048)])
    image = Image(path, entry, program_entry, sp, brk, bias, interp, segs)
    image.args, image.env, image.auxv = layout
    return image


def _build_stack(aspace, argv, envp, execfn, rnd, aux):
    """Lay out the initial process stack below STACK_TOP; returns the new rsp
    and where the argument and environment strings and the auxv lie."""
    blob = bytearray()
    top = STACK_TOP - 8                          # 8 zero bytes end the stack, as Linux

    def put(data: bytes) -> int:
        blob[0:0] = data
        return top - len(blob)

    execfn_at = put(execfn + b"\0")
    env_at = [put(e + b"\0") for e in reversed(envp)][::-1]
    arg_at = [put(a + b"\0") for a in reversed(argv)][::-1]
    platform_at = put(b"x86_64\0")
    random_at = put(rnd)
    strings_bottom = top - len(blob)
    aux = aux + [(AT_RANDOM, random_at), (AT_EXECFN, execfn_at), (AT_PLATFORM, platform_at), (AT_NULL, 0)]
    words = [len(argv)] + arg_at + [0] + env_at + [0]
    for k, v in aux:
        words += [k, v]
    table_size = 8 * len(words)
    sp = (strings_bottom - table_size) & ~0xF
    aspace.write(sp, struct.pack(f"<{len(words)}Q", *words))
    aspace.write(strings_bottom, bytes(blob))
    args = (arg_at[0], env_at[0] if env_at else execfn_at) if arg_at else (0, 0)
    env = (env_at[0], execfn_at) if env_at else (0, 0)
    aux_words = words[len(words) - 2 * len(aux):]
    return sp, (args, env, struct.pack(f"<{len(aux_words)}Q", *aux_words))
