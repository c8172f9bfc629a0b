"""The short ways through mmap, munmap and mprotect (issue #9) give what
the general ways give.

kernels/syscalls/mm_mmap.py serves the usual calls — private anonymous
memory anywhere, mprotect of one whole VMA — without the general argument
walk, and AddressSpace.unmap looks at no page table for a VMA that was never
given an entry (`Mapping.filled`).  These tests hold each shortcut against
the general path it skips, and check the `filled` promise while real
programs fork, remap, fault and exit."""
from __future__ import annotations

import random

import pytest

import azemu
from azemu.memory import AddressSpace
from azemu.physmem import PhysicalMemory
from kernels.errors import LinuxError
from kernels.syscalls import mm_mmap

from conftest import guest

MAP_PRIVATE_ANON = 0x22
MASK64 = (1 << 64) - 1


class _Process:
    """What the mm handlers use of a process: its address space."""

    def __init__(self, mm):
        self.mm = mm


def _state(mm):
    return ([(m.start, m.end, m.prot, m.name, m.charged, m.filled) for m in mm.mappings()],
            mm.committed, mm.mapping_changes)


def _call(fn, *args):
    try:
        return fn(*args)
    except LinuxError as e:
        return -e.errno


@pytest.mark.parametrize("seed", range(4))
def test_the_short_ways_leave_what_the_general_ways_leave(seed):
    """The same random run of mmap, munmap, mprotect and stores on two
    address spaces, one through the handlers (short ways where they apply),
    one through the general code they skip: the same answers, VMAs,
    charges and contents.  A small commit limit makes some maps fail."""
    rnd = random.Random(seed)
    spaces = []
    for _ in range(2):
        mm = AddressSpace(PhysicalMemory(64 << 20), mmap_top=0x7F0000000000,
                          mmap_bottom=0x7EFFF0000000)
        mm.commit_limit = 8 << 20
        spaces.append(mm)
    short, general = (_Process(mm) for mm in spaces)
    live = []
    for step in range(1500):
        what = rnd.random()
        if what < 0.45 or not live:
            length = rnd.choice((1, 4096, 4097, 8192, 65536, 1 << 20, 3 << 20))
            prot = rnd.randrange(8)
            a = _call(mm_mmap.mmap, short, 0, length, prot, MAP_PRIVATE_ANON, MASK64, 0)
            b = _call(mm_mmap._mmap, general, 0, length, prot, MAP_PRIVATE_ANON, MASK64, 0)
            assert a == b, (step, a, b)
            if a > 0:
                live.append((a, length))
        elif what < 0.75:
            start, length = live.pop(rnd.randrange(len(live)))
            if rnd.random() < 0.3 and length > 4096:       # part of it: the general way
                length = 4096
            assert mm_mmap.munmap(short, start, length) == mm_mmap.munmap(general, start, length)
        elif what < 0.92:
            start, length = rnd.choice(live)
            prot = rnd.randrange(8)
            if rnd.random() < 0.3:
                length = 4096                               # one page of it: a split
            a = _call(mm_mmap.mprotect, short, start, length, prot)
            b = _call(mm_mmap._mprotect, general, start, length, prot)
            assert a == b, (step, a, b)
        else:
            start, length = rnd.choice(live)
            page = start + rnd.randrange(0, length, 4096)
            for p in (short, general):
                m = p.mm.find(page)
                if m is not None and m.prot & 2:
                    p.mm.write(page, bytes([step & 255]) * 8)
        assert _state(short.mm) == _state(general.mm), step
    for start, length in live:
        assert short.mm.resident_pages(start, length) == general.mm.resident_pages(start, length)
    assert short.mm.resident() == general.mm.resident() > 0


def test_a_short_way_is_taken_and_falls_back_where_it_must():
    """map_anywhere takes the gap below the last mapping when it fits, and
    searches when it does not (a hole too small, the bottom reached)."""
    mm = AddressSpace(PhysicalMemory(16 << 20), mmap_top=0x10000 + 16 * 4096,
                      mmap_bottom=0x10000)
    p = _Process(mm)
    first = mm_mmap.mmap(p, 0, 4096, 3, MAP_PRIVATE_ANON, MASK64, 0)
    second = mm_mmap.mmap(p, 0, 4096, 3, MAP_PRIVATE_ANON, MASK64, 0)
    assert (first, second) == (0x10000 + 15 * 4096, 0x10000 + 14 * 4096)
    mm_mmap.munmap(p, first, 4096)
    big = mm_mmap.mmap(p, 0, 8192, 3, MAP_PRIVATE_ANON, MASK64, 0)
    assert big == second - 8192                   # the freed page above is too small
    again = mm_mmap.mmap(p, 0, 4096, 3, MAP_PRIVATE_ANON, MASK64, 0)
    assert again == big - 4096
    rest = mm_mmap.mmap(p, 0, 11 * 4096, 3, MAP_PRIVATE_ANON, MASK64, 0)
    assert rest == 0x10000                        # down to the bottom
    assert mm_mmap.mmap(p, 0, 4096, 3, MAP_PRIVATE_ANON, MASK64, 0) == first
    assert _call(mm_mmap.mmap, p, 0, 4096, 3, MAP_PRIVATE_ANON, MASK64, 0) < 0   # ENOMEM


def _check_filled(mm) -> int:
    """Every VMA not marked `filled` has no page-table entry; returns how
    many VMAs were checked."""
    for m in mm.mappings():
        if not m.filled:
            entries = list(mm.pt.present(m.start >> 12, m.end >> 12))
            assert not entries, f"{m} holds entries {entries[:3]} but is not marked filled"
    return len(mm.mappings())


@pytest.mark.parametrize("program, args", [
    ("mm_semantics", ["DATA"]),
    ("cow", []),
    ("procvm", []),
    ("mallocstress", []),
    ("threads", ["4"]),
])
def test_a_mapping_never_marked_filled_holds_no_entries(program, args, tmp_path):
    """At every munmap, mremap, fork and exit of real programs, each VMA
    that unmap would skip (not `filled`) really has no entry: a missed mark
    would leave frames mapped after munmap."""
    checked = []

    def check(call):
        checked.append(_check_filled(call._p.mm))

    hooks = azemu.Hooks()
    for name in ("munmap", "mremap", "clone", "fork", "exit_group", "madvise"):
        hooks.syscall(name, before=check)
    args = [str(tmp_path / "f.dat") if a == "DATA" else a for a in args]
    r = azemu.run(guest("glibc", program), args, hooks=hooks)
    assert r.status == 0, (r.stdout[-300:], r.stderr[-300:], r.report)
    assert sum(checked) > 0
