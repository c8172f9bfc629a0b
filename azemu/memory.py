"""Guest virtual address spaces on the MMU model.

An `AddressSpace` is what a process's `mm` is in Linux: a sorted list of
`Mapping`s (its VMAs, azemu/vmas.py: virtual range, protection, name, kind) and one set of
x86-64 page tables (azemu/mmu.py) in the instance's physical segment
(azemu/physmem.py).  Cores holding the address space run with its page
tables in CR3, so:

* a mapping change is a change of VMAs plus of page-table entries, then a
  TLB flush on the cores that may hold the old entries (a counted shootdown:
  the core making the change flushes at once, the others before they next
  run — they are not running, the scheduler runs one core at a time);
  it costs the same with 10 mappings or 10,000, on 1 core or 64;
* frames are given on first touch (demand paging): the core reports a #PF,
  `fault()` finds the VMA, gives a frame (or the shared zero frame for a
  read, or a copy for a write to a shared copy-on-write frame) and the
  instruction runs again.  An access the VMA does not allow is a SIGSEGV
  (SEGV_MAPERR with no VMA, SEGV_ACCERR without the right), a page of a
  file mapping past end-of-file a SIGBUS, and no frame left a kill;
* a mapping may take its frames from a pager (the kernel's page cache for
  mapped files): a shared mapping hands it back the pages the guest
  dirtied; a private one maps the pager's frames copy-on-write.

The kernel reads and writes guest memory through the segment too (zero
copy), after the same checks, faulting pages in as a CPU would.  This module
knows nothing about Linux: a bad guest pointer raises `GuestFault`, and the
kernel decides what that means (EFAULT, SIGSEGV, ...).
"""
from __future__ import annotations

from bisect import bisect_left

from . import mmu
from .guest_access import GuestAccess, GuestFault  # noqa: F401  (GuestFault: for importers)
from .mmu import COW, FRAME, HELD, NX, P, W, A, D, PF_FETCH, PF_WRITE, pte_flags
from .physmem import PAGE, PAGE_MASK, OutOfMemory, PhysicalMemory, page_down, page_up  # noqa: F401
from .vmas import Mapping, VmaList

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4   # same values as Unicorn's
AROUND = 32              # pages around a fault mapped too, where a pager holds them (Linux: 16)

# What a fault the address space cannot resolve is (signal, si_code).
SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR = 1, 2, 2
SEGV_NOMAP = ("SIGSEGV", SEGV_MAPERR)
SEGV_PROT = ("SIGSEGV", SEGV_ACCERR)
BUS_EOF = ("SIGBUS", BUS_ADRERR)
OOM_KILL = ("SIGKILL", 0)

_KEEP = FRAME | A | D


