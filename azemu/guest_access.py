"""Guest memory as the kernel reads and writes it: zero copy, through the
page tables.

A mixin of `AddressSpace` (azemu/memory.py): every access finds the frames
behind guest virtual addresses in the address space's page tables, faulting
pages in as a CPU would (`_kernel_entry`) and refusing what the guest could
not do itself (`GuestFault`).  `extents` is what the FWK proxy is handed:
guest-physical (offset, length) runs, so the host side moves the bytes with
no copy.  `poke` writes whatever the guest's protection (the loader filling
code pages).
"""
from __future__ import annotations

from . import mmu
from .mmu import COW, FRAME, HELD, NX, P, W, A, D, pte_flags
from .physmem import PAGE, page_down

_KEEP = FRAME | A | D
FAST_PAGES = 8          # from this many pages, extents reads the leaf tables at once
NUMPY_PAGES = 128       # and from this many, with numpy
MEMO = 16               # buffers whose extents an address space remembers
PROT_READ, PROT_WRITE = 1, 2


class GuestFault(Exception):
    """A guest virtual address that is unmapped or lacks the needed permission."""

    def __init__(self, addr: int, write: bool = False):
        super().__init__(addr)
        self.addr = addr
        self.write = write


class GuestAccess:
    """Reading and writing guest virtual memory (needs `pt`, `phys`, `find`,
    `_resolve`, `_kernel_entry` and `cores` from the address space)."""

    # ---- guest memory access (zero copy) -------------------------------------
    def views(self, addr: int, length: int, write: bool = False,
              partial: bool = False) -> list[memoryview]:
        """memoryviews over the host segment covering guest [addr, addr+length)."""
        view = self.phys.view
        return [view[o:o + n] for o, n in self.extents(addr, length, write, partial)]

    def extents(self, addr: int, length: int, write: bool = False,
                partial: bool = False, force: bool = False) -> list[tuple[int, int]]:
        """The guest-physical extents (offset in the segment, length) backing
        guest [addr, addr+length): what another process mapping the segment
        needs to reach the same bytes.  Pages whose frames are contiguous
        share one extent.  With `partial`, stop at the first inaccessible page
        instead of faulting (as a read() into a buffer that runs into unmapped
        memory fills what it can).  With `force`, the guest's protection is
        not asked (the kernel filling a file mapping it made)."""
        if not force and (addr + length - 1 >> 12) - (addr >> 12) >= FAST_PAGES:
            spans = self._extents_mapped(addr, length, write)
            if spans is not None:
                return spans
        spans = []                                   # (phys offset, length)
        need = W if write else P
        get = self.pt.get
        while length > 0:
            entry = get(addr >> 12)
            if not entry & need or not entry & P or (force and entry & COW) or \
                    (write and addr >> 21 in self.pt.wp):       # a leaf table shared since fork
                try:
                    entry = self._forced_entry(addr) if force else self._kernel_entry(addr, write)
                except GuestFault:
                    if partial and spans:
                        break
                    raise
            inpage = addr & (PAGE - 1)
            take = min(length, PAGE - inpage)
            if write:
                if not entry & D:                # written, as a CPU's store would mark it
                    entry |= D
                    self.pt.set(addr >> 12, entry)
                if entry & A and not entry & NX:
                    self._code_written(addr)
            off = (entry & FRAME) + inpage
            if spans and spans[-1][0] + spans[-1][1] == off:
                spans[-1] = (spans[-1][0], spans[-1][1] + take)
            else:
                spans.append((off, take))
            addr += take
            length -= take
        return spans

    def _extents_mapped(self, addr: int, length: int, write: bool):
        """`extents` of a range whose pages are all present with the right
        already (the common case of a big read or write buffer), a leaf
        table at a time — as lists for a few dozen pages, with numpy for
        more; None when any page needs the careful path (a fault,
        copy-on-write, a shared leaf, code written)."""
        pt = self.pt
        first, end = addr >> 12, (addr + length - 1 >> 12) + 1
        if write and pt.wp and any(k in pt.wp for k in range(first >> 9, (end - 1 >> 9) + 1)):
            return None
        memo = self.__dict__.get("_extents_memo")
        if memo is None:
            memo = self.__dict__["_extents_memo"] = {}
        key = (addr, length, write)
        hit = memo.get(key)
        if hit is not None and self._unchanged(hit[0]):
            return list(hit[1])                           # the same entries: the same frames
        spans = self._whole_pages(first, end, write)
        if spans is None:
            return None
        inpage = addr & (PAGE - 1)
        off, n = spans[0]
        spans[0] = (off + inpage, n - inpage)
        tail = (end << 12) - (addr + length)              # past the buffer in its last page
        off, n = spans[-1]
        spans[-1] = (off, n - tail)
        if len(memo) >= MEMO:
            memo.clear()
        memo[key] = (self._snapshot(first, end), tuple(spans))
        return spans

    # A buffer read or written again and again (a read loop's) is looked up
    # once: its leaf entries are kept as bytes, and while they are the very
    # same words — frames, rights, accessed and dirty bits — in the very same
    # leaf tables, so are its extents (one memcmp instead of a walk).
    def _snapshot(self, first: int, end: int):
        pt, view, snaps = self.pt, self.phys.view, []
        vpn = first
        while vpn < end:
            stop = min(end, (vpn | 511) + 1)
            base = pt.leaves.get(vpn >> 9)
            at = (base + (vpn & 511)) * 8
            snaps.append((vpn >> 9, base, at, bytes(view[at:at + (stop - vpn) * 8])))
            vpn = stop
        return snaps

    def _unchanged(self, snaps) -> bool:
        leaves, view = self.pt.leaves, self.phys.view
        for key, base, at, snap in snaps:               # (bytes compare fastest: 5x a memoryview's)
            if leaves.get(key) != base or view[at:at + len(snap)].tobytes() != snap:
                return False
        return True

    def _whole_pages(self, first: int, end: int, write: bool):
        """The extents of whole pages [first, end), or None (see _extents_mapped)."""
        if end - first < NUMPY_PAGES:
            frames = self._frames_listed(first, end, write)
            if frames is None:
                return None
            spans, run = [], None
            for f in frames:                              # contiguous frames: one extent
                if run is not None and run[0] + run[1] == f:
                    run[1] += PAGE
                else:
                    run = [f, PAGE]
                    spans.append(run)
            return [tuple(r) for r in spans]
        return self._spans_numpy(first, end, write)

    def _frames_listed(self, first: int, end: int, write: bool):
        """The frames of pages [first, end), read as Python lists (a few
        dozen pages), or None (see _extents_mapped)."""
        pt = self.pt
        need = P | W if write else P
        frames = []
        vpn = first
        while vpn < end:
            stop = min(end, (vpn | 511) + 1)
            base = pt.leaves.get(vpn >> 9)
            if base is None:
                return None
            at = base + (vpn & 511)
            entries = pt.w[at:at + stop - vpn].tolist()
            for i, e in enumerate(entries):
                if e & need != need:
                    return None
                if write:
                    if e & A and not e & NX:
                        return None                       # code a CPU ran from is written
                    if not e & D:
                        pt.w[at + i] = e | D              # written, as a CPU's store marks it
                frames.append(e & FRAME)
            vpn = stop
        return frames

    def _spans_numpy(self, first: int, end: int, write: bool):
        """The extents of whole pages [first, end) with numpy, or None."""
        np = mmu._numpy()
        pt = self.pt
        need = np.uint64(P | W if write else P)
        blocks = []
        vpn = first
        while vpn < end:                                  # one leaf table's part at a time
            stop = min(end, (vpn | 511) + 1)
            base = pt.leaves.get(vpn >> 9)
            if base is None:
                return None
            block = pt.q[base + (vpn & 511):base + (vpn & 511) + (stop - vpn)]
            if ((block & need) != need).any():
                return None
            if write:
                if ((block & np.uint64(A | NX)) == np.uint64(A)).any():
                    return None                           # code a CPU ran from is written
                block |= np.uint64(D)                     # written, as a CPU's store marks it
            blocks.append(block & np.uint64(FRAME))
            vpn = stop
        frames = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        breaks = (np.flatnonzero(np.diff(frames) != np.uint64(PAGE)) + 1).tolist()
        fr = frames.tolist()
        return [(fr[s], (e - s) * PAGE) for s, e in zip([0] + breaks, breaks + [len(fr)])]

    def host_address(self, addr: int, size: int, write: bool = False) -> int | None:
        """The host address of guest [addr, addr+size) within one page, or
        None if the guest could not access it so."""
        if (addr & (PAGE - 1)) + size > PAGE:
            return None
        try:
            entry = self._kernel_entry(addr, write)
        except GuestFault:
            return None
        return self.phys.base + (entry & FRAME) + (addr & (PAGE - 1))

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

    def _forced_entry(self, a: int) -> int:
        """The entry of the page at `a`, with a frame of its own to write
        into whatever the guest's protection (which the entry keeps)."""
        m = self.find(a)
        if m is None:
            raise GuestFault(a, True)
        self.pt.own(a >> 12)
        entry = self.pt.get(a >> 12)
        if not entry & P or entry & COW:
            saved, eof, m.prot, m.eof = m.prot, m.eof, m.prot | PROT_READ | PROT_WRITE, None
            try:
                entry = self._resolve(m, a >> 12, True)
            finally:
                m.prot, m.eof = saved, eof
            if entry is None:
                raise GuestFault(a, True)
            entry = (entry & _KEEP) | (pte_flags(saved) or HELD)
            self.pt.set(a >> 12, entry)
        return entry

    def _code_written(self, addr: int) -> None:
        """The kernel writes into a page a CPU may have run code from: the
        code translated from it is dropped (a CPU's own stores are caught by
        Unicorn itself) — by address on the cores running this address
        space, all of it on the others (their page tables are another's)."""
        self._code_gone((page_down(addr),))

    def _code_gone(self, pages) -> None:
        """Drop the code translated from `pages` (addresses): by address on
        the cores running this address space, all of it on the others."""
        pages = list(pages)
        for core in self.cores:
            if core.mm is self:
                for page in pages:
                    core.forget_code(page, PAGE)
            else:
                core.forget_code()

    def poke(self, addr: int, data) -> None:
        """Write regardless of guest protection (the loader filling code pages)."""
        pos, length = 0, len(data)
        view = self.phys.view
        while pos < length:
            a = addr + pos
            entry = self._forced_entry(a)
            if entry & A and not entry & NX:
                self._code_written(a)
            take = min(length - pos, PAGE - (a & (PAGE - 1)))
            off = (entry & FRAME) + (a & (PAGE - 1))
            view[off:off + take] = data[pos:pos + take]
            pos += take

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string; raises GuestFault if it runs off mapped memory."""
        out = b""
        pmap = self.phys.map
        while True:
            entry = self.pt.get(addr >> 12)
            if not entry & P:
                entry = self._kernel_entry(addr, False)
            off = (entry & FRAME) + (addr & (PAGE - 1))
            stop = (entry & FRAME) + PAGE
            cap = min(stop, off + limit - len(out) + 1)
            nul = pmap.find(b"\0", off, cap)
            if nul >= 0:
                return out + pmap[off:nul]
            out += pmap[off:cap]
            if len(out) > limit:
                raise ValueError("string too long")
            addr = (addr | (PAGE - 1)) + 1

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
