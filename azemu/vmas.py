"""The VMA list of an address space: which guest ranges are mapped, and how.

`Mapping` is one VMA (a run of pages with one protection and one kind);
`VmaList` keeps an address space's VMAs sorted and answers what
`AddressSpace` (azemu/memory.py) builds its changes on: the VMA at an
address, the VMAs over a range, a free gap (Linux's top-down layout, with
its free_area_cache), a boundary made inside a VMA.  Page tables, frames
and TLBs are memory.py's; this module only keeps the list.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

from .physmem import page_down, page_up


class Mapping:
    """A VMA: a run of guest pages with one protection and one kind.

    `shared` pages keep their frames writable across a copy (MAP_SHARED);
    pages at or past `eof` (a file mapping's end of file, page-rounded)
    raise SIGBUS when touched.  `charged` pages count against the commit
    limit; `reserve` is False for MAP_NORESERVE (never charged).

    A mapping with a `pager` takes its frames from it (a file mapping: the
    kernel's page cache), page `pgoff` of the pager at `start`; a private
    one maps them copy-on-write, so its stores never reach the pager.
    A pager is any object with `frame(index)` (the frame holding page
    `index`, one owner of it being the pager; None past the end of the
    object: SIGBUS), `cached(index)` (that frame if the pager holds it
    already, else None), `dirtied(indices)` (pages the guest wrote, to be written
    back; called only when its `writes_back` is true) and
    `mapped_by(address_space)`.

    `filled` stays False until a page of the mapping is given an entry
    (AddressSpace._resolve and map_cached, the only places entries are
    made), so unmapping memory that was never touched looks at no page
    table; copies and moved mappings keep it."""
    __slots__ = ("start", "end", "prot", "name", "shared", "eof", "charged", "reserve",
                 "pager", "pgoff", "maywrite", "filled")

    def __init__(self, start, end, prot, name="", shared=False, eof=None, reserve=True,
                 pager=None, pgoff=0):
        self.start = start
        self.end = end
        self.prot = prot
        self.name = name
        self.shared = shared
        self.eof = eof
        self.reserve = reserve
        self.pager = pager
        self.pgoff = pgoff
        self.charged = False
        self.maywrite = True                  # False: mprotect may not add PROT_WRITE
        self.filled = False                   # a page of it may have an entry

    def copy(self, start, end):
        m = Mapping(start, end, self.prot, self.name, self.shared, self.eof, self.reserve,
                    self.pager, self.pgoff + ((start - self.start) >> 12))
        m.charged, m.maywrite, m.filled = self.charged, self.maywrite, self.filled
        return m

    def __repr__(self):
        return f"Mapping({self.start:#x}-{self.end:#x} prot={self.prot} {self.name})"


class VmaList:
    """An address space's VMAs, in descending order of start (and their
    negated starts, ascending, to bisect): top-down mmaps and a brk heap
    change the low end, which is the list's tail, so a change there moves
    nothing.  `mmap_top` is where top-down searches for free space begin
    (below the stack), `mmap_bottom` where they stop."""

    def __init__(self, mmap_top: int, mmap_bottom: int):
        self._neg: list[int] = []
        self._maps: list[Mapping] = []
        self.mmap_top = mmap_top
        self.mmap_bottom = mmap_bottom
        self._gap_top = mmap_top          # where the next top-down search starts

    def find(self, addr: int) -> Mapping | None:
        i = bisect_left(self._neg, -addr)      # the highest start <= addr
        if i < len(self._maps):
            m = self._maps[i]
            if addr < m.end:
                return m
        return None

    def mappings(self) -> list[Mapping]:
        return self._maps[::-1]

    def mappings_in(self, start: int, end: int) -> list[Mapping]:
        """The mappings overlapping [start, end), highest first."""
        return list(self._reaching(start, end))

    def is_free(self, start: int, end: int) -> bool:
        i = bisect_right(self._neg, -end)      # the highest start < end
        return i == len(self._maps) or self._maps[i].end <= start

    def find_free(self, length: int, hint: int = 0) -> int | None:
        """A free, page-aligned range of `length` bytes: at `hint` if free,
        else the highest gap below `mmap_top` (Linux's top-down layout)."""
        length = page_up(length)
        if hint and hint >= self.mmap_bottom and hint + length <= self.mmap_top:
            hint = page_down(hint)
            if self.is_free(hint, hint + length):
                return hint
        found = self._place(length)
        return None if found is None else found[0]

    def _place(self, length: int) -> tuple[int, int] | None:
        """The highest free gap of `length` bytes below `mmap_top`, and the
        index in the list a mapping there takes.  The search starts below
        the last range it gave (Linux's free_area_cache), moved up again
        when memory above it is unmapped."""
        top = self._gap_top
        found = self._gap_below(top, length)
        if found is None and top < self.mmap_top:
            found = self._gap_below(self.mmap_top, length)
        if found is not None:
            self._gap_top = found[0]
        return found

    def _gap_below(self, top: int, length: int) -> tuple[int, int] | None:
        maps, n, bottom = self._maps, len(self._maps), self.mmap_bottom
        i = bisect_right(self._neg, -top)       # from here on, starts below top
        while True:
            if i < n and maps[i].end > top:            # straddles top
                top = maps[i].start
                i += 1
                continue
            floor = maps[i].end if i < n else bottom
            if top - length >= (floor if floor > bottom else bottom):
                return top - length, i
            if i >= n:
                return None
            top = maps[i].start
            i += 1

    def fully_mapped(self, start: int, end: int) -> bool:
        addr = start
        while addr < end:
            m = self.find(addr)
            if m is None:
                return False
            addr = m.end
        return True

    def _overlapping(self, start: int, end: int) -> list[Mapping]:
        """The mappings overlapping [start, end), clipped copies at the ends."""
        return [m.copy(max(m.start, start), min(m.end, end)) for m in self._reaching(start, end)]

    def _reaching(self, start: int, end: int):
        """The mappings overlapping [start, end), highest first."""
        maps = self._maps
        i = bisect_right(self._neg, -end)
        while i < len(maps) and maps[i].end > start:
            yield maps[i]
            i += 1

    def _shared_spans(self, key: int) -> list[tuple[int, int]]:
        """Page offsets [a, b) within the 2 MiB of leaf table `key` that
        MAP_SHARED mappings cover."""
        lo = key << 21
        return [((max(m.start, lo) - lo) >> 12, (min(m.end, lo + (1 << 21)) - lo) >> 12)
                for m in self._reaching(lo, lo + (1 << 21)) if m.shared]

    def _insert(self, m: Mapping) -> None:
        i = bisect_left(self._neg, -m.start)
        self._neg.insert(i, -m.start)
        self._maps.insert(i, m)

    def _slice(self, start: int, end: int) -> tuple[int, int]:
        """Indices [i, j) of the mappings starting in [start, end)."""
        return bisect_right(self._neg, -end), bisect_right(self._neg, -start)

    def _split(self, addr: int) -> None:
        """Make `addr` a mapping boundary, if it falls inside a mapping."""
        m = self.find(addr)
        if m is None or m.start == addr:
            return
        tail = m.copy(addr, m.end)
        m.end = addr
        self._insert(tail)

    def _covering(self, start: int, end: int) -> list[Mapping]:
        self._split(start)
        self._split(end)
        i, j = self._slice(start, end)
        return self._maps[i:j][::-1]
