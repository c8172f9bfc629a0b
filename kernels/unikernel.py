"""Azalea's unikernel: one address space, kernel and application at the same
privilege; file and network I/O offloaded to the FWK.

Two ways in, as the paper describes:

* **binary compatibility** — an unmodified ELF.  Its `syscall` instruction
  still traps, but nothing is switched: no register save/restore, no stack or
  address-space change.  The entry reads only the registers the call needs
  (rax, then exactly `arity` arguments in one batch) and writes only rax.
* **source compatibility** — an image built by `azemu build`, carrying the
  libOS (kernels/libos/).  Its syscalls are function calls; the libOS puts
  the number and arguments in the calling thread's call block in guest
  memory, and the kernel catches the call with a code hook on the one address
  `azemu_libos_entry`, reads the block straight from the shared memory
  segment (no register reads or writes at all), and writes the result back
  there.  A thread's block sits in its TLS, at a fixed offset from its thread
  pointer — which the kernel set itself (arch_prctl, clone), so it finds the
  block from the thread it runs, without asking the CPU.  getpid, gettid and
  getppid may be answered by the libOS in guest memory, never reaching
  Python; the libOS counts those itself.
"""
from __future__ import annotations

import struct

from unicorn import unicorn_const as ucc
from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RIP

from azemu import ucfast
from azemu.memory import PROT_WRITE

from .abi import linux as L
from .errors import Block, GuestExit
from .syscalls.dispatch import KEEP_REGISTERS, failure, unknown_number

LIBOS_MAGIC = b"AZLIBOS3"          # with the ring of in-guest answers (libos.S)
LIBOS_MAGIC_V2 = b"AZLIBOS2"       # images built before it: no ring
_HEADER = struct.Struct("<8s8QqQQ")
_HEADER_V2 = struct.Struct("<8s8QqQ")
FLAG_IN_GUEST, FLAG_TLS, FLAG_TRACE = 1, 2, 4
RING_SLOTS = 256                   # libos.S's RING
BLOCK_WORDS = 9                    # nr, 6 arguments, result, the thread's tid


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
    sched = kernel.sched

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
            ret = failure(kernel, nr, e, p)
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
        if sched.resched:                   # another thread became runnable: slice from now on
            stop(uch)

    return syscall_entry


