"""The MMU model: frames (azemu/physmem.py), page tables (azemu/mmu.py) and
address spaces (azemu/memory.py), checked against real Unicorn cores running
guest code with paging on."""
from __future__ import annotations

import struct

import pytest

from azemu import ucfast
from azemu.core import Core, RunResult
from azemu.memory import PAGE, AddressSpace, GuestFault, OutOfMemory, PhysicalMemory
from azemu.mmu import FRAME

RW, R, RX = 3, 1, 5
CODE = 0x400000


@pytest.fixture
def space():
    phys = PhysicalMemory(256 * PAGE)
    aspace = AddressSpace(phys, mmap_top=0x100000000, mmap_bottom=0x10000)
    core = Core()
    core.attach_memory(phys)
    aspace.attach(core)
    core.set_syscall_handler(lambda uch, ud: ucfast.emu_stop(core.uch))
    aspace.map(CODE, PAGE, RX, "code")
    aspace.poke(CODE, b"\x90")                    # its frame, before any count is read
    yield aspace, core
    aspace.close()
    phys.close()


def run(core, aspace, code: bytes, **regs):
    """Run `code` (ending in `syscall`, which stops) on `core`."""
    if aspace.find(CODE) is None:
        aspace.map(CODE, PAGE, RX, "code")
    aspace.poke(CODE, code + b"\x0f\x05")
    core.flush_tlb()
    core.regs.write_many(regs)
    return core.run(CODE)


LOAD = b"\x48\x8b\x03"            # mov rax, [rbx]
STORE = b"\x48\x89\x0b"           # mov [rbx], rcx
STORE_BYTE = b"\x88\x0b"          # mov [rbx], cl
CALL = b"\xff\xd3"                # call rbx


def test_frames_ascend_and_come_back_zeroed():
    phys = PhysicalMemory(128 * PAGE)
    a, b = phys.frame(), phys.frame()
    assert b == a + PAGE                          # touched in order: contiguous
    phys.view[a:a + 4] = b"dirt"
    phys.release([a])
    assert phys.frame() == a and bytes(phys.view[a:a + 4]) == bytes(4)
    used = phys.used
    phys.share(b)
    phys.release([b])                             # one owner left
    assert phys.used == used and phys.owners(b) == 1
    phys.close()


def test_shared_frames_come_from_a_zone_at_the_top():
    """Frames several mappings may reach (page cache, shared memory) lie in
    [shared_low, size): cores keep stores there on Unicorn's slow path.
    The zone grows down as needed, and says so; freed zone frames go back
    to it; a private frame may come from it when nothing else is left."""
    import weakref
    phys = PhysicalMemory(256 * PAGE)
    heard = []

    class Watcher:
        def lowered(self, low):
            heard.append(low)
    w = Watcher()
    phys.zone_watchers.append(weakref.WeakMethod(w.lowered))
    assert phys.shared_low == phys.size
    private = [phys.frame() for _ in range(8)]
    shared = [phys.frame(shared=True) for _ in range(70)]
    assert all(f >= phys.shared_low for f in shared)
    assert all(f < phys.shared_low for f in private)
    assert shared[1] == shared[0] + PAGE                  # ascending within a carve
    assert heard and heard[-1] == phys.shared_low and len(heard) == 2   # two carves of 64
    phys.view[shared[0]:shared[0] + 4] = b"dirt"
    phys.release([shared[0]])
    again = phys.frame(shared=True)
    assert again == shared[0] and bytes(phys.view[again:again + 4]) == bytes(4)
    below = phys.shared_low // PAGE - 2 - 8               # frame 0 and the zero frame
    assert all(phys.frame() < phys.shared_low for _ in range(below))
    spare = (phys.size - phys.shared_low) // PAGE - 70    # carved into the zone, unused
    assert spare > 0
    assert all(phys.frame() >= phys.shared_low for _ in range(spare))   # the zone serves at last
    with pytest.raises(OutOfMemory):
        phys.frame()
    with pytest.raises(OutOfMemory):
        phys.frame(shared=True)
    phys.release(private[:2])
    got = phys.frame(shared=True)
    assert got in private[:2] and phys.shared_low == got == heard[-1]   # a private frame joins it
    phys.close()


