"""The syscall dispatcher: the one place a syscall number becomes a handler
call and a handler's outcome becomes the guest's rax.

`build_entry` returns the raw callback a core runs on every `syscall`
instruction.  It is the hot path, so it is written flat: one register read
for the number, one batched read for exactly as many arguments as the handler
takes, one register write for the result.  Errors from handlers (LinuxError),
from the host (OSError) and from guest pointers (GuestFault) all become
-errno here and nowhere else.
"""
from __future__ import annotations

import sys

from unicorn.x86_const import UC_X86_REG_RAX

from azemu import ucfast
from azemu.memory import GuestFault

from ..abi.linux_errno import EFAULT, EIO, ENOSYS
from ..errors import GuestExit, LinuxError
from .table import ERROR, all_entries

NR_LIMIT = 1024
MASK64 = 0xFFFFFFFFFFFFFFFF


def _reporting(name: str, errno: int, note: str, stream):
    reported = []

    def unsupported(p, *args):
        if not reported:
            reported.append(1)
            print(f"azemu: unsupported syscall {name}: returning -{_errname(errno)}"
                  + (f" ({note})" if note else ""), file=stream, flush=True)
        raise LinuxError(errno)
    return unsupported


def _failing(errno: int):
    def fail(p, *args):
        raise LinuxError(errno)
    return fail


def _errname(errno):
    from ..abi.linux_errno import ERRNO_NAMES
    return ERRNO_NAMES.get(errno, str(errno))


def handler_table(stream=None, wrap=None) -> list:
    """[(handler, arity)] indexed by syscall number."""
    stream = stream or sys.stderr
    table = []
    by_nr = {e.nr: e for e in all_entries()}
    for nr in range(NR_LIMIT):
        e = by_nr.get(nr)
        if e is None:
            h, k = _reporting(f"#{nr}", ENOSYS, "", stream), 0
        elif e.handler is not None:
            h, k = e.handler, e.arity
        elif e.support == ERROR and e.errno != ENOSYS:
            h, k = _failing(e.errno), 0
        else:
            h, k = _reporting(e.name, e.errno or ENOSYS, e.note if e.support == ERROR else "", stream), 0
        if wrap is not None:
            h = wrap(nr, h, k)
        table.append((h, k))
    return table


def build_entry(kernel, process, core, table):
    """The callback for `core.set_syscall_handler`."""
    uch = core.uch
    regs = core.regs
    scratch, sref = regs.scratch, regs.scratch_ref
    argbuf, batches = regs.argbuf, regs._arg_batches
    rr, rw, batch = ucfast.reg_read, ucfast.reg_write, ucfast.reg_read_batch
    stop = ucfast.emu_stop
    RAX = UC_X86_REG_RAX
    unknown = _reporting("(number out of range)", ENOSYS, "", sys.stderr)
    p = process

    def syscall_entry(_uch, _ud):
        rr(uch, RAX, sref)
        nr = scratch.value
        h, k = table[nr] if nr < NR_LIMIT else (unknown, 0)
        try:
            if k:
                ids, ptrs = batches[k]
                batch(uch, ids, ptrs, k)
                ret = h(p, *argbuf[:k])
            else:
                ret = h(p)
        except LinuxError as e:
            ret = -e.errno
        except GuestFault:
            ret = -EFAULT
        except OSError as e:
            ret = -(e.errno or EIO)
        except GuestExit as e:
            kernel.exit = e
            stop(uch)
            return
        except BaseException as e:          # a bug in azemu: stop cleanly, report once
            kernel.internal_error = (nr, e, sys.exc_info()[2])
            stop(uch)
            return
        if ret is not None:
            scratch.value = ret & MASK64
            rw(uch, RAX, sref)
        if p.pending_delivery:
            try:
                kernel.deliver_signals()
            except BaseException as e:
                kernel.internal_error = (nr, e, sys.exc_info()[2])
                stop(uch)

    return syscall_entry
