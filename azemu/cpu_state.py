"""A core's CPU as Unicorn holds it in memory: one page out of its TLB, and
the state of the exception it just took, without copying the CPU.

Unicorn 2.1.4 exports only a whole-TLB flush (UC_CTL_TLB_FLUSH), which also
empties the core's jump cache, so after every change to a mapping the guest
refilled its whole working set: measured with unicorn 2.1.4, an mmap, a
store and a munmap of one page took 36 µs a round with the whole flush and
17 µs with none.  A CPU flushes the one page (`invlpg`); libunicorn has the
function that does it (QEMU's `tlb_flush_page`, exported as
`tlb_flush_page_x86_64`), which wants the instance's CPUState.  And Unicorn
reports a #PF's error code only inside the CPU state, which the public API
gives as a copy (uc_context_save: 5.6 KB each way, about 2 µs a fault,
azemu/paging.py).

Both need two pointers that Unicorn keeps in its instance structure
(`struct uc_struct`, include/uc_priv.h) and does not export:

* `cpu` (the CPUState), which sits nine pointers after `tcg_flush_tlb` —
  and that one, with `add_inline_hook` and `del_inline_hook` four and five
  after it, holds the address of an exported function of libunicorn, so the
  place is found by value, not by a hard-coded offset, and checked three
  ways;
* `cpu->env_ptr` (the CPUX86State, the very bytes uc_context_save copies),
  found in the CPUState by what it points to.

Memory is read through process_vm_readv on this very process, so that a
wrong guess reads short instead of crashing it (where a seccomp policy
makes that call fail, nothing is found; one that kills a process making it
would end azemu at its first core — AZEMU_CPU_STATE=public avoids the call).

`locate()` finds them for an instance; a probe on a scratch instance, once
per process, checks that one page can be flushed and the others stay
(`available`).  Where anything does not match (another Unicorn), `locate`
says None and cores use the public calls, as before; AZEMU_CPU_STATE=public
in the environment asks for that too (the tests run both ways).
"""
from __future__ import annotations

import ctypes
import os
import struct
from typing import NamedTuple

from unicorn import unicorn_const as ucc

from . import ucfast

_lib = ucfast.lib


def _address(name: str) -> int | None:
    try:
        return ctypes.cast(getattr(_lib, name), ctypes.c_void_p).value
    except AttributeError:
        return None


_TCG_FLUSH_TLB = _address("tcg_flush_softmmu_tlb_x86_64")
_ADD_INLINE = _address("uc_add_inline_hook_x86_64")
_DEL_INLINE = _address("uc_del_inline_hook_x86_64")
_SCAN = 16 << 10                 # bytes of struct uc_struct searched for those
_ENV_SCAN = 32 << 10             # bytes of the CPUState searched for env_ptr
try:
    flush_page = _lib.tlb_flush_page_x86_64       # (CPUState *, target_ulong)
    flush_page.restype = None
    flush_page.argtypes = [ctypes.c_void_p, ctypes.c_uint64]   # converted in C: half the cost
except AttributeError:
    flush_page = None

available: bool | None = None    # the probe's verdict, once asked


class CPUPointers(NamedTuple):
    cpu: int                     # the CPUState, for flush_page
    env: int                     # the CPUX86State: what a context save copies
    header: int                  # where that copy starts in a saved uc_context


def locate(uch) -> CPUPointers | None:
    """Where the CPU of the (initialized) instance `uch` lies, or None when
    this Unicorn's layout is not the one described above."""
    if available is None:
        _probe()
    return _find(uch) if available else None


