"""Physical memory of a kernel instance, and the guest address spaces built on it.

Layers, bottom up:

* `PhysicalMemory` — one host memory segment per kernel instance (a memfd, so
  that another process such as the FWK proxy can map the very same frames),
  sized to the instance's memory and allocated lazily by the host on first
  touch.  It is carved into 4 KiB page frames handed out in contiguous extents
  by a first-fit allocator; freed extents are punched out of the memfd, which
  both returns them to the host and zeroes them for their next user.
* `AddressSpace` — a guest virtual address space: a sorted list of `Mapping`s
  (virtual range, protection, the frames backing it).  Every change is applied
  to each attached core with `uc_mem_map_ptr` / `uc_mem_unmap` /
  `uc_mem_protect`, so the cores execute straight out of the segment.  The
  kernel reads and writes guest memory through the segment too (zero copy),
  after checking the range is mapped with the needed permission.

This module knows nothing about Linux: a bad guest pointer raises `GuestFault`,
and the kernel decides what that means (EFAULT, SIGSEGV, ...).
"""
from __future__ import annotations

import bisect
import ctypes
import mmap
import os

PAGE = 4096
PAGE_MASK = ~(PAGE - 1)

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4   # same values as Unicorn's

_libc = ctypes.CDLL(None, use_errno=True)
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 1, 2


def page_up(n: int) -> int:
    return (n + PAGE - 1) & PAGE_MASK


def page_down(n: int) -> int:
    return n & PAGE_MASK


class GuestFault(Exception):
    """A guest virtual address that is unmapped or lacks the needed permission."""

    def __init__(self, addr: int, write: bool = False):
        super().__init__(addr)
        self.addr = addr
        self.write = write


class OutOfMemory(Exception):
    """The kernel instance's memory partition has no frames left."""


class PhysicalMemory:
    """The host segment backing one kernel instance, and its frame allocator."""

    def __init__(self, size: int, name: str = "azemu-phys"):
        self.size = page_up(size)
        self.fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(self.fd, self.size)
        self.map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.map)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        # Frame 0 is never handed out, so guest-physical address 0 can stand
        # for NULL wherever physical addresses travel (the FWK offload channel).
        self._free = [(PAGE, self.size - PAGE)]   # sorted (offset, length) extents
        self.used = PAGE

    def alloc(self, length: int) -> list[tuple[int, int]]:
        """Frames for `length` bytes: one extent if possible, else several."""
        length = page_up(length)
        if length > self.size - self.used:
            raise OutOfMemory(length)
        for i, (off, ln) in enumerate(self._free):
            if ln >= length:
                if ln == length:
                    del self._free[i]
                else:
                    self._free[i] = (off + length, ln - length)
                self.used += length
                return [(off, length)]
        pieces, need = [], length            # fragmented: gather several extents
        while need:
            off, ln = self._free[0]
            take = min(ln, need)
            if take == ln:
                del self._free[0]
            else:
                self._free[0] = (off + take, ln - take)
            pieces.append((off, take))
            need -= take
        self.used += length
        return pieces

    def discard(self, off: int, length: int) -> None:
        """Give the frames' host memory back; they read as zeros afterwards."""
        if _libc.fallocate(self.fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE,
                           ctypes.c_long(off), ctypes.c_long(length)) != 0:
            self.view[off:off + length] = bytes(length)

    def free(self, off: int, length: int) -> None:
        """Return frames to the allocator; their contents are discarded (zeroed)."""
        assert off >= PAGE, "frame 0 is reserved"
        self.discard(off, length)
        self.used -= length
        i = bisect.bisect(self._free, (off, 0))
        self._free.insert(i, (off, length))
        # coalesce with neighbours
        if i + 1 < len(self._free) and off + length == self._free[i + 1][0]:
            self._free[i] = (off, length + self._free[i + 1][1])
            del self._free[i + 1]
        if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == off:
            poff, plen = self._free[i - 1]
            self._free[i - 1] = (poff, plen + self._free[i][1])
            del self._free[i]

    def close(self) -> None:
        self.view.release()
        try:
            self.map.close()
        except BufferError:
            pass        # the ctypes export pins the map until exit; harmless
        os.close(self.fd)


class Mapping:
    """A virtually contiguous, physically contiguous run of guest pages."""
    __slots__ = ("start", "end", "prot", "phys", "name")

    def __init__(self, start, end, prot, phys, name):
        self.start, self.end, self.prot, self.phys, self.name = start, end, prot, phys, name

    def __repr__(self):
        return f"Mapping({self.start:#x}-{self.end:#x} prot={self.prot} phys={self.phys:#x} {self.name})"


