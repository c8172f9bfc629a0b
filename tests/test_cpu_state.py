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
CODE, A, B = 0x400000, 0x70000, 0x71000
# mov rax,[rbx]; mov rdx,[rsi]; syscall; mov rdx,[rsi]; mov rax,[rbx]; syscall
PROGRAM = bytes.fromhex("488b03" "488b16" "0f05" "488b16" "488b03" "0f05")


def test_this_unicorn_is_reached_in_place():
    """The pinned Unicorn has the layout cpu_state knows: a made core flushes
    pages one by one and reads #PF state without copying the CPU."""
    probe = ctypes.create_string_buffer(bytes(range(64)), 64)
    if cpu_state._peek(ctypes.addressof(probe), 64) != probe.raw:
        pytest.skip("process_vm_readv is not allowed here: cores use the public calls")
    core = Core()
    phys = PhysicalMemory(16 * PAGE)
    core.attach_memory(phys)
    core.make()
    assert cpu_state.available and core.cpu is not None
    assert core.exceptions.direct
    phys.close()


def test_a_change_while_running_flushes_its_pages_only():
    """Inside a syscall (the core running), page A is unmapped and page B's
    entry pointed at another frame behind the MMU's back: A faults at once,
    while B still reads its old frame through the TLB — one page flushed,
    not the whole TLB (the page-table walk would have given the new frame)."""
    phys = PhysicalMemory(64 * PAGE)
    aspace = AddressSpace(phys, mmap_top=0x100000000, mmap_bottom=0x10000)
    core = Core()
    core.attach_memory(phys)
    aspace.attach(core)
    calls = []

    def on_syscall(uch, ud):
        calls.append(core.tlb_flushes)
        if len(calls) == 1:
            aspace.unmap(A, PAGE)
            other = phys.frame()
            phys.view[other:other + 8] = (0x2222).to_bytes(8, "little")
            aspace.pt.set(B >> 12, (aspace.pt.get(B >> 12) & ~FRAME) | other)
        else:
            ucfast.emu_stop(core.uch)

    core.set_syscall_handler(on_syscall)
    aspace.map(CODE, PAGE, RX, "code")
    aspace.poke(CODE, PROGRAM)
    aspace.map(A, 2 * PAGE, RW)
    aspace.poke(A, (0x1111).to_bytes(8, "little"))
    aspace.poke(B, (0x1111).to_bytes(8, "little"))
    core.flush_tlb()
    core.regs.write_many({"rbx": A, "rsi": B})
    assert core.run(CODE) == RunResult.FAULT
    assert core.fault.addr == A and core.fault.code == 1          # SEGV_MAPERR at A
    assert core.regs.read(ucfast.x86.UC_X86_REG_RDX) == 0x1111       # B: the TLB's entry
    assert len(calls) == 1
    aspace.close()
    phys.close()


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
