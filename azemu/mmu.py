"""x86-64 four-level page tables, kept in guest-physical memory.

The MMU model of azemu: every core maps its instance's physical segment once
(azemu/physmem.py) and runs with paging on (CR0.PG, CR4.PAE, EFER.LME/NXE),
so the CPU model itself walks these tables on a TLB miss — no Python runs
on a miss.  Python runs only on a page fault (#PF), which the core reports
to the address space owning its CR3 (azemu/memory.py).

A `PageTable` is the tables of one address space: the PML4 (CR3), and the
directory and leaf tables made on demand.  Leaf tables are found by a dict
keyed by virtual page number >> 9 and read and written through one numpy
view of the segment, so a range (an mprotect, an munmap) is a slice per
2 MiB rather than a loop over pages.

Entry bits are the hardware's (Intel SDM vol. 3, 4.5).  Bits 9-11 are free
for software when the entry is present, and every bit but 0 is free when it
is not; azemu uses two:

* `COW` — the page is write-protected because its frame is shared (after a
  fork, or the zero frame): a write fault copies it.
* `HELD` — on a not-present entry: a frame is kept for a page the guest may
  not touch (PROT_NONE), so that its contents survive an mprotect back.

fork shares leaf tables rather than copying them (`share_leaves`, after
on-demand fork, Zhao et al., EuroSys 2021): both address spaces' directory
entries point at the same leaf table with their write bit clear, so the
CPU's writes fault, and every method here that changes an entry first makes
the table its own (`own`).  A leaf table's frame has one owner per address
space holding it, and each page's frame one owner per leaf table holding it.
"""
from __future__ import annotations

np = None                      # numpy, imported on the first range big enough to need it
                               # (it is most of azemu's start-up time otherwise)


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _numpy():
    """numpy, imported with its BLAS held to one thread: azemu does no linear
    algebra, and OpenBLAS's pool otherwise starts a thread per host CPU that
    polls for work (measured: 7% of the samples of `threads 64`, taken from
    the emulator on a 2-CPU host).  The variables are set only while numpy
    loads (OpenBLAS reads them then), so guests never see them."""
    global np
    if np is None:
        import os
        saved = {k: os.environ.get(k) for k in _BLAS_THREADS}
        for k in _BLAS_THREADS:
            os.environ.setdefault(k, "1")
        try:
            import numpy
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        np = numpy
    return np

P, W, U, A, D = 0x1, 0x2, 0x4, 0x20, 0x40
COW, HELD = 1 << 9, 1 << 10
NX = 1 << 63
FRAME = 0x000FFFFFFFFFF000
ENTRIES = 512
PAGE_SIZE = 4096
_ZERO_TABLE = bytes(PAGE_SIZE)
SMALL = 32                     # ranges up to this many entries: no numpy
PY_SCAN = 2048                 # nor up to this many in all, until numpy is loaded anyway
PY_LEAVES = 256                # whole leaf tables read without numpy, until it is loaded

# #PF error code bits (Intel SDM vol. 3, 4.7)
PF_PRESENT, PF_WRITE, PF_USER, PF_FETCH = 0x1, 0x2, 0x4, 0x10

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def pte_flags(prot: int) -> int:
    """The leaf entry bits for a page the guest may access with `prot`
    (0 for PROT_NONE: the entry is not present)."""
    if not prot & 7:
        return 0
    flags = P | U
    if prot & PROT_WRITE:
        flags |= W
    if not prot & PROT_EXEC:
        flags |= NX
    return flags


_NOTHING_TAKEN = ((), False, False)      # take() of pages holding no frame


_LEAF_BITS = tuple(pte_flags(prot) or HELD for prot in range(8))   # by prot, for reprotect


