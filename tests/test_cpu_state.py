"""A core's CPU reached in memory (azemu/cpu_state.py): one page out of the
TLB on a change made while the core runs, the #PF's error code read in
place; and the public calls when that is turned off."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from azemu import cpu_state, ucfast
from azemu.core import Core, RunResult
from azemu.memory import PAGE, AddressSpace, PhysicalMemory
from azemu.mmu import FRAME

from conftest import LIBCS, ROOT, assert_same, guest, run_azemu, run_native

RW, RX = 3, 5
CODE, A, B, FAR = 0x400000, 0x70000, 0x71000, 0x1000000
# mov rax,[rbx]; mov rdx,[rsi]; syscall; mov rdx,[rsi]; mov rax,[rbx]; syscall
PROGRAM = bytes.fromhex("488b03" "488b16" "0f05" "488b16" "488b03" "0f05")


def _reached(core) -> None:
    if core.cpu is None:
        pytest.skip("this host or AZEMU_CPU_STATE=public: cores use the public calls")


def test_this_unicorn_is_reached_in_place():
    """The pinned Unicorn has the layout cpu_state knows: a made core flushes
    pages one by one and reads #PF state without copying the CPU."""
    probe = ctypes.create_string_buffer(bytes(range(64)), 64)
    if os.environ.get("AZEMU_CPU_STATE") == "public" or \
            cpu_state._peek(ctypes.addressof(probe), 64) != probe.raw:
        pytest.skip("this host or AZEMU_CPU_STATE=public: cores use the public calls")
    core = Core()
    phys = PhysicalMemory(16 * PAGE)
    core.attach_memory(phys)
    core.make()
    assert cpu_state.available and core.cpu is not None
    assert core.exceptions.direct
    phys.close()


class Machine:
    """One core running one address space, with a syscall handler that
    calls `first(self)` on the first syscall and stops on the second."""

    def __init__(self, program: bytes, first):
        self.phys = PhysicalMemory(128 * PAGE)
        self.aspace = AddressSpace(self.phys, mmap_top=0x100000000, mmap_bottom=0x10000)
        self.core = Core()
        self.core.attach_memory(self.phys)
        self.aspace.attach(self.core)
        self.calls = 0

        def on_syscall(uch, ud):
            self.calls += 1
            if self.calls == 1:
                first(self)
            else:
                ucfast.emu_stop(self.core.uch)
        self.core.set_syscall_handler(on_syscall)
        self.aspace.map(CODE, PAGE, RX, "code")
        self.aspace.poke(CODE, program)

    def retarget(self, addr: int, value: int) -> None:
        """Point the entry of page `addr` at a new frame holding `value`,
        behind the TLB's back (no flush)."""
        other = self.phys.frame()
        self.phys.view[other:other + 8] = value.to_bytes(8, "little")
        pt = self.aspace.pt
        pt.set(addr >> 12, (pt.get(addr >> 12) & ~FRAME) | other)

    def run(self, **regs):
        self.core.flush_tlb()
        self.core.regs.write_many(regs)
        return self.core.run(CODE)

    def close(self):
        self.aspace.close()
        self.phys.close()


def test_a_change_while_running_flushes_its_pages_only():
    """Inside a syscall (the core running), page A is unmapped and page B's
    entry pointed at another frame behind the MMU's back: A faults at once,
    while B still reads its old frame through the TLB — one page flushed,
    not the whole TLB (the page-table walk would have given the new frame)."""
    def first(m):
        m.aspace.unmap(A, PAGE)
        m.retarget(B, 0x2222)
    m = Machine(PROGRAM, first)
    _reached(m.core)
    m.aspace.map(A, 2 * PAGE, RW)
    m.aspace.poke(A, (0x1111).to_bytes(8, "little"))
    m.aspace.poke(B, (0x1111).to_bytes(8, "little"))
    assert m.run(rbx=A, rsi=B) == RunResult.FAULT
    assert m.core.fault.addr == A and m.core.fault.code == 1          # SEGV_MAPERR at A
    assert m.core.regs.read(ucfast.x86.UC_X86_REG_RDX) == 0x1111     # B: the TLB's entry
    assert m.calls == 1
    m.close()