class AddressSpace:
    """A guest virtual address space backed by one PhysicalMemory.

    Cores attached with `attach(core)` see every mapping change.  `mmap_top` is
    where top-down searches for free space begin (below the stack).
    """

    def __init__(self, phys: PhysicalMemory, mmap_top: int = 0x7FFFF7FFF000,
                 mmap_bottom: int = 0x10000):
        self.phys = phys
        self.cores = []
        self._starts: list[int] = []
        self._maps: list[Mapping] = []
        self.mmap_top = mmap_top
        self.mmap_bottom = mmap_bottom
        self.mapping_changes = 0          # counted: each is a shootdown on SMP
        # Called with (start, end) when the pages there move or go away
        # (unmap, move), for whoever keeps pointers to the frames behind guest
        # addresses: Linux's MMU notifiers.
        self.remap_listeners = []

    # ---- cores --------------------------------------------------------------
    def attach(self, core) -> None:
        self.cores.append(core)
        for m in self._maps:
            core.uc.mem_map_ptr(m.start, m.end - m.start, m.prot, self.phys.base + m.phys)

    # ---- lookup -------------------------------------------------------------
    def find(self, addr: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            m = self._maps[i]
            if addr < m.end:
                return m
        return None

    def mappings(self) -> list[Mapping]:
        return list(self._maps)

    def is_free(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)
        return i == 0 or self._maps[i - 1].end <= start

    def find_free(self, length: int, hint: int = 0) -> int | None:
        """A free, page-aligned range of `length` bytes: at `hint` if free,
        else the highest gap below `mmap_top` (Linux's top-down layout)."""
        length = page_up(length)
        if hint and hint >= self.mmap_bottom and hint + length <= self.mmap_top:
            hint = page_down(hint)
            if self.is_free(hint, hint + length):
                return hint
        top = self.mmap_top
        for m in reversed(self._maps):
            if m.start >= top:
                continue
            if m.end <= top - length:
                cand = top - length
                if cand >= max(m.end, self.mmap_bottom):
                    return cand
            top = min(top, m.start)
        cand = top - length
        return cand if cand >= self.mmap_bottom else None

    # ---- changes ------------------------------------------------------------
    def map(self, start: int, length: int, prot: int, name: str = "") -> None:
        """Map fresh zeroed frames at [start, start+length), replacing anything there."""
        assert start % PAGE == 0
        length = page_up(length)
        if not self.is_free(start, start + length):
            self.unmap(start, length)
        pieces = self.phys.alloc(length)
        addr = start
        for off, ln in pieces:
            m = Mapping(addr, addr + ln, prot, off, name)
            for core in self.cores:
                core.uc.mem_map_ptr(addr, ln, prot, self.phys.base + off)
            i = bisect.bisect(self._starts, addr)
            self._starts.insert(i, addr)
            self._maps.insert(i, m)
            addr += ln
        self.mapping_changes += 1

    def _split(self, addr: int) -> None:
        """Make `addr` a mapping boundary, if it falls inside a mapping."""
        m = self.find(addr)
        if m is None or m.start == addr:
            return
        tail = Mapping(addr, m.end, m.prot, m.phys + (addr - m.start), m.name)
        m.end = addr
        i = bisect.bisect(self._starts, addr)
        self._starts.insert(i, addr)
        self._maps.insert(i, tail)

    def _covering(self, start: int, end: int) -> list[Mapping]:
        self._split(start)
        self._split(end)
        i = bisect.bisect_left(self._starts, start)
        j = bisect.bisect_left(self._starts, end)
        return self._maps[i:j]

    def unmap(self, start: int, length: int) -> None:
        end = start + page_up(length)
        for m in self._covering(start, end):
            for core in self.cores:
                core.uc.mem_unmap(m.start, m.end - m.start)
            self.phys.free(m.phys, m.end - m.start)
            i = bisect.bisect_left(self._starts, m.start)
            del self._starts[i], self._maps[i]
        self.mapping_changes += 1
        self._remapped(start, end)

    def _remapped(self, start: int, end: int) -> None:
        for listener in self.remap_listeners:
            listener(start, end)

    def fully_mapped(self, start: int, end: int) -> bool:
        addr = start
        while addr < end:
            m = self.find(addr)
            if m is None:
                return False
            addr = m.end
        return True

    def protect(self, start: int, length: int, prot: int) -> None:
        """Change protection; the caller checks the range is fully mapped."""
        end = start + page_up(length)
        for m in self._covering(start, end):
            m.prot = prot
            for core in self.cores:
                core.uc.mem_protect(m.start, m.end - m.start, prot)
        self.mapping_changes += 1

    def move(self, old: int, length: int, new: int) -> None:
        """Move the pages at [old, old+length) to `new`, frames and all (no copy);
        the caller has made sure the destination is free."""
        length = page_up(length)
        moved = self._covering(old, old + length)
        for m in moved:
            for core in self.cores:
                core.uc.mem_unmap(m.start, m.end - m.start)
            i = bisect.bisect_left(self._starts, m.start)
            del self._starts[i], self._maps[i]
        for m in moved:
            m.start, m.end = m.start - old + new, m.end - old + new
            for core in self.cores:
                core.uc.mem_map_ptr(m.start, m.end - m.start, m.prot, self.phys.base + m.phys)
            i = bisect.bisect(self._starts, m.start)
            self._starts.insert(i, m.start)
            self._maps.insert(i, m)
        self.mapping_changes += 1
        self._remapped(old, old + length)

    def discard(self, start: int, length: int) -> None:
        """Drop the contents of mapped pages: they read back as zeros."""
        end = start + page_up(length)
        for m in self._covering(start, end):
            self.phys.discard(m.phys, m.end - m.start)

    def rename(self, start: int, end: int, name: str) -> None:
        for m in self._covering(start, end):
            m.name = name

    # ---- guest memory access (zero copy) -------------------------------------
    def views(self, addr: int, length: int, write: bool = False,
              partial: bool = False) -> list[memoryview]:
        """memoryviews over the host segment covering guest [addr, addr+length)."""
        view = self.phys.view
        return [view[o:o + n] for o, n in self.extents(addr, length, write, partial)]

    def extents(self, addr: int, length: int, write: bool = False,
                partial: bool = False) -> list[tuple[int, int]]:
        """The guest-physical extents (offset in the segment, length) backing
        guest [addr, addr+length): what another process mapping the segment
        needs to reach the same bytes.  Mappings whose frames are contiguous
        share one extent.  With `partial`, stop at the first inaccessible page
        instead of faulting (as a read() into a buffer that runs into unmapped
        memory fills what it can)."""
        need = PROT_WRITE if write else PROT_READ
        spans = []                                   # (phys offset, length)
        while length > 0:
            m = self.find(addr)
            if m is None or not (m.prot & need):
                if partial and spans:
                    break
                raise GuestFault(addr, write)
            take = min(length, m.end - addr)
            off = m.phys + addr - m.start
            if spans and spans[-1][0] + spans[-1][1] == off:
                spans[-1] = (spans[-1][0], spans[-1][1] + take)
            else:
                spans.append((off, take))
            addr += take
            length -= take
        return spans

    def read(self, addr: int, length: int) -> bytes:
        if length <= 0:
            return b""
        parts = self.views(addr, length)
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

    def write(self, addr: int, data) -> None:
        pos = 0
        for v in self.views(addr, len(data), write=True):
            n = len(v)
            v[:] = data[pos:pos + n]
            pos += n

    def poke(self, addr: int, data) -> None:
        """Write regardless of guest protection (the loader filling code pages)."""
        pos, length = 0, len(data)
        while pos < length:
            m = self.find(addr + pos)
            if m is None:
                raise GuestFault(addr + pos, True)
            take = min(length - pos, m.end - (addr + pos))
            off = m.phys + addr + pos - m.start
            self.phys.view[off:off + take] = data[pos:pos + take]
            pos += take

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string; raises GuestFault if it runs off mapped memory."""
        out = b""
        pmap = self.phys.map
        while True:
            m = self.find(addr)
            if m is None or not (m.prot & PROT_READ):
                raise GuestFault(addr)
            off = m.phys + addr - m.start
            stop = m.phys + (m.end - m.start)
            cap = min(stop, off + limit - len(out) + 1)
            nul = pmap.find(b"\0", off, cap)
            if nul >= 0:
                return out + pmap[off:nul]
            out += pmap[off:cap]
            if len(out) > limit:
                raise ValueError("string too long")
            addr = m.end

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))

    def close(self) -> None:
        for m in list(self._maps):
            self.phys.free(m.phys, m.end - m.start)
        self._starts.clear()
        self._maps.clear()
