"""Azalea's unikernel: one address space, kernel and application at the same
privilege; file and network I/O offloaded to the FWK.

Two ways in, as the paper describes:

* **binary compatibility** — an unmodified ELF.  Its `syscall` instruction
  still traps, but nothing is switched: no register save/restore, no stack or
  address-space change.  The entry reads only the registers the call needs
  (rax, then exactly `arity` arguments in one batch) and writes only rax.
* **source compatibility** — an image built by `azemu build`, carrying the
  libOS (kernels/libos/).  Its syscalls are function calls; the libOS puts
  the number and arguments in its call block in guest memory (one per
  process: source-compatible images are single-threaded), and the kernel
  catches the call with a code hook on the one address `azemu_libos_entry`,
  reads the block straight from the shared memory segment (no register
  reads or writes at all), and writes the result back there.  getpid, gettid
  and getppid may be answered by the libOS in guest memory, never reaching
  Python; the libOS counts those itself.
"""
from __future__ import annotations

import struct

from unicorn import unicorn_const as ucc
from unicorn.x86_const import UC_X86_REG_RAX

from azemu import ucfast

from .syscalls.dispatch import KEEP_REGISTERS, failure, unknown_number

LIBOS_MAGIC = b"AZLIBOS1"
_HEADER = struct.Struct("<8s8Q")
FLAG_IN_GUEST = 1


def trap_entry(kernel, cur, core, table, counters):
    """The binary-compatibility entry: the hot path, written flat.  `cur.task`
    is the thread the core is running."""
    uch = core.uch
    regs = core.regs
    scratch, sref = regs.scratch, regs.scratch_ref
    argbuf, batches = regs.argbuf, regs._arg_batches
    rr, rw, batch, stop = ucfast.reg_read, ucfast.reg_write, ucfast.reg_read_batch, ucfast.emu_stop
    RAX = UC_X86_REG_RAX
    unknown = unknown_number(kernel.notices)
    c = counters

    def syscall_entry(_uch, _ud):
        rr(uch, RAX, sref)
        nr = scratch.value
        c.trap += 1
        p = cur.task
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
                if p.pending_delivery:
                    kernel.deliver_signals_from_hook(p, core)
                return
        scratch.value = ret                 # ctypes wraps negatives to two's complement
        rw(uch, RAX, sref)
        if p.pending_delivery:
            kernel.deliver_signals_from_hook(p, core)

    return syscall_entry


def function_hook_entry(kernel, cur, core, table, counters, block):
    """The source-compatibility entry: a code hook on `azemu_libos_entry`.
    `block` is the libOS call block (nr, 6 arguments, result) as a ctypes
    array over the guest's memory."""
    import sys
    uch = core.uch
    stop = ucfast.emu_stop
    unknown = unknown_number(kernel.notices)
    c = counters
    p = cur.task                            # source-compatible images are single-threaded
    pending = p.pending_delivery

    def libos_entry(_uch, _addr, _size, _ud):
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
                    kernel.deliver_signals(p, core, in_syscall=False)
                except BaseException as e:
                    kernel.internal_error = (nr, e, sys.exc_info()[2])
                    stop(uch)
            return
        block[7] = ret & 0xFFFFFFFFFFFFFFFF
        if pending:
            try:
                core.regs.write(UC_X86_REG_RAX, block[7])
                kernel.deliver_signals(p, core, in_syscall=False, at_libos_entry=True)
            except BaseException as e:
                kernel.internal_error = (nr, e, sys.exc_info()[2])
                stop(uch)

    return libos_entry


class LibOS:
    """Where the libOS lives in a source-compatible image (its header)."""

    # At the function hook, how far rsp is below the caller's rsp: a trampoline
    # steps 128 bytes down (the red zone), pushes the flags and calls (8 + 8);
    # through syscall() there are two return addresses (8 + 8).
    TRAMPOLINE_FRAME = 128 + 8 + 8
    FUNCTION_FRAME = 8 + 8

    def caller_frame(self, mm, rsp: int) -> int:
        """The frame size above rsp at the hook, judged by the return address."""
        ret = mm.read_u64(rsp)
        return self.TRAMPOLINE_FRAME if self.tramp <= ret < self.tramp_end else self.FUNCTION_FRAME

    def __init__(self, entry, syscall, pid, flags, in_guest_count, tramp, tramp_end, call):
        self.entry, self.syscall, self.pid, self.flags = entry, syscall, pid, flags
        self.in_guest_count, self.tramp, self.tramp_end = in_guest_count, tramp, tramp_end
        self.call = call

    def call_block(self, mm):
        """The call block as 8 unsigned 64-bit words over the host segment."""
        import ctypes
        m = mm.find(self.call)
        if m is None or m.end - self.call < 64:
            raise ValueError("the libOS call block is not mapped")
        return (ctypes.c_uint64 * 8).from_address(mm.phys.base + m.phys + self.call - m.start)

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