class AddressSpace(VmaList, GuestAccess):
    """A guest virtual address space backed by one PhysicalMemory.

    Cores attached with `attach(core)` run with its page tables.  `mmap_top`
    is where top-down searches for free space begin (below the stack).
    """

    def __init__(self, phys: PhysicalMemory, mmap_top: int = 0x7FFFF7FFF000,
                 mmap_bottom: int = 0x10000):
        self.phys = phys
        self.pt = mmu.PageTable(phys)
        self.pt.shared_spans = self._shared_spans
        self.cores = []
        VmaList.__init__(self, mmap_top, mmap_bottom)
        self.mapping_changes = 0
        # Commit accounting as Linux's strict mode (vm.overcommit_memory=2)
        # with the limit at the instance's memory, counted over every address
        # space of the instance (phys.committed): private writable memory is
        # charged when mapped (or made writable) and again for a fork's child,
        # so a mapping — or a fork — that could not all be given frames fails
        # with ENOMEM up front; MAP_NORESERVE and read-only or PROT_NONE
        # reservations cost nothing until touched.
        self._committed = 0
        self._closed = False
        self.commit_limit = phys.size
        self.page_faults = 0              # demand faults, CPU's and kernel's
        self.cow_faults = 0               # writes that copied a shared frame
        self.tlb_flushes = 0              # changes that needed TLBs flushed
        self.flush_gen = 0                # the same, as the cores compare it
        # Called with (start, end) when the pages there move, go away or lose
        # their frames, for whoever keeps pointers to the frames behind guest
        # addresses: Linux's MMU notifiers.
        self.remap_listeners = []
        self._spurious = 0
        self.current = None               # the core running it now, or last
        self.paged = False                # some mapping has (or had) a pager

    @property
    def committed(self) -> int:
        """Bytes of private writable memory charged to this address space."""
        return self._committed

    @committed.setter
    def committed(self, value: int) -> None:
        self.phys.committed += value - self._committed
        self._committed = value

    # ---- cores --------------------------------------------------------------
    def attach(self, core, switch: bool = True) -> None:
        """`core` may run this address space (it gets its shootdowns and
        drops code translated from frames freed here); with `switch`, it
        runs it now."""
        self.cores.append(core)
        if switch:
            core.switch_to(self)

    def _flush(self, start: int | None = None, end: int = 0) -> None:
        """Entries a TLB may hold changed, those of [start, end) or any:
        the running core flushes now (those pages only, if it can);
        every other core that ran this address space since its last flush
        receives a shootdown — the flush count moves on, and a core whose
        TLB is behind it flushes before it next runs (Core.tlb_stale)."""
        self.tlb_flushes += 1
        self.flush_gen += 1
        cur = self.current
        if cur is not None and cur.running:
            if start is None:
                cur.flush_tlb()
            else:
                cur.flush_tlb_range(start, end, self)

    @property
    def shootdowns(self) -> int:
        """Shootdowns sent to other cores (each received by one core)."""
        return sum(core.shootdowns() for core in self.cores)

    # ---- changes ------------------------------------------------------------
    def map(self, start: int, length: int, prot: int, name: str = "",
            shared: bool = False, eof: int | None = None, reserve: bool = True,
            pager=None, pgoff: int = 0) -> None:
        """Map [start, start+length), replacing anything there.  No frame is
        given until a page is touched; every page reads as zeros, or as the
        pager's pages from `pgoff` on.  Raises OutOfMemory if the commit
        limit would be passed."""
        assert start % PAGE == 0
        length = page_up(length)
        m = Mapping(start, start + length, prot, name, shared, eof, reserve, pager, pgoff)
        charge = self._chargeable(m, prot)
        free = self.is_free(start, start + length)
        if charge:
            freed = 0 if free else sum(x.end - x.start for x in
                                       self._overlapping(start, start + length) if x.charged)
            if self.phys.committed - freed + length > self.commit_limit:
                raise OutOfMemory(length)
        if not free:
            self.unmap(start, length)
        if charge:
            m.charged = True
            self.committed += length
        self._insert(m)
        if pager is not None:
            self.paged = True
            pager.mapped_by(self)
        self.mapping_changes += 1

    def map_anywhere(self, length: int, prot: int, name: str = "") -> int | None:
        """Map `length` bytes (page-aligned) of private anonymous memory in
        the highest free gap: `find_free` without a hint, then `map`, in one
        step — the usual mmap (malloc's arenas, thread stacks, the
        allocators of interpreters).  Its start, or None with no gap big
        enough; OutOfMemory past the commit limit."""
        found = self._place(length)
        if found is None:
            return None
        start, i = found
        m = Mapping(start, start + length, prot, name)
        if prot & PROT_WRITE:
            if self.phys.committed + length > self.commit_limit:
                raise OutOfMemory(length)
            m.charged = True
            self.committed += length
        self._neg.insert(i, -start)             # the gap is above maps[i]: no bisect
        self._maps.insert(i, m)
        self.mapping_changes += 1
        return start

    @staticmethod
    def _chargeable(m: Mapping, prot: int) -> bool:
        return bool(prot & PROT_WRITE) and not m.shared and m.reserve and not m.charged

    def _charge_for(self, start: int, end: int, prot: int) -> int:
        """Bytes of [start, end) that making `prot` would charge."""
        return sum(min(m.end, end) - max(m.start, start) for m in self._reaching(start, end)
                   if self._chargeable(m, prot))

    def _drop_pages(self, start: int, end: int) -> None:
        """Release the frames of pages [start, end) and empty their entries."""
        frames, used, code = self.pt.take(start >> 12, end >> 12)
        if frames:
            self.phys.release(frames)
        if used:
            self._flush(start, end)
        if code:                             # the frames may come back as other code
            for core in self.cores:
                core.forget_code()

    def unmap(self, start: int, length: int) -> None:
        end = start + ((length + PAGE - 1) & -PAGE)
        maps = self._maps
        i = bisect_left(self._neg, -start)
        m = maps[i] if i < len(maps) else None
        whole = m is not None and m.start == start and m.end == end
        if self.paged and (not whole or m.pager is not None):
            self.write_back(start, end)
        if whole:                                                           # one whole VMA
            if m.charged:
                self.committed -= end - start
            del self._neg[i], maps[i]
            if m.filled:                     # else no page of it was ever given an entry
                self._drop_pages(start, end)
        else:
            gone = self._covering(start, end)
            self.committed -= sum(m.end - m.start for m in gone if m.charged)
            if gone:
                i, j = self._slice(start, end)
                del self._neg[i:j], maps[i:j]
            self._drop_pages(start, end)
        if end > self._gap_top:                     # free space above the search's start
            self._gap_top = end if end < self.mmap_top else self.mmap_top
        self.mapping_changes += 1
        if self.remap_listeners:
            self._remapped(start, end)

    def _remapped(self, start: int, end: int) -> None:
        for listener in self.remap_listeners:
            listener(start, end)

    def protect(self, start: int, length: int, prot: int) -> None:
        """Change protection; the caller checks the range is fully mapped.
        Making private memory writable charges it (OutOfMemory past the
        limit, and nothing changed)."""
        end = start + page_up(length)
        m = self.find(start)
        if m is not None and m.start == start and m.end == end:
            self.protect_vma(m, prot)
            return
        if not prot & PROT_EXEC:
            self._drop_code(start, end)
        charge = self._charge_for(start, end, prot) if prot & PROT_WRITE else 0
        if charge and self.phys.committed + charge > self.commit_limit:
            raise OutOfMemory(charge)
        for m in self._covering(start, end):
            if self._chargeable(m, prot):
                m.charged = True
                self.committed += m.end - m.start
            m.prot = prot
        if self.pt.reprotect(start >> 12, end >> 12, prot):
            self._flush(start, end)
        self.mapping_changes += 1

    def protect_vma(self, m: Mapping, prot: int) -> None:
        """`protect` of exactly the pages of VMA `m`: the usual case, with
        no VMA to split."""
        start, end = m.start, m.end
        if not prot & PROT_EXEC and m.prot & PROT_EXEC:
            self._drop_code(start, end)
        if prot & PROT_WRITE and self._chargeable(m, prot):
            if self.phys.committed + (end - start) > self.commit_limit:
                raise OutOfMemory(end - start)
            m.charged = True
            self.committed += end - start
        m.prot = prot
        if self.pt.reprotect(start >> 12, end >> 12, prot):
            self._flush(start, end)
        self.mapping_changes += 1

    def _drop_code(self, start: int, end: int) -> None:
        """Pages of [start, end) that are about to stop being executable
        lose the code a CPU translated from them.  They could be written
        next (a JIT flipping a page between write and execute), and
        Unicorn 2.1.4 takes a store to a page that is not executable in its
        TLB onto its fast path after the first (azemu/core.py,
        _watch_stores), which misses code elsewhere on the page; with no
        translated code left there is nothing to miss.  Done while the
        pages still map executable: a core finds the code by address."""
        if not any(m.prot & PROT_EXEC for m in self._reaching(start, end)):
            return
        ran = [vpn for vpn, e in self.pt.present(start >> 12, end >> 12)
               if e & (P | A | NX) == P | A]
        if ran:
            self._code_gone(vpn << 12 for vpn in ran)

    def move(self, old: int, length: int, new: int) -> None:
        """Move the pages at [old, old+length) to `new`, frames and all (no copy);
        the caller has made sure the destination is free."""
        length = page_up(length)
        moved = self._covering(old, old + length)
        if moved:
            i, j = self._slice(old, old + length)
            del self._neg[i:j], self._maps[i:j]
        self.pt.own_range(old >> 12, (old + length) >> 12)
        entries = list(self.pt.present(old >> 12, (old + length) >> 12))
        _, used, _ = self.pt.take(old >> 12, (old + length) >> 12)
        delta = (new - old) >> 12
        for vpn, entry in entries:
            self.pt.set(vpn + delta, entry & ~A)
        for m in moved:
            m.start, m.end = m.start - old + new, m.end - old + new
            if m.eof is not None:
                m.eof += new - old
            self._insert(m)
        if used:
            self._flush(old, old + length)
        self.mapping_changes += 1
        self._remapped(old, old + length)

    def discard(self, start: int, length: int) -> None:
        """Drop the pages' frames: they read back as zeros (MADV_DONTNEED)."""
        end = start + page_up(length)
        if self.paged:
            self.write_back(start, end)
        self._drop_pages(start, end)
        self._remapped(start, end)

    def write_back(self, start: int = 0, end: int = 1 << 48, pager=None,
                   first: int = 0, last: int = 1 << 52) -> None:
        """Hand the pages the guest wrote (dirty bit set) in the paged
        mappings overlapping [start, end) to their pagers, and clear the bit
        (msync, munmap, exit).  With `pager`, only its mappings and its pages
        [first, last)."""
        flush = False
        for m in list(self._reaching(start, end)):
            if m.pager is None or not m.pager.writes_back or not m.shared or \
                    (pager is not None and m.pager is not pager):
                continue
            base = (m.start >> 12) - m.pgoff            # vpn of the pager's page 0
            lo = max(m.start >> 12, start >> 12, base + first)
            hi = min(m.end >> 12, end >> 12, base + last)
            if lo >= hi:
                continue
            dirty = []
            if self.pt.wp:
                self.pt.own_range(lo, hi)        # its D bits are about to be cleared
            for vpn, entry in list(self.pt.present(lo, hi)):
                if entry & D:
                    dirty.append(vpn - base)
                    self.pt.set(vpn, entry & ~D)
                    flush = flush or bool(entry & A)
            if dirty:
                m.pager.dirtied(dirty)
        if flush:
            self._flush()        # a TLB entry with D set would not mark the next write

    def rename(self, start: int, end: int, name: str) -> None:
        for m in self._covering(start, end):
            m.name = name

    # ---- faults ---------------------------------------------------------------
    def fault(self, addr: int, error_code: int):
        """A #PF a core took at `addr`: None when the page now maps (the
        instruction runs again), else what the guest gets, (signal, si_code)."""
        m = self.find(addr)
        if m is None:
            return SEGV_NOMAP
        need = PROT_EXEC if error_code & PF_FETCH else \
            PROT_WRITE if error_code & PF_WRITE else PROT_READ
        if not m.prot & need:
            return SEGV_PROT
        # A write into a leaf table shared since fork: this side's own copy first.
        owned = need == PROT_WRITE and self.pt.own(addr >> 12)
        before = self.pt.get(addr >> 12)
        try:
            entry = self._resolve(m, addr >> 12, need == PROT_WRITE)
        except OutOfMemory:
            return OOM_KILL
        if entry is None:
            return BUS_EOF
        if entry == before and owned:
            self._spurious = 0                  # the directory entry was what forbade it
        elif entry == before:
            # Nothing to change: the faulting core's TLB held an older entry.
            self._spurious += 1
            if self._spurious > 2:
                self._spurious = 0
                return SEGV_PROT
            cur = self.current
            if cur is not None and cur.running:
                cur.flush_tlb()
        else:
            self._spurious = 0
        return None

    def _resolve(self, m: Mapping, vpn: int, write: bool) -> int | None:
        """Make page `vpn` of `m` present with the rights `m` gives it (and
        writable for `write`, which `m` allows): its entry, or None past a
        file mapping's end."""
        pt = self.pt
        m.filled = True                      # (unmap looks for frames only where this is set)
        if write:
            pt.own(vpn)                      # its leaf table may be shared since fork
        entry = pt.get(vpn)
        if entry & (P | HELD):
            if not entry & P and m.eof is not None and vpn << 12 >= m.eof:
                return None
            want = pte_flags(m.prot) or HELD
            if entry & COW:
                if write:
                    return self._break_cow(m, vpn, entry)
                want = (want & ~W) | COW
            new = (entry & _KEEP) | want
            if new != entry:
                pt.set(vpn, new)
            return new
        if m.eof is not None and vpn << 12 >= m.eof:
            return None
        phys = self.phys
        if m.pager is not None:
            frame = m.pager.frame(m.pgoff + vpn - (m.start >> 12))
            if frame is None:
                return None
            self._count_fault()
            phys.share(frame)
            entry = frame | (pte_flags(m.prot) or HELD)
            if not m.shared:                 # a private mapping: the pager's page until written
                entry = (entry & ~W) | COW
                pt.set(vpn, entry)
                if write:
                    return self._break_cow(m, vpn, entry)
                self.map_cached(m, vpn - AROUND // 2, vpn + AROUND // 2)
                return entry
            pt.set(vpn, entry)
            return entry
        self._count_fault()
        if not write and not m.shared:       # read first: the zero frame, shared
            entry = phys.zero | (pte_flags(m.prot) & ~W) | COW
        else:
            entry = phys.frame() | pte_flags(m.prot)
        pt.set(vpn, entry)
        return entry

    def map_cached(self, m: Mapping, lo: int, hi: int) -> None:
        """Map the pages of private paged mapping `m` in [lo, hi) (page
        numbers) that its pager already holds and no entry maps, read-only
        and copy-on-write: Linux's fault-around, and how a new process of a
        program maps its cached code at once rather than a fault a page."""
        lo, hi = max(lo, m.start >> 12), min(hi, m.end >> 12)
        m.filled = True
        pt, share, cached = self.pt, self.phys.share, m.pager.cached
        base = m.pgoff - (m.start >> 12)
        flags = ((pte_flags(m.prot) or HELD) & ~W) | COW
        eof = m.eof >> 12 if m.eof is not None else hi
        for vpn in range(lo, min(hi, eof)):
            frame = cached(base + vpn)
            if frame is not None and not pt.get(vpn):
                share(frame)
                pt.set(vpn, frame | flags)

    def populate(self, start: int, end: int) -> None:
        """Map at once what the pagers of the private mappings in
        [start, end) already hold (see map_cached)."""
        for m in self.mappings_in(start, end):
            if m.pager is not None and not m.shared:
                self.map_cached(m, start >> 12, (end + PAGE - 1) >> 12)

    def _count_fault(self) -> None:
        self.page_faults += 1
        if self.current is not None:
            self.current.page_faults += 1

    def _break_cow(self, m: Mapping, vpn: int, entry: int) -> int:
        phys = self.phys
        old = entry & FRAME
        if old != phys.zero and phys.owners(old) == 1:
            frame = old                      # the other owners have gone
        else:
            frame = phys.frame()
            if old != phys.zero:
                phys.view[frame:frame + PAGE] = phys.view[old:old + PAGE]
                self.cow_faults += 1
                if self.current is not None:
                    self.current.cow_faults += 1
            else:
                self._count_fault()
            phys.release([old])
        new = frame | (entry & D) | pte_flags(m.prot)
        self.pt.set(vpn, new)
        if frame != old and entry & A:
            self._flush(vpn << 12, (vpn + 1) << 12)      # a TLB may map the old frame
        return new

    def _kernel_entry(self, addr: int, write: bool) -> int:
        """The entry of the page at `addr` for a kernel access: faulted in as
        the CPU would, GuestFault where the guest could not access it."""
        m = self.find(addr)
        if m is None or not m.prot & (PROT_WRITE if write else PROT_READ):
            raise GuestFault(addr, write)
        try:
            entry = self._resolve(m, addr >> 12, write)
        except OutOfMemory:
            raise GuestFault(addr, write) from None
        if entry is None:
            raise GuestFault(addr, write)
        return entry

    @property
    def closed(self) -> bool:
        return self._closed

    def fork(self) -> "AddressSpace":
        """A copy of this address space sharing every frame, and every leaf
        page table until one side writes there (azemu/mmu.py share_leaves):
        then private pages become copy-on-write in both, shared ones stay
        shared."""
        child = AddressSpace(self.phys, self.mmap_top, self.mmap_bottom)
        child._neg = list(self._neg)
        child._maps = [m.copy(m.start, m.end) for m in self._maps]
        if self.phys.committed + self.committed > self.commit_limit:
            raise OutOfMemory(self.committed)     # Linux: fork's ENOMEM in strict mode
        child.committed = self.committed
        child.paged = self.paged
        for pager in {id(m.pager): m.pager for m in self._maps if m.pager is not None}.values():
            pager.mapped_by(child)
        if self.pt.share_leaves(child.pt):
            self._flush()                    # a TLB may hold a write right the tables lost
        return child

    def set_eof(self, start: int, end: int, eof: int) -> None:
        """Pages of the mappings in [start, end) from `eof` on lie past
        their file's end."""
        for m in self._covering(start, end):
            m.eof = eof

    def extend(self, start: int, size: int, grow: int) -> None:
        """Map `grow` bytes after [start, start+size), like the mapping
        ending there (mremap growing it)."""
        last = self.find(start + size - 1)
        self.map(start + size, grow, last.prot, last.name, last.shared, None, last.reserve,
                 last.pager, last.pgoff + ((start + size - last.start) >> 12))

    def resident_pages(self, start: int, length: int) -> bytes:
        """One byte a page of [start, start+length): 1 where it has a frame."""
        get = self.pt.get
        return bytes(1 if get(vpn) & (P | HELD) else 0
                     for vpn in range(start >> 12, (start + length + PAGE - 1) >> 12))

    def resident(self) -> int:
        """Bytes of frames this address space's pages hold (the zero frame not counted)."""
        return PAGE * self.pt.count_frames(but=self.phys.zero)

    def close(self) -> None:
        """The end of the address space (exit, exec): its frames go back,
        and translated code goes from every core if a frame it ran is freed
        (the frame may come back as another program's code)."""
        if self._closed:
            return
        self._closed = True
        if self.paged:
            self.write_back()
        for core in self.cores:
            if core.mm is self:
                core.switch_to(None)
        owners = self.phys.owners
        # Only executable VMAs can hold pages with code translated from them
        # (a range that stops being executable drops its code: _drop_code).
        ran = [(m.start >> 12, m.end >> 12) for m in self._maps if m.prot & PROT_EXEC]
        if any(owners(f) == 1 for f in self.pt.code_frames(ran)):
            for core in self.cores:
                core.forget_code()
        self.phys.release(self.pt.all_frames(owned=True))
        self.pt.close()
        self.committed = 0
        self._neg.clear()
        self._maps.clear()
