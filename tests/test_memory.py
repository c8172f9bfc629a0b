"""The physical memory segment, frame allocator and address spaces
(azemu/memory.py), checked against a real Unicorn core."""
from __future__ import annotations

import pytest

from azemu.core import Core
from azemu.memory import PAGE, AddressSpace, GuestFault, OutOfMemory, PhysicalMemory

RW, R = 3, 1


@pytest.fixture
def space():
    phys = PhysicalMemory(64 * PAGE)
    aspace = AddressSpace(phys, mmap_top=0x100000, mmap_bottom=0x10000)
    core = Core()
    aspace.attach(core)
    yield aspace, core
    phys.close()


def test_allocator_first_fit_and_coalesce():
    phys = PhysicalMemory(16 * PAGE)
    a = phys.alloc(4 * PAGE)
    b = phys.alloc(4 * PAGE)
    assert a == [(PAGE, 4 * PAGE)] and b == [(5 * PAGE, 4 * PAGE)]   # frame 0 is reserved
    phys.free(PAGE, 4 * PAGE)
    phys.free(5 * PAGE, 4 * PAGE)
    assert phys._free == [(PAGE, 15 * PAGE)] and phys.used == PAGE
    with pytest.raises(OutOfMemory):
        phys.alloc(16 * PAGE)
    phys.close()


def test_fragmented_allocation_gathers_pieces():
    phys = PhysicalMemory(9 * PAGE)
    blocks = [phys.alloc(PAGE)[0] for _ in range(8)]
    for off, ln in blocks[::2]:
        phys.free(off, ln)
    pieces = phys.alloc(3 * PAGE)
    assert len(pieces) == 3 and sum(ln for _, ln in pieces) == 3 * PAGE
    phys.close()


def test_freed_frames_come_back_zeroed(space):
    aspace, core = space
    aspace.map(0x20000, 2 * PAGE, RW)
    aspace.write(0x20000, b"x" * 100)
    aspace.unmap(0x20000, 2 * PAGE)
    aspace.map(0x20000, 2 * PAGE, RW)
    assert aspace.read(0x20000, 100) == bytes(100)


def test_core_sees_what_the_kernel_writes(space):
    aspace, core = space
    aspace.map(0x30000, PAGE, RW)
    aspace.write(0x30010, b"shared")
    assert bytes(core.uc.mem_read(0x30010, 6)) == b"shared"
    core.uc.mem_write(0x30020, b"back")
    assert aspace.read(0x30020, 4) == b"back"


def test_partial_unmap_and_protect_split_mappings(space):
    aspace, core = space
    aspace.map(0x40000, 4 * PAGE, RW, "blob")
    aspace.write(0x40000, b"a" * (4 * PAGE))
    aspace.unmap(0x41000, PAGE)
    aspace.protect(0x42000, PAGE, R)
    assert [(m.start, m.end, m.prot) for m in aspace.mappings()] == [
        (0x40000, 0x41000, RW), (0x42000, 0x43000, R), (0x43000, 0x44000, RW)]
    assert aspace.read(0x43000, 4) == b"aaaa"
    with pytest.raises(GuestFault):
        aspace.read(0x41000, 1)
    with pytest.raises(GuestFault):
        aspace.write(0x42000, b"no")             # read-only for the guest
    regions = sorted((b, e, p) for b, e, p in core.uc.mem_regions())
    assert (0x42000, 0x42FFF, R) in regions and all(not (b <= 0x41000 <= e) for b, e, _ in regions)


def test_move_keeps_contents_without_copying(space):
    aspace, core = space
    aspace.map(0x50000, 2 * PAGE, RW)
    aspace.write(0x50000, b"moved!")
    phys_before = aspace.find(0x50000).phys
    aspace.move(0x50000, 2 * PAGE, 0x70000)
    assert aspace.find(0x50000) is None
    assert aspace.find(0x70000).phys == phys_before
    assert bytes(core.uc.mem_read(0x70000, 6)) == b"moved!"


def test_find_free_is_top_down(space):
    aspace, _ = space
    a = aspace.find_free(PAGE)
    assert a == 0x100000 - PAGE
    aspace.map(a, PAGE, RW)
    assert aspace.find_free(PAGE) == a - PAGE


def test_read_cstr_across_mappings(space):
    aspace, _ = space
    aspace.map(0x60000, PAGE, RW)
    aspace.map(0x61000, PAGE, RW)                # a separate mapping, other frames
    aspace.write(0x61000 - 3, b"abcdef\0")
    assert aspace.read_cstr(0x61000 - 3) == b"abcdef"
    with pytest.raises(GuestFault):
        aspace.write(0x62000 - 2, b"xyz")        # runs off the end
