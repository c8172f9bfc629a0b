"""open/close, access, chdir, chmod, truncate, utimensat (Linux fs/open.c,
fs/utimes.c).  Paths are walked, confined, by the host side
(kernels/fwk/sandbox.py); the kernel checks arguments, applies the umask,
and keeps the guest's fd table."""
from __future__ import annotations

import struct

from .. import pagecache, procfs
from ..abi import linux as L
from ..abi.linux import (RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
                         RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV)
from ..abi.linux_errno import E2BIG, EAGAIN, EINVAL, EXDEV
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError, ModelPath
from ..fwk.channel import KIND_DIR
from ..process import OpenFile
from . import fs_model
from .util import gpath, hdir, host_open_flags, path_arg, s32, s64

_CREATION = L.O_CLOEXEC | L.O_CREAT | L.O_EXCL | L.O_NOCTTY | L.O_TRUNC


def install_handle(p, ret: int, flags: int, cloexec: bool, at: int | None = None) -> int:
    """Enter a host handle (as returned: kind in bits 32..39) in the fd table."""
    handle, kind = ret & 0xFFFFFFFF, (ret >> 32) & 0xFF
    return p.fds.install(OpenFile(handle, flags, b"", kind == KIND_DIR, kind), at=at, cloexec=cloexec)


def openat(p, dirfd, pathname, flags, mode):
    flags &= 0xFFFFFFFF
    p.scratch.reset()
    raw = path_arg(p, pathname)
    follow = not flags & L.O_NOFOLLOW
    node = fs_model.node_at(p, s32(dirfd), raw, follow)
    if node is None:
        try:
            return _open_host(p, hdir(p, dirfd), gpath(p, pathname), flags, mode)
        except ModelPath:                        # the walk arrived at the kernel's tree
            node = fs_model.redirected(p, follow)
    return fs_model.open_node(p, node, flags, mode,
                              lambda h, path: _open_host(p, h, p.scratch.put(path + b"\0"), flags, mode))


def _open_host(p, hdirfd: int, path: int, flags: int, mode: int, resolve: int = 0) -> int:
    """openat of the guest-physical path string `path` relative to host
    directory handle `hdirfd` (or AT_FDCWD), through the FWK (openat2's
    walk with `resolve` flags)."""
    if flags & L.O_CREAT or flags & L.O_TMPFILE == L.O_TMPFILE:
        mode = mode & 0o7777 & ~p.umask
    else:
        mode = 0
    fd = p.fds.lowest_free()                 # EMFILE before anything is created
    if resolve:
        ret = p.io.call(NR["openat2"], hdirfd, path, host_open_flags(flags), mode, resolve)
    else:
        ret = p.io.call(NR["openat"], hdirfd, path, host_open_flags(flags), mode)
    return install_handle(p, ret, flags & ~_CREATION, bool(flags & L.O_CLOEXEC), at=fd)


# openat2 (Linux fs/open.c build_open_flags)
_OPEN_HOW = struct.Struct("<QQQ")                # flags, mode, resolve
_VALID_OPEN = (L.O_ACCMODE | L.O_CREAT | L.O_EXCL | L.O_NOCTTY | L.O_TRUNC | L.O_APPEND
               | L.O_NONBLOCK | 0o10000 | 0o20000 | 0o40000 | 0o100000 | L.O_DIRECTORY
               | L.O_NOFOLLOW | 0o1000000 | L.O_CLOEXEC | 0o4000000 | L.O_PATH | L.O_TMPFILE)


