"""The address-space calls: brk, mmap, munmap, mprotect, mremap, madvise,
msync (Linux mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c, mm/msync.c).

Each is argument checking in Linux's order followed by one operation on the
process's `AddressSpace` (azemu/memory.py): a change of its VMAs and page
tables, with a TLB shootdown where a core may hold old entries.  Anonymous
memory gets frames on first touch; private writable memory is charged
against the commit limit (--mem) when mapped, except with MAP_NORESERVE.

A character device (/dev/zero) maps as anonymous memory, shared or private,
as on Linux.  A file mapping takes its pages from the instance's page cache
(kernels/pagecache.py): a MAP_SHARED one shares them with every other
mapping of the file, kept coherent with read and write of it; a MAP_PRIVATE
one maps them copy-on-write (its own copy of a page once it writes it).
Pages past the end of the file give SIGBUS when touched.
"""
from __future__ import annotations

from azemu.memory import PAGE, GuestFault, OutOfMemory, page_up

from ..abi import linux as L
from ..abi.linux_errno import EACCES, EEXIST, EFAULT, EINVAL, ENODEV, ENOMEM
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .. import pagecache
from ..fwk.channel import KIND_CHAR, KIND_FILE
from .util import s32, s64

_MAX_LEN = L.TASK_SIZE


PROT_SEM = 0x8


def _prot(prot: int, strict: bool = True) -> int:
    """Linux's checks: mprotect refuses unknown bits; mmap ignores bits it
    does not know (PROT_SEM among them)."""
    grow = prot & (L.PROT_GROWSDOWN | L.PROT_GROWSUP)
    if strict and prot & ~(7 | PROT_SEM | grow):
        raise LinuxError(EINVAL)
    prot &= 7
    if prot & (L.PROT_WRITE | L.PROT_EXEC):      # x86 cannot map write- or exec-only
        prot |= L.PROT_READ
    return prot


_DEV_ZERO = 0x105                                # makedev(1, 5)
_ST_RDEV = 40                                    # offset in x86-64 struct stat


def _rdev(p, f) -> int:
    p.scratch.reset()
    buf = p.scratch.alloc(L.STAT.size)
    p.io.call(NR["fstat"], f.hfd, buf)
    return int.from_bytes(p.scratch.get(buf + _ST_RDEV, 8), "little")


def brk(p, addr):
    mm = p.mm
    if addr < p.brk_start or addr >= L.TASK_SIZE:
        return p.brk
    old_top, new_top = page_up(p.brk), page_up(addr)
    try:
        if new_top > old_top:
            if not mm.is_free(old_top, new_top):
                return p.brk
            mm.map(old_top, new_top - old_top, L.PROT_READ | L.PROT_WRITE, "[heap]")
        elif new_top < old_top:
            mm.unmap(new_top, old_top - new_top)
    except OutOfMemory:
        return p.brk
    p.brk = addr
    return addr


# mmap's prot as it maps (x86 cannot map write- or exec-only), by its value
_MAPPED_PROT = tuple(_prot(v, strict=False) for v in range(8))
_ANON_PRIVATE = L.MAP_PRIVATE | L.MAP_ANONYMOUS


def mmap(p, addr, length, prot, flags, fd, offset):
    if flags == _ANON_PRIVATE and not addr and prot < 8 and 0 < length <= _MAX_LEN \
            and not offset:
        # The usual call (malloc, thread stacks): private anonymous memory
        # anywhere.  No check below can fail for it; fd is ignored.
        try:
            start = p.mm.map_anywhere((length + PAGE - 1) & -PAGE, _MAPPED_PROT[prot])
        except OutOfMemory:
            start = None
        if start is None:
            raise LinuxError(ENOMEM)
        return start
    return _mmap(p, addr, length, prot, flags, fd, offset)