def function_hook_entry(kernel, cur, core, table, counters, libos):
    """The source-compatibility entry: a code hook on `azemu_libos_entry`.
    The calling thread's call block (nr, 6 arguments, result) is a ctypes
    array over the guest's memory, found once per thread (LibOS.block)."""
    import sys
    uch = core.uch
    stop = ucfast.emu_stop
    unknown = unknown_number(kernel.notices)
    c = counters
    block_of = libos.block
    sched = kernel.sched

    def libos_entry(_uch, _addr, _size, _ud):
        p = cur.task
        block = p.libos_block
        if block is None:
            try:
                block = block_of(p)
            except ValueError as e:         # a thread pointer into nothing: a fault natively
                kernel.exit = GuestExit(signal=L.SIGSEGV, report=f"azemu: {e}: SIGSEGV")
                stop(uch)
                return
        nr = block[0]
        c.function_hook += 1
        try:
            h, k = table[nr]
        except IndexError:
            h, k = unknown, 0
        try:
            ret = h(p, *block[1:1 + k]) if k else h(p)
        except BaseException as e:
            ret = failure(kernel, nr, e, p)
            if ret is None:
                if isinstance(e, Block):        # resumed later with the result in rax,
                    # or, for a call to run again (sched: restart), at the hook once more
                    core.regs.write(UC_X86_REG_RIP, libos.entry if p.sched.restart else libos.resume)
                stop(uch)
                return
        if ret is KEEP_REGISTERS:           # rt_sigreturn: the guest is elsewhere now
            if p.pending_delivery:
                try:
                    kernel.deliver_signals(p, core, in_syscall=False)
                except BaseException as e:
                    kernel.internal_error = (nr, e, sys.exc_info()[2])
                    stop(uch)
            return
        block[7] = ret & 0xFFFFFFFFFFFFFFFF
        if p.pending_delivery:
            try:
                core.regs.write(UC_X86_REG_RAX, block[7])
                kernel.deliver_signals(p, core, in_syscall=False, at_libos_entry=True)
            except BaseException as e:
                kernel.internal_error = (nr, e, sys.exc_info()[2])
                stop(uch)
        elif sched.resched:                 # another thread became runnable: slice from now on
            p.sched.result = block[7]       # (resumed as a call that waited: rax, then back)
            core.regs.write(UC_X86_REG_RIP, libos.resume)
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

    def return_from_call(self, regs: dict, mm, newsp: int = 0) -> None:
        """Turn `regs`, taken at the function hook, into the registers of a
        new thread (clone) that starts where the call returns — on its own
        stack `newsp` when given, with the caller's frame (the trampoline's
        saved flags and stepped-over red zone) copied onto it, as a `syscall`
        instruction would leave the child in the trampoline's place."""
        rsp = regs["rsp"]
        regs["rip"] = mm.read_u64(rsp)          # the return address
        frame = self.caller_frame(mm, rsp) - 8  # what the caller still pops after the return
        if newsp:
            mm.write(newsp - frame, mm.read(rsp + 8, frame))
            regs["rsp"] = newsp - frame
        else:
            regs["rsp"] = rsp + 8

    def __init__(self, entry, syscall, pid, flags, in_guest_count, tramp, tramp_end, call,
                 thread_tpoff, resume, ring=None):
        self.entry, self.syscall, self.pid, self.flags = entry, syscall, pid, flags
        self.in_guest_count, self.tramp, self.tramp_end = in_guest_count, tramp, tramp_end
        self.call, self.thread_tpoff, self.resume = call, thread_tpoff, resume
        self.ring = ring                  # the in-guest answers' ring (None: an older image)
        self.ring_next = 0                # the next record the kernel expects
        self.mm = None
        self._flags = 0

    def _array(self, addr: int):
        import ctypes
        # the kernel writes there: only into the guest's own writable memory
        host = self.mm.host_address(addr, 8 * BLOCK_WORDS, write=True)
        if host is None:
            return None
        return (ctypes.c_uint64 * BLOCK_WORDS).from_address(host)

    def block(self, task):
        """`task`'s call block: in its TLS once it has a thread pointer, the
        static block before.  Kept on the task until its memory is remapped."""
        addr = task.fs_base + self.thread_tpoff if task.fs_base else self.call
        blk = self._array(addr)
        if blk is None:
            raise ValueError(f"thread {task.tid}'s libOS call block ({addr:#x}, behind its "
                             "thread pointer) is not in writable memory")
        task.libos_block = blk
        return blk

    def thread_pointer_set(self, task) -> None:
        """arch_prctl(ARCH_SET_FS) or clone(CLONE_SETTLS) gave `task` its
        thread pointer: its block moves to its TLS, where the libOS finds its
        tid; from the first one on, the libOS uses TLS blocks."""
        task.libos_block = None
        if not task.fs_base:
            return
        blk = self._array(task.fs_base + self.thread_tpoff)
        if blk is not None:
            blk[8] = task.tid
        if not self._flags & FLAG_TLS:
            self._set_flags(self._flags | FLAG_TLS)

    def remapped(self, tasks, start: int, end: int) -> None:
        """Guest pages [start, end) moved or went: the blocks there are found again."""
        for t in tasks:
            addr = t.fs_base + self.thread_tpoff if t.fs_base else self.call
            if start < addr + 8 * BLOCK_WORDS and addr < end:
                t.libos_block = None

    def in_guest_records(self) -> tuple[list, int]:
        """([(number, result, tid)] answered in the guest since the last
        look, in order; how many of them the ring lost, overwritten)."""
        if self.ring is None or self.mm is None:
            return [], 0
        try:
            head = struct.unpack("<Q", self.mm.read(self.ring, 8))[0]
        except Exception:
            return [], 0
        out, lost = [], 0
        if head - self.ring_next > RING_SLOTS:
            lost = head - self.ring_next - RING_SLOTS
            self.ring_next = head - RING_SLOTS
        while self.ring_next < head:
            at = self.ring + 8 + (self.ring_next % RING_SLOTS) * 32
            seq, nr, result, tid = struct.unpack("<QQqQ", self.mm.read(at, 32))
            if seq != self.ring_next + 1:
                break                       # being written now: the next look takes it
            out.append((nr, result, tid))
            self.ring_next += 1
        return out, lost

    def _set_flags(self, flags: int) -> None:
        self._flags = flags
        self.mm.poke(self.flags, struct.pack("<Q", flags))

    @classmethod
    def find(cls, f) -> "LibOS | None":
        """The libOS of the program open as `f`, or None for an ordinary one."""
        from azemu.elf import ElfFile
        try:
            raw = ElfFile(f).section(".azemu_libos")
        except ValueError:
            return None
        if raw is None:
            return None
        if raw[:8] == LIBOS_MAGIC and len(raw) >= _HEADER.size:
            return cls(*_HEADER.unpack(raw[:_HEADER.size])[1:])
        if raw[:8] == LIBOS_MAGIC_V2 and len(raw) >= _HEADER_V2.size:
            return cls(*_HEADER_V2.unpack(raw[:_HEADER_V2.size])[1:])
        return None

    def boot(self, p, in_guest: bool, trace: bool = False) -> None:
        """Fill the libOS's task data: the answers it may give in the guest,
        recorded in its ring while the kernel traces (`trace`)."""
        self.mm = p.mm
        p.mm.poke(self.pid, struct.pack("<QQQ", p.pid, p.tid, p.ppid))
        self._set_flags((FLAG_IN_GUEST if in_guest else 0)
                        | (FLAG_TRACE if trace and self.ring is not None else 0))
        p.mm.remap_listeners.append(
            lambda start, end: self.remapped(p.kernel.sched.tasks.values(), start, end))

    def clone_for(self, child) -> "LibOS":
        """The libOS of `child`, a clone of this image's process (fork): the
        same image, in the child's memory, with the child's task data (a
        child sharing the memory, CLONE_VM, leaves the parent's in place)."""
        c = LibOS(self.entry, self.syscall, self.pid, self.flags, self.in_guest_count, self.tramp,
                  self.tramp_end, self.call, self.thread_tpoff, self.resume, self.ring)
        c.ring_next = self.ring_next
        c.mm, c._flags = child.mm, self._flags
        if child.mm is not self.mm:
            child.mm.poke(self.pid, struct.pack("<QQQ", child.pid, child.tid, child.ppid))
            child.mm.poke(self.in_guest_count, struct.pack("<Q", 0))
            child.mm.remap_listeners.append(
                lambda start, end: c.remapped([t for t in child.kernel.sched.tasks.values()
                                               if t.proc is child], start, end))
        return c

    def in_guest_calls(self, p) -> int:
        return struct.unpack("<Q", p.mm.read(self.in_guest_count, 8))[0]


def install_function_hook(core, libos: LibOS, make):
    """The function hook on `libos.entry`, its callback `make()` (made with
    the core: azemu/core.py); a handle for remove_function_hook."""
    return core.add_hook(ucc.UC_HOOK_CODE, lambda: ucfast.CODE_CB(make()), libos.entry, libos.entry)


def remove_function_hook(core, handle) -> None:
    """The core runs another image now (execve in a unikernel instance)."""
    core.del_hook(handle)      # the callback stays alive: the hook may be running it now
