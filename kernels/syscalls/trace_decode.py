"""How each kind of argument of kernels/syscalls/signatures.py is printed:
`render` picks, by the declared kind, the notation (trace_text.py), a flag
or constant name (trace_names.py) or a struct (trace_structs.py), reading
guest memory through the process's page tables.  A pointer the guest gave
that cannot be read prints as its address, as strace does.
"""
from __future__ import annotations

import struct

from azemu.memory import GuestFault

from ..abi import linux as L
from . import trace_names as N
from . import trace_structs as S
from .trace_structs import poll_result, siginfo  # noqa: F401  (strace.py's)
from .trace_text import Ctx, hx, octal, ptr, quote, s32, s64, string_at  # noqa: F401

# kinds printed by one trace_structs function of (ctx, pointer)
_STRUCTS = {"stat": S.stat, "statx": S.statx, "utsname": S.utsname, "timespec": S.timespec,
            "rlimit": S.rlimit, "sigaction": S.sigaction, "dirents": S.dirents,
            "cpuset": S.cpuset, "argv": S.argv, "envp": S.envp, "stack": S.stack,
            "itimerval": S.itimerval, "clone_args": S.clone_args, "wstatus": S.wstatus,
            "intptr": S.intptr, "fds": S.fds}
_O_TMPFILE_BIT = 0o20000000                     # O_TMPFILE without its O_DIRECTORY

FORMATTERS = {
    "open_flags": N.open_flags, "map_flags": N.map_flags, "futex_op": N.futex_op,
    "socket_type": N.socket_type, "ipc_key": N.ipc_key, "ipc_flags": N.ipc_flags,
    "statx_flags": N.statx_flags,
}


def render(c: Ctx, kind: str, param: str | None, v: int) -> str | None:
    """One argument as strace prints it (None: not printed at all).  What
    cannot be read or makes no sense prints as the raw value: a trace never
    changes what the guest's call does."""
    try:
        return _render(c, kind, param, v)
    except (GuestFault, struct.error, ValueError, OverflowError, IndexError, KeyError):
        return hx(v)


def _render(c: Ctx, kind: str, param: str | None, v: int) -> str | None:
    if kind == "int":
        return str(s32(v))
    if kind in ("fd",):
        return str(s32(v))
    if kind == "atfd":
        return "AT_FDCWD" if s32(v) == L.AT_FDCWD else str(s32(v))
    if kind in ("uint", "size"):
        return str(v & 0xFFFFFFFFFFFFFFFF)
    if kind in ("long", "off"):
        return str(s64(v))
    if kind == "hex":
        return hx(v)
    if kind == "ptr":
        return ptr(v)
    if kind == "mode":
        return octal(v & 0o7777)
    if kind == "omode":
        fl = c.args[int(param)]
        return octal(v & 0o7777) if fl & (L.O_CREAT | _O_TMPFILE_BIT) else None
    if kind == "sig":
        return N.signal_name(v)
    if kind == "flags":
        return N.flags(getattr(N, param), v & 0xFFFFFFFFFFFFFFFF, N.ZERO_NAMES.get(param, "0"))
    if kind == "enum":
        table = getattr(N, param)
        sv = s32(v) if param == "RUSAGE_WHO" else v & 0xFFFFFFFF
        return N.enum(table, sv, hx)
    if kind == "fn":
        return FORMATTERS[param](v)
    if kind == "skip":
        return None
    if kind == "futexargs":
        return S.futex_rest(c)
    if kind == "ifflag":                          # printed only when arg N has bit M: "N/M"
        n, bit = map(int, param.split("/"))
        return ptr(v) if c.args[n] & bit else None
    if kind == "sigframe":
        return S.sigframe(c)
    if kind == "clone":
        return S.clone(c)
    return _memory(c, kind, param, v)