def _mmap(p, addr, length, prot, flags, fd, offset):
    flags, fd, offset = s32(flags), s32(fd), s64(offset)
    anon = bool(flags & L.MAP_ANONYMOUS)
    f = None if anon else p.fds.get(fd)          # EBADF comes first, as in Linux
    prot = _prot(s32(prot), strict=False)
    if length == 0 or offset & (PAGE - 1) or offset < 0:
        raise LinuxError(EINVAL)
    size = page_up(length)
    if size > _MAX_LEN or size < length:
        raise LinuxError(ENOMEM)
    kind = flags & L.MAP_TYPE
    if kind not in (L.MAP_SHARED, L.MAP_PRIVATE, L.MAP_SHARED_VALIDATE):
        raise LinuxError(EINVAL)
    if not anon:
        acc = f.flags & L.O_ACCMODE
        if f.kind == KIND_CHAR and _rdev(p, f) == _DEV_ZERO:
            anon = True                          # /dev/zero: anonymous memory
        elif f.kind not in (KIND_FILE,):
            raise LinuxError(ENODEV)
        if acc == L.O_WRONLY or (kind != L.MAP_PRIVATE and prot & L.PROT_WRITE and acc != L.O_RDWR):
            raise LinuxError(EACCES)
    mm = p.mm
    if flags & (L.MAP_FIXED | L.MAP_FIXED_NOREPLACE):
        if addr & (PAGE - 1):
            raise LinuxError(EINVAL)
        if addr + size > L.TASK_SIZE:
            raise LinuxError(ENOMEM)
        if flags & L.MAP_FIXED_NOREPLACE and not flags & L.MAP_FIXED and not mm.is_free(addr, addr + size):
            raise LinuxError(EEXIST)
        start = addr
    else:
        start = mm.find_free(size, addr)
        if start is None:
            raise LinuxError(ENOMEM)
    name = "" if f is None else ("/dev/zero (deleted)" if anon else _mapped_name(p, f))
    shared = kind != L.MAP_PRIVATE
    reserve = not flags & L.MAP_NORESERVE
    try:
        if anon and shared:                      # one set of frames, whoever maps it
            mm.map(start, size, prot, name or "/dev/zero (deleted)", shared=True,
                   reserve=reserve, pager=pagecache.SharedMemory(mm.phys))
        elif anon:
            mm.map(start, size, prot, name, reserve=reserve)
        elif shared:
            cache = pagecache.for_mapping(p, f)
            mm.map(start, size, prot, name, shared=True, reserve=reserve,
                   pager=cache, pgoff=offset // PAGE)
            if acc != L.O_RDWR:                  # Linux: no VM_MAYWRITE
                for m in mm.mappings_in(start, start + size):
                    m.maywrite = False
        else:                                    # private: the cache's pages, copied on write
            cache = pagecache.for_mapping(p, f, private=True)
            mm.map(start, size, prot, name, reserve=reserve, pager=cache, pgoff=offset // PAGE)
            if prot & L.PROT_EXEC:               # a library's code: kept for the next process
                pagecache.keep(p, cache)
    except OutOfMemory:
        raise LinuxError(ENOMEM) from None
    return start


def munmap(p, addr, length):
    if addr & (PAGE - 1) or length == 0 or addr + length > L.TASK_SIZE:
        raise LinuxError(EINVAL)
    p.mm.unmap(addr, length)                     # dirty shared file pages are written back
    return 0


def mprotect(p, addr, length, prot):
    if prot < 8 and 0 < length <= _MAX_LEN and not addr & (PAGE - 1):
        # The usual call: one whole VMA, rights it may have.
        mm = p.mm
        m = mm.find(addr)
        if m is not None and m.start == addr and m.end == addr + ((length + PAGE - 1) & -PAGE) \
                and (m.maywrite or not prot & L.PROT_WRITE):
            try:
                mm.protect_vma(m, _MAPPED_PROT[prot])
            except OutOfMemory:
                raise LinuxError(ENOMEM) from None
            return 0
    return _mprotect(p, addr, length, prot)


def _mprotect(p, addr, length, prot):
    both = L.PROT_GROWSDOWN | L.PROT_GROWSUP
    if s32(prot) & both == both or addr & (PAGE - 1):
        raise LinuxError(EINVAL)
    size = page_up(length)
    if not size:
        return 0
    prot = _prot(s32(prot))
    mm = p.mm
    m = mm.find(addr)
    if m is not None and addr + size <= m.end:   # within one VMA: the usual case
        if prot & L.PROT_WRITE and not m.maywrite:
            raise LinuxError(EACCES)
    else:
        if not mm.fully_mapped(addr, addr + size):
            raise LinuxError(ENOMEM)
        if prot & L.PROT_WRITE and not all(m.maywrite for m in mm.mappings_in(addr, addr + size)):
            raise LinuxError(EACCES)             # a shared mapping of a file not open to write
    try:
        mm.protect(addr, size, prot)
    except OutOfMemory:
        raise LinuxError(ENOMEM) from None
    return 0


def mremap(p, old_addr, old_size, new_size, flags, new_addr):
    flags = s32(flags)
    if old_addr & (PAGE - 1) or flags & ~(L.MREMAP_MAYMOVE | L.MREMAP_FIXED | L.MREMAP_DONTUNMAP):
        raise LinuxError(EINVAL)
    if flags & L.MREMAP_FIXED and not flags & L.MREMAP_MAYMOVE:
        raise LinuxError(EINVAL)
    if flags & L.MREMAP_DONTUNMAP and (not flags & L.MREMAP_MAYMOVE or old_size != new_size):
        raise LinuxError(EINVAL)
    old_size, new_size = page_up(old_size), page_up(new_size)
    if not new_size or new_size > L.TASK_SIZE:
        raise LinuxError(EINVAL)
    if flags & L.MREMAP_FIXED:
        if new_addr & (PAGE - 1) or new_addr > L.TASK_SIZE - new_size:
            raise LinuxError(EINVAL)
        if new_addr < old_addr + old_size and old_addr < new_addr + new_size:
            raise LinuxError(EINVAL)             # the ranges may not overlap
    mm = p.mm
    if not old_size:
        return _duplicate(mm, old_addr, new_size, flags, new_addr)
    if not mm.fully_mapped(old_addr, old_addr + old_size):
        raise LinuxError(EFAULT)
    prot = mm.find(old_addr).prot
    name = mm.find(old_addr).name
    try:
        if flags & L.MREMAP_FIXED:
            mm.unmap(new_addr, new_size)
            dest = _move(mm, old_addr, old_size, new_size, new_addr, prot, name)
        elif flags & L.MREMAP_DONTUNMAP:
            dest = mm.find_free(new_size)
            if dest is None:
                raise LinuxError(ENOMEM)
            dest = _move(mm, old_addr, old_size, new_size, dest, prot, name)
        else:
            dest = None
        if dest is not None:
            if flags & L.MREMAP_DONTUNMAP:       # the old range stays, empty
                mm.map(old_addr, old_size, prot, name, reserve=False)
            return dest
        if new_size <= old_size:
            if new_size < old_size:
                mm.unmap(old_addr + new_size, old_size - new_size)
            return old_addr
        if mm.is_free(old_addr + old_size, old_addr + new_size):
            mm.extend(old_addr, old_size, new_size - old_size)
            return old_addr
        if not flags & L.MREMAP_MAYMOVE:
            raise LinuxError(ENOMEM)
        dest = mm.find_free(new_size)
        if dest is None:
            raise LinuxError(ENOMEM)
        return _move(mm, old_addr, old_size, new_size, dest, prot, name)
    except OutOfMemory:
        raise LinuxError(ENOMEM) from None


def _duplicate(mm, addr, size, flags, new_addr):
    """mremap with an old size of 0: a second mapping of the same pages of
    a shared mapping (Linux keeps this for the \"duplicate shm area\" case;
    a private one is EINVAL)."""
    m = mm.find(addr)
    if m is None:
        raise LinuxError(EFAULT)
    if not m.shared:
        raise LinuxError(EINVAL)
    if not flags & L.MREMAP_MAYMOVE:
        raise LinuxError(ENOMEM)                 # it cannot grow in place from nothing
    if flags & L.MREMAP_FIXED:
        mm.unmap(new_addr, size)
        dest = new_addr
    else:
        dest = mm.find_free(size)
        if dest is None:
            raise LinuxError(ENOMEM)
    eof = None if m.eof is None else m.eof - addr + dest
    try:
        mm.map(dest, size, m.prot, m.name, shared=True, eof=eof, pager=m.pager,
               pgoff=m.pgoff + ((addr - m.start) >> 12))
    except OutOfMemory:
        raise LinuxError(ENOMEM) from None
    for new in mm.mappings_in(dest, dest + size):
        new.maywrite = m.maywrite
    return dest


def _move(mm, old, old_size, new_size, dest, prot, name):
    keep = min(old_size, new_size)
    mm.move(old, keep, dest)                     # the frames move; nothing is copied
    if old_size > keep:
        mm.unmap(old + keep, old_size - keep)
    if new_size > keep:
        mm.extend(dest, keep, new_size - keep)
    return dest


def madvise(p, addr, length, advice):
    advice = s32(advice)
    if addr & (PAGE - 1):
        raise LinuxError(EINVAL)
    size = page_up(length)
    known = advice in (L.MADV_NORMAL, L.MADV_RANDOM, L.MADV_SEQUENTIAL, L.MADV_WILLNEED,
                       L.MADV_DONTNEED, L.MADV_FREE) or 9 <= advice <= 25
    if not known:
        raise LinuxError(EINVAL)
    if not p.mm.fully_mapped(addr, addr + size):
        raise LinuxError(ENOMEM)
    if advice in (L.MADV_DONTNEED, L.MADV_FREE):
        p.mm.discard(addr, size)                 # private anonymous: reads back zero
    return 0                                     # the rest are hints


MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4


def msync(p, addr, length, flags):
    flags = s32(flags)
    if addr & (PAGE - 1) or flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or \
            flags & (MS_ASYNC | MS_SYNC) == (MS_ASYNC | MS_SYNC):
        raise LinuxError(EINVAL)
    if not p.mm.fully_mapped(addr, addr + page_up(length)):
        raise LinuxError(ENOMEM)
    p.mm.write_back(addr, addr + page_up(length))
    return 0


def mincore(p, addr, length, vec):
    """One byte a page: 1 where the page has a frame (Linux: is in memory)."""
    if addr & (PAGE - 1):
        raise LinuxError(EINVAL)
    size = page_up(length)
    if addr + size > L.TASK_SIZE or addr + size < addr:
        raise LinuxError(ENOMEM)
    if not p.mm.fully_mapped(addr, addr + size):
        raise LinuxError(ENOMEM)
    try:
        p.mm.write(vec, p.mm.resident_pages(addr, size))
    except GuestFault:
        raise LinuxError(EFAULT) from None
    return 0


def mlock(p, addr, length):
    return 0


def munlock(p, addr, length):
    return 0


def _mapped_name(p, f) -> str:
    """The file's name as /proc/PID/maps shows a mapping of it (and crash
    reports find its symbols by)."""
    if f.path:
        return f.path.decode(errors="replace")
    from ..procfs_files import fd_path
    try:
        return fd_path(p, f).decode(errors="replace")
    except (LinuxError, OSError):
        return ""