def _find(uch) -> CPUPointers | None:
    if None in (_TCG_FLUSH_TLB, _ADD_INLINE, _DEL_INLINE, flush_page):
        return None
    raw = _peek(uch, _SCAN)
    words = struct.unpack(f"<{len(raw) // 8}Q", raw[:len(raw) // 8 * 8])
    if _TCG_FLUSH_TLB not in words:
        return None
    at = words.index(_TCG_FLUSH_TLB)
    fields = words[at:at + 10]
    if len(fields) < 10:
        return None
    if fields[4] != _ADD_INLINE or fields[5] != _DEL_INLINE or not fields[9]:
        return None
    cpu = fields[9]
    # env_ptr: the pointer in the CPUState to the bytes a context save copies
    ctx = ctypes.c_void_p()
    if _lib.uc_context_alloc(uch, ctypes.byref(ctx)) != ucc.UC_ERR_OK:
        return None
    try:
        _lib.uc_context_save(uch, ctx)
        # struct uc_context: its header, then the copy (context_size bytes)
        header = _lib.uc_context_size(uch) - ctypes.c_size_t.from_address(ctx.value).value
        head = ctypes.string_at(ctx.value + header, 1024)
    finally:
        _lib.uc_context_free(ctx)
    body = _peek(cpu, _ENV_SCAN)
    for p in struct.unpack(f"<{len(body) // 8}Q", body[:len(body) // 8 * 8]):
        if cpu < p < cpu + (4 << 20) and _peek(p, len(head)) == head:
            return CPUPointers(cpu, p, header)
    return None


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


try:
    _readv = ctypes.CDLL(None, use_errno=True).process_vm_readv
    _readv.restype = ctypes.c_ssize_t
except AttributeError:                  # a libc without it: nothing is read, nothing found
    _readv = None


def _peek(addr: int, n: int) -> bytes:
    """Up to `n` bytes of this process at `addr`: as many as are mapped
    there (process_vm_readv on itself: a wrong guess reads short instead
    of crashing the process)."""
    if _readv is None:
        return b""
    buf = ctypes.create_string_buffer(n)
    local, remote = _IOVec(ctypes.addressof(buf), n), _IOVec(addr, n)
    got = _readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buf.raw[:max(got, 0)]


def _probe() -> None:
    """On a scratch instance with paging on: two pages read through the
    TLB, both entries then pointed elsewhere in memory; flushing one page
    must show the new frame there and leave the other page's stale entry."""
    global available
    available = False
    if os.environ.get("AZEMU_CPU_STATE") == "public":
        return
    try:
        import unicorn
        from unicorn import x86_const as x86

        from .paging import enable_paging
        uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
        uc.mem_map(0, 0x10000, ucc.UC_PROT_ALL)
        p, w = 1, 2
        pml4, pdpt, pd, pt, code = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
        uc.mem_write(pml4, struct.pack("<Q", pdpt | p | w))
        uc.mem_write(pdpt, struct.pack("<Q", pd | p | w))
        uc.mem_write(pd + 8 * 2, struct.pack("<Q", pt | p | w))          # 0x400000
        uc.mem_write(pt, struct.pack("<Q", code | p))
        for i, frame in ((1, 0x6000), (2, 0x7000)):                    # 0x401000, 0x402000
            uc.mem_write(pt + 8 * i, struct.pack("<Q", frame | p))
        for frame, byte in ((0x6000, 1), (0x7000, 2), (0x8000, 3), (0x9000, 4)):
            uc.mem_write(frame, bytes([byte]))
        uc.mem_write(code, bytes.fromhex("8a0425" "00104000" "8a1c25" "00204000"))  # mov al/bl
        enable_paging(uc)
        uc.reg_write(x86.UC_X86_REG_CR3, pml4)
        where = _find(uc._uch)
        if where is None:
            return

        def run():
            uc.emu_start(0x400000, 0x400000 + 14)
            return uc.reg_read(x86.UC_X86_REG_AL), uc.reg_read(x86.UC_X86_REG_BL)

        first = run()
        uc.mem_write(pt + 8, struct.pack("<Q", 0x8000 | p))
        uc.mem_write(pt + 16, struct.pack("<Q", 0x9000 | p))
        stale = run()
        flush_page(where.cpu, 0x401000)
        flushed = run()
        uc.reg_write(x86.UC_X86_REG_RAX, 0x1122334455667788)      # env->regs[R_EAX]
        seen = ctypes.c_uint64.from_address(where.env).value
        available = ((first, stale, flushed) == ((1, 2), (1, 2), (3, 2))
                     and seen == 0x1122334455667788)
    except Exception:
        available = False
