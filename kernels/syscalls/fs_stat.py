"""stat, fstat, lstat, newfstatat, statx, readlink (Linux fs/stat.c)."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOENT
from ..errors import LinuxError
from .util import at_dir, pack_stat, pack_statx, path_arg, s32


_STAT_FLAGS = L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH
_STATX_SYNC = 0x6000                          # AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC


def _stat_at(p, dirfd, pathname, flags, allowed=_STAT_FLAGS):
    flags = s32(flags)
    if flags & ~allowed:
        raise LinuxError(EINVAL)
    path = path_arg(p, pathname, empty_ok=True)
    if not path:
        if not flags & L.AT_EMPTY_PATH:
            raise LinuxError(ENOENT)
        if s32(dirfd) == L.AT_FDCWD:
            return p.host.stat(p.cwd, True)
        return p.host.fstat(p.fds.get(s32(dirfd)).hfd)
    hdir, hpath = at_dir(p, dirfd, path)
    return p.host.stat(hpath, not flags & L.AT_SYMLINK_NOFOLLOW, hdir)


def newfstatat(p, dirfd, pathname, statbuf, flags):
    s = _stat_at(p, dirfd, pathname, flags)
    p.mm.write(statbuf, pack_stat(s))
    return 0


def stat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, 0)


def lstat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, L.AT_SYMLINK_NOFOLLOW)


def fstat(p, fd, statbuf):
    s = p.host.fstat(p.fds.get(s32(fd)).hfd)
    p.mm.write(statbuf, pack_stat(s))
    return 0


def statx(p, dirfd, pathname, flags, mask, statxbuf):
    s = _stat_at(p, dirfd, pathname, flags, _STAT_FLAGS | _STATX_SYNC)
    p.mm.write(statxbuf, pack_statx(s))
    return 0


def readlinkat(p, dirfd, pathname, buf, bufsiz):
    if s32(bufsiz) <= 0:
        raise LinuxError(EINVAL)
    hdir, hpath = at_dir(p, dirfd, path_arg(p, pathname))
    proc = _proc_self_link(p, hpath) if hdir is None else None
    if proc is not None:
        target = proc
    else:
        target = p.host.readlink(hpath, hdir)
    out = target[:bufsiz]
    p.mm.write(buf, out)
    return len(out)


def _proc_self_link(p, path: bytes):
    """/proc/self/exe and /proc/self/fd/N answered for the guest, not the host
    (whose /proc/self is azemu)."""
    for prefix in (b"/proc/self/", b"/proc/%d/" % p.pid, b"/proc/thread-self/"):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if rest == b"exe":
                return p.exe
            if rest.startswith(b"fd/") and rest[3:].isdigit():
                f = p.fds.files.get(int(rest[3:]))
                if f is None:
                    raise LinuxError(ENOENT)
                return f.path or p.host.realpath_of_fd(f.hfd)
    return None


def readlink(p, pathname, buf, bufsiz):
    return readlinkat(p, L.AT_FDCWD, pathname, buf, bufsiz)


def statfs(p, pathname, buf):
    """statfs (Linux fs/statfs.c): the host file system's figures."""
    hdir, hpath = at_dir(p, L.AT_FDCWD, path_arg(p, pathname))
    p.mm.write(buf, p.host.statfs(hpath))
    return 0


def fstatfs(p, fd, buf):
    p.mm.write(buf, p.host.fstatfs(p.fds.get(s32(fd)).hfd))
    return 0