def _memory(c: Ctx, kind: str, param, v: int) -> str | None:
    if kind == "path":
        if c.ret is not None and c.ret < 0:          # (getcwd's, when it failed)
            return hx(v)
        return string_at(c, v, L.PATH_MAX)
    if kind == "str":
        if c.ret is not None and c.ret < 0:
            return hx(v)
        return string_at(c, v, c.strsize)
    if kind in ("buf", "hexbuf"):
        if not v:
            return "NULL"
        if c.ret is not None and c.ret < 0:
            return hx(v)
        n = c.count(param)
        return quote(c.read(v, min(n, c.strsize)), c.strsize, n > c.strsize, kind == "hexbuf")
    simple = _STRUCTS
    if kind in simple:
        if c.ret is not None and c.ret < 0 and kind not in ("wstatus", "intptr", "fds", "dirents",
                                                            "clone_args"):
            return hx(v)
        return simple[kind](c, v)
    if kind == "timeval":
        return S.timespec(c, v, usec=True)
    if kind == "sigset":
        if c.ret is not None and c.ret < 0:
            return ptr(v)
        return S.sigset(c, v, c.args[int(param)])
    if kind == "sockaddr":
        if c.ret is not None:                # an address the call filled: its length at a pointer
            return S.out_sockaddr(c, v, c.args[int(param)])
        return S.sockaddr(c, v, c.args[int(param)])
    if kind == "iov":
        count = c.args[2]
        if param == "ret":                       # what the call filled; if it failed, where
            if (c.ret or 0) < 0:
                return S.iov(c, v, count, addresses=True)
            return S.iov(c, v, count, max(c.ret or 0, 0))
        return S.iov(c, v, c.args[int(param)])
    if kind == "sysinfo":
        if c.ret is not None and c.ret < 0:
            return hx(v)
        f = L.SYSINFO.unpack(c.read(v, L.SYSINFO.size))
        return (f"{{uptime={f[0]}, loads=[{f[1]}, {f[2]}, {f[3]}], totalram={f[4]}, "
                f"freeram={f[5]}, sharedram={f[6]}, bufferram={f[7]}, totalswap={f[8]}, "
                f"freeswap={f[9]}, procs={f[10]}, totalhigh={f[12]}, freehigh={f[13]}, "
                f"mem_unit={f[14]}}}")
    if kind == "tms":
        if not v:
            return "NULL"
        a, b, x, y = L.TMS.unpack(c.read(v, 32))
        return f"{{tms_utime={a}, tms_stime={b}, tms_cutime={x}, tms_cstime={y}}}"
    if kind == "rusage":
        if c.ret is not None and c.ret < 0:
            return hx(v)
        us, uu, ss, su = struct.unpack("<qqqq", c.read(v, 32))
        return (f"{{ru_utime={{tv_sec={us}, tv_usec={uu}}}, "
                f"ru_stime={{tv_sec={ss}, tv_usec={su}}}, ...}}")
    if kind == "capheader":
        version, pid = struct.unpack("<Ii", c.read(v, 8))
        return f"{{version={N.enum(N.CAP_VERSIONS, version, hx)}, pid={pid}}}"
    if kind == "capdata":
        if not v or (c.ret is not None and c.ret < 0):
            return ptr(v)
        e0, p0, i0, e1, p1, i1 = struct.unpack("<6I", c.read(v, 24))
        return (f"{{effective={N.caps(e0 | e1 << 32)}, permitted={N.caps(p0 | p1 << 32)}, "
                f"inheritable={N.caps(i0 | i1 << 32)}}}")
    if kind == "msghdr":
        if c.ret is not None:                    # a receive: what it received
            return hx(v) if c.ret < 0 else S.msghdr(c, v, c.ret)
        return S.msghdr(c, v)
    if kind == "mincore":
        if c.ret is not None and c.ret < 0:
            return hx(v)
        n = min((c.args[int(param)] + 4095) // 4096, 4096)
        shown = c.read(v, min(n, c.strsize))
        return "[" + ", ".join(str(b & 1) for b in shown) + (", ..." if n > c.strsize else "") + "]"
    if kind == "waitinfo":
        if not v or (c.ret is not None and c.ret < 0):
            return ptr(v)
        raw = c.read(v, 48)
        signo, _errno, code = struct.unpack_from("<iii", raw)
        if not signo:
            return "{}"
        from ..siginfo import SigInfo
        pid, uid, status = struct.unpack_from("<IIi", raw, 16)
        return "{" + siginfo(SigInfo(signo, code, pid=pid, uid=uid, status=status)).split(" {", 1)[1]
    if kind == "mqattr":
        if param and not c.args[int(param)] & L.O_CREAT:          # mq_open without O_CREAT
            return None
        if not v or (c.ret is not None and c.ret < 0 and not param):
            return ptr(v)
        f = struct.unpack("<4q", c.read(v, 32))
        return f"{{mq_flags={N.flags(N.MQ_FLAGS, f[0])}, mq_maxmsg={f[1]}, mq_msgsize={f[2]}, mq_curmsgs={f[3]}}}"
    if kind == "ints":
        if not v:
            return "NULL"
        if c.ret is not None and c.ret < 0:
            return hx(v)
        n = min(max(c.count(param), 0), 1024)
        if not n:
            return "[]"
        vals = struct.unpack(f"<{n}i", c.read(v, 4 * n))
        return "[" + ", ".join(map(str, vals)) + "]"
    if kind == "epoll_event":                    # one, given (epoll_ctl)
        return S.epoll_events(c, v, 1)[1:-1] if v else "NULL"
    if kind == "epoll_events":                   # as many as the call returned
        if c.ret is None or c.ret < 0:
            return hx(v)
        return S.epoll_events(c, v, c.ret)
    if kind == "iovaddr":                        # another process's buffers
        return S.iov(c, v, c.args[int(param)], addresses=True)
    if kind == "pollfd":
        return S.pollfd(c, v, c.args[int(param)])
    if kind == "fcntl":
        return S.fcntl_arg(c, v, c.args[int(param)])
    if kind == "ioctl":
        return S.ioctl_arg(c, v, c.args[int(param)])
    return hx(v) if v > 0xFFFF else str(v)


