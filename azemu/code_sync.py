"""Code one core writes while other cores hold translations of it.

Each core is its own Unicorn instance with its own cache of translated code,
and a store drops only the storing core's translations of the page it
reaches (azemu/core.py, `Core._watch_stores`).  A JIT whose threads run on
several cores — one writes code into a page that is writable and executable,
another runs it — would leave the other cores running the old code.

So after a core has run an address space that other cores run too, the
pages it wrote among those mapped writable *and* executable (their dirty bit,
which the CPU model's page walk sets on a store) lose every other core's
translations; their dirty bits are cleared, and the core's TLB flushed, so
that its next store there sets the bit again.  File mappings are left out
(their dirty bit belongs to write-back).  The scheduler calls `sync` after
each slice (kernels/sched.py); it costs a comparison unless the address
space has such a mapping.

Not covered: code written through one mapping and run through another (a
memfd's two views) on different cores.
"""
from __future__ import annotations

from .mmu import D, NX, P, W
from .physmem import PAGE

_WX = 2 | 4                                       # PROT_WRITE | PROT_EXEC


def _writable_code(mm) -> list[tuple[int, int]]:
    """Page ranges of `mm`'s mappings that are writable and executable,
    found again only after a mapping change."""
    cached = getattr(mm, "_wx_ranges", None)
    if cached is not None and cached[0] == mm.mapping_changes:
        return cached[1]
    ranges = [(m.start >> 12, m.end >> 12) for m in mm.mappings()
              if m.prot & _WX == _WX and (m.pager is None or not m.pager.writes_back)]
    mm._wx_ranges = (mm.mapping_changes, ranges)
    return ranges


def sync(mm, core) -> int:
    """`core` has just run `mm`: drop the other cores' translations of the
    writable code pages it wrote.  Returns how many pages it had written."""
    if mm is None or len(mm.cores) < 2:
        return 0
    ranges = _writable_code(mm)
    if not ranges:
        return 0
    pt = mm.pt
    written = []
    for lo, hi in ranges:
        for vpn, e in list(pt.present(lo, hi)):
            if e & (P | W | D | NX) == P | W | D:
                pt.set(vpn, e & ~D)
                written.append(vpn << 12)
    if not written:
        return 0
    core.flush_tlb()                              # its next store sets the bit again
    for other in mm.cores:
        if other is core:
            continue
        if other.mm is mm:                        # by address, through its own tables
            for page in written:
                other.forget_code(page, PAGE)
        else:
            other.forget_code()
    return len(written)