def test_contiguous_extents_and_the_limit():
    phys = PhysicalMemory(200 * PAGE)
    [(off, ln)] = phys.alloc(16 * PAGE)
    assert ln == 16 * PAGE and off >= PAGE        # frame 0 is reserved
    with pytest.raises(OutOfMemory):
        phys.alloc(200 * PAGE)
    phys.close()


def test_core_and_kernel_see_the_same_frames(space):
    aspace, core = space
    aspace.map(0x30000, PAGE, RW)
    aspace.write(0x30010, struct.pack("<Q", 0x1122334455667788))
    assert run(core, aspace, LOAD + b"\x48\x89\x43\x08", rbx=0x30010) == RunResult.STOPPED
    assert core.regs.read(ucfast.x86.UC_X86_REG_RAX) == 0x1122334455667788
    assert aspace.read(0x30018, 8) == struct.pack("<Q", 0x1122334455667788)


def test_demand_paging_gives_frames_on_first_touch(space):
    aspace, core = space
    resident = aspace.resident()
    aspace.map(0x40000000, 1 << 30, RW, reserve=False)     # 1 GiB: nothing given yet
    assert aspace.resident() == resident
    before = aspace.page_faults
    assert run(core, aspace, STORE, rbx=0x40000000 + 5 * PAGE, rcx=7) == RunResult.STOPPED
    assert aspace.page_faults == before + 1
    assert aspace.resident() == resident + PAGE
    assert aspace.read(0x40000000 + 5 * PAGE, 1) == b"\x07"


def test_a_read_first_maps_the_zero_frame_and_a_write_then_copies(space):
    aspace, core = space
    resident = aspace.resident()
    aspace.map(0x50000, 2 * PAGE, RW)
    assert run(core, aspace, LOAD, rbx=0x50000) == RunResult.STOPPED
    assert aspace.resident() == resident          # the shared zero frame
    assert run(core, aspace, STORE, rbx=0x50008, rcx=9) == RunResult.STOPPED
    assert aspace.resident() == resident + PAGE and aspace.read(0x50008, 1) == b"\x09"


@pytest.mark.parametrize("what, prot, code, si_code", [
    ("read of unmapped", None, LOAD, 1),
    ("read of PROT_NONE", 0, LOAD, 2),
    ("write to read-only", R, STORE, 2),
    ("execute of no-exec", RW, CALL, 2),
])
def test_faults_carry_linux_si_codes(space, what, prot, code, si_code):
    aspace, core = space
    if prot is not None:
        aspace.map(0x60000, PAGE, RW)
        aspace.write(0x60000, b"\xc3")            # ret, so an allowed call returns
        aspace.protect(0x60000, PAGE, prot)
    aspace.map(0x7F000, PAGE, RW, "[stack]")
    assert run(core, aspace, code, rbx=0x60000, rsp=0x80000) == RunResult.FAULT
    assert core.fault.signal == "SIGSEGV" and core.fault.code == si_code, what
    assert core.fault.addr == 0x60000


def test_protection_changes_keep_contents_and_reach_the_tlb(space):
    aspace, core = space
    aspace.map(0x70000, PAGE, RW)
    assert run(core, aspace, STORE, rbx=0x70000, rcx=0x55) == RunResult.STOPPED   # in the TLB now
    aspace.protect(0x70000, PAGE, 0)
    assert run(core, aspace, LOAD, rbx=0x70000) == RunResult.FAULT               # flushed: faults
    aspace.protect(0x70000, PAGE, RW)
    assert run(core, aspace, LOAD, rbx=0x70000) == RunResult.STOPPED
    assert core.regs.read(ucfast.x86.UC_X86_REG_RAX) == 0x55


def test_unmap_frees_frames_and_the_page_faults_again(space):
    aspace, core = space
    aspace.map(0x80000, 2 * PAGE, RW)
    run(core, aspace, STORE, rbx=0x80000, rcx=1)
    used = aspace.phys.used
    aspace.unmap(0x80000, 2 * PAGE)
    assert aspace.phys.used == used - PAGE
    assert run(core, aspace, LOAD, rbx=0x80000) == RunResult.FAULT and core.fault.code == 1