# mov rdx,[rsi]; syscall; mov rdx,[rsi]; syscall
READ_TWICE = bytes.fromhex("488b16" "0f05" "488b16" "0f05")


@pytest.mark.parametrize("why", ["another address space", "more than 32 pages",
                                 "the TLB was already behind"])
def test_a_range_flush_falls_back_to_the_whole_tlb(why):
    """Where flushing a range would not be enough, or is not worth it, the
    whole TLB goes: B, retargeted behind the TLB's back, then reads its new
    frame."""
    other = AddressSpace(PhysicalMemory(16 * PAGE), mmap_top=0x100000000)

    def first(m):
        m.retarget(B, 0x2222)
        if why == "another address space":               # its count as if this core ran it
            other.flush_gen = m.core.tlb_gen + 1
            m.core.flush_tlb_range(A, A + PAGE, other)
        elif why == "more than 32 pages":                  # B is not among them
            m.aspace._flush(FAR, FAR + 33 * PAGE)
        else:
            m.aspace.flush_gen += 1                   # a shootdown this core did not act on
            m.aspace._flush(A, A + PAGE)
    m = Machine(READ_TWICE, first)
    m.aspace.map(A, 2 * PAGE, RW)
    m.aspace.map(FAR, 40 * PAGE, RW)
    m.aspace.poke(B, (0x1111).to_bytes(8, "little"))
    before = m.core.tlb_flushes
    assert m.run(rsi=B) == RunResult.STOPPED and m.calls == 2
    assert m.core.regs.read(ucfast.x86.UC_X86_REG_RDX) == 0x2222
    assert m.core.tlb_flushes == before + 2                     # the run's start, and this one
    m.close()
    other.phys.close()


def test_code_under_a_flushed_page_runs_anew():
    """A code page given another frame inside a syscall, and that page
    flushed: the next call runs the new code (the flush also drops the
    page's blocks from Unicorn's jump cache)."""
    # mov eax,F; call rax; syscall; mov eax,F; call rax; syscall
    program = bytes.fromhex("b800005000" "ffd0" "0f05" "b800005000" "ffd0" "0f05")
    fn, stack = 0x500000, 0x600000
    seen = []

    def first(m):
        seen.append(m.core.regs.read(ucfast.x86.UC_X86_REG_RDX))
        frame = m.phys.frame()
        m.phys.view[frame:frame + 6] = bytes.fromhex("ba02000000c3")      # mov edx,2; ret
        pt = m.aspace.pt
        pt.set(fn >> 12, (pt.get(fn >> 12) & ~FRAME) | frame)
        m.aspace._flush(fn, fn + PAGE)
    m = Machine(program, first)
    m.aspace.map(fn, PAGE, 7, "f")
    m.aspace.poke(fn, bytes.fromhex("ba01000000c3"))                         # mov edx,1; ret
    m.aspace.map(stack, 2 * PAGE, RW)
    assert m.run(rsp=stack + 2 * PAGE) == RunResult.STOPPED
    assert seen + [m.core.regs.read(ucfast.x86.UC_X86_REG_RDX)] == [1, 2]
    m.close()


@pytest.mark.parametrize("libc", LIBCS)
def test_the_public_calls_give_the_same_guest_behaviour(libc, tmp_path):
    """With AZEMU_CPU_STATE=public (whole-TLB flushes, the #PF read through
    a saved context) the memory semantics and the code rewrites still
    match native."""
    env = dict(os.environ, AZEMU_CPU_STATE="public")
    data = str(tmp_path / "f.dat")
    exe = guest(libc, "mm_semantics")
    assert_same(run_native([exe, data]), run_azemu([exe, data], env=env))
    exe = guest(libc, "smc")
    assert_same(run_native([exe]), run_azemu([exe], env=env))
    probe = ("from azemu import cpu_state, core; c = core.Core(); "
             "c.attach_memory(__import__('azemu.memory').memory.PhysicalMemory(65536)); c.make(); "
             "print(cpu_state.available, c.cpu, c.exceptions.direct)")
    out = subprocess.run([sys.executable, "-c", probe], env=dict(env, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "None", "False"]
