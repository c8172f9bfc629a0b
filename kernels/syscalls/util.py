"""Argument decoding shared by the syscall families (xv6's argraw/fetchaddr).

Registers arrive as unsigned 64-bit integers; these helpers give them their C
types, fetch path strings from guest memory, and turn a (dirfd, path) pair into
something the host-I/O interface can open.
"""
from __future__ import annotations

import os

from ..abi import linux as L
from ..abi.linux_errno import EBADF, EFAULT, ENAMETOOLONG, ENOENT, ENOTDIR
from ..errors import LinuxError


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def u32(v: int) -> int:
    return v & 0xFFFFFFFF


def path_arg(p, addr: int, empty_ok: bool = False) -> bytes:
    """A path string from guest memory, as Linux's getname() checks it."""
    if addr == 0:
        raise LinuxError(EFAULT)
    try:
        s = p.mm.read_cstr(addr, L.PATH_MAX - 1)
    except ValueError:
        raise LinuxError(ENAMETOOLONG) from None
    if not s and not empty_ok:
        raise LinuxError(ENOENT)
    return s


def gpath(p, addr: int, empty_ok: bool = False) -> int:
    """The guest-physical address of a path string, checked as Linux's
    getname() checks it: the string itself when its bytes are contiguous in
    the segment (zero copy), else a copy in the core's scratch area."""
    s = path_arg(p, addr, empty_ok)
    ext = p.mm.extents(addr, len(s) + 1)
    if len(ext) == 1:
        return ext[0][0]
    return p.scratch.put(s + b"\0")


def hdir(p, dirfd: int) -> int:
    """A guest dirfd as the host side knows it: AT_FDCWD, or the fd's handle."""
    dirfd = s32(dirfd)
    if dirfd == L.AT_FDCWD:
        return L.AT_FDCWD & 0xFFFFFFFF
    f = p.fds.files.get(dirfd)
    if f is None:
        raise LinuxError(EBADF)
    return f.hfd


def buffer_iov(p, addr: int, n: int, write: bool, partial: bool = False) -> tuple[int, int]:
    """A guest buffer as an iovec list of physical extents, in scratch."""
    return p.scratch.iov(p.mm.extents(addr, n, write, partial))


OUT = object()     # in out_struct's parameters: "the scratch buffer goes here"


def out_struct(p, addr: int, size: int, function: int, *params) -> int:
    """Make a call that writes a `size`-byte structure: the host writes it into
    scratch (at the parameter given as OUT), then it is copied to the guest's
    `addr` (small fixed-size results; data buffers go zero-copy instead)."""
    p.mm.views(addr, size, write=True)             # EFAULT before the call, not after
    out = p.scratch.alloc(size)
    ret = p.io.call(function, *[out if x is OUT else x for x in params])
    p.mm.write(addr, p.scratch.get(out, size))
    return ret


def host_open_flags(flags: int) -> int:
    """Linux O_* flags -> the host's (identical on x86-64 Linux, but said once here)."""
    out = flags & L.O_ACCMODE
    for lin, host in ((L.O_CREAT, os.O_CREAT), (L.O_EXCL, os.O_EXCL), (L.O_NOCTTY, os.O_NOCTTY),
                      (L.O_TRUNC, os.O_TRUNC), (L.O_APPEND, os.O_APPEND),
                      (L.O_NONBLOCK, os.O_NONBLOCK), (L.O_DSYNC, os.O_DSYNC),
                      (L.O_DIRECTORY, os.O_DIRECTORY), (L.O_NOFOLLOW, os.O_NOFOLLOW),
                      (L.O_SYNC, os.O_SYNC), (L.O_PATH, getattr(os, "O_PATH", 0)),
                      (L.O_NOATIME, getattr(os, "O_NOATIME", 0))):
        if flags & lin == lin:
            out |= host
    if flags & L.O_TMPFILE == L.O_TMPFILE:
        out |= getattr(os, "O_TMPFILE", 0)
    return out | os.O_CLOEXEC          # the host fd never leaks into host children