def test_partial_unmap_and_protect_split_mappings(space):
    aspace, core = space
    aspace.map(0x40000, 4 * PAGE, RW, "blob")
    aspace.write(0x40000, b"a" * (4 * PAGE))
    aspace.unmap(0x41000, PAGE)
    aspace.protect(0x42000, PAGE, R)
    assert [(m.start, m.end, m.prot) for m in aspace.mappings() if m.name == "blob"] == [
        (0x40000, 0x41000, RW), (0x42000, 0x43000, R), (0x43000, 0x44000, RW)]
    assert aspace.read(0x43000, 4) == b"aaaa"
    with pytest.raises(GuestFault):
        aspace.read(0x41000, 1)
    with pytest.raises(GuestFault):
        aspace.write(0x42000, b"no")             # read-only for the guest


def test_move_keeps_the_frames(space):
    aspace, core = space
    aspace.map(0x50000, 2 * PAGE, RW)
    aspace.write(0x50000, b"moved!")
    frames = aspace.extents(0x50000, 6)
    aspace.move(0x50000, 2 * PAGE, 0x90000)
    assert aspace.find(0x50000) is None
    assert aspace.extents(0x90000, 6) == frames
    assert run(core, aspace, LOAD, rbx=0x90000) == RunResult.STOPPED
    assert core.regs.read(ucfast.x86.UC_X86_REG_RAX) & 0xFFFFFFFFFFFF == int.from_bytes(b"moved!", "little")


def test_fork_shares_frames_copy_on_write(space):
    aspace, core = space
    aspace.map(0xA0000, 2 * PAGE, RW)
    aspace.write(0xA0000, b"parent")
    used = aspace.phys.used
    child = aspace.fork()
    assert aspace.phys.used - used <= 8 * PAGE    # the child's page tables: no page copied
    assert run(core, aspace, STORE_BYTE, rbx=0xA0000, rcx=0x41) == RunResult.STOPPED
    assert aspace.cow_faults == 2                 # the code page run() rewrote, and the store's
    assert child.read(0xA0000, 6) == b"parent" and aspace.read(0xA0000, 1) == b"A"
    assert child.read(CODE, 1) == b"\x90"         # the child's code is still its own
    child.write(0xA0000, b"child")                # the last owner: no copy needed
    assert child.cow_faults == 0 and aspace.read(0xA0001, 5) == b"arent"
    child.close()


def test_fork_shares_leaf_tables_until_a_side_writes():
    """fork takes one reference per leaf table (2 MiB), not per page: 8 MiB
    touched costs four shared tables; the child's kernel-side write (as a
    read() into its memory) copies only its own leaf table and the page."""
    phys = PhysicalMemory(4096 * PAGE)
    parent = AddressSpace(phys, mmap_top=0x100000000, mmap_bottom=0x10000)
    base = 0x4000_0000
    parent.map(base, 8 << 20, RW)
    for off in range(0, 8 << 20, PAGE):
        parent.write(base + off, b"p")
    child = parent.fork()
    assert len(phys.refs) == 4                   # the four leaf tables, nothing per page
    child.write(base + 5 * PAGE, b"c")
    assert parent.read(base + 5 * PAGE, 1) == b"p" and child.read(base + 5 * PAGE, 1) == b"c"
    assert child.cow_faults == 1 and parent.cow_faults == 0
    child.close()
    assert len(phys.refs) == 0                   # every page the parent's alone again
    parent.write(base + 6 * PAGE, b"q")          # its own: no copy
    assert parent.cow_faults == 0 and parent.read(base + 6 * PAGE, 1) == b"q"


def test_a_change_sends_shootdowns_to_cores_that_ran_the_space():
    phys = PhysicalMemory(128 * PAGE)
    aspace = AddressSpace(phys, mmap_top=0x100000000)
    cores = [Core(i) for i in range(3)]
    for c in cores:
        c.attach_memory(phys)
        aspace.attach(c)
        c.set_syscall_handler(lambda uch, ud, c=c: ucfast.emu_stop(c.uch))
    aspace.map(0x70000, PAGE, RW)
    run(cores[0], aspace, STORE, rbx=0x70000, rcx=1)
    run(cores[1], aspace, LOAD, rbx=0x70000)      # core 1 holds the entry too; core 2 never ran
    aspace.protect(0x70000, PAGE, R)
    assert cores[0].tlb_stale and cores[1].tlb_stale and not cores[2].tlb_stale
    assert aspace.shootdowns == 2
    assert run(cores[1], aspace, STORE, rbx=0x70000, rcx=2) == RunResult.FAULT   # flushed on entry
    aspace.close()
    phys.close()


