"""Azalea's unikernel: one address space, kernel and application at the same
privilege; file and network I/O offloaded to the FWK.

Two ways in, as the paper describes:

* **binary compatibility** — an unmodified ELF.  Its `syscall` instruction
  still traps, but nothing is switched: no register save/restore, no stack or
  address-space change.  The entry reads only the registers the call needs
  (rax, then exactly `arity` arguments in one batch) and writes only rax.
* **source compatibility** — an image built by `azemu build`, carrying the
  libOS (kernels/libos/).  Its syscalls are function calls; the libOS puts
  the number and arguments in its call block in guest memory, and the kernel
  catches the call with a code hook on the one address `azemu_libos_entry`,
  reads the block straight from the shared memory segment (no register
  reads or writes at all), and writes the result back there.  getpid, gettid
  and getppid may be answered by the libOS in guest memory, never reaching
  Python; the libOS counts those itself.
"""
from __future__ import annotations

import struct

from unicorn import unicorn_const as ucc
from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RSP

from azemu import ucfast

from .syscalls.dispatch import KEEP_REGISTERS, failure, unknown_number

LIBOS_MAGIC = b"AZLIBOS1"
_HEADER = struct.Struct("<8s8Q")
FLAG_IN_GUEST = 1


def trap_entry(kernel, p, core, table, counters):
    """The binary-compatibility entry: the hot path, written flat."""
    uch = core.uch
    regs = core.regs
    scratch, sref = regs.scratch, regs.scratch_ref
    argbuf, batches = regs.argbuf, regs._arg_batches
    rr, rw, batch, stop = ucfast.reg_read, ucfast.reg_write, ucfast.reg_read_batch, ucfast.emu_stop
    RAX = UC_X86_REG_RAX
    unknown = unknown_number(kernel.stderr)
    c = counters
    pending = p.pending_delivery

    def syscall_entry(_uch, _ud):
        rr(uch, RAX, sref)
        nr = scratch.value
        c.trap += 1
        try:                                # try blocks are free while nothing is raised
            h, k = table[nr]
        except IndexError:
            h, k = unknown, 0
        try:
            if k:
                ids, ptrs = batches[k]
                batch(uch, ids, ptrs, k)
                ret = h(p, *argbuf[:k])
            else:
                ret = h(p)
        except BaseException as e:
            ret = failure(kernel, nr, e)
            if ret is None:
                stop(uch)
                return
            if ret is KEEP_REGISTERS:
                if pending:
                    kernel.deliver_signals_from_hook()
                return
        scratch.value = ret                 # ctypes wraps negatives to two's complement
        rw(uch, RAX, sref)
        if pending:
            kernel.deliver_signals_from_hook()

    return syscall_entry


_BLOCK = struct.Struct("<7Q")
_U64 = struct.Struct("<Q")


def function_hook_entry(kernel, p, core, table, counters):
    """The source-compatibility entry: a code hook on `azemu_libos_entry`.
    The call block (nr, 6 arguments, result) is at the thread's rsp; it is
    read and written through the memory segment, without register traffic."""
    import sys
    uch = core.uch
    regs = core.regs
    scratch, sref = regs.scratch, regs.scratch_ref
    rr, stop = ucfast.reg_read, ucfast.emu_stop
    RSP = UC_X86_REG_RSP
    unknown = unknown_number(kernel.stderr)
    c = counters
    pending = p.pending_delivery
    mm = p.mm
    view = mm.phys.view

    def libos_entry(_uch, _addr, _size, _ud):
        rr(uch, RSP, sref)
        sp = scratch.value
        m = mm.find(sp)
        if m is not None and sp + 64 <= m.end:
            at = m.phys + sp - m.start
            block = _BLOCK.unpack_from(view, at)
        else:                               # the block straddles mappings: the slow way
            at, block = None, _BLOCK.unpack(mm.read(sp, 56))
        nr = block[0]
        c.function_hook += 1
        try:
            h, k = table[nr]
        except IndexError:
            h, k = unknown, 0
        try:
            ret = h(p, *block[1:1 + k]) if k else h(p)
        except BaseException as e:
            ret = failure(kernel, nr, e)
            if ret is None:
                stop(uch)
                return
        if ret is KEEP_REGISTERS:           # rt_sigreturn: the guest is elsewhere now
            if pending:
                try:
                    kernel.deliver_signals(in_syscall=False)
                except BaseException as e:
                    kernel.internal_error = (nr, e, sys.exc_info()[2])
                    stop(uch)
            return
        ret &= 0xFFFFFFFFFFFFFFFF
        if at is not None:
            _U64.pack_into(view, at + 56, ret)
        else:
            mm.write_u64(sp + 56, ret)
        if pending:
            try:
                core.regs.write(UC_X86_REG_RAX, ret)
                kernel.deliver_signals(in_syscall=False, at_libos_entry=True)
            except BaseException as e:
                kernel.internal_error = (nr, e, sys.exc_info()[2])
                stop(uch)

    return libos_entry


class LibOS:
    """Where the libOS lives in a source-compatible image (its header)."""

    # At the function hook, how far rsp is below the caller's rsp: the call
    # block (64), then either a trampoline's frame — 128 bytes of red zone
    # stepped over, the flags, the return address — or, through syscall(),
    # two return addresses.
    TRAMPOLINE_FRAME = 128 + 8 + 8
    FUNCTION_FRAME = 8 + 8

    def caller_frame(self, mm, rsp: int) -> int:
        """The frame size above rsp at the hook, judged by the return address."""
        ret = mm.read_u64(rsp + self.block)
        frame = self.TRAMPOLINE_FRAME if self.tramp <= ret < self.tramp_end else self.FUNCTION_FRAME
        return self.block + frame

    def __init__(self, entry, syscall, pid, flags, in_guest_count, tramp, tramp_end, block):
        self.entry, self.syscall, self.pid, self.flags = entry, syscall, pid, flags
        self.in_guest_count, self.tramp, self.tramp_end = in_guest_count, tramp, tramp_end
        self.block = block                  # bytes of the call block below the return address

    @classmethod
    def find(cls, path: str) -> "LibOS | None":
        from elftools.elf.elffile import ELFFile
        with open(path, "rb") as f:
            sec = ELFFile(f).get_section_by_name(".azemu_libos")
            if sec is None:
                return None
            raw = sec.data()[:_HEADER.size]
        if len(raw) < _HEADER.size or raw[:8] != LIBOS_MAGIC:
            return None
        return cls(*_HEADER.unpack(raw)[1:])

    def boot(self, p, in_guest: bool) -> None:
        """Fill the libOS's task data: the answers it may give in the guest."""
        p.mm.poke(self.pid, struct.pack("<QQQQ", p.pid, p.tid, p.ppid,
                                        FLAG_IN_GUEST if in_guest else 0))

    def in_guest_calls(self, p) -> int:
        return struct.unpack("<Q", p.mm.read(self.in_guest_count, 8))[0]


def install_function_hook(core, libos: LibOS, callback) -> None:
    cb = ucfast.CODE_CB(callback)
    core._callbacks.append(cb)
    ucfast.add_hook(core.uch, ucc.UC_HOOK_CODE, cb, libos.entry, libos.entry)
