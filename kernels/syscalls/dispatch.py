"""The syscall dispatcher: the one place a syscall number becomes a handler
call and a handler's outcome becomes the guest's rax.

`handler_table` builds the flat list (number -> handler, arity) every entry
path indexes; `serve` calls a handler and turns every way it can fail —
LinuxError from handlers, OSError from the host, GuestFault from a bad guest
pointer — into -errno, here and nowhere else.  The entry paths themselves
(how a syscall reaches this point) live with their kernels: kernels/linux.py,
lwk.py and unikernel.py.
"""
from __future__ import annotations

from azemu.memory import GuestFault

from ..abi.linux import SIGKILL
from ..abi.linux_errno import EFAULT, EIO, ENOSYS
from ..errors import Block, GuestExit, LinuxError, RegistersSet
from .table import ERROR, all_entries

NR_LIMIT = 1024
MASK64 = 0xFFFFFFFFFFFFFFFF


def notice_unsupported(stream, name: str, errno: int, note: str = "") -> None:
    """The one line azemu prints, once, when the guest asks for something it
    does not offer (silenced with `azemu exec -q`: `stream` is None)."""
    if stream is not None:
        print(f"azemu: unsupported syscall {name}: returning -{_errname(errno)}"
              + (f" ({note})" if note else ""), file=stream, flush=True)


def _reporting(name: str, errno: int, note: str, stream):
    reported = []

    def unsupported(p, *args):
        if not reported:
            reported.append(1)
            notice_unsupported(stream, name, errno, note)
        raise LinuxError(errno)
    return unsupported


def _failing(errno: int):
    def fail(p, *args):
        raise LinuxError(errno)
    return fail


def _errname(errno):
    from ..abi.linux_errno import ERRNO_NAMES
    return ERRNO_NAMES.get(errno, str(errno))


def handler_table(stream, wrap=None) -> list:
    """[(handler, arity)] indexed by syscall number; unsupported calls are
    named once on `stream` (None: silently)."""
    table = []
    by_nr = {e.nr: e for e in all_entries()}
    for nr in range(NR_LIMIT):
        e = by_nr.get(nr)
        if e is None:
            h, k = _reporting(str(nr), ENOSYS, "no such syscall number", stream), 0
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


class Stop(Exception):
    """Raised by `serve` when the guest must stop (exit, or a bug in azemu)."""


KEEP_REGISTERS = object()     # the handler set the registers: write nothing back


def failure(kernel, nr: int, exc: BaseException, p=None):
    """What a handler's exception means: -errno for the guest; KEEP_REGISTERS
    after rt_sigreturn; or None when the guest must stop (it exited, or azemu
    has a bug — recorded on `kernel`)."""
    if isinstance(exc, RegistersSet):
        return KEEP_REGISTERS
    if isinstance(exc, Block):          # the thread waits: stop the core, resume later
        if p is not None:
            p.sched.call = nr                # which call, should a signal restart it (sched.py)
        return None
    if isinstance(exc, LinuxError):
        if exc.errno == EIO and p is not None and p.io.lost_long_ago():
            exc = GuestExit(signal=SIGKILL)    # its FWK proxy is lost: azemu says so and ends
        else:
            return -exc.errno
    if isinstance(exc, GuestFault):
        return -EFAULT
    if isinstance(exc, OSError):
        return -(exc.errno or EIO)
    if isinstance(exc, GuestExit):
        if p is not None:
            kernel.process_exit(p, exc)     # the instance's end if p is its first process
        else:
            kernel.exit = exc
    else:                               # a bug in azemu: stop cleanly, report once
        kernel.internal_error = (nr, exc, exc.__traceback__)
    return None


def serve(kernel, p, nr: int, h, args):
    """Call handler `h`; every way it can fail becomes -errno, KEEP_REGISTERS,
    or Stop."""
    try:
        return h(p, *args)
    except BaseException as e:
        ret = failure(kernel, nr, e, p)
        if ret is None:
            raise Stop from None
        return ret


def unknown_number(stream):
    return _reporting(f"{NR_LIMIT} or above", ENOSYS, "no such syscall number", stream)
