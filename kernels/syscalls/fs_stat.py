"""stat, fstat, lstat, newfstatat, statx, statfs, readlink (Linux fs/stat.c,
fs/statfs.c).  The host side packs the structures in Linux's layout."""
from __future__ import annotations

from .. import procfs
from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOENT
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .util import OUT, gpath, hdir, out_struct, path_arg, s32

_STAT_FLAGS = L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH
_STATX_SYNC = 0x6000                          # AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC
STATFS_SIZE = 120


def _where(p, dirfd, pathname, flags):
    """(host directory handle, path, flags) to stat: the guest's own file
    for /proc/self/fd/N, /dev/fd/N, /dev/stdin... and /proc/self/exe
    (kernels/procfs.py) when the link is followed, else the path itself."""
    raw = path_arg(p, pathname, empty_ok=True)
    if raw[:1] == b"/" and procfs.owns(raw) and not s32(flags) & L.AT_SYMLINK_NOFOLLOW:
        hit = procfs.lookup(p, raw)
        if hit is not None and hit[0] == "fd":
            return hit[1].hfd, p.scratch.put(b"\0"), s32(flags) | L.AT_EMPTY_PATH
        if hit is not None and hit[0] == "path":
            return hdir(p, L.AT_FDCWD), p.scratch.put(hit[1] + b"\0"), flags
    return hdir(p, dirfd), gpath(p, pathname, empty_ok=True), flags


def newfstatat(p, dirfd, pathname, statbuf, flags):
    if s32(flags) & ~_STAT_FLAGS:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    where, path, flags = _where(p, dirfd, pathname, flags)
    return out_struct(p, statbuf, L.STAT.size, NR["newfstatat"], where, path, OUT, flags)


def stat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, 0)


def lstat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, L.AT_SYMLINK_NOFOLLOW)


def fstat(p, fd, statbuf):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    return out_struct(p, statbuf, L.STAT.size, NR["fstat"], f.hfd, OUT)


def statx(p, dirfd, pathname, flags, mask, statxbuf):
    if s32(flags) & ~(_STAT_FLAGS | _STATX_SYNC):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    where, path, flags = _where(p, dirfd, pathname, flags)
    return out_struct(p, statxbuf, L.STATX.size, NR["statx"], where, path, flags, mask, OUT)


def statfs(p, pathname, buf):
    p.scratch.reset()
    return out_struct(p, buf, STATFS_SIZE, NR["statfs"], gpath(p, pathname), OUT)


def fstatfs(p, fd, buf):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    return out_struct(p, buf, STATFS_SIZE, NR["fstatfs"], f.hfd, OUT)


def _proc_self_link(p, path: bytes):
    """/proc/self/exe and /proc/self/fd/N answered for the guest, not the host
    (whose /proc/self is azemu or its proxy)."""
    for prefix in (b"/proc/self/", b"/proc/%d/" % p.pid, b"/proc/thread-self/"):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if rest == b"exe":
                return p.exe
            if rest.startswith(b"fd/") and rest[3:].isdigit():
                f = p.fds.files.get(int(rest[3:]))
                if f is None:
                    raise LinuxError(ENOENT)
                return fd_path(p, f)
    return None


def fd_path(p, f) -> bytes:
    """The guest path an open file was reached by (as /proc/self/fd shows it)."""
    from ..fwk.channel import FWK_FD_PATH
    out = p.scratch.alloc(4096)
    n = p.io.call(FWK_FD_PATH, f.hfd, out, 4096)
    return p.scratch.get(out, n)


def readlinkat(p, dirfd, pathname, buf, bufsiz):
    if s32(bufsiz) <= 0:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    target = _proc_self_link(p, path_arg(p, pathname)) if s32(dirfd) == L.AT_FDCWD else None
    if target is not None:
        out = target[:bufsiz]
        p.mm.write(buf, out)
        return len(out)
    out = p.scratch.alloc(min(bufsiz, 4096))
    n = p.io.call(NR["readlinkat"], hdir(p, dirfd), gpath(p, pathname), out, min(bufsiz, 4096))
    p.mm.write(buf, p.scratch.get(out, n))
    return n


def readlink(p, pathname, buf, bufsiz):
    return readlinkat(p, L.AT_FDCWD, pathname, buf, bufsiz)
