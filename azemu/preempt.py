"""Stopping a running core from another thread, safely.

A Unicorn run returns when the guest traps or faults, or when it is stopped;
a kernel needs to stop it from outside too — to end a time slice, or to
deliver a host signal to a guest that computes without syscalls.
`uc_emu_stop` from another thread is not safe for that: Unicorn acts on a
stop after any memory access of the running instruction, restores the
instruction's address and starts it again when the run resumes, so an
instruction that had already stored (an `add [m], 1`, a `lock cmpxchg`, an
`xchg`) runs twice.  Counting instructions (`uc_emu_start`'s count) is safe
but makes every instruction call a helper: about 30 times slower for a
register loop.

What is safe is a stop at the start of a translated block, before any of
its instructions: where Unicorn calls block hooks.  A `PreemptionPoint`,
while installed, is two UC_HOOK_BLOCK hooks, both C functions of libunicorn
itself (no Python runs):

* a no-op on every address.  With two block hooks Unicorn calls them through
  its generic helper, which checks each hook's address range as the block
  runs; with one it would compile that hook's call into the block;
* `uc_emu_stop`, on an address range that matches nothing until `arm()`
  widens it — one 8-byte store, from any thread — after which the run stops
  at the next block it enters, no instruction cut in half.

The helper call at every block is not free (measured with unicorn 2.1.4:
none for sha256sum, +18% for gzip, +25% for a python3 loop, 3x for a loop of
three instructions), so a kernel installs the point only while it slices
time, and a core runs without it otherwise (`install`/`remove`: translated
code is dropped each time, for the hooks to be compiled in or out).  Where
the range lives in Unicorn's hook structure is found once per process by a
probe that also checks that an armed point stops a run and an unarmed one
does not; if that fails (another Unicorn), `available` is False and kernels
count instructions instead.
"""
from __future__ import annotations

import ctypes
import struct

from unicorn import unicorn_const as ucc

from . import ucfast

_NEVER = 0xFFFFFFFFFFFFF000          # a block address no guest runs (above user space)
# Two C functions of libunicorn taken as block-hook callbacks (called as
# f(uc, address, size, user_data)): uc_emu_stop(uc) stops the run;
# uc_arch_supported(arch) only compares its first argument.
_STOP = ctypes.cast(ucfast.lib.uc_emu_stop, ctypes.c_void_p)
_NOOP = ctypes.cast(ucfast.lib.uc_arch_supported, ctypes.c_void_p)
_TB_FLUSH = ucc.UC_CTL_TB_FLUSH | ucc.UC_CTL_IO_WRITE << 30

_begin_offset: int | None = None
available = True


def _add(uch, fn, begin: int, end: int) -> int:
    h = ctypes.c_size_t()
    err = ucfast.lib.uc_hook_add(uch, ctypes.byref(h), ucc.UC_HOOK_BLOCK, fn, None,
                                 ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if err != ucc.UC_ERR_OK:
        raise RuntimeError(f"uc_hook_add: {ucfast.strerror(err)}")
    return h.value


class PreemptionPoint:
    """A core's stop-at-the-next-block switch (install before arming)."""

    def __init__(self, uch):
        self.uch = uch
        self._hooks = None
        self._begin = None

    @property
    def installed(self) -> bool:
        return self._hooks is not None

    def install(self) -> None:
        """Compile the point into this core's code (between runs)."""
        if self._hooks is None:
            every = _add(self.uch, _NOOP, 1, 0)      # begin > end: every address
            stop = _add(self.uch, _STOP, _NEVER, _NEVER)
            self._hooks = (every, stop)
            self._begin = ctypes.c_uint64.from_address(stop + _begin_offset)
            ucfast.lib.uc_ctl(self.uch, _TB_FLUSH)

    def remove(self) -> None:
        """Compile it out again: full speed, no stop from outside (between runs)."""
        if self._hooks is not None:
            hooks, self._hooks, self._begin = self._hooks, None, None
            for h in hooks:
                ucfast.lib.uc_hook_del(self.uch, ctypes.c_size_t(h))
            ucfast.lib.uc_ctl(self.uch, _TB_FLUSH)

    def arm(self) -> bool:
        """Stop the run at the start of the next block it enters (any thread);
        False when the point is not installed."""
        begin = self._begin
        if begin is None:
            return False
        begin.value = 1                              # [1, _NEVER]: everything
        return True

    def disarm(self) -> None:
        begin = self._begin
        if begin is not None:
            begin.value = _NEVER


def new(uch) -> PreemptionPoint | None:
    """A preemption point for the Unicorn instance `uch`, or None when this
    Unicorn's hooks cannot be used so (see the module's docstring)."""
    range_offset()
    return PreemptionPoint(uch) if available else None


def range_offset() -> int | None:
    """Where a hook's address range (begin, end) lies in Unicorn's hook
    structure, from the handle uc_hook_add gives; None if not found.  A
    range so moved takes effect at once (azemu/core.py moves one too)."""
    global available
    if available and _begin_offset is None:
        try:
            _probe()
        except Exception:
            available = False
    return _begin_offset


def _probe() -> None:
    """Find the range's offset in a hook and check the mechanism on a
    scratch instance running a loop."""
    global _begin_offset
    import unicorn
    from unicorn import x86_const as x86
    uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
    begin, end = 0x1122334455667700, 0x1122334455667788
    raw = ctypes.string_at(_add(uc._uch, _NOOP, begin, end), 128)
    at = raw.find(struct.pack("<QQ", begin, end))
    if at < 0:
        raise RuntimeError("no address range in Unicorn's hook")
    _begin_offset = at
    loop = bytes.fromhex("48ff03" "48ffc9" "75f8")           # inc qword [rbx]; dec rcx; jnz
    outcomes = []
    for armed in (False, True):
        uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
        uc.mem_map(0x1000, 0x1000)
        uc.mem_write(0x1000, loop)
        uc.mem_map(0x2000, 0x1000)
        uc.reg_write(x86.UC_X86_REG_RBX, 0x2000)
        uc.reg_write(x86.UC_X86_REG_RCX, 100)
        point = PreemptionPoint(uc._uch)
        point.install()
        if armed:
            point.arm()
        uc.emu_start(0x1000, 0x1000 + len(loop))
        outcomes.append(struct.unpack("<Q", bytes(uc.mem_read(0x2000, 8)))[0])
    if outcomes != [100, 0]:
        raise RuntimeError(f"the preemption point does not work here ({outcomes})")