class PageTable:
    """The page tables of one address space, in the frames of `phys`."""

    def __init__(self, phys):
        self.phys = phys
        # One uint64 view over the whole segment: entry i of the table in
        # frame f is q[f // 8 + i].
        self._q = None
        # The same words one at a time: a memoryview is several times faster
        # than numpy for a single entry, numpy many times faster for a range.
        self.w = phys.view.cast("Q")
        self.root = phys.frame()
        self.tables = 1
        self._dirs: dict[tuple[int, int], int] = {}   # (level, va >> shift) -> frame
        self.leaves: dict[int, int] = {}              # vpn >> 9 -> index of entry 0
        # Leaf tables this address space shares with others since a fork (or
        # has not written since their last sharer left): their directory
        # entry is write-protected, so a CPU's write faults (`own`).
        self.wp: set[int] = set()
        # (first, end) page offsets within leaf `key` of the shared mappings
        # there (MAP_SHARED): when a shared leaf is copied, every other page
        # holding a frame becomes copy-on-write.
        self.shared_spans = lambda key: []

    def release(self) -> None:
        """Give up the views of the segment (the instance is over)."""
        self._q = None
        self.w.release()

    @property
    def q(self):
        if self._q is None:
            self._q = _numpy().frombuffer(self.phys.map, dtype=_numpy().uint64)
        return self._q

    # ---- tables ---------------------------------------------------------------------
    def _table(self, level: int, va: int) -> int:
        """The frame of the level-`level` table covering `va` (3: PDPT,
        2: PD, 1: leaf), made on demand."""
        if level == 4:
            return self.root
        shift = 12 + 9 * level
        key = (level, va >> shift)
        t = self._dirs.get(key)
        if t is None:
            parent = self._table(level + 1, va)
            t = self.phys.frame()
            self.tables += 1
            slot = (parent >> 3) + ((va >> shift) & 511)
            self.w[slot] = t | P | W | U
            self._dirs[key] = t
        return t

    def leaf(self, vpn: int, create: bool = True) -> int | None:
        """The q index of the entry for page `vpn` of its leaf table's entry 0."""
        base = self.leaves.get(vpn >> 9)
        if base is None:
            if not create:
                return None
            base = self._table(1, vpn << 12) >> 3
            self.leaves[vpn >> 9] = base
        return base

    # ---- entries ----------------------------------------------------------------------
    def get(self, vpn: int) -> int:
        base = self.leaves.get(vpn >> 9)
        return 0 if base is None else self.w[base + (vpn & 511)]

    def set(self, vpn: int, entry: int) -> None:
        base = self._own(vpn >> 9) if vpn >> 9 in self.wp else self.leaf(vpn)
        self.w[base + (vpn & 511)] = entry

    def spans(self, vpn: int, end: int):
        """(q slice start, q slice end, first vpn) for the existing leaf
        tables covering pages [vpn, end)."""
        leaves = self.leaves
        while vpn < end:
            stop = min(end, (vpn | 511) + 1)
            base = leaves.get(vpn >> 9)
            if base is not None:
                yield base + (vpn & 511), base + (vpn & 511) + (stop - vpn), vpn
            vpn = stop

    def _plan(self, vpn: int, end: int):
        """The spans of pages [vpn, end) worth a look — a leaf's span with
        every entry empty (an untouched reservation, a thread's stack) is
        dropped after one compare of its bytes — and whether to look with
        numpy: only for more than PY_SCAN entries, or once it is loaded
        (importing it costs a short program a tenth of a second)."""
        spans = [s for s in self.spans(vpn, end) if s[1] - s[0] <= SMALL or not self._empty(s[0], s[1])]
        big = np is not None or sum(b - a for a, b, _ in spans) > PY_SCAN
        return spans, big

    def _empty(self, a: int, b: int) -> bool:
        """Are entries [a, b) all empty?  (One compare of their bytes.)"""
        return self.w[a:b].tobytes() == _ZERO_TABLE[:(b - a) << 3]

    def _full_leaves(self, bases) -> tuple[list[int], bool]:
        """The leaf tables of `bases` holding any entry, and whether to read
        them with numpy (see _plan)."""
        bases = [b for b in bases if not self._empty(b, b + ENTRIES)]
        return bases, np is not None or len(bases) > PY_LEAVES

    def present(self, vpn: int, end: int):
        """(vpn, entry) for every non-empty entry in pages [vpn, end)."""
        w = self.w
        spans, big = self._plan(vpn, end)
        for a, b, first in spans:
            if b - a <= SMALL or not big:
                for i in range(a, b):
                    if w[i]:
                        yield first + i - a, w[i]
                continue
            block = self.q[a:b]
            for i in np.flatnonzero(block).tolist():
                yield first + i, int(block[i])

    def take(self, vpn: int, end: int) -> tuple[list[int] | tuple, bool, bool]:
        """Empty pages [vpn, end): the frames they held, whether any entry
        had been used by a CPU (its accessed bit: it may be in a TLB), and
        whether any of those was executable (a CPU may have translated code
        from its frame)."""
        if self.wp:
            self.own_range(vpn, end)
        w = self.w
        if end - vpn == 1:                              # one page: no spans
            base = self.leaves.get(vpn >> 9)
            e = 0 if base is None else w[base + (vpn & 511)]
            if not e:
                return _NOTHING_TAKEN
            w[base + (vpn & 511)] = 0
            used = bool(e & A)
            return [e & FRAME], used, used and bool(e & P) and not e & NX
        frames, used, code = [], False, False
        spans, big = self._plan(vpn, end)
        for a, b, _ in spans:
            if b - a <= SMALL or not big:
                for i in range(a, b):
                    e = w[i]
                    if e:
                        frames.append(e & FRAME)
                        if e & A:
                            used = True
                            code = code or (e & P and not e & NX)
                        w[i] = 0
                continue
            block = self.q[a:b]
            nz = block[block != 0]
            if nz.size:
                frames += (nz & np.uint64(FRAME)).tolist()
                acc = (nz & np.uint64(A)) != 0
                used = used or bool(acc.any())
                code = code or bool((acc & ((nz & np.uint64(P)) != 0)
                                     & ((nz & np.uint64(NX)) == 0)).any())
                block[:] = 0
        return frames, used, code

    def reprotect(self, vpn: int, end: int, prot: int) -> bool:
        """Give the pages [vpn, end) that hold a frame the entry bits for
        `prot` (shared frames stay write-protected); True if an entry that a
        TLB may hold lost a right."""
        if self.wp:
            self.own_range(vpn, end)
        w = self.w
        iflags = _LEAF_BITS[prot & 7]
        if end - vpn == 1:                              # one page: no spans
            base = self.leaves.get(vpn >> 9)
            if base is None:
                return False
            i = base + (vpn & 511)
            old = w[i]
            if not old:
                return False
            new = (old & (FRAME | A | D | COW)) | iflags
            if new & COW:
                new &= ~W
            w[i] = new
            return bool(old & P and old & A and ((old & ~new) & (P | W) or (new & ~old) & NX))
        spans, big = self._plan(vpn, end)
        if not big or all(b - a <= SMALL for a, b, _ in spans):   # small: one entry at a time
            lost = False
            for a, b, _ in spans:
                for i in range(a, b):
                    old = w[i]
                    if not old:
                        continue
                    new = (old & (FRAME | A | D | COW)) | iflags
                    if new & COW:
                        new &= ~W
                    if old & P and old & A and ((old & ~new) & (P | W) or (new & ~old) & NX):
                        lost = True
                    w[i] = new
            return lost
        q = self.q
        flags = np.uint64(pte_flags(prot))
        keep = np.uint64(FRAME | A | D | COW)
        cow_w = np.uint64(W)
        present_bit = np.uint64(P)
        held = np.uint64(HELD)
        lost = False
        for a, b, _ in spans:
            block = q[a:b]
            idx = np.flatnonzero(block)
            if not idx.size:
                continue
            old = block[idx]
            new = (old & keep) | flags
            if not flags:
                new |= held
            new[(new & np.uint64(COW)) != 0] &= ~cow_w
            accessed = (old & np.uint64(A)) != 0
            lost_rights = ((old & ~new) & np.uint64(P | W)) | ((new & ~old) & np.uint64(NX))
            weaker = ((old & present_bit) != 0) & (lost_rights != 0)
            lost = lost or bool((accessed & weaker).any())
            block[idx] = new
        return lost

    def all_frames(self, owned: bool = False) -> list[int]:
        """The frames every entry holds (with `owned`, only in the leaf
        tables no other address space holds: what this one's end frees)."""
        out, w = [], self.w
        bases, big = self._full_leaves(self._owned_leaves() if owned else list(self.leaves.values()))
        if not big:
            for base in bases:
                out += [e & FRAME for e in w[base:base + ENTRIES].tolist() if e]
            return out
        q = self.q
        for base in bases:
            block = q[base:base + ENTRIES]
            nz = block[block != 0]
            if nz.size:
                out += (nz & np.uint64(FRAME)).tolist()
        return out

    def count_frames(self, but: int) -> int:
        """How many entries hold a frame other than `but` (a process's end
        asks, for its resident set).  A leaf table shared since a fork cannot
        change while it is shared (every write takes its own copy first), so
        its count is kept, by its frame, for the next holder that asks — a
        child of a large process ends without counting the parent's pages."""
        cache = self.phys.leaf_counts
        n = 0
        for key, base in self.leaves.items():
            if key in self.wp:
                c = cache.get(base << 3)
                if c is None:
                    c = cache[base << 3] = self._count_leaf(base, but)
                n += c
            else:
                n += self._count_leaf(base, but)
        return n

    def _count_leaf(self, base: int, but: int) -> int:
        if self._q is None:                             # no numpy yet: a small process
            return sum(1 for e in self.w[base:base + ENTRIES].tolist() if e and e & FRAME != but)
        block = self._q[base:base + ENTRIES]
        held = block[block != 0]
        return int(held.size - np.count_nonzero((held & np.uint64(FRAME)) == np.uint64(but)))

    def code_frames(self, ranges=None) -> list[int]:
        """The frames of pages a CPU has run code from (present, accessed,
        executable), in the leaf tables no other address space holds — and,
        with `ranges` ((vpn, end) pairs), only those covering them."""
        bases = self._owned_leaves()
        if ranges is not None:
            keys = {k for vpn, end in ranges for k in range(vpn >> 9, ((end - 1) >> 9) + 1)}
            wanted = {self.leaves[k] for k in keys if k in self.leaves}
            bases = [b for b in bases if b in wanted]
        bases, big = self._full_leaves(bases)
        if not bases:
            return []
        if not big:
            w = self.w
            return [e & FRAME for base in bases
                    for e in w[base:base + ENTRIES].tolist() if e & (P | A | NX) == P | A]
        np, q = _numpy(), self.q
        block = np.concatenate([q[b:b + ENTRIES] for b in bases])
        ran = (block & np.uint64(P | A | NX)) == np.uint64(P | A)
        return (block[ran] & np.uint64(FRAME)).tolist()

    # ---- leaf tables shared by fork (on-demand fork) ----------------------------------
    def _pde(self, key: int) -> int:
        """The w index of the directory entry pointing at leaf table `key`."""
        return (self._dirs[(2, key >> 9)] >> 3) + (key & 511)

    def share_leaves(self, child: "PageTable") -> bool:
        """fork: `child` (empty) gets every leaf table of this one — the
        same frames, one more owner each — with the directory entry
        write-protected on both sides, so fork costs a few steps per 2 MiB
        whatever the pages hold; the first write through either side makes
        that side its own copy (`own`).  True if there was any leaf."""
        phys, w, cw = self.phys, self.w, child.w
        for key, base in self.leaves.items():
            t = base << 3
            phys.share(t)
            if key not in self.wp:
                w[self._pde(key)] &= ~W
                self.wp.add(key)
            pd = child._table(2, key << 21)
            cw[(pd >> 3) + (key & 511)] = t | P | U
            child._dirs[(1, key)] = t
            child.leaves[key] = base
            child.wp.add(key)
            child.tables += 1
        return bool(self.leaves)

    def own(self, vpn: int) -> bool:
        """Before a write to page `vpn`: make its leaf table this address
        space's own, if it was shared; True if it was."""
        if vpn >> 9 not in self.wp:
            return False
        self._own(vpn >> 9)
        return True

    def own_range(self, vpn: int, end: int) -> None:
        lo, hi = vpn >> 9, (end - 1) >> 9
        keys = [k for k in self.wp if lo <= k <= hi] if hi - lo > len(self.wp) else \
            [k for k in range(lo, hi + 1) if k in self.wp]
        for k in keys:
            self._own(k)

    def _own(self, key: int) -> int:
        """Leaf table `key` for writing: if nobody else holds it any more,
        the directory entry gets its write right back; else this address
        space takes a copy — each page's frame one more owner, and the
        private pages copy-on-write in the copy and in the original, which
        its other holders keep.  Returns the q index of its entry 0."""
        self.wp.discard(key)
        base, phys = self.leaves[key], self.phys
        phys.leaf_counts.pop(base << 3, None)          # it may change from now on
        slot = self._pde(key)
        if phys.owners(base << 3) == 1:
            self.w[slot] |= W
            return base
        np, q = _numpy(), self.q
        new = phys.frame()
        nb = new >> 3
        q[nb:nb + ENTRIES] = q[base:base + ENTRIES]
        block = q[nb:nb + ENTRIES]
        held = block[block != 0]
        if held.size:
            phys.share_all((held & np.uint64(FRAME)).tolist())
            private = block != 0
            for a, b in self.shared_spans(key):
                private[a:b] = False
            if private.any():
                keep, cow = np.uint64(~W & (2**64 - 1)), np.uint64(COW)
                for part in (q[base:base + ENTRIES], block):
                    part[private] = (part[private] & keep) | cow
        self.w[slot] = new | P | W | U
        phys.release([base << 3])
        self.leaves[key] = nb
        self._dirs[(1, key)] = new
        return nb

    def _owned_leaves(self):
        """The q indexes of the leaf tables no other address space holds."""
        owners = self.phys.owners
        return [b for k, b in self.leaves.items() if k not in self.wp or owners(b << 3) == 1]

    def close(self) -> None:
        """Free the tables' own frames (the pages' are the owner's to release)."""
        tables = [self.root] + list(self._dirs.values())
        owners, view = self.phys.owners, self.phys.view
        for t in tables:
            if owners(t) == 1:                   # a leaf another space holds stays as it is
                view[t:t + PAGE_SIZE] = _ZERO_TABLE
        self.phys.release(tables)
        self.wp.clear()
        self._dirs.clear()
        self.leaves.clear()
