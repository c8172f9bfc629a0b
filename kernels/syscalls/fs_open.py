"""open/close, access, chdir, chmod, truncate, utimensat (Linux fs/open.c,
fs/utimes.c).  Paths are walked, confined, by the host side
(kernels/fwk/sandbox.py); the kernel checks arguments, applies the umask,
and keeps the guest's fd table."""
from __future__ import annotations

from .. import pagecache, procfs
from ..abi import linux as L
from ..abi.linux_errno import EACCES, EINVAL
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..fwk.channel import FWK_HOST_PROC, FWK_MADE, FWK_REOPEN, KIND_DIR
from ..process import OpenFile
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
    if raw[:1] == b"/" and procfs.owns(raw):
        hit = procfs.lookup(p, raw)
        if hit is not None:
            return _open_proc(p, hit, raw, flags, mode)
    return _open_host(p, dirfd, gpath(p, pathname), flags, mode)


def _open_host(p, dirfd, path: int, flags: int, mode: int) -> int:
    """openat of the guest-physical path string `path`, through the FWK."""
    if flags & L.O_CREAT or flags & L.O_TMPFILE == L.O_TMPFILE:
        mode = mode & 0o7777 & ~p.umask
    else:
        mode = 0
    fd = p.fds.lowest_free()                 # EMFILE before anything is created
    ret = p.io.call(NR["openat"], hdir(p, dirfd), path, host_open_flags(flags), mode)
    return install_handle(p, ret, flags & ~_CREATION, bool(flags & L.O_CLOEXEC), at=fd)


def _open_proc(p, hit, raw: bytes, flags: int, mode: int) -> int:
    """Open what the guest's /proc names (kernels/procfs.py)."""
    kind, what = hit
    cloexec = bool(flags & L.O_CLOEXEC)
    fd = p.fds.lowest_free()
    if kind == "fd":                             # a guest pipe stays non-blocking on the host
        nb = L.O_NONBLOCK if what.hostnb else 0
        ret = p.io.call(FWK_REOPEN, what.hfd, host_open_flags(flags & ~L.O_CREAT) | nb)
        new = install_handle(p, ret, flags & ~_CREATION, cloexec, at=fd)
        p.fds.get(new).hostnb = what.hostnb
        return new
    elif kind == "path":
        return _open_host(p, L.AT_FDCWD, p.scratch.put(what + b"\0"), flags, mode)
    elif flags & (L.O_WRONLY | L.O_RDWR | L.O_CREAT | L.O_TRUNC):
        raise LinuxError(EACCES)
    elif kind == "made":
        ret = p.io.call(FWK_MADE, p.scratch.put(what), len(what), p.scratch.put(raw + b"\0"))
    else:
        ret = p.io.call(FWK_HOST_PROC, p.scratch.put(what + b"\0"), host_open_flags(flags))
    return install_handle(p, ret, flags & ~_CREATION, cloexec, at=fd)


def open(p, pathname, flags, mode):
    return openat(p, L.AT_FDCWD, pathname, flags, mode)


def creat(p, pathname, mode):
    return openat(p, L.AT_FDCWD, pathname, L.O_CREAT | L.O_WRONLY | L.O_TRUNC, mode)


def close(p, fd):
    p.fds.close(s32(fd))
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
    path = gpath(p, pathname, empty_ok=bool(flags & L.AT_EMPTY_PATH))
    return p.io.call(NR["faccessat2"], hdir(p, dirfd), path, mode, flags)


def faccessat(p, dirfd, pathname, mode):
    return faccessat2(p, dirfd, pathname, mode, 0)


def access(p, pathname, mode):
    return faccessat2(p, L.AT_FDCWD, pathname, mode, 0)


def chdir(p, pathname):
    p.scratch.reset()
    return p.io.call(NR["chdir"], gpath(p, pathname))


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