def test_commit_limit_and_noreserve(space):
    aspace, core = space
    with pytest.raises(OutOfMemory):
        aspace.map(0x10000000, 1 << 30, RW)       # more than the instance's memory
    aspace.map(0x10000000, 8 << 30, RW, reserve=False)     # 8 GiB, nothing charged
    aspace.map(0x400000000, 1 << 30, 0)           # PROT_NONE: nothing charged
    with pytest.raises(OutOfMemory):
        aspace.protect(0x400000000, 1 << 30, RW)  # charged when made writable


def test_guest_cannot_touch_privileged_state(space):
    aspace, core = space
    # mov cr3, rax: at CPL 3 a #GP, so a guest cannot switch page tables
    assert run(core, aspace, b"\x0f\x22\xd8", rax=0) == RunResult.FAULT
    assert core.fault.signal == "SIGSEGV" and "general protection" in core.fault.detail


def test_find_free_is_top_down(space):
    aspace, _ = space
    a = aspace.find_free(PAGE)
    assert a == 0x100000000 - PAGE
    aspace.map(a, PAGE, RW)
    assert aspace.find_free(PAGE) == a - PAGE
    aspace.unmap(a, PAGE)
    assert aspace.find_free(PAGE) == a            # the gap above is found again


def test_read_cstr_across_pages(space):
    aspace, _ = space
    aspace.map(0x60000, PAGE, RW)
    aspace.map(0x61000, PAGE, RW)                # a separate mapping, other frames
    aspace.write(0x61000 - 3, b"abcdef\0")
    assert aspace.read_cstr(0x61000 - 3) == b"abcdef"
    with pytest.raises(GuestFault):
        aspace.write(0x62000 - 2, b"xyz")        # runs off the end


def test_the_zero_frame_stays_zero(space):
    """Attack: pages read before written share one zero frame; neither a
    guest store after mprotect, nor a kernel write (a read() into the page),
    nor poke may write into it."""
    aspace, core = space
    aspace.map(0xB0000, 3 * PAGE, R)
    for page in range(3):
        assert run(core, aspace, LOAD, rbx=0xB0000 + page * PAGE) == RunResult.STOPPED
    zero = aspace.phys.zero
    assert {aspace.extents(0xB0000 + i * PAGE, 1)[0][0] for i in range(3)} == {zero}
    aspace.protect(0xB0000, 3 * PAGE, RW)
    assert run(core, aspace, STORE, rbx=0xB0000, rcx=-1) == RunResult.STOPPED
    aspace.write(0xB1000, b"kernel")
    aspace.poke(0xB2000, b"poke")
    assert bytes(aspace.phys.view[zero:zero + PAGE]) == bytes(PAGE)
    assert aspace.read(0xB1000, 6) == b"kernel" and aspace.read(0xB2000, 4) == b"poke"


def test_freed_frames_never_show_old_data(space):
    """Attack: frames freed by one mapping and given to the next hold nothing
    of the old contents, whichever way they come back."""
    aspace, core = space
    for rnd in range(3):
        aspace.map(0xC0000, 32 * PAGE, RW)
        assert aspace.read(0xC0000, 32 * PAGE) == bytes(32 * PAGE)
        aspace.write(0xC0000, b"\xaa" * (32 * PAGE))
        aspace.unmap(0xC0000 + rnd * PAGE, (20 - rnd) * PAGE)   # runs long and short
        aspace.unmap(0xC0000, 32 * PAGE)


class FilePages:
    """A pager holding a file's pages (the kernel's page cache, reduced to
    what azemu/memory.py asks of a pager)."""
    writes_back = False

    def __init__(self, phys, contents):
        self.pages = {}
        for i, data in enumerate(contents):
            f = self.pages[i] = phys.frame()
            phys.view[f:f + len(data)] = data

    def mapped_by(self, mm):
        pass

    def frame(self, index):
        return self.pages.get(index)

    cached = frame

    def dirtied(self, indices):
        raise AssertionError("a private mapping wrote back")


