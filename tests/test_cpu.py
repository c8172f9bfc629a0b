"""The CPU the guest sees: CPUID claims only what Unicorn executes, and the
AT_HWCAP azemu passes is what CPUID leaf 1 says (as Linux does)."""
from __future__ import annotations

import struct

from azemu.core import Core
from kernels import Kernel

from conftest import guest


def test_cpuid_claims_sse2_and_no_avx():
    eax, ebx, ecx, edx = Core().cpuid(1)
    assert edx & (1 << 25) and edx & (1 << 26)   # SSE, SSE2: the x86-64 baseline (ISA level 1)
    assert not ecx & (1 << 28)                   # AVX: TCG cannot run it, so it must not be claimed
    assert not ecx & (1 << 27)                   # OSXSAVE: no XSAVE-managed state


def test_auxv_hwcap_is_cpuid_leaf1_edx():
    k = Kernel(memory=64 << 20)
    k.exec(guest("musl", "hello"), [b"hello"], [])
    sp = k.image.stack_pointer
    mm = k.process.mm
    argc = mm.read_u64(sp)
    at = sp + 8 * (argc + 2)
    while mm.read_u64(at):                       # skip envp
        at += 8
    at += 8
    aux = {}
    while True:
        key, val = struct.unpack("<QQ", mm.read(at, 16))
        if key == 0:
            break
        aux[key] = val
        at += 16
    assert aux[16] == k.core.cpuid(1)[3]         # AT_HWCAP
    assert aux[6] == 4096 and aux[25] and aux[31] and aux[15]   # PAGESZ, RANDOM, EXECFN, PLATFORM
    assert mm.read(aux[25], 16) != bytes(16)
    assert mm.read_cstr(aux[15]) == b"x86_64"
    k.close()
