"""`azemu exec --strace`: every syscall, its decoded arguments and its result,
one line each on stderr — like strace(1) or qemu-user's -strace.

Tracing wraps the handlers once, when the table is built, so the untraced
path pays nothing for it.  Arguments are decoded from the handler's own
parameter names: path-like names are read as strings from guest memory, fds
as signed integers, the rest in hex when large.
"""
from __future__ import annotations

from azemu.memory import GuestFault

from ..abi.linux_errno import EFAULT, EIO, ERRNO_NAMES
from ..errors import GuestExit, LinuxError, RegistersSet
from .table import name_of

_STRING_ARGS = {"pathname", "filename", "oldpath", "newpath", "target", "linkpath", "path"}
_PTR_ARGS = {"buf", "statbuf", "statxbuf", "iov", "dirp", "fds", "tidptr", "head", "act",
             "local_iov", "remote_iov", "open_how",
             "oact", "set_", "oset", "ss", "old_ss", "tp", "res", "tv", "tz", "tloc", "req",
             "rem", "request", "remain", "info", "usage", "rlim", "new_limit", "old_limit",
             "mask", "addr", "old_addr", "new_addr", "uaddr", "uaddr2", "timeout",
             "rseq_addr", "offset_ptr", "times", "list_", "cpu", "node", "cache", "arg2",
             "head_ptr", "len_ptr", "argv", "envp", "wstatus", "rusage", "infop", "args"}
_INT_ARGS = {"fd", "dirfd", "olddirfd", "newdirfd", "oldfd", "newfd", "out_fd", "in_fd",
             "sig", "pid", "tid", "tgid", "status", "who", "how", "resource_", "clockid",
             "pgid", "id_", "idtype", "options"}


def _fmt(p, name: str, value: int) -> str:
    if name in _STRING_ARGS and value:
        try:
            s = p.mm.read_cstr(value, 256)
            return repr(s.decode(errors="replace")).replace("'", '"')
        except (GuestFault, ValueError):
            return f"{value:#x}"
    if name in _INT_ARGS:
        v = value & 0xFFFFFFFF
        return str(v - (1 << 32) if v & 0x80000000 else v)
    if name in _PTR_ARGS:
        return f"{value:#x}" if value else "NULL"
    return f"{value:#x}" if value > 0xFFFF else str(value)


def tracer(stream):
    """A `wrap(nr, handler, arity)` for dispatch.handler_table."""
    def wrap(nr, handler, arity):
        name = name_of(nr)
        params = handler.__code__.co_varnames[1:1 + arity] if hasattr(handler, "__code__") else ()

        def traced(p, *args):
            shown = ", ".join(_fmt(p, n, v) for n, v in zip(params, args))
            head = f"[{p.tid}] {name}({shown})"
            try:
                ret = handler(p, *args)
            except LinuxError as e:
                print(f"{head} = -1 {ERRNO_NAMES.get(e.errno, e.errno)}", file=stream, flush=True)
                raise
            except GuestFault:
                print(f"{head} = -1 {ERRNO_NAMES[EFAULT]}", file=stream, flush=True)
                raise
            except OSError as e:
                print(f"{head} = -1 {ERRNO_NAMES.get(e.errno or EIO, e.errno)}", file=stream, flush=True)
                raise
            except RegistersSet:
                print(f"{head} = (registers restored)", file=stream, flush=True)
                raise
            except GuestExit as e:
                print(f"{head} = ?" + (f" (killed by signal {e.signal})" if e.signal else
                                       f" (exit {e.status})"), file=stream, flush=True)
                raise
            print(f"{head} = {ret:#x}" if ret > 0xFFFF else f"{head} = {ret}", file=stream, flush=True)
            return ret
        return traced
    return wrap