def openat2(p, dirfd, pathname, open_how, size):
    """openat with an open_how: unknown flags refused (EINVAL) rather than
    ignored, and the walk bounded by `resolve` — RESOLVE_BENEATH and
    RESOLVE_IN_ROOT keep it under dirfd, RESOLVE_NO_SYMLINKS and
    RESOLVE_NO_MAGICLINKS refuse links (ELOOP), RESOLVE_NO_XDEV refuses to
    cross a mount (EXDEV: /proc, /dev and /sys are the kernel's own)."""
    if size < _OPEN_HOW.size:
        raise LinuxError(EINVAL)
    if size > 4096:
        raise LinuxError(E2BIG)
    raw = p.mm.read(open_how, size)
    if any(raw[_OPEN_HOW.size:]):
        raise LinuxError(E2BIG)                  # a newer struct's field this kernel lacks
    flags, mode, resolve = _OPEN_HOW.unpack_from(raw)
    if flags & ~_VALID_OPEN or resolve & ~0x3F or mode & ~0o7777:
        raise LinuxError(EINVAL)
    creates = flags & L.O_CREAT or flags & L.O_TMPFILE == L.O_TMPFILE
    if mode and not creates or resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT:
        raise LinuxError(EINVAL)
    if resolve & RESOLVE_CACHED and (creates or flags & L.O_TRUNC):
        raise LinuxError(EAGAIN)
    if not resolve & ~RESOLVE_CACHED:
        return openat(p, dirfd, pathname, flags, mode)
    p.scratch.reset()
    raw = path_arg(p, pathname)
    if resolve & RESOLVE_BENEATH and raw[:1] == b"/":
        raise LinuxError(EXDEV)
    follow = not flags & L.O_NOFOLLOW
    refuse = (procfs.NO_SYMLINKS if resolve & RESOLVE_NO_SYMLINKS else 0) | \
        (procfs.NO_MAGICLINKS if resolve & RESOLVE_NO_MAGICLINKS else 0)
    node = None
    if not resolve & RESOLVE_IN_ROOT:            # (an absolute path starts at dirfd then)
        node = fs_model.node_at(p, s32(dirfd), raw, follow, refuse)
        if node is not None and raw[:1] == b"/" and resolve & RESOLVE_NO_XDEV:
            raise LinuxError(EXDEV)
    if node is None:
        try:
            return _open_host(p, hdir(p, dirfd), gpath(p, pathname), flags, mode, resolve)
        except ModelPath:                        # arrived in the kernel's tree
            node = fs_model.redirected(p, follow, refuse)
    return fs_model.open_node(p, node, flags, mode,
                              lambda h, path: _open_host(p, h, p.scratch.put(path + b"\0"),
                                                         flags, mode, resolve))


def open(p, pathname, flags, mode):
    return openat(p, L.AT_FDCWD, pathname, flags, mode)


def creat(p, pathname, mode):
    return openat(p, L.AT_FDCWD, pathname, L.O_CREAT | L.O_WRONLY | L.O_TRUNC, mode)


def close(p, fd):
    f = p.fds.get(s32(fd))
    locks = p.kernel.record_locks
    if locks is None or not locks.files:
        p.fds.close(s32(fd))
        return 0
    from ..locks import closed, identity             # its record locks (kernels/locks.py)
    identity(p, f)
    p.fds.close(s32(fd))
    closed(p, f, f.refs == 0)
    return 0


CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4


def close_range(p, first, last, flags):
    """Close (or, with CLOSE_RANGE_CLOEXEC, mark close-on-exec) fds first..last."""
    first, last, flags = first & 0xFFFFFFFF, last & 0xFFFFFFFF, s32(flags)
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise LinuxError(EINVAL)
    for fd in sorted(fd for fd in p.fds.files if first <= fd <= last):
        if flags & CLOSE_RANGE_CLOEXEC:
            p.fds.cloexec.add(fd)
        else:
            p.fds.close(fd)
    return 0


