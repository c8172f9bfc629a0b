"""Extended attributes (Linux fs/xattr.c): get, set, list and remove, by
path (following the last link or not) and by fd, on the host file system
through the FWK, inside the sandbox.  Only the `user.` namespace may be
changed: the others (security., trusted., system.) carry the host's
capabilities and ACLs, which a guest must never set through azemu's host
privileges — EPERM, as for an unprivileged process."""
from __future__ import annotations

from ..abi.linux_errno import E2BIG, EINVAL, ENOSPC, EPERM, ERANGE
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .util import gpath, s32

XATTR_NAME_MAX, XATTR_SIZE_MAX = 255, 65536
ROOM = 60000                     # what one call's scratch carries back (a larger value: ERANGE)
XATTR_CREATE, XATTR_REPLACE = 1, 2


def _name(p, name) -> int:
    raw = p.mm.read_cstr(name, XATTR_NAME_MAX + 1)
    if not raw or len(raw) > XATTR_NAME_MAX:
        raise LinuxError(ERANGE)
    return p.scratch.put(raw + b"\0"), raw


def _first(p, how, where) -> int:
    """The call's first parameter: an open file's handle, or a path."""
    return p.fds.get(s32(where)).hfd if how == "f" else gpath(p, where)


def _get(p, how, where, name, value, size):
    p.scratch.reset()
    nphys, _ = _name(p, name)
    size = min(size & 0xFFFFFFFFFFFFFFFF, ROOM)
    first = _first(p, how, where)
    out = p.scratch.alloc(max(size, 1))
    n = p.io.call(NR[how + "getxattr"], first, nphys, out, size)
    if size:
        p.mm.write(value, p.scratch.get(out, n))
    return n


def _set(p, how, where, name, value, size, flags):
    p.scratch.reset()
    nphys, raw = _name(p, name)
    flags = s32(flags)
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise LinuxError(EINVAL)
    if size > XATTR_SIZE_MAX:
        raise LinuxError(E2BIG)
    if size > ROOM:
        raise LinuxError(ENOSPC)                 # more than one call carries
    if not raw.startswith(b"user."):
        raise LinuxError(EPERM)
    first = _first(p, how, where)
    data = p.scratch.put(p.mm.read(value, size) if size else b"")
    return p.io.call(NR[how + "setxattr"], first, nphys, data, size, flags)


def _list(p, how, where, out_list, size):
    p.scratch.reset()
    size = min(size & 0xFFFFFFFFFFFFFFFF, ROOM)
    first = _first(p, how, where)
    out = p.scratch.alloc(max(size, 1))
    n = p.io.call(NR[how + "listxattr"], first, out, size)
    if size:
        p.mm.write(out_list, p.scratch.get(out, n))
    return n


def _remove(p, how, where, name):
    p.scratch.reset()
    nphys, raw = _name(p, name)
    if not raw.startswith(b"user."):
        raise LinuxError(EPERM)
    first = _first(p, how, where)
    return p.io.call(NR[how + "removexattr"], first, nphys)


def getxattr(p, path, name, value, size):
    return _get(p, "", path, name, value, size)


def lgetxattr(p, path, name, value, size):
    return _get(p, "l", path, name, value, size)


def fgetxattr(p, fd, name, value, size):
    return _get(p, "f", fd, name, value, size)


def setxattr(p, path, name, value, size, flags):
    return _set(p, "", path, name, value, size, flags)


def lsetxattr(p, path, name, value, size, flags):
    return _set(p, "l", path, name, value, size, flags)


def fsetxattr(p, fd, name, value, size, flags):
    return _set(p, "f", fd, name, value, size, flags)


def listxattr(p, path, out, size):
    return _list(p, "", path, out, size)


def llistxattr(p, path, out, size):
    return _list(p, "l", path, out, size)


def flistxattr(p, fd, out, size):
    return _list(p, "f", fd, out, size)


def removexattr(p, path, name):
    return _remove(p, "", path, name)


def lremovexattr(p, path, name):
    return _remove(p, "l", path, name)


def fremovexattr(p, fd, name):
    return _remove(p, "f", fd, name)