def test_a_private_mapping_shares_its_pagers_frames_until_it_writes(space):
    """MAP_PRIVATE of a cached file: the cache's frames, read-only and
    copy-on-write; a read fault maps the cached pages around it too; a
    store copies the page and never reaches the cache; another address
    space (the next process of a program) maps the same frames at once."""
    aspace, core = space
    phys = aspace.phys
    pager = FilePages(phys, [b"page0", b"page1", b"page2"])
    aspace.map(0xB0000, 3 * PAGE, RW, pager=pager)
    assert run(core, aspace, LOAD, rbx=0xB0000) == RunResult.STOPPED
    assert core.regs.read(ucfast.x86.UC_X86_REG_RAX) & 0xFFFFFFFFFF == int.from_bytes(b"page0", "little")
    faults = aspace.page_faults
    assert aspace.read(0xB0000 + 2 * PAGE, 5) == b"page2" and aspace.page_faults == faults
    assert all(aspace.pt.get((0xB0000 >> 12) + i) & FRAME == pager.pages[i] for i in range(3))
    assert run(core, aspace, STORE_BYTE, rbx=0xB0000, rcx=0x50) == RunResult.STOPPED
    assert aspace.read(0xB0000, 5) == b"Page0" and aspace.cow_faults >= 1
    assert bytes(phys.view[pager.pages[0]:pager.pages[0] + 5]) == b"page0"
    other = AddressSpace(phys, mmap_top=0x100000000, mmap_bottom=0x10000)
    other.map(0xB0000, 3 * PAGE, R, pager=pager)
    other.populate(0xB0000, 0xB0000 + 3 * PAGE)
    assert other.page_faults == 0 and other.read(0xB0000, 5) == b"page0"
    assert phys.owners(pager.pages[1]) == 3       # the pager's, and one per address space
    other.close()
    aspace.unmap(0xB0000, 3 * PAGE)
    assert all(phys.owners(f) == 1 for f in pager.pages.values())


@pytest.mark.parametrize("pages", [9, 40, 200, 700])
def test_extents_of_a_big_buffer_take_the_same_frames_either_way(pages):
    """extents() reads the leaf tables at once (lists, or numpy for many
    pages) when every page is already there; it must give what the careful
    page-by-page walk gives — the same runs, the same dirty bits — and leave
    anything else (pages never touched, copy-on-write after fork, read-only
    pages asked for writing) to that walk."""
    import random

    from azemu import guest_access
    from azemu.mmu import D
    phys = PhysicalMemory(64 << 20)
    space = AddressSpace(phys)
    base = 0x40000000
    space.map(base, (pages + 600) << 12, 3)
    rnd = random.Random(pages)
    for i in rnd.sample(range(pages + 600), (pages + 600) // 2):  # frames given out of order
        space.write(base + i * PAGE, b"x")
    saved = guest_access.FAST_PAGES
    for trial in range(20):
        addr = base + rnd.randrange(600) * PAGE + rnd.randrange(PAGE)
        length = pages * PAGE - rnd.randrange(PAGE)
        write = trial % 2 == 1
        fast = space.extents(addr, length, write=write)
        entries = [space.pt.get(v) for v in range(addr >> 12, (addr + length - 1 >> 12) + 1)]
        guest_access.FAST_PAGES = 1 << 40
        try:
            slow = space.extents(addr, length, write=write)
        finally:
            guest_access.FAST_PAGES = saved
        assert fast == slow
        assert sum(n for _, n in fast) == length
        if write:
            assert all(e & D for e in entries)
    child = space.fork()                        # shared copy-on-write: the careful walk copies
    fast = child.extents(base, pages * PAGE, write=True)
    assert child.pt.get(base >> 12) & FRAME != space.pt.get(base >> 12) & FRAME   # copied
    assert sum(n for _, n in fast) == pages * PAGE
    space.protect(base, PAGE, 1)
    with pytest.raises(GuestFault):
        space.extents(base, pages * PAGE, write=True)