def faccessat2(p, dirfd, pathname, mode, flags):
    mode, flags = s32(mode), s32(flags)
    if mode & ~7 or flags & ~(L.AT_EACCESS | L.AT_SYMLINK_NOFOLLOW | L.AT_EMPTY_PATH):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    raw = path_arg(p, pathname, empty_ok=bool(flags & L.AT_EMPTY_PATH))
    node = fs_model.node_at(p, s32(dirfd), raw, not flags & L.AT_SYMLINK_NOFOLLOW)
    if node is None:
        path = gpath(p, pathname, empty_ok=bool(flags & L.AT_EMPTY_PATH))
        try:
            return p.io.call(NR["faccessat2"], hdir(p, dirfd), path, mode, flags)
        except ModelPath:
            node = fs_model.redirected(p, not flags & L.AT_SYMLINK_NOFOLLOW)
    if node.kind in (procfs.HOST, procfs.HOSTAT):
        h, path = (L.AT_FDCWD & 0xFFFFFFFF, node.what) if node.kind == procfs.HOST else \
            (node.what[0].hfd, node.what[1])
        return p.io.call(NR["faccessat2"], h, p.scratch.put(path + b"\0"), mode, flags)
    if node.kind == procfs.OPEN:
        return p.io.call(NR["faccessat2"], node.what.hfd, p.scratch.put(b"\0"), mode,
                         flags | L.AT_EMPTY_PATH)
    return fs_model.access_of(node, mode)


def faccessat(p, dirfd, pathname, mode):
    return faccessat2(p, dirfd, pathname, mode, 0)


def access(p, pathname, mode):
    return faccessat2(p, L.AT_FDCWD, pathname, mode, 0)


def chdir(p, pathname):
    p.scratch.reset()
    if fs_model.node_at(p, L.AT_FDCWD, path_arg(p, pathname), True) is None:
        try:
            return p.io.call(NR["chdir"], gpath(p, pathname))
        except ModelPath:
            pass
    # A directory of the kernel's own tree (/proc, /dev, /sys): opened as
    # the kernel opens it, its handle (which carries its guest path) becomes
    # the working directory, and relative walks from there arrive in the tree.
    fd = openat(p, L.AT_FDCWD, pathname, L.O_RDONLY | L.O_DIRECTORY | L.O_CLOEXEC, 0)
    try:
        return fchdir(p, fd)
    finally:
        close(p, fd)


def fchdir(p, fd):
    return p.io.call(NR["fchdir"], p.fds.get(s32(fd)).hfd)


def fchmodat(p, dirfd, pathname, mode):
    p.scratch.reset()
    return p.io.call(NR["fchmodat"], hdir(p, dirfd), gpath(p, pathname), mode & 0o7777)


def chmod(p, pathname, mode):
    return fchmodat(p, L.AT_FDCWD, pathname, mode)


def fchmod(p, fd, mode):
    return p.io.call(NR["fchmod"], p.fds.get(s32(fd)).hfd, mode & 0o7777)


def ftruncate(p, fd, length):
    if s64(length) < 0:
        raise LinuxError(EINVAL)
    return p.io.call(NR["ftruncate"], p.fds.get(s32(fd)).hfd, length)


def truncate(p, pathname, length):
    if s64(length) < 0:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    return p.io.call(NR["truncate"], gpath(p, pathname), length)


def fsync(p, fd):
    f = p.fds.get(s32(fd))
    pagecache.sync(p, f)                         # dirty shared mappings of the file first
    return p.io.call(NR["fsync"], f.hfd)


def fdatasync(p, fd):
    f = p.fds.get(s32(fd))
    pagecache.sync(p, f)
    return p.io.call(NR["fdatasync"], f.hfd)


def utimensat(p, dirfd, pathname, times, flags):
    return set_times(p, dirfd, pathname, p.mm.read(times, 32) if times else None, flags)


def set_times(p, dirfd, pathname, raw: bytes | None, flags):
    """utimensat with the two timespecs as bytes (None: now); utime,
    utimes and futimesat come here too (kernels/syscalls/fs_attr.py)."""
    p.scratch.reset()
    times = 0
    if raw is not None:
        for i in (0, 16):
            sec, nsec = L.TIMESPEC.unpack_from(raw, i)
            if nsec not in ((1 << 30) - 1, (1 << 30) - 2) and not 0 <= nsec < 10**9:
                raise LinuxError(EINVAL)
        times = p.scratch.put(raw)
    if pathname:
        return p.io.call(NR["utimensat"], hdir(p, dirfd), gpath(p, pathname), times, flags)
    return p.io.call(NR["utimensat"], p.fds.get(s32(dirfd)).hfd, 0, times, flags)
